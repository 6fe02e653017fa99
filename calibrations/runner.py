"""Run one routine: plan → measure → Data → run file → analyze → results in the file → update.

:func:`run_routine` runs a routine on one qubit; :func:`run_routine_multiplexed` on several
at once: their plans merged (:mod:`~qneko_hw.calibrations.multiplex`) into one program per
item, then one run file, analysis and update per qubit, exactly as :func:`run_routine`
would. The measured data is in the run file (fsync'd) before the analysis starts; the
results are added to the same file afterwards, so every run file holds its Data and, unless
the process died while fitting, its Results.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qneko_hw.analysis import Results
from qneko_hw.calibrations.analyze import results_of
from qneko_hw.calibrations.routine import Circuits, Measurement, Plan, Programs, Skip, VnaSweep
from qneko_hw.compiler import compile_circuit, compile_experiment
from qneko_hw.compiler.programs import AwgProgram, CompiledExperiment
from qneko_hw.compiler.render import HOLD_BLOCK_SAMPLES, HOLD_MIN_SAMPLES
from qneko_hw.compiler.traits import awg_traits, digitizer_traits
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Data, Provenance, Signal
from qneko_hw.errors import CalibrationError, CompilationError, InstrumentError
from qneko_hw.executor import ExecutionResult, execute
from qneko_hw.runfile import add_results, write_run

if TYPE_CHECKING:
    from qneko_hw.calibrations.multiplex import Merged
    from qneko_hw.calibrations.routine import Routine
    from qneko_hw.plot.sheet import SheetData

__all__ = [
    "Measured",
    "RoutineOutcome",
    "measure",
    "multiplexable",
    "run_routine",
    "run_routine_multiplexed",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RoutineOutcome:
    """What a routine run produced: the results, the new state (unchanged on failure or for
    a check), the run file, and why the update was refused, if it was."""

    results: Results
    state: CalibrationState
    run_file: Path
    run_id: str
    error: CalibrationError | None = None


@dataclass(frozen=True)
class Measured:
    """What a measurement gave: signals by name, the digest of what ran (sha256), its wall
    time (s) and the pulse sheet of the first step of the first program, if any."""

    signals: dict[str, Signal]
    digest: str
    duration_s: float
    sheet: SheetData | None = None


def _new_run_id(routine: str, qubit: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{routine}-{qubit}-{uuid.uuid4().hex[:6]}"


def multiplexable(routine: Routine[Any]) -> bool:
    """Whether ``routine`` may run on several qubits at once (see ``Routine.multiplex``)."""
    return bool(routine.multiplex)


def _check_plan(routine: Routine[Any], qubit: str, plan: Plan[Any]) -> None:
    steps = plan.steps
    for axis in plan.axes:
        if axis.values.size != steps:
            raise CalibrationError(
                f"{routine.name} on {qubit}: axis {axis.name} has {axis.values.size} values "
                f"for {steps} measured steps",
                qubit=qubit,
                routine=routine.name,
            )


def _sheet(program: CompiledExperiment, station: Station) -> SheetData | None:
    """The pulse sheet of the first step (None if it cannot be made: logged, not fatal)."""
    from qneko_hw.plot.sheet import sheet_data

    rate = None
    if program.digitizers:
        cfg = station.instruments.get(program.digitizers[0].instrument)
        if cfg is not None:
            rate = digitizer_traits(cfg.model).sample_rate_hz
    try:
        return sheet_data(program, 0, digitizer_rate_hz=rate)
    except Exception as exc:  # a drawing aid: never fails the measurement
        log.warning("no pulse sheet for %s: %s", program.name, exc)
        return None


def _execute_all(
    programs: Sequence[CompiledExperiment], instruments: Mapping[str, Any]
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


def _iq_signals(shots: Mapping[str, Any]) -> dict[str, Signal]:
    return {name: Signal.iq(arr, name) for name, arr in shots.items()}


def _compile(
    measurement: Programs | Circuits,
    state: CalibrationState,
    station: Station,
    *,
    qubits: Sequence[str],
    name: str,
    scheduling: str = "asap",
) -> list[CompiledExperiment]:
    if isinstance(measurement, Programs):
        return [
            compile_experiment(p.experiment, station, p.state or state) for p in measurement.items
        ]
    return [
        compile_circuit(
            list(measurement.circuits),
            station,
            state,
            shots=measurement.shots,
            repetition_time_s=measurement.repetition_time_s,
            scheduling=scheduling,
            qubits=list(qubits),
            name=name,
        )
    ]


def measure(
    measurement: Measurement,
    state: CalibrationState,
    station: Station,
    instruments: Mapping[str, Any],
    *,
    qubit: str,
    name: str,
    progress: Progress | None = None,
) -> Measured:
    """Compile and run ``measurement`` for ``qubit`` (``name``: the experiment's name)."""
    if isinstance(measurement, Skip):
        return Measured({}, "", 0.0)
    if isinstance(measurement, VnaSweep):
        return _sweep_vna(measurement, instruments)
    programs = _compile(measurement, state, station, qubits=[qubit], name=name)
    if progress:
        progress("measure")
    result = _execute_all(programs, instruments)
    sheet = _sheet(programs[0], station)
    return Measured(_iq_signals(result.shots), result.program_digest, result.duration_s, sheet)


def _sweep_vna(sweep: VnaSweep, instruments: Mapping[str, Any]) -> Measured:
    vna = instruments.get(sweep.instrument)
    if vna is None:
        known = ", ".join(sorted(instruments)) or "none"
        raise InstrumentError(
            f"VNA {sweep.instrument} is not connected (instruments: {known})",
            instrument=sweep.instrument,
        )
    t0 = time.perf_counter()
    f, s21 = vna.sweep(sweep.start_hz, sweep.stop_hz, sweep.points)
    f = np.asarray(f, dtype=np.float64)
    s21 = np.asarray(s21, dtype=np.complex128)
    planned = np.linspace(sweep.start_hz, sweep.stop_hz, sweep.points)
    if f.shape != planned.shape or s21.shape != planned.shape or not np.allclose(f, planned):
        raise InstrumentError(
            f"VNA {sweep.instrument} returned {f.size} frequencies / {s21.size} points for a "
            f"sweep of {sweep.points} from {sweep.start_hz:.6g} to {sweep.stop_hz:.6g} Hz",
            instrument=sweep.instrument,
            command="sweep",
        )
    digest = hashlib.sha256(
        f"vna|{sweep.instrument}|{sweep.start_hz!r}|{sweep.stop_hz!r}|{sweep.points}".encode()
    ).hexdigest()
    signal = Signal(s21, ("step",), "", "S21 transmission of the feedline")
    return Measured({"s21": signal}, digest, time.perf_counter() - t0)


def _conclude(
    routine: Routine[Any],
    qubit: str,
    state: CalibrationState,
    station: Station,
    *,
    plan: Plan[Any],
    measured: Measured,
    run_id: str,
    out_dir: Path,
    context: Mapping[str, str] | None,
    multiplexed_with: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> RoutineOutcome:
    """Write the data, analyze, add the results to the file, update."""
    skipped = plan.measurement.reason if isinstance(plan.measurement, Skip) else None
    data: Data[Any] = Data(
        routine=routine.name,
        qubit=qubit,
        setup=plan.setup,
        axes={a.name: a for a in plan.axes},
        signals=measured.signals,
        provenance=Provenance(
            run_id=run_id,
            program_digest=measured.digest,
            calibration_version=state.version,
            multiplexed_with=multiplexed_with,
        ),
    )
    run_file = write_run(
        out_dir / "runs" / f"{run_id}.h5",
        data,
        kind=routine.kind,
        parameters=routine.model_dump_json(),
        not_applicable=skipped,
        context={
            "calibration_state": state.to_json(),
            "station": station.model_dump_json(),
            "duration_s": repr(measured.duration_s),
            **(context or {}),
        },
        sheet=measured.sheet,
    )
    if progress:
        progress("analyze")
    results = results_of(routine, data, skipped)
    add_results(run_file, results)
    try:
        new_state = routine.update(results, state, run_id)
    except CalibrationError as exc:
        log.warning("%s on %s failed: %s", routine.name, qubit, exc)
        return RoutineOutcome(results, state, run_file, run_id, exc)
    return RoutineOutcome(results, new_state, run_file, run_id)


def run_routine(
    routine: Routine[Any],
    qubit: str,
    state: CalibrationState,
    station: Station,
    instruments: Mapping[str, Any],
    *,
    out_dir: Path,
    context: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> RoutineOutcome:
    """Run ``routine`` on ``qubit``; the raw data is on disk before the analysis starts.

    Raises:
        CalibrationError: the routine cannot plan a measurement for this qubit (no drive
            line, no discriminator where one is needed...).
        CompilationError, InstrumentError: the programs do not compile or do not run.
    """
    run_id = _new_run_id(routine.name, qubit)
    plan = routine.plan(qubit, state, station)
    _check_plan(routine, qubit, plan)
    measured = measure(
        plan.measurement,
        state,
        station,
        instruments,
        qubit=qubit,
        name=f"{routine.name}_{qubit}",
        progress=progress,
    )
    return _conclude(
        routine,
        qubit,
        state,
        station,
        plan=plan,
        measured=measured,
        run_id=run_id,
        out_dir=out_dir,
        context=context,
        progress=progress,
    )


def run_routine_multiplexed(
    routine: Routine[Any],
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

    A qubit whose plan fails gets its exception and the others go on; when the plans do
    not merge the qubits run one after the other. An exception while measuring is every
    qubit's; ``KeyboardInterrupt`` propagates.
    """
    from qneko_hw.calibrations.multiplex import merge_plans

    def say(q: str) -> Progress | None:
        return None if progress is None else (lambda msg: progress(q, msg))

    out: dict[str, RoutineOutcome | Exception] = {}
    plans: dict[str, Plan[Any]] = {}
    for q in qubits:
        try:
            plans[q] = routine.plan(q, state, station)
            _check_plan(routine, q, plans[q])
        except Exception as exc:  # this qubit fails, the others go on
            plans.pop(q, None)
            out[q] = exc
    measurements = {q: p.measurement for q, p in plans.items()}
    merged = merge_plans(measurements, state) if multiplexable(routine) else None
    if merged is not None:
        got = _run_merged(
            routine, merged, plans, state, station, instruments, out_dir, context, say
        )
        if got is not None:
            return {**out, **got}
    for q, plan in plans.items():
        try:
            run_id = _new_run_id(routine.name, q)
            measured = measure(
                plan.measurement,
                state,
                station,
                instruments,
                qubit=q,
                name=f"{routine.name}_{q}",
                progress=say(q),
            )
            out[q] = _conclude(
                routine,
                q,
                state,
                station,
                plan=plan,
                measured=measured,
                run_id=run_id,
                out_dir=out_dir,
                context=context,
                progress=say(q),
            )
        except Exception as exc:
            out[q] = exc
    return out


def _run_merged(  # noqa: PLR0917 - private, called once
    routine: Routine[Any],
    merged: Merged,
    plans: Mapping[str, Plan[Any]],
    state: CalibrationState,
    station: Station,
    instruments: Mapping[str, Any],
    out_dir: Path,
    context: Mapping[str, str] | None,
    say: Callable[[str], Progress | None],
) -> dict[str, RoutineOutcome | Exception] | None:
    """Compile, run and conclude merged plans; None when the merged programs do not
    compile or do not fit the AWGs' memory (the caller then runs the qubits one after the
    other)."""
    from qneko_hw.calibrations.multiplex import split_shots

    run_ids = {q: _new_run_id(routine.name, q) for q in merged.qubits}
    try:
        programs = _compile(
            merged.measurement,
            state,
            station,
            qubits=merged.qubits,
            name=f"{routine.name}_{'_'.join(merged.qubits)}",
            scheduling="alap",
        )
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
        result = _execute_all(programs, instruments)
        shares = split_shots(merged, result.shots)
    except Exception as exc:  # measuring: every qubit of the group
        return dict.fromkeys(merged.qubits, exc)
    sheet = _sheet(programs[0], station)
    out: dict[str, RoutineOutcome | Exception] = {}
    for q in merged.qubits:
        measured = Measured(_iq_signals(shares[q]), result.program_digest, result.duration_s, sheet)
        try:
            out[q] = _conclude(
                routine,
                q,
                state,
                station,
                plan=plans[q],
                measured=measured,
                run_id=run_ids[q],
                out_dir=out_dir,
                context=context,
                multiplexed_with=tuple(k for k in merged.qubits if k != q),
                progress=say(q),
            )
        except Exception as exc:
            out[q] = exc
    return out


def _fits_awg_memory(programs: Sequence[CompiledExperiment], station: Station) -> bool:
    """Whether every AWG program fits the AWG's waveform memory (an upper bound, see
    :func:`_memory_bound`)."""
    for prog in programs:
        for awg in prog.awgs:
            traits = awg_traits(station.instruments[awg.instrument].model)
            if _memory_bound(awg) > traits.memory_samples:
                return False
    return True


def _memory_bound(awg: AwgProgram) -> int:
    """Samples the rendered program needs at most: one waveform per channel and step;
    where the sequencer repeats entries, only what the pulses cover plus, per entry and
    step, one run shorter than a hold and one repeated block (identical waveforms are
    stored once, so both are upper bounds)."""
    dense = int(awg.step_samples.sum()) * len(awg.amplitudes_v)
    if not awg.repeat_entries:
        return dense
    bound = 0
    sizes = np.array([w.size for w in awg.waveforms], dtype=np.int64)
    for line in awg.lines:
        channels = 1 if line.channel_q is None else 2
        covered = int(sizes[line.entries["waveform"]].sum()) if line.entries.size else 0
        gaps = (int(line.entries.size) + awg.steps) * (HOLD_MIN_SAMPLES + HOLD_BLOCK_SAMPLES)
        bound += channels * (covered + gaps)
    return min(dense, bound)
