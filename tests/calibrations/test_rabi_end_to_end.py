"""The slice end to end: chip model → twins over TCP → QCoDeS drivers → compiler → Rabi → fit.

The routine starts from the chip's *design* values; the simulated lab runs a chip whose true
Rabi rate differs from the design (by 2× either way: the π amplitude is found from a design
estimate that is twice or half the answer, within the AWG's limit), so the answer can only
come from instrument data.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from qneko_hw.calibrations import AmplitudeRabi, run_routine
from qneko_hw.calibrations.analyze import reanalyze
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.pulses import Gaussian, sample_pulse
from qneko_hw.simulated_instruments.lab import SimulatedLab, transmon_params
from qneko_hw.simulated_instruments.physics.truth import pi_amplitude


def true_pi_amplitude(
    chip: Chip, station: Station, qubit: str, duration: float, sigma: float
) -> float:
    """π amplitude (V at the AWG) from the lab's truth, through the same signal chain."""
    line = station.drive[qubit]
    n = round(duration * 1e9)
    dt = 1e-9
    t = (np.arange(n) + 0.5) * dt
    env = sample_pulse(Gaussian(amplitude_v=1.0, duration_s=duration, sigma_s=sigma), n, dt)
    shape = env * np.exp(-2j * np.pi * line.if_frequency_hz * t) * 10 ** (-line.attenuation_db / 20)
    f_q = chip.qubits[qubit].frequency_hz
    return float(
        pi_amplitude(transmon_params(chip, qubit), shape, dt, f_q, f_q - line.if_frequency_hz)
    )


def drive_coupling_scaled(chip: Chip, factor: float) -> Chip:
    """A device whose drive lines couple ``factor`` × the design's Rabi rate per volt (an
    attenuator or coupling capacitance unlike the drawing): the design π amplitude is off
    by 1/factor."""
    qubits = {
        n: q.replace(rabi_rate_hz_per_v=q.rabi_rate_hz_per_v * factor)
        for n, q in chip.qubits.items()
    }
    return chip.replace(qubits={n: q.model_dump() for n, q in qubits.items()})


@pytest.mark.parametrize(("seed", "factor"), [(1, 0.5), (2, 2.0), (3, 1.15)])
def test_pi_amplitude_within_one_percent_of_truth(tmp_path: Path, seed: int, factor: float) -> None:
    design = random_chip(2, seed)
    truth = drive_coupling_scaled(design, factor)  # π off by 2× either way
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    state = design_state(design, station)
    routine = AmplitudeRabi(points=61, shots=2000)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        for q in ("q0", "q1"):
            outcome = run_routine(routine, q, state, lab.station, instruments, out_dir=tmp_path)
            assert outcome.error is None, outcome.error
            found = outcome.state.qubit(q).pi_amplitude_v
            expected = true_pi_amplitude(truth, station, q, 40e-9, 10e-9)
            assert found.value == pytest.approx(expected, rel=0.01), (q, found, expected)
            # a sweep to 2.4 × a design π twice the answer spans ~5 π: a looser σ
            rel = 0.01 if 0.8 < factor < 1.25 else 0.02
            assert found.uncertainty is not None and found.uncertainty < rel * found.value
            assert found.run_id == outcome.run_id
            state = outcome.state
            again = reanalyze(outcome.run_file)  # from the file alone: the committed answer
            assert again.same and again.results.values["pi_amplitude_v"] == found.value
    files = sorted((tmp_path / "runs").glob("*.h5"))
    assert len(files) == 2
    with h5py.File(files[0]) as f:
        q = f.attrs["qubit"]
        assert f[q].dtype == np.complex64 and f[q].shape == (61, 2000)
        assert f[q].attrs["units"] == "V"
        assert f["amplitude_v"].attrs["units"] == "V" and f["amplitude_v"].shape == (61,)
        assert len(f.attrs["program_sha256"]) == 64
        assert "pi_amplitude_v" in f["context"].attrs["calibration_state"]


def test_same_seed_same_shots(tmp_path: Path) -> None:
    chip = random_chip(1, 4)
    station = default_station({"f0": ["q0"]}, seed=99)
    state = design_state(chip, station)
    routine = AmplitudeRabi(points=11, shots=50)
    out = []
    for k in range(2):
        with SimulatedLab(chip, station) as lab, connect(lab.station) as instruments:
            oc = run_routine(
                routine, "q0", state, lab.station, instruments, out_dir=tmp_path / str(k)
            )
            with h5py.File(oc.run_file) as f:
                out.append(np.asarray(f["q0"][()]))
    assert np.array_equal(out[0], out[1])
