"""T1 on random chips, analysed by qiskit-experiments' T1Analysis on classified shots."""

from __future__ import annotations

import pytest
from conftest import Bench

from qneko_hw.calibrations import T1


def test_t1_within_ten_percent_of_truth(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    outcome = bench.run(T1(), "q0", state)
    fit = outcome.fit
    expected = bench.truth.qubits["q0"].t1_s
    assert fit.quality == "good", fit.message
    assert fit.values["t1_s"] == pytest.approx(expected, rel=0.1), (fit.values, expected)
    t1 = outcome.state.qubit("q0").t1_s
    assert t1 is not None and t1.value == fit.values["t1_s"] and t1.run_id == outcome.run_id


def test_without_a_discriminator_the_fit_is_bad_not_wrong(bench: Bench) -> None:
    routine = T1(points=6, shots=50)
    outcome = bench.run_unchecked(routine, "q0", bench.truth_state())
    assert outcome.fit.quality == "bad" and "discriminat" in outcome.fit.message
    assert outcome.error is not None
