"""Oracles no one here wrote: Qiskit's ``Operator`` for compiled circuits, QuTiP for the lab.

(a) PHYSICS.md's oracle. A random 1-qubit circuit of ``rz``/``sx``/``x`` is compiled, rendered,
sent through the lab's IQ mixer model and line attenuation and played through the closed-system
transmon propagator (decoherence off, 3 levels). In the frame of the qubit (remove the LO-frame
free rotation ``diag(e^{+i2π(f_q − f_LO)·n·T})``) and after the phase left in the drive frame
is applied as a final Z rotation, the qubit block must be Qiskit's unitary to process fidelity
≥ 0.999 (leakage out of the qubit subspace counts as error).

Sign of the final Z, from first principles: ``rz(θ)`` shifts the frame of every later pulse by
−θ, and ``X·Rz(θ) = Rz(θ)·R_{−θ}(π)`` (a pulse about the axis at angle −θ). So a circuit whose
angles sum to Θ equals the played pulses followed by ``Rz(Θ) = Rz(−φ_frame)``, where
``φ_frame = −Θ`` is the phase left in the frame (``compiled.frame_phases["q0.drive"]``).

DRAG: on this model the β that cancels the phase error of the pulses (the figure of merit for
a circuit) is ``β = −1/(2·2π·α)`` (α in Hz, β in s), half the leakage-cancelling value
``−1/(2π·α)``: over 15 gates that one reaches only F ≈ 0.997–0.999 here, the half value
F ≈ 0.99994.

(b) A circuit of X/SX/RZ runs on the simulated lab over TCP (twins, drivers, executor); the
excited-state fraction it reports matches QuTiP's ``mesolve`` for the same rendered pulses
(with T1, T2 and the thermal population of the chip), within statistical error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
from numpy.typing import NDArray
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Operator

from qneko_hw.compiler import CompiledExperiment, compile_circuit, render_step
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.executor import execute
from qneko_hw.pulses import Drag, pulse_shape
from qneko_hw.simulated_instruments.lab import SimulatedLab, mix, transmon_params
from qneko_hw.simulated_instruments.physics import transmon
from qneko_hw.simulated_instruments.physics.truth import pi_amplitude

DT = 1e-9


def closed(params: transmon.TransmonParams) -> transmon.TransmonParams:
    """The same transmon without decoherence and without thermal population."""
    return transmon.TransmonParams(
        frequency_hz=params.frequency_hz,
        anharmonicity_hz=params.anharmonicity_hz,
        t1_s=math.inf,
        t2_s=math.inf,
        rabi_rate_hz_per_v=params.rabi_rate_hz_per_v,
        thermal_population=0.0,
        levels=3,
    )


def true_state(chip: Chip, station: Station, qubit: str, drag: float) -> CalibrationState:
    """Calibration state with the truth's π amplitude for the DRAG shape, π/2 = half.

    ``drag`` scales the DRAG coefficient in units of the leakage-cancelling −1/(2π·α).
    """
    state = design_state(chip, station)
    cal = state.qubit(qubit)
    params = closed(transmon_params(chip, qubit))
    beta = drag * -1.0 / (2 * math.pi * params.anharmonicity_hz)
    line = station.drive[qubit]
    dur, sigma = cal.pulse_duration_s.value, cal.pulse_sigma_s.value
    n = round(dur / DT)
    shape = pulse_shape(Drag(amplitude_v=1.0, duration_s=dur, sigma_s=sigma, beta_s=beta), n, DT)
    t = (np.arange(n) + 0.5) * DT
    f_if = line.if_frequency_hz
    f_q = chip.qubits[qubit].frequency_hz
    a_chip = pi_amplitude(params, shape * np.exp(-2j * np.pi * f_if * t), DT, f_q, f_q - f_if)
    pi = a_chip / 10 ** (-line.attenuation_db / 20)
    return state.with_qubit(
        qubit,
        drive_frequency_hz=CalValue(value=f_q),
        pi_amplitude_v=CalValue(value=pi),
        pi_half_amplitude_v=CalValue(value=pi / 2),
        drag_beta_s=CalValue(value=beta),
    )


def random_circuit(seed: int, n_gates: int) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(1)
    for _ in range(n_gates):
        g = int(rng.integers(3))
        if g == 0:
            qc.rz(float(rng.uniform(-math.pi, math.pi)), 0)
        elif g == 1:
            qc.sx(0)
        else:
            qc.x(0)
    return qc


def drive_envelope(
    compiled: CompiledExperiment, station: Station, qubit: str, step: int = 0
) -> tuple[NDArray[np.complex128], float]:
    """(envelope at the chip (V) per sample, LO frequency (Hz)) of the qubit's drive line."""
    line = station.drive[qubit]
    lo = next((p.frequency_hz for p in compiled.los if p.instrument == line.lo), math.nan)
    prog = next((a for a in compiled.awgs if a.instrument == line.awg), None)
    if prog is None:  # nothing played on the drive
        return np.zeros(0, dtype=np.complex128), lo
    out = render_step(prog, step)
    z = mix(out[line.channel_i], out[line.channel_q], line.mixer, line.attenuation_db)
    return z, lo


