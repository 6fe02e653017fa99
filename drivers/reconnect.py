"""Detecting a lost TCP connection and reconnecting a QCoDeS VISA instrument.

pyvisa-py does not notice that the instrument closed the connection: its read loop treats
``recv() == b""`` as "no data yet" and spins until the VISA timeout. So, on pyvisa-py socket
sessions, :func:`prepare_socket` swaps the session's socket for one whose ``recv`` raises
:class:`ConnectionResetError` at end of stream (and sets ``TCP_NODELAY``), and
:func:`peer_closed` is a non-blocking probe (``select`` + ``MSG_PEEK``) run before each
operation, so a connection closed while idle (a twin restarted between two commands) is
found before anything is written into it.

:func:`run_with_reconnect` runs one operation and, when the connection is lost, reopens the
VISA resource (same address, terminators and timeout) with bounded retries and exponential
backoff, each logged at WARNING; after the last attempt it raises :class:`InstrumentError`
naming the instrument, the command and the last error. A timeout on a live connection is
not a lost connection: it is raised as before, without a retry.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyvisa
import pyvisa.errors

from qneko_hw.errors import InstrumentError

__all__ = [
    "ConnectionLostError",
    "ReconnectPolicy",
    "peer_closed",
    "prepare_socket",
    "reopen",
    "run_with_reconnect",
    "session_socket",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ReconnectPolicy:
    """How hard to try to get a lost connection back.

    Attributes:
        attempts: reconnection attempts per operation (0: never reconnect).
        backoff_s: wait before the first attempt (s); doubled after each failed attempt.
        max_backoff_s: the longest wait between attempts (s).
        open_timeout_s: TCP connect timeout of one attempt (s).
    """

    attempts: int = 4
    backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    open_timeout_s: float = 2.0


class ConnectionLostError(ConnectionError):
    """The instrument closed the connection (found by the probe or at end of stream)."""


class _EofSocket(socket.socket):
    """A socket whose ``recv`` raises at end of stream instead of returning ``b""``."""

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        data = super().recv(bufsize, flags)
        if not data and bufsize > 0:
            raise ConnectionLostError(errno.ECONNRESET, "the instrument closed the connection")
        return data


def session_socket(handle: Any) -> socket.socket | None:
    """The socket of a pyvisa-py ``SOCKET`` session, or ``None`` (other resources/backends)."""
    if "SOCKET" not in str(getattr(handle, "resource_name", "")).upper():
        return None
    try:
        session = getattr(handle.visalib, "sessions", {}).get(handle.session)
    except pyvisa.errors.InvalidSession:
        return None
    sock = getattr(session, "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def prepare_socket(handle: Any) -> None:
    """Set ``TCP_NODELAY`` and make end of stream raise on a pyvisa-py socket session.

    Without ``TCP_NODELAY`` a write split by the VISA layer waits for the peer's delayed
    ACK (about 40 ms on Linux). Does nothing on other resources or VISA backends.

    Raises:
        ConnectionRefusedError: the connection attempt failed (pyvisa-py reports a refused
            non-blocking connect as success; the socket's pending error tells).
    """
    sock = session_socket(handle)
    if sock is None:
        return
    pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if pending:
        raise ConnectionRefusedError(pending, f"cannot connect: {errno.errorcode.get(pending)}")
    if not isinstance(sock, _EofSocket):
        session = handle.visalib.sessions[handle.session]
        timeout = sock.gettimeout()
        sock = _EofSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        sock.settimeout(timeout)
        session.interface = sock
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def peer_closed(handle: Any) -> bool:
    """Whether the peer has closed (or reset) the connection of ``handle``; never blocks.

    ``False`` if unknown (not a pyvisa-py socket session). Pending reply bytes are left in
    the socket.
    """
    sock = session_socket(handle)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return socket.socket.recv(sock, 1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


@dataclass(frozen=True)
class _Link:
    """What a reopened resource must keep: address, terminators, timeout, manager."""

    address: str
    timeout_ms: float | None
    read_termination: str | None
    write_termination: str | None
    manager: Any

    @classmethod
    def of(cls, handle: Any) -> _Link:
        return cls(
            address=str(handle.resource_name),
            timeout_ms=handle.timeout,
            read_termination=handle.read_termination,
            write_termination=handle.write_termination,
            manager=handle.visalib.resource_manager or pyvisa.ResourceManager(handle.visalib),
        )


def reopen(instrument: Any, open_timeout_s: float, link: _Link | None = None) -> None:
    """Close and reopen the VISA resource of a QCoDeS ``VisaInstrument`` at its address,
    keeping its terminators and timeout (those of ``link``, else of the open resource).

    Raises:
        OSError, pyvisa.errors.VisaIOError: the instrument cannot be reached.
    """
    old = instrument.visa_handle
    if link is None:
        link = _Link.of(old)
    with contextlib.suppress(Exception):
        old.close()
    new = link.manager.open_resource(link.address, open_timeout=int(open_timeout_s * 1000))
    try:
        new.read_termination = link.read_termination
        new.write_termination = link.write_termination
        new.timeout = link.timeout_ms
        prepare_socket(new)
    except BaseException:
        with contextlib.suppress(Exception):
            new.close()
        raise
    # QCoDeS keeps the resource here (``set_address`` assigns it too, with a new manager).
    instrument._visa_handle = new


def _is_lost(exc: BaseException, handle: Any) -> bool:
    if isinstance(exc, OSError | pyvisa.errors.InvalidSession):
        return True
    return isinstance(exc, pyvisa.errors.VisaIOError) and peer_closed(handle)


def run_with_reconnect(
    instrument: Any,
    name: str,
    command: str,
    action: Callable[[], T],
    policy: ReconnectPolicy,
    *,
    on_reconnect: Callable[[], None] | None = None,
) -> T:
    """Run ``action`` (one operation of ``instrument``, described by ``command``);
    reconnect and rerun it if the connection is lost.

    The connection is probed first; a probe that finds it closed counts as a loss. Other
    exceptions of ``action`` pass through unchanged; so does a VISA timeout on a live
    connection. ``on_reconnect`` is called after each successful reconnection.

    Raises:
        InstrumentError: the connection could not be restored within ``policy.attempts``
            attempts; names the instrument, the command and the last error.
    """
    attempt = 0
    delay = policy.backoff_s
    link: _Link | None = getattr(instrument, "_qneko_link", None)
    while True:
        handle = instrument.visa_handle
        try:
            if peer_closed(handle):
                raise ConnectionLostError(errno.ECONNRESET, "the instrument closed the connection")
            return action()
        except (OSError, pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession) as exc:
            if not _is_lost(exc, handle):
                raise
            last: BaseException = exc
            with contextlib.suppress(pyvisa.errors.InvalidSession):
                link = _Link.of(handle)  # a closed handle (an earlier failure) keeps the last
                instrument._qneko_link = link
            if link is None:
                raise
        while True:
            attempt += 1
            if attempt > policy.attempts:
                raise InstrumentError(
                    f"{name}: connection lost during {command!r}; not restored after "
                    f"{policy.attempts} attempts; last error: {last}",
                    instrument=name,
                    command=command,
                    reply=str(last),
                ) from last
            logger.warning(
                "%s: connection lost during %r (%s); reconnecting in %.3g s (attempt %d of %d)",
                name,
                command,
                last,
                delay,
                attempt,
                policy.attempts,
            )
            time.sleep(delay)
            delay = min(2 * delay, policy.max_backoff_s)
            try:
                reopen(instrument, policy.open_timeout_s, link)
            except (OSError, pyvisa.errors.VisaIOError) as exc:
                last = exc
                continue
            logger.warning("%s: reconnected to %s", name, instrument.visa_handle.resource_name)
            if on_reconnect is not None:
                on_reconnect()
            break
