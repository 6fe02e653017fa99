"""SCPI-over-TCP server framework for the simulated instruments.

:class:`ScpiInstrument` holds a command table and an error queue; :class:`ScpiServer`
serves one instrument on a loopback TCP port (VISA ``TCPIP::127.0.0.1::<port>::SOCKET``).
"""

from __future__ import annotations

from qneko_hw.simulated_instruments.scpi.blocks import BlockError, decode_block, encode_block
from qneko_hw.simulated_instruments.scpi.instrument import (
    ERROR_QUEUE_SIZE,
    Handler,
    ScpiCommand,
    ScpiError,
    ScpiInstrument,
)
from qneko_hw.simulated_instruments.scpi.server import ScpiServer

__all__ = [
    "ERROR_QUEUE_SIZE",
    "BlockError",
    "Handler",
    "ScpiCommand",
    "ScpiError",
    "ScpiInstrument",
    "ScpiServer",
    "decode_block",
    "encode_block",
]
