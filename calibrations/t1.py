"""T1: π pulse, swept delay, measure; qiskit-experiments' ``T1Analysis`` on classified shots.

build → the calibrated π pulse, a delay swept from 0 to ``span_factor`` × the expected T1
(the stored T1, else ``t1_guess_s``; capped at ``max_span_s``), then measure;
analyze → every shot thresholded with the qubit's discriminator, per-shot memory fitted by
``T1Analysis`` (``amp·exp(−t/T1) + base``); update → ``t1_s``.

The delay costs AWG memory: every sweep step is as long as the longest delay (steps are
aligned on their measurement), so ``points × max_span_s`` samples must fit the drive AWG.
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
from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep

__all__ = ["T1", "delay_grid"]


def delay_grid(station: Station, qubit: str, span_s: float, points: int) -> tuple[float, ...]:
    """``points`` delays (s) from 0 to ``span_s`` on the drive AWG's sample grid."""
    dt = 1.0 / awg_traits(station.instruments[station.drive[qubit].awg].model).sample_rate_hz
    samples = np.unique(np.round(np.linspace(0.0, span_s, points) / dt).astype(np.int64))
    return tuple(float(k * dt) for k in samples)


@dataclass(frozen=True)
class T1:
    """Energy-relaxation time.

    Attributes:
        points: delays; shots: shots per delay; span_factor: longest delay in units of the
        expected T1; t1_guess_s: expected T1 (s) when none is stored; max_span_s: cap on the
        longest delay (s), set by the AWG memory.
    """

    points: int = 31
    shots: int = 1000
    span_factor: float = 4.0
    t1_guess_s: float = 20e-6
    max_span_s: float = 150e-6
    name: str = "t1"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: π pulse, delay (swept, s), measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        expected = cal.t1_s.value if cal.t1_s is not None else self.t1_guess_s
        span = min(self.span_factor * expected, self.max_span_s)
        self.built.record(qubit, cal)
        delays = delay_grid(station, qubit, span, self.points)
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=f"{qubit}.drive", pulse=gate_pulse(cal, cal.pi_amplitude_v.value)),
                Delay(channel=f"{qubit}.drive", duration_s=0.0),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="duration_s", instruction=1, values=delays),
            shots=self.shots,
            repetition_time_s=max(200e-6, span + 5 * expected),
        )

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """T1 (s) from the thresholded shots (``readout``: the calibration measured with)."""
        outcomes = discriminated(
            result.acquisition(qubit, self.name), self.built.get(qubit, readout)
        )
        if outcomes is None:
            return Fit.failed(self.name, qubit, "no discriminator: run discrimination first")
        return fit_decay(self.name, qubit, result.sweep_values, outcomes, kind="T1", key="t1_s")

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with ``t1_s``; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: T1 fit unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        t1 = CalValue.measured(fit.values["t1_s"], fit.uncertainties["t1_s"], run_id)
        return state.with_qubit(fit.qubit, t1_s=t1)


def fit_decay(
    routine: str,
    qubit: str,
    delays: np.typing.NDArray[np.float64],
    outcomes: np.typing.NDArray[np.bool_],
    *,
    kind: str,
    key: str,
) -> Fit:
    """Exponential decay ``amp·exp(−t/τ) + base`` by qiskit-experiments on classified shots.

    ``kind`` is ``"T1"`` (``T1Analysis``) or ``"T2"`` (``T2HahnAnalysis``, echo); the fitted
    τ (s) is reported under ``key``.
    """
    from qiskit_experiments.library.characterization.analysis import T1Analysis, T2HahnAnalysis

    x = np.asarray(delays, dtype=np.float64)
    if x.size < 5:
        return Fit.failed(routine, qubit, f"{x.size} delays are too few for a decay fit")
    analysis = T1Analysis() if kind == "T1" else T2HahnAnalysis()
    analysis.set_options(plot=False)
    data = analysis.run(counts_experiment_data(x, outcomes)).block_for_results()
    table = data.analysis_results(dataframe=True)
    if kind not in set(table["name"]):
        return Fit.failed(routine, qubit, f"{type(analysis).__name__} failed")
    row = table[table["name"] == kind].iloc[0]
    tau = float(row["value"].nominal_value)
    tau_err = float(row["value"].std_dev)
    summary = data.artifacts("fit_summary").data
    params = {k: float(v) for k, v in summary.params.items()}
    p1 = outcomes.mean(axis=1).astype(np.float64)
    model = params["amp"] * np.exp(-x / tau) + params["base"] if tau > 0 else np.zeros_like(x)
    ss_tot = float(((p1 - p1.mean()) ** 2).sum())
    r2 = 1.0 - float(((p1 - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
    chi2 = float(summary.reduced_chisq)
    rel = tau_err / tau if tau > 0 else math.inf
    quality: Quality
    if row["quality"] == "good" and rel < 0.1 and tau < 2 * x[-1]:
        quality, msg = "good", f"decay fitted ({kind} = {tau * 1e6:.2f} µs ± {rel:.1%})"
    elif tau > 0 and rel < 0.5 and math.isfinite(chi2):
        quality = "poor"
        msg = f"weak decay fit (relative error {rel:.1%}, reduced χ² {chi2:.2f})"
    else:
        quality, msg = "bad", f"no decay resolved ({kind} = {tau:g} s ± {tau_err:g} s)"
    return Fit(
        routine=routine,
        qubit=qubit,
        values={key: tau, "amplitude": params["amp"], "baseline": params["base"]},
        uncertainties={key: tau_err},
        quality=quality,
        r_squared=r2,
        message=msg,
        x=tuple(float(v) for v in x),
        y=tuple(float(v) for v in p1),
        y_fit=tuple(float(v) for v in model),
    )
