"""T1: π pulse, swept delay, measure; qiskit-experiments' ``T1Analysis`` on classified shots.

plan → the calibrated π pulse, a delay swept from 0 to ``span_factor`` × the expected T1
(the stored T1, else ``t1_guess_s``; capped at ``max_span_s``), then measure; the qubit's
discriminator (required: without one the plan raises
:class:`~qneko_hw.errors.CalibrationError`), the span and the expected T1 go into the
setup, the delays into the ``delay_s`` axis (every step of every program, in order);
fit → every shot thresholded with the setup's discriminator, per-shot memory fitted by
``T1Analysis`` (``amp·exp(−t/T1) + base`` of P(|1⟩)); the figure is P(|1⟩) against the
delay (s) with the fitted decay on a dense grid;
update → ``t1_s``.

Delays (``spacing``): ``geometric`` (default) is 0 and ``points − 1`` delays spaced
geometrically from ``span/1000`` to the span; it resolves any T1 from about span/400 to
span/3 equally well (the statistical error of ``amp·e^{−t/τ} + base`` with τ, amp and base
free, from the Fisher information of the binomial shots: 1.4–2.3 % with the default 17
delays × 3000 shots for span/τ between 3 and 400), so a fresh qubit needs no prior: with
nothing stored the span is ``span_factor × t1_guess_s`` (600 µs: T1 from 1.5 to 200 µs).
``linear`` spaces them evenly.
A fit is ``good`` when its relative error is below 10 %, its reduced χ² below 3 and T1
below half the span. (qiskit-experiments' own quality flag also asks the fitted baseline
for a 10 % relative error, which a qubit that decays to a thermal population near zero
never meets: it is not used.) A fit whose T1 exceeds half the span is at best ``poor`` (the
span was too short: the next run spans ``span_factor`` × this estimate).

The delay costs AWG memory and time: every sweep step of a program is as long as its
longest delay (steps are aligned on their measurement). The delays are therefore split into
programs (:func:`delay_programs`) of at most ``PROGRAM_SAMPLES`` samples (steps × longest
step) each; the split depends only on the settings, not on the qubit, so every qubit plans
the same number of programs of the same sizes (their plans can be multiplexed). Where every
AWG of the qubit repeats sequence entries (:func:`~qneko_hw.calibrations.gates.idle_is_free`),
a delay is one block played many times and the whole sweep is one program.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import (
    drive_limit_v,
    drive_sample_period_s,
    gate_pulse,
    idle_is_free,
)
from qneko_hw.calibrations.readout import (
    binomial_error,
    counts_experiment_data,
    require_discriminator,
)
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep
from qneko_hw.plot.figures import Figure, fit_panel

__all__ = [
    "PROGRAM_COST_SAMPLES",
    "PROGRAM_SAMPLES",
    "T1",
    "DecayKind",
    "Spacing",
    "T1Setup",
    "delay_grid",
    "delay_programs",
    "fit_decay",
    "spaced_delays",
    "split_sweep",
]

Spacing = Literal["geometric", "linear"]
DecayKind = Literal["T1", "T2"]
#: Most samples one delay program may take (sweep steps × its longest step): a quarter of
#: the smallest AWG memory (16 Mi samples), so four channels of multiplexed qubits fit.
PROGRAM_SAMPLES = 2_000_000
#: What one more program costs, in samples played: about 0.1 s of upload, arming and
#: fetching against ~0.2 µs per sample in the simulated lab.
PROGRAM_COST_SAMPLES = 500_000
#: First non-zero delay of a geometric grid, as a fraction of the span.
FIRST_FRACTION = 1e-3


def delay_grid(station: Station, qubit: str, span_s: float, points: int) -> tuple[float, ...]:
    """``points`` delays (s) from 0 to ``span_s`` (s) on the drive AWG's sample grid
    (delays rounding to the same sample are merged)."""
    dt = drive_sample_period_s(station, qubit)
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
    """``points`` delays (s) from 0 to ``span_s`` (s), rounded to the drive AWG's sample
    grid: evenly spaced (``linear``) or 0 then geometric from ``span/1000``
    (``geometric``). Delays are not merged when they round to the same sample (the count
    stays ``points``)."""
    dt = drive_sample_period_s(station, qubit)
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
) -> list[Experiment]:
    """``exp`` with its sweep over ``delays`` (s), one experiment per index range of
    ``groups``, in order (their steps stacked are the ``delays``)."""
    assert exp.sweep is not None
    return [
        exp.model_copy(
            update={"sweep": exp.sweep.model_copy(update={"values": tuple(delays[i] for i in g)})}
        )
        for g in groups
    ]


def _decay_figure(
    x: NDArray[np.float64],
    p1: NDArray[np.float64],
    err: NDArray[np.float64],
    *,
    x_label: str,
    model: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    r2: float | None = None,
    note: str = "",
) -> Figure:
    """P(|1⟩) against the delay (s), with the model (dense x, values) if given."""
    panel = fit_panel(
        x, p1, err, model, x_label=x_label, x_unit="s", y_label="P(|1⟩)", r_squared=r2, note=note
    )
    return Figure(panels=(panel,))


def fit_decay(
    routine: str,
    qubit: str,
    delays: NDArray[np.float64],
    outcomes: NDArray[np.bool_],
    *,
    kind: DecayKind,
    key: str,
    x_label: str = "delay",
) -> Results:
    """Exponential decay by qiskit-experiments on per-shot classified memory.

    ``kind`` is ``"T1"`` (``T1Analysis``, which fits P(|1⟩) = ``amp·exp(−t/τ) + base``) or
    ``"T2"`` (``T2HahnAnalysis``, echo, which fits P(|0⟩) = ``amp·exp(−t/τ) + base``, its
    bounds and quality criteria written for P(|0⟩) decaying from 1 to ½). Whatever the
    analysis fits, the results are of P(|1⟩), the quantity plotted: the model drawn, R²
    and ``amplitude``/``baseline`` are those of P(|1⟩)(t) = ``amplitude·exp(−t/τ) +
    baseline`` (for the echo ``amplitude = −amp`` and ``baseline = 1 − base``). The fitted
    τ (s) is reported under ``key``.

    Args:
        routine, qubit: what is fitted.
        delays: the delay of each step (s): ``x_label`` on the plot.
        outcomes: (steps, shots) classified shots, True for |1⟩.
    """
    from qiskit_experiments.data_processing import DataProcessor, Probability
    from qiskit_experiments.library.characterization.analysis import T1Analysis, T2HahnAnalysis

    x = np.asarray(delays, dtype=np.float64)
    p1 = outcomes.mean(axis=1).astype(np.float64)
    err = binomial_error(p1, int(outcomes.shape[1]))
    if x.size < 5:
        return Results.failed(
            routine,
            qubit,
            f"{x.size} delays are too few for a decay fit",
            figure=_decay_figure(x, p1, err, x_label=x_label),
        )
    outcome = "1" if kind == "T1" else "0"
    analysis = T1Analysis() if kind == "T1" else T2HahnAnalysis()
    analysis.set_options(
        plot=False,
        data_processor=DataProcessor("counts", [Probability(outcome=outcome)]),
    )
    data = analysis.run(counts_experiment_data(x, outcomes)).block_for_results()
    table = data.analysis_results(dataframe=True)
    if kind not in set(table["name"]):
        return Results.failed(
            routine,
            qubit,
            f"{type(analysis).__name__} failed",
            figure=_decay_figure(x, p1, err, x_label=x_label),
        )
    row = table[table["name"] == kind].iloc[0]
    tau = float(row["value"].nominal_value)
    tau_err = float(row["value"].std_dev)
    summary = data.artifacts("fit_summary").data
    params = {k: float(v) for k, v in summary.params.items()}
    # the analysis's model of P(outcome), as P(|1⟩)
    sign = 1.0 if outcome == "1" else -1.0
    amplitude = sign * params["amp"]
    baseline = params["base"] if outcome == "1" else 1.0 - params["base"]

    def model(t: NDArray[np.float64]) -> NDArray[np.float64]:
        if tau <= 0:
            return np.full_like(t, baseline)
        return np.asarray(amplitude * np.exp(-t / tau) + baseline, dtype=np.float64)

    r2 = r_squared(p1, model(x))
    chi2 = float(summary.reduced_chisq)
    rel = tau_err / tau if tau > 0 else math.inf
    verdict: Verdict
    span = float(x.max())
    if math.isfinite(chi2) and chi2 < 3 and rel < 0.1 and tau < span / 2:
        verdict, msg = "good", f"decay fitted ({kind} = {tau * 1e6:.2f} µs ± {rel:.1%})"
    elif tau > 0 and rel < 0.5 and math.isfinite(chi2) and tau >= span / 2:
        verdict = "poor"
        msg = (
            f"{kind} = {tau * 1e6:.2f} µs ± {rel:.1%} exceeds half the span "
            f"({span * 1e6:.0f} µs): span too short, the next run spans from this estimate"
        )
    elif tau > 0 and rel < 0.5 and math.isfinite(chi2):
        verdict = "poor"
        msg = f"weak decay fit (relative error {rel:.1%}, reduced χ² {chi2:.2f})"
    else:
        verdict, msg = "bad", f"no decay resolved ({kind} = {tau:g} s ± {tau_err:g} s)"
    grid = dense(x)
    return Results(
        routine=routine,
        qubit=qubit,
        verdict=verdict,
        message=msg,
        values={key: tau, "amplitude": amplitude, "baseline": baseline},
        uncertainties={key: tau_err},
        r_squared=r2,
        figure=_decay_figure(
            x,
            p1,
            err,
            x_label=x_label,
            model=(grid, model(grid)),
            r2=r2,
            note=f"{kind} = {tau * 1e6:.2f} ± {tau_err * 1e6:.2f} µs",
        ),
    )


class T1Setup(Frozen):
    """What the T1 fit needs besides the shots.

    Attributes:
        discriminator: what the shots are classified with.
        span_s: the longest delay (s).
        expected_t1_s: the T1 (s) the span was chosen for (stored, else the guess).
    """

    discriminator: Discriminator
    span_s: float
    expected_t1_s: float


class T1(Routine[T1Setup]):
    """Energy-relaxation time.

    Attributes:
        points: delays; shots: shots per delay; span_factor: longest delay in units of the
        expected T1; t1_guess_s: expected T1 (s) when none is stored; max_span_s: cap on the
        longest delay (s); spacing: ``geometric`` or ``linear`` delays (module docstring).
    """

    kind: ClassVar[str] = "t1"
    setup_type: ClassVar[type[T1Setup]] = T1Setup
    updates: ClassVar[tuple[Update, ...]] = (Update("t1_s", "t1_s"),)

    points: int = 17
    shots: int = 3000
    span_factor: float = 4.0
    t1_guess_s: float = 150e-6
    max_span_s: float = 800e-6
    spacing: Spacing = "geometric"
    name: str = "t1"

    def expected_s(self, cal: QubitCalibration) -> float:
        """The T1 (s) expected for ``cal``'s qubit: the stored one, else ``t1_guess_s``."""
        return cal.t1_s.value if cal.t1_s is not None else self.t1_guess_s

    def span_s(self, cal: QubitCalibration) -> float:
        """Longest delay (s) for ``cal``'s qubit."""
        return min(self.span_factor * self.expected_s(cal), self.max_span_s)

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[T1Setup]:
        """π pulse, delay (swept, s), measure; one program per delay group.

        Raises:
            CalibrationError: the qubit has no drive line or no discriminator.
        """
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        disc = require_discriminator(state, qubit, self.name)
        span = self.span_s(cal)
        delays = spaced_delays(station, qubit, span, self.points, self.spacing)
        dt = drive_sample_period_s(station, qubit, self.name)
        groups = (
            [range(self.points)]
            if idle_is_free(station, qubit)
            else delay_programs(self.points, self.spacing, round(self.max_span_s / dt))
        )
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
        setup = T1Setup(discriminator=disc, span_s=span, expected_t1_s=self.expected_s(cal))
        axis = Axis.of("delay_s", delays, "s", "delay between the π pulse and the measurement")
        return Plan.programs(setup, [axis], *split_sweep(exp, delays, groups))

    def fit(self, data: Data[T1Setup]) -> Results:
        """T1 (s) from the shots thresholded with the setup's discriminator."""
        outcomes = data.setup.discriminator.classify(data.iq(data.qubit))
        return fit_decay(
            self.name, data.qubit, data.axis("delay_s"), outcomes, kind="T1", key="t1_s"
        )
