"""Ramsey (frequency, T2*) and Hahn echo (T2E) on random chips against the chip's truth.

The simulated dephasing is Markovian (Lindblad), so T2* = T2E = the chip's T2.
"""

from __future__ import annotations

import pytest
from conftest import Bench

from qneko_hw.calibrations import Ramsey, T2Echo
from qneko_hw.config.calibration import CalValue


def test_ramsey_frequency_within_50_khz_and_t2_star_within_ten_percent(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    f_true = bench.truth.qubits["q0"].frequency_hz
    # as left by spectroscopy: within a MHz
    state = state.with_qubit("q0", drive_frequency_hz=CalValue.design(f_true + 0.7e6))
    routine = Ramsey()
    coarse = bench.run(routine, "q0", state)
    assert abs(coarse.fit.values["qubit_frequency_hz"] - f_true) < 100e3, coarse.fit.values
    state = coarse.state
    if state.qubit("q0").t2_s is None:  # T2* longer than the coarse span
        state = bench.run(routine, "q0", state).state
    assert state.qubit("q0").t2_s is not None
    fine = bench.run(routine, "q0", state)
    fit = fine.fit
    assert fit.quality == "good", fit.message
    cal = fine.state.qubit("q0")
    assert cal.drive_frequency_hz.value == pytest.approx(f_true, abs=50e3), (fit.values, f_true)
    assert cal.t2_s is not None
    t2_true = bench.truth.qubits["q0"].t2_s
    assert cal.t2_s.value == pytest.approx(t2_true, rel=0.1), (fit.values, t2_true)


def test_echo_t2_within_ten_percent(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    outcome = bench.run(T2Echo(), "q0", state)
    fit = outcome.fit
    t2_true = bench.truth.qubits["q0"].t2_s
    assert fit.quality != "bad", fit.message
    cal = outcome.state.qubit("q0")
    assert cal.t2_echo_s is not None
    assert cal.t2_echo_s.value == pytest.approx(t2_true, rel=0.1), (fit.values, t2_true)
