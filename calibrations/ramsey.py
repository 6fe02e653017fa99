"""Ramsey: sx, swept delay, sx with the drive detuned by +δ and by −δ; qiskit-experiments'
fit of each side, the two sides together for the sign.

plan → two programs, the drive frame shifted by +δ and by −δ (``ShiftFrequency``), each
sx, a delay τ swept from 0 to ``span`` and sx, then measure. ``span`` is ``span_factor`` ×
the stored T2* unless given; without a stored T2*, ``span_factor`` × the stored T1 (T2* ≤
2·T1: a long-lived qubit gets a span that resolves it) or, with neither, a coarse run
(``coarse_span_s``, ``coarse_detuning_hz``); at most ``max_span_s``. δ is
``fringes / span`` unless given. The setup holds the qubit's discriminator (required), the
drive frequency f_d the run started from, δ, the span and the signs; the axes are
``delay_s`` and ``detuning_hz`` (±δ per step).
fit → every shot thresholded with the setup's discriminator; qiskit-experiments'
``T2RamseyAnalysis`` fits ``amp·e^{−τ/T2*}·cos(2π·f·τ + φ) + base`` of P(|1⟩) on each
side's per-shot memory, f in the first Nyquist zone (0, f_N) of the delay grid. One side's
fringe f± = |Δ ∓ δ| (Δ = f_q − f_d) does not tell the sign of Δ ∓ δ, and above f_N it is
folded back; the two sides together do: of every Δ one side's fringe allows (both signs,
folds up to one Nyquist zone away), the one whose predicted fringe on the other side is
closest to what that side measured is taken, from both sides (σ-weighted mean of the two
estimates). Two sides that agree on no Δ (beyond 5σ and 2 % of δ) make the result ``bad``:
a frequency is never stored from an ambiguous fringe. So the drive frequency may be off by
more than δ (a nightly run after a drift of hundreds of kHz), up to f_N.
T2* is the σ-weighted mean of the two sides. The figure is P(|1⟩) of both sides against
the delay (s) with the fitted damped cosines on a dense grid.
update → ``drive_frequency_hz``; ``t2_s`` (T2*) too when its relative uncertainty is below
``t2_max_relative_error`` (``t2_resolved``).

Sampling: the plan keeps 2δ at most ``NYQUIST_MARGIN`` (0.8) of the Nyquist frequency
``f_N = 1/(2·Δτ)`` of its delay step Δτ: a δ derived from the span (``fringes/span``) is
lowered to ``(points − 1)/(5·span)``; a δ that is given (the coarse run, or ``detuning_hz``)
shortens the span to ``(points − 1)/(5·δ)`` instead. A run file of one side (``signs`` =
(1,), an older run) is fitted as before: its fringe must lie below ``NYQUIST_MARGIN·f_N``
(else ``bad``), and ``f_q = f_d + δ − f``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import drive_limit_v, drive_sample_period_s, gate_pulse
from qneko_hw.calibrations.readout import (
    binomial_error,
    counts_experiment_data,
    require_discriminator,
)
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Delay, Experiment, Measure, Play, ShiftFrequency, Sweep
from qneko_hw.plot.figures import Figure, Panel, fit_panel

__all__ = ["NYQUIST_MARGIN", "Ramsey", "RamseySetup", "nyquist_hz"]

#: The fringe (at most 2δ) stays below this fraction of the delay grid's Nyquist frequency.
NYQUIST_MARGIN = 0.8


def nyquist_hz(delays_s: NDArray[np.float64]) -> float:
    """Nyquist frequency (Hz) of evenly spaced delays (s): 1/(2·step)."""
    step = float(np.median(np.diff(delays_s))) if delays_s.size > 1 else math.inf
    return 0.5 / step if step > 0 else math.inf


class RamseySetup(Frozen):
    """What the Ramsey fit needs besides the shots.

    Attributes:
        discriminator: what the shots are classified with.
        start_drive_frequency_hz: the drive frequency f_d (Hz) the run started from.
        detuning_hz: the detuning δ (Hz) the drive frame was shifted by.
        span_s: the longest delay planned (s).
        signs: the sides measured, one program each (+1: +δ, −1: −δ).
    """

    discriminator: Discriminator
    start_drive_frequency_hz: float
    detuning_hz: float
    span_s: float
    signs: tuple[int, ...] = (1,)


class _Side(Frozen):
    """The fit of one side (one sign of the detuning)."""

    sign: int
    x: tuple[float, ...]
    p1: tuple[float, ...]
    err: tuple[float, ...]
    fringe_hz: float = math.nan
    fringe_err_hz: float = math.nan
    tau_s: float = math.nan
    tau_err_s: float = math.nan
    r2: float = 0.0
    params: dict[str, float] = Field(default_factory=dict)

    @property
    def fitted(self) -> bool:
        return bool(self.params)

    def model(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """The fitted ``amp·e^{−t/τ}·cos(2π·f·t + φ) + base`` at delays ``t`` (s)."""
        p = self.params
        osc = np.exp(-t / p["tau"]) * np.cos(2 * np.pi * p["freq"] * t + p["phi"])
        return np.asarray(p["amp"] * osc + p["base"], dtype=np.float64)

    def panel(self, delta_hz: float) -> Panel:
        x = np.asarray(self.x)
        model = None
        note = f"{'+' if self.sign > 0 else '−'}δ = {self.sign * delta_hz / 1e3:+.1f} kHz"
        if self.fitted:
            grid = dense(x)
            model = (grid, self.model(grid))
            note += f": fringe {self.fringe_hz / 1e3:.1f} kHz, T2* = {self.tau_s * 1e6:.2f} µs"
        return fit_panel(
            x,
            self.p1,
            self.err,
            model,
            x_label="delay between the π/2 pulses",
            x_unit="s",
            y_label="P(|1⟩)",
            r_squared=self.r2 if self.fitted else None,
            note=note,
        )


def _fit_side(sign: int, x: NDArray[np.float64], outcomes: NDArray[np.bool_]) -> _Side:
    """qiskit-experiments' ``T2RamseyAnalysis`` on one side's shots (fringe in (0, f_N)).

    Seeded with the periodogram peak and a decay of twice the span (its own guesses picked
    a harmonic, or a 1 µs decay, on clean undamped fringes); a fit that still scores
    R² < 0.8 is tried again with the analysis's own starting points, the better kept."""
    p1 = outcomes.mean(axis=1).astype(np.float64)
    err = binomial_error(p1, int(outcomes.shape[1]))
    side = _Side(sign=sign, x=tuple(x), p1=tuple(p1), err=tuple(err))
    seed = {"freq": _periodogram_peak_hz(x, p1), "tau": 2.0 * float(x.max())}
    best = _t2_ramsey_analysis(side, x, outcomes, seed)
    if best.r2 < 0.8:
        again = _t2_ramsey_analysis(side, x, outcomes, {})
        if again.r2 > best.r2:
            best = again
    return best


