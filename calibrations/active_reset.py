"""Reset check: measure, wait, measure; the residual excited population after the wait.

The stack has no measurement-conditioned feedback pulse (neither the compiler nor the
instruments model one), so this is not an active reset: it checks how far the qubit has
returned to |0⟩ a fixed ``wait_s`` after a measurement, i.e. whether the passive wait a
repetition time allows is long enough. Two preparations (no pulse, π pulse), each
measured twice: ``m0`` right after the preparation, ``m1`` after ``wait_s``.

plan → per preparation step: [π pulse or nothing], measure ``<q>_m0``, wait ``wait_s``
(s; default ``wait_factor`` × the stored T1, else ``t1_guess_s``; rounded to the drive
AWG's sample grid), measure ``<q>_m1``; axis ``prepared`` (0, 1). The setup holds the
qubit's discriminator (required: without one the plan raises) and the wait played (s).
fit → shots thresholded with that discriminator; reported (dimensionless):
``residual_excited_population`` P(m1 = 1) over all shots of both preparations;
``residual_after_excited`` P(m1 = 1 | m0 = 1), the population left in |1⟩ after the wait
among shots the first measurement found excited; ``excited_first`` P(m0 = 1) of the π
preparation. Verdict: ``good`` when the residual after an excited outcome is at most
``max_residual``, ``poor`` otherwise (the wait is too short), ``bad`` without excited first
outcomes. The figure: P(m0 = 1) and P(m1 = 1) per preparation, and ``max_residual``.
update → nothing (a check: no update lines; the calibration has no field for it); a bad
check is refused.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict
from qneko_hw.calibrations.gates import drive_limit_v, drive_sample_period_s, gate_pulse
from qneko_hw.calibrations.readout import binomial_error, require_discriminator
from qneko_hw.calibrations.routine import Plan, Routine
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Barrier, Delay, Experiment, Measure, Play, Sweep
from qneko_hw.plot.figures import Figure, Panel, Series

__all__ = ["ResetCheck", "ResetCheckSetup"]


class ResetCheckSetup(Frozen):
    """What the reset check's fit knows besides the shots: the discriminator the shots are
    classified with and the wait (s) played between the two measurements."""

    discriminator: Discriminator
    wait_s: float


class ResetCheck(Routine[ResetCheckSetup]):
    """Residual excited population a fixed wait after a measurement (no feedback).

    Attributes:
        shots: shots per preparation; wait_s: wait between the measurements (s), None for
        ``wait_factor`` × the expected T1; wait_factor: multiple of T1 (dimensionless);
        t1_guess_s: expected T1 (s) when none is stored; max_residual: largest
        P(m1 = 1 | m0 = 1) judged good (dimensionless).
    """

    kind: ClassVar[str] = "active_reset"
    setup_type: ClassVar[type[ResetCheckSetup]] = ResetCheckSetup

    shots: int = 2000
    wait_s: float | None = None
    wait_factor: float = 5.0
    t1_guess_s: float = 20e-6
    max_residual: float = 0.05
    name: str = "active_reset"

    def wait_for(self, cal: QubitCalibration) -> float:
        """The wait (s) between the two measurements, before rounding to the sample grid."""
        if self.wait_s is not None:
            return self.wait_s
        t1 = cal.t1_s.value if cal.t1_s is not None else self.t1_guess_s
        return self.wait_factor * t1

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[ResetCheckSetup]:
        """[π], measure, wait, measure; the π amplitude (V) swept over (0, a_π)."""
        cal = state.qubit(qubit)
        disc = require_discriminator(state, qubit, self.name)
        drive_limit_v(station, qubit, self.name)
        dt = drive_sample_period_s(station, qubit, self.name)
        wait = round(self.wait_for(cal) / dt) * dt
        drive = f"{qubit}.drive"
        experiment = Experiment(
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
        axis = Axis.of("prepared", [0, 1], "", "prepared state (0: |0⟩, 1: |1⟩)")
        return Plan.programs(ResetCheckSetup(discriminator=disc, wait_s=wait), [axis], experiment)

    def fit(self, data: Data[ResetCheckSetup]) -> Results:
        """Residual excited populations after the wait, from thresholded shots."""
        disc = data.setup.discriminator
        first = disc.classify(data.iq(f"{data.qubit}_m0"))
        second = disc.classify(data.iq(f"{data.qubit}_m1"))
        x = data.axis("prepared")
        if first.shape != second.shape or first.ndim != 2 or first.shape[0] != x.size:
            return Results.failed(
                self.name,
                data.qubit,
                f"unexpected data shape: m0 {first.shape}, m1 {second.shape}, "
                f"{x.size} preparations",
            )
        n_total = second.size
        residual = float(second.mean())
        n_exc = int(first.sum())
        if n_exc < 20:
            return Results.failed(
                self.name,
                data.qubit,
                f"only {n_exc} shots found |1⟩ first: no π preparation",
                figure=self._figure(x, first, second, data.setup.wait_s),
            )
        after = float(second[first].mean())
        err_after = math.sqrt(max(after * (1 - after), 1.0 / n_exc) / n_exc)
        err_res = math.sqrt(max(residual * (1 - residual), 1.0 / n_total) / n_total)
        excited_first = float(first[-1].mean())
        verdict: Verdict = "good" if after <= self.max_residual else "poor"
        msg = f"P(1) after the wait: {residual:.3f}; after an excited outcome {after:.3f}" + (
            "" if verdict == "good" else f" > {self.max_residual} (wait too short)"
        )
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=msg,
            values={
                "residual_excited_population": residual,
                "residual_after_excited": after,
                "excited_first": excited_first,
                "wait_s": data.setup.wait_s,
            },
            uncertainties={
                "residual_excited_population": err_res,
                "residual_after_excited": err_after,
            },
            figure=self._figure(
                x,
                first,
                second,
                data.setup.wait_s,
                f"P(m1 = 1 | m0 = 1) = {after:.3f} ± {err_after:.3f}",
            ),
        )

    def _figure(
        self,
        prepared: NDArray[np.float64],
        first: NDArray[np.bool_],
        second: NDArray[np.bool_],
        wait_s: float,
        note: str = "",
    ) -> Figure:
        """P(m0 = 1) and P(m1 = 1) per preparation, and the largest residual judged good."""
        n = first.shape[1]
        p0 = first.mean(axis=1).astype(np.float64)
        p1 = second.mean(axis=1).astype(np.float64)
        return Figure(
            panels=(
                Panel(
                    x_label="prepared state (0: |0⟩, 1: |1⟩)",
                    y_label="P(|1⟩)",
                    series=(
                        Series.points(prepared, p0, binomial_error(p0, n), label="P(m0 = 1)"),
                        Series(
                            kind="points",
                            x=tuple(float(v) for v in prepared),
                            y=tuple(float(v) for v in p1),
                            yerr=tuple(float(v) for v in binomial_error(p1, n)),
                            label="P(m1 = 1)",
                            color="C1",
                        ),
                        Series(
                            kind="hline",
                            y=(self.max_residual,),
                            label="max residual",
                            color="C3",
                        ),
                    ),
                    note=f"wait {wait_s * 1e6:.2f} µs" + (f"\n{note}" if note else ""),
                ),
            )
        )
