"""Resonator spectroscopy through the ZNB20 twin (QCoDeS's driver behind the VNA role).

Two random chips whose readout resonator of q0 moved away from the design; the station has
an ``rs_znb20`` instrument on the feedline. The routine starts at the design readout
frequency; compared: the fitted dip with the truth's |0⟩ resonance (S_0 = 0), within κ/10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CHIPS, Bench, nearby_device

from qneko_hw.calibrations.resonator_spectroscopy_vna import ResonatorSpectroscopyVna
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.roles import VNA
from qneko_hw.runfile import read_run
from qneko_hw.simulated_instruments.lab import SimulatedLab


def moved(chip: Chip, resonator: str, shift_hz: float) -> Chip:
    res = {k: v.model_dump() for k, v in chip.resonators.items()}
    r = chip.resonators[resonator]
    res[resonator] = r.replace(frequency_hz=r.frequency_hz + shift_hz).model_dump()
    return chip.replace(resonators=res)


def with_vna(station: Station) -> Station:
    data = station.model_dump()
    data["instruments"]["vna"] = {"model": "rs_znb20"}
    return Station.model_validate(data)


@pytest.mark.parametrize(("chip", "shift_hz"), [(CHIPS[0], 1.3e6), (CHIPS[1], -2.1e6)])
def test_vna_resonance_within_kappa_over_10(
    tmp_path: Path, chip: tuple[int, float, float], shift_hz: float
) -> None:
    seed, fab = chip
    design = random_chip(2, seed)
    truth = moved(nearby_device(design, fab), "r0", shift_hz)
    station = with_vna(default_station({"f0": ["q0", "q1"]}, seed=seed))
    routine = ResonatorSpectroscopyVna()
    state = design_state(design, station)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        assert isinstance(instruments["vna"], VNA)
        bench = Bench(design, truth, station, lab, instruments, tmp_path)
        outcome = bench.run(routine, "q0", state)
    fit = outcome.results
    r = truth.resonators["r0"]
    assert fit.verdict == "good", fit.message
    new = outcome.state.qubit("q0").readout_frequency_hz
    assert new.value == pytest.approx(r.frequency_hz, abs=r.kappa_hz / 10), (new, r)
    assert new.run_id == outcome.run_id and new.uncertainty is not None
    assert new.uncertainty < r.kappa_hz / 10
    assert fit.values["kappa_hz"] == pytest.approx(r.kappa_hz, rel=0.2)
    # the raw S21 trace is in the run file, against its frequency axis
    run = read_run(outcome.run_file)
    assert run.signals["s21"].dims == ("step",) and run.signals["s21"].values.size == 401
    assert run.axes["frequency_hz"].unit == "Hz"
    assert np.iscomplexobj(run.signals["s21"].values)


def test_station_without_vna_does_not_apply(tmp_path: Path) -> None:
    """No VNA in the station: nothing is measured, the results say why, nothing changes."""
    design = random_chip(2, 11)
    station = default_station({"f0": ["q0", "q1"]}, seed=11)
    state = design_state(design, station)
    with SimulatedLab(design, station) as lab, connect(lab.station) as instruments:
        bench = Bench(design, design, station, lab, instruments, tmp_path)
        outcome = bench.run(ResonatorSpectroscopyVna(), "q0", state)
    assert not outcome.results.applicable and outcome.results.verdict == "good"
    assert outcome.results.message == "not applicable: no VNA in the station"
    assert outcome.state == state
    assert read_run(outcome.run_file).not_applicable == "no VNA in the station"
