"""Single-shot discrimination on random chips against the best threshold the chip allows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Bench, best_assignment_fidelity

from qneko_hw.calibrations import Discrimination
from qneko_hw.discrimination import classify, excited_probability


def test_fidelity_within_one_percent_of_the_best_threshold(bench: Bench) -> None:
    """Compared: the routine's empirical fidelity F = 1 − ½[P(1|0) + P(0|1)] against the
    best threshold fidelity on the truth distributions *including* thermal population of
    |0⟩, the π pulse with decoherence and T1 decay during the readout (see
    ``best_assignment_fidelity``); the decay-free ``assignment_fidelity_truth`` is only an
    upper bound."""
    state = bench.truth_state()
    for q in ("q0", "q1"):
        outcome = bench.run(Discrimination(shots=2000), q, state)
        fit = outcome.fit
        best, bound = best_assignment_fidelity(bench.truth, bench.station, state, q)
        found = fit.values["assignment_fidelity"]
        assert fit.quality == "good", fit.message
        assert found == pytest.approx(best, abs=0.01), (q, found, best, bound)
        assert found < bound + 0.01
        cal = outcome.state.qubit(q)
        assert cal.assignment_fidelity is not None and cal.threshold is not None
        assert cal.iq_angle_rad is not None
        assert cal.assignment_fidelity.value == found
        assert cal.assignment_fidelity.run_id == outcome.run_id
        state = outcome.state


def test_classify_convention() -> None:
    shots = np.array([[1 + 1j, -1 - 1j], [2j, -2j]], dtype=np.complex64)
    angle = np.pi / 4
    assert classify(shots, angle, 0.0).tolist() == [[True, False], [True, False]]
    p, err = excited_probability(shots, angle, 0.0)
    assert p.tolist() == [0.5, 0.5] and np.all(err > 0)
