"""Hahn echo: sx, τ/2, x, τ/2, sx; qiskit-experiments' ``T2HahnAnalysis`` on classified shots.

build → sx, a delay τ/2, the π pulse, a second delay τ/2 and sx, then measure; both halves
are one channel sweep of the delays' duration, τ from 0 to ``span_factor`` × the expected
T2E (the stored T2E, else T2*, else 2·T1, the bound T2 ≤ 2·T1, else ``t2_guess_s``; capped
at ``max_span_s``), spaced as T1's delays (:mod:`~qneko_hw.calibrations.t1`: geometric by
default, split into programs that fit the AWG memory). With the geometric spacing the
statistical error of T2E is 2.2–3.6 % with the default 17 delays × 6000 shots for span/T2E
between 3 and 400 (the echo's baseline near ½ makes it larger than T1's), so the loose
2·T1 bound is a fine prior, and with nothing stored the 800 µs span resolves T2E from
2 to 200 µs.
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
from qneko_hw.calibrations.t1 import (
    PROGRAM_COST_SAMPLES,
    PROGRAM_SAMPLES,
    Spacing,
    delay_programs,
    fit_decay,
    sample_time_s,
    spaced_delays,
    split_sweep,
)
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
        max_span_s: cap on the longest total free time (s); spacing: ``geometric`` or
        ``linear`` free times.
    """

    points: int = 17
    shots: int = 6000
    span_factor: float = 4.0
    t2_guess_s: float = 200e-6
    max_span_s: float = 1.6e-3
    spacing: Spacing = "geometric"
    name: str = "t2_echo"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def expected_s(self, cal: QubitCalibration) -> float:
        """The T2E (s) expected for ``cal``'s qubit (see the module docstring)."""
        known = cal.t2_echo_s or cal.t2_s
        if known is not None:
            return known.value
        if cal.t1_s is not None:
            return 2.0 * cal.t1_s.value
        return self.t2_guess_s

    def build(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Experiment | list[Experiment]:
        """Experiment(s): sx, delay τ/2, x, delay τ/2 (both swept, s), sx, measure; one per
        delay program."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        expected = self.expected_s(cal)
        span = min(self.span_factor * expected, self.max_span_s)
        self.built.record(qubit, cal)
        drive = f"{qubit}.drive"
        sx = gate_pulse(cal, cal.pi_half_amplitude_v.value)
        halves = spaced_delays(station, qubit, span / 2, self.points, self.spacing)
        half_max = round(self.max_span_s / 2 / sample_time_s(station, qubit))
        # both halves play in every step: a program's longest step is twice its longest half
        groups = delay_programs(
            self.points, self.spacing, half_max, PROGRAM_SAMPLES // 2, PROGRAM_COST_SAMPLES // 2
        )
        exp = Experiment(
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
        return split_sweep(exp, halves, groups)

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
