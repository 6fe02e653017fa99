"""Circuit front-end: Qiskit and OpenQASM 3 in, identical programs out; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import Gate, Parameter

from qneko_hw.compiler import compile_circuit, render_step
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalValue, CzCalibration
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import FluxLine, InstrumentConfig, Limits
from qneko_hw.errors import CompilationError

CHIP = random_chip(2, 1234)
BASE = default_station({"f0": ["q0", "q1"]})
STATION = BASE.model_copy(
    update={
        "flux": {"q1": FluxLine(awg="awg_flux", channel=1)},
        "instruments": {
            **BASE.instruments,
            "awg_flux": InstrumentConfig(model="qneko_awg4", limits=Limits(max_amplitude_v=1.0)),
        },
    }
)
STATE = design_state(CHIP, BASE).model_copy(
    update={
        "cz": {
            "q0-q1": CzCalibration(
                flux_qubit="q1",
                amplitude_v=CalValue(value=0.3),
                duration_s=CalValue(value=60e-9),
                phase_a_rad=CalValue(value=0.1),
                phase_b_rad=CalValue(value=-0.2),
            )
        }
    }
)


def random_circuit(n_gates: int, seed: int) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(2, 2)
    for _ in range(n_gates):
        g = int(rng.integers(5))
        q = int(rng.integers(2))
        if g == 0:
            qc.rz(float(rng.uniform(-np.pi, np.pi)), q)
        elif g == 1:
            qc.sx(q)
        elif g == 2:
            qc.x(q)
        elif g == 3:
            qc.cz(0, 1)
        else:
            qc.delay(int(rng.integers(1, 50)), q, unit="dt")
    qc.barrier()
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_qiskit_and_openqasm3_compile_to_identical_programs(seed: int) -> None:
    qc = random_circuit(60, seed)
    a = compile_circuit(qc, STATION, STATE)
    b = compile_circuit(qasm3.dumps(qc), STATION, STATE)
    assert a.digest == b.digest
    assert {d.names for d in a.digitizers} == {("c0", "c1")}


def test_virtual_z_shifts_later_pulses_by_minus_theta() -> None:
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.rz(0.7, 0)
    qc.x(0)
    c = compile_circuit(qc, STATION, STATE)
    line = next(ln for a in c.awgs for ln in a.lines if ln.name == "drive:q0")
    assert line.entries["phase"].tolist() == pytest.approx([0.0, -0.7])
    assert c.frame_phases["q0.drive"] == pytest.approx(-0.7)


def test_cz_plays_flux_pulse_and_corrects_phases() -> None:
    qc = QuantumCircuit(2)
    qc.x(0)
    qc.cz(0, 1)
    qc.x(1)
    c = compile_circuit(qc, STATION, STATE)
    flux = next(ln for a in c.awgs for ln in a.lines if ln.name == "flux:q1")
    assert flux.channel_q is None and flux.entries["start"].tolist() == [40]
    q1 = next(ln for a in c.awgs for ln in a.lines if ln.name == "drive:q1")
    assert q1.entries["start"].tolist() == [100]  # after the 60 ns flux pulse
    assert q1.entries["phase"].tolist() == pytest.approx([0.2])
    awg = next(a for a in c.awgs if a.instrument == "awg_flux")
    out = render_step(awg, 0)[1]
    assert np.allclose(out[40:100], 0.3) and np.allclose(out[:40], 0)


def test_non_native_gates_are_transpiled() -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    c = compile_circuit(qc, STATION, STATE)
    assert any(ln.name == "flux:q1" for a in c.awgs for ln in a.lines)


def test_opaque_gate_is_named_in_error() -> None:
    qc = QuantumCircuit(2)
    qc.append(Gate("mystery", 1, []), [1])
    with pytest.raises(CompilationError, match=r"mystery.*q1"):
        compile_circuit(qc, STATION, STATE)


def test_errors_for_bad_circuits() -> None:
    with pytest.raises(CompilationError, match="uses 3 qubits"):
        compile_circuit(QuantumCircuit(3), STATION, STATE)
    with pytest.raises(CompilationError, match="malformed OpenQASM 3"):
        compile_circuit("OPENQASM 3.0;\nqubit[1] q;\nx q[0]\n", STATION, STATE)
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rz(theta, 0)
    qc.x(0)
    with pytest.raises(CompilationError, match="unbound"):
        compile_circuit(qc, STATION, STATE)
    no_cz = STATE.model_copy(update={"cz": {}})
    qc2 = QuantumCircuit(2)
    qc2.cz(0, 1)
    with pytest.raises(CompilationError, match="cz"):
        compile_circuit(qc2, STATION, no_cz)


def test_parameter_sweep_is_one_program() -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.sx(0)
    qc.rz(theta, 0)
    qc.sx(0)
    qc.measure(0, 0)
    values = np.linspace(0, np.pi, 5)
    c = compile_circuit(qc, STATION, STATE, sweep={theta: values})
    line = next(ln for a in c.awgs for ln in a.lines if ln.name == "drive:q0")
    second = line.entries[1::2]
    assert second["step"].tolist() == list(range(5))
    assert second["phase"] == pytest.approx(-values)
    assert c.digitizers[0].steps == 5


def test_alap_delays_short_branch() -> None:
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.x(0)
    qc.x(0)
    qc.x(1)
    qc.measure([0, 1], [0, 1])
    asap = compile_circuit(qc, STATION, STATE)
    alap = compile_circuit(qc, STATION, STATE, scheduling="alap")
    starts = {
        ln.name: ln.entries["start"].tolist()
        for a in alap.awgs
        for ln in a.lines
        if ln.name.startswith("drive")
    }
    assert starts["drive:q1"] == [80]
    assert starts["drive:q0"] == [0, 40, 80]
    assert asap.awgs[0].step_samples.tolist() == alap.awgs[0].step_samples.tolist()


def test_list_of_circuits_is_one_program_with_aligned_measurements() -> None:
    circuits = []
    for n in (1, 4, 9):
        qc = QuantumCircuit(1, 1)
        for _ in range(n):
            qc.sx(0)
        qc.measure(0, 0)
        circuits.append(qc)
    c = compile_circuit(circuits, STATION, STATE)
    assert c.sweep_values.tolist() == [0.0, 1.0, 2.0]
    assert c.digitizers[0].demodulators[0].start_samples == 9 * 40
    drive = next(ln for a in c.awgs for ln in a.lines if ln.name == "drive:q0")
    ends = {}
    for e in drive.entries:
        ends[int(e["step"])] = max(ends.get(int(e["step"]), 0), int(e["start"]) + 40)
    assert set(ends.values()) == {360}  # each step's gates end where the measurement starts


def test_delay_sweep_keeps_the_acquisition_window_fixed() -> None:
    from qneko_hw.compiler import compile_experiment
    from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep
    from qneko_hw.pulses import Gaussian

    exp = Experiment(
        name="t1",
        instructions=(
            Play(
                channel="q0.drive", pulse=Gaussian(amplitude_v=0.2, duration_s=40e-9, sigma_s=10e-9)
            ),
            Delay(channel="q0.drive", duration_s=0.0),
            Measure(qubit="q0", name="m"),
        ),
        sweep=Sweep(parameter="duration_s", instruction=1, values=(0.0, 1e-6, 5e-6)),
        shots=10,
    )
    c = compile_experiment(exp, STATION, STATE)
    assert c.digitizers[0].demodulators[0].start_samples == 5040
    drive = next(ln for a in c.awgs for ln in a.lines if ln.name == "drive:q0")
    assert drive.entries["start"].tolist() == [5000, 4000, 0]
