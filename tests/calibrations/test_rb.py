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

The plan and the fit are also tested alone: the axes of the circuits, and the fit of
synthetic shots of a known decay (no lab).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
from conftest import CHIPS, Bench
from numpy.typing import NDArray

from qneko_hw.analysis import DENSE_POINTS, Results, r_squared
from qneko_hw.calibrations.discrimination import Discrimination
from qneko_hw.calibrations.gates import gate_pulse
from qneko_hw.calibrations.rb import (
    InterleavedRB,
    RandomizedBenchmarking,
    RBSetup,
    native_clifford,
)
from qneko_hw.calibrations.runner import RoutineOutcome, run_routine_multiplexed
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.data import Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError
from qneko_hw.pulses import sample_pulse
from qneko_hw.runfile import read_run
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


def with_coherence(bench: Bench, state: CalibrationState, qubit: str) -> CalibrationState:
    """``state`` with the qubit's T1 and T2* as the graph's T1 and Ramsey nodes store them
    before RB (here from truth): RB chooses its lengths from them."""
    q = bench.truth.qubits[qubit]
    return state.with_qubit(qubit, t1_s=CalValue.design(q.t1_s), t2_s=CalValue.design(q.t2_s))


def prepared(bench: Bench, qubit: str) -> CalibrationState:
    for drv in bench.instruments.values():
        drv.timeout(120)  # workaround: the lab simulates inside the trigger command
    state = bench.discriminated_state(qubit)
    return with_coherence(bench, tuned_gates(bench.truth, bench.station, state, qubit), qubit)


def series(results: Results, kind: str, label: str) -> list[tuple[float, ...]]:
    """(x, y, yerr) of the figure's series of ``kind`` labelled ``label``."""
    assert results.figure is not None
    (s,) = [s for s in results.figure.panels[0].series if s.kind == kind and s.label == label]
    return [s.x, s.y, s.yerr]


def check_figure(results: Results, *, interleaved: bool) -> None:
    """Survival per sequence and mean per length as points, the fitted decay(s) on a dense
    grid of m, and R² that of the decays against the plotted means."""
    assert results.figure is not None
    panel = results.figure.panels[0]
    assert (panel.x_unit, panel.y_unit) == ("", "")
    assert "Clifford length" in panel.x_label and "P(|0⟩)" in panel.y_label
    v = results.values
    means: list[float] = []
    fitted: list[float] = []
    for kind in ("reference", "interleaved") if interleaved else ("reference",):
        x_seq, y_seq, _ = series(results, "points", f"{kind} sequences")
        x_mean, y_mean, err = series(results, "points", f"{kind} mean")
        x_fit, y_fit, _ = series(results, "line", f"{kind} fit")
        assert sorted(set(x_seq)) == list(x_mean) and len(err) == len(x_mean)
        for m, y in zip(x_mean, y_mean, strict=True):
            group = [b for a, b in zip(x_seq, y_seq, strict=True) if a == m]
            assert y == pytest.approx(np.mean(group))
        assert len(x_fit) == DENSE_POINTS and (x_fit[0], x_fit[-1]) == (x_mean[0], x_mean[-1])
        rate = v["alpha"] * (v["alpha_c"] if kind == "interleaved" else 1.0)
        decay = v["a"] * rate ** np.asarray(x_fit) + v["b"]
        assert np.allclose(y_fit, decay)
        means += y_mean
        fitted += list(v["a"] * rate ** np.asarray(x_mean) + v["b"])
    assert results.r_squared is not None and results.r_squared > 0.5
    assert results.r_squared == pytest.approx(r_squared(means, fitted), abs=1e-9)
    assert panel.r_squared == results.r_squared and "±" in panel.note