def rz(theta: float) -> NDArray[np.complex128]:
    return np.diag([np.exp(-0.5j * theta), np.exp(0.5j * theta)])


def process_fidelity(target: NDArray[np.complex128], block: NDArray[np.complex128]) -> float:
    """|Tr(U†V)|²/d² for a d×d block V of a larger unitary (leakage lowers it)."""
    d = target.shape[0]
    return float(abs(np.trace(target.conj().T @ block)) ** 2 / d**2)


def qubit_frame_block(
    chip: Chip, qubit: str, z: NDArray[np.complex128], lo: float
) -> NDArray[np.complex128]:
    """Qubit-subspace block of the propagator, in the frame of the qubit."""
    params = closed(transmon_params(chip, qubit))
    u = transmon.unitary(params, z[None, :], DT, lo)[0]
    levels = np.arange(params.levels)
    t_total = z.size * DT
    free = np.diag(np.exp(2j * np.pi * (params.frequency_hz - lo) * levels * t_total))
    return (free @ u)[:2, :2]


# -- (a) Qiskit's Operator ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chip_seed", "circuit_seed", "n_gates", "if_hz"),
    [(7, 0, 15, 100e6), (7, 1, 20, 100e6), (3, 2, 12, 100e6), (5, 3, 18, -80e6)],
)
def test_compiled_circuit_gives_qiskits_unitary(
    chip_seed: int, circuit_seed: int, n_gates: int, if_hz: float
) -> None:
    chip = random_chip(1, chip_seed)
    station = default_station({"f0": ["q0"]})
    station = station.replace(drive={"q0": station.drive["q0"].replace(if_frequency_hz=if_hz)})
    state = true_state(chip, station, "q0", drag=0.5)
    qc = random_circuit(circuit_seed, n_gates)
    assert {"rz", "sx", "x"} <= set(qc.count_ops()), qc.count_ops()
    compiled = compile_circuit(qc, station, state)
    z, lo = drive_envelope(compiled, station, "q0")
    assert lo == pytest.approx(chip.qubits["q0"].frequency_hz - if_hz)
    block = qubit_frame_block(chip, "q0", z, lo)
    frame = compiled.frame_phases["q0.drive"]
    total_rz = sum(float(ci.params[0]) for ci in qc.data if ci.name == "rz")
    assert math.remainder(frame + total_rz, 2 * math.pi) == pytest.approx(0.0, abs=1e-12)
    target = Operator(qc).data
    fidelity = process_fidelity(target, rz(-frame) @ block)
    assert fidelity >= 0.999, fidelity
    # the opposite sign of the final Z (or none) is far off: the test sees sign errors
    wrong = process_fidelity(target, rz(frame) @ block)
    assert wrong < 0.99 or abs(math.remainder(frame, math.pi)) < 0.05, wrong


def test_single_gates_against_qiskit() -> None:
    """x, sx and rz·sx one at a time: the axis and sense of each rotation."""
    chip = random_chip(1, 7)
    station = default_station({"f0": ["q0"]})
    state = true_state(chip, station, "q0", drag=0.5)
    for build in (
        lambda qc: qc.x(0),
        lambda qc: qc.sx(0),
        lambda qc: (qc.rz(math.pi / 2, 0), qc.sx(0)),
        lambda qc: (qc.sx(0), qc.rz(-0.8, 0), qc.sx(0)),
    ):
        qc = QuantumCircuit(1)
        build(qc)
        compiled = compile_circuit(qc, station, state)
        z, lo = drive_envelope(compiled, station, "q0")
        block = qubit_frame_block(chip, "q0", z, lo)
        frame = compiled.frame_phases.get("q0.drive", 0.0)
        fidelity = process_fidelity(Operator(qc).data, rz(-frame) @ block)
        assert fidelity >= 0.9995, (qc.count_ops(), fidelity)


