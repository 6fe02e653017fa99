"""Run one routine on several qubits at once: their experiments merged into one program each,
the drives in parallel and the readouts frequency-multiplexed on the shared feedlines.

:func:`merge_builds` takes each qubit's build (see :mod:`~qneko_hw.calibrations.runner` for
the three forms) and returns the merged items to compile and a way to split the result back
per qubit; ``None`` when the builds do not merge (different forms, shots, numbers of
programs or measurement layouts), and the caller runs the qubits one after the other.

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

The calibration state a qubit's item was built with is kept for its qubit: the merged state
takes each qubit's calibration from its own item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qneko_hw.config.calibration import CalibrationState
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Acquire, Barrier, Experiment, Instruction, Measure, Sweep

__all__ = ["Merged", "merge_builds", "split_result"]

#: Separator of the qubit and the acquisition name in a merged experiment.
SEP = ":"


@dataclass(frozen=True)
class Merged:
    """Merged builds of several qubits.

    Attributes:
        kind: ``"experiments"`` (``items``: (experiment, state) pairs, one program each) or
            ``"circuits"`` (``items``: one circuit per sweep step, one program).
        qubits: the qubits, in wire order for circuits.
        items: what to compile.
        rename: per qubit, merged acquisition name → the qubit's own name.
        sweeps: per qubit, (sweep parameter, values per item) for its result.
        name: experiment name.
    """

    kind: str
    qubits: tuple[str, ...]
    items: tuple[Any, ...]
    rename: Mapping[str, Mapping[str, str]]
    sweeps: Mapping[str, tuple[str | None, tuple[tuple[float, ...], ...]]]
    name: str


def _as_pairs(
    build: Any, state: CalibrationState
) -> list[tuple[Experiment, CalibrationState]] | None:
    if isinstance(build, Experiment):
        return [(build, state)]
    if isinstance(build, Sequence) and not isinstance(build, str) and build:
        pairs = []
        for item in build:
            if isinstance(item, Experiment):
                pairs.append((item, state))
            elif (
                isinstance(item, tuple)
                and len(item) == 2
                and isinstance(item[0], Experiment)
                and isinstance(item[1], CalibrationState)
            ):
                pairs.append((item[0], item[1]))
            else:
                return None
        return pairs
    return None


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


def _parameter(exp: Experiment) -> str | None:
    return exp.sweep.parameter if exp.sweep is not None else None


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


def merge_builds(
    builds: Mapping[str, Any], states: Mapping[str, CalibrationState]
) -> Merged | None:
    """Merge per-qubit builds (qubit → build, qubit → the state it was built with)."""
    qubits = tuple(builds)
    if len(qubits) < 2:
        return None
    pairs = {q: _as_pairs(b, states[q]) for q, b in builds.items()}
    if all(p is not None for p in pairs.values()):
        plist = {q: p for q, p in pairs.items() if p is not None}
        n = {len(p) for p in plist.values()}
        if len(n) != 1:
            return None
        items: list[tuple[Experiment, CalibrationState]] = []
        rename: dict[str, dict[str, str]] = {q: {} for q in qubits}
        sweeps: dict[str, list[tuple[float, ...]]] = {q: [] for q in qubits}
        for k in range(n.pop()):
            got = _merge_experiments({q: plist[q][k][0] for q in qubits})
            if got is None:
                return None
            exp, names = got
            if k and any(names[q] != rename[q] for q in qubits):
                return None
            rename = names
            items.append((exp, _merged_state({q: plist[q][k][1] for q in qubits})))
            for q in qubits:
                sw = plist[q][k][0].sweep
                sweeps[q].append(sw.values if sw else (0.0,))
        first = {q: plist[q][0][0] for q in qubits}
        return Merged(
            "experiments",
            qubits,
            tuple(items),
            rename,
            {q: (_parameter(first[q]), tuple(sweeps[q])) for q in qubits},
            first[qubits[0]].name,
        )
    if any(
        isinstance(b, Experiment) or p is not None
        for b, p in zip(builds.values(), pairs.values(), strict=True)
    ):
        return None
    got_c = _merge_circuits({q: list(b) for q, b in builds.items()})
    if got_c is None:
        return None
    circuits, renames = got_c
    steps = tuple(float(k) for k in range(len(circuits)))
    return Merged(
        "circuits",
        qubits,
        tuple(circuits),
        renames,
        {q: ("circuit", (steps,)) for q in qubits},
        "",
    )


def split_result(merged: Merged, result: ExecutionResult) -> dict[str, ExecutionResult]:
    """Each qubit's share of a merged result, named and swept as its own build was."""
    import numpy as np

    out: dict[str, ExecutionResult] = {}
    for q in merged.qubits:
        parameter, values = merged.sweeps[q]
        out[q] = ExecutionResult(
            shots={own: result.shots[new] for new, own in merged.rename[q].items()},
            sweep_parameter=parameter if merged.kind == "experiments" else result.sweep_parameter,
            sweep_values=(
                np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
                if merged.kind == "experiments"
                else result.sweep_values
            ),
            program_digest=result.program_digest,
            duration_s=result.duration_s,
        )
    return out
