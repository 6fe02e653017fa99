"""Two-tone qubit spectroscopy on perturbed chips: the line within 1 MHz of the truth.

The routine starts from the design frequency, a few MHz off the chip's (conftest's
perturbed chips), with the design π amplitude setting the drive strength.
"""

from __future__ import annotations

import pytest
from conftest import Bench

from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy
from qneko_hw.config.calibration import CalValue


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
    outcome = bench.run(QubitSpectroscopy(), "q0", state)
    fit = outcome.fit
    assert fit.quality == "good", fit.message
    found = outcome.state.qubit("q0").drive_frequency_hz
    assert found.value == pytest.approx(f_true, abs=1e6), (fit.values, f_true)
    assert found.uncertainty is not None and found.uncertainty < 0.3e6
    assert found.run_id == outcome.run_id


def test_without_discriminator_projected_iq(bench: Bench) -> None:
    state = bench.design_state()
    f_true = bench.truth.qubits["q1"].frequency_hz
    outcome = bench.run(QubitSpectroscopy(shots=300), "q1", state)
    assert outcome.fit.quality != "bad", outcome.fit.message
    found = outcome.state.qubit("q1").drive_frequency_hz.value
    assert found == pytest.approx(f_true, abs=1e6), (outcome.fit.values, f_true)


def test_no_line_in_the_sweep_is_bad(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    far = state.qubit("q0").drive_frequency_hz.value + 60e6
    state = state.with_qubit("q0", drive_frequency_hz=CalValue.design(far))
    outcome = bench.run_unchecked(QubitSpectroscopy(points=41), "q0", state)
    assert outcome.fit.quality == "bad", outcome.fit.message
    assert outcome.error is not None
    assert outcome.state.qubit("q0").drive_frequency_hz.value == far
