"""Flux sweep on a flux-tunable qubit: the sweet spot and f_max from a start 15 MHz below it.

The chip (as in ``test_flux_bias``): q0 tunes with f_max 15 MHz above its zero-bias
frequency, d = 0.3, M = 1000 Φ₀/A, through a 1 kΩ bias resistor on a GS200: Φ = V·1 Φ₀/V +
Φ_offset, sweet spot at V₀ = −Φ_offset ≈ −33 mV. The routine starts at V = 0 and the design
frequency (f_max − 15 MHz).

Tolerances, from the physics: near the sweet spot f ≈ f_max − c·(V − V₀)² with
c = (f_max + |α|)(1 − d²)π²/4 · (1 Φ₀/V)² ≈ 12–14 GHz/V². f_max within 1 MHz (the
spectroscopy's lines are a few MHz wide, each centre known to ~0.1 MHz). V₀ within 2.5 mV:
a bias error δV costs c·δV² ≲ 85 kHz of frequency at the found operating point, below the
1 MHz f_max tolerance; the test also checks the true frequency at the found bias.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qcodes.instrument import Instrument

from qneko_hw.calibrations import run_routine
from qneko_hw.calibrations.flux_sweep import FluxSweep
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.chip import FluxTuning
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import BiasLine, InstrumentConfig
from qneko_hw.drivers.station import connect
from qneko_hw.errors import CalibrationError
from qneko_hw.simulated_instruments.lab import SimulatedLab, transmon_params

ABOVE_HZ = 15e6


def tunable_chip() -> Chip:
    chip = random_chip(1, 5)
    q = chip.qubits["q0"]
    flux = FluxTuning(
        max_frequency_hz=q.frequency_hz + ABOVE_HZ, asymmetry=0.3, flux_per_amp=1000.0
    )
    return chip.replace(qubits={"q0": {**q.model_dump(), "flux": flux.model_dump()}})


def biased_station() -> Station:
    base = default_station({"f0": ["q0"]})
    return base.model_copy(
        update={
            "instruments": {**base.instruments, "dc": InstrumentConfig(model="yokogawa_gs200")},
            "bias": {"q0": BiasLine(source="dc", resistance_ohm=1000.0)},
        }
    )


@pytest.fixture
def lab() -> Iterator[tuple[Chip, Station, SimulatedLab, Any]]:
    chip, station = tunable_chip(), biased_station()
    try:
        with SimulatedLab(chip, station) as lab, connect(lab.station) as instruments:
            yield chip, station, lab, instruments
    finally:
        Instrument.close_all()


def test_sweet_spot_from_away(lab: tuple[Chip, Station, SimulatedLab, Any], tmp_path: Path) -> None:
    chip, station, sim, instruments = lab
    q = chip.qubits["q0"]
    assert q.flux is not None
    # Φ = M·V/R + Φ_offset = 0 at V₀ = −Φ_offset·R/M
    v_true = -q.flux.offset(q.frequency_hz, q.anharmonicity_hz) * 1000.0 / 1000.0
    f_max = q.flux.max_frequency_hz
    assert -0.04 < v_true < -0.025
    state = design_state(chip, station)  # design frequency, no bias: 15 MHz below f_max
    routine = FluxSweep(voltages_v=tuple(float(v) for v in np.linspace(-0.07, 0.0, 8)))
    t0 = time.perf_counter()
    outcome = run_routine(routine, "q0", state, sim.station, instruments, out_dir=tmp_path)
    elapsed = time.perf_counter() - t0
    assert outcome.error is None, (outcome.error, outcome.fit)
    fit = outcome.fit
    assert fit.quality == "good", fit.message
    cal = outcome.state.qubit("q0")
    assert cal.bias_voltage_v is not None
    v0 = cal.bias_voltage_v.value
    assert v0 == pytest.approx(v_true, abs=2.5e-3), (fit.values, v_true)
    assert cal.drive_frequency_hz.value == pytest.approx(f_max, abs=1e6), (fit.values, f_max)
    # the qubit at the found bias is within 100 kHz of its sweet-spot frequency
    assert transmon_params(chip, "q0", v0 / 1000.0).frequency_hz == pytest.approx(f_max, abs=100e3)
    assert cal.bias_voltage_v.run_id == outcome.run_id
    assert elapsed < 40, elapsed


def test_qubit_without_bias_line_is_refused() -> None:
    chip = tunable_chip()
    station = default_station({"f0": ["q0"]})
    routine = FluxSweep(voltages_v=(-0.02, -0.01, 0.0, 0.01))
    with pytest.raises(CalibrationError, match="no bias line"):
        routine.build("q0", design_state(chip, station), station)
