"""QCoDeS driver of the QNeko DIG2 digitizer (real or its simulated twin).

Parameters: ``shots`` (per step), ``steps``, ``demodulator_count``, ``acquisition_state``
(``IDLE|ARMED|DONE``), ``sample_rate`` (Sa/s, read-only). Demodulators are set as a whole
with :meth:`QnekoDIG2.configure`; data come back from :meth:`QnekoDIG2.fetch` as complex64
of shape (steps, shots, demodulators).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qcodes.validators import Ints

from qneko_hw.drivers.scpi_driver import QnekoScpiDriver
from qneko_hw.errors import InstrumentError
from qneko_hw.roles import DemodulatorConfig, SafetyLimits

__all__ = ["QnekoDIG2"]

logger = logging.getLogger(__name__)

MAX_DEMODULATORS = 16
INPUT_CHANNELS = 2
MAX_WINDOW_SAMPLES = 2**20
_STATES = ("IDLE", "ARMED", "DONE")


class QnekoDIG2(QnekoScpiDriver):
    """QNeko DIG2 digitizer; fills the :class:`~qneko_hw.roles.Digitizer` role.

    Args:
        name: QCoDeS instrument name.
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        limits: safety limits (none apply to a digitizer; kept for a uniform signature).
        kwargs: passed to :class:`QnekoScpiDriver` (``timeout`` in s, ``visalib``, ...).
    """

    def __init__(
        self, name: str, address: str, limits: SafetyLimits | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, address, limits=limits, **kwargs)
        self.shots = self.add_parameter(
            "shots",
            get_cmd=lambda: self.query_int("ACQ:SHOT?"),
            set_cmd=lambda n: self.write_checked(f"ACQ:SHOT {int(n)}"),
            vals=Ints(1, 10_000_000),
        )
        self.steps = self.add_parameter(
            "steps",
            get_cmd=lambda: self.query_int("ACQ:STEP?"),
            set_cmd=lambda n: self.write_checked(f"ACQ:STEP {int(n)}"),
            vals=Ints(1, 1_000_000),
        )
        self.demodulator_count = self.add_parameter(
            "demodulator_count",
            get_cmd=lambda: self.query_int("DEM:COUN?"),
            set_cmd=lambda n: self.write_checked(f"DEM:COUN {int(n)}"),
            vals=Ints(1, MAX_DEMODULATORS),
        )
        self.acquisition_state = self.add_parameter(
            "acquisition_state",
            get_cmd=lambda: self.query_choice("ACQ:STAT?", _STATES),
            set_cmd=False,
        )
        self.sample_rate = self.add_parameter(
            "sample_rate",
            unit="Sa/s",
            get_cmd=lambda: self.query_float("ACQ:SRAT?"),
            set_cmd=False,
        )

    # -- Digitizer role ------------------------------------------------------------------

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate of the inputs (Sa/s), read from the instrument."""
        return float(self.sample_rate())

    def configure(self, shots: int, steps: int, demodulators: Sequence[DemodulatorConfig]) -> None:
        """Set shots per step, sweep steps and the demodulators (1..16), then check errors.

        Raises:
            InstrumentError: an invalid demodulator (checked before writing), or the
                instrument refused a setting.
        """
        if not 1 <= len(demodulators) <= MAX_DEMODULATORS:
            raise InstrumentError(
                f"{self.name}: {len(demodulators)} demodulators, expected 1..{MAX_DEMODULATORS}",
                instrument=self.name,
            )
        weights: list[NDArray[np.complex64] | None] = []
        for k, demod in enumerate(demodulators, start=1):
            if not 1 <= demod.channel <= INPUT_CHANNELS:
                raise InstrumentError(
                    f"{self.name}: demodulator {k} input {demod.channel} not in 1..2",
                    instrument=self.name,
                )
            if not 1 <= demod.length_samples <= MAX_WINDOW_SAMPLES:
                raise InstrumentError(
                    f"{self.name}: demodulator {k} window of {demod.length_samples} samples",
                    instrument=self.name,
                )
            w = None
            if demod.weights is not None:
                w = np.ascontiguousarray(demod.weights, dtype=np.complex64).reshape(-1)
                if w.size != demod.length_samples:
                    raise InstrumentError(
                        f"{self.name}: demodulator {k} has {w.size} weights for a window of "
                        f"{demod.length_samples} samples",
                        instrument=self.name,
                    )
            weights.append(w)
        with self._io_lock:
            units = [f"ACQ:SHOT {int(shots)}", f"ACQ:STEP {int(steps)}"]
            units.append(f"DEM:COUN {len(demodulators)}")
            for k, demod in enumerate(demodulators, start=1):
                units += [
                    f"DEM{k}:CHAN {int(demod.channel)}",
                    f"DEM{k}:FREQ {float(demod.frequency_hz)!r}",
                    f"DEM{k}:STAR {int(demod.start_samples)}",
                    f"DEM{k}:LENG {int(demod.length_samples)}",
                ]
                if weights[k - 1] is None:
                    units.append(f"DEM{k}:WEIG:RES")
            self.write(";".join(units))
            self.check_errors("configure: " + ";".join(units[:3]) + ";...")
            for k, w in enumerate(weights, start=1):
                if w is not None:
                    header = f"DEM{k}:WEIG "
                    self.write_block(header, w.astype("<c8").tobytes())
                    self.check_errors(header + f"#<{w.size} complex64>")

    def arm(self) -> None:
        """Arm: wait for the next acquisition (drops earlier data)."""
        self.write_checked("ACQ:ARM")

    def fetch(self, timeout_s: float = 10.0) -> NDArray[np.complex64]:
        """Wait until the acquisition is DONE (up to ``timeout_s``, s) and read the data.

        Returns:
            complex64 array of shape (steps, shots, demodulators).

        Raises:
            InstrumentError: not DONE in time, or the data do not match their shape.
        """
        deadline = time.monotonic() + timeout_s
        delay = 1e-3
        while (state := self.query_choice("ACQ:STAT?", _STATES)) != "DONE":
            if state == "IDLE" or time.monotonic() > deadline:
                raise InstrumentError(
                    f"{self.name}: no data to fetch, acquisition state {state}",
                    instrument=self.name,
                    command="ACQ:STAT?",
                    reply=state,
                )
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
        with self._io_lock:
            shape = self.query_ints("ACQ:DATA:SHAP?", 3)
            payload = self.query_block("FETC?")
        expected = int(np.prod(shape)) * 8
        if len(payload) != expected:
            raise InstrumentError(
                f"{self.name}: FETC? returned {len(payload)} bytes, expected {expected} for "
                f"shape {shape}",
                instrument=self.name,
                command="FETC?",
                reply=f"<{len(payload)} bytes>",
            )
        return np.frombuffer(payload, dtype="<c8").astype(np.complex64).reshape(shape)
