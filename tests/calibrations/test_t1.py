"""T1 on random chips, analysed by qiskit-experiments' T1Analysis on classified shots.

End to end on the bench (the routine starts from design values on a device that differs
from them), the plan's programs and axes, and the fit on synthetic shots.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest
from conftest import Bench
from numpy.typing import ArrayLike, NDArray

from qneko_hw import instruments
from qneko_hw.analysis import DENSE_POINTS, Results, r_squared
from qneko_hw.calibrations.routine import Programs
from qneko_hw.calibrations.t1 import T1, T1Setup
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError
from qneko_hw.plot.figures import Series
from qneko_hw.runfile import read_run

#: Shots are +1 V (|1⟩) or −1 V (|0⟩) with noise: this discriminator reads them exactly.
DISC = Discriminator(iq_angle_rad=0.0, threshold_v=0.0)


def _series(results: Results) -> tuple[Series, Series]:
    assert results.figure is not None
    (panel,) = results.figure.panels
    points = next(s for s in panel.series if s.kind == "points")
    line = next(s for s in panel.series if s.kind == "line")
    return points, line


def _decay(results: Results, key: str, t: ArrayLike) -> NDArray[np.float64]:
    """The P(|1⟩) model the results describe, at delays ``t`` (s)."""
    v = results.values
    return np.asarray(v["amplitude"] * np.exp(-np.asarray(t) / v[key]) + v["baseline"])


def test_t1_within_ten_percent_of_truth(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    routine = T1()
    outcome = bench.run(routine, "q0", state)  # also: its run file re-fits identically
    results = outcome.results
    expected = bench.truth.qubits["q0"].t1_s
    assert results.verdict == "good", results.message
    assert results.values["t1_s"] == pytest.approx(expected, rel=0.1), (results.values, expected)
    t1 = outcome.state.qubit("q0").t1_s
    assert t1 is not None and t1.value == results.values["t1_s"] and t1.run_id == outcome.run_id
    assert t1.uncertainty == results.uncertainties["t1_s"]
    # the run file: one delay per step across every program, in seconds
    run = read_run(outcome.run_file)
    delay = run.axes["delay_s"]
    assert delay.unit == "s" and delay.values.shape == (routine.points,)
    assert delay.values[0] == 0.0 and np.all(np.diff(delay.values) > 0)
    assert run.signals["q0"].values.shape == (routine.points, routine.shots)
    # the figure: P(|1⟩) against the delay (s), the model on a dense grid, R² of what is drawn
    assert results.figure is not None
    (panel,) = results.figure.panels
    assert (panel.x_unit, panel.x_scale, panel.y_label, panel.y_unit) == (
        "s",
        "linear",
        "P(|1⟩)",
        "",
    )
    points, line = _series(results)
    assert np.array_equal(points.x, delay.values)
    assert len(line.x) == DENSE_POINTS and line.x[0] == 0.0 and line.x[-1] == delay.values[-1]
    assert np.allclose(line.y, _decay(results, "t1_s", line.x))
    r2 = r_squared(points.y, _decay(results, "t1_s", points.x))
    assert results.r_squared == pytest.approx(r2, abs=1e-12) and r2 > 0.95
    assert panel.r_squared == results.r_squared


def test_without_a_discriminator_the_plan_refuses(bench: Bench) -> None:
    state = bench.truth_state()
    routine = T1(points=6, shots=50)
    with pytest.raises(CalibrationError, match="discriminat") as info:
        routine.plan("q0", state, bench.lab.station)
    assert info.value.qubit == "q0"
    with pytest.raises(CalibrationError, match="discriminat"):
        bench.run_unchecked(routine, "q0", state)


# --- the plan, without a lab ---------------------------------------------------------


def _discriminated(state: CalibrationState) -> CalibrationState:
    for q in state.qubits:
        state = state.with_qubit(
            q, iq_angle_rad=CalValue.design(0.3), threshold=CalValue.design(0.0)
        )
    return state


@pytest.fixture
def station() -> Station:
    return default_station({"f0": ["q0", "q1"]}, seed=11)


def test_split_programs_carry_one_delay_per_step_and_the_same_split_for_every_qubit(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the AWG4 repeats sequence entries: a delay costs no memory, the sweep is one program
    state = _discriminated(design_state(random_chip(2, 11), station))
    long = T1(points=17, t1_guess_s=150e-6, max_span_s=800e-6).plan("q0", state, station)
    assert isinstance(long.measurement, Programs) and len(long.measurement.items) == 1
    assert long.measurement.items[0].experiment.steps == 17
    # an AWG that plays one waveform per step: the delays are split to fit its memory
    spec = instruments.model("qneko_awg4")
    assert spec.awg is not None
    dense = dataclasses.replace(spec, awg=dataclasses.replace(spec.awg, repeats=False))
    table = MappingProxyType({**instruments.MODELS, "qneko_awg4": dense})
    monkeypatch.setattr(instruments, "MODELS", table)
    # a long span: the delays do not fit one program
    routine = T1(points=17, t1_guess_s=150e-6, max_span_s=800e-6)
    plans = {
        q: routine.plan(q, state.with_qubit(q, t1_s=CalValue.design(t1)), station)
        for q, t1 in (("q0", 150e-6), ("q1", 40e-6))
    }
    sizes = set()
    for q, plan in plans.items():
        assert isinstance(plan.measurement, Programs)
        items = plan.measurement.items
        assert len(items) > 1
        sizes.add(tuple(p.experiment.steps for p in items))
        swept = np.concatenate([p.experiment.sweep.values for p in items])  # type: ignore[union-attr]
        (axis,) = plan.axes
        assert (axis.name, axis.unit) == ("delay_s", "s")
        assert np.array_equal(axis.values, swept) and axis.values.size == plan.steps == 17
        setup = plan.setup
        assert isinstance(setup, T1Setup)
        assert setup.discriminator == Discriminator(iq_angle_rad=0.3, threshold_v=0.0)
        assert setup.span_s == pytest.approx(axis.values[-1], abs=1e-9)
        assert setup.expected_t1_s == (150e-6 if q == "q0" else 40e-6)
        assert setup.span_s == pytest.approx(4 * setup.expected_t1_s)
    assert len(sizes) == 1  # the same programs of the same sizes: multiplexable


def test_with_nothing_stored_the_span_is_the_guess(station: Station) -> None:
    state = _discriminated(design_state(random_chip(2, 11), station))
    plan = T1(t1_guess_s=50e-6).plan("q0", state, station)
    assert plan.setup.expected_t1_s == 50e-6
    assert plan.setup.span_s == pytest.approx(200e-6)


# --- the fit, on synthetic shots -----------------------------------------------------


def _data(
    delays: NDArray[np.float64], p1: NDArray[np.float64], shots: int, seed: int = 0
) -> Data[T1Setup]:
    rng = np.random.default_rng(seed)
    ones = rng.random((delays.size, shots)) < p1[:, None]
    iq = np.where(ones, 1.0, -1.0) + 0.05 * rng.standard_normal(ones.shape)
    setup = T1Setup(
        discriminator=DISC, span_s=float(delays[-1]), expected_t1_s=float(delays[-1]) / 4
    )
    return Data(
        routine="t1",
        qubit="q0",
        setup=setup,
        axes={"delay_s": Axis.of("delay_s", delays, "s", "delay")},
        signals={"q0": Signal.iq(iq, "q0")},
    )


def test_fit_of_a_known_decay() -> None:
    t1 = 30e-6
    delays = np.concatenate(([0.0], np.geomspace(120e-9, 120e-6, 16)))
    data = _data(delays, 0.94 * np.exp(-delays / t1) + 0.02, 3000)
    results = T1().analyze(data)
    assert results.verdict == "good", results.message
    assert results.values["t1_s"] == pytest.approx(t1, rel=0.05)
    assert results.values["amplitude"] == pytest.approx(0.94, abs=0.03)
    assert results.values["baseline"] == pytest.approx(0.02, abs=0.02)
    assert results.changes["t1_s"].value == results.values["t1_s"]
    points, line = _series(results)
    assert len(line.x) == DENSE_POINTS
    assert results.r_squared == pytest.approx(
        r_squared(points.y, _decay(results, "t1_s", points.x)), abs=1e-12
    )
    assert T1().analyze(data).model_dump_json() == results.model_dump_json()  # pure


def test_a_span_too_short_is_poor() -> None:
    delays = np.linspace(0.0, 20e-6, 17)
    results = T1().fit(_data(delays, 0.94 * np.exp(-delays / 30e-6) + 0.02, 3000))
    assert results.verdict == "poor", results.message
    assert "span too short" in results.message


def test_too_few_delays_are_bad_and_show_the_data() -> None:
    delays = np.linspace(0.0, 40e-6, 4)
    results = T1().analyze(_data(delays, np.exp(-delays / 10e-6), 100))
    assert results.verdict == "bad" and "too few" in results.message
    assert results.changes == {}
    assert results.figure is not None
    (panel,) = results.figure.panels
    assert [s.kind for s in panel.series] == ["points"] and panel.x_unit == "s"


def test_no_decay_is_bad() -> None:
    delays = np.concatenate(([0.0], np.geomspace(120e-9, 120e-6, 16)))
    results = T1().analyze(_data(delays, np.full(delays.size, 0.02), 3000))
    assert results.verdict == "bad", results.message
    assert results.changes == {}


def test_missing_shots_raise_for_the_runner_to_report() -> None:
    delays = np.linspace(0.0, 40e-6, 17)
    data = _data(delays, np.exp(-delays / 10e-6), 10)
    empty = Data(routine="t1", qubit="q0", setup=data.setup, axes=data.axes, signals={})
    with pytest.raises(CalibrationError, match="no shots for q0"):
        T1().fit(empty)
