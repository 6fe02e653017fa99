"""Two-tone qubit spectroscopy on fabricated devices: the line within 1 MHz of the truth.

The routine starts from the design frequency, a few MHz off the chip's (conftest's
fabricated devices), with the design π amplitude setting the drive strength.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Bench

from qneko_hw.analysis import DENSE_POINTS, Results, r_squared
from qneko_hw.calibrations.qubit_spectroscopy import (
    QubitSpectroscopy,
    QubitSpectroscopySetup,
    fit_lorentzian,
    lorentzian,
)
from qneko_hw.config.calibration import CalValue
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.pulses import Constant
from qneko_hw.runfile import read_run


def assert_figure_matches(results: Results, y_unit: str) -> None:
    """One panel of P(|1⟩) or IQ vs drive frequency (Hz): the data as points with error
    bars, the Lorentzian on the dense grid; the panel's R² is that of the plotted points."""
    assert results.figure is not None
    (panel,) = results.figure.panels
    assert panel.x_unit == "Hz" and panel.y_unit == y_unit
    points, line = panel.series
    assert points.kind == "points" and len(points.yerr) == len(points.x)
    assert line.kind == "line" and len(line.x) == DENSE_POINTS
    assert line.x[0] == points.x[0] and line.x[-1] == points.x[-1]
    v = results.values
    args = (v["qubit_frequency_hz"], v["linewidth_hz"], v["amplitude"], v["offset"])
    assert np.allclose(line.y, lorentzian(np.asarray(line.x), *args))
    model = lorentzian(np.asarray(points.x), *args)
    assert results.r_squared == pytest.approx(r_squared(points.y, model), abs=1e-12)
    assert panel.r_squared == results.r_squared


def test_qubit_frequency_within_1_mhz(bench: Bench) -> None:
    design = bench.design_state()
    state = bench.discriminated_state("q0")
    # the starting point spectroscopy has: design frequency and design π amplitude
    state = state.with_qubit(
        "q0",
        drive_frequency_hz=design.qubit("q0").drive_frequency_hz,
        pi_amplitude_v=design.qubit("q0").pi_amplitude_v,
    )
    f_true = bench.truth.qubits["q0"].frequency_hz
    f_design = bench.design.qubits["q0"].frequency_hz
    assert abs(f_true - f_design) > 3e6
    routine = QubitSpectroscopy()
    outcome = bench.run(routine, "q0", state)
    results = outcome.results
    assert results.verdict == "good", results.message
    found = outcome.state.qubit("q0").drive_frequency_hz
    assert found.value == pytest.approx(f_true, abs=1e6), (results.values, f_true)
    assert found.uncertainty is not None and found.uncertainty < 0.3e6
    assert found.run_id == outcome.run_id
    assert results.changes["drive_frequency_hz"].value == found.value
    assert_figure_matches(results, "")
    assert results.figure is not None
    assert results.figure.panels[0].y_label == "P(|1⟩)"
    run = read_run(outcome.run_file)
    axis = run.axes["frequency_hz"]
    assert axis.unit == "Hz" and axis.values.size == routine.points
    assert axis.values[0] == pytest.approx(f_design - routine.span_hz)
    assert axis.values[-1] == pytest.approx(f_design + routine.span_hz)
    setup = routine.parse_setup(run.routine["setup"])
    assert setup.discriminator == Discriminator.of(state.qubit("q0"))
    assert setup.start_drive_frequency_hz == f_design
    assert setup.pulse.duration_s == routine.duration_s


def test_without_discriminator_projected_iq(bench: Bench) -> None:
    state = bench.design_state()
    f_true = bench.truth.qubits["q1"].frequency_hz
    outcome = bench.run(QubitSpectroscopy(shots=300), "q1", state)
    results = outcome.results
    assert results.verdict == "good", results.message
    found = outcome.state.qubit("q1").drive_frequency_hz.value
    assert found == pytest.approx(f_true, abs=1e6), (results.values, f_true)
    assert_figure_matches(results, "V")
    setup = QubitSpectroscopy().parse_setup(read_run(outcome.run_file).routine["setup"])
    assert setup.discriminator is None


def test_no_line_in_the_sweep_is_bad(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    far = state.qubit("q0").drive_frequency_hz.value + 60e6
    state = state.with_qubit("q0", drive_frequency_hz=CalValue.design(far))
    outcome = bench.run_unchecked(QubitSpectroscopy(points=41), "q0", state)
    assert outcome.results.verdict == "bad", outcome.results.message
    assert outcome.results.changes == {}
    assert outcome.error is not None
    assert outcome.state.qubit("q0").drive_frequency_hz.value == far


# --- the fit alone, on synthetic shots ------------------------------------------------

F0_HZ = 5.1e9
DISC = Discriminator(iq_angle_rad=0.0, threshold_v=0.0)


def synthetic_data(
    p_excited: np.ndarray, freqs: np.ndarray, shots: int = 400, seed: int = 0
) -> Data[QubitSpectroscopySetup]:
    """Shots at +1 V (|1⟩, with probability ``p_excited`` per step) or −1 V (|0⟩)."""
    rng = np.random.default_rng(seed)
    ones = rng.random((freqs.size, shots)) < p_excited[:, None]
    iq = np.where(ones, 1.0, -1.0) + 0.1j * rng.standard_normal(ones.shape)
    setup = QubitSpectroscopySetup(
        discriminator=DISC,
        drive_amplitude_v=0.01,
        pulse=Constant(amplitude_v=0.01, duration_s=2e-6),
        start_drive_frequency_hz=F0_HZ,
    )
    axis = Axis.of("frequency_hz", freqs, "Hz", "frame frequency of the drive")
    return Data(
        routine="qubit_spectroscopy",
        qubit="q0",
        setup=setup,
        axes={axis.name: axis},
        signals={"q0": Signal.iq(iq, "q0")},
    )


def test_fit_finds_a_synthetic_line() -> None:
    f_line = F0_HZ + 1.3e6
    freqs = np.linspace(F0_HZ - 10e6, F0_HZ + 10e6, 121)
    p = lorentzian(freqs, f_line, 0.8e6, 0.8, 0.05)
    routine = QubitSpectroscopy()
    results = routine.analyze(synthetic_data(p, freqs))
    assert results.verdict == "good", results.message
    assert results.values["qubit_frequency_hz"] == pytest.approx(f_line, abs=50e3)
    assert results.values["linewidth_hz"] == pytest.approx(0.8e6, rel=0.15)
    assert results.changes["drive_frequency_hz"].value == results.values["qubit_frequency_hz"]
    assert_figure_matches(results, "")


def test_fit_without_a_line_is_bad_not_an_exception() -> None:
    freqs = np.linspace(F0_HZ - 10e6, F0_HZ + 10e6, 61)
    results = QubitSpectroscopy().analyze(synthetic_data(np.full(freqs.size, 0.05), freqs))
    assert results.verdict == "bad", results.message
    assert results.changes == {}


def test_too_few_points_is_bad_with_the_data_plotted() -> None:
    f = np.linspace(F0_HZ - 1e6, F0_HZ + 1e6, 3)
    results = fit_lorentzian("qubit_spectroscopy", "q0", f, np.array([0.1, 0.5, 0.1]), np.ones(3))
    assert results.verdict == "bad", results.message
    assert results.r_squared is None
    assert results.figure is not None
    (panel,) = results.figure.panels
    assert [s.kind for s in panel.series] == ["points"]
    assert panel.x_unit == "Hz"
