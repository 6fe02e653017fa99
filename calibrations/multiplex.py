"""Run one routine on several qubits at once: their experiments merged into one program each,
the drives in parallel and the readouts frequency-multiplexed on the shared feedlines.

:func:`merge_plans` takes each qubit's measurement (pulse programs or circuits, see
:mod:`~qneko_hw.calibrations.routine`) and returns one merged measurement to compile and a
way to split the shots back per qubit (:func:`split_shots`); ``None`` when the measurements
do not merge (different kinds, shots, numbers of programs or measurement layouts, or a VNA
sweep), and the caller runs the qubits one after the other. Each qubit keeps its own plan's
axes and setup: only the shots are split.

Merging keeps every qubit's own timing between its pulses and its measurement:

- pulse-level experiments: each qubit's instruction list is cut into segments that end in a
  group of measurements; segment ``k`` of every qubit is laid out side by side, then one
  barrier over all channels, then the measurements of every qubit together. The merged
  experiment is scheduled ALAP, so a qubit whose segment is shorter idles *before* its
  pulses, not between its last pulse and its readout. Sweeps become parallel sweeps
  (``Experiment.parallel_sweeps``, one per qubit, stepped together). Acquisitions are
  renamed ``<qubit>:<name>``.
- circuits (one list per qubit, one circuit per sweep step): circuit ``k`` of every qubit
  goes onto its own wire of one circuit, with a barrier before the final measurements
  (compiled ALAP for the same reason); clbit ``j`` of qubit ``i`` becomes clbit
  ``offset_i + j``.

The calibration state a qubit's program was planned with is kept for its qubit: the merged
state takes each qubit's calibration from its own program.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qneko_hw.calibrations.routine import Circuits, Measurement, Program, Programs
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.experiment import Acquire, Barrier, Experiment, Instruction, Measure, Sweep

__all__ = ["Merged", "merge_plans", "split_shots"]

#: Separator of the qubit and the acquisition name in a merged experiment.
SEP = ":"


@dataclass(frozen=True)
class Merged:
    """Merged measurements of several qubits.

    Attributes:
        qubits: the qubits, in wire order for circuits.
        measurement: what to compile (programs with the merged states, or circuits).
        rename: per qubit, merged acquisition name → the qubit's own name.
    """

    qubits: tuple[str, ...]
    measurement: Programs | Circuits
    rename: Mapping[str, Mapping[str, str]]


def _segments(ins: Sequence[Instruction]) -> list[tuple[list[Instruction], list[Instruction]]]:
    """(body, measurements) pairs; the last may have no measurements (trailing body)."""
    out: list[tuple[list[Instruction], list[Instruction]]] = []
    body: list[Instruction] = []
    meas: list[Instruction] = []
    for i in ins:
        if isinstance(i, Measure | Acquire):
            meas.append(i)
            continue
        if meas:
            out.append((body, meas))
            body, meas = [], []
        body.append(i)
    if body or meas:
        out.append((body, meas))
    return out


def _merge_experiments(
    exps: Mapping[str, Experiment],
) -> tuple[Experiment, dict[str, dict[str, str]]] | None:
    """One experiment running every qubit's experiment at once, and the acquisition renames."""
    first = next(iter(exps.values()))
    if any(
        e.shots != first.shots or e.steps != first.steps or bool(e.sweep) != bool(first.sweep)
        for e in exps.values()
    ):
        return None
    segs = {q: _segments(e.instructions) for q, e in exps.items()}
    counts = {len(s) for s in segs.values()}
    if len(counts) != 1:
        return None
    n_seg = counts.pop()
    instructions: list[Instruction] = []
    index: dict[str, dict[int, int]] = {q: {} for q in exps}  # old → new instruction index
    rename: dict[str, dict[str, str]] = {q: {} for q in exps}
    position = {q: 0 for q in exps}

    def place(q: str, items: list[Instruction]) -> None:
        for ins in items:
            index[q][position[q]] = len(instructions)
            position[q] += 1
            if isinstance(ins, Measure | Acquire):
                new_name = f"{q}{SEP}{ins.name}"
                rename[q][new_name] = ins.name
                instructions.append(ins.model_copy(update={"name": new_name}))
            else:
                instructions.append(ins)

    for k in range(n_seg):
        for q in exps:
            place(q, segs[q][k][0])
        if any(segs[q][k][1] for q in exps):
            instructions.append(Barrier(channels=()))
            for q in exps:
                place(q, segs[q][k][1])
    sweeps: list[Sweep] = []
    for q, e in exps.items():
        sweeps.extend(
            sw
            if sw.instruction is None
            else sw.model_copy(update={"instruction": index[q][sw.instruction]})
            for sw in e.all_sweeps
        )
    merged = Experiment(
        name=f"{first.name}+{len(exps) - 1}" if len(exps) > 1 else first.name,
        instructions=tuple(instructions),
        sweep=sweeps[0] if sweeps else None,
        parallel_sweeps=tuple(sweeps[1:]),
        shots=first.shots,
        repetition_time_s=max(e.repetition_time_s for e in exps.values()),
        scheduling="alap",
    )
    return merged, rename


