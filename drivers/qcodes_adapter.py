"""Common base of the adapters that wrap QCoDeS's own drivers into our roles.

An adapter owns one unchanged QCoDeS driver (:attr:`QcodesAdapter.driver`) and exposes a
role of :mod:`qneko_hw.roles`. It holds one re-entrant lock per instrument around
every role method (so a compound operation, e.g. upload then ``SYST:ERR?``, never
interleaves with another thread's), checks the station's safety limits before it writes,
turns QCoDeS/PyVISA failures into :class:`InstrumentError` naming the instrument, the
command and the reply, and reads the error queue after uploads and settings.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import pyvisa.errors

from qneko_hw.drivers.reconnect import ReconnectPolicy, prepare_socket, run_with_reconnect
from qneko_hw.errors import InstrumentError, QnekoError
from qneko_hw.roles import SafetyLimits

__all__ = ["QcodesAdapter", "read_error_queue", "set_nodelay"]

logger = logging.getLogger(__name__)

_ERROR_REPLY = re.compile(r'\s*([+-]?\d+)\s*,\s*"(.*)"\s*')
_MAX_DRAIN = 64
T = TypeVar("T")


def set_nodelay(instrument: Any) -> None:
    """Send each command at once (TCP_NODELAY) on a QCoDeS VISA instrument's socket, and
    make a closed connection raise at once (see :func:`~qneko_hw.drivers.reconnect.prepare_socket`).
    Does nothing on other resources or VISA backends."""
    prepare_socket(instrument.visa_handle)


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
        reconnect: how to reconnect a lost connection; the driver call that found the
            connection lost is run again on the new connection.
    """

    def __init__(
        self,
        name: str,
        driver: Any,
        limits: SafetyLimits | None,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        self.name = name
        self.driver = driver
        self.limits = limits if limits is not None else SafetyLimits()
        self.reconnect = reconnect if reconnect is not None else ReconnectPolicy()
        self.reconnect_count = 0
        self.lock = threading.RLock()
        set_nodelay(driver)

    def call(self, command: str, action: Callable[[], T]) -> T:
        """Run ``action`` (one driver call, described by ``command``) under the lock;
        a QCoDeS validation or VISA failure becomes :class:`InstrumentError`; a lost
        connection is reopened and ``action`` run again (bounded retries)."""
        with self.lock:
            try:
                return run_with_reconnect(
                    self.driver,
                    self.name,
                    command,
                    action,
                    self.reconnect,
                    on_reconnect=self._reconnected,
                )
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

    def _reconnected(self) -> None:
        self.reconnect_count += 1

    def call_checked(self, command: str, action: Callable[[], object]) -> None:
        """Run ``action`` (a setting) with :meth:`call`, then read the error queue; if the
        connection was lost in between, the setting may not have been executed, so it is
        run again (settings are idempotent) and checked again."""
        with self.lock:
            before = self.reconnect_count
            self.call(command, action)
            self.check_errors(command)
            if self.reconnect_count != before:
                logger.warning("%s: re-sending %r after reconnecting", self.name, command)
                self.call(command, action)
                self.check_errors(command)

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
