"""Resonator spectroscopy through the digitizer on random chips whose resonators moved.

The truth chip's readout resonator of q0 sits ``shift`` away from the design; the routine
starts at the design readout frequency. Compared: the fitted resonance with the bare
resonator frequency of the truth (the |0⟩ resonance: S_0 = 0 in the readout model).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHIPS, Bench, perturbed

from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.config import Chip, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
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
    fit = outcome.fit
    r = truth.resonators["r0"]
    assert fit.quality == "good", fit.message
    found = outcome.state.qubit("q0").readout_frequency_hz
    assert found.value == pytest.approx(r.frequency_hz, abs=20e3), (found, r.frequency_hz)
    assert found.uncertainty is not None and found.uncertainty < 20e3
    assert found.run_id == outcome.run_id
    # an effective linewidth: the window integrates the ring-up too
    assert r.kappa_hz < fit.values["kappa_hz"] < 1.3 * r.kappa_hz
