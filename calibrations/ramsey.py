"""Ramsey: sx, swept delay, sx with the drive detuned by δ; qiskit-experiments' fit.

plan → the drive frame shifted by a known detuning δ (``ShiftFrequency``), then sx, a delay
τ swept from 0 to ``span`` and sx, then measure. ``span`` is ``span_factor`` × the stored
T2* unless given, and δ is ``fringes / span`` unless given; without a stored T2* a coarse
run: ``coarse_span_s`` and ``coarse_detuning_hz``. δ must
exceed the drive frequency error (the fringe frequency |f_q − f_d − δ| does not tell the
sign of f_q − f_d − δ; δ > |f_q − f_d| makes it ``δ − (f_q − f_d)``). The setup holds the
qubit's discriminator (required), the drive frequency f_d the run started from, δ and the
span; the axis is ``delay_s``.
fit → every shot thresholded with the setup's discriminator; qiskit-experiments'
``T2RamseyAnalysis`` fits ``amp·e^{−τ/T2*}·cos(2π·f·τ + φ) + base`` of P(|1⟩) on the
per-shot memory; ``f_q = f_d + δ − f``. The figure is P(|1⟩) against the delay (s) with
the fitted damped cosine on a dense grid.
update → ``drive_frequency_hz``; ``t2_s`` (T2*) too when its relative uncertainty is below
``t2_max_relative_error`` (``t2_resolved``).

Sampling that cannot alias: the fringe lies in (0, 2δ) when δ exceeds the frequency error,
so the plan keeps 2δ at most ``NYQUIST_MARGIN`` (0.8) of the Nyquist frequency
``f_N = 1/(2·Δτ)`` of its delay step Δτ: a δ derived from the span (``fringes/span``) is
lowered to ``(points − 1)/(5·span)``; a δ that is given (the coarse run, or ``detuning_hz``)
shortens the span to ``(points − 1)/(5·δ)`` instead. The fit rejects (``bad``) a fringe
above ``NYQUIST_MARGIN·f_N``: near the sampling limit an alias cannot be told from the
fringe, and a wrong frequency would be stored with a small error bar.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

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
from qneko_hw.plot.figures import Figure, fit_panel

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
    """

    discriminator: Discriminator
    start_drive_frequency_hz: float
    detuning_hz: float
    span_s: float


