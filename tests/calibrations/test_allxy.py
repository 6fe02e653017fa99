"""AllXY on a random chip: tuned gates give the staircase; a π amplitude 10 % high does not.

Gates are set from truth (``tuned_gates`` of the RB tests: DRAG β, π and π/2 amplitudes of
maximal closed-system process fidelity); the discriminator comes from the Discrimination
routine.
"""

from __future__ import annotations

import pytest
from conftest import CHIPS, Bench
from test_rb import tuned_gates

from qneko_hw.calibrations.allxy import ALLXY_PAIRS, IDEAL, AllXY
from qneko_hw.config.calibration import CalValue


@pytest.mark.parametrize("bench", [CHIPS[0]], indirect=True, ids=[f"seed{CHIPS[0][0]}"])
def test_good_gates_small_deviation_bad_pi_amplitude_large(bench: Bench) -> None:
    q = "q0"
    state = tuned_gates(bench.truth, bench.station, bench.discriminated_state(q), q)
    good = bench.run(AllXY(shots=500), q, state)
    assert good.state == state
    assert good.fit.quality == "good", good.fit.message
    dev_good = good.fit.values["deviation"]
    assert dev_good < 0.04, good.fit.values

    pi = state.qubit(q).pi_amplitude_v.value
    bad_state = state.with_qubit(q, pi_amplitude_v=CalValue(value=1.1 * pi))
    bad = bench.run(AllXY(shots=500), q, bad_state).fit
    assert bad.quality == "poor", bad.message
    assert bad.values["deviation"] > 3 * dev_good and bad.values["deviation"] > 0.08
    # π pulses over-rotate by 0.1·π: xX etc. end at P = ½ − ½·sin(0.1·π) ≈ 0.35 (raw; the
    # readout correction from the first five pairs, which the error lifts too, adds to it)
    assert bad.values["amplitude_error"] > 0.1, bad.values
    assert abs(good.fit.values["amplitude_error"]) < 0.04


def test_pairs_and_staircase() -> None:
    assert len(ALLXY_PAIRS) == len(IDEAL) == 21 and len(set(ALLXY_PAIRS)) == 21
