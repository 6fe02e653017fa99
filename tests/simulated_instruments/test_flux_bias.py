"""Flux-tunable qubits: the DC source (QCoDeS's own GS200 driver) moves the qubit frequency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.yokogawa import YokogawaGS200

from qneko_hw.compiler import compile_experiment
from qneko_hw.config import Chip, default_station, random_chip
from qneko_hw.config.base import model_from_data
from qneko_hw.config.chip import FluxTuning
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import BiasLine, InstrumentConfig
from qneko_hw.drivers.station import connect
from qneko_hw.errors import ConfigError
from qneko_hw.executor import execute
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Gaussian
from qneko_hw.simulated_instruments.lab import SimulatedLab


def tunable_chip() -> Chip:
    chip = random_chip(1, 5)
    q = chip.qubits["q0"]
    flux = FluxTuning(max_frequency_hz=q.frequency_hz + 300e6, asymmetry=0.3, flux_per_amp=1000.0)
    return chip.replace(qubits={"q0": {**q.model_dump(), "flux": flux.model_dump()}})


def test_flux_model_formula_and_offset() -> None:
    chip = tunable_chip()
    q = chip.qubits["q0"]
    assert q.flux is not None
    offset = q.flux.offset(q.frequency_hz, q.anharmonicity_hz)
    assert 0 < offset < 0.5
    assert q.flux.frequency_hz(offset, q.anharmonicity_hz) == pytest.approx(q.frequency_hz, abs=1.0)
    a = abs(q.anharmonicity_hz)
    expected = (q.flux.max_frequency_hz + a) * (
        math.cos(math.pi * 0.2) ** 2 + 0.09 * math.sin(math.pi * 0.2) ** 2
    ) ** 0.25 - a
    assert q.flux.frequency_hz(0.2, q.anharmonicity_hz) == pytest.approx(expected)
    data = chip.model_dump()
    data["qubits"]["q0"]["flux"]["max_frequency_hz"] = q.frequency_hz - 1e6
    with pytest.raises(ConfigError, match="outside the tuning range"):
        model_from_data(Chip, data)


def test_dc_source_tunes_the_qubit_in_the_lab() -> None:
    chip = tunable_chip()
    base = default_station({"f0": ["q0"]})
    station = base.model_copy(
        update={
            "instruments": {**base.instruments, "dc": InstrumentConfig(model="yokogawa_gs200")},
            "bias": {"q0": BiasLine(source="dc", resistance_ohm=1000.0)},
        }
    )
    state = design_state(chip, station)
    pi = state.qubit("q0").pi_amplitude_v.value
    exp = Experiment(
        name="pi",
        instructions=(
            Play(
                channel="q0.drive", pulse=Gaussian(amplitude_v=pi, duration_s=40e-9, sigma_s=10e-9)
            ),
            Measure(qubit="q0", name="m"),
        ),
        sweep=Sweep(parameter="amplitude_v", instruction=0, values=(0.0, pi)),
        shots=2000,
    )
    compiled = compile_experiment(exp, station, state)
    with SimulatedLab(chip, station) as lab, connect(lab.station) as instruments:
        f0 = lab.qubit_params("q0").frequency_hz
        assert f0 == pytest.approx(chip.qubits["q0"].frequency_hz)
        resonant = execute(compiled, instruments).shots["m"].mean(axis=1)
        dc = instruments["dc"]  # our DCSource adapter around QCoDeS's YokogawaGS200 driver
        assert isinstance(dc.driver, YokogawaGS200)
        try:
            dc.set_output(True)
            dc.set_voltage(0.05)  # 50 µA through 1 kΩ: 0.05 flux quanta
            q = chip.qubits["q0"]
            assert q.flux is not None
            phi = q.flux.offset(q.frequency_hz, q.anharmonicity_hz) + 1000.0 * 50e-6
            assert lab.bias_current_a("q0") == pytest.approx(50e-6)
            f1 = lab.qubit_params("q0").frequency_hz
            assert f1 == pytest.approx(q.flux.frequency_hz(phi, q.anharmonicity_hz))
            assert abs(f1 - f0) > 20e6
            detuned = execute(compiled, instruments).shots["m"].mean(axis=1)
        finally:
            Instrument.close_all()
    # the π pulse, now far off resonance, barely moves the qubit
    contrast_resonant = abs(resonant[1] - resonant[0])
    contrast_detuned = abs(detuned[1] - detuned[0])
    assert contrast_detuned < 0.2 * contrast_resonant
    assert np.isfinite(contrast_resonant) and contrast_resonant > 0


def test_compiled_programs_set_the_calibrated_bias() -> None:
    """The calibration's bias voltage becomes a DC program; the executor sets the source."""
    from qneko_hw.config.calibration import CalValue
    from qneko_hw.config.station import Limits
    from qneko_hw.errors import CompilationError

    chip = tunable_chip()
    base = default_station({"f0": ["q0"]})
    station = base.model_copy(
        update={
            "instruments": {
                **base.instruments,
                "dc": InstrumentConfig(model="yokogawa_gs200", limits=Limits(max_voltage_v=0.1)),
            },
            "bias": {"q0": BiasLine(source="dc", resistance_ohm=1000.0)},
        }
    )
    state = design_state(chip, station).with_qubit("q0", bias_voltage_v=CalValue(value=0.05))
    exp = Experiment(name="m", instructions=(Measure(qubit="q0", name="m"),), shots=10)
    compiled = compile_experiment(exp, station, state)
    assert [(d.instrument, d.voltage_v) for d in compiled.dcs] == [("dc", 0.05)]
    with SimulatedLab(chip, station) as lab, connect(lab.station) as instruments:
        execute(compiled, instruments)
        assert lab.bias_current_a("q0") == pytest.approx(50e-6)
    Instrument.close_all()
    too_high = state.with_qubit("q0", bias_voltage_v=CalValue(value=0.5))
    with pytest.raises(CompilationError, match=r"exceeds the limit 0\.1 V"):
        compile_experiment(exp, station, too_high)
