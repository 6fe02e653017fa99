"""Hahn echo: sx, τ/2, x, τ/2, sx; qiskit-experiments' ``T2HahnAnalysis`` on classified shots.

build → sx, a delay τ/2, the π pulse, a second delay τ/2 and sx, then measure; both halves
are one channel sweep of the delays' duration, τ from 0 to ``span_factor`` × the expected
T2E (the stored T2E, else T2*, else ``t2_guess_s``; capped at ``max_span_s``).
analyze → shots thresholded with the qubit's discriminator, per-shot memory fitted by
``T2HahnAnalysis`` (``amp·exp(−τ/T2E) + base`` against the total free time τ);
update → ``t2_echo_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qneko_hw.analysis import Fit
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import BuiltReadout, discriminated
from qneko_hw.calibrations.t1 import delay_grid, fit_decay
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep

__all__ = ["T2Echo"]


@dataclass(frozen=True)
class T2Echo:
    """Hahn-echo coherence time T2E.

    Attributes:
        points, shots: delays and shots per delay; span_factor: longest total free time in
        units of the expected T2E; t2_guess_s: expected T2E (s) with nothing stored;
        max_span_s: cap on the longest total free time (s), set by the AWG memory.
    """

    points: int = 31
    shots: int = 1000
    span_factor: float = 3.0
    t2_guess_s: float = 20e-6
    max_span_s: float = 60e-6
    name: str = "t2_echo"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: sx, delay τ/2, x, delay τ/2 (both swept, s), sx, measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        known = cal.t2_echo_s or cal.t2_s
        expected = known.value if known is not None else self.t2_guess_s
        span = min(self.span_factor * expected, self.max_span_s)
        self.built.record(qubit, cal)
        drive = f"{qubit}.drive"
        sx = gate_pulse(cal, cal.pi_half_amplitude_v.value)
        halves = delay_grid(station, qubit, span / 2, self.points)
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=drive, pulse=sx),
                Delay(channel=drive, duration_s=0.0),
                Play(channel=drive, pulse=gate_pulse(cal, cal.pi_amplitude_v.value)),
                Delay(channel=drive, duration_s=0.0),
                Play(channel=drive, pulse=sx),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="duration_s", channel=drive, values=halves),
            shots=self.shots,
            repetition_time_s=max(200e-6, span + 5 * expected),
        )

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """T2E (s) from the thresholded shots; x is the total free time 2·(τ/2) (s)."""
        outcomes = discriminated(
            result.acquisition(qubit, self.name), self.built.get(qubit, readout)
        )
        if outcomes is None:
            return Fit(
                routine=self.name,
                qubit=qubit,
                values={},
                uncertainties={},
                quality="bad",
                r_squared=0.0,
                message="no discriminator: run discrimination first",
            )
        total = 2.0 * np.asarray(result.sweep_values, dtype=np.float64)
        return fit_decay(self.name, qubit, total, outcomes, kind="T2", key="t2_echo_s")

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with ``t2_echo_s``; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: echo fit unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        t2 = CalValue.measured(fit.values["t2_echo_s"], fit.uncertainties["t2_echo_s"], run_id)
        return state.with_qubit(fit.qubit, t2_echo_s=t2)
