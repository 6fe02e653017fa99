"""Peer for ``bench_compile.py``: quantify-scheduler compiling the same gate list to Qblox.

Runs in its own venv (quantify-scheduler 0.28 and its dependencies; no qneko_hw)::

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install "quantify-scheduler==0.28.*"
    /work/bench-venv/bin/python benchmarks/bench_compile_peer.py gates_1000.json [...]

Each argument is a gate list written by ``bench_compile.py`` (``--export FILE --gates N``):
``[[name, [qubits...], [params...]], ...]`` with ``rz`` (angle in rad), ``sx``, ``x``,
``cz`` and ``measure``. They map to quantify's ``Rz`` (degrees), ``X90``, ``X``, ``CZ`` and
``Measure`` on two ``BasicTransmonElement``\\ s joined by a ``CompositeSquareEdge`` (flux
pulse on q1, as in ours), in a ``QuantumDevice`` with a Qblox hardware compilation config: one
cluster with a QCM-RF (drive of both qubits), a QRM-RF (readout of both) and a QCM (flux).
The ``Schedule`` has 1000 repetitions (our ``shots=1000``); quantify places each operation
after the previous one (its default), the two final measurements start together.

Timed: ``SerialCompiler.compile(schedule)`` through the Qblox backend down to the sequencer
programs (Q1ASM) and waveform dictionaries — best of at least ``--repeats`` runs, more (at
most 20) until ``--min-time`` seconds are spent; the ``Schedule`` is built outside the timed
region. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

HARDWARE_CONFIG: dict[str, Any] = {
    "config_type": "quantify_scheduler.backends.qblox_backend.QbloxHardwareCompilationConfig",
    "hardware_description": {
        "cluster0": {
            "instrument_type": "Cluster",
            "ref": "internal",
            "modules": {
                "1": {"instrument_type": "QCM_RF"},
                "2": {"instrument_type": "QRM_RF"},
                "3": {"instrument_type": "QCM"},
            },
        }
    },
    "hardware_options": {
        "modulation_frequencies": {
            "q0:mw-q0.01": {"interm_freq": 80e6},
            "q1:mw-q1.01": {"interm_freq": 80e6},
            "q0:res-q0.ro": {"lo_freq": 7.0e9},
            "q1:res-q1.ro": {"lo_freq": 7.0e9},
        },
    },
    "connectivity": {
        "graph": [
            ["cluster0.module1.complex_output_0", "q0:mw"],
            ["cluster0.module1.complex_output_1", "q1:mw"],
            ["cluster0.module2.complex_output_0", "q0:res"],
            ["cluster0.module2.complex_output_0", "q1:res"],
            ["cluster0.module3.real_output_0", "q1:fl"],
        ]
    },
}


def make_device() -> Any:
    """Two transmons with a CZ edge, and the Qblox hardware config."""
    from quantify_scheduler import QuantumDevice
    from quantify_scheduler.device_under_test.composite_square_edge import CompositeSquareEdge
    from quantify_scheduler.device_under_test.transmon_element import BasicTransmonElement

    device = QuantumDevice("bench_device")
    for i, (f01, fro) in enumerate(((5.0e9, 7.05e9), (5.3e9, 7.15e9))):
        q = BasicTransmonElement(f"q{i}")
        q.clock_freqs.f01(f01)
        q.clock_freqs.readout(fro)
        q.rxy.amp180(0.2)
        q.rxy.motzoi(0.0)
        q.rxy.duration(40e-9)
        q.measure.pulse_amp(0.1)
        q.measure.pulse_duration(1e-6)
        q.measure.acq_delay(100e-9)
        q.measure.integration_time(1e-6)
        q.measure.acq_channel(i)
        q.reset.duration(100e-6)
        device.add_element(q)
    edge = CompositeSquareEdge(parent_element_name="q1", child_element_name="q0")
    edge.cz.square_amp(0.3)
    edge.cz.square_duration(60e-9)
    edge.cz.q1_phase_correction(0.0)
    edge.cz.q0_phase_correction(0.0)
    device.add_edge(edge)
    device.hardware_config(HARDWARE_CONFIG)
    return device


def make_schedule(gates: list[list[Any]]) -> Any:
    """The gate list as a quantify ``Schedule`` with 1000 repetitions."""
    from quantify_scheduler import Schedule
    from quantify_scheduler.operations.gate_library import CZ, X90, Measure, Rz, X

    sched = Schedule("bench", repetitions=1000)
    last_measure = None
    for name, qs, ps in gates:
        q = f"q{qs[0]}"
        if name == "rz":
            sched.add(Rz(math.degrees(ps[0]), q))
        elif name == "sx":
            sched.add(X90(q))
        elif name == "x":
            sched.add(X(q))
        elif name == "cz":
            sched.add(CZ("q1", "q0"))  # symmetric gate; the edge is q1 (flux) → q0
        elif name == "measure":
            op = Measure(q, acq_index=0)
            if last_measure is None:
                last_measure = sched.add(op)
            else:
                sched.add(op, ref_op=last_measure, ref_pt="start")
        else:
            raise ValueError(f"unknown gate {name}")
    return sched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gate_files", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=1, help="at least this many runs")
    parser.add_argument(
        "--min-time", type=float, default=0.0, help="more runs (at most 20) until this many s"
    )
    args = parser.parse_args()

    from quantify_scheduler.backends import SerialCompiler

    warnings.simplefilter("ignore")
    device = make_device()
    compiler = SerialCompiler("bench", quantum_device=device)
    compiler.compile(make_schedule([["x", [0], []], ["measure", [0], []]]))  # warm-up

    timings = []
    for path in args.gate_files:
        gates = json.loads(path.read_text(encoding="utf-8"))
        n = sum(1 for g in gates if g[0] != "measure")
        best = best_cpu = math.inf
        runs = 0
        spent = 0.0
        while runs < args.repeats or (spent < args.min_time and runs < 20):
            sched = make_schedule(gates)
            c0 = time.process_time()
            t0 = time.perf_counter()
            compiled = compiler.compile(sched)
            dt = time.perf_counter() - t0
            best = min(best, dt)
            best_cpu = min(best_cpu, time.process_time() - c0)
            runs += 1
            spent += dt
            print(f"peer: {n} gates compiled in {dt:.2f} s", file=sys.stderr, flush=True)
        programs = compiled.compiled_instructions["cluster0"]
        timings.append(
            {
                "gates": n,
                "repeats": runs,
                "best_s": best,
                "per_gate_us": best / n * 1e6,
                "per_gate_cpu_us": best_cpu / n * 1e6,
                "compiled_keys": sorted(programs.keys()),
            }
        )
    print(
        json.dumps(
            {
                "name": "quantify-scheduler",
                "version": version("quantify-scheduler"),
                "description": "SerialCompiler, QbloxHardwareCompilationConfig, "
                "cluster with QCM-RF + QRM-RF + QCM",
                "python": platform.python_version(),
                "qblox_instruments": version("qblox-instruments"),
                "timings": timings,
                "notes": [
                    "quantify places every operation after the previous one (its default "
                    "relative timing), ours schedules ASAP per qubit; the two final "
                    "measurements start together in both",
                    "X/SX are 40 ns DRAG (Rxy), CZ a 60 ns square flux pulse on q1 with "
                    "virtual-Z corrections, Rz a virtual phase shift, Measure a 1 µs square "
                    "pulse with 1 µs integration; compiled down to Q1ASM and waveforms",
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
