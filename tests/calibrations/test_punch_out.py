"""Punch-out through the digitizer on two random chips whose readout resonator moved.

The simulated resonator is linear (no Kerr, no bare-cavity response), so the resonance does
not move with the readout amplitude: checked are the low-power resonance (the truth's |0⟩
resonance, within 20 kHz) and that the routine reports no punch-out in range. The shift
detection itself is checked on synthetic per-amplitude fits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHIPS, perturbed

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.punch_out import PunchOut
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
def test_low_power_resonance_and_no_punch_out_in_linear_model(
    tmp_path: Path, chip: tuple[int, float, float], shift_hz: float
) -> None:
    seed, offset, factor = chip
    design = random_chip(2, seed)
    truth = moved(perturbed(design, offset, factor), "r0", shift_hz)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    routine = PunchOut(amplitudes_v=(0.05, 0.1, 0.2))
    state = design_state(design, station)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        fit = routine.measure("q0", state, lab.station, instruments, out_dir=tmp_path)
    r = truth.resonators["r0"]
    assert fit.quality == "good", fit.message
    assert fit.values["resonator_frequency_hz"] == pytest.approx(r.frequency_hz, abs=20e3)
    assert fit.values["punched_out"] == 0.0 and "punch_out_amplitude_v" not in fit.values
    assert "no punch-out seen in range" in fit.message
    assert len(list((tmp_path / "runs").glob("*.h5"))) == 3
    new = routine.update(state, fit, "run-1").qubit("q0").readout_frequency_hz
    assert new.value == fit.values["resonator_frequency_hz"] and new.run_id == "run-1"


def _spec(f_hz: float, quality: Quality = "good") -> Fit:
    return Fit(
        routine="punch_out",
        qubit="q0",
        values={"resonator_frequency_hz": f_hz, "kappa_hz": 1e6},
        uncertainties={"resonator_frequency_hz": 5e3, "kappa_hz": 1e4},
        quality=quality,
        r_squared=0.99,
    )


def test_shift_detection_on_synthetic_fits() -> None:
    amps = [0.05, 0.1, 0.2, 0.4]
    base = 7e9
    fits = [_spec(base), _spec(base + 2e4), _spec(base + 6e5), _spec(base + 1e6)]
    fit = PunchOut().analyze("q0", amps, fits)
    assert fit.values["punched_out"] == 1.0
    assert fit.values["punch_out_amplitude_v"] == 0.1
    assert fit.values["resonator_frequency_hz"] == base
    # a bad fit at the lowest amplitude: the next usable one is the low-power resonance
    fits = [_spec(0.0, "bad"), _spec(base), _spec(base + 1e4), _spec(base - 1e4)]
    fit = PunchOut().analyze("q0", amps, fits)
    assert fit.values["low_power_amplitude_v"] == 0.1 and fit.values["punched_out"] == 0.0
    assert PunchOut().analyze("q0", amps[:1], [_spec(0.0, "bad")]).quality == "bad"
