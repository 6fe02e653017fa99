"""DRAG β: the coefficient that zeroes the π pulse's phase error (rotation-axis z-component).

plan → ``pairs`` repetitions of (π about x, π about −x) — the calibrated DRAG gate pulse at
the π amplitude with phase 0 then π (rad) — then measure, with ``beta_s`` (s) of every Drag
pulse on ``<q>.drive`` swept around the stored β (or ``beta_guess_s`` when none was
measured); the axis ``beta_s`` (s) holds the β of each step. A π pulse about the axis
(n_x, 0, n_z) followed by one about (−n_x, 0, n_z) is a rotation by ≈ 4·n_z about y,
whatever the amplitude error; ``pairs`` of them leave ``P(|1⟩) = sin²(2·pairs·n_z)``, and
n_z is linear in β near its zero. The setup holds the qubit's discriminator (None: the fit
projects the IQ means instead), the π pulse at the β the sweep is centred on, and
``pairs``.
fit → excited population per β (shots classified with the setup's discriminator, or the IQ
means projected on their principal axis without one) fitted by
``base + amp·sin²(c·(β − β₀))`` (scipy); β₀ is the phase-error-free β. The figure shows
the population against β (s) with the fitted sin² on a dense grid and β₀ as a vertical line.
update → ``drag_beta_s`` = β₀ with its σ.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import excited_population, population_label
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Experiment, Instruction, Measure, Play, Sweep
from qneko_hw.plot.figures import Figure, Series, fit_panel
from qneko_hw.pulses import Drag

__all__ = ["DragBeta", "DragSetup"]

#: Typical change of the π pulse's axis z-component per second of β (1/s), a fit guess only.
_NZ_PER_BETA = 0.13e9
#: The fit works in ns of β (well-scaled parameters).
_SCALE = 1e9


def _model(
    beta: NDArray[np.float64], beta0: float, c: float, amp: float, base: float
) -> NDArray[np.float64]:
    return np.asarray(base + amp * np.sin(c * (beta - beta0)) ** 2, dtype=np.float64)


class DragSetup(Frozen):
    """What the DRAG fit needs besides the shots.

    Attributes:
        discriminator: the qubit's discriminator the shots are classified with (None: the
            IQ means are projected on their principal axis, in V).
        pulse: the π pulse about x (amplitude in V, β in s at the sweep's centre).
        pairs: (π, −π) pairs per sequence.
    """

    discriminator: Discriminator | None
    pulse: Drag
    pairs: int


class DragBeta(Routine[DragSetup]):
    """DRAG coefficient from (π, −π) pairs.

    Attributes:
        pairs: (π, −π) pairs per sequence; points: β values; shots: shots per β;
        span_s: half-width (s) of the β sweep around the start value; beta_guess_s: start
        value (s) when the stored β is zero (not yet calibrated);
        max_uncertainty_s: largest β uncertainty (s) of a ``good`` fit.
    """

    kind: ClassVar[str] = "drag"
    setup_type: ClassVar[type[DragSetup]] = DragSetup
    updates: ClassVar[tuple[Update, ...]] = (Update("drag_beta_s", "drag_beta_s"),)

    pairs: int = 3
    points: int = 41
    shots: int = 1000
    span_s: float = 1.5e-9
    beta_guess_s: float = 0.35e-9
    max_uncertainty_s: float = 0.05e-9
    name: str = "drag"

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[DragSetup]:
        """``pairs`` × (π, π with phase π) with β (s) swept, then measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        centre = cal.drag_beta_s.value or self.beta_guess_s
        drive = f"{qubit}.drive"
        amp = cal.pi_amplitude_v.value
        pulse = gate_pulse(cal, amp, 0.0).model_copy(update={"beta_s": centre})
        body: list[Instruction] = []
        for _ in range(self.pairs):
            body.append(Play(channel=drive, pulse=pulse))
            body.append(Play(channel=drive, pulse=pulse.model_copy(update={"phase_rad": math.pi})))
        body.append(Measure(qubit=qubit, name=qubit))
        betas = np.linspace(centre - self.span_s, centre + self.span_s, self.points)
        experiment = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=tuple(body),
            sweep=Sweep(parameter="beta_s", channel=drive, values=tuple(float(b) for b in betas)),
            shots=self.shots,
        )
        setup = DragSetup(discriminator=Discriminator.of(cal), pulse=pulse, pairs=self.pairs)
        axis = Axis.of("beta_s", betas, "s", "DRAG coefficient β of every pulse")
        return Plan.programs(setup, [axis], experiment)

    def fit(self, data: Data[DragSetup]) -> Results:
        """β (s) at the minimum of the excited population."""
        shots = data.iq(data.qubit)
        beta = data.axis("beta_s")
        if beta.size != shots.shape[0]:
            return Results.failed(
                self.name,
                data.qubit,
                f"{beta.size} β values for {shots.shape[0]} measured steps",
            )
        y, err = excited_population(shots, data.setup.discriminator)
        return self._fit(data, beta, y, err)

    def _figure(
        self,
        data: Data[DragSetup],
        beta: NDArray[np.float64],
        y: NDArray[np.float64],
        err: NDArray[np.float64],
        *,
        fitted: tuple[float, float, float, float] | None = None,
        r2: float | None = None,
        note: str = "",
    ) -> Figure:
        """The population against β; with ``fitted`` (β₀ in s, c per ns, amp, base) the
        model on a dense grid and β₀."""
        y_label, y_unit = population_label(data.setup.discriminator)
        curve, marks = None, []
        if fitted is not None:
            beta0, c, amp, base = fitted
            grid = dense(beta)
            curve = (grid, _model(grid * _SCALE, beta0 * _SCALE, c, amp, base))
            marks.append(Series(kind="vline", x=(beta0,), label="β₀", color="C2"))
        panel = fit_panel(
            beta,
            y,
            err,
            curve,
            x_label="DRAG coefficient β",
            x_unit="s",
            y_label=y_label,
            y_unit=y_unit,
            r_squared=r2,
            note=note,
            extra=marks,
        )
        return Figure(panels=(panel,))

    def _fit(
        self,
        data: Data[DragSetup],
        beta: NDArray[np.float64],
        y: NDArray[np.float64],
        err: NDArray[np.float64],
    ) -> Results:
        qubit = data.qubit
        pairs = data.setup.pairs
        x = beta * _SCALE
        if x.size < 5 or not (np.all(np.isfinite(y)) and np.all(np.isfinite(err))):
            return Results.failed(
                self.name, qubit, "no usable signal", self._figure(data, beta, y, err)
            )
        curv, _, _ = np.polyfit(x, y, 2)
        sign = 1.0 if curv >= 0 else -1.0  # valley (P1) or, projected and flipped, a peak
        k = int(np.argmin(sign * y))
        c0 = 2 * pairs * _NZ_PER_BETA / _SCALE
        amp0 = sign * max(float(np.ptp(y)), 1e-6) / max(math.sin(c0 * np.ptp(x) / 2) ** 2, 0.2)
        try:
            with warnings.catch_warnings():
                # a covariance that cannot be estimated is a failed fit, not a warning
                warnings.simplefilter("error", scipy.optimize.OptimizeWarning)
                popt, pcov = scipy.optimize.curve_fit(
                    _model,
                    x,
                    y,
                    p0=(float(x[k]), c0, amp0, float(y[k])),
                    sigma=err,
                    absolute_sigma=False,
                    maxfev=20000,
                )
        except (RuntimeError, ValueError, scipy.optimize.OptimizeWarning) as exc:
            return Results.failed(
                self.name, qubit, f"DRAG fit failed: {exc}", self._figure(data, beta, y, err)
            )
        beta0_ns, c, amp, base = (float(v) for v in popt)
        d_beta0 = float(math.sqrt(abs(pcov[0, 0]))) / _SCALE
        r2 = r_squared(y, _model(x, beta0_ns, c, amp, base))
        beta0 = beta0_ns / _SCALE
        inside = bool(beta[0] < beta0 < beta[-1])
        verdict: Verdict
        if r2 > 0.9 and inside and d_beta0 < self.max_uncertainty_s:
            verdict = "good"
            msg = f"β = {beta0 * 1e9:.3f} ns ± {d_beta0 * 1e12:.0f} ps"
        elif r2 > 0.6 and inside and d_beta0 < 4 * self.max_uncertainty_s:
            verdict = "poor"
            msg = f"weak β fit (R²={r2:.2f}, ± {d_beta0 * 1e12:.0f} ps)"
        else:
            verdict = "bad"
            msg = f"no β minimum resolved (R²={r2:.2f}, inside sweep: {inside})"
        note = f"β₀ = {beta0 * 1e9:.3f} ± {d_beta0 * 1e9:.3f} ns"
        return Results(
            routine=self.name,
            qubit=qubit,
            verdict=verdict,
            message=msg,
            values={
                "drag_beta_s": beta0,
                "phase_error_per_beta": abs(c) * _SCALE / (2 * pairs),
                "amplitude": amp,
                "baseline": base,
            },
            uncertainties={"drag_beta_s": d_beta0},
            r_squared=r2,
            figure=self._figure(data, beta, y, err, fitted=(beta0, c, amp, base), r2=r2, note=note),
        )
