"""DRAG β on fabricated devices against the β that zeroes the π pulse's phase error.

Truth: the closed-system propagator of the calibrated π pulse as the chip sees it (AWG
envelope with IF, attenuation; ``physics.transmon.unitary`` in the LO frame), moved to the
frame of the qubit, restricted to {|0⟩, |1⟩} and scaled to unit determinant; its
rotation axis has z-component ``Im(U₁₁ − U₀₀)/(2·sin(θ/2))``, zero at the true β.

The fit's unit tests use synthetic shots of a known sin² (no lab).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Bench, phase_error_free_beta
from numpy.typing import NDArray

from qneko_hw.analysis import DENSE_POINTS, Results, r_squared
from qneko_hw.calibrations.discrimination import Discrimination
from qneko_hw.calibrations.drag import DragBeta, DragSetup
from qneko_hw.calibrations.runner import RoutineOutcome, run_routine_multiplexed
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.data import Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.plot.figures import Series
from qneko_hw.runfile import read_run


def true_beta(bench: Bench, state: CalibrationState, qubit: str) -> float:
    return phase_error_free_beta(bench.truth, bench.station, state.qubit(qubit), qubit)


def series(results: Results, kind: str) -> list[Series]:
    assert results.figure is not None
    return [s for s in results.figure.panels[0].series if s.kind == kind]


def fitted_model(results: Results, beta: NDArray[np.float64], pairs: int) -> NDArray[np.float64]:
    """The fitted ``base + amp·sin²(c·(β − β₀))`` from the results' values (|c| per s is
    2·pairs × the phase error per β)."""
    v = results.values
    c = 2 * pairs * v["phase_error_per_beta"]
    return np.asarray(
        v["baseline"] + v["amplitude"] * np.sin(c * (beta - v["drag_beta_s"])) ** 2,
        dtype=np.float64,
    )


def check_figure(results: Results, pairs: int, *, discriminated: bool) -> None:
    """x in s, the model line on the dense grid, β₀ marked, R² that of the plotted points."""
    assert results.figure is not None
    panel = results.figure.panels[0]
    assert panel.x_unit == "s"
    assert (panel.y_label, panel.y_unit) == (
        ("P(|1⟩)", "") if discriminated else ("projected IQ signal", "V")
    )
    (points,) = series(results, "points")
    (line,) = series(results, "line")
    (mark,) = series(results, "vline")
    assert len(line.x) == DENSE_POINTS
    assert line.x[0] == points.x[0] and line.x[-1] == points.x[-1]
    assert mark.x == (results.values["drag_beta_s"],)
    x = np.asarray(points.x)
    assert results.r_squared == pytest.approx(
        r_squared(points.y, fitted_model(results, x, pairs)), abs=1e-9
    )
    assert panel.r_squared == results.r_squared


def test_drag_beta_within_ten_percent(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    expected = true_beta(bench, state, "q0")
    routine = DragBeta()
    outcome = bench.run(routine, "q0", state)
    results = outcome.results
    assert results.verdict == "good", results.message
    found = outcome.state.qubit("q0").drag_beta_s
    assert found.value == pytest.approx(expected, rel=0.1), (results.values, expected)
    assert found.uncertainty is not None and found.uncertainty < 0.05 * expected
    assert found.run_id == outcome.run_id
    assert found.value == results.values["drag_beta_s"]

    run = read_run(outcome.run_file)
    beta = run.axes["beta_s"]
    assert beta.unit == "s" and beta.values.shape == (routine.points,)
    start = state.qubit("q0").drag_beta_s.value or routine.beta_guess_s
    assert beta.values[0] == pytest.approx(start - routine.span_s)
    assert beta.values[-1] == pytest.approx(start + routine.span_s)
    setup = DragSetup.model_validate_json(run.routine["setup"])
    assert setup.discriminator == Discriminator.of(state.qubit("q0"))
    assert setup.pairs == routine.pairs and setup.pulse.beta_s == start
    check_figure(results, routine.pairs, discriminated=True)


def test_multiplexed_drag_beta_within_ten_percent(bench: Bench) -> None:
    """DRAG on both qubits at once: each β within 10 % of its own truth."""
    state = bench.truth_state()
    for q in ("q0", "q1"):
        state = bench.run(Discrimination(shots=2000), q, state).state
    got = run_routine_multiplexed(
        DragBeta(), ["q0", "q1"], state, bench.lab.station, bench.instruments, out_dir=bench.out_dir
    )
    for q, outcome in got.items():
        assert isinstance(outcome, RoutineOutcome), outcome
        assert outcome.results.verdict == "good", (q, outcome.results.message)
        found = outcome.state.qubit(q).drag_beta_s.value
        assert found == pytest.approx(true_beta(bench, state, q), rel=0.1), q
        assert read_run(outcome.run_file).multiplexed_with == tuple(k for k in got if k != q)


# --- the fit alone, on synthetic shots ------------------------------------------------


def synthetic(
    routine: DragBeta,
    beta0_s: float,
    *,
    discriminator: Discriminator | None,
    contrast: float = 0.9,
    seed: int = 0,
) -> Data[DragSetup]:
    """The plan of ``routine`` on a design state, with shots of P(|1⟩) =
    0.03 + contrast·sin²(0.8e9·(β − β₀)): |0⟩ at −1 V, |1⟩ at +1 V, noise 0.3 V."""
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station)
    if discriminator is not None:
        state = state.with_qubit(
            "q0",
            iq_angle_rad=CalValue.design(discriminator.iq_angle_rad),
            threshold=CalValue.design(discriminator.threshold_v),
        )
    plan = routine.plan("q0", state, station)
    beta = plan.axes[0].values
    p = 0.03 + contrast * np.sin(0.8e9 * (beta - beta0_s)) ** 2
    rng = np.random.default_rng(seed)
    ones = rng.random((beta.size, routine.shots)) < p[:, None]
    shots = np.where(ones, 1.0, -1.0) + 0.3 * (
        rng.standard_normal(ones.shape) + 1j * rng.standard_normal(ones.shape)
    )
    return Data(
        routine=routine.name,
        qubit="q0",
        setup=plan.setup,
        axes={a.name: a for a in plan.axes},
        signals={"q0": Signal.iq(shots, "q0")},
    )


@pytest.mark.parametrize("discriminated", [True, False])
def test_fit_finds_the_minimum(discriminated: bool) -> None:
    routine = DragBeta()
    disc = Discriminator(iq_angle_rad=0.0, threshold_v=0.0) if discriminated else None
    data = synthetic(routine, 0.5e-9, discriminator=disc)
    assert data.setup.discriminator == disc
    results = routine.analyze(data)
    assert results.verdict == "good", results.message
    assert results.values["drag_beta_s"] == pytest.approx(0.5e-9, abs=0.03e-9)
    assert results.uncertainties["drag_beta_s"] < routine.max_uncertainty_s
    assert results.changes["drag_beta_s"].value == results.values["drag_beta_s"]
    check_figure(results, routine.pairs, discriminated=discriminated)


def test_fit_without_signal_is_bad() -> None:
    routine = DragBeta()
    data = synthetic(
        routine, 0.5e-9, discriminator=Discriminator(iq_angle_rad=0.0, threshold_v=0.0), contrast=0
    )
    results = routine.analyze(data)
    assert results.verdict == "bad", results.message
    assert results.changes == {}
    assert results.figure is not None and series(results, "points")