def check_axes(outcome: RoutineOutcome, routine: RandomizedBenchmarking) -> None:
    """The run file records every circuit's Clifford length, sample, interleaving and
    reference role (the asymptote references at the end), and the lengths chosen."""
    run = read_run(outcome.run_file)
    assert list(run.axes) == ["clifford_length", "sample", "interleaved", "reference"]
    assert all(a.unit == "" for a in run.axes.values())
    setup = RBSetup.model_validate_json(run.routine["setup"])
    assert setup.seed == routine.seed and setup.references == routine.references
    if routine.lengths is not None:
        assert setup.lengths == routine.lengths
    variants = (0, 1) if isinstance(routine, InterleavedRB) else (0,)
    expected = [
        (m, k, f, 0) for f in variants for k in range(routine.samples) for m in setup.lengths
    ]
    expected += [(0, k, 0, role) for k in range(routine.references) for role in (1, 2)]
    got = zip(*(run.axes[n].values.tolist() for n in run.axes), strict=True)
    assert list(got) == expected
    assert run.signals["c0"].values.shape == (len(expected), routine.shots)


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

    routine = RandomizedBenchmarking()
    outcome = bench.run(routine, q, state)
    results = outcome.results
    epc = results.values["epc"]
    assert results.verdict == "good", results.message
    stored = outcome.state.qubit(q).error_per_clifford  # the error per Clifford, with its σ
    assert stored is not None and stored.value == epc and stored.run_id == outcome.run_id
    assert stored.uncertainty == results.uncertainties["epc"]
    assert 0.5 * limit_clifford < epc <= 1.2 * limit_clifford, (epc, limit_clifford)
    assert results.uncertainties["epc"] < 0.2 * epc
    # the asymptote is measured (|0⟩ and |1⟩ references), not fitted
    assert results.uncertainties["b"] > 0 and 0.45 < results.values["b"] < 0.55
    check_axes(outcome, routine)
    check_figure(results, interleaved=False)

    irb = InterleavedRB()
    outcome = bench.run(irb, q, state)
    results = outcome.results
    assert results.verdict in ("good", "poor"), results.message
    ref, epc_x = results.values["epc"], results.values["epc_x"]
    assert 0.5 * limit_clifford < ref <= 1.2 * limit_clifford, (ref, limit_clifford)
    assert 0.5 * limit_x < epc_x <= 1.2 * limit_x, (epc_x, limit_x)
    assert results.values["epc_x_low"] <= epc_x <= results.values["epc_x_high"]
    assert outcome.state == state  # interleaved RB stores nothing
    check_axes(outcome, irb)
    check_figure(results, interleaved=True)


@pytest.mark.parametrize("bench", [CHIPS[1]], indirect=True, ids=[f"seed{CHIPS[1][0]}"])
def test_miscalibrated_pi_pulse_raises_the_x_error(bench: Bench) -> None:
    """A π amplitude 3 % off: the interleaved X error grows well above the coherence limit."""
    q = "q0"
    state = prepared(bench, q)
    cal = state.qubit(q)
    bad = state.with_qubit(q, pi_amplitude_v=CalValue(value=1.03 * cal.pi_amplitude_v.value))
    routine = InterleavedRB(lengths=(1, 50, 120, 250), samples=2, shots=500)
    results = bench.run(routine, q, bad).results
    limit_x = coherence_limit(bench.truth, q, cal.pulse_duration_s.value)
    # coherent over-rotation by 0.03·π: average gate error ≈ (0.03·π)²/6 on top of T1/T2
    assert results.values["epc_x"] > limit_x + 0.5 * (0.03 * math.pi) ** 2 / 6, results.values


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
        state = with_coherence(bench, tuned_gates(bench.truth, bench.station, state, q), q)
    routine = RandomizedBenchmarking()
    got = run_routine_multiplexed(
        routine,
        ["q0", "q1"],
        state,
        bench.lab.station,
        bench.instruments,
        out_dir=bench.out_dir,
    )
    for q, outcome in got.items():
        assert isinstance(outcome, RoutineOutcome), outcome
        results = outcome.results
        assert results.verdict == "good", (q, results.message)
        gate_s = state.qubit(q).pulse_duration_s.value
        limit = coherence_limit(bench.truth, q, 5 / 6 * gate_s)
        assert 0.5 * limit < results.values["epc"] <= 1.2 * limit, (q, results.values["epc"], limit)
        assert read_run(outcome.run_file).multiplexed_with == tuple(k for k in got if k != q)
        check_axes(outcome, routine)


# --- the plan and the fit alone --------------------------------------------------------


def design(discriminated: bool = True) -> tuple[CalibrationState, Station]:
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station)
    if discriminated:
        state = state.with_qubit(
            "q0", iq_angle_rad=CalValue.design(0.0), threshold=CalValue.design(0.0)
        )
    return state, station


def test_plan_without_discriminator_raises() -> None:
    state, station = design(discriminated=False)
    with pytest.raises(CalibrationError, match="discriminator"):
        RandomizedBenchmarking().plan("q0", state, station)


@pytest.mark.parametrize("cls", [RandomizedBenchmarking, InterleavedRB])
def test_plan_axes_and_setup(cls: type[RandomizedBenchmarking]) -> None:
    state, station = design()
    routine = cls(lengths=(1, 3, 7), samples=2, seed=5, references=1)
    plan = routine.plan("q0", state, station)
    axes = {a.name: a.values.tolist() for a in plan.axes}
    flags = (0.0, 1.0) if cls is InterleavedRB else (0.0,)
    n = 6 * len(flags)
    assert axes["clifford_length"] == [1.0, 3.0, 7.0] * 2 * len(flags) + [0.0, 0.0]
    assert axes["sample"][:n] == [0.0] * 3 + [1.0] * 3 + ([0.0] * 3 + [1.0] * 3) * (len(flags) - 1)
    assert axes["interleaved"] == [f for f in flags for _ in range(6)] + [0.0, 0.0]
    assert axes["reference"] == [0.0] * n + [1.0, 2.0]  # then the asymptote's |0⟩ and |1⟩
    assert plan.steps == len(axes["sample"])
    assert plan.setup == RBSetup(
        discriminator=Discriminator(iq_angle_rad=0.0, threshold_v=0.0),
        seed=5,
        lengths=(1, 3, 7),
        references=1,
    )
    # same seed, same sequences
    again = routine.plan("q0", state, station)
    assert [str(c) for c in again.measurement.circuits] == [  # type: ignore[union-attr]
        str(c)
        for c in plan.measurement.circuits  # type: ignore[union-attr]
    ]


