"""Common base of the QNeko SCPI drivers: locked I/O, error queue check, typed queries.

Every write and query of one driver instance runs under one re-entrant lock, so two threads
never interleave their commands and replies (QCoDeS issue #327); a compound operation
(write, then ``SYST:ERR?``) holds the lock throughout. A reply that cannot be parsed, a
timeout and an error reported by the instrument all raise :class:`InstrumentError` naming
the instrument, the command and the raw reply. A lost connection (the instrument closed
it, or was restarted) is reopened with bounded retries and backoff
(:mod:`qneko_hw.drivers.reconnect`); :meth:`write_checked` re-sends its command if the
connection dropped before its error check.

Unlike the rest of QNeko-HW, a QCoDeS instrument connects in its constructor (that is the
QCoDeS convention); :meth:`close` disconnects, and the drivers are context managers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import numpy as np
import pyvisa.errors
from numpy.typing import NDArray
from qcodes.instrument import VisaInstrument

from qneko_hw.drivers.reconnect import (
    ReconnectPolicy,
    prepare_socket,
    reopen,
    run_with_reconnect,
    session_socket,
)
from qneko_hw.errors import InstrumentError
from qneko_hw.roles import SafetyLimits

__all__ = ["QnekoScpiDriver"]

logger = logging.getLogger(__name__)

_ERROR_REPLY = re.compile(r'\s*([+-]?\d+)\s*,\s*"(.*)"\s*')
_MAX_DRAIN = 64
_DIRECT_SEND_BYTES = 1 << 16
T = TypeVar("T")


class QnekoScpiDriver(VisaInstrument):
    """Base of the drivers of the QNeko instruments (real or simulated twins).

    Args:
        name: QCoDeS instrument name (unique in the process).
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        limits: safety limits, checked before anything is written; ``None``: no limits.
        visalib: PyVISA backend; ``"@py"`` (pyvisa-py) by default.
        reconnect: how to reconnect a lost connection (bounded retries with backoff).
        kwargs: passed to :class:`qcodes.instrument.VisaInstrument` (``timeout`` in s, ...).
    """

    default_terminator = "\n"
    default_timeout = 5.0

    def __init__(
        self,
        name: str,
        address: str,
        *,
        limits: SafetyLimits | None = None,
        visalib: str | None = "@py",
        reconnect: ReconnectPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        self._io_lock = threading.RLock()
        self.reconnect = reconnect if reconnect is not None else ReconnectPolicy()
        self.reconnect_count = 0
        self.limits = limits if limits is not None else SafetyLimits()
        kwargs.setdefault("device_clear", False)
        super().__init__(name, address, visalib=visalib, **kwargs)
        prepare_socket(self.visa_handle)

    def _io(self, command: str, action: Callable[[], T]) -> T:
        """Run one wire operation under the lock, reconnecting if the connection is lost."""
        with self._io_lock:
            return run_with_reconnect(
                self, self.name, command, action, self.reconnect, on_reconnect=self._count_reconnect
            )

    def _count_reconnect(self) -> None:
        self.reconnect_count += 1

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- locked raw I/O ------------------------------------------------------------------

    def write_raw(self, cmd: str) -> None:
        """Write ``cmd`` under the driver lock; VISA errors become InstrumentError."""
        with self._io_lock:
            try:
                self._io(cmd, lambda: super(QnekoScpiDriver, self).write_raw(cmd))
            except pyvisa.errors.VisaIOError as exc:
                raise InstrumentError(
                    f"{self.name}: writing {cmd!r} failed: {exc}", instrument=self.name, command=cmd
                ) from exc

    def ask_raw(self, cmd: str) -> str:
        """Query ``cmd`` under the driver lock; a timeout names the instrument's error."""
        with self._io_lock:
            try:
                return self._io(cmd, lambda: super(QnekoScpiDriver, self).ask_raw(cmd))
            except UnicodeDecodeError as exc:
                raise InstrumentError(
                    f"{self.name}: the reply to {cmd!r} is not text: {exc.object[:60]!r}",
                    instrument=self.name,
                    command=cmd,
                    reply=bytes(exc.object[:60]).decode("latin-1"),
                ) from exc
            except pyvisa.errors.VisaIOError as exc:
                # a reply may still arrive late and would be read as the answer to the next
                # query: start over on a fresh connection before asking for the error
                self._discard_late_replies()
                queued = self._error_after_failure()
                raise InstrumentError(
                    f"{self.name}: query {cmd!r} got no reply ({exc.abbreviation})"
                    + (f"; instrument error {queued}" if queued else ""),
                    instrument=self.name,
                    command=cmd,
                    reply=queued,
                ) from exc

    def _discard_late_replies(self) -> None:
        try:
            reopen(self, self.reconnect.open_timeout_s)
        except (OSError, pyvisa.errors.VisaIOError):
            logger.warning("%s: could not reopen the connection after a timeout", self.name)

    def _error_after_failure(self) -> str | None:
        try:
            return str(super().ask_raw("SYST:ERR?")).strip()
        except (pyvisa.errors.VisaIOError, OSError):
            return None

    def write_bytes(self, message: bytes) -> None:
        """Write raw bytes (e.g. a command with a binary block); a newline is appended.

        pyvisa-py sends in 4 KiB chunks, one ``select`` + ``send`` each; a message above
        :data:`_DIRECT_SEND_BYTES` on a pyvisa-py socket session goes straight to the socket
        with ``sendall`` instead (about twice the throughput for waveform uploads).
        """

        def send() -> None:
            sock = session_socket(self.visa_handle)
            if sock is not None and len(message) >= _DIRECT_SEND_BYTES:
                sock.sendall(message + b"\n")
            else:
                self.visa_handle.write_raw(message + b"\n")

        with self._io_lock:
            try:
                self._io(message[:60].decode("latin-1"), send)
            except pyvisa.errors.VisaIOError as exc:
                raise InstrumentError(
                    f"{self.name}: writing {message[:60]!r} failed: {exc}",
                    instrument=self.name,
                    command=message[:60].decode("latin-1"),
                ) from exc

    def write_block(self, header: str, payload: bytes) -> None:
        """Write ``header`` followed by ``payload`` as a definite-length block."""
        length = str(len(payload)).encode("ascii")
        block = b"#" + str(len(length)).encode("ascii") + length + payload
        self.write_bytes(header.encode("latin-1") + block)

    def query_block(self, cmd: str) -> bytes:
        """Query ``cmd`` whose reply is one definite-length block; its payload."""
        with self._io_lock:
            try:
                values = self._io(
                    cmd,
                    lambda: self.visa_handle.query_binary_values(
                        cmd, datatype="B", container=cast(Any, np.array), expect_termination=True
                    ),
                )
                data: NDArray[np.uint8] = np.asarray(values, dtype=np.uint8)
            except pyvisa.errors.VisaIOError as exc:
                queued = self._error_after_failure()
                raise InstrumentError(
                    f"{self.name}: query {cmd!r} got no block ({exc.abbreviation})",
                    instrument=self.name,
                    command=cmd,
                    reply=queued,
                ) from exc
            except (ValueError, TypeError) as exc:
                raise InstrumentError(
                    f"{self.name}: reply to {cmd!r} is not a binary block: {exc}",
                    instrument=self.name,
                    command=cmd,
                    reply=str(exc),
                ) from exc
        return data.tobytes()

    # -- checked writes and typed queries -----------------------------------------------

    def check_errors(self, command: str) -> None:
        """Read the instrument's error queue; raise if it holds anything after ``command``.

        Raises:
            InstrumentError: with the first error as ``reply`` (all of them in the message).
        """
        with self._io_lock:
            errors: list[str] = []
            for _ in range(_MAX_DRAIN):
                reply = self.ask("SYST:ERR?").strip()
                m = _ERROR_REPLY.fullmatch(reply)
                if m is None:
                    raise InstrumentError(
                        f"{self.name}: cannot parse the error reply {reply!r} after {command!r}",
                        instrument=self.name,
                        command=command,
                        reply=reply,
                    )
                if int(m.group(1)) == 0:
                    break
                errors.append(reply)
        if errors:
            raise InstrumentError(
                f"{self.name}: {command!r} failed: {'; '.join(errors)}",
                instrument=self.name,
                command=command,
                reply=errors[0],
            )

    def write_checked(self, cmd: str) -> None:
        """Write ``cmd`` and check the error queue."""
        with self._io_lock:
            before = self.reconnect_count
            self.write(cmd)
            self.check_errors(cmd)
            if self.reconnect_count != before:
                # the connection dropped after the write: it may not have been executed;
                # settings are idempotent, so send it again on the new connection
                logger.warning("%s: re-sending %r after reconnecting", self.name, cmd)
                self.write(cmd)
                self.check_errors(cmd)

    def _parse_error(self, cmd: str, reply: str, kind: str) -> InstrumentError:
        return InstrumentError(
            f"{self.name}: cannot parse the reply {reply!r} to {cmd!r} as {kind}",
            instrument=self.name,
            command=cmd,
            reply=reply,
        )

    def query_float(self, cmd: str) -> float:
        """Query ``cmd`` and parse a float."""
        reply = self.ask(cmd)
        try:
            return float(reply)
        except ValueError:
            raise self._parse_error(cmd, reply, "a number") from None

    def query_int(self, cmd: str) -> int:
        """Query ``cmd`` and parse an integer."""
        reply = self.ask(cmd)
        try:
            return int(reply.strip())
        except ValueError:
            raise self._parse_error(cmd, reply, "an integer") from None

    def query_bool(self, cmd: str) -> bool:
        """Query ``cmd`` and parse ``0``/``1`` (``OFF``/``ON``)."""
        reply = self.ask(cmd)
        value = {"0": False, "1": True, "OFF": False, "ON": True}.get(reply.strip().upper())
        if value is None:
            raise self._parse_error(cmd, reply, "0 or 1")
        return value

    def query_ints(self, cmd: str, count: int) -> tuple[int, ...]:
        """Query ``cmd`` and parse ``count`` comma-separated integers."""
        reply = self.ask(cmd)
        try:
            values = tuple(int(part) for part in reply.split(","))
        except ValueError:
            raise self._parse_error(cmd, reply, f"{count} integers") from None
        if len(values) != count:
            raise self._parse_error(cmd, reply, f"{count} integers")
        return values

    def query_choice(self, cmd: str, choices: tuple[str, ...]) -> str:
        """Query ``cmd`` and check the reply is one of ``choices``."""
        reply = self.ask(cmd).strip()
        if reply not in choices:
            raise self._parse_error(cmd, reply, " | ".join(choices))
        return reply
