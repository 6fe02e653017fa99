"""T1: π pulse, swept delay, measure; qiskit-experiments' ``T1Analysis`` on classified shots.

build → the calibrated π pulse, a delay swept from 0 to ``span_factor`` × the expected T1
(the stored T1, else ``t1_guess_s``; capped at ``max_span_s``), then measure;
analyze → every shot thresholded with the qubit's discriminator, per-shot memory fitted by
``T1Analysis`` (``amp·exp(−t/T1) + base``); update → ``t1_s``.

Delays (``spacing``): ``geometric`` (default) is 0 and ``points − 1`` delays spaced
geometrically from ``span/1000`` to the span; it resolves any T1 from about span/400 to
span/3 equally well (the statistical error of ``amp·e^{−t/τ} + base`` with τ, amp and base
free, from the Fisher information of the binomial shots: 1.4–2.3 % with the default 17
delays × 3000 shots for span/τ between 3 and 400), so a fresh qubit needs no prior: with
nothing stored the span is ``span_factor × t1_guess_s`` (600 µs: T1 from 1.5 to 200 µs).
``linear`` spaces them evenly.
A fit whose T1 exceeds half the span is at best ``poor`` (the span was too short: the
next run spans ``span_factor`` × this estimate).

The delay costs AWG memory and time: every sweep step of a program is as long as its
longest delay (steps are aligned on their measurement). The delays are therefore split into
programs (:func:`delay_programs`) of at most ``PROGRAM_SAMPLES`` samples (steps × longest
step) each; the split depends only on the settings, not on the qubit, so every qubit builds
the same number of programs of the same sizes (their builds can be multiplexed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import BuiltReadout, counts_experiment_data, discriminated
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep

__all__ = [
    "PROGRAM_COST_SAMPLES",
    "PROGRAM_SAMPLES",
    "T1",
    "Spacing",
    "delay_grid",
    "delay_programs",
    "sample_time_s",
    "spaced_delays",
    "split_sweep",
]

Spacing = Literal["geometric", "linear"]
#: Most samples one delay program may take (sweep steps × its longest step): a quarter of
#: the smallest AWG memory (16 Mi samples), so four channels of multiplexed qubits fit.
PROGRAM_SAMPLES = 2_000_000
#: What one more program costs, in samples played: about 0.1 s of upload, arming and
#: fetching against ~0.2 µs per sample in the simulated lab.
PROGRAM_COST_SAMPLES = 500_000
#: First non-zero delay of a geometric grid, as a fraction of the span.
FIRST_FRACTION = 1e-3


def sample_time_s(station: Station, qubit: str) -> float:
    """Sample period (s) of ``qubit``'s drive AWG."""
    return 1.0 / awg_traits(station.instruments[station.drive[qubit].awg].model).sample_rate_hz


def delay_grid(station: Station, qubit: str, span_s: float, points: int) -> tuple[float, ...]:
    """``points`` delays (s) from 0 to ``span_s`` on the drive AWG's sample grid."""
    dt = sample_time_s(station, qubit)
    samples = np.unique(np.round(np.linspace(0.0, span_s, points) / dt).astype(np.int64))
    return tuple(float(k * dt) for k in samples)


def _unit_grid(points: int, spacing: Spacing) -> NDArray[np.float64]:
    """``points`` delays from 0 to 1 (fractions of the span)."""
    if spacing == "linear" or points < 3:
        return np.linspace(0.0, 1.0, points)
    return np.concatenate(([0.0], np.geomspace(FIRST_FRACTION, 1.0, points - 1)))


def spaced_delays(
    station: Station, qubit: str, span_s: float, points: int, spacing: Spacing
) -> tuple[float, ...]:
    """``points`` delays (s) from 0 to ``span_s``, rounded to the drive AWG's sample grid:
    evenly spaced (``linear``) or 0 then geometric from ``span/1000`` (``geometric``).
    Delays are not merged when they round to the same sample (the count stays ``points``)."""
    dt = sample_time_s(station, qubit)
    samples = np.round(_unit_grid(points, spacing) * span_s / dt).astype(np.int64)
    return tuple(float(k * dt) for k in samples)


