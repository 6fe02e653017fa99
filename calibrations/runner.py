"""Run one routine on one qubit: build → compile → execute → run file → analyze → update.

A routine's ``build`` returns either a pulse-level :class:`~qneko_hw.experiment.Experiment`
(compiled with ``compile_experiment``), a list of experiments (one program each, run one
after the other, their steps stacked into one result: for sweeps a single program cannot
make, e.g. of the readout frequency, which a digitizer demodulates at one frequency for
every step; an item may also be an ``(experiment, state)`` pair, compiled with that
calibration state instead of the routine's, e.g. one bias voltage per program), or a list
of Qiskit circuits on one qubit, played one per sweep step
(compiled with ``compile_circuit``; circuit qubit 0 is the routine's qubit, clbit ``k`` is
acquisition ``c<k>``). Circuit routines give their shots per circuit and
repetition time (s) as ``shots`` and ``repetition_time_s`` attributes (default 1000 and
200 µs).

:func:`run_routine_multiplexed` runs one routine on several qubits at once: their builds
merged (:mod:`~qneko_hw.calibrations.multiplex`) into one program per item, then one run
file, analysis and update per qubit, exactly as :func:`run_routine` would.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qneko_hw.analysis import Fit
from qneko_hw.compiler import compile_circuit, compile_experiment
from qneko_hw.compiler.programs import CompiledExperiment
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError, CompilationError
from qneko_hw.executor import ExecutionResult, execute
from qneko_hw.experiment import Experiment
from qneko_hw.runfile import write_run

if TYPE_CHECKING:
    from qneko_hw.calibrations.multiplex import Merged

__all__ = ["Routine", "RoutineOutcome", "multiplexable", "run_routine", "run_routine_multiplexed"]

log = logging.getLogger(__name__)


class Routine(Protocol):
    """What every calibration routine provides."""

    @property
    def name(self) -> str:
        """Short name of the routine, used in run ids and file names."""

    def build(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Experiment | Sequence[Any]: ...

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit: ...

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState: ...


@dataclass(frozen=True)
class RoutineOutcome:
    """What a routine run produced: the fit, the new state (unchanged on failure), the run file."""

    fit: Fit
    state: CalibrationState
    run_file: Path
    run_id: str
    error: CalibrationError | None = None


def _new_run_id(routine: Routine, qubit: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{routine.name}-{qubit}-{uuid.uuid4().hex[:6]}"


def _compile_build(
    routine: Routine, qubit: str, build: Any, state: CalibrationState, station: Station
) -> tuple[list[CompiledExperiment], str]:
    """The programs of one qubit's build, and the experiment's name."""
    if isinstance(build, Experiment):
        return [compile_experiment(build, station, state)], build.name
    if build and all(isinstance(e, Experiment) or _with_state(e) for e in build):
        pairs = [(e, state) if isinstance(e, Experiment) else e for e in build]
        return [compile_experiment(e, station, s) for e, s in pairs], pairs[0][0].name
    exp_name = f"{routine.name}_{qubit}"  # a list of Qiskit circuits, one per sweep step
    compiled = compile_circuit(
        list(build),
        station,
        state,
        shots=_shots(routine),
        repetition_time_s=_repetition_time_s(routine),
        qubits=[qubit],
        name=exp_name,
    )
    return [compiled], exp_name


def _shots(routine: Routine) -> int:
    return int(getattr(routine, "shots", 1000))


def _repetition_time_s(routine: Routine) -> float:
    return float(getattr(routine, "repetition_time_s", 200e-6))


def _conclude(
    routine: Routine,
    qubit: str,
    state: CalibrationState,
    station: Station,
    result: ExecutionResult,
    *,
    run_id: str,
    exp_name: str,
    out_dir: Path,
    context: Mapping[str, str] | None,
    progress: Callable[[str], None] | None,
) -> RoutineOutcome:
    """Write the run file, then analyze and update."""
    run_file = write_run(
        out_dir / "runs" / f"{run_id}.h5",
        shots=result.shots,
        sweep_parameter=result.sweep_parameter,
        sweep_values=result.sweep_values,
        context={
            "run_id": run_id,
            "routine": routine.name,
            "qubit": qubit,
            "experiment": exp_name,
            "program_sha256": result.program_digest,
            "calibration_state": state.to_json(),
            "station": station.model_dump_json(),
            **(context or {}),
        },
    )
    if progress:
        progress("analyze")
    fit = routine.analyze(qubit, result)
    try:
        new_state = routine.update(state, fit, run_id)
    except CalibrationError as exc:
        log.warning("%s on %s failed: %s", routine.name, qubit, exc)
        return RoutineOutcome(fit, state, run_file, run_id, exc)
    return RoutineOutcome(fit, new_state, run_file, run_id)


def run_routine(
    routine: Routine,
    qubit: str,
    state: CalibrationState,
    station: Station,
    instruments: Mapping[str, Any],
    *,
    out_dir: Path,
    context: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RoutineOutcome:
    """Run ``routine`` on ``qubit``; the raw data is on disk before the analysis starts."""
    run_id = _new_run_id(routine, qubit)
    programs, exp_name = _compile_build(
        routine, qubit, routine.build(qubit, state, station), state, station
    )
    if progress:
        progress("measure")
    result = _execute_all(programs, instruments)
    return _conclude(
        routine,
        qubit,
        state,
        station,
        result,
        run_id=run_id,
        exp_name=exp_name,
        out_dir=out_dir,
        context=context,
        progress=progress,
    )


def multiplexable(routine: Routine) -> bool:
    """Whether ``routine`` can run on several qubits at once (it builds experiments or
    circuits; routines that measure by themselves cannot, and a routine can opt out with a
    false ``multiplex`` attribute)."""
    return callable(getattr(routine, "build", None)) and bool(getattr(routine, "multiplex", True))


def run_routine_multiplexed(
    routine: Routine,
    qubits: Sequence[str],
    state: CalibrationState,
    station: Station,
    instruments: Mapping[str, Any],
    *,
    out_dir: Path,
    context: Mapping[str, str] | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> dict[str, RoutineOutcome | Exception]:
    """Run ``routine`` on ``qubits`` at once (see :mod:`~qneko_hw.calibrations.multiplex`):
    one merged program per item, one run file and one analysis per qubit.

    A qubit whose build fails gets its exception and the others go on; when the builds do
    not merge the qubits run one after the other. An exception while measuring is every
    qubit's; ``KeyboardInterrupt`` propagates.
    """
    from qneko_hw.calibrations.multiplex import merge_builds

    def say(q: str) -> Callable[[str], None] | None:
        return None if progress is None else (lambda msg: progress(q, msg))

    out: dict[str, RoutineOutcome | Exception] = {}
    builds: dict[str, Any] = {}
    for q in qubits:
        try:
            builds[q] = routine.build(q, state, station)
        except Exception as exc:  # this qubit fails, the others go on
            out[q] = exc
    merged = merge_builds(builds, dict.fromkeys(builds, state))
    if merged is not None:
        got = _run_merged(routine, merged, state, station, instruments, out_dir, context, say)
        if got is not None:
            return {**out, **got}
    for q in builds:
        try:
            out[q] = run_routine(
                routine,
                q,
                state,
                station,
                instruments,
                out_dir=out_dir,
                context=context,
                progress=say(q),
            )
        except Exception as exc:
            out[q] = exc
    return out


def _run_merged(  # noqa: PLR0917 - private, called once
    routine: Routine,
    merged: Merged,
    state: CalibrationState,
    station: Station,
    instruments: Mapping[str, Any],
    out_dir: Path,
    context: Mapping[str, str] | None,
    say: Callable[[str], Callable[[str], None] | None],
) -> dict[str, RoutineOutcome | Exception] | None:
    """Compile, run and conclude merged builds; None when the merged programs do not
    compile or do not fit the AWGs' memory (the caller then runs the qubits one after the
    other)."""
    from qneko_hw.calibrations.multiplex import split_result

    out: dict[str, RoutineOutcome | Exception] = {}
    run_ids = {q: _new_run_id(routine, q) for q in merged.qubits}
    try:
        programs = _compile_merged(routine, merged, state, station)
    except CompilationError as exc:  # e.g. two qubits' drives on one LO at two frequencies
        log.info("%s: merged program does not compile (%s); one qubit at a time", routine.name, exc)
        return None
    if not _fits_awg_memory(programs, station):
        log.info("%s: merged programs exceed an AWG's memory; one qubit at a time", routine.name)
        return None
    try:
        for q in merged.qubits:
            tell = say(q)
            if tell is not None:
                tell(f"measure (multiplexed with {len(merged.qubits) - 1} more)")
        shares = split_result(merged, _execute_all(programs, instruments))
    except Exception as exc:  # measuring: every qubit of the group
        return dict.fromkeys(merged.qubits, exc)
    together = ",".join(merged.qubits)
    for q in merged.qubits:
        try:
            out[q] = _conclude(
                routine,
                q,
                state,
                station,
                shares[q],
                run_id=run_ids[q],
                exp_name=merged.name or f"{routine.name}_{q}",
                out_dir=out_dir,
                context={**(context or {}), "multiplexed_with": together},
                progress=say(q),
            )
        except Exception as exc:
            out[q] = exc
    return out


def _compile_merged(
    routine: Routine, merged: Merged, state: CalibrationState, station: Station
) -> list[CompiledExperiment]:
    if merged.kind == "experiments":
        return [compile_experiment(e, station, s) for e, s in merged.items]
    return [
        compile_circuit(
            list(merged.items),
            station,
            state,
            shots=_shots(routine),
            repetition_time_s=_repetition_time_s(routine),
            scheduling="alap",
            qubits=list(merged.qubits),
            name=f"{routine.name}_{'_'.join(merged.qubits)}",
        )
    ]


def _fits_awg_memory(programs: Sequence[CompiledExperiment], station: Station) -> bool:
    """Whether every AWG program, rendered one waveform per channel and step, fits the
    AWG's waveform memory (an upper bound: identical waveforms are stored once)."""
    for prog in programs:
        for awg in prog.awgs:
            traits = awg_traits(station.instruments[awg.instrument].model)
            if int(awg.step_samples.sum()) * len(awg.amplitudes_v) > traits.memory_samples:
                return False
    return True


def _with_state(item: Any) -> bool:
    """Whether ``item`` is an ``(Experiment, CalibrationState)`` pair."""
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], Experiment)
        and isinstance(item[1], CalibrationState)
    )


def _execute_all(
    programs: list[CompiledExperiment], instruments: Mapping[str, Any]
) -> ExecutionResult:
    """Run the programs in turn; their steps stacked (digest: sha256 of their digests)."""
    results = [execute(p, instruments) for p in programs]
    if len(results) == 1:
        return results[0]
    names = results[0].shots.keys()
    return ExecutionResult(
        shots={n: np.concatenate([r.shots[n] for r in results], axis=0) for n in names},
        sweep_parameter=results[0].sweep_parameter,
        sweep_values=np.concatenate([r.sweep_values for r in results]),
        program_digest=hashlib.sha256(
            "".join(r.program_digest for r in results).encode()
        ).hexdigest(),
        duration_s=sum(r.duration_s for r in results),
    )
