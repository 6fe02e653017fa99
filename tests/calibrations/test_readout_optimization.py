"""Readout optimization on a random chip, from a poor start, against the best threshold.

Start: readout 0.8 MHz off the design point, 0.05 V, 1 µs. The chain ReadoutFrequency →
ReadoutPower → IntegrationWeights → Discrimination must end within 1 % of the best
assignment fidelity a threshold reaches on this chip (``best_assignment_fidelity`` of the
conftest: thermal |0⟩, π pulse with decoherence, decay during the readout, box filter) at
the settings it chose and at the best settings of the grid we checked in truth; the
decay-free ``assignment_fidelity_truth`` stays an upper bound.
"""

from __future__ import annotations

import pytest
from conftest import CHIPS, Bench, best_assignment_fidelity

from qneko_hw.calibrations import Discrimination
from qneko_hw.calibrations.readout_optimization import (
    IntegrationWeights,
    ReadoutFrequency,
    ReadoutPower,
)
from qneko_hw.config.calibration import CalValue


@pytest.mark.parametrize("bench", [CHIPS[0]], indirect=True, ids=[f"seed{CHIPS[0][0]}"])
def test_optimized_readout_within_one_percent_of_best(bench: Bench) -> None:
    q = "q0"
    state = bench.truth_state()
    cal = state.qubit(q)
    start = state.with_qubit(
        q,
        readout_frequency_hz=CalValue.design(cal.readout_frequency_hz.value + 0.8e6),
        readout_amplitude_v=CalValue.design(0.05),
        readout_duration_s=CalValue.design(1e-6),
    )
    before, _ = best_assignment_fidelity(bench.truth, bench.station, start, q)

    freq = bench.run(ReadoutFrequency(), q, start)
    assert freq.fit.quality == "good", freq.fit.message
    f_r = bench.truth.resonators["r0"].frequency_hz
    chi = bench.truth.resonators["r0"].chi_hz
    # largest separation between the |0⟩ and |1⟩ resonances (f_r and f_r + 2χ)
    assert freq.state.qubit(q).readout_frequency_hz.value == pytest.approx(
        f_r + chi, abs=0.25 * abs(chi)
    )

    power = bench.run(ReadoutPower(), q, freq.state)
    chosen = power.state.qubit(q)
    assert power.fit.quality == "good", power.fit.message
    weights = bench.run(IntegrationWeights(), q, power.state)
    wfit = weights.fit
    assert wfit.values["fidelity_matched"] >= wfit.values["fidelity_box"] - 0.005, wfit.values
    n = round(chosen.readout_duration_s.value / 1e-9)
    assert len(weights.state.qubit(q).integration_weights) == n

    final = bench.run(Discrimination(shots=4000), q, weights.state)
    found = final.fit.values["assignment_fidelity"]
    best_chosen, bound = best_assignment_fidelity(bench.truth, bench.station, power.state, q)
    candidates = [best_chosen]
    for amp, dur in ((0.4, 1e-6), (0.4, 3e-6), (0.1, 2e-6)):
        trial = power.state.with_qubit(
            q,
            readout_amplitude_v=CalValue.design(amp),
            readout_duration_s=CalValue.design(dur),
        )
        candidates.append(best_assignment_fidelity(bench.truth, bench.station, trial, q)[0])
    best = max(candidates)
    assert found >= best - 0.01, (found, candidates, before)
    assert found < bound + 0.01
    assert found > before + 0.01  # the poor start was worse
