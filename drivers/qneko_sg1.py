"""QCoDeS driver of the QNeko SG1 microwave source (real or its simulated twin).

Parameters: ``frequency`` (Hz), ``power`` (dBm), ``output`` (bool). Every set is checked
against the instrument's error queue; ``power`` is refused above ``limits.max_power_dbm``
before anything is written, whether set through the parameter or :meth:`set_power`.
"""

from __future__ import annotations

import logging
from typing import Any

from qcodes.validators import Bool, Numbers

from qneko_hw.drivers.scpi_driver import QnekoScpiDriver
from qneko_hw.errors import SafetyLimitError
from qneko_hw.roles import SafetyLimits

__all__ = ["QnekoSG1"]

logger = logging.getLogger(__name__)


class QnekoSG1(QnekoScpiDriver):
    """QNeko SG1 source; fills the :class:`~qneko_hw.roles.LOSource` role.

    Args:
        name: QCoDeS instrument name.
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        limits: safety limits (``max_power_dbm``); ``None``: no limits.
        kwargs: passed to :class:`QnekoScpiDriver` (``timeout`` in s, ``visalib``, ...).
    """

    def __init__(
        self, name: str, address: str, limits: SafetyLimits | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, address, limits=limits, **kwargs)
        self.frequency = self.add_parameter(
            "frequency",
            label="Frequency",
            unit="Hz",
            get_cmd=lambda: self.query_float("FREQ?"),
            set_cmd=lambda hz: self.write_checked(f"FREQ {float(hz)!r}"),
            vals=Numbers(1e6, 20e9),
        )
        self.power = self.add_parameter(
            "power",
            label="Power",
            unit="dBm",
            get_cmd=lambda: self.query_float("POW?"),
            set_cmd=self._set_power,
            vals=Numbers(-120.0, 25.0),
        )
        self.output = self.add_parameter(
            "output",
            label="RF output",
            get_cmd=lambda: self.query_bool("OUTP?"),
            set_cmd=lambda on: self.write_checked(f"OUTP {'ON' if on else 'OFF'}"),
            vals=Bool(),
        )

    def _set_power(self, dbm: float) -> None:
        limit = self.limits.max_power_dbm
        if limit is not None and dbm > limit:
            raise SafetyLimitError(
                f"{self.name}: power {dbm} dBm exceeds the limit {limit} dBm; nothing written",
                instrument=self.name,
                parameter="power_dbm",
                limit=limit,
                value=float(dbm),
            )
        self.write_checked(f"POW {float(dbm)!r}")

    # -- LOSource role -------------------------------------------------------------------

    def set_frequency(self, hz: float) -> None:
        """Set the output frequency (Hz)."""
        self.frequency(float(hz))

    def set_power(self, dbm: float) -> None:
        """Set the output power (dBm); SafetyLimitError above ``limits.max_power_dbm``."""
        self.power(float(dbm))

    def set_output(self, on: bool) -> None:
        """Switch the RF output on or off."""
        self.output(bool(on))