def delay_programs(
    points: int,
    spacing: Spacing,
    max_span_samples: int,
    budget: int = PROGRAM_SAMPLES,
    program_cost: int = PROGRAM_COST_SAMPLES,
) -> list[range]:
    """Consecutive index ranges of a ``points``-delay grid, one program each.

    Every program keeps (its delays) × (its longest delay) ≤ ``budget`` samples for any
    span up to ``max_span_samples``; among such splits the one of least total cost, a
    program costing the samples it plays plus ``program_cost`` (dynamic programming over
    the split points). The split depends on the settings only, not on the span.
    """
    unit = _unit_grid(points, spacing) * max_span_samples
    best = [0.0] + [math.inf] * points
    cut = [0] * (points + 1)
    for j in range(1, points + 1):
        longest = max(float(unit[j - 1]), 1.0)
        for i in range(j):
            n = j - i
            if n > 1 and n * longest > budget:
                continue
            cost = best[i] + n * longest + program_cost
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups: list[range] = []
    j = points
    while j > 0:
        groups.append(range(cut[j], j))
        j = cut[j]
    return groups[::-1]


def split_sweep(
    exp: Experiment, delays: Sequence[float], groups: Sequence[range]
) -> Experiment | list[Experiment]:
    """``exp`` with its sweep over ``delays``, one experiment per index range of ``groups``
    (the experiment itself when there is one)."""
    assert exp.sweep is not None
    parts = [
        exp.model_copy(
            update={"sweep": exp.sweep.model_copy(update={"values": tuple(delays[i] for i in g)})}
        )
        for g in groups
    ]
    return parts[0] if len(parts) == 1 else parts


@dataclass(frozen=True)
class T1:
    """Energy-relaxation time.

    Attributes:
        points: delays; shots: shots per delay; span_factor: longest delay in units of the
        expected T1; t1_guess_s: expected T1 (s) when none is stored; max_span_s: cap on the
        longest delay (s); spacing: ``geometric`` or ``linear`` delays (module docstring).
    """

    points: int = 17
    shots: int = 3000
    span_factor: float = 4.0
    t1_guess_s: float = 150e-6
    max_span_s: float = 800e-6
    spacing: Spacing = "geometric"
    name: str = "t1"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def span_s(self, cal: QubitCalibration) -> float:
        """Longest delay (s) for ``cal``'s qubit."""
        expected = cal.t1_s.value if cal.t1_s is not None else self.t1_guess_s
        return min(self.span_factor * expected, self.max_span_s)

    def build(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Experiment | list[Experiment]:
        """Experiment(s): π pulse, delay (swept, s), measure; one per delay program."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        span = self.span_s(cal)
        self.built.record(qubit, cal)
        delays = spaced_delays(station, qubit, span, self.points, self.spacing)
        dt = sample_time_s(station, qubit)
        groups = delay_programs(self.points, self.spacing, round(self.max_span_s / dt))
        exp = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=f"{qubit}.drive", pulse=gate_pulse(cal, cal.pi_amplitude_v.value)),
                Delay(channel=f"{qubit}.drive", duration_s=0.0),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="duration_s", instruction=1, values=delays),
            shots=self.shots,
            repetition_time_s=max(200e-6, span + 5 * span / self.span_factor),
        )
        return split_sweep(exp, delays, groups)

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
    span = float(x.max())
    if row["quality"] == "good" and rel < 0.1 and tau < span / 2:
        quality, msg = "good", f"decay fitted ({kind} = {tau * 1e6:.2f} µs ± {rel:.1%})"
    elif tau > 0 and rel < 0.5 and math.isfinite(chi2) and tau >= span / 2:
        quality = "poor"
        msg = (
            f"{kind} = {tau * 1e6:.2f} µs ± {rel:.1%} exceeds half the span "
            f"({span * 1e6:.0f} µs): span too short, the next run spans from this estimate"
        )
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
