"""DRAG β on perturbed chips against the β that zeroes the π pulse's phase error.

Truth: the closed-system propagator of the calibrated π pulse as the chip sees it (AWG
envelope with IF, attenuation; ``physics.transmon.unitary`` in the LO frame), moved to the
frame of the qubit, restricted to {|0⟩, |1⟩} and scaled to unit determinant; its
rotation axis has z-component ``Im(U₁₁ − U₀₀)/(2·sin(θ/2))``, zero at the true β.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from conftest import DT, Bench, chip_envelope

from qneko_hw.calibrations import Discrimination
from qneko_hw.calibrations.drag import DragBeta
from qneko_hw.calibrations.gates import gate_pulse
from qneko_hw.calibrations.runner import RoutineOutcome, run_routine_multiplexed
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.simulated_instruments.lab import transmon_params
from qneko_hw.simulated_instruments.physics import transmon


def axis_z(bench: Bench, state: CalibrationState, qubit: str, beta_s: float) -> float:
    """z-component of the rotation axis of the π pulse with DRAG coefficient ``beta_s``."""
    cal = state.qubit(qubit).model_copy(update={"drag_beta_s": CalValue.design(beta_s)})
    line = bench.station.drive[qubit]
    params = transmon_params(bench.truth, qubit)
    env = cal.pi_amplitude_v.value * chip_envelope(bench.station, qubit, gate_pulse(cal, 1.0))
    f_lo = cal.drive_frequency_hz.value - line.if_frequency_hz
    u = transmon.unitary(params, env[None, :], DT, f_lo)[0]
    frame = np.exp(2j * np.pi * line.if_frequency_hz * np.arange(params.levels) * env.size * DT)
    u2 = (frame[:, None] * u)[:2, :2]
    u2 = u2 / np.sqrt(np.linalg.det(u2))
    half = np.arccos(np.clip(np.real(np.trace(u2)) / 2, -1, 1))
    return float(np.imag(u2[1, 1] - u2[0, 0]) / (2 * np.sin(half)))


def true_beta(bench: Bench, state: CalibrationState, qubit: str) -> float:
    return float(
        scipy.optimize.brentq(lambda b: axis_z(bench, state, qubit, b), -0.5e-9, 2e-9, xtol=1e-14)
    )


def test_drag_beta_within_ten_percent(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    expected = true_beta(bench, state, "q0")
    outcome = bench.run(DragBeta(), "q0", state)
    fit = outcome.fit
    assert fit.quality == "good", fit.message
    found = outcome.state.qubit("q0").drag_beta_s
    assert found.value == pytest.approx(expected, rel=0.1), (fit.values, expected)
    assert found.uncertainty is not None and found.uncertainty < 0.05 * expected
    assert found.run_id == outcome.run_id


def test_multiplexed_drag_beta_within_ten_percent(bench: Bench) -> None:
    """DRAG on both qubits at once: each β within 10 % of its own truth."""
    state = bench.truth_state()
    for q in ("q0", "q1"):
        state = bench.run(Discrimination(shots=2000), q, state).state
    got = run_routine_multiplexed(
        DragBeta(), ["q0", "q1"], state, bench.lab.station, bench.instruments, out_dir=bench.out_dir
    )
    for q, outcome in got.items():
        assert isinstance(outcome, RoutineOutcome), outcome
        assert outcome.fit.quality == "good", (q, outcome.fit.message)
        found = outcome.state.qubit(q).drag_beta_s.value
        assert found == pytest.approx(true_beta(bench, state, q), rel=0.1), q
