"""Standard and interleaved RB on a random chip against the coherence limit of its qubit.

Coherence limit (the standard one, qiskit-experiments' ``RBUtils.coherence_limit``): the
average gate error of amplitude damping plus dephasing for a time t,
``ε(t) = ½·[1 − ⅓·e^{−t/T1} − ⅔·e^{−t/T2}]`` (= 1 − F_avg with
F_avg = (3 + e^{−t/T1} + 2e^{−t/T2})/6). For a Clifford, t is the mean number of pulses
per Clifford of our native synthesis (5/6, virtual Z free) times the gate duration.

Gates are set from truth (DRAG β, π and π/2 amplitudes maximising the closed-system
process fidelity of x and sx, found here with the chip model), so that what RB sees is
decoherence; the discriminator comes from the Discrimination routine.

Workaround: the simulated lab computes a whole program inside the readout AWG's trigger
command; an RB program takes longer than the drivers' 5 s default timeout, so the tests
raise the drivers' timeout (see the report of the RB work).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
from conftest import CHIPS, Bench
from numpy.typing import NDArray

from qneko_hw.calibrations import Discrimination
from qneko_hw.calibrations.gates import gate_pulse
from qneko_hw.calibrations.rb import InterleavedRB, RandomizedBenchmarking, native_clifford
from qneko_hw.calibrations.runner import RoutineOutcome, run_routine_multiplexed
from qneko_hw.config import Chip, Station
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.pulses import sample_pulse
from qneko_hw.simulated_instruments.lab import transmon_params
from qneko_hw.simulated_instruments.physics import transmon

DT = 1e-9
X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]], dtype=np.complex128)


def tuned_gates(
    chip: Chip, station: Station, state: CalibrationState, qubit: str
) -> CalibrationState:
    """``state`` with β, π and π/2 amplitudes maximising the process fidelity (truth)."""
    cal = state.qubit(qubit)
    params = transmon_params(chip, qubit)
    line = station.drive[qubit]
    lo = params.frequency_hz - line.if_frequency_hz
    n = round(cal.pulse_duration_s.value / DT)
    t = (np.arange(n) + 0.5) * DT
    carrier = np.exp(-2j * np.pi * line.if_frequency_hz * t) * 10 ** (-line.attenuation_db / 20)
    # from the LO frame to the qubit frame at the end of the pulse
    free = np.exp(2j * np.pi * line.if_frequency_hz * np.arange(params.levels) * n * DT)
    scale = -1.0 / (2 * math.pi * params.anharmonicity_hz)

    def infidelity(amp: float, beta: float, target: NDArray[np.complex128]) -> float:
        c = cal.model_copy(update={"drag_beta_s": CalValue(value=beta)})
        env = sample_pulse(gate_pulse(c, amp), n, DT) * carrier
        u = transmon.unitary(params, env[None, :], DT, lo)[0]
        block = (free[:, None] * u)[:2, :2]
        return float(1 - abs(np.trace(target.conj().T @ block)) ** 2 / 4)

    def best(beta: float, target: NDArray[np.complex128], guess: float) -> tuple[float, float]:
        r = scipy.optimize.minimize_scalar(
            lambda a: infidelity(a, beta, target),
            bounds=(0.8 * guess, 1.2 * guess),
            method="bounded",
            options={"xatol": 1e-9},
        )
        return float(r.x), float(r.fun)

    a0 = cal.pi_amplitude_v.value
    k = scipy.optimize.minimize_scalar(
        lambda k: best(k * scale, X, a0)[1] + best(k * scale, SX, a0 / 2)[1],
        bounds=(0.0, 1.2),
        method="bounded",
        options={"xatol": 1e-4},
    ).x
    beta = float(k) * scale
    (a_pi, e_x), (a_half, e_sx) = best(beta, X, a0), best(beta, SX, a0 / 2)
    assert e_x < 1e-5 and e_sx < 1e-5, (e_x, e_sx)
    return state.with_qubit(
        qubit,
        drag_beta_s=CalValue(value=beta),
        pi_amplitude_v=CalValue(value=a_pi),
        pi_half_amplitude_v=CalValue(value=a_half),
    )


def coherence_limit(chip: Chip, qubit: str, duration_s: float) -> float:
    """Average gate error of T1/T2 alone over ``duration_s`` (s) (qiskit-experiments)."""
    from qiskit_experiments.library.randomized_benchmarking import RBUtils

    q = chip.qubits[qubit]
    return float(RBUtils.coherence_limit(1, [q.t1_s], [q.t2_s], duration_s))


def prepared(bench: Bench, qubit: str) -> CalibrationState:
    for drv in bench.instruments.values():
        drv.timeout(120)  # workaround: the lab simulates inside the trigger command
    state = bench.discriminated_state(qubit)
    return tuned_gates(bench.truth, bench.station, state, qubit)


def test_pulses_per_clifford() -> None:
    pulses = [sum(g != "rz" for g, _ in native_clifford(k)) for k in range(24)]
    assert sum(pulses) / 24 == pytest.approx(5 / 6)
    assert max(pulses) == 1


@pytest.mark.parametrize("bench", [CHIPS[0]], indirect=True, ids=[f"seed{CHIPS[0][0]}"])
def test_rb_and_interleaved_rb_near_the_coherence_limit(bench: Bench) -> None:
    q = "q0"
    state = prepared(bench, q)
    gate_s = state.qubit(q).pulse_duration_s.value
    limit_clifford = coherence_limit(bench.truth, q, 5 / 6 * gate_s)
    limit_x = coherence_limit(bench.truth, q, gate_s)

    outcome = bench.run(RandomizedBenchmarking(), q, state)
    fit = outcome.fit
    epc = fit.values["epc"]
    assert fit.quality == "good", fit.message
    assert outcome.state == state  # a benchmark calibrates nothing
    assert 0.5 * limit_clifford < epc <= 1.2 * limit_clifford, (epc, limit_clifford)
    assert fit.uncertainties["epc"] < 0.2 * epc

    outcome = bench.run(InterleavedRB(), q, state)
    fit = outcome.fit
    assert fit.quality in ("good", "poor"), fit.message
    ref, epc_x = fit.values["epc"], fit.values["epc_x"]
    assert 0.5 * limit_clifford < ref <= 1.2 * limit_clifford, (ref, limit_clifford)
    assert 0.5 * limit_x < epc_x <= 1.2 * limit_x, (epc_x, limit_x)
    assert fit.values["epc_x_low"] <= epc_x <= fit.values["epc_x_high"]


@pytest.mark.parametrize("bench", [CHIPS[1]], indirect=True, ids=[f"seed{CHIPS[1][0]}"])
def test_miscalibrated_pi_pulse_raises_the_x_error(bench: Bench) -> None:
    """A π amplitude 3 % off: the interleaved X error grows well above the coherence limit."""
    q = "q0"
    state = prepared(bench, q)
    cal = state.qubit(q)
    bad = state.with_qubit(q, pi_amplitude_v=CalValue(value=1.03 * cal.pi_amplitude_v.value))
    fit = bench.run(InterleavedRB(lengths=(1, 50, 120, 250), samples=2, shots=500), q, bad).fit
    limit_x = coherence_limit(bench.truth, q, cal.pulse_duration_s.value)
    # coherent over-rotation by 0.03·π: average gate error ≈ (0.03·π)²/6 on top of T1/T2
    assert fit.values["epc_x"] > limit_x + 0.5 * (0.03 * math.pi) ** 2 / 6, fit.values


@pytest.mark.parametrize("bench", [CHIPS[1]], indirect=True, ids=[f"seed{CHIPS[1][0]}"])
def test_multiplexed_rb_near_the_coherence_limit(bench: Bench) -> None:
    """Both qubits benchmarked at once (their sequences side by side, one readout each on
    the shared feedline), as ``qneko calibrate`` runs RB: each error per Clifford within
    (0.5, 1.2] × its own coherence limit."""
    for drv in bench.instruments.values():
        drv.timeout(120)  # workaround: the lab simulates inside the trigger command
    state = bench.truth_state()
    for q in ("q0", "q1"):
        state = bench.run(Discrimination(shots=2000), q, state).state
        state = tuned_gates(bench.truth, bench.station, state, q)
    got = run_routine_multiplexed(
        RandomizedBenchmarking(),
        ["q0", "q1"],
        state,
        bench.lab.station,
        bench.instruments,
        out_dir=bench.out_dir,
    )
    for q, outcome in got.items():
        assert isinstance(outcome, RoutineOutcome), outcome
        fit = outcome.fit
        assert fit.quality == "good", (q, fit.message)
        gate_s = state.qubit(q).pulse_duration_s.value
        limit = coherence_limit(bench.truth, q, 5 / 6 * gate_s)
        assert 0.5 * limit < fit.values["epc"] <= 1.2 * limit, (q, fit.values["epc"], limit)
