"""Rohde & Schwarz SGS100A as an LO source: QCoDeS's own driver behind the LOSource role.

The QCoDeS driver (:class:`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A`) is
used unchanged and is available as :attr:`RsSgs100aSource.driver` for everything beyond the
role. The power limit (``limits.max_power_dbm``) is checked before anything is written, and
the error queue is read after each setting.
"""

from __future__ import annotations

import logging

from qneko_hw.drivers.qcodes_adapter import QcodesAdapter
from qneko_hw.drivers.reconnect import ReconnectPolicy
from qneko_hw.errors import SafetyLimitError
from qneko_hw.roles import SafetyLimits

__all__ = ["RsSgs100aSource"]

logger = logging.getLogger(__name__)


class RsSgs100aSource(QcodesAdapter):
    """SGS100A; fills the :class:`~qneko_hw.roles.LOSource` role.

    Args:
        name: instrument name (also the QCoDeS instrument's name, unique in the process).
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        limits: safety limits (``max_power_dbm``); ``None``: no limits.
        visalib: PyVISA backend, ``"@py"`` (pyvisa-py) by default.
        timeout: VISA timeout (s).
        reconnect: how to reconnect a lost connection (bounded retries with backoff).
    """

    def __init__(
        self,
        name: str,
        address: str,
        limits: SafetyLimits | None = None,
        *,
        visalib: str | None = "@py",
        timeout: float = 5.0,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A

        driver = RohdeSchwarzSGS100A(name, address, visalib=visalib, timeout=timeout)
        super().__init__(name, driver, limits, reconnect)

    def set_frequency(self, hz: float) -> None:
        """Set the output frequency (Hz)."""
        self.call_checked(f"SOUR:FREQ {hz}", lambda: self.driver.frequency(float(hz)))

    def set_power(self, dbm: float) -> None:
        """Set the output power (dBm).

        Raises:
            SafetyLimitError: above ``limits.max_power_dbm``; nothing is written.
        """
        limit = self.limits.max_power_dbm
        if limit is not None and float(dbm) > limit:
            raise SafetyLimitError(
                f"{self.name}: power {dbm} dBm exceeds the limit {limit} dBm; nothing written",
                instrument=self.name,
                parameter="power_dbm",
                limit=limit,
                value=float(dbm),
            )
        self.call_checked(f"SOUR:POW {dbm}", lambda: self.driver.power(float(dbm)))

    def set_output(self, on: bool) -> None:
        """Switch the RF output on or off."""
        self.call_checked(f":OUTP:STAT {int(on)}", lambda: self.driver.status(bool(on)))
