"""Yokogawa GS200 as a DC voltage source: QCoDeS's own driver behind the DCSource role.

The QCoDeS driver (:class:`qcodes.instrument_drivers.yokogawa.YokogawaGS200`) is used
unchanged (:attr:`YokogawaGs200Source.driver`). At connection the source is put in voltage
mode (refused if it is in current mode with the output on) with auto range, so a level is
written as ``:SOUR:LEV:AUTO <V>``.

Safety, checked before anything is written: ``|v| <= limits.max_voltage_v``, and a ramp rate
asked for is at most ``limits.max_ramp_rate_v_per_s``. A change of level is ramped stepwise
from the present level: steps of at most ``rate x ramp_interval_s`` volts, one every
``ramp_interval_s`` seconds (the time of each write comes on top, so the rate is never
exceeded); without a rate limit the level jumps. The error queue is read after each step,
and a ramp stops at the first error.
"""

from __future__ import annotations

import logging
import math
import time
from functools import partial

from qneko_hw.drivers.qcodes_adapter import QcodesAdapter
from qneko_hw.drivers.reconnect import ReconnectPolicy
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.roles import SafetyLimits

__all__ = ["YokogawaGs200Source", "ramp_points"]

logger = logging.getLogger(__name__)


def ramp_points(start_v: float, stop_v: float, step_v: float | None) -> list[float]:
    """Set points from ``start_v`` (excluded) to ``stop_v`` (included), equal steps of at most
    ``step_v`` (V); one point if ``step_v`` is ``None``, none if there is nothing to do."""
    delta = stop_v - start_v
    if delta == 0.0:
        return []
    if step_v is None:
        return [stop_v]
    n = max(1, math.ceil(abs(delta) / step_v - 1e-9))
    return [start_v + delta * k / n for k in range(1, n)] + [stop_v]


class YokogawaGs200Source(QcodesAdapter):
    """GS200 in voltage mode; fills the :class:`~qneko_hw.roles.DCSource` role.

    Args:
        name: instrument name (also the QCoDeS instrument's name, unique in the process).
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::7655::SOCKET``.
        limits: safety limits (``max_voltage_v``, ``max_ramp_rate_v_per_s``); ``None``: none.
        visalib: PyVISA backend, ``"@py"`` (pyvisa-py) by default.
        timeout: VISA timeout (s).
        reconnect: how to reconnect a lost connection.
        ramp_interval_s: time between two set points of a ramp (s).
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
        ramp_interval_s: float = 0.01,
    ) -> None:
        from qcodes.instrument_drivers.yokogawa import YokogawaGS200

        driver = YokogawaGS200(name, address, visalib=visalib, timeout=timeout)
        super().__init__(name, driver, limits, reconnect)
        self.ramp_interval_s = float(ramp_interval_s)
        try:
            if self.call(":SOUR:FUNC?", driver.source_mode) != "VOLT":
                if self.call("OUTPUT?", driver.output) == "on":
                    raise InstrumentError(
                        f"{name}: the source is in current mode with the output on; "
                        "switch it off before using it as a voltage source",
                        instrument=name,
                        command=":SOUR:FUNC?",
                        reply="CURR",
                    )
                self.call_checked("SOUR:FUNC VOLT", lambda: driver.source_mode("VOLT"))
            driver.auto_range(True)
        except BaseException:
            driver.close()
            raise

    def _check(self, v: float, rate_v_per_s: float | None) -> float | None:
        """The ramp rate to use (V/s, ``None``: jump); raises before anything is written."""
        if not math.isfinite(v):
            raise InstrumentError(
                f"{self.name}: voltage {v} is not finite", instrument=self.name, command="voltage"
            )
        limit = self.limits.max_voltage_v
        if limit is not None and abs(v) > limit:
            raise SafetyLimitError(
                f"{self.name}: voltage {v} V exceeds the limit ±{limit} V; nothing written",
                instrument=self.name,
                parameter="voltage_v",
                limit=limit,
                value=v,
            )
        max_rate = self.limits.max_ramp_rate_v_per_s
        if rate_v_per_s is None:
            return max_rate
        if not (math.isfinite(rate_v_per_s) and rate_v_per_s > 0):
            raise InstrumentError(
                f"{self.name}: ramp rate {rate_v_per_s} V/s is not a positive number",
                instrument=self.name,
                command="ramp",
            )
        if max_rate is not None and rate_v_per_s > max_rate:
            raise SafetyLimitError(
                f"{self.name}: ramp rate {rate_v_per_s} V/s exceeds the limit {max_rate} V/s; "
                "nothing written",
                instrument=self.name,
                parameter="ramp_rate_v_per_s",
                limit=max_rate,
                value=rate_v_per_s,
            )
        return rate_v_per_s

    def set_voltage(self, v: float, rate_v_per_s: float | None = None) -> None:
        """Ramp the output level to ``v`` (V) at ``rate_v_per_s`` (V/s; the station's limit
        by default, a jump if there is none).

        Raises:
            SafetyLimitError: ``|v|`` above ``max_voltage_v`` or the rate above
                ``max_ramp_rate_v_per_s``; nothing is written.
            InstrumentError: the instrument refused a step (the ramp stops there).
        """
        v = float(v)
        rate = self._check(v, None if rate_v_per_s is None else float(rate_v_per_s))
        with self.lock:
            start = self.voltage()
            step = None if rate is None else rate * self.ramp_interval_s
            points = ramp_points(start, v, step)
            if len(points) > 1:
                logger.info(
                    "%s: ramping %.6g V -> %.6g V at %.3g V/s in %d steps",
                    self.name,
                    start,
                    v,
                    rate,
                    len(points),
                )
            for k, point in enumerate(points):
                if k:
                    time.sleep(self.ramp_interval_s)
                self.call_checked(
                    f":SOUR:LEV:AUTO {point:.5e}", partial(self.driver.voltage, point)
                )

    def voltage(self) -> float:
        """The output level (V)."""
        return float(self.call(":SOUR:LEV?", self.driver.voltage))

    def set_output(self, on: bool) -> None:
        """Switch the output on or off."""
        self.call_checked(
            f"OUTPUT {int(bool(on))}", lambda: self.driver.output("on" if on else "off")
        )
