"""Ramsey (frequency, T2*) and Hahn echo (T2E) on random chips against the chip's truth,
and their fits on synthetic shots.

The simulated dephasing is Markovian (Lindblad), so T2* = T2E = the chip's T2.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import Bench
from numpy.typing import ArrayLike, NDArray

from qneko_hw.analysis import DENSE_POINTS, Results, r_squared
from qneko_hw.calibrations.ramsey import NYQUIST_MARGIN, Ramsey, RamseySetup, nyquist_hz
from qneko_hw.calibrations.t2_echo import T2Echo, T2EchoSetup
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError
from qneko_hw.plot.figures import Panel, Series
from qneko_hw.runfile import read_run

#: Shots are +1 V (|1⟩) or −1 V (|0⟩) with noise: this discriminator reads them exactly.
DISC = Discriminator(iq_angle_rad=0.0, threshold_v=0.0)


def _panel(results: Results) -> tuple[Panel, Series, Series]:
    assert results.figure is not None
    panel = results.figure.panels[0]
    points = next(s for s in panel.series if s.kind == "points")
    line = next(s for s in panel.series if s.kind == "line")
    return panel, points, line


def _echo_model(results: Results, t: ArrayLike) -> NDArray[np.float64]:
    """The P(|1⟩) model of echo results at total free times ``t`` (s)."""
    v = results.values
    return np.asarray(v["amplitude"] * np.exp(-np.asarray(t) / v["t2_echo_s"]) + v["baseline"])


# --- Ramsey --------------------------------------------------------------------------


def test_ramsey_frequency_within_50_khz_and_t2_star_within_ten_percent(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    f_true = bench.truth.qubits["q0"].frequency_hz
    # as left by spectroscopy: within a MHz
    start = f_true + 0.7e6
    state = state.with_qubit("q0", drive_frequency_hz=CalValue.design(start))
    routine = Ramsey()
    coarse = bench.run(routine, "q0", state)  # also: its run file re-fits identically
    assert abs(coarse.results.values["qubit_frequency_hz"] - f_true) < 100e3, coarse.results.values
    run = read_run(coarse.run_file)
    setup = routine.parse_setup(run.routine["setup"])
    assert setup.start_drive_frequency_hz == start
    assert setup.detuning_hz == routine.coarse_detuning_hz
    # the coarse span is shortened until the fringe (< 2δ) cannot alias
    assert setup.span_s == min(routine.coarse_span_s, 0.8 * 50 / (4 * setup.detuning_hz))
    # two sides (+δ, −δ), the same delays each
    delay, detuning = run.axes["delay_s"], run.axes["detuning_hz"]
    assert setup.signs == (1, -1)
    assert delay.unit == "s" and delay.values.shape == (2 * routine.points,)
    assert np.array_equal(delay.values[: routine.points], delay.values[routine.points :])
    assert set(detuning.values[: routine.points]) == {setup.detuning_hz}
    assert set(detuning.values[routine.points :]) == {-setup.detuning_hz}
    assert delay.values[0] == 0.0 and delay.values[-1] == pytest.approx(setup.span_s, rel=0.02)
    state = coarse.state
    if state.qubit("q0").t2_s is None:  # T2* longer than the coarse span
        state = bench.run(routine, "q0", state).state
    assert state.qubit("q0").t2_s is not None
    fine = bench.run(routine, "q0", state)
    results = fine.results
    assert results.verdict == "good", results.message
    cal = fine.state.qubit("q0")
    assert cal.drive_frequency_hz.value == pytest.approx(f_true, abs=50e3), (results.values, f_true)
    assert cal.drive_frequency_hz.value == results.values["qubit_frequency_hz"]
    assert cal.drive_frequency_hz.run_id == fine.run_id
    assert cal.t2_s is not None
    t2_true = bench.truth.qubits["q0"].t2_s
    assert cal.t2_s.value == pytest.approx(t2_true, rel=0.1), (results.values, t2_true)
    assert results.values["t2_resolved"] == 1.0 and cal.t2_s.run_id == fine.run_id
    # the figure: P(|1⟩) against the delay (s), the damped cosine on a dense grid
    panel, points, line = _panel(results)
    assert (panel.x_unit, panel.y_label, panel.y_unit) == ("s", "P(|1⟩)", "")
    assert len(line.x) == DENSE_POINTS and len(points.x) == routine.points
    assert line.x[0] == points.x[0] and line.x[-1] == points.x[-1]
    assert results.figure is not None and len(results.figure.panels) == 2  # one per side
    # the result's R² is the worse side's
    assert results.r_squared == min(p.r_squared or 0.0 for p in results.figure.panels)
    assert results.r_squared is not None and results.r_squared > 0.8


def test_ramsey_without_a_discriminator_the_plan_refuses(bench: Bench) -> None:
    with pytest.raises(CalibrationError, match="discriminat"):
        Ramsey().plan("q0", bench.truth_state(), bench.lab.station)


def _ramsey_data(
    f_q: float,
    f_d: float,
    delta: float,
    t2: float,
    delays: NDArray[np.float64],
    shots: int,
    contrast: float = 0.46,
    signs: tuple[int, ...] = (1, -1),
) -> Data[RamseySetup]:
    """Shots of a Ramsey run with the drive frame shifted by each of ``signs`` × δ."""
    rng = np.random.default_rng(1)
    rows = []
    for sign in signs:
        fringe = f_q - f_d - sign * delta
        p1 = 0.5 - contrast * np.exp(-delays / t2) * np.cos(2 * np.pi * fringe * delays)
        rows.append(rng.random((delays.size, shots)) < p1[:, None])
    ones = np.concatenate(rows)
    iq = np.where(ones, 1.0, -1.0) + 0.05 * rng.standard_normal(ones.shape)
    setup = RamseySetup(
        discriminator=DISC,
        start_drive_frequency_hz=f_d,
        detuning_hz=delta,
        span_s=float(delays[-1]),
        signs=signs,
    )
    return Data(
        routine="ramsey",
        qubit="q0",
        setup=setup,
        axes={
            "delay_s": Axis.of("delay_s", np.tile(delays, len(signs)), "s", "delay"),
            "detuning_hz": Axis.of(
                "detuning_hz", np.repeat([s * delta for s in signs], delays.size), "Hz", "δ"
            ),
        },
        signals={"q0": Signal.iq(iq, "q0")},
    )


def test_ramsey_fit_draws_the_damped_cosine_on_a_dense_grid() -> None:
    f_q, f_d, delta, t2 = 5.0e9 + 150e3, 5.0e9, 1.0e6, 6e-6
    delays = np.arange(51) * 240e-9
    results = Ramsey().analyze(_ramsey_data(f_q, f_d, delta, t2, delays, 2000))
    assert results.verdict == "good", results.message
    assert results.values["qubit_frequency_hz"] == pytest.approx(f_q, abs=10e3)
    assert results.values["t2_star_s"] == pytest.approx(t2, rel=0.1)
    assert set(results.changes) == {"drive_frequency_hz", "t2_s"}
    _, points, line = _panel(results)
    assert len(line.x) == DENSE_POINTS
    assert not np.isin(line.x[1:-1], points.x).all()  # a model curve, not the data joined
    # the line is the fitted curve: read at the delays, it scores the points as R² says
    model_at_points = np.interp(points.x, line.x, line.y)
    assert results.r_squared == pytest.approx(r_squared(points.y, model_at_points), abs=5e-3)
    assert results.r_squared is not None and results.r_squared > 0.9


def test_ramsey_t2_not_resolved_leaves_t2_alone() -> None:
    f_q, f_d, delta, t2 = 5.0e9, 5.0e9, 1.0e6, 200e-6  # T2* ≫ span: poorly resolved
    delays = np.arange(51) * 100e-9
    results = Ramsey(t2_max_relative_error=0.01).analyze(
        _ramsey_data(f_q, f_d, delta, t2, delays, 500)
    )
    assert results.verdict == "good", results.message
    assert results.values["t2_resolved"] == 0.0
    assert set(results.changes) == {"drive_frequency_hz"}


@pytest.mark.parametrize("points", [11, 21, 51])
def test_ramsey_sampling_cannot_alias(points: int) -> None:
    """Whatever the points, the planned fringe (up to 2δ) stays below 80 % of the delay
    grid's Nyquist frequency: coarse (δ given: the span shrinks), and from a stored T2*
    (δ = fringes/span lowered)."""
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station).with_qubit(
        "q0", iq_angle_rad=CalValue.design(0.0), threshold=CalValue.design(0.0)
    )
    t2 = CalValue.measured(30e-6, 1e-6, "run")
    for st in (state, state.with_qubit("q0", t2_s=t2)):
        plan = Ramsey(points=points).plan("q0", st, station)
        axis = plan.axes[0]
        nyquist = nyquist_hz(axis.values[:points])
        assert 2 * plan.setup.detuning_hz <= NYQUIST_MARGIN * nyquist * (1 + 1e-3), points


def test_ramsey_one_side_refuses_a_fringe_near_the_sampling_limit() -> None:
    """A one-sided run (an older run file) with a fringe above 80 % of the Nyquist
    frequency is rejected, not stored: near the limit it cannot be told from an alias."""
    delays = np.arange(21) * 400e-9  # f_N = 1.25 MHz
    f_d, delta = 5.0e9, 0.4e6
    data = _ramsey_data(f_d + delta + 1.1e6, f_d, delta, 20e-6, delays, 2000, signs=(1,))
    results = Ramsey(points=21).analyze(data)
    assert results.verdict == "bad", results.message
    assert "sampling limit" in results.message and results.changes == {}


@pytest.mark.parametrize("offset", [-250e3, -150e3, 60e3, 200e3, 250e3])
def test_ramsey_two_sides_tell_the_sign_beyond_the_detuning(offset: float) -> None:
    """δ = 115 kHz, f_N = 289 kHz, the drive off by up to ±250 kHz (a drift since the last
    run): one side alone stores δ − f (31 kHz for +200 kHz: the fringe cannot tell the
    sign of Δ − δ); the two sides together find Δ."""
    delays = np.arange(21) * 1.73e-6  # f_N = 289 kHz, as the graph's check plans
    f_d, delta = 5.0e9, 115e3
    data = _ramsey_data(f_d + offset, f_d, delta, 40e-6, delays, 1000)
    results = Ramsey(points=21).analyze(data)
    assert results.verdict == "good", results.message
    assert results.values["qubit_frequency_hz"] - f_d == pytest.approx(offset, abs=5e3)
    one = Ramsey(points=21).analyze(_ramsey_data(f_d + offset, f_d, delta, 40e-6, delays, 1000,
                                                 signs=(1,)))  # fmt: skip
    if abs(offset) > delta:  # one side is fooled or refuses
        found = one.values.get("qubit_frequency_hz", math.nan) - f_d
        assert one.verdict == "bad" or abs(found - offset) > 20e3, one.values


def test_ramsey_sides_that_disagree_are_bad() -> None:
    """Sides whose fringes fit no single frequency (here: each side from a different
    qubit frequency) are ambiguous: bad, nothing stored."""
    delays = np.arange(21) * 1.73e-6
    f_d, delta = 5.0e9, 115e3
    plus = _ramsey_data(f_d + 40e3, f_d, delta, 40e-6, delays, 1000)
    minus = _ramsey_data(f_d - 70e3, f_d, delta, 40e-6, delays, 1000)
    n = delays.size
    iq = np.concatenate([plus.iq("q0")[:n], minus.iq("q0")[n:]])
    mixed = dataclasses.replace(plus, signals={"q0": Signal.iq(iq, "q0")})
    results = Ramsey(points=21).analyze(mixed)
    assert results.verdict == "bad", results.message
    assert "agree on no frequency" in results.message and results.changes == {}


def test_ramsey_with_few_points_does_not_alias(bench: Bench) -> None:
    """The graph's cheap settings (21 points) from a drive frequency 100 kHz off (as left by
    spectroscopy): over the old 8 µs span the δ = 2 MHz fringe (2.1 MHz) was above the
    1.25 MHz Nyquist frequency, aliased to ~0.4 MHz, and a frequency 1.7 MHz wrong was
    stored; now the span is shortened and the frequency is found."""
    state = bench.discriminated_state("q0")
    f_true = bench.truth.qubits["q0"].frequency_hz
    state = state.with_qubit("q0", drive_frequency_hz=CalValue.design(f_true + 0.1e6))
    out = bench.run(Ramsey(points=21), "q0", state)
    found = out.state.qubit("q0").drive_frequency_hz.value
    assert abs(found - f_true) < 100e3, (found - f_true, out.results.message)


def test_ramsey_without_fringes_is_bad() -> None:
    delays = np.arange(51) * 100e-9
    data = _ramsey_data(5.0e9, 5.0e9, 1.0e6, 5e-6, delays, 500, contrast=0.0)  # flat ½
    results = Ramsey().analyze(data)
    assert results.verdict == "bad", results.message
    assert results.changes == {}


# --- Hahn echo -----------------------------------------------------------------------


def test_echo_t2_within_ten_percent(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    routine = T2Echo()
    outcome = bench.run(routine, "q0", state)  # also: its run file re-fits identically
    results = outcome.results
    t2_true = bench.truth.qubits["q0"].t2_s
    assert results.verdict == "good", results.message
    cal = outcome.state.qubit("q0")
    assert cal.t2_echo_s is not None and cal.t2_echo_s.run_id == outcome.run_id
    assert cal.t2_echo_s.value == pytest.approx(t2_true, rel=0.1), (results.values, t2_true)
    # the axes: the total free time and each half, in seconds
    run = read_run(outcome.run_file)
    total, half = run.axes["delay_s"], run.axes["half_delay_s"]
    assert total.unit == "s" and half.unit == "s"
    assert total.values.shape == half.values.shape == (routine.points,)
    assert np.array_equal(total.values, 2 * half.values)
    setup = routine.parse_setup(run.routine["setup"])
    assert isinstance(setup, T2EchoSetup)
    assert total.values[-1] == pytest.approx(setup.span_s, rel=1e-3)
    # not the mirror image: the model drawn is of the points drawn
    panel, points, line = _panel(results)
    assert (panel.x_unit, panel.x_scale, panel.y_label) == ("s", "linear", "P(|1⟩)")
    assert np.array_equal(points.x, total.values)
    assert len(line.x) == DENSE_POINTS and line.x[0] == 0.0 == points.x[0]
    assert results.r_squared is not None and results.r_squared > 0.8
    assert results.r_squared == pytest.approx(
        r_squared(points.y, _echo_model(results, points.x)), abs=1e-12
    )
    assert np.allclose(line.y, _echo_model(results, line.x))
    assert abs(line.y[0] - points.y[0]) < 0.05, (line.y[0], points.y[0])
    assert points.y[0] < 0.1 and results.values["baseline"] == pytest.approx(0.5, abs=0.1)


def _echo_data(t2: float, totals: NDArray[np.float64], shots: int) -> Data[T2EchoSetup]:
    p1 = 0.5 - 0.47 * np.exp(-totals / t2)
    rng = np.random.default_rng(2)
    ones = rng.random((totals.size, shots)) < p1[:, None]
    iq = np.where(ones, 1.0, -1.0) + 0.05 * rng.standard_normal(ones.shape)
    setup = T2EchoSetup(discriminator=DISC, span_s=float(totals[-1]), expected_t2_s=t2)
    return Data(
        routine="t2_echo",
        qubit="q0",
        setup=setup,
        axes={
            "delay_s": Axis.of("delay_s", totals, "s", "total free time"),
            "half_delay_s": Axis.of("half_delay_s", totals / 2, "s", "half"),
        },
        signals={"q0": Signal.iq(iq, "q0")},
    )


def test_echo_fit_is_of_the_plotted_population() -> None:
    """T2HahnAnalysis fits P(|0⟩); what is drawn and scored is P(|1⟩), points and model."""
    t2 = 25e-6
    totals = np.concatenate(([0.0], np.geomspace(100e-9, 100e-6, 16)))
    results = T2Echo().analyze(_echo_data(t2, totals, 6000))
    assert results.verdict == "good", results.message
    assert results.values["t2_echo_s"] == pytest.approx(t2, rel=0.08)
    assert results.values["amplitude"] == pytest.approx(-0.47, abs=0.03)
    assert results.values["baseline"] == pytest.approx(0.5, abs=0.03)
    assert results.changes["t2_echo_s"].value == results.values["t2_echo_s"]
    _, points, line = _panel(results)
    assert results.r_squared is not None and results.r_squared > 0.95
    assert results.r_squared == pytest.approx(
        r_squared(points.y, _echo_model(results, points.x)), abs=1e-12
    )
    assert abs(line.y[0] - points.y[0]) < 0.02 and line.y[0] < 0.1
    assert line.y[-1] > line.y[0]  # rising, as the data: not its mirror image


def test_echo_without_a_discriminator_the_plan_refuses(bench: Bench) -> None:
    with pytest.raises(CalibrationError, match="discriminat"):
        T2Echo().plan("q0", bench.truth_state(), bench.lab.station)


def test_echo_plan_expected_t2_from_what_is_stored() -> None:
    station = default_station({"f0": ["q0", "q1"]}, seed=12)
    state = design_state(random_chip(2, 12), station).with_qubit(
        "q0", iq_angle_rad=CalValue.design(0.0), threshold=CalValue.design(0.0)
    )
    routine = T2Echo()
    assert routine.plan("q0", state, station).setup.expected_t2_s == routine.t2_guess_s
    state = state.with_qubit("q0", t1_s=CalValue.design(30e-6))
    plan = routine.plan("q0", state, station)
    assert plan.setup.expected_t2_s == 60e-6 and plan.setup.span_s == pytest.approx(240e-6)
    state = state.with_qubit("q0", t2_s=CalValue.design(20e-6))
    assert routine.plan("q0", state, station).setup.expected_t2_s == 20e-6
    state = state.with_qubit("q0", t2_echo_s=CalValue.design(35e-6))
    plan = routine.plan("q0", state, station)
    assert plan.setup.expected_t2_s == 35e-6
    total, half = plan.axes
    assert (total.name, half.name) == ("delay_s", "half_delay_s")
    assert np.array_equal(total.values, 2 * half.values) and total.values.size == plan.steps
    assert math.isclose(total.values[-1], plan.setup.span_s, rel_tol=1e-3)
