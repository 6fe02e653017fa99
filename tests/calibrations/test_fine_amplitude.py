"""Fine amplitude on perturbed chips: π within 0.5 % of the truth from a 2 % error.

Truth: the π amplitude maximising P(|1⟩) of the calibrated gate pulse
(``physics.truth.pi_amplitude``, as the Rabi test uses) and the amplitude giving
P(|1⟩) = ½ (conftest's ``true_pi_half_amplitude``).
"""

from __future__ import annotations

import pytest
from conftest import Bench, true_pi_amplitude, true_pi_half_amplitude

from qneko_hw.calibrations.fine_amplitude import FineAmplitude
from qneko_hw.config.calibration import CalValue


@pytest.mark.parametrize("error", [1.02, 0.98])
def test_pi_amplitude_within_half_a_percent(bench: Bench, error: float) -> None:
    state = bench.discriminated_state("q0")
    cal = state.qubit("q0")
    a_pi = true_pi_amplitude(bench.truth, bench.station, "q0", cal)
    a_half = true_pi_half_amplitude(bench.truth, bench.station, "q0", cal)
    start = state.with_qubit(
        "q0",
        pi_amplitude_v=CalValue.design(a_pi * error),
        pi_half_amplitude_v=CalValue.design(a_half * (2 - error)),
    )
    outcome = bench.run(FineAmplitude(), "q0", start)
    fit = outcome.fit
    assert fit.quality == "good", fit.message
    found = outcome.state.qubit("q0")
    assert found.pi_amplitude_v.value == pytest.approx(a_pi, rel=0.005), (fit.values, a_pi)
    assert found.pi_half_amplitude_v.value == pytest.approx(a_half, rel=0.005), (
        fit.values,
        a_half,
    )
    assert found.pi_amplitude_v.uncertainty is not None
    assert found.pi_amplitude_v.uncertainty < 0.003 * a_pi
    assert found.pi_amplitude_v.run_id == outcome.run_id


def test_without_discriminator_is_bad_and_keeps_the_state(bench: Bench) -> None:
    state = bench.truth_state()
    outcome = bench.run_unchecked(FineAmplitude(shots=50), "q0", state)
    assert outcome.fit.quality == "bad", outcome.fit.message
    assert outcome.error is not None
    assert outcome.state == state
