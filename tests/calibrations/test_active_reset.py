"""Reset check (measure–wait–measure, no feedback pulse) on the perturbed chips.

After a wait of 5·T1 an excited qubit has decayed to e^{−5} ≈ 0.7 % (plus the thermal
population and the readout's assignment errors, a few %): the check is good. After a wait of
0.1·T1 most is still excited (e^{−0.1}, less the decay during the readout and the
assignment errors): the check reports it as poor.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import Bench

from qneko_hw.analysis import Results
from qneko_hw.calibrations.active_reset import ResetCheck, ResetCheckSetup
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError
from qneko_hw.runfile import read_run


def check_figure(res: Results, max_residual: float) -> None:
    """P(m0 = 1) and P(m1 = 1) per preparation with error bars, the max_residual line."""
    assert res.figure is not None and res.r_squared is None  # a check: nothing fitted
    (panel,) = res.figure.panels
    points = [s for s in panel.series if s.kind == "points"]
    assert [s.label for s in points] == ["P(m0 = 1)", "P(m1 = 1)"]
    assert all(s.x == (0.0, 1.0) and len(s.yerr) == 2 for s in points)
    (line,) = [s for s in panel.series if s.kind == "hline"]
    assert line.y == (max_residual,)
    assert panel.y_unit == "" and panel.x_unit == ""


def test_long_wait_leaves_little_short_wait_much(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    t1 = bench.truth.qubits["q0"].t1_s
    long = bench.run(ResetCheck(shots=1000, wait_s=5 * t1), "q0", state)
    res = long.results
    assert res.verdict == "good", res.message
    assert res.values["excited_first"] > 0.8
    assert res.values["residual_after_excited"] < 0.05
    assert long.state == state
    assert res.changes == {}
    assert res.values["wait_s"] == pytest.approx(5 * t1, abs=1e-9)
    check_figure(res, 0.05)
    # the π preparation's first measurement is the excited point of the figure
    assert res.figure is not None
    assert res.figure.panels[0].series[0].y[1] == res.values["excited_first"]
    run = read_run(long.run_file)
    assert run.axes["prepared"].unit == "" and run.axes["prepared"].values.tolist() == [0, 1]
    assert set(run.signals) == {"q0_m0", "q0_m1"}
    short = bench.run(ResetCheck(shots=1000, wait_s=0.1 * t1), "q0", state)
    sres = short.results
    assert sres.verdict == "poor", sres.message
    assert short.state == state
    # left in |1⟩ after an excited first outcome: decay over the wait and (about) one
    # readout, e^{−(wait + t_ro)/T1}; within 0.1 for the assignment errors (~5 %), the
    # unknown instant the first readout projects, and the binomial noise (σ ≈ 0.015)
    t_ro = state.qubit("q0").readout_duration_s.value
    expected = math.exp(-(0.1 * t1 + t_ro) / t1)
    assert abs(sres.values["residual_after_excited"] - expected) < 0.1, (sres.values, expected)
    assert sres.values["residual_excited_population"] > 0.3
    check_figure(sres, 0.05)


def test_plan_needs_a_discriminator(bench: Bench) -> None:
    with pytest.raises(CalibrationError, match="needs a discriminator"):
        ResetCheck().plan("q0", bench.truth_state(), bench.station)


def _data(first: np.ndarray, second: np.ndarray) -> Data[ResetCheckSetup]:
    setup = ResetCheckSetup(
        discriminator=Discriminator(iq_angle_rad=0.0, threshold_v=0.5), wait_s=1e-6
    )
    return Data(
        routine="active_reset",
        qubit="q0",
        setup=setup,
        axes={"prepared": Axis.of("prepared", [0, 1], "", "prepared state")},
        signals={"q0_m0": Signal.iq(first, "q0_m0"), "q0_m1": Signal.iq(second, "q0_m1")},
    )


def test_fit_counts_with_the_recorded_discriminator() -> None:
    n = 1000
    first = np.zeros((2, n))
    first[1, :900] = 1.0  # the π preparation found excited in 90 % of shots
    second = np.zeros((2, n))
    second[1, :90] = 1.0  # 10 % of those still excited after the wait
    res = ResetCheck(max_residual=0.05).analyze(_data(first, second))
    assert res.verdict == "poor", res.message
    assert res.values["excited_first"] == 0.9
    assert res.values["residual_after_excited"] == pytest.approx(0.1)
    assert res.values["residual_excited_population"] == pytest.approx(90 / 2000)
    assert res.changes == {}
    check_figure(res, 0.05)
    none_excited = ResetCheck().analyze(_data(np.zeros((2, n)), np.zeros((2, n))))
    assert none_excited.verdict == "bad" and "no π preparation" in none_excited.message
    check_figure(none_excited, 0.05)