# -- (b) the simulated lab against QuTiP -------------------------------------------------------
QUTIP_OPTIONS = {"atol": 1e-9, "rtol": 1e-9, "nsteps": 10**6}


def qutip_p1(params: transmon.TransmonParams, z: NDArray[np.complex128], lo: float) -> float:
    """P(|1>) after the piecewise-constant drive ``z`` (mesolve run by run), from thermal."""
    d = params.levels
    a = qutip.destroy(d)
    n = a.dag() * a
    h0 = 2 * np.pi * ((params.frequency_hz - lo) * n + params.anharmonicity_hz / 2 * n * (n - 1))
    c_ops = [math.sqrt(params.gamma_1_per_s) * a]
    if params.gamma_phi_per_s > 0:
        c_ops.append(math.sqrt(2 * params.gamma_phi_per_s) * n)
    rho0 = np.zeros((d, d), dtype=np.complex128)
    rho0[0, 0] = 1 - params.thermal_population
    rho0[1, 1] = params.thermal_population
    rho = qutip.Qobj(rho0)
    i = 0
    while i < z.size:
        j = i
        while j < z.size and z[j] == z[i]:
            j += 1
        zi = complex(z[i])
        h = h0 + np.pi * params.rabi_rate_hz_per_v * (zi * a.dag() + np.conj(zi) * a)
        rho = qutip.mesolve(
            h, rho, [0.0, (j - i) * DT], c_ops=c_ops, options=QUTIP_OPTIONS
        ).final_state
        i = j
    return float(rho.full()[1, 1].real)


def test_lab_populations_match_qutip() -> None:
    chip = random_chip(1, 7)
    station = default_station({"f0": ["q0"]}, seed=5)
    state = true_state(chip, station, "q0", drag=0.5)
    params = transmon_params(chip, "q0")
    shots = 10_000
    theta = Parameter("θ")
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.rz(0.3, 0)
    qc.sx(0)
    qc.rz(theta, 0)
    qc.sx(0)
    qc.rz(-0.9, 0)
    qc.sx(0)
    qc.measure(0, 0)
    thetas = [0.0, 0.7, 1.6, 2.5, 3.6, 5.0]
    ref0 = QuantumCircuit(1, 1)
    ref0.measure(0, 0)
    ref1 = QuantumCircuit(1, 1)
    ref1.x(0)
    ref1.measure(0, 0)
    programs = {
        "ref0": compile_circuit(ref0, station, state, shots=shots),
        "ref1": compile_circuit(ref1, station, state, shots=shots),
        "sweep": compile_circuit(qc, station, state, shots=shots, sweep={theta: thetas}),
    }
    with SimulatedLab(chip, station) as lab, connect(lab.station) as instruments:
        iq = {k: execute(c, instruments).shots["c0"] for k, c in programs.items()}

    # QuTiP on the rendered pulses, up to the start of the readout
    p1: dict[str, list[float]] = {}
    for k, c in programs.items():
        start = c.digitizers[0].demodulators[0].start_samples
        p1[k] = []
        for step in range(c.digitizers[0].steps):
            z, lo = drive_envelope(c, station, "q0", step)
            p1[k].append(qutip_p1(params, z[:start], lo))

    # mean IQ is affine in P1 (P2 ≈ 0): project on the ref0 → ref1 axis
    mu0, mu1 = iq["ref0"].mean(axis=1)[0], iq["ref1"].mean(axis=1)[0]
    axis = mu1 - mu0
    proj = {k: ((v - mu0) * np.conj(axis)).real / abs(axis) ** 2 for k, v in iq.items()}
    sem = {k: v.std(axis=1) / math.sqrt(shots) for k, v in proj.items()}
    a0, a1 = p1["ref0"][0], p1["ref1"][0]
    assert a1 - a0 > 0.8
    expected = (np.array(p1["sweep"]) - a0) / (a1 - a0)
    measured = proj["sweep"].mean(axis=1)
    err = np.sqrt(sem["sweep"] ** 2 + sem["ref0"][0] ** 2 + sem["ref1"][0] ** 2)
    assert np.all(np.abs(measured - expected) < 4 * err + 0.005), (measured, expected, err)
    # and the sweep really moves the populations
    assert np.ptp(expected) > 0.6
    # and both agree with the ideal circuit, up to thermal population and decoherence
    ideal = []
    for v in thetas:
        bound = qc.remove_final_measurements(inplace=False).assign_parameters({theta: v})
        ideal.append(abs(Operator(bound).data[1, 0]) ** 2)
    assert np.allclose(np.array(p1["sweep"]), ideal, atol=0.04), (p1["sweep"], ideal)
