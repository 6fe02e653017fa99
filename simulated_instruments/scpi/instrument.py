"""SCPI instrument base: command table, header matching, arguments, error queue.

A subclass registers its commands with :meth:`ScpiInstrument.add_command` using SCPI
patterns such as ``SOURce#:VOLTage:OFFSet`` (upper case = short form, ``#`` = optional
numeric suffix defaulting to 1, ``[:NODE]`` = optional node). Headers match case-insensitively
in short or long form. Each program message unit is handled under the instrument's
:attr:`~ScpiInstrument.lock`, so units from concurrent clients never interleave.

A failing unit puts an error into the queue (read with ``SYST:ERR?``) and replies nothing,
as a real instrument does; the next unit is handled normally. Every unit of a message is
treated as a full path (the relative-path rule of IEEE 488.2 compound headers is not used).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from qneko_hw.simulated_instruments.scpi.blocks import BlockError, decode_block, split_outside

__all__ = [
    "ERROR_QUEUE_SIZE",
    "Handler",
    "ScpiCommand",
    "ScpiError",
    "ScpiInstrument",
]

logger = logging.getLogger(__name__)

#: Capacity of the error queue; on overflow the last entry becomes ``-350``.
ERROR_QUEUE_SIZE = 32

_ESR_OPC = 1
_ESR_QYE = 4
_ESR_DDE = 8
_ESR_EXE = 16
_ESR_CME = 32

_TOKEN = re.compile(r"([A-Z*]+)(\d*)")
_BOOL_WORDS = {"ON": True, "OFF": False, "1": True, "0": False}


class ScpiError(Exception):
    """An SCPI error to put into the error queue: ``code,"message;detail"``."""

    def __init__(self, code: int, message: str, detail: str = "") -> None:
        super().__init__(f"{code},{message};{detail}")
        self.code = code
        self.message = message
        self.detail = detail

    def entry(self) -> str:
        """The error as ``SYST:ERR?`` reports it."""
        text = f"{self.message};{self.detail}" if self.detail else self.message
        text = "".join(ch if " " <= ch <= "~" else f"\\x{ord(ch):02x}" for ch in text[:200])
        return f'{self.code},"{text.replace(chr(34), chr(39))}"'

    @classmethod
    def out_of_range(cls, detail: str) -> ScpiError:
        """``-222,"Data out of range;detail"``."""
        return cls(-222, "Data out of range", detail)

    @classmethod
    def data_type(cls, detail: str = "") -> ScpiError:
        """``-104,"Data type error"``."""
        return cls(-104, "Data type error", detail)

    @classmethod
    def execution(cls, detail: str = "") -> ScpiError:
        """``-200,"Execution error;detail"``."""
        return cls(-200, "Execution error", detail)

    @classmethod
    def conflict(cls, detail: str = "") -> ScpiError:
        """``-221,"Settings conflict;detail"``."""
        return cls(-221, "Settings conflict", detail)


@dataclass(frozen=True)
class ScpiCommand:
    """One parsed program message unit, passed to a handler.

    Attributes:
        header: the header as received, without ``?``.
        suffixes: numeric suffixes of the pattern's ``#`` nodes, in order (default 1).
        query: whether the header ended with ``?``.
        args: parameters; text as ``str`` (stripped), blocks as ``bytes`` payloads.
    """

    header: str
    suffixes: tuple[int, ...]
    query: bool
    args: tuple[str | bytes, ...]

    def _where(self) -> str:
        return f"{self.header}{'?' if self.query else ''}"

    def expect_args(self, count: int) -> None:
        """Require exactly ``count`` parameters (-108 too many, -109 missing)."""
        if len(self.args) > count:
            raise ScpiError(-108, "Parameter not allowed", self._where())
        if len(self.args) < count:
            raise ScpiError(-109, "Missing parameter", self._where())

    def suffix(self, index: int, low: int, high: int) -> int:
        """Numeric suffix ``index`` checked against ``[low, high]`` (-114 otherwise)."""
        value = self.suffixes[index]
        if not low <= value <= high:
            raise ScpiError(-114, "Header suffix out of range", self.header)
        return value

    def text(self, index: int) -> str:
        """Parameter ``index`` as text (-104 if it is a block)."""
        if index >= len(self.args):
            raise ScpiError(-109, "Missing parameter", self._where())
        value = self.args[index]
        if isinstance(value, bytes):
            raise ScpiError.data_type(self._where())
        return value

    def float_arg(self, index: int, low: float, high: float) -> float:
        """Parameter ``index`` as a finite float in ``[low, high]`` (-104 / -222 otherwise)."""
        raw = self.text(index)
        try:
            value = float(raw)
        except ValueError:
            raise ScpiError.data_type(f"{self._where()} {raw}") from None
        if not math.isfinite(value):
            raise ScpiError.data_type(f"{self._where()} {raw}")
        if not low <= value <= high:
            raise ScpiError.out_of_range(f"{self._where()} {raw}")
        return value

    def int_arg(self, index: int, low: int, high: int) -> int:
        """Parameter ``index`` as an integer in ``[low, high]`` (``1e3`` is accepted)."""
        value = self.float_arg(index, low, high)
        if value != int(value):
            raise ScpiError.data_type(f"{self._where()} {self.args[index]!s}")
        return int(value)

    def bool_arg(self, index: int) -> bool:
        """Parameter ``index`` as ``ON|OFF|1|0`` (-104 otherwise)."""
        raw = self.text(index).upper()
        if raw not in _BOOL_WORDS:
            raise ScpiError.data_type(f"{self._where()} {raw}")
        return _BOOL_WORDS[raw]

    def string_arg(self, index: int) -> str:
        """Parameter ``index`` as a quoted string (``"..."`` or ``'...'``), unquoted."""
        raw = self.text(index)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            quote = raw[0]
            return raw[1:-1].replace(quote * 2, quote)
        raise ScpiError(-151, "Invalid string data", f"{self._where()} {raw}")

    def block_arg(self, index: int) -> bytes:
        """Parameter ``index`` as a definite-length block payload (-104 otherwise)."""
        if index >= len(self.args):
            raise ScpiError(-109, "Missing parameter", self._where())
        value = self.args[index]
        if not isinstance(value, bytes):
            raise ScpiError.data_type(f"{self._where()} expects a block")
        return value


Handler = Callable[[ScpiCommand], "str | bytes | None"]


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    numeric: bool
    optional: bool


@dataclass(frozen=True)
class _Entry:
    pattern: str
    nodes: tuple[_Node, ...]
    on_set: Handler | None
    on_query: Handler | None


def _compile(pattern: str) -> tuple[_Node, ...]:
    nodes: list[_Node] = []
    for raw in pattern.lstrip(":").replace("[:", ":[").split(":"):
        optional = raw.startswith("[")
        name = raw.strip("[]")
        numeric = name.endswith("#")
        name = name.rstrip("#")
        short = "".join(ch for ch in name if not ch.islower())
        nodes.append(_Node(short=short, long=name.upper(), numeric=numeric, optional=optional))
    return tuple(nodes)


def _match(nodes: tuple[_Node, ...], tokens: list[str]) -> tuple[int, ...] | None:
    """Suffixes of the numeric nodes if ``tokens`` match ``nodes``, else ``None``."""
    if not nodes:
        return () if not tokens else None
    node, rest = nodes[0], nodes[1:]
    if tokens:
        m = _TOKEN.fullmatch(tokens[0])
        if m is not None and m.group(1) in (node.short, node.long):
            digits = m.group(2)
            if node.numeric or not digits:
                tail = _match(rest, tokens[1:])
                if tail is not None:
                    return (int(digits) if digits else 1, *tail) if node.numeric else tail
    if node.optional:
        tail = _match(rest, tokens)
        if tail is not None:
            return (1, *tail) if node.numeric else tail
    return None


def _parse_arg(raw: bytes) -> str | bytes:
    stripped = raw.strip(b" \t\r\n")
    if len(stripped) >= 2 and stripped[0] == 0x23 and 0x30 <= stripped[1] <= 0x39:
        try:
            return decode_block(raw.lstrip(b" \t\r\n"))
        except BlockError as exc:
            raise ScpiError(-161, "Invalid block data", str(exc)) from None
    return stripped.decode("latin-1")


class ScpiInstrument:
    """Base of a simulated SCPI instrument.

    Args:
        manufacturer, model, serial, firmware: the four fields of the ``*IDN?`` reply.
        name: name in logs, errors and thread names (e.g. the station's instrument name);
            the model by default.

    Attributes:
        lock: re-entrant lock guarding the instrument state; in-process readers (the
            simulated lab) should hold it while reading state that must be consistent.
        received: the most recent program message units as text (block payloads elided),
            newest last; ``received_count`` counts every unit ever received.
    """

    def __init__(
        self,
        *,
        manufacturer: str,
        model: str,
        serial: str = "0",
        firmware: str = "1.0",
        name: str | None = None,
    ) -> None:
        self.identity = f"{manufacturer},{model},{serial},{firmware}"
        self.name = name if name else model
        self.lock = threading.RLock()
        self.received: deque[str] = deque(maxlen=1024)
        self.received_count = 0
        self._commands: list[_Entry] = []
        self._errors: deque[str] = deque()
        self._esr = 0
        self.add_command("*IDN", on_query=lambda c: self.identity)
        self.add_command("*RST", on_set=self._cmd_rst)
        self.add_command("*CLS", on_set=self._cmd_cls)
        self.add_command("*OPC", on_set=self._cmd_opc, on_query=lambda c: "1")
        self.add_command("*WAI", on_set=lambda c: None)
        self.add_command("*ESR", on_query=self._cmd_esr)
        self.add_command("SYSTem:ERRor[:NEXT]", on_query=lambda c: self.pop_error())
        self.add_command("SYSTem:ERRor:COUNt", on_query=lambda c: str(len(self._errors)))

    # -- registration and state -------------------------------------------------------

    def add_command(
        self, pattern: str, *, on_set: Handler | None = None, on_query: Handler | None = None
    ) -> None:
        """Register ``pattern`` with a set handler and/or a query handler.

        A later registration takes precedence over an earlier one that matches the same
        header (so a subclass or a test can override a command, e.g. the query only).

        A handler returns ``None`` (set) or the reply: ``str`` (ASCII) or ``bytes`` (sent as
        is, e.g. a block from :func:`encode_block`). It raises :class:`ScpiError` to fail.
        """
        if on_set is None and on_query is None:
            raise ValueError(f"{pattern}: give a set handler, a query handler or both")
        self._commands.append(_Entry(pattern, _compile(pattern), on_set, on_query))

    def reset(self) -> None:
        """Put the instrument state back to its power-on values (``*RST``); override."""

    def push_error(self, error: ScpiError) -> None:
        """Put ``error`` into the queue (on overflow the last entry becomes ``-350``)."""
        with self.lock:
            if error.code <= -400:
                self._esr |= _ESR_QYE
            elif error.code <= -300:
                self._esr |= _ESR_DDE
            elif error.code <= -200:
                self._esr |= _ESR_EXE
            elif error.code <= -100:
                self._esr |= _ESR_CME
            logger.debug("%s: error %s", self.name, error.entry())
            if len(self._errors) >= ERROR_QUEUE_SIZE:
                self._errors[-1] = '-350,"Queue overflow"'
            else:
                self._errors.append(error.entry())

    def pop_error(self) -> str:
        """Oldest error of the queue, or ``0,"No error"``."""
        with self.lock:
            return self._errors.popleft() if self._errors else '0,"No error"'

    @property
    def errors(self) -> tuple[str, ...]:
        """The error queue, oldest first, without consuming it."""
        with self.lock:
            return tuple(self._errors)

    # -- execution -----------------------------------------------------------------------

    def execute(self, message: bytes) -> bytes | None:
        """Handle one message (units separated by ``;``); the reply line, or ``None``."""
        replies: list[bytes] = []
        with self.lock:
            for unit in split_outside(message, b";"):
                reply = self._execute_unit(unit)
                if reply is not None:
                    replies.append(reply)
        if not replies:
            return None
        return b";".join(replies) + b"\n"

    def _execute_unit(self, unit: bytes) -> bytes | None:
        text = unit.lstrip(b" \t\r\n")
        if not text.strip(b" \t\r\n"):
            return None
        head_end = len(text)
        for i, byte in enumerate(text):
            if byte in b" \t\r\n":
                head_end = i
                break
        header = text[:head_end].decode("latin-1")
        self.received_count += 1
        self.received.append(self._describe(header, text[head_end:]))
        try:
            command = self._parse(header, text[head_end:])
            handler, suffixes = self._find(command)
            command = replace(command, suffixes=suffixes)
            reply = handler(command)
        except ScpiError as error:
            self.push_error(error)
            return None
        except Exception as exc:
            logger.exception("%s: handler of %r failed", self.name, header)
            self.push_error(ScpiError(-300, "Device-specific error", f"{header}: {exc}"))
            return None
        if not command.query:
            return None
        if reply is None:
            return b""
        return reply if isinstance(reply, bytes) else reply.encode("latin-1")

    @staticmethod
    def _describe(header: str, rest: bytes) -> str:
        args = rest.strip()
        hash_at = args.find(b"#")
        if hash_at >= 0 and args[hash_at + 1 : hash_at + 2].isdigit():
            args = args[:hash_at] + b"#<block>"
        shown = args[:80].decode("latin-1")
        return f"{header} {shown}".rstrip()

    @staticmethod
    def _parse(header: str, rest: bytes) -> ScpiCommand:
        query = header.endswith("?")
        name = header[:-1] if query else header
        if not name or "?" in name:
            raise ScpiError(-113, "Undefined header", header)
        args: tuple[str | bytes, ...] = ()
        if rest.strip(b" \t\r\n"):
            args = tuple(_parse_arg(part) for part in split_outside(rest, b","))
        return ScpiCommand(header=name, suffixes=(), query=query, args=args)

    def _find(self, command: ScpiCommand) -> tuple[Handler, tuple[int, ...]]:
        tokens = command.header.lstrip(":").upper().split(":")
        for entry in reversed(self._commands):
            handler = entry.on_query if command.query else entry.on_set
            if handler is None:
                continue
            suffixes = _match(entry.nodes, tokens)
            if suffixes is not None:
                return handler, suffixes
        raise ScpiError(-113, "Undefined header", command.header + ("?" if command.query else ""))

    # -- common commands ---------------------------------------------------------------

    def _cmd_rst(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        self.reset()

    def _cmd_cls(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        self._errors.clear()
        self._esr = 0

    def _cmd_opc(self, command: ScpiCommand) -> None:
        self._esr |= _ESR_OPC

    def _cmd_esr(self, command: ScpiCommand) -> str:
        value, self._esr = self._esr, 0
        return str(value)
