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
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qneko_hw.analysis import Fit
from qneko_hw.compiler import compile_circuit, compile_experiment
from qneko_hw.compiler.programs import CompiledExperiment
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult, execute
from qneko_hw.experiment import Experiment
from qneko_hw.runfile import write_run

__all__ = ["Routine", "RoutineOutcome", "run_routine"]

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
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_id = f"{stamp}-{routine.name}-{qubit}-{uuid.uuid4().hex[:6]}"
    exp = routine.build(qubit, state, station)
    if isinstance(exp, Experiment):
        programs = [compile_experiment(exp, station, state)]
        exp_name = exp.name
    elif exp and all(isinstance(e, Experiment) or _with_state(e) for e in exp):
        pairs = [(e, state) if isinstance(e, Experiment) else e for e in exp]
        programs = [compile_experiment(e, station, s) for e, s in pairs]
        exp_name = pairs[0][0].name
    else:  # a list of Qiskit circuits, one per sweep step
        exp_name = f"{routine.name}_{qubit}"
        compiled = compile_circuit(
            list(exp),
            station,
            state,
            shots=int(getattr(routine, "shots", 1000)),
            repetition_time_s=float(getattr(routine, "repetition_time_s", 200e-6)),
            qubits=[qubit],
            name=exp_name,
        )
        programs = [compiled]
    if progress:
        progress("measure")
    result = _execute_all(programs, instruments)
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