def _t2_ramsey_analysis(
    side: _Side, x: NDArray[np.float64], outcomes: NDArray[np.bool_], p0: dict[str, float]
) -> _Side:
    """One ``T2RamseyAnalysis`` run from starting values ``p0`` (empty: its own)."""
    from qiskit_experiments.data_processing import DataProcessor, Probability
    from qiskit_experiments.library.characterization.analysis import T2RamseyAnalysis

    analysis = T2RamseyAnalysis()
    analysis.set_options(
        plot=False,
        data_processor=DataProcessor("counts", [Probability(outcome="1")]),
        # the first Nyquist zone only: on the sampled delays every alias fits as well
        bounds={"freq": (0.0, nyquist_hz(x))},
    )
    if p0:
        analysis.set_options(p0=p0)
    result = analysis.run(counts_experiment_data(x, outcomes)).block_for_results()
    table = result.analysis_results(dataframe=True)
    if not {"T2star", "Frequency"} <= set(table["name"]):
        return side
    t2 = table[table["name"] == "T2star"].iloc[0]
    freq = table[table["name"] == "Frequency"].iloc[0]
    params = {k: float(v) for k, v in result.artifacts("fit_summary").data.params.items()}
    fitted = side.model_copy(
        update={
            "fringe_hz": abs(float(freq["value"].nominal_value)),
            "fringe_err_hz": float(freq["value"].std_dev),
            "tau_s": float(t2["value"].nominal_value),
            "tau_err_s": float(t2["value"].std_dev),
            "params": params,
        }
    )
    return fitted.model_copy(update={"r2": r_squared(np.asarray(side.p1), fitted.model(x))})