def _merged_state(states: Mapping[str, CalibrationState]) -> CalibrationState:
    base = next(iter(states.values()))
    qubits = dict(base.qubits)
    for q, st in states.items():
        qubits[q] = st.qubit(q)
    return base.model_copy(update={"qubits": qubits})


def _merge_circuits(
    circuits: Mapping[str, Sequence[Any]],
) -> tuple[list[Any], dict[str, dict[str, str]]] | None:
    from qiskit import QuantumCircuit

    lengths = {len(c) for c in circuits.values()}
    if len(lengths) != 1:
        return None
    qubits = list(circuits)
    clbits = {q: max((c.num_clbits for c in cs), default=0) for q, cs in circuits.items()}
    offset: dict[str, int] = {}
    total = 0
    for q in qubits:
        offset[q] = total
        total += clbits[q]
    rename = {q: {f"c{offset[q] + j}": f"c{j}" for j in range(clbits[q])} for q in qubits}
    merged: list[Any] = []
    for k in range(lengths.pop()):
        out = QuantumCircuit(len(qubits), total)
        tails: list[tuple[int, Any]] = []
        for i, q in enumerate(qubits):
            circ = circuits[q][k]
            if not isinstance(circ, QuantumCircuit) or circ.num_qubits != 1:
                return None
            data = list(circ.data)
            cut = next(
                (j for j, ci in enumerate(data) if ci.operation.name == "measure"), len(data)
            )
            if any(ci.operation.name != "measure" for ci in data[cut:]):
                return None  # gates after a measurement: no common readout point
            for ci in data[:cut]:
                out.append(ci.operation, [out.qubits[i]], [])
            tails.extend((i, ci) for ci in data[cut:])
        out.barrier()
        for i, ci in tails:
            q = qubits[i]
            own = circuits[q][k]
            cl = [out.clbits[offset[q] + own.find_bit(c).index] for c in ci.clbits]
            out.append(ci.operation, [out.qubits[i]], cl)
        merged.append(out)
    return merged, rename


def merge_plans(measurements: Mapping[str, Measurement], state: CalibrationState) -> Merged | None:
    """Merge per-qubit measurements (qubit → measurement planned from ``state``)."""
    qubits = tuple(measurements)
    if len(qubits) < 2:
        return None
    kinds = {type(m) for m in measurements.values()}
    if kinds == {Programs}:
        return _merge_programs(
            {q: m for q, m in measurements.items() if isinstance(m, Programs)}, state
        )
    if kinds == {Circuits}:
        circ = {q: m for q, m in measurements.items() if isinstance(m, Circuits)}
        first = next(iter(circ.values()))
        if any(
            (m.shots, m.repetition_time_s) != (first.shots, first.repetition_time_s)
            for m in circ.values()
        ):
            return None
        got = _merge_circuits({q: list(m.circuits) for q, m in circ.items()})
        if got is None:
            return None
        circuits, renames = got
        return Merged(
            qubits, Circuits(tuple(circuits), first.shots, first.repetition_time_s), renames
        )
    return None


def _merge_programs(programs: Mapping[str, Programs], state: CalibrationState) -> Merged | None:
    qubits = tuple(programs)
    counts = {len(p.items) for p in programs.values()}
    if len(counts) != 1:
        return None
    items: list[Program] = []
    rename: dict[str, dict[str, str]] = {q: {} for q in qubits}
    for k in range(counts.pop()):
        got = _merge_experiments({q: programs[q].items[k].experiment for q in qubits})
        if got is None:
            return None
        exp, names = got
        if k and any(names[q] != rename[q] for q in qubits):
            return None
        rename = names
        own = {q: programs[q].items[k].state or state for q in qubits}
        items.append(Program(exp, _merged_state(own)))
    return Merged(qubits, Programs(tuple(items)), rename)


def split_shots(merged: Merged, shots: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each qubit's shots of a merged result, under its own acquisition names."""
    return {q: {own: shots[new] for new, own in merged.rename[q].items()} for q in merged.qubits}
