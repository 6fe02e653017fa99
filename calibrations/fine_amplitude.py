"""Fine amplitude: error amplification of the π and π/2 pulses by pulse trains.

plan → three programs (run one after the other, their steps stacked); the first two are an
sx pulse (the gate pulse at the π/2 amplitude) followed by a train of gate pulses
(:func:`~qneko_hw.calibrations.gates.pulse_train`) whose duration is swept to play the first
``m`` pulses, then measure:

- x train: ``m = 1 … max_pi_pulses`` π pulses; total angle ``π/2 + ε½ + m·(π + ε)``;
- sx train: ``m = 2, 4, … 2·sx_pairs`` π/2 pulses; total angle ``(m + 1)·(π/2 + ε½)``;
- references: ``references`` steps of |0⟩ (no pulse) and of one π pulse, which pin the
  readout contrast (without them a small error leaves the contrast undetermined);

with ε (ε½) the rotation error (rad) of one π (π/2) pulse. The π/2 before the trains puts
the state on the equator, where P(|1⟩) is first-order sensitive to the accumulated error.
The step layout is in the axes: ``pi_half_pulses`` and ``pi_pulses`` (the π/2 and π pulses
of each step, the leading sx counted) and ``pulses`` (their sum); the setup holds the π
and π/2 amplitudes (V) the trains were played with and the qubit's discriminator (the
routine needs one).
fit → every shot classified with the setup's discriminator; the excited populations of all
steps fitted jointly (scipy) by ``P = base − amp·e^{−γ·pulses}·cos(θ)`` with θ the total
angle above and γ a decay per pulse (decoherence during the trains; without it the fitted ε
is biased by ~15 % at 2 % error); a grid search over ε, ε½ with ``base``, ``amp`` solved
linearly seeds the least-squares fit. The figure shows P(|1⟩) against the number of pulses
(dimensionless; a step with no π/2 pulse is a reference, one π/2 pulse the x train, more
the sx train), one series per train and the references, with the model at every pulse
count of each train (the model is a function of integer counts: between them it has no
meaning).
update → ``pi_amplitude_v × π/(π + ε)`` and ``pi_half_amplitude_v × (π/2)/(π/2 + ε½)``
(the angle is proportional to the amplitude), with their σ.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, r_squared
from qneko_hw.calibrations.gates import (
    drive_limit_v,
    drive_sample_period_s,
    gate_pulse,
    pulse_train,
)
from qneko_hw.calibrations.readout import binomial_error, require_discriminator
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.plot.figures import Figure, Panel, Series

__all__ = ["FineAmplitude", "FineAmplitudeSetup"]


def _angles(
    n_half: NDArray[np.float64], n_pi: NDArray[np.float64], eps: float, eps_half: float
) -> NDArray[np.float64]:
    """Total rotation angle (rad) of ``n_half`` π/2 and ``n_pi`` π pulses about one axis."""
    return np.asarray(n_half * (0.5 * math.pi + eps_half) + n_pi * (math.pi + eps), np.float64)


def _model(counts: NDArray[np.float64], *params: float) -> NDArray[np.float64]:
    """``base − amp·e^{−decay·pulses}·cos(θ)``; ``counts`` (2, steps): π/2 and π pulses;
    ``params``: ε, ε½ (rad), amp, base, decay (per pulse)."""
    eps, eps_half, amp, base, decay = params
    damp = np.exp(-decay * (counts[0] + counts[1]))
    theta = _angles(counts[0], counts[1], eps, eps_half)
    return np.asarray(base - amp * damp * np.cos(theta), np.float64)


class FineAmplitudeSetup(Frozen):
    """What the fine-amplitude fit needs besides the shots and the step layout (axes).

    Attributes:
        discriminator: the qubit's discriminator the shots are classified with.
        start_pi_amplitude_v: π amplitude (V) the x train and the references played.
        start_pi_half_amplitude_v: π/2 amplitude (V) the sx pulses and sx train played.
    """

    discriminator: Discriminator
    start_pi_amplitude_v: float
    start_pi_half_amplitude_v: float


class FineAmplitude(Routine[FineAmplitudeSetup]):
    """Error amplification of the π and π/2 amplitudes.

    Attributes:
        max_pi_pulses: longest π train; sx_pairs: pairs of π/2 pulses in the longest sx
        train; shots: shots per sequence; max_error_rad: largest per-pulse error (rad) the
        analysis searches (and that a ``good`` fit may have); references: steps of each
        reference (|0⟩ and one π pulse).
    """

    kind: ClassVar[str] = "fine_amplitude"
    setup_type: ClassVar[type[FineAmplitudeSetup]] = FineAmplitudeSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("pi_amplitude_v", "pi_amplitude_v"),
        Update("pi_half_amplitude_v", "pi_half_amplitude_v"),
    )

    max_pi_pulses: int = 20
    sx_pairs: int = 10
    shots: int = 500
    max_error_rad: float = 0.3
    references: int = 4
    name: str = "fine_amplitude"

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[FineAmplitudeSetup]:
        """sx + swept-length π train; sx + swept-length π/2 train; references.

        Raises:
            CalibrationError: the qubit has no drive line or no discriminator.
        """
        cal = state.qubit(qubit)
        disc = require_discriminator(state, qubit, self.name)
        drive_limit_v(station, qubit, self.name)
        dt = drive_sample_period_s(station, qubit, self.name)
        n = round(cal.pulse_duration_s.value / dt)
        drive = f"{qubit}.drive"
        a_pi = cal.pi_amplitude_v.value
        a_half = cal.pi_half_amplitude_v.value
        sx = gate_pulse(cal, a_half)
        pi_counts = list(range(1, self.max_pi_pulses + 1))
        sx_counts = list(range(2, 2 * self.sx_pairs + 1, 2))
        experiments = []
        for label, amp, counts in (("x", a_pi, pi_counts), ("sx", a_half, sx_counts)):
            train, scale = pulse_train(cal, max(counts), dt)
            experiments.append(
                Experiment(
                    name=f"{self.name}_{label}_{qubit}",
                    instructions=(
                        Play(channel=drive, pulse=sx),
                        Play(
                            channel=drive,
                            pulse=train.model_copy(update={"amplitude_v": scale * amp}),
                        ),
                        Measure(qubit=qubit, name=qubit),
                    ),
                    sweep=Sweep(
                        parameter="duration_s",
                        instruction=1,
                        values=tuple(m * n * dt for m in counts),
                    ),
                    shots=self.shots,
                )
            )
        # references: |0⟩ (no pulse) and one π pulse, ``references`` steps each
        refs = self.references
        experiments.append(
            Experiment(
                name=f"{self.name}_ref_{qubit}",
                instructions=(
                    Play(channel=drive, pulse=gate_pulse(cal, a_pi)),
                    Measure(qubit=qubit, name=qubit),
                ),
                sweep=Sweep(
                    parameter="amplitude_v",
                    instruction=0,
                    values=(0.0,) * refs + (a_pi,) * refs,
                ),
                shots=self.shots,
            )
        )
        n_half = [1.0] * len(pi_counts) + [m + 1.0 for m in sx_counts] + [0.0] * (2 * refs)
        n_pi = [float(m) for m in pi_counts] + [0.0] * len(sx_counts) + [0.0] * refs + [1.0] * refs
        axes = [
            Axis.of("pi_half_pulses", n_half, "", "π/2 pulses played (the leading sx counted)"),
            Axis.of("pi_pulses", n_pi, "", "π pulses played"),
            Axis.of(
                "pulses",
                np.add(n_half, n_pi),
                "",
                "pulses played (π/2 and π, the leading sx counted)",
            ),
        ]
        setup = FineAmplitudeSetup(
            discriminator=disc, start_pi_amplitude_v=a_pi, start_pi_half_amplitude_v=a_half
        )
        return Plan.programs(setup, axes, *experiments)

    def fit(self, data: Data[FineAmplitudeSetup]) -> Results:
        """Per-pulse errors ε, ε½ (rad) and the corrected amplitudes (V)."""
        shots = data.iq(data.qubit)
        n_half = data.axis("pi_half_pulses")
        n_pi = data.axis("pi_pulses")
        pulses = data.axis("pulses")
        if not (n_half.size == n_pi.size == pulses.size == shots.shape[0]):
            return Results.failed(
                self.name,
                data.qubit,
                f"step layout of {n_half.size} steps for {shots.shape[0]} measured steps",
            )
        outcomes = data.setup.discriminator.classify(shots)
        y = outcomes.mean(axis=1).astype(np.float64)
        err = binomial_error(y, outcomes.shape[1])
        return self._fit(data, np.stack([n_half, n_pi]), pulses, y, err)

    def _fit(
        self,
        data: Data[FineAmplitudeSetup],
        counts: NDArray[np.float64],
        pulses: NDArray[np.float64],
        y: NDArray[np.float64],
        err: NDArray[np.float64],
    ) -> Results:
        qubit = data.qubit
        grid = np.linspace(-self.max_error_rad, self.max_error_rad, 121)
        # linear least squares of (base, amp) on every grid point at once
        e, eh = np.meshgrid(grid, grid, indexing="ij")
        n_half, n_pi = counts
        c = np.cos(n_half * (0.5 * math.pi + eh[..., None]) + n_pi * (math.pi + e[..., None]))
        cc = c - c.mean(axis=-1, keepdims=True)
        yc = y - y.mean()
        amps = -(cc * yc).sum(axis=-1) / np.maximum((cc * cc).sum(axis=-1), 1e-12)
        res = ((yc + amps[..., None] * cc) ** 2).sum(axis=-1)
        res = np.where(amps > 0, res, np.inf)
        i, j = np.unravel_index(int(np.argmin(res)), res.shape)
        a0 = float(amps[i, j])
        e0, eh0, b0 = float(grid[i]), float(grid[j]), float(y.mean() + a0 * c[i, j].mean())

        try:
            with warnings.catch_warnings():
                # a covariance that cannot be estimated is a failed fit, not a warning
                warnings.simplefilter("error", scipy.optimize.OptimizeWarning)
                popt, pcov = scipy.optimize.curve_fit(
                    _model,
                    counts,
                    y,
                    p0=(e0, eh0, a0, b0, 0.0),
                    sigma=err,
                    absolute_sigma=False,
                    maxfev=20000,
                )
        except (RuntimeError, ValueError, scipy.optimize.OptimizeWarning) as exc:
            return Results.failed(
                self.name, qubit, f"fit failed: {exc}", _figure(counts, pulses, y, err)
            )
        params = tuple(float(v) for v in popt)
        eps, eps_half, amp, base, decay = params
        if not np.all(np.isfinite(_model(counts, *params))):
            return Results.failed(self.name, qubit, "fit diverged", _figure(counts, pulses, y, err))
        d_eps, d_eps_half = (float(math.sqrt(abs(pcov[i, i]))) for i in (0, 1))
        r2 = r_squared(y, _model(counts, *params))
        setup = data.setup
        a_pi = setup.start_pi_amplitude_v * math.pi / (math.pi + eps)
        a_half = setup.start_pi_half_amplitude_v * (0.5 * math.pi) / (0.5 * math.pi + eps_half)
        d_pi = a_pi * d_eps / (math.pi + eps)
        d_half = a_half * d_eps_half / (0.5 * math.pi + eps_half)
        in_range = max(abs(eps), abs(eps_half)) < self.max_error_rad
        verdict: Verdict
        if r2 > 0.8 and amp > 0.2 and in_range and max(d_eps, d_eps_half) < 0.008:
            verdict = "good"
            msg = f"π error {eps * 1e3:.1f} mrad, π/2 error {eps_half * 1e3:.1f} mrad per pulse"
        elif r2 > 0.5 and amp > 0.1 and in_range and max(d_eps, d_eps_half) < 0.03:
            verdict, msg = "poor", f"weak fit (R²={r2:.2f}, contrast {amp:.2f})"
        else:
            verdict, msg = "bad", f"errors not resolved (R²={r2:.2f}, contrast {amp:.2f})"
        note = (
            f"ε = {eps * 1e3:.1f} ± {d_eps * 1e3:.1f} mrad, "
            f"ε½ = {eps_half * 1e3:.1f} ± {d_eps_half * 1e3:.1f} mrad"
        )
        return Results(
            routine=self.name,
            qubit=qubit,
            verdict=verdict,
            message=msg,
            values={
                "pi_amplitude_v": a_pi,
                "pi_half_amplitude_v": a_half,
                "pi_error_rad": eps,
                "pi_half_error_rad": eps_half,
                "amplitude": amp,
                "baseline": base,
                "decay_per_pulse": decay,
            },
            uncertainties={
                "pi_amplitude_v": d_pi,
                "pi_half_amplitude_v": d_half,
                "pi_error_rad": d_eps,
                "pi_half_error_rad": d_eps_half,
            },
            r_squared=r2,
            figure=_figure(counts, pulses, y, err, params=params, r2=r2, note=note),
        )


def _trains(counts: NDArray[np.float64]) -> dict[str, NDArray[np.bool_]]:
    """Steps of each train by its layout: no π/2 pulse, a reference; one, the x train (the
    leading sx); more, the sx train."""
    n_half = counts[0]
    return {
        "x train": np.asarray(n_half == 1, dtype=np.bool_),
        "sx train": np.asarray(n_half > 1, dtype=np.bool_),
        "references": np.asarray(n_half == 0, dtype=np.bool_),
    }


def _train_grid(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """(2, k) π/2 and π counts at every pulse count of a train's range (its own step: 1 for
    the x train, 2 for the sx train of π/2 pairs); the count that does not vary is kept."""
    varying = 1 if np.ptp(counts[1]) > 0 else 0
    values = np.unique(counts[varying])
    step = float(np.min(np.diff(values))) if values.size > 1 else 1.0
    grid = np.arange(values[0], values[-1] + 0.5 * step, step)
    out = np.empty((2, grid.size), dtype=np.float64)
    out[varying] = grid
    out[1 - varying] = counts[1 - varying][0]
    return out


def _figure(
    counts: NDArray[np.float64],
    pulses: NDArray[np.float64],
    y: NDArray[np.float64],
    err: NDArray[np.float64],
    *,
    params: tuple[float, ...] | None = None,
    r2: float | None = None,
    note: str = "",
) -> Figure:
    """P(|1⟩) against the number of pulses, a series per train; with ``params`` the model
    at every pulse count of each train."""
    series: list[Series] = []
    lines: list[Series] = []
    for k, (label, steps) in enumerate(_trains(counts).items()):
        if not steps.any():
            continue
        points = Series.points(pulses[steps], y[steps], err[steps], label=label)
        series.append(points.model_copy(update={"color": f"C{k}"}))
        if params is None or label == "references":
            continue
        grid = _train_grid(counts[:, steps])
        lines.append(
            Series.line(
                grid[0] + grid[1],
                _model(grid, *params),
                label=f"fit, {label}",
                color="C3" if label == "x train" else "C4",
            )
        )
    return Figure(
        panels=(
            Panel(
                x_label="pulses in the train",
                x_unit="",
                y_label="P(|1⟩)",
                y_unit="",
                series=tuple(series + lines),
                r_squared=r2,
                note=note,
            ),
        )
    )