def _figure(
    x: NDArray[np.float64],
    p1: NDArray[np.float64],
    err: NDArray[np.float64],
    *,
    model: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    r2: float | None = None,
    note: str = "",
) -> Figure:
    panel = fit_panel(
        x,
        p1,
        err,
        model,
        x_label="delay between the π/2 pulses",
        x_unit="s",
        y_label="P(|1⟩)",
        r_squared=r2,
        note=note,
    )
    return Figure(panels=(panel,))


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
        if cal.t2_s is None:  # coarse: short span, large detuning
            expected, span = self.coarse_span_s, self.coarse_span_s
            given = self.coarse_detuning_hz if given is None else given
        else:
            expected = cal.t2_s.value
            span = min(self.span_factor * expected, self.max_span_s)
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
        experiment = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                ShiftFrequency(channel=drive, frequency_hz=delta),
                Play(channel=drive, pulse=sx),
                Delay(channel=drive, duration_s=0.0),
                Play(channel=drive, pulse=sx),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="duration_s", instruction=2, values=delays),
            shots=self.shots,
            repetition_time_s=max(200e-6, span + 5 * expected),
        )
        setup = RamseySetup(
            discriminator=disc,
            start_drive_frequency_hz=cal.drive_frequency_hz.value,
            detuning_hz=delta,
            span_s=span,
        )
        axis = Axis.of("delay_s", delays, "s", "free time between the two π/2 pulses")
        return Plan.programs(setup, [axis], experiment)

    def fit(self, data: Data[RamseySetup]) -> Results:
        """Qubit frequency (Hz) and T2* (s) from the fringes of the thresholded shots."""
        from qiskit_experiments.data_processing import DataProcessor, Probability
        from qiskit_experiments.library.characterization.analysis import T2RamseyAnalysis

        setup = data.setup
        outcomes = setup.discriminator.classify(data.iq(data.qubit))
        x = data.axis("delay_s")
        p1 = outcomes.mean(axis=1).astype(np.float64)
        err = binomial_error(p1, int(outcomes.shape[1]))
        delta = setup.detuning_hz
        analysis = T2RamseyAnalysis()
        analysis.set_options(
            plot=False,
            data_processor=DataProcessor("counts", [Probability(outcome="1")]),
            # the first Nyquist zone only: on the sampled delays every alias fits as well
            bounds={"freq": (0.0, nyquist_hz(x))},
        )
        result = analysis.run(counts_experiment_data(x, outcomes)).block_for_results()
        table = result.analysis_results(dataframe=True)
        names = set(table["name"])
        if not {"T2star", "Frequency"} <= names:
            return Results.failed(
                self.name, data.qubit, "T2RamseyAnalysis failed", figure=_figure(x, p1, err)
            )
        t2 = table[table["name"] == "T2star"].iloc[0]
        freq = table[table["name"] == "Frequency"].iloc[0]
        fringe = abs(float(freq["value"].nominal_value))
        fringe_err = float(freq["value"].std_dev)
        tau, tau_err = float(t2["value"].nominal_value), float(t2["value"].std_dev)
        f_q = setup.start_drive_frequency_hz + delta - fringe
        p = {k: float(v) for k, v in result.artifacts("fit_summary").data.params.items()}

        def model(t: NDArray[np.float64]) -> NDArray[np.float64]:
            """The fitted ``amp·e^{−t/τ}·cos(2π·f·t + φ) + base`` at delays ``t`` (s)."""
            osc = np.exp(-t / p["tau"]) * np.cos(2 * np.pi * p["freq"] * t + p["phi"])
            return np.asarray(p["amp"] * osc + p["base"], dtype=np.float64)

        r2 = r_squared(p1, model(x))
        rel = tau_err / tau if tau > 0 else math.inf
        f_nyquist = nyquist_hz(x)
        verdict: Verdict
        if fringe > NYQUIST_MARGIN * f_nyquist:
            grid = dense(x)
            return Results.failed(
                self.name,
                data.qubit,
                f"fringe at {fringe / 1e3:.1f} kHz is above {NYQUIST_MARGIN:.0%} of the "
                f"sampling limit {f_nyquist / 1e3:.1f} kHz: it may be an alias, not fitted",
                figure=_figure(x, p1, err, model=(grid, model(grid)), r2=r2),
            )
        if r2 > 0.8 and 0.1 * delta < fringe < 1.9 * delta and fringe_err < 0.05 * delta:
            verdict, msg = "good", f"fringe at {fringe / 1e3:.1f} kHz, T2* = {tau * 1e6:.2f} µs"
        elif r2 > 0.5:
            verdict, msg = "poor", f"weak fringes (R²={r2:.2f})"
        else:
            verdict, msg = "bad", f"no fringes (R²={r2:.2f})"
        if verdict == "poor" and r2 > 0.8:
            msg = f"fringe at {fringe / 1e3:.1f} kHz for δ = {delta / 1e3:.1f} kHz: ambiguous"
        t2_ok = rel < self.t2_max_relative_error
        grid = dense(x)
        note = f"f = {fringe / 1e3:.1f} kHz (δ = {delta / 1e3:.1f} kHz), T2* = {tau * 1e6:.2f} µs"
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=msg,
            values={
                "qubit_frequency_hz": f_q,
                "fringe_frequency_hz": fringe,
                "detuning_hz": delta,
                "t2_star_s": tau,
                "t2_resolved": 1.0 if t2_ok else 0.0,
            },
            uncertainties={"qubit_frequency_hz": fringe_err, "t2_star_s": tau_err},
            r_squared=r2,
            figure=_figure(x, p1, err, model=(grid, model(grid)), r2=r2, note=note),
        )


def _uniform_delays(station: Station, qubit: str, span_s: float, points: int) -> tuple[float, ...]:
    """``points`` delays (s) from 0, a whole number of drive-AWG samples apart, to ~span_s
    (s)."""
    dt = drive_sample_period_s(station, qubit)
    step = max(1, round(span_s / max(points - 1, 1) / dt))
    return tuple(float(k * step * dt) for k in range(points))