def _periodogram_peak_hz(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Frequency (Hz) of the largest peak of ``y(x)``'s periodogram (mean removed, zero
    padded 8×; the DC bin excluded), for evenly spaced ``x`` (s)."""
    if x.size < 3:
        return 0.0
    step = float(np.median(np.diff(x)))
    pad = 8 * x.size
    spectrum = np.abs(np.fft.rfft(y - float(np.mean(y)), pad))
    freqs = np.fft.rfftfreq(pad, d=step)
    k = 1 + int(np.argmax(spectrum[1:]))
    return float(freqs[k])


def _candidates(side: _Side, delta: float, nyquist: float) -> list[float]:
    """Every Δ = f_q − f_d this side's fringe allows: Δ − s·δ = ±(f + 2k·f_N), |k| ≤ 1."""
    out = []
    for k in (-1, 0, 1):
        for sgn in (1, -1):
            out.append(side.sign * delta + sgn * (side.fringe_hz + 2 * k * nyquist))
    return out


def _resolve(sides: list[_Side], delta: float, nyquist: float) -> tuple[float, float, float]:
    """Δ (Hz), its σ (Hz) and the two sides' disagreement (Hz) from two fitted sides."""
    a, b = sides
    best: tuple[float, float, float] | None = None
    for da in _candidates(a, delta, nyquist):
        for db in _candidates(b, delta, nyquist):
            gap = abs(da - db)
            wa, wb = 1 / max(a.fringe_err_hz, 1.0) ** 2, 1 / max(b.fringe_err_hz, 1.0) ** 2
            mean = (wa * da + wb * db) / (wa + wb)
            # Δ and Δ + 2k·f_N give both sides the same data: Δ is told within (−f_N, f_N)
            if abs(mean) <= nyquist and (best is None or gap < best[2]):
                best = (mean, (wa + wb) ** -0.5, gap)
    return best if best is not None else (math.nan, math.inf, math.inf)


