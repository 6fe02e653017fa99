"""Golden files of compiled programs, and byte-identical output across processes.

Each case compiles a fixed experiment or circuit for a fixed chip, station and calibration
state; a canonical JSON summary of every program (digest, every line's entries, waveform
names, step lengths, demodulators, LO settings, the rendered sequence) is compared exactly
with ``golden/<case>.json``. Regenerate after an intended change with
``QNEKO_UPDATE_GOLDEN=1 pytest tests/compiler/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit, qasm3

from qneko_hw.compiler import CompiledExperiment, compile_circuit, compile_experiment, render_awg
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue, CzCalibration
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import FluxLine, InstrumentConfig, Limits, Station
from qneko_hw.experiment import (
    Acquire,
    Barrier,
    Delay,
    Experiment,
    Measure,
    Play,
    SetFrequency,
    ShiftFrequency,
    ShiftPhase,
    Sweep,
)
from qneko_hw.pulses import Arbitrary, Constant, Cosine, Drag, GaussianSquare

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("QNEKO_UPDATE_GOLDEN") == "1"

CHIP = random_chip(2, 11)


def make_station() -> Station:
    """The default two-qubit station plus a flux AWG with a line to each qubit."""
    base = default_station({"f0": ["q0", "q1"]}, seed=7)
    instruments = {
        **base.instruments,
        "awg_flux0": InstrumentConfig(model="qneko_awg4", limits=Limits(max_amplitude_v=1.0)),
    }
    flux = {"q0": FluxLine(awg="awg_flux0", channel=1), "q1": FluxLine(awg="awg_flux0", channel=2)}
    return Station.model_validate(
        {
            **base.model_dump(),
            "instruments": {k: v.model_dump() for k, v in instruments.items()},
            "flux": {k: v.model_dump() for k, v in flux.items()},
        }
    )


def make_state(station: Station) -> CalibrationState:
    state = design_state(CHIP, station)
    state = state.with_qubit("q0", drag_beta_s=CalValue(value=0.4e-9))
    state = state.with_qubit("q1", drag_beta_s=CalValue(value=-0.3e-9))
    cz = CzCalibration(
        flux_qubit="q1",
        amplitude_v=CalValue(value=0.25),
        duration_s=CalValue(value=60e-9),
        phase_a_rad=CalValue(value=0.3),
        phase_b_rad=CalValue(value=-0.7),
    )
    return state.replace(cz={"q0-q1": cz})


STATION = make_station()
STATE = make_state(STATION)


# -- cases ---------------------------------------------------------------------------------
def case_rabi() -> CompiledExperiment:
    pulse = Drag(amplitude_v=0.1, duration_s=40e-9, sigma_s=10e-9, beta_s=0.5e-9)
    exp = Experiment(
        name="rabi",
        instructions=(Play(channel="q0.drive", pulse=pulse), Measure(qubit="q0", name="m0")),
        sweep=Sweep(
            parameter="amplitude_v", instruction=0, values=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
        ),
        shots=500,
    )
    return compile_experiment(exp, STATION, STATE)


def circuit_1q() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.rz(0.3, 0)
    qc.sx(0)
    qc.rz(-1.2, 0)
    qc.x(0)
    qc.sx(0)
    qc.rz(2.5, 0)
    qc.sx(0)
    qc.measure(0, 0)
    return qc


def case_circuit_1q() -> CompiledExperiment:
    return compile_circuit(circuit_1q(), STATION, STATE, shots=200)


def circuit_2q() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.sx(1)
    qc.rz(0.25, 1)
    qc.sx(1)
    qc.barrier()
    qc.cz(0, 1)
    qc.delay(100, 0, unit="ns")
    qc.rz(0.4, 1)
    qc.sx(1)
    qc.barrier(0, 1)
    qc.sx(0)
    qc.measure(0, 0)
    qc.measure(1, 1)
    return qc


def case_circuit_2q_cz() -> CompiledExperiment:
    return compile_circuit(circuit_2q(), STATION, STATE, shots=100)


def case_circuit_alap() -> CompiledExperiment:
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.sx(0)
    qc.rz(1.0, 0)
    qc.x(0)
    qc.sx(1)
    qc.delay(20, 1, unit="ns")
    qc.measure(0, 0)
    qc.measure(1, 1)
    return compile_circuit(qc, STATION, STATE, shots=100, scheduling="alap")


def case_frequency_sweep() -> CompiledExperiment:
    f0 = STATE.qubit("q0").drive_frequency_hz.value
    exp = Experiment(
        name="spectroscopy",
        instructions=(
            Play(
                channel="q0.drive",
                pulse=GaussianSquare(
                    amplitude_v=0.02, duration_s=400e-9, sigma_s=20e-9, width_s=300e-9
                ),
            ),
            Measure(qubit="q0", name="spec"),
        ),
        sweep=Sweep(
            parameter="frequency_hz",
            channel="q0.drive",
            values=tuple(f0 + d for d in (-20e6, -10e6, -2.5e6, 0.0, 2.5e6, 10e6, 20e6)),
        ),
        shots=300,
    )
    return compile_experiment(exp, STATION, STATE)


def case_pulse_program() -> CompiledExperiment:
    f1 = STATE.qubit("q1").drive_frequency_hz.value
    arb = tuple((0.5 * math.sin(math.pi * k / 11), 0.1 * math.cos(0.7 * k)) for k in range(12))
    exp = Experiment(
        name="pulse program",
        instructions=(
            ShiftPhase(channel="q0.drive", phase_rad=0.75),
            Play(channel="q0.drive", pulse=Cosine(amplitude_v=0.08, duration_s=32e-9)),
            SetFrequency(channel="q1.drive", frequency_hz=f1 - 35e6),
            Play(
                channel="q1.drive",
                pulse=GaussianSquare(
                    amplitude_v=0.05, duration_s=100e-9, sigma_s=8e-9, width_s=60e-9, phase_rad=0.2
                ),
            ),
            ShiftFrequency(channel="q1.drive", frequency_hz=5e6),
            ShiftPhase(channel="q1.drive", phase_rad=-2.0),
            Play(
                channel="q1.drive", pulse=Arbitrary(amplitude_v=0.3, duration_s=12e-9, samples=arb)
            ),
            Delay(channel="q0.drive", duration_s=16e-9),
            Play(channel="q0.flux", pulse=Constant(amplitude_v=-0.1, duration_s=24e-9)),
            Barrier(channels=("q0.drive", "q1.drive", "q0.flux", "q1.readout", "q1.acquire")),
            ShiftPhase(channel="q0.drive", phase_rad=3.0),
            Play(channel="q0.drive", pulse=Cosine(amplitude_v=0.04, duration_s=32e-9)),
            Play(channel="q1.readout", pulse=Constant(amplitude_v=0.1, duration_s=500e-9)),
            Acquire(qubit="q1", name="raw", duration_s=500e-9),
            Measure(qubit="q0", name="m0"),
        ),
        shots=50,
        repetition_time_s=100e-6,
    )
    return compile_experiment(exp, STATION, STATE)


CASES: dict[str, Callable[[], CompiledExperiment]] = {
    "rabi": case_rabi,
    "circuit_1q": case_circuit_1q,
    "circuit_2q_cz": case_circuit_2q_cz,
    "circuit_alap": case_circuit_alap,
    "frequency_sweep": case_frequency_sweep,
    "pulse_program": case_pulse_program,
}


# -- canonical summary -----------------------------------------------------------------------
def _f(x: Any) -> float:
    return float(x)


def summary(c: CompiledExperiment) -> dict[str, Any]:
    """Canonical JSON-able description of every program (floats kept exact)."""
    awgs = []
    for awg in c.awgs:
        _, sequence = render_awg(awg)
        awgs.append(
            {
                "instrument": awg.instrument,
                "sample_rate_hz": _f(awg.sample_rate_hz),
                "waveform_names": list(awg.waveform_names),
                "waveform_lengths": [int(w.size) for w in awg.waveforms],
                "step_samples": [int(n) for n in awg.step_samples],
                "amplitudes_v": [[int(k), _f(v)] for k, v in sorted(awg.amplitudes_v.items())],
                "shots": awg.shots,
                "repetition_time_s": _f(awg.repetition_time_s),
                "readout": awg.readout,
                "lines": [
                    {
                        "name": ln.name,
                        "channel_i": ln.channel_i,
                        "channel_q": ln.channel_q,
                        "correction": [
                            _f(ln.correction.gain_imbalance),
                            _f(ln.correction.phase_error_rad),
                            _f(ln.correction.offset_i_v),
                            _f(ln.correction.offset_q_v),
                        ],
                        "entries": [
                            [
                                int(e["step"]),
                                int(e["start"]),
                                int(e["waveform"]),
                                _f(e["amplitude"]),
                                _f(e["phase"]),
                                _f(e["frequency"]),
                            ]
                            for e in ln.entries
                        ],
                    }
                    for ln in awg.lines
                ],
                "rendered_sequence": [
                    [[int(ch), name] for ch, name in step.items()] for step in sequence
                ],
            }
        )
    return {
        "name": c.name,
        "digest": c.digest,
        "sweep_parameter": c.sweep_parameter,
        "sweep_values": [_f(v) for v in c.sweep_values],
        "shots": c.shots,
        "frame_phases": [[k, _f(v)] for k, v in sorted(c.frame_phases.items())],
        "awgs": awgs,
        "digitizers": [
            {
                "instrument": d.instrument,
                "shots": d.shots,
                "steps": d.steps,
                "names": list(d.names),
                "demodulators": [
                    {
                        "channel": m.channel,
                        "frequency_hz": _f(m.frequency_hz),
                        "start_samples": m.start_samples,
                        "length_samples": m.length_samples,
                        "weights": None
                        if m.weights is None
                        else [[_f(w.real), _f(w.imag)] for w in m.weights],
                    }
                    for m in d.demodulators
                ],
            }
            for d in c.digitizers
        ],
        "los": [
            {
                "instrument": lo.instrument,
                "frequency_hz": _f(lo.frequency_hz),
                "power_dbm": _f(lo.power_dbm),
                "output": lo.output,
            }
            for lo in c.los
        ],
    }


def canonical(c: CompiledExperiment) -> str:
    return json.dumps(summary(c), indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    compiled = CASES[case]()
    assert compiled.digest == compiled.sha256()
    text = canonical(compiled)
    path = GOLDEN / f"{case}.json"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; run with QNEKO_UPDATE_GOLDEN=1 to create it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    got = json.loads(text)
    for key in sorted(set(expected) | set(got)):
        assert got.get(key) == expected.get(key), f"{case}: '{key}' differs from {path.name}"
    assert text == path.read_text(encoding="utf-8")


def test_golden_cases_are_distinct_and_nontrivial() -> None:
    compiled = {name: make() for name, make in CASES.items()}
    assert len({c.digest for c in compiled.values()}) == len(compiled)
    for name, c in compiled.items():
        assert any(ln.entries.size for a in c.awgs for ln in a.lines), name
    assert compiled["frequency_sweep"].awgs[0].step_samples.size == 7
    flux = next(a for a in compiled["circuit_2q_cz"].awgs if a.instrument == "awg_flux0")
    assert [ln.name for ln in flux.lines] == ["flux:q1"]


def test_qasm3_text_compiles_to_the_same_programs() -> None:
    for qc, shots in ((circuit_1q(), 200), (circuit_2q(), 100)):
        text = qasm3.dumps(qc)
        a = compile_circuit(qc, STATION, STATE, shots=shots)
        b = compile_circuit(text, STATION, STATE, shots=shots)
        assert a.digest == b.digest, text


def test_same_digest_in_two_fresh_processes(tmp_path: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_golden as g\n"
        "for name in sorted(g.CASES):\n"
        "    c = g.CASES[name]()\n"
        "    print(name, c.digest, g.hashlib_of(g.canonical(c)))\n"
    )
    outs = []
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        env.pop("QNEKO_UPDATE_GOLDEN", None)
        run = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
            env=env,
        )
        outs.append(run.stdout)
    assert outs[0] == outs[1]
    here = "".join(
        f"{name} {CASES[name]().digest} {hashlib_of(canonical(CASES[name]()))}\n"
        for name in sorted(CASES)
    )
    assert outs[0] == here


def hashlib_of(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_summary_floats_round_trip_exactly() -> None:
    c = case_pulse_program()
    back = json.loads(canonical(c))
    entries = c.awgs[0].lines[0].entries
    assert back["awgs"][0]["lines"][0]["entries"][0][4] == float(entries[0]["phase"])
    assert np.isfinite(np.array(back["sweep_values"])).all()
