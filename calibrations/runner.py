"""Run one routine on one qubit: build → compile → execute → run file → analyze → update."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from qneko_hw.analysis import Fit
from qneko_hw.compiler import compile_experiment
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

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment: ...

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
    compiled = compile_experiment(exp, station, state)
    if progress:
        progress("measure")
    result = execute(compiled, instruments)
    run_file = write_run(
        out_dir / "runs" / f"{run_id}.h5",
        shots=result.shots,
        sweep_parameter=result.sweep_parameter,
        sweep_values=result.sweep_values,
        context={
            "run_id": run_id,
            "routine": routine.name,
            "qubit": qubit,
            "experiment": exp.name,
            "program_sha256": compiled.digest,
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
