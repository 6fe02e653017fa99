"""DRAG β: the coefficient that zeroes the π pulse's phase error (rotation-axis z-component).

build → ``pairs`` repetitions of (π about x, π about −x) — the calibrated DRAG gate pulse at
the π amplitude with phase 0 then π (rad) — then measure, with ``beta_s`` (s) of every Drag
pulse on ``<q>.drive`` swept around the stored β (or ``beta_guess_s`` when none was
measured). A π pulse about the axis (n_x, 0, n_z) followed by one about (−n_x, 0, n_z) is
a rotation by ≈ 4·n_z about y, whatever the amplitude error; ``pairs`` of them leave
``P(|1⟩) = sin²(2·pairs·n_z)``, and n_z is linear in β near its zero.
analyze → excited population per β (thresholded shots, or the IQ means projected on their
principal axis without a discriminator) fitted by ``base + amp·sin²(c·(β − β₀))`` (scipy);
β₀ is the phase-error-free β. update → ``drag_beta_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import BuiltReadout, excited_population
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment, Instruction, Measure, Play, Sweep

__all__ = ["DragBeta"]

#: Typical change of the π pulse's axis z-component per second of β (1/s), a fit guess only.
_NZ_PER_BETA = 0.13e9


def _model(
    beta: NDArray[np.float64], beta0: float, c: float, amp: float, base: float
) -> NDArray[np.float64]:
    return np.asarray(base + amp * np.sin(c * (beta - beta0)) ** 2, dtype=np.float64)


@dataclass(frozen=True)
class DragBeta:
    """DRAG coefficient from (π, −π) pairs.

    Attributes:
        pairs: (π, −π) pairs per sequence; points: β values; shots: shots per β;
        span_s: half-width (s) of the β sweep around the start value; beta_guess_s: start
        value (s) when the stored β is zero (not yet calibrated);
        max_uncertainty_s: largest β uncertainty (s) of a ``good`` fit.
    """

    pairs: int = 3
    points: int = 41
    shots: int = 1000
    span_s: float = 1.5e-9
    beta_guess_s: float = 0.35e-9
    max_uncertainty_s: float = 0.05e-9
    name: str = "drag"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: ``pairs`` × (π, π with phase π) with β (s) swept, then measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        self.built.record(qubit, cal)
        centre = cal.drag_beta_s.value or self.beta_guess_s
        drive = f"{qubit}.drive"
        amp = cal.pi_amplitude_v.value
        body: list[Instruction] = []
        for _ in range(self.pairs):
            body.append(Play(channel=drive, pulse=gate_pulse(cal, amp, 0.0)))
            body.append(Play(channel=drive, pulse=gate_pulse(cal, amp, math.pi)))
        body.append(Measure(qubit=qubit, name=qubit))
        betas = np.linspace(centre - self.span_s, centre + self.span_s, self.points)
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=tuple(body),
            sweep=Sweep(parameter="beta_s", channel=drive, values=tuple(float(b) for b in betas)),
            shots=self.shots,
        )

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """β (s) at the minimum of the excited population."""
        shots = result.acquisition(qubit, self.name)
        y, err = excited_population(shots, self.built.get(qubit, readout))
        beta = np.asarray(result.sweep_values, dtype=np.float64)
        return self._fit(qubit, beta, y, err)

    def _fit(
        self,
        qubit: str,
        beta: NDArray[np.float64],
        y: NDArray[np.float64],
        err: NDArray[np.float64],
    ) -> Fit:
        scale = 1e9  # fit in ns
        x = beta * scale
        curv, _, _ = np.polyfit(x, y, 2)
        sign = 1.0 if curv >= 0 else -1.0  # valley (P1) or, projected and flipped, a peak
        k = int(np.argmin(sign * y))
        c0 = 2 * self.pairs * _NZ_PER_BETA / scale
        amp0 = sign * max(float(np.ptp(y)), 1e-6) / max(math.sin(c0 * np.ptp(x) / 2) ** 2, 0.2)
        try:
            popt, pcov = scipy.optimize.curve_fit(
                _model,
                x,
                y,
                p0=(float(x[k]), c0, amp0, float(y[k])),
                sigma=err,
                absolute_sigma=False,
                maxfev=20000,
            )
        except (RuntimeError, ValueError) as exc:
            return Fit(
                routine=self.name,
                qubit=qubit,
                values={},
                uncertainties={},
                quality="bad",
                r_squared=0.0,
                message=f"DRAG fit failed: {exc}",
                x=tuple(float(v) for v in beta),
                y=tuple(float(v) for v in y),
            )
        beta0, c, amp, base = (float(v) for v in popt)
        d_beta0 = float(math.sqrt(abs(pcov[0, 0]))) / scale
        model = _model(x, beta0, c, amp, base)
        beta0 /= scale
        ss_tot = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float(((y - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
        inside = bool(beta[0] < beta0 < beta[-1])
        quality: Quality
        if r2 > 0.9 and inside and d_beta0 < self.max_uncertainty_s:
            quality = "good"
            msg = f"β = {beta0 * 1e9:.3f} ns ± {d_beta0 * 1e12:.0f} ps"
        elif r2 > 0.6 and inside and d_beta0 < 4 * self.max_uncertainty_s:
            quality = "poor"
            msg = f"weak β fit (R²={r2:.2f}, ± {d_beta0 * 1e12:.0f} ps)"
        else:
            quality = "bad"
            msg = f"no β minimum resolved (R²={r2:.2f}, inside sweep: {inside})"
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={
                "drag_beta_s": beta0,
                "phase_error_per_beta": abs(c) * scale / (2 * self.pairs),
                "amplitude": amp,
                "baseline": base,
            },
            uncertainties={"drag_beta_s": d_beta0},
            quality=quality,
            r_squared=r2,
            message=msg,
            x=tuple(float(v) for v in beta),
            y=tuple(float(v) for v in y),
            y_fit=tuple(float(v) for v in model),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with ``drag_beta_s``; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: DRAG fit unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        beta = CalValue.measured(
            fit.values["drag_beta_s"], fit.uncertainties["drag_beta_s"], run_id
        )
        return state.with_qubit(fit.qubit, drag_beta_s=beta)
