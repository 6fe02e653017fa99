"""Failing tests for library bugs found while writing tests/compiler (hand-over to the lead).

Drop into tests/compiler/ next to test_invariants.py and test_oracle.py (it imports their
fixtures). Every test here fails on 91e8f74 + working tree of 2025-11-25.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from qiskit import QuantumCircuit
from test_invariants import ACCEPTABLE, STATE, STATION, _x_on, compiled_entries, experiment

from qneko_hw.compiler import compile_circuit, compile_experiment
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.errors import CompilationError, QnekoError
from qneko_hw.executor import execute
from qneko_hw.experiment import Barrier, Delay, Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Gaussian
from qneko_hw.simulated_instruments.lab import SimulatedLab


@pytest.mark.parametrize(
    "text",
    [
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nrz(1e400) q[0];\nx q[0];',
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\ndelay[1e400ns] q[0];\nx q[0];',
    ],
    ids=["rz inf", "delay inf"],
)
def test_bad_openqasm3_is_a_compilation_error(text: str) -> None:
    with pytest.raises(QnekoError):
        compile_circuit(text, STATION, STATE)


def test_empty_barrier_aligns_every_channel_of_the_experiment() -> None:
    """experiment.Barrier: 'all channels of the experiment when empty' — also ones used later."""
    g = Gaussian(amplitude_v=0.1, duration_s=40e-9, sigma_s=10e-9)
    ops = (Play(channel="q0.drive", pulse=g), Barrier(), Play(channel="q1.drive", pulse=g))
    c = compile_experiment(experiment(ops), STATION, STATE)
    assert compiled_entries(c)["drive:q1"][1]["start"].tolist() == [40]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_rz_angle_is_a_compilation_error(value: float) -> None:
    qc = QuantumCircuit(1, 1)
    qc.rz(value, 0)
    qc.x(0)
    qc.measure(0, 0)
    with pytest.raises(CompilationError):
        compile_circuit(qc, STATION, STATE)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_delay_in_a_circuit_is_a_compilation_error(value: float) -> None:
    qc = QuantumCircuit(1)
    qc.delay(value, 0, unit="ns")
    qc.x(0)
    with pytest.raises(CompilationError):
        compile_circuit(qc, STATION, STATE)


G40 = Gaussian(amplitude_v=0.1, duration_s=40e-9, sigma_s=10e-9)


@pytest.mark.parametrize(
    ("ops", "index", "value"),
    [
        ((Play(channel="q0.drive", pulse=G40), Measure(qubit="q0", name="m")), 0, -20e-9),
        ((Play(channel="q0.drive", pulse=G40), Measure(qubit="q0", name="m")), 0, 0.0),
        (
            (
                Play(channel="q0.drive", pulse=G40),
                Delay(channel="q0.drive", duration_s=10e-9),
                Play(channel="q0.drive", pulse=G40),
            ),
            1,
            -60e-9,
        ),
    ],
    ids=["negative pulse", "zero-length pulse", "negative delay"],
)
def test_swept_durations_out_of_range_are_compilation_errors(
    ops: tuple[Any, ...], index: int, value: float
) -> None:
    """A sweep value must pass the checks the instruction's model applies (duration > 0 …)."""
    exp = Experiment(
        name="sweep",
        instructions=ops,
        sweep=Sweep(parameter="duration_s", instruction=index, values=(40e-9, value)),
        shots=1,
    )
    with pytest.raises(CompilationError):
        compile_experiment(exp, STATION, STATE)


@pytest.mark.parametrize(
    "kwargs",
    [{"shots": 0}, {"shots": -5}, {"repetition_time_s": math.nan}, {"repetition_time_s": -1e-6}],
    ids=["zero shots", "negative shots", "nan repetition", "negative repetition"],
)
def test_compile_circuit_validates_shots_and_repetition(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ACCEPTABLE):
        compile_circuit(_x_on(0), STATION, STATE, **kwargs)


def test_lab_does_not_replay_a_stale_drive_program() -> None:
    """A program that leaves the drive AWG alone must not get the previous program's pulses.

    ``delay; measure`` plays nothing on the drive (no drive AWG program); run after an ``x``
    it must still read the ground state, as it does on a fresh lab.
    """
    chip = random_chip(1, 7)
    station = default_station({"f0": ["q0"]}, seed=5)
    state = design_state(chip, station)
    wait = QuantumCircuit(1, 1)
    wait.delay(100, 0, unit="ns")
    wait.measure(0, 0)
    flip = QuantumCircuit(1, 1)
    flip.x(0)
    flip.measure(0, 0)
    c_wait = compile_circuit(wait, station, state, shots=1000)
    c_flip = compile_circuit(flip, station, state, shots=1000)
    assert station.drive["q0"].awg not in {a.instrument for a in c_wait.awgs}
    with SimulatedLab(chip, station) as lab, connect(lab.station) as instruments:
        fresh = complex(execute(c_wait, instruments).shots["c0"].mean())
        excited = complex(execute(c_flip, instruments).shots["c0"].mean())
        after = complex(execute(c_wait, instruments).shots["c0"].mean())
    separation = abs(excited - fresh)
    assert separation > 0
    assert abs(after - fresh) < 0.2 * separation, (fresh, excited, after)
