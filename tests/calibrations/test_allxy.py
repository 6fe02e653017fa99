"""AllXY on a random chip: tuned gates give the staircase; a π amplitude 10 % high does not.

Gates are set from truth (``tuned_gates`` of the RB tests: DRAG β, π and π/2 amplitudes of
maximal closed-system process fidelity); the discriminator comes from the Discrimination
routine.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CHIPS, Bench
from test_rb import tuned_gates

from qneko_hw.analysis import Results
from qneko_hw.calibrations.allxy import ALLXY_PAIRS, IDEAL, AllXY, AllXYSetup
from qneko_hw.calibrations.runner import RoutineOutcome
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.data import Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError
from qneko_hw.runfile import read_run


def check_run(outcome: RoutineOutcome, shots: int) -> None:
    """The run file's pair axis (dimensionless, 0 … 20) and the shots of its 21 circuits;
    the figure: the corrected P(|1⟩) per pair and the ideal staircase, no fit (no R²)."""
    run = read_run(outcome.run_file)
    assert list(run.axes) == ["pair"]
    assert run.axes["pair"].unit == "" and run.axes["pair"].values.tolist() == list(range(21))
    assert run.signals["c0"].values.shape == (21, shots)
    AllXYSetup.model_validate_json(run.routine["setup"])
    check_figure(outcome.results)


def check_figure(results: Results) -> None:
    assert results.figure is not None and results.r_squared is None
    panel = results.figure.panels[0]
    assert (panel.x_unit, panel.y_unit) == ("", "")
    data, ideal = (s for s in panel.series if s.kind == "points")
    assert data.x == ideal.x == tuple(float(k) for k in range(21))
    assert ideal.y == IDEAL and len(data.yerr) == 21


@pytest.mark.parametrize("bench", [CHIPS[0]], indirect=True, ids=[f"seed{CHIPS[0][0]}"])
def test_good_gates_small_deviation_bad_pi_amplitude_large(bench: Bench) -> None:
    q = "q0"
    state = tuned_gates(bench.truth, bench.station, bench.discriminated_state(q), q)
    good = bench.run(AllXY(shots=500), q, state)
    assert good.state == state
    assert good.results.verdict == "good", good.results.message
    assert good.results.changes == {}
    dev_good = good.results.values["deviation"]
    assert dev_good < 0.04, good.results.values
    check_run(good, 500)

    pi = state.qubit(q).pi_amplitude_v.value
    bad_state = state.with_qubit(q, pi_amplitude_v=CalValue(value=1.1 * pi))
    outcome = bench.run(AllXY(shots=500), q, bad_state)
    bad = outcome.results
    assert bad.verdict == "poor", bad.message
    assert outcome.state == bad_state  # a check calibrates nothing, poor or good
    assert bad.values["deviation"] > 3 * dev_good and bad.values["deviation"] > 0.08
    # π pulses over-rotate by 0.1·π: xX etc. end at P = ½ − ½·sin(0.1·π) ≈ 0.35 (raw; the
    # readout correction from the first five pairs, which the error lifts too, adds to it)
    assert bad.values["amplitude_error"] > 0.1, bad.values
    assert abs(good.results.values["amplitude_error"]) < 0.04
    check_run(outcome, 500)


def test_pairs_and_staircase() -> None:
    assert len(ALLXY_PAIRS) == len(IDEAL) == 21 and len(set(ALLXY_PAIRS)) == 21


def test_plan_without_discriminator_raises() -> None:
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    with pytest.raises(CalibrationError, match="discriminator"):
        AllXY().plan("q0", design_state(chip, station), station)


def test_fit_without_contrast_is_bad() -> None:
    """Shots that never cross the threshold: no |0⟩/|1⟩ contrast, a bad result."""
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station).with_qubit(
        "q0", iq_angle_rad=CalValue.design(0.0), threshold=CalValue.design(0.0)
    )
    routine = AllXY(shots=50)
    plan = routine.plan("q0", state, station)
    assert plan.setup == AllXYSetup(discriminator=Discriminator(iq_angle_rad=0.0, threshold_v=0.0))
    data = Data(
        routine=routine.name,
        qubit="q0",
        setup=plan.setup,
        axes={a.name: a for a in plan.axes},
        signals={"c0": Signal.iq(-np.ones((21, 50)), "c0")},
    )
    results = routine.analyze(data)
    assert results.verdict == "bad" and "contrast" in results.message
    assert results.changes == {}
