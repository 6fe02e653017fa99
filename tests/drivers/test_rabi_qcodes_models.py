"""The Rabi slice through QCoDeS's own SGS100A and AWG5208 drivers against the twins.

Same slice as ``tests/calibrations/test_rabi_end_to_end.py``, with every LO an R&S SGS100A
and every AWG a Tektronix AWG5208 (the digitizer stays the QNeko DIG2, QCoDeS has no SCPI
digitizer): the π amplitude found from instrument data is within 1 % of the chip's truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qneko_hw.calibrations import AmplitudeRabi, run_routine
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.rs_sgs100a import RsSgs100aSource
from qneko_hw.drivers.station import connect
from qneko_hw.drivers.tek_awg5208 import TekAwg5208
from qneko_hw.pulses import Gaussian, sample_pulse
from qneko_hw.simulated_instruments.lab import SimulatedLab, transmon_params
from qneko_hw.simulated_instruments.physics.truth import pi_amplitude

REAL_MODELS = {"qneko_sg1": "rs_sgs100a", "qneko_awg4": "tek_awg5208"}


def with_real_models(station: Station) -> Station:
    data = station.model_dump()
    for cfg in data["instruments"].values():
        cfg["model"] = REAL_MODELS.get(cfg["model"], cfg["model"])
    return Station.model_validate(data)


def true_pi_amplitude(chip: Chip, station: Station, qubit: str) -> float:
    line = station.drive[qubit]
    n, dt = 40, 1e-9
    t = (np.arange(n) + 0.5) * dt
    env = sample_pulse(Gaussian(amplitude_v=1.0, duration_s=40e-9, sigma_s=10e-9), n, dt)
    shape = env * np.exp(-2j * np.pi * line.if_frequency_hz * t) * 10 ** (-line.attenuation_db / 20)
    f_q = chip.qubits[qubit].frequency_hz
    return float(
        pi_amplitude(transmon_params(chip, qubit), shape, dt, f_q, f_q - line.if_frequency_hz)
    )


def test_rabi_through_qcodes_sgs100a_and_awg5208(tmp_path: Path) -> None:
    design = random_chip(2, 1)
    truth = design.replace(
        qubits={
            n: q.replace(rabi_rate_hz_per_v=q.rabi_rate_hz_per_v * 0.9).model_dump()
            for n, q in design.qubits.items()
        }
    )
    station = with_real_models(default_station({"f0": ["q0", "q1"]}, seed=1))
    state = design_state(design, station)
    routine = AmplitudeRabi(points=61, shots=2000)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        assert isinstance(instruments["awg_drive0"], TekAwg5208)
        assert isinstance(instruments["lo_q0"], RsSgs100aSource)
        for q in ("q0", "q1"):
            outcome = run_routine(routine, q, state, lab.station, instruments, out_dir=tmp_path)
            assert outcome.error is None, outcome.error
            found = outcome.state.qubit(q).pi_amplitude_v
            expected = true_pi_amplitude(truth, station, q)
            assert found.value == pytest.approx(expected, rel=0.01), (q, found, expected)
            state = outcome.state
        awg = lab.twins["awg_drive0"]
        assert awg.errors == () and len(awg.sequence_list["qneko"].steps) == 61
