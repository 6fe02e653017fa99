"""Resonator spectroscopy through the digitizer on random chips whose resonators moved.

The truth chip's readout resonator of q0 sits ``shift`` away from the design; the routine
starts at the design readout frequency. Compared: the fitted resonance with the bare
resonator frequency of the truth (the |0⟩ resonance: S_0 = 0 in the readout model).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHIPS, Bench, nearby_device

from qneko_hw.analysis import DENSE_POINTS
from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.config import Chip, default_station, random_chip
from qneko_hw.config.calibration import CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.runfile import read_run
from qneko_hw.simulated_instruments.lab import SimulatedLab


def moved(chip: Chip, resonator: str, shift_hz: float) -> Chip:
    res = {k: v.model_dump() for k, v in chip.resonators.items()}
    r = chip.resonators[resonator]
    res[resonator] = r.replace(frequency_hz=r.frequency_hz + shift_hz).model_dump()
    return chip.replace(resonators=res)


@pytest.mark.parametrize(
    ("chip", "shift_hz"), [(CHIPS[0], 1.3e6), (CHIPS[1], -2.1e6), (CHIPS[0], 11.7e6)]
)
def test_resonance_within_20_khz(
    tmp_path: Path, chip: tuple[int, float, float], shift_hz: float
) -> None:
    """From the design value (never measured): a search of ±30 MHz finds the resonance,
    also 11.7 MHz away (fabrication: σ ≈ 3 MHz); then a narrow sweep around it."""
    seed, fab = chip
    design = random_chip(2, seed)
    truth = moved(nearby_device(design, fab), "r0", shift_hz)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    routine = ResonatorSpectroscopy()
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        bench = Bench(design, truth, station, lab, instruments, tmp_path)
        state = design_state(design, station)
        search = bench.run(routine, "q0", state)
        narrow = bench.run(routine, "q0", search.state)
    r = truth.resonators["r0"]
    for outcome, points in ((search, routine.search_points), (narrow, routine.points)):
        fit = outcome.results
        assert fit.verdict == "good", fit.message
        found = outcome.state.qubit("q0").readout_frequency_hz
        assert found.value == pytest.approx(r.frequency_hz, abs=20e3), (found, r.frequency_hz)
        assert found.uncertainty is not None and found.uncertainty < 20e3
        assert found.run_id == outcome.run_id
        # an effective linewidth: the window integrates the ring-up too
        assert r.kappa_hz < fit.values["kappa_hz"] < 1.3 * r.kappa_hz
        run = read_run(outcome.run_file)
        assert run.axes["frequency_hz"].unit == "Hz"
        assert run.axes["frequency_hz"].values.size == points
        assert fit.figure is not None
        *_, magnitude, plane = fit.figure.panels
        assert magnitude.x_unit == "Hz" and magnitude.y_unit == "V"
        model = next(s for s in magnitude.series if s.kind == "line")
        assert len(model.x) == DENSE_POINTS
        assert magnitude.r_squared is not None and magnitude.r_squared > 0.9
        assert plane.r_squared == fit.r_squared
    # the search shows the whole trace with the fitted dip; the narrow sweep its points
    assert search.results.values["dips_found"] >= 1 and "nearest the design" in (
        search.results.message
    )
    (wide,) = search.results.figure.panels[:1]  # type: ignore[union-attr]
    assert len(next(s for s in wide.series if s.kind == "points").x) == routine.search_points
    narrow_points = next(
        s
        for s in narrow.results.figure.panels[0].series  # type: ignore[union-attr]
        if s.kind == "points"
    )
    assert narrow_points.x == tuple(read_run(narrow.run_file).axes["frequency_hz"].values)


def test_a_search_with_two_dips_takes_the_one_nearest_the_design(tmp_path: Path) -> None:
    """A neighbour's resonator 22 MHz away sits inside the ±30 MHz search of r0: r0's dip
    (nearest its design value) is fitted and the neighbour's reported."""
    design = random_chip(2, 11)
    r0 = design.resonators["r0"]
    res = {k: v.model_dump() for k, v in design.resonators.items()}
    res["r1"] = {**res["r1"], "frequency_hz": r0.frequency_hz + 22e6}
    close = design.replace(resonators=res)
    truth = moved(close, "r0", 3e6)
    station = default_station({"f0": ["q0", "q1"]}, seed=11)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        bench = Bench(close, truth, station, lab, instruments, tmp_path)
        outcome = bench.run(ResonatorSpectroscopy(), "q0", design_state(close, station))
    found = outcome.state.qubit("q0").readout_frequency_hz.value
    assert found == pytest.approx(truth.resonators["r0"].frequency_hz, abs=20e3)
    others = outcome.results.vectors["other_dips_hz"]
    assert len(others) == 1 and abs(others[0] - truth.resonators["r1"].frequency_hz) < 1e6


def test_no_resonance_in_the_sweep_is_bad(tmp_path: Path) -> None:
    """A sweep far from any resonator: the verdict is bad and nothing is changed."""
    design = random_chip(2, 11)
    station = default_station({"f0": ["q0", "q1"]}, seed=11)
    state = design_state(design, station)
    resonators = sorted(r.frequency_hz for r in design.resonators.values())
    empty = resonators[0] - 80e6  # no resonator within 80 MHz of the sweep
    far = state.with_qubit("q0", readout_frequency_hz=CalValue.design(empty))
    with SimulatedLab(design, station) as lab, connect(lab.station) as instruments:
        bench = Bench(design, design, station, lab, instruments, tmp_path)
        outcome = bench.run_unchecked(ResonatorSpectroscopy(points=21), "q0", far)
    assert outcome.results.verdict == "bad", outcome.results.message
    assert outcome.error is not None and outcome.state == far
    assert outcome.results.changes == {}
