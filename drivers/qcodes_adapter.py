"""Common base of the adapters that wrap QCoDeS's own drivers into our roles.

An adapter owns one unchanged QCoDeS driver (:attr:`QcodesAdapter.driver`) and exposes a
role of :mod:`qneko_hw.drivers.roles`. It holds one re-entrant lock per instrument around
every role method (so a compound operation, e.g. upload then ``SYST:ERR?``, never
interleaves with another thread's), checks the station's safety limits before it writes,
turns QCoDeS/PyVISA failures into :class:`InstrumentError` naming the instrument, the
command and the reply, and reads the error queue after uploads and settings.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import pyvisa.errors

from qneko_hw.drivers.roles import SafetyLimits
from qneko_hw.errors import InstrumentError, QnekoError

__all__ = ["QcodesAdapter", "read_error_queue", "set_nodelay"]

logger = logging.getLogger(__name__)

_ERROR_REPLY = re.compile(r'\s*([+-]?\d+)\s*,\s*"(.*)"\s*')
_MAX_DRAIN = 64
T = TypeVar("T")


def set_nodelay(instrument: Any) -> None:
    """Send each command at once (TCP_NODELAY) on a QCoDeS VISA instrument's socket.

    Without it, a write split by the VISA layer waits for the peer's delayed ACK (about
    40 ms on Linux). Does nothing on other resources or VISA backends.
    """
    handle = instrument.visa_handle
    if "SOCKET" not in str(handle.resource_name).upper():
        return
    session = getattr(handle.visalib, "sessions", {}).get(handle.session)
    sock = getattr(session, "interface", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def read_error_queue(name: str, ask: Callable[[str], str], command: str) -> None:
    """Drain ``SYST:ERR?``; raise if the instrument reported errors after ``command``.

    Raises:
        InstrumentError: with the first error as ``reply`` (all of them in the message), or
            if an error reply cannot be parsed.
    """
    errors: list[str] = []
    for _ in range(_MAX_DRAIN):
        reply = ask("SYST:ERR?").strip()
        m = _ERROR_REPLY.fullmatch(reply)
        if m is None:
            raise InstrumentError(
                f"{name}: cannot parse the error reply {reply!r} after {command!r}",
                instrument=name,
                command=command,
                reply=reply,
            )
        if int(m.group(1)) == 0:
            break
        errors.append(reply)
    if errors:
        raise InstrumentError(
            f"{name}: {command!r} failed: {'; '.join(errors)}",
            instrument=name,
            command=command,
            reply=errors[0],
        )


class QcodesAdapter:
    """Base of a role adapter around one QCoDeS driver.

    Args:
        name: instrument name (the station's), used in errors and logs.
        driver: the connected QCoDeS instrument.
        limits: safety limits; ``None``: no limits.
    """

    def __init__(self, name: str, driver: Any, limits: SafetyLimits | None) -> None:
        self.name = name
        self.driver = driver
        self.limits = limits if limits is not None else SafetyLimits()
        self.lock = threading.RLock()
        set_nodelay(driver)

    def call(self, command: str, action: Callable[[], T]) -> T:
        """Run ``action`` (one driver call, described by ``command``) under the lock;
        a QCoDeS validation or VISA failure becomes :class:`InstrumentError`."""
        with self.lock:
            try:
                return action()
            except QnekoError:
                raise
            except pyvisa.errors.VisaIOError as exc:
                raise InstrumentError(
                    f"{self.name}: {command!r} failed on the wire ({exc.abbreviation})",
                    instrument=self.name,
                    command=command,
                ) from exc
            except (ValueError, TypeError, KeyError, RuntimeError) as exc:
                raise InstrumentError(
                    f"{self.name}: {command!r} failed: {exc}",
                    instrument=self.name,
                    command=command,
                    reply=str(exc),
                ) from exc

    def check_errors(self, command: str) -> None:
        """Read the error queue; raise :class:`InstrumentError` if it holds errors."""
        with self.lock:
            read_error_queue(
                self.name, lambda q: str(self.call(q, lambda: self.driver.ask(q))), command
            )

    def close(self) -> None:
        """Close the QCoDeS driver (and its VISA session)."""
        with self.lock:
            self.driver.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
