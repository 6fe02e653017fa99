"""Fine amplitude: error amplification of the π and π/2 pulses by pulse trains.

build → three experiments (run one after the other, their steps stacked); the first two
are an sx pulse (the gate pulse at the π/2 amplitude) followed by a train of gate pulses
(:func:`~qneko_hw.calibrations.gates.pulse_train`) whose duration is swept to play the first
``m`` pulses, then measure:

- x train: ``m = 1 … max_pi_pulses`` π pulses; total angle ``π/2 + ε½ + m·(π + ε)``;
- sx train: ``m = 2, 4, … 2·sx_pairs`` π/2 pulses; total angle ``(m + 1)·(π/2 + ε½)``;
- references: ``references`` steps of |0⟩ (no pulse) and of one π pulse, which pin the
  readout contrast (without them a small error leaves the contrast undetermined);

with ε (ε½) the rotation error (rad) of one π (π/2) pulse. The π/2 before the trains puts
the state on the equator, where P(|1⟩) is first-order sensitive to the accumulated error.
analyze → every shot thresholded with the qubit's discriminator; the excited populations
of all steps fitted jointly (scipy) by ``P = base − amp·e^{−γ·pulses}·cos(θ)`` with θ the
total angle above and γ a decay per pulse (decoherence during the trains; without it the
fitted ε is biased by ~15 % at 2 % error); a grid search over ε, ε½ with ``base``, ``amp``
solved linearly seeds the least-squares fit. update → ``pi_amplitude_v × π/(π + ε)`` and
``pi_half_amplitude_v × (π/2)/(π/2 + ε½)`` (the angle is proportional to the amplitude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse, pulse_train
from qneko_hw.calibrations.readout import BuiltReadout, binomial_error, discriminated
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment, Measure, Play, Sweep

__all__ = ["FineAmplitude"]

#: Per sweep step: number of π/2 pulses and number of π pulses about x.
Layout = tuple[tuple[float, ...], tuple[float, ...]]


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


@dataclass(frozen=True)
class FineAmplitude:
    """Error amplification of the π and π/2 amplitudes.

    Attributes:
        max_pi_pulses: longest π train; sx_pairs: pairs of π/2 pulses in the longest sx
        train; shots: shots per sequence; max_error_rad: largest per-pulse error (rad) the
        analysis searches (and that a ``good`` fit may have).
    """

    max_pi_pulses: int = 20
    sx_pairs: int = 10
    shots: int = 500
    max_error_rad: float = 0.3
    references: int = 4
    name: str = "fine_amplitude"
    built: dict[str, tuple[QubitCalibration, Layout]] = field(
        default_factory=dict, compare=False, repr=False
    )
    readouts: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> list[Experiment]:
        """Experiments: sx + swept-length π train; sx + swept-length π/2 train; references."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        dt = 1.0 / awg_traits(station.instruments[station.drive[qubit].awg].model).sample_rate_hz
        n = round(cal.pulse_duration_s.value / dt)
        drive = f"{qubit}.drive"
        sx = gate_pulse(cal, cal.pi_half_amplitude_v.value)
        pi_counts = list(range(1, self.max_pi_pulses + 1))
        sx_counts = list(range(2, 2 * self.sx_pairs + 1, 2))
        experiments = []
        for label, amp, counts in (
            ("x", cal.pi_amplitude_v.value, pi_counts),
            ("sx", cal.pi_half_amplitude_v.value, sx_counts),
        ):
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
        a_pi = cal.pi_amplitude_v.value
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
                    values=(0.0,) * self.references + (a_pi,) * self.references,
                ),
                shots=self.shots,
            )
        )
        refs = self.references
        n_half = [1.0] * len(pi_counts) + [m + 1.0 for m in sx_counts] + [0.0] * (2 * refs)
        n_pi = [float(m) for m in pi_counts] + [0.0] * len(sx_counts) + [0.0] * refs + [1.0] * refs
        self.built[qubit] = (cal, (tuple(n_half), tuple(n_pi)))
        self.readouts.record(qubit, cal)
        return experiments

    def analyze(
        self,
        qubit: str,
        result: ExecutionResult,
        readout: QubitCalibration | None = None,
        layout: Layout | None = None,
    ) -> Fit:
        """Per-pulse errors ε, ε½ (rad) and the corrected amplitudes (V).

        ``readout`` (the calibration measured with) and ``layout`` (π/2 and π pulse counts
        of each step) default to the build's.
        """
        cal_built, built_layout = self.built.get(qubit, (None, ((), ())))
        cal = readout or cal_built
        n_half_t, n_pi_t = layout or built_layout
        outcomes = discriminated(
            result.acquisition(qubit, self.name), self.readouts.get(qubit, cal)
        )
        if outcomes is None or cal is None or len(n_half_t) != outcomes.shape[0]:
            return Fit.failed(self.name, qubit, "no discriminator or sequence layout: build first")
        n_half = np.asarray(n_half_t, dtype=np.float64)
        n_pi = np.asarray(n_pi_t, dtype=np.float64)
        y = outcomes.mean(axis=1).astype(np.float64)
        err = binomial_error(y, outcomes.shape[1])
        return self._fit(qubit, cal, np.stack([n_half, n_pi]), y, err)

    def _fit(
        self,
        qubit: str,
        cal: QubitCalibration,
        counts: NDArray[np.float64],
        y: NDArray[np.float64],
        err: NDArray[np.float64],
    ) -> Fit:
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
            popt, pcov = scipy.optimize.curve_fit(
                _model,
                counts,
                y,
                p0=(e0, eh0, a0, b0, 0.0),
                sigma=err,
                absolute_sigma=False,
                maxfev=20000,
            )
        except (RuntimeError, ValueError) as exc:
            return Fit.failed(self.name, qubit, f"fit failed: {exc}")
        eps, eps_half, amp, base, decay = (float(v) for v in popt)
        d_eps, d_eps_half = (float(math.sqrt(abs(pcov[i, i]))) for i in (0, 1))
        model = _model(counts, eps, eps_half, amp, base, decay)
        ss_tot = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float(((y - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
        a_pi = cal.pi_amplitude_v.value * math.pi / (math.pi + eps)
        a_half = cal.pi_half_amplitude_v.value * (0.5 * math.pi) / (0.5 * math.pi + eps_half)
        d_pi = a_pi * d_eps / (math.pi + eps)
        d_half = a_half * d_eps_half / (0.5 * math.pi + eps_half)
        in_range = max(abs(eps), abs(eps_half)) < self.max_error_rad
        quality: Quality
        if r2 > 0.8 and amp > 0.2 and in_range and max(d_eps, d_eps_half) < 0.008:
            quality = "good"
            msg = f"π error {eps * 1e3:.1f} mrad, π/2 error {eps_half * 1e3:.1f} mrad per pulse"
        elif r2 > 0.5 and amp > 0.1 and in_range and max(d_eps, d_eps_half) < 0.03:
            quality, msg = "poor", f"weak fit (R²={r2:.2f}, contrast {amp:.2f})"
        else:
            quality, msg = "bad", f"errors not resolved (R²={r2:.2f}, contrast {amp:.2f})"
        return Fit(
            routine=self.name,
            qubit=qubit,
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
            quality=quality,
            r_squared=r2,
            message=msg,
            x=tuple(float(v) for v in np.arange(y.size)),
            y=tuple(float(v) for v in y),
            y_fit=tuple(float(v) for v in model),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New π and π/2 amplitudes; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: fine amplitude unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        v, u = fit.values, fit.uncertainties
        return state.with_qubit(
            fit.qubit,
            pi_amplitude_v=CalValue.measured(v["pi_amplitude_v"], u["pi_amplitude_v"], run_id),
            pi_half_amplitude_v=CalValue.measured(
                v["pi_half_amplitude_v"], u["pi_half_amplitude_v"], run_id
            ),
        )
