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

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_reanalysis_matches
from qcodes.instrument import Instrument

from qneko_hw.analysis import DENSE_POINTS, r_squared
from qneko_hw.calibrations.flux_sweep import FluxSweep, FluxSweepSetup
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopySetup, lorentzian
from qneko_hw.calibrations.routine import Skip
from qneko_hw.calibrations.runner import run_routine
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.chip import FluxTuning
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import BiasLine, InstrumentConfig
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.drivers.station import connect
from qneko_hw.errors import CalibrationError
from qneko_hw.pulses import Constant
from qneko_hw.runfile import read_run
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
    voltages = tuple(float(v) for v in np.linspace(-0.07, 0.0, 8))
    routine = FluxSweep(voltages_v=voltages)
    outcome = run_routine(routine, "q0", state, sim.station, instruments, out_dir=tmp_path)
    assert outcome.error is None, (outcome.error, outcome.results)
    assert_reanalysis_matches(outcome)
    results = outcome.results
    assert results.verdict == "good", results.message
    assert results.values["tunable"] == 1.0
    cal = outcome.state.qubit("q0")
    assert cal.bias_voltage_v is not None
    v0 = cal.bias_voltage_v.value
    assert v0 == pytest.approx(v_true, abs=2.5e-3), (results.values, v_true)
    assert cal.drive_frequency_hz.value == pytest.approx(f_max, abs=1e6), (results.values, f_max)
    # the qubit at the found bias is within 100 kHz of its sweet-spot frequency
    assert transmon_params(chip, "q0", v0 / 1000.0).frequency_hz == pytest.approx(f_max, abs=100e3)
    assert cal.bias_voltage_v.run_id == outcome.run_id
    assert set(results.changes) == {"bias_voltage_v", "drive_frequency_hz"}

    # the run file: both axes on every stacked step, in SI units
    n = routine.spectroscopy.points
    run = read_run(outcome.run_file)
    bias, freq = run.axes["bias_voltage_v"], run.axes["frequency_hz"]
    assert bias.unit == "V" and freq.unit == "Hz"
    assert bias.values.size == freq.values.size == n * len(voltages)
    assert np.array_equal(bias.values, np.repeat(voltages, n))
    f_design = state.qubit("q0").drive_frequency_hz.value
    span = routine.spectroscopy.span_hz
    assert np.allclose(freq.values, np.tile(np.linspace(f_design - span, f_design + span, n), 8))
    assert run.shots["q0"].shape == (n * len(voltages), routine.spectroscopy.shots)
    setup = routine.parse_setup(run.routine["setup"])
    assert setup.points_per_voltage == n and setup.start_bias_voltage_v is None

    # the figure: frequency vs bias with the parabola and the sweet spot, then a line
    assert results.figure is not None
    vs_bias, line = results.figure.panels
    assert (vs_bias.x_unit, vs_bias.y_unit) == ("V", "Hz")
    points, parabola, spot = vs_bias.series
    assert points.kind == "points" and len(points.yerr) == len(points.x) >= routine.min_points
    assert parabola.kind == "line" and len(parabola.x) == DENSE_POINTS
    assert spot.kind == "vline" and spot.x == (v0,)
    v = results.values

    def model(x: tuple[float, ...]) -> np.ndarray:
        return v["max_frequency_hz"] - v["curvature_hz_per_v2"] * (np.asarray(x) - v0) ** 2

    assert np.allclose(parabola.y, model(parabola.x), rtol=0, atol=1.0)
    assert results.r_squared == pytest.approx(r_squared(points.y, model(points.x)), abs=1e-6)
    assert vs_bias.r_squared == results.r_squared
    assert line.x_unit == "Hz" and line.y_unit == "V"  # design state: no discriminator
    assert [s.kind for s in line.series] == ["points", "line"]
    assert len(line.series[1].x) == DENSE_POINTS


def test_fixed_frequency_qubit_behind_a_bias_line_does_not_tune(tmp_path: Path) -> None:
    chip = random_chip(1, 5)  # no flux tuning
    station = biased_station()
    state = design_state(chip, station)
    routine = FluxSweep(voltages_v=(-0.04, -0.02, 0.0, 0.02, 0.04))
    try:
        with SimulatedLab(chip, station) as sim, connect(sim.station) as instruments:
            outcome = run_routine(routine, "q0", state, sim.station, instruments, out_dir=tmp_path)
    finally:
        Instrument.close_all()
    assert outcome.error is None, outcome.error
    assert_reanalysis_matches(outcome)
    results = outcome.results
    assert results.verdict == "good", results.message
    assert results.values["tunable"] == 0.0
    assert "does not move" in results.message
    f_true = chip.qubits["q0"].frequency_hz
    assert results.values["mean_frequency_hz"] == pytest.approx(f_true, abs=1e6)
    assert results.changes == {}
    assert outcome.state == state


def test_qubit_without_bias_line_is_refused() -> None:
    chip = tunable_chip()
    station = default_station({"f0": ["q0"]})
    routine = FluxSweep(voltages_v=(-0.02, -0.01, 0.0, 0.01))
    with pytest.raises(CalibrationError, match="no bias line"):
        routine.plan("q0", design_state(chip, station), station)