def synthetic(
    routine: RandomizedBenchmarking, alpha: float, alpha_c: float = 1.0, *, seed: int = 0
) -> Data[RBSetup]:
    """The plan of ``routine`` with shots of survival ``0.48·α^m + 0.5`` (interleaved:
    ``(α·α_c)^m``), classified at the threshold 0 (|0⟩ at −1 V, |1⟩ at +1 V)."""
    state, station = design()
    plan = routine.plan("q0", state, station)
    axes = {a.name: a for a in plan.axes}
    m = axes["clifford_length"].values
    rate = np.where(axes["interleaved"].values > 0, alpha * alpha_c, alpha)
    survival = 0.48 * rate**m + 0.5
    role = axes["reference"].values  # the asymptote's references: |0⟩ 0.98, |1⟩ 0.02
    survival = np.where(role == 1, 0.98, np.where(role == 2, 0.02, survival))
    rng = np.random.default_rng(seed)
    ones = rng.random((m.size, routine.shots)) >= survival[:, None]
    shots = np.where(ones, 1.0, -1.0) + 0.2 * rng.standard_normal(ones.shape)
    return Data(
        routine=routine.name,
        qubit="q0",
        setup=plan.setup,
        axes=axes,
        signals={"c0": Signal.iq(shots, "c0")},
    )


def test_fit_of_a_known_decay() -> None:
    routine = RandomizedBenchmarking(lengths=(1, 20, 50, 100, 200, 400), samples=3, shots=1000)
    results = routine.analyze(synthetic(routine, 0.99))
    assert results.verdict == "good", results.message
    assert results.values["epc"] == pytest.approx(0.005, rel=0.1)
    assert abs(results.values["epc"] - 0.005) < 3 * results.uncertainties["epc"]
    assert results.values["alpha"] == pytest.approx(0.99, abs=0.001)
    assert results.values["a"] == pytest.approx(0.48, abs=0.03)
    assert results.values["b"] == pytest.approx(0.5, abs=0.01)  # measured, then held fixed
    assert set(results.changes) == {"error_per_clifford"}
    assert results.changes["error_per_clifford"].value == results.values["epc"]
    check_figure(results, interleaved=False)


@pytest.mark.parametrize("references", [0, 2])
def test_a_measured_asymptote_gives_an_honest_small_sigma(references: int) -> None:
    """A slow decay (EPC 2e-4, survival still at 0.75 at the longest length): with the
    asymptote fitted, the error per Clifford is uncertain; measured by the references and
    held fixed, its σ is several times smaller and the value within 3σ of the truth."""
    routine = RandomizedBenchmarking(
        lengths=(1, 100, 300, 600, 1000), samples=3, shots=1000, references=references
    )
    results = routine.analyze(synthetic(routine, 1 - 2 * 2e-4))
    epc, sigma = results.values["epc"], results.uncertainties["epc"]
    assert abs(epc - 2e-4) < 3 * sigma
    if references:
        assert sigma < 0.2 * epc and results.verdict == "good"
    else:
        assert sigma > 0.2 * epc


def test_interleaved_fit_of_a_known_decay() -> None:
    routine = InterleavedRB(lengths=(1, 20, 50, 100, 200, 400), samples=3, shots=1000)
    results = routine.analyze(synthetic(routine, 0.99, 0.98))
    assert results.verdict in ("good", "poor"), results.message
    assert results.values["alpha_c"] == pytest.approx(0.98, abs=0.002)
    assert results.values["epc_x"] == pytest.approx(0.01, rel=0.1)
    check_figure(results, interleaved=True)


def test_fit_of_mismatched_data_is_bad() -> None:
    routine = RandomizedBenchmarking(lengths=(1, 20, 50), samples=1, shots=100)
    data = synthetic(routine, 0.99)
    short = Data(
        routine=data.routine,
        qubit=data.qubit,
        setup=data.setup,
        axes=data.axes,
        signals={"c0": Signal.iq(data.iq("c0")[:-1], "c0")},
    )
    results = routine.analyze(short)
    assert results.verdict == "bad" and "sequences" in results.message
