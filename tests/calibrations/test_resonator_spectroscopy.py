"""Resonator spectroscopy through the digitizer on random chips whose resonators moved.

The truth chip's readout resonator of q0 sits ``shift`` away from the design; the routine
starts at the design readout frequency. Compared: the fitted resonance with the bare
resonator frequency of the truth (the |0⟩ resonance: S_0 = 0 in the readout model).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHIPS, Bench, perturbed

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


@pytest.mark.parametrize(("chip", "shift_hz"), [(CHIPS[0], 1.3e6), (CHIPS[1], -2.1e6)])
def test_resonance_within_20_khz(
    tmp_path: Path, chip: tuple[int, float, float], shift_hz: float
) -> None:
    seed, offset, factor = chip
    design = random_chip(2, seed)
    truth = moved(perturbed(design, offset, factor), "r0", shift_hz)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        bench = Bench(design, truth, station, lab, instruments, tmp_path)
        state = design_state(design, station)
        outcome = bench.run(ResonatorSpectroscopy(), "q0", state)
    fit = outcome.results
    r = truth.resonators["r0"]
    assert fit.verdict == "good", fit.message
    found = outcome.state.qubit("q0").readout_frequency_hz
    assert found.value == pytest.approx(r.frequency_hz, abs=20e3), (found, r.frequency_hz)
    assert found.uncertainty is not None and found.uncertainty < 20e3
    assert found.run_id == outcome.run_id
    # an effective linewidth: the window integrates the ring-up too
    assert r.kappa_hz < fit.values["kappa_hz"] < 1.3 * r.kappa_hz
    # the run file: frequencies as the axis, |z| and the IQ plane with the dense model
    run = read_run(outcome.run_file)
    assert run.axes["frequency_hz"].unit == "Hz" and run.axes["frequency_hz"].values.size == 41
    assert fit.figure is not None
    magnitude, plane = fit.figure.panels
    assert magnitude.x_unit == "Hz" and magnitude.y_unit == "V"
    model = next(s for s in magnitude.series if s.kind == "line")
    assert len(model.x) == DENSE_POINTS
    points = next(s for s in magnitude.series if s.kind == "points")
    assert points.x == tuple(run.axes["frequency_hz"].values)
    assert magnitude.r_squared is not None and magnitude.r_squared > 0.9
    assert plane.r_squared == fit.r_squared


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
