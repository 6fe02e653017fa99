"""Rohde & Schwarz ZNB20 as a VNA: QCoDeS's own driver behind the VNA role.

The QCoDeS driver (:class:`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzZNB20`) is
used unchanged (:attr:`RsZnb20Vna.driver`) with one channel measuring ``s_parameter``.

The driver expects replies that keep their ``\\n`` (its value maps hold ``"1\\n"``,
``"MLOG\\n"``, as a VXI-11 or HiSLIP resource delivers them, ending on END). On a raw
``SOCKET`` resource there is no END, so :func:`open_vna_resource` opens it with reads ending
on the ``\\n`` character without stripping it (``VI_ATTR_TERMCHAR_EN``, empty
``read_termination``) and hands the resource to the driver. A reconnection reopens the
resource with the same terminations, not this setting: a lost connection of this adapter
raises after the reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyvisa
from numpy.typing import NDArray
from pyvisa import constants

from qneko_hw.drivers.qcodes_adapter import QcodesAdapter
from qneko_hw.drivers.reconnect import ReconnectPolicy
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.roles import SafetyLimits

__all__ = ["RsZnb20Vna", "open_vna_resource"]

logger = logging.getLogger(__name__)


def open_vna_resource(address: str, visalib: str | None = "@py") -> Any:
    """Open ``address`` for the QCoDeS ZNB driver: writes end with ``\\r\\n`` (PyVISA's
    default; some of the driver's commands already end with ``\\n``); on ``SOCKET``
    resources reads end at ``\\n``, which stays in the reply."""
    manager = pyvisa.ResourceManager(visalib if visalib is not None else "")
    resource = manager.open_resource(address, write_termination="\r\n", read_termination="")
    if "SOCKET" in str(resource.resource_name).upper():
        resource.set_visa_attribute(constants.ResourceAttribute.termchar, ord("\n"))
        resource.set_visa_attribute(constants.ResourceAttribute.termchar_enabled, True)
    return resource


class RsZnb20Vna(QcodesAdapter):
    """ZNB20 measuring one S-parameter; fills the :class:`~qneko_hw.roles.VNA` role.

    Args:
        name: instrument name (also the QCoDeS instrument's name, unique in the process).
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        limits: safety limits (``max_power_dbm``: the source power); ``None``: none.
        s_parameter: what the channel measures (``S21``...).
        power_dbm: source power set at connection (dBm).
        bandwidth_hz: IF bandwidth set at connection (Hz).
        visalib: PyVISA backend, ``"@py"`` (pyvisa-py) by default.
        timeout: VISA timeout (s).
        reconnect: how to reconnect a lost connection.
    """

    def __init__(
        self,
        name: str,
        address: str,
        limits: SafetyLimits | None = None,
        *,
        s_parameter: str = "S21",
        power_dbm: float = -30.0,
        bandwidth_hz: int = 1000,
        visalib: str | None = "@py",
        timeout: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzZNB20

        safety = limits if limits is not None else SafetyLimits()
        if safety.max_power_dbm is not None and power_dbm > safety.max_power_dbm:
            raise SafetyLimitError(
                f"{name}: source power {power_dbm} dBm exceeds the limit "
                f"{safety.max_power_dbm} dBm; nothing written",
                instrument=name,
                parameter="power_dbm",
                limit=safety.max_power_dbm,
                value=power_dbm,
            )
        resource = open_vna_resource(address, visalib)
        try:
            driver = RohdeSchwarzZNB20(
                name,
                None,  # type: ignore[arg-type]  # QCoDeS: address and resource are exclusive
                resource=resource,
                timeout=timeout,
                init_s_params=False,
            )
        except BaseException:
            resource.close()
            raise
        super().__init__(name, driver, limits, reconnect)
        try:
            driver.add_channel(s_parameter)
            self.channel: Any = driver.channels[0]
            self.call_checked(
                f"SOUR1:POW {power_dbm}", lambda: self.channel.power(float(power_dbm))
            )
            self.call_checked(
                f"SENS1:BAND {bandwidth_hz}", lambda: self.channel.bandwidth(int(bandwidth_hz))
            )
        except BaseException:
            driver.close()
            raise

    def sweep(
        self, start_hz: float, stop_hz: float, points: int
    ) -> tuple[NDArray[np.float64], NDArray[np.complex128]]:
        """Sweep ``start_hz`` .. ``stop_hz`` (Hz) in ``points`` points with the RF on; the
        frequencies (Hz) and the complex S-parameter."""
        if not 0 < start_hz < stop_hz or points < 2:
            raise InstrumentError(
                f"{self.name}: bad sweep {start_hz} .. {stop_hz} Hz in {points} points",
                instrument=self.name,
                command="sweep",
            )
        ch = self.channel
        with self.lock:
            self.call_checked("OUTP1 ON", self.driver.rf_on)
            self.call_checked(
                f"SENS1:FREQ:STOP {stop_hz}", lambda: _set_span(ch, start_hz, stop_hz)
            )
            self.call_checked(f"SENS1:SWE:POIN {points}", lambda: ch.npts(int(points)))
            mag, phase = self.call("CALC1:DATA? SDAT", ch.trace_mag_phase)
            self.check_errors("CALC1:DATA? SDAT")
        frequencies = np.linspace(float(ch.start()), float(ch.stop()), int(points))
        data = np.asarray(mag, dtype=np.float64) * np.exp(1j * np.asarray(phase, dtype=np.float64))
        return frequencies, np.asarray(data, dtype=np.complex128)


def _set_span(channel: Any, start_hz: float, stop_hz: float) -> None:
    """Set start and stop in the order the driver accepts (it wants start < stop always)."""
    if start_hz >= float(channel.stop()):
        channel.stop(float(stop_hz))
        channel.start(float(start_hz))
    else:
        channel.start(float(start_hz))
        channel.stop(float(stop_hz))
