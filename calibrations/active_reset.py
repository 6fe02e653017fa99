"""Reset check: measure, wait, measure; the residual excited population after the wait.

The stack has no measurement-conditioned feedback pulse (neither the compiler nor the
instruments model one), so this is not an active reset: it checks how far the qubit has
returned to |0⟩ a fixed ``wait_s`` after a measurement, i.e. whether the passive wait a
repetition time allows is long enough. Two preparations (no pulse, π pulse), each
measured twice: ``m0`` right after the preparation, ``m1`` after ``wait_s``.

build → per preparation step: [π pulse or nothing], measure ``<q>_m0``, wait ``wait_s``
(s; default ``wait_factor`` × the stored T1, else ``t1_guess_s``; rounded to the drive
AWG's sample grid), measure ``<q>_m1``.
analyze → shots thresholded with the qubit's discriminator (required); reported
(dimensionless): ``residual_excited_population`` P(m1 = 1) over all shots of both
preparations; ``residual_after_excited`` P(m1 = 1 | m0 = 1), the population left in |1⟩
after the wait among shots the first measurement found excited; ``excited_first``
P(m0 = 1) of the π preparation. Verdict: ``good`` when the residual after an excited
outcome is at most ``max_residual``, ``poor`` otherwise (the wait is too short),
``bad`` without a discriminator or without excited first outcomes.
update → nothing is stored (the calibration has no field for it); a bad check raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import BuiltReadout, discriminated
from qneko_hw.calibrations.t1 import sample_time_s
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Barrier, Delay, Experiment, Measure, Play, Sweep

__all__ = ["ResetCheck"]


@dataclass(frozen=True)
class ResetCheck:
    """Residual excited population a fixed wait after a measurement (no feedback).

    Attributes:
        shots: shots per preparation; wait_s: wait between the measurements (s), None for
        ``wait_factor`` × the expected T1; t1_guess_s: expected T1 (s) when none is stored;
        max_residual: largest P(m1 = 1 | m0 = 1) judged good.
    """

    shots: int = 2000
    wait_s: float | None = None
    wait_factor: float = 5.0
    t1_guess_s: float = 20e-6
    max_residual: float = 0.05
    name: str = "active_reset"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def wait_for(self, cal: QubitCalibration) -> float:
        """The wait (s) between the two measurements."""
        if self.wait_s is not None:
            return self.wait_s
        t1 = cal.t1_s.value if cal.t1_s is not None else self.t1_guess_s
        return self.wait_factor * t1

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: [π], measure, wait, measure; the π amplitude swept over (0, a_π)."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        self.built.record(qubit, cal)
        dt = sample_time_s(station, qubit)
        wait = round(self.wait_for(cal) / dt) * dt
        drive = f"{qubit}.drive"
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=drive, pulse=gate_pulse(cal, cal.pi_amplitude_v.value)),
                Measure(qubit=qubit, name=f"{qubit}_m0"),
                Barrier(),
                Delay(channel=drive, duration_s=wait),
                Barrier(),
                Measure(qubit=qubit, name=f"{qubit}_m1"),
            ),
            sweep=Sweep(
                parameter="amplitude_v", instruction=0, values=(0.0, cal.pi_amplitude_v.value)
            ),
            shots=self.shots,
            repetition_time_s=max(200e-6, 2 * wait + 100e-6),
        )

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """Residual excited populations after the wait, from thresholded shots."""
        cal = self.built.get(qubit, readout)
        first = discriminated(result.acquisition(f"{qubit}_m0", self.name), cal)
        second = discriminated(result.acquisition(f"{qubit}_m1", self.name), cal)
        if first is None or second is None:
            return Fit.failed(self.name, qubit, "the reset check needs a discriminator")
        n_total = second.size
        residual = float(second.mean())
        excited = first
        n_exc = int(excited.sum())
        if n_exc < 20:
            return Fit.failed(
                self.name, qubit, f"only {n_exc} shots found |1⟩ first: no π preparation"
            )
        after = float(second[excited].mean())
        err_after = math.sqrt(max(after * (1 - after), 1.0 / n_exc) / n_exc)
        err_res = math.sqrt(max(residual * (1 - residual), 1.0 / n_total) / n_total)
        excited_first = float(first[-1].mean())
        quality: Quality = "good" if after <= self.max_residual else "poor"
        msg = f"P(1) after the wait: {residual:.3f}; after an excited outcome {after:.3f}" + (
            "" if quality == "good" else f" > {self.max_residual} (wait too short)"
        )
        p_first = first.mean(axis=1).astype(np.float64)
        p_second = second.mean(axis=1).astype(np.float64)
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={
                "residual_excited_population": residual,
                "residual_after_excited": after,
                "excited_first": excited_first,
            },
            uncertainties={
                "residual_excited_population": err_res,
                "residual_after_excited": err_after,
            },
            quality=quality,
            r_squared=1.0,
            message=msg,
            x=tuple(float(v) for v in result.sweep_values),
            y=tuple(float(v) for v in p_second),
            y_fit=tuple(float(v) for v in p_first),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """The state unchanged (nothing to store); a bad check raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: reset check unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        return state
