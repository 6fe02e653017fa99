"""Ramsey: sx, swept delay, sx with the drive detuned by δ; qiskit-experiments' fit.

build → the drive frame shifted by a known detuning δ (``ShiftFrequency``), then sx, a delay
τ swept from 0 to ``span`` and sx, then measure. ``span`` is ``span_factor`` × the stored
T2* unless given, and δ is ``fringes / span`` unless given; without a stored T2* a coarse
run: ``coarse_span_s`` and ``coarse_detuning_hz``. δ must
exceed the drive frequency error (the fringe frequency |f_q − f_d − δ| does not tell the
sign of f_q − f_d − δ; δ > |f_q − f_d| makes it ``δ − (f_q − f_d)``).
analyze → every shot thresholded with the qubit's discriminator; qiskit-experiments'
``T2RamseyAnalysis`` fits ``amp·e^{−τ/T2*}·cos(2π·f·τ + φ) + base`` on the per-shot
memory; ``f_q = f_d + δ − f``.
update → ``drive_frequency_hz``; ``t2_s`` (T2*) too when its relative uncertainty is below
``t2_max_relative_error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import BuiltReadout, counts_experiment_data, discriminated
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Delay, Experiment, Measure, Play, ShiftFrequency, Sweep

__all__ = ["Ramsey"]


@dataclass(frozen=True)
class Ramsey:
    """Ramsey fringes: drive frequency and T2*.

    Attributes:
        points, shots: delays and shots per delay; span_s: longest delay (s), or None for
        ``span_factor`` × the stored T2*; detuning_hz: δ (Hz), or None for ``fringes/span``;
        coarse_span_s, coarse_detuning_hz: span (s) and δ (Hz) without a stored T2*;
        t2_max_relative_error: largest relative uncertainty of T2* that updates ``t2_s``.
    """

    points: int = 51
    shots: int = 1000
    span_s: float | None = None
    detuning_hz: float | None = None
    span_factor: float = 3.0
    fringes: float = 6.0
    coarse_span_s: float = 8e-6
    coarse_detuning_hz: float = 2e6
    max_span_s: float = 60e-6
    t2_max_relative_error: float = 0.1
    name: str = "ramsey"
    built: dict[str, tuple[QubitCalibration, float]] = field(
        default_factory=dict, compare=False, repr=False
    )
    readouts: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: shift the drive by δ (Hz), sx, delay (swept, s), sx, measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        if cal.t2_s is None:  # coarse: short span, large detuning
            expected, span, delta = self.coarse_span_s, self.coarse_span_s, self.coarse_detuning_hz
        else:
            expected = cal.t2_s.value
            span = min(self.span_factor * expected, self.max_span_s)
            delta = self.fringes / span
        span = self.span_s or span
        delta = self.detuning_hz if self.detuning_hz is not None else delta
        self.built[qubit] = (cal, delta)
        self.readouts.record(qubit, cal)
        drive = f"{qubit}.drive"
        sx = gate_pulse(cal, cal.pi_half_amplitude_v.value)
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                ShiftFrequency(channel=drive, frequency_hz=delta),
                Play(channel=drive, pulse=sx),
                Delay(channel=drive, duration_s=0.0),
                Play(channel=drive, pulse=sx),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(
                parameter="duration_s",
                instruction=2,
                values=_uniform_delays(station, qubit, span, self.points),
            ),
            shots=self.shots,
            repetition_time_s=max(200e-6, span + 5 * expected),
        )

    def analyze(
        self,
        qubit: str,
        result: ExecutionResult,
        readout: QubitCalibration | None = None,
        detuning_hz: float | None = None,
    ) -> Fit:
        """Qubit frequency (Hz) and T2* (s); ``readout``/``detuning_hz`` default to the build's."""
        cal, delta = self.built.get(qubit, (None, None))
        cal = readout or cal
        delta = detuning_hz if detuning_hz is not None else delta
        outcomes = discriminated(result.acquisition(qubit, self.name), cal)
        if outcomes is None or cal is None or delta is None:
            return Fit.failed(self.name, qubit, "no discriminator or detuning: build first")
        from qiskit_experiments.library.characterization.analysis import T2RamseyAnalysis

        x = np.asarray(result.sweep_values, dtype=np.float64)
        analysis = T2RamseyAnalysis()
        analysis.set_options(plot=False)
        data = analysis.run(counts_experiment_data(x, outcomes)).block_for_results()
        table = data.analysis_results(dataframe=True)
        names = set(table["name"])
        if not {"T2star", "Frequency"} <= names:
            return Fit.failed(self.name, qubit, "T2RamseyAnalysis failed")
        t2 = table[table["name"] == "T2star"].iloc[0]
        freq = table[table["name"] == "Frequency"].iloc[0]
        fringe = abs(float(freq["value"].nominal_value))
        fringe_err = float(freq["value"].std_dev)
        tau, tau_err = float(t2["value"].nominal_value), float(t2["value"].std_dev)
        f_q = cal.drive_frequency_hz.value + delta - fringe
        p = {k: float(v) for k, v in data.artifacts("fit_summary").data.params.items()}
        model = p["amp"] * np.exp(-x / p["tau"]) * np.cos(2 * np.pi * p["freq"] * x + p["phi"])
        model = model + p["base"]
        p1 = outcomes.mean(axis=1).astype(np.float64)
        ss_tot = float(((p1 - p1.mean()) ** 2).sum())
        r2 = 1.0 - float(((p1 - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
        rel = tau_err / tau if tau > 0 else math.inf
        quality: Quality
        if r2 > 0.8 and 0.1 * delta < fringe < 1.9 * delta and fringe_err < 0.05 * delta:
            quality, msg = "good", f"fringe at {fringe / 1e3:.1f} kHz, T2* = {tau * 1e6:.2f} µs"
        elif r2 > 0.5:
            quality, msg = "poor", f"weak fringes (R²={r2:.2f})"
        else:
            quality, msg = "bad", f"no fringes (R²={r2:.2f})"
        if quality == "poor" and r2 > 0.8:
            msg = f"fringe at {fringe / 1e3:.1f} kHz for δ = {delta / 1e3:.1f} kHz: ambiguous"
        t2_ok = rel < self.t2_max_relative_error
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={
                "qubit_frequency_hz": f_q,
                "fringe_frequency_hz": fringe,
                "detuning_hz": delta,
                "t2_star_s": tau,
                "t2_resolved": 1.0 if t2_ok else 0.0,
            },
            uncertainties={"qubit_frequency_hz": fringe_err, "t2_star_s": tau_err},
            quality=quality,
            r_squared=r2,
            message=msg,
            x=tuple(float(v) for v in x),
            y=tuple(float(v) for v in p1),
            y_fit=tuple(float(v) for v in model),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New drive frequency (and T2* when resolved); a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: Ramsey fit unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        v, u = fit.values, fit.uncertainties
        changes = {
            "drive_frequency_hz": CalValue.measured(
                v["qubit_frequency_hz"], u["qubit_frequency_hz"], run_id
            )
        }
        if v["t2_resolved"]:
            changes["t2_s"] = CalValue.measured(v["t2_star_s"], u["t2_star_s"], run_id)
        return state.with_qubit(fit.qubit, **changes)


def _uniform_delays(station: Station, qubit: str, span_s: float, points: int) -> tuple[float, ...]:
    """``points`` delays (s) from 0, a whole number of drive-AWG samples apart, to ~span_s."""
    dt = 1.0 / awg_traits(station.instruments[station.drive[qubit].awg].model).sample_rate_hz
    step = max(1, round(span_s / max(points - 1, 1) / dt))
    return tuple(float(k * step * dt) for k in range(points))
