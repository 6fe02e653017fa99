"""Single-shot discrimination on random chips against the best threshold the chip allows,
and its fit on synthetic blobs of known separation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import Bench, best_assignment_fidelity

from qneko_hw.analysis import DENSE_POINTS, r_squared
from qneko_hw.calibrations.discrimination import (
    SCATTER_SHOTS,
    Discrimination,
    DiscriminationSetup,
    gaussian_fidelity,
    mixture_density,
)
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.discrimination import classify, excited_probability, rotate
from qneko_hw.plot.figures import Figure
from qneko_hw.pulses import Drag
from qneko_hw.runfile import read_run


def check_figure(fig: Figure | None, values: dict[str, float], r2: float | None) -> None:
    """The IQ blobs with the threshold line, the histograms with the mixture, R² of it."""
    assert fig is not None and len(fig.panels) == 2
    iq, hist = fig.panels
    assert (iq.x_unit, iq.y_unit) == ("V", "V")
    scatters = [s for s in iq.series if s.kind == "scatter"]
    assert len(scatters) == 2
    assert all(0 < len(s.x) == len(s.y) <= SCATTER_SHOTS for s in scatters)
    (line,) = [s for s in iq.series if s.kind == "line"]
    ends = np.asarray(line.x) + 1j * np.asarray(line.y)
    # both ends on the threshold, far apart along the blob axis' normal
    assert rotate(ends, values["iq_angle_rad"]) == pytest.approx(
        [values["threshold_v"]] * 2, abs=1e-9
    )
    assert abs(ends[1] - ends[0]) > 2 * values["sigma_v"]
    assert hist.x_unit == "V"
    hists = [s for s in hist.series if s.kind == "hist"]
    lines = [s for s in hist.series if s.kind == "line"]
    (vline,) = [s for s in hist.series if s.kind == "vline"]
    assert len(hists) == 2 and len(lines) == 2
    assert all(len(s.x) == DENSE_POINTS for s in lines)
    assert vline.x == (values["threshold_v"],)
    assert "F_gauss" in hist.note and "P(1|0)" in hist.note and "P(0|1)" in hist.note
    # R² is that of the mixture (from the fitted values) against the plotted counts
    counts, model = [], []
    for s, w in zip(hists, ("excited_fraction_0", "excited_fraction_1"), strict=True):
        edges, c = np.asarray(s.x), np.asarray(s.y)
        assert c.size == edges.size - 1
        width = float(edges[1] - edges[0])
        centres = 0.5 * (edges[1:] + edges[:-1])
        counts.append(c)
        model.append(
            c.sum()
            * width
            * mixture_density(
                centres, values["centre_0_v"], values["centre_1_v"], values["sigma_v"], values[w]
            )
        )
    assert r2 is not None and hist.r_squared == r2
    assert r2 == pytest.approx(r_squared(np.concatenate(counts), np.concatenate(model)), abs=1e-9)


def test_fidelity_within_one_percent_of_the_best_threshold(bench: Bench) -> None:
    """Compared: the routine's empirical fidelity F = 1 − ½[P(1|0) + P(0|1)] against the
    best threshold fidelity on the truth distributions *including* thermal population of
    |0⟩, the π pulse with decoherence and T1 decay during the readout (see
    ``best_assignment_fidelity``); the decay-free ``assignment_fidelity_truth`` is only an
    upper bound."""
    state = bench.truth_state()
    for q in ("q0", "q1"):
        outcome = bench.run(Discrimination(shots=2000), q, state)
        res = outcome.results
        best, bound = best_assignment_fidelity(bench.truth, bench.station, state, q)
        found = res.values["assignment_fidelity"]
        assert res.verdict == "good", res.message
        assert found == pytest.approx(best, abs=0.01), (q, found, best, bound)
        assert found < bound + 0.01
        # the fitted blobs predict at least what the thermal, decaying preparations give
        assert res.values["gaussian_fidelity"] >= found - 0.01
        cal = outcome.state.qubit(q)
        assert cal.assignment_fidelity is not None and cal.threshold is not None
        assert cal.iq_angle_rad is not None
        assert cal.assignment_fidelity.value == found
        assert cal.threshold.value == res.values["threshold_v"]
        assert cal.iq_angle_rad.value == res.values["iq_angle_rad"]
        assert cal.assignment_fidelity.run_id == outcome.run_id
        check_figure(res.figure, res.values, res.r_squared)
        assert res.r_squared is not None and res.r_squared > 0.9
        run = read_run(outcome.run_file)
        assert run.axes["prepared"].unit == "" and run.axes["prepared"].values.tolist() == [0, 1]
        assert run.axes["amplitude_v"].unit == "V"
        assert run.axes["amplitude_v"].values[1] == state.qubit(q).pi_amplitude_v.value
        state = outcome.state


def _data(shots: np.ndarray) -> Data[DiscriminationSetup]:
    pulse = Drag(amplitude_v=0.0, duration_s=40e-9, sigma_s=10e-9)
    return Data(
        routine="discrimination",
        qubit="q0",
        setup=DiscriminationSetup(pulse=pulse, pi_amplitude_v=0.1),
        axes={
            "prepared": Axis.of("prepared", [0, 1], "", "prepared state"),
            "amplitude_v": Axis.of("amplitude_v", [0.0, 0.1], "V", "amplitude"),
        },
        signals={"q0": Signal.iq(shots, "q0")},
    )


def _blobs(separation_v: float, sigma_v: float, n: int, angle_rad: float) -> np.ndarray:
    rng = np.random.default_rng(5)
    noise = rng.normal(0, sigma_v, (2, n)) + 1j * rng.normal(0, sigma_v, (2, n))
    centres = np.array([[0.0], [separation_v]]) * np.exp(1j * angle_rad) + (0.3 - 0.2j) * 1e-3
    return centres + noise


def test_fit_of_known_blobs() -> None:
    """Gaussian blobs 4 σ apart: angle, threshold midway, both fidelities, the figure."""
    sigma, d, angle, n = 1e-4, 4e-4, 0.7, 4000
    routine = Discrimination(shots=n)
    res = routine.analyze(_data(_blobs(d, sigma, n, angle)))
    v = res.values
    assert res.verdict == "good", res.message
    assert v["iq_angle_rad"] == pytest.approx(angle, abs=0.01)
    expected = gaussian_fidelity(d, sigma)
    assert expected == pytest.approx(0.5 * (1 + math.erf(2 / math.sqrt(2))))
    assert v["gaussian_fidelity"] == pytest.approx(expected, abs=0.005)
    assert v["assignment_fidelity"] == pytest.approx(expected, abs=0.01)
    assert v["sigma_v"] == pytest.approx(sigma, rel=0.03)
    assert v["snr"] == pytest.approx(4.0, rel=0.03)
    midway = float(rotate(np.array([(0.3 - 0.2j) * 1e-3]), v["iq_angle_rad"])[0]) + d / 2
    assert v["threshold_v"] == pytest.approx(midway, abs=0.2 * sigma)
    assert v["p1_given_0"] == pytest.approx(1 - expected, abs=0.01)
    assert v["p0_given_1"] == pytest.approx(1 - expected, abs=0.01)
    assert v["excited_fraction_0"] < 0.01 and v["excited_fraction_1"] > 0.99
    check_figure(res.figure, v, res.r_squared)
    assert res.r_squared is not None and res.r_squared > 0.97
    assert set(res.changes) == {"iq_angle_rad", "threshold", "assignment_fidelity"}
    assert res.changes["threshold"].value == v["threshold_v"]
    # scatter subsample: every other shot of 4000 → 1000, deterministic
    assert res.figure is not None
    assert len(res.figure.panels[0].series[0].x) == SCATTER_SHOTS
    assert routine.fit(_data(_blobs(d, sigma, n, angle))) == routine.fit(
        _data(_blobs(d, sigma, n, angle))
    )


def test_unresolved_blobs_are_bad_and_change_nothing() -> None:
    res = Discrimination().analyze(_data(_blobs(0.5e-4, 1e-4, 2000, 0.0)))
    assert res.verdict == "bad", res.message
    assert res.changes == {}
    check_figure(res.figure, res.values, res.r_squared)


def test_wrong_shape_fails_with_the_data_alone() -> None:
    res = Discrimination().fit(_data(_blobs(4e-4, 1e-4, 5, 0.0)))
    assert res.verdict == "bad" and "≥ 10 shots" in res.message
    assert res.figure is not None and len(res.figure.panels) == 1
    assert [s.kind for s in res.figure.panels[0].series] == ["scatter", "scatter"]
    same = Discrimination().fit(_data(np.ones((2, 50), dtype=np.complex64)))
    assert same.verdict == "bad" and "same mean" in same.message


def test_classify_convention() -> None:
    shots = np.array([[1 + 1j, -1 - 1j], [2j, -2j]], dtype=np.complex64)
    angle = np.pi / 4
    assert classify(shots, angle, 0.0).tolist() == [[True, False], [True, False]]
    p, err = excited_probability(shots, angle, 0.0)
    assert p.tolist() == [0.5, 0.5] and np.all(err > 0)