def test_too_few_voltages_are_refused() -> None:
    station = biased_station()
    routine = FluxSweep(voltages_v=(-0.01, 0.0, 0.01))
    with pytest.raises(CalibrationError, match="at least 4 voltages"):
        routine.plan("q0", design_state(tunable_chip(), station), station)


def test_qubit_without_bias_line_is_skipped_when_asked(tmp_path: Path) -> None:
    chip = tunable_chip()
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station)
    routine = FluxSweep(skip_unwired=True)
    plan = routine.plan("q0", state, station)
    assert isinstance(plan.measurement, Skip) and "no bias line" in plan.measurement.reason
    assert plan.axes == () and plan.steps == 0
    try:
        with SimulatedLab(chip, station) as sim, connect(sim.station) as instruments:
            outcome = run_routine(routine, "q0", state, sim.station, instruments, out_dir=tmp_path)
    finally:
        Instrument.close_all()
    assert outcome.error is None
    assert outcome.results.verdict == "good" and not outcome.results.applicable
    assert "no bias line" in outcome.results.message
    assert outcome.results.changes == {}
    assert outcome.state == state
    assert read_run(outcome.run_file).not_applicable
    assert_reanalysis_matches(outcome)


# --- the fit alone, on synthetic shots ------------------------------------------------

F_HZ = 5.0e9
POINTS = 51
SPAN_HZ = 25e6


def synthetic_data(line_hz: list[float], seed: int = 0) -> Data[FluxSweepSetup]:
    """Shots at +1 V (|1⟩) or −1 V (|0⟩) of one spectroscopy per voltage, whose Lorentzian
    line (FWHM 4 MHz, P = 0.05 … 0.85) is at ``line_hz[k]`` for voltage ``k`` (Hz); NaN:
    no line."""
    rng = np.random.default_rng(seed)
    volts = np.linspace(-0.05, 0.05, len(line_hz))
    freqs = np.linspace(F_HZ - SPAN_HZ, F_HZ + SPAN_HZ, POINTS)
    p = np.concatenate(
        [
            np.full(POINTS, 0.05) if np.isnan(f) else lorentzian(freqs, f, 4e6, 0.8, 0.05)
            for f in line_hz
        ]
    )
    ones = rng.random((p.size, 400)) < p[:, None]
    iq = np.where(ones, 1.0, -1.0) + 0.1j * rng.standard_normal(ones.shape)
    spec = QubitSpectroscopySetup(
        discriminator=Discriminator(iq_angle_rad=0.0, threshold_v=0.0),
        drive_amplitude_v=0.01,
        pulse=Constant(amplitude_v=0.01, duration_s=200e-9),
        start_drive_frequency_hz=F_HZ,
    )
    axes = [
        Axis.of("bias_voltage_v", np.repeat(volts, POINTS), "V", "flux-bias voltage"),
        Axis.of("frequency_hz", np.tile(freqs, len(line_hz)), "Hz", "drive frequency"),
    ]
    return Data(
        routine="flux_sweep",
        qubit="q0",
        setup=FluxSweepSetup(spectroscopy=spec, points_per_voltage=POINTS),
        axes={a.name: a for a in axes},
        signals={"q0": Signal.iq(iq, "q0")},
    )


def test_lines_that_do_not_move_are_good_and_change_nothing() -> None:
    results = FluxSweep().analyze(synthetic_data([F_HZ + 2e6] * 6))
    assert results.verdict == "good", results.message
    assert results.values["tunable"] == 0.0
    assert results.values["mean_frequency_hz"] == pytest.approx(F_HZ + 2e6, abs=0.3e6)
    assert results.values["spread_hz"] < 1e6
    assert results.changes == {}
    assert results.r_squared is None  # nothing fitted through the lines
    assert results.figure is not None
    vs_bias = results.figure.panels[0]
    assert (vs_bias.x_unit, vs_bias.y_unit) == ("V", "Hz")
    assert [s.kind for s in vs_bias.series] == ["points", "hline"]
    assert results.figure.panels[1].x_unit == "Hz"


def test_parabola_through_synthetic_lines() -> None:
    volts = np.linspace(-0.05, 0.05, 9)
    lines = [F_HZ + 5e6 - 4e9 * (v - 0.01) ** 2 for v in volts]
    results = FluxSweep().analyze(synthetic_data(lines))
    assert results.verdict == "good", results.message
    assert results.values["tunable"] == 1.0
    assert results.values["sweet_spot_voltage_v"] == pytest.approx(0.01, abs=2e-3)
    assert results.values["max_frequency_hz"] == pytest.approx(F_HZ + 5e6, abs=0.3e6)
    assert results.changes["bias_voltage_v"].value == results.values["sweet_spot_voltage_v"]
    assert results.changes["drive_frequency_hz"].value == results.values["max_frequency_hz"]
    assert results.figure is not None
    assert results.figure.panels[1].title == "spectroscopy at 12.5 mV"  # nearest to 10 mV


def test_too_few_lines_is_bad_not_an_exception() -> None:
    nan = float("nan")
    results = FluxSweep().analyze(synthetic_data([F_HZ, nan, nan, nan, F_HZ + 1e6, nan]))
    assert results.verdict == "bad", results.message
    assert "only 2 lines resolved" in results.message
    assert results.changes == {}
    assert results.figure is not None
    (points,) = results.figure.panels[0].series
    assert points.kind == "points" and len(points.x) == 2