class Ramsey(Routine[RamseySetup]):
    """Ramsey fringes: drive frequency and T2*.

    Attributes:
        points, shots: delays and shots per delay; span_s: longest delay (s), or None for
        ``span_factor`` × the stored T2*; detuning_hz: δ (Hz), or None for ``fringes/span``;
        coarse_span_s, coarse_detuning_hz: span (s) and δ (Hz) without a stored T2*;
        max_span_s: cap on the longest delay (s) from a stored T2*;
        t2_max_relative_error: largest relative uncertainty of T2* that updates ``t2_s``.
    """

    kind: ClassVar[str] = "ramsey"
    setup_type: ClassVar[type[RamseySetup]] = RamseySetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("qubit_frequency_hz", "drive_frequency_hz"),
        Update("t2_star_s", "t2_s", when="t2_resolved"),
    )

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

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[RamseySetup]:
        """Shift the drive by δ (Hz), sx, delay (swept, s), sx, measure.

        Raises:
            CalibrationError: the qubit has no drive line or no discriminator.
        """
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        disc = require_discriminator(state, qubit, self.name)
        given: float | None = self.detuning_hz
        if cal.t2_s is not None and cal.t2_s.updated is not None:
            expected = cal.t2_s.value
            span = min(self.span_factor * expected, self.max_span_s)
        elif cal.t1_s is not None and cal.t1_s.updated is not None:
            expected = cal.t1_s.value  # T2* ≤ 2·T1: a span that resolves a long-lived qubit
            span = min(self.span_factor * expected, self.max_span_s)
        else:  # coarse: short span, large detuning
            expected, span = self.coarse_span_s, self.coarse_span_s
            given = self.coarse_detuning_hz if given is None else given
        span = self.span_s or span
        # no aliasing: 2δ ≤ NYQUIST_MARGIN / (2Δτ), Δτ = span/(points − 1)
        limit = NYQUIST_MARGIN * (self.points - 1) / (4.0 * span)
        if given is None:
            delta = min(self.fringes / span, limit)
        else:
            delta = given
            span = min(span, NYQUIST_MARGIN * (self.points - 1) / (4.0 * delta))
        drive = f"{qubit}.drive"
        sx = gate_pulse(cal, cal.pi_half_amplitude_v.value)
        delays = _uniform_delays(station, qubit, span, self.points)
        signs = (1, -1)
        experiments = [
            Experiment(
                name=f"{self.name}_{qubit}_{'plus' if sign > 0 else 'minus'}",
                instructions=(
                    ShiftFrequency(channel=drive, frequency_hz=sign * delta),
                    Play(channel=drive, pulse=sx),
                    Delay(channel=drive, duration_s=0.0),
                    Play(channel=drive, pulse=sx),
                    Measure(qubit=qubit, name=qubit),
                ),
                sweep=Sweep(parameter="duration_s", instruction=2, values=delays),
                shots=self.shots,
                repetition_time_s=max(200e-6, span + 5 * min(expected, 2 * span)),
            )
            for sign in signs
        ]
        setup = RamseySetup(
            discriminator=disc,
            start_drive_frequency_hz=cal.drive_frequency_hz.value,
            detuning_hz=delta,
            span_s=span,
            signs=signs,
        )
        n = len(delays)
        axes = [
            Axis.of("delay_s", delays * len(signs), "s", "free time between the two π/2 pulses"),
            Axis.of("detuning_hz", np.repeat([sg * delta for sg in signs], n), "Hz",
                    "detuning of the drive frame"),
        ]  # fmt: skip
        return Plan.programs(setup, axes, *experiments)

    def fit(self, data: Data[RamseySetup]) -> Results:
        """Qubit frequency (Hz) and T2* (s) from the fringes of the thresholded shots."""
        setup = data.setup
        outcomes = setup.discriminator.classify(data.iq(data.qubit))
        x_all = data.axis("delay_s")
        n = x_all.size // len(setup.signs)
        delta = setup.detuning_hz
        sides = [
            _fit_side(sign, x_all[k * n : (k + 1) * n], outcomes[k * n : (k + 1) * n])
            for k, sign in enumerate(setup.signs)
        ]
        x = np.asarray(sides[0].x)
        f_nyquist = nyquist_hz(x)
        figure = Figure(panels=tuple(side.panel(delta) for side in sides))
        if not all(side.fitted for side in sides):
            return Results.failed(self.name, data.qubit, "T2RamseyAnalysis failed", figure=figure)
        r2 = min(side.r2 for side in sides)
        if len(sides) == 1:
            side = sides[0]
            if side.fringe_hz > NYQUIST_MARGIN * f_nyquist:
                return Results.failed(
                    self.name,
                    data.qubit,
                    f"fringe at {side.fringe_hz / 1e3:.1f} kHz is above {NYQUIST_MARGIN:.0%} "
                    f"of the sampling limit {f_nyquist / 1e3:.1f} kHz: it may be an alias, "
                    "not fitted",
                    figure=figure,
                )
            offset, offset_err, gap = delta - side.fringe_hz, side.fringe_err_hz, 0.0
            agree = 0.1 * delta < side.fringe_hz < 1.9 * delta
        else:
            offset, offset_err, gap = _resolve(sides, delta, f_nyquist)
            sigma_gap = math.hypot(*(side.fringe_err_hz for side in sides))
            agree = math.isfinite(offset) and gap <= max(5 * sigma_gap, 0.02 * delta)
        w = [1 / max(side.tau_err_s, 1e-12) ** 2 for side in sides]
        tau = sum(wi * side.tau_s for wi, side in zip(w, sides, strict=True)) / sum(w)
        tau_err = sum(w) ** -0.5
        f_q = setup.start_drive_frequency_hz + offset
        rel = tau_err / tau if tau > 0 else math.inf
        verdict: Verdict
        fringes = ", ".join(f"{side.fringe_hz / 1e3:.1f}" for side in sides)
        if r2 > 0.8 and agree and offset_err < 0.05 * delta:
            verdict = "good"
            msg = f"f_q − f_d = {offset / 1e3:+.1f} kHz, T2* = {tau * 1e6:.2f} µs"
        elif not math.isfinite(offset) or (r2 > 0.8 and not agree):
            verdict = "bad"
            msg = (
                f"fringes at {fringes} kHz for δ = ±{delta / 1e3:.1f} kHz agree on no "
                f"frequency (closest {gap / 1e3:.1f} kHz apart): ambiguous, not stored"
            )
        elif r2 > 0.5:
            verdict, msg = "poor", f"weak fringes (R²={r2:.2f})"
        else:
            verdict, msg = "bad", f"no fringes (R²={r2:.2f})"
        t2_ok = rel < self.t2_max_relative_error
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=msg,
            values={
                "qubit_frequency_hz": f_q,
                "fringe_frequency_hz": sides[0].fringe_hz,
                "detuning_hz": delta,
                "t2_star_s": tau,
                "t2_resolved": 1.0 if t2_ok else 0.0,
            },
            uncertainties={"qubit_frequency_hz": offset_err, "t2_star_s": tau_err},
            r_squared=r2,
            figure=figure,
        )


def _uniform_delays(station: Station, qubit: str, span_s: float, points: int) -> tuple[float, ...]:
    """``points`` delays (s) from 0, a whole number of drive-AWG samples apart, to ~span_s
    (s)."""
    dt = drive_sample_period_s(station, qubit)
    step = max(1, round(span_s / max(points - 1, 1) / dt))
    return tuple(float(k * step * dt) for k in range(points))
