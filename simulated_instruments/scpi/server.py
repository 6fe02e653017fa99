"""Raw-socket SCPI server: serves one :class:`ScpiInstrument` on a loopback TCP port.

Messages are terminated by ``\\n`` (a ``\\r`` before it is ignored as white space); a
definite-length block inside a message is read by its length, so it may contain newlines.
Each client connection gets its own thread; all threads share the instrument, whose lock
keeps the program message units of different clients from interleaving.

Example::

    with ScpiServer(LoTwin()) as server:
        address = server.address  # "TCPIP::127.0.0.1::<port>::SOCKET"
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from qneko_hw.simulated_instruments.scpi.blocks import (
    decode_block,
    encode_block,
    take_messages,
)
from qneko_hw.simulated_instruments.scpi.instrument import (
    ERROR_QUEUE_SIZE,
    ScpiError,
    ScpiInstrument,
)

__all__ = ["Fault", "ScpiServer", "decode_block", "encode_block"]

logger = logging.getLogger(__name__)

_RECV_BYTES = 1 << 16
_JOIN_TIMEOUT_S = 5.0


@dataclass
class Fault:
    """Fault injection for tests: set :attr:`ScpiServer.fault` to one of these.

    Attributes:
        kind: ``drop`` (close the connection on the next message, unhandled), ``delay``
            (sleep ``delay_s`` before handling each message), ``garble`` (replace each
            reply by ``garbage``), ``refuse`` (close new connections at once),
            ``full_error_queue`` (fill the error queue before each message).
        count: how many messages (connections for ``refuse``) it applies to; ``None``:
            until cleared.
    """

    kind: str
    delay_s: float = 0.0
    garbage: bytes = b"\x00#9\xff?!\n"
    count: int | None = 1

    def take(self) -> bool:
        """Whether the fault applies now (and count it)."""
        if self.count is None:
            return True
        if self.count <= 0:
            return False
        self.count -= 1
        return True


class ScpiServer:
    """TCP server for one simulated instrument.

    Args:
        instrument: the instrument to serve.
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free ephemeral port (read it from :attr:`port`).

    The constructor does no I/O; :meth:`start` binds and starts the threads, :meth:`stop`
    (or leaving the ``with`` block) closes every socket and joins every thread.
    """

    def __init__(self, instrument: ScpiInstrument, host: str = "127.0.0.1", port: int = 0) -> None:
        self.instrument = instrument
        self.host = host
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._guard = threading.Lock()
        self._port: int | None = None
        self._serial = 0
        self.fault: Fault | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._listener is not None and not self._stopping.is_set()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the SCPI server is not started")
        return self._port

    @property
    def address(self) -> str:
        """VISA resource string of the server, ``TCPIP::<host>::<port>::SOCKET``."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> ScpiServer:
        """Bind, listen and start accepting clients in a background thread."""
        if self._listener is not None:
            raise RuntimeError("the SCPI server is already started")
        self._stopping.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self._requested_port))
            listener.listen(16)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._listener = listener
        self._port = listener.getsockname()[1]
        thread = threading.Thread(
            target=self._accept_loop, name=f"scpi-{self.instrument.name}-accept", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        logger.info("%s serving on %s", self.instrument.name, self.address)
        return self

    def stop(self) -> None:
        """Stop serving: close the listener and all connections, join all threads."""
        if self._listener is None:
            return
        self._stopping.set()
        if self._wake_w is not None:
            self._wake_w.send(b"x")
        with self._guard:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._guard:
            threads = list(self._threads)
        for thread in threads:
            thread.join(_JOIN_TIMEOUT_S)
            if thread.is_alive():
                logger.warning("%s: thread %s did not stop", self.instrument.name, thread.name)
        self._listener.close()
        self._listener = None
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None
        with self._guard:
            self._threads.clear()
        logger.info("%s stopped serving on port %s", self.instrument.name, self._port)

    def __enter__(self) -> ScpiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- threads -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake_r
        assert listener is not None and wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is wake or self._stopping.is_set():
                        return
                    try:
                        conn, peer = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    self._spawn(conn, peer)

    def _spawn(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        fault = self.fault
        if fault is not None and fault.kind == "refuse" and fault.take():
            logger.info("%s: fault: refusing %s:%s", self.instrument.name, *peer)
            conn.close()
            return
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._guard:
            if self._stopping.is_set():
                conn.close()
                return
            self._serial += 1
            thread = threading.Thread(
                target=self._serve,
                args=(conn,),
                name=f"scpi-{self.instrument.name}-conn{self._serial}",
                daemon=True,
            )
            self._connections.add(conn)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        logger.debug("%s: client %s:%s connected", self.instrument.name, *peer)
        thread.start()

    def _handle(self, message: bytes) -> bytes | bool | None:
        """The reply to ``message`` after any injected fault; ``False``: drop the link."""
        fault = self.fault
        if fault is None or fault.kind == "refuse" or not fault.take():
            return self.instrument.execute(message)
        logger.info("%s: fault %s", self.instrument.name, fault.kind)
        if fault.kind == "drop":
            return False
        if fault.kind == "delay":
            time.sleep(fault.delay_s)
        elif fault.kind == "full_error_queue":
            for _ in range(ERROR_QUEUE_SIZE + 1):
                self.instrument.push_error(ScpiError(-350, "Queue overflow", "injected"))
        reply = self.instrument.execute(message)
        if fault.kind == "garble" and reply is not None:
            return fault.garbage
        return reply

    def _serve(self, conn: socket.socket) -> None:
        wake = self._wake_r
        assert wake is not None
        buffer = bytearray()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(conn, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    events = selector.select()
                    if self._stopping.is_set() or any(k.fileobj is wake for k, _ in events):
                        return
                    chunk = conn.recv(_RECV_BYTES)
                    if not chunk:
                        return
                    buffer += chunk
                    for message in take_messages(buffer):
                        reply = self._handle(message)
                        if reply is False:
                            return
                        if isinstance(reply, bytes):
                            conn.sendall(reply)
        except OSError as exc:
            if not self._stopping.is_set():
                logger.debug("%s: connection dropped: %s", self.instrument.name, exc)
        finally:
            with self._guard:
                self._connections.discard(conn)
            conn.close()
