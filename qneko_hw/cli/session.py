"""A calibration session: one ``qneko calibrate`` invocation, without any printing.

:class:`CalibrationSession` loads the chip and the station (or the built-in ones), checks
the options against them, and :meth:`~CalibrationSession.run` does the work: the store
(version 1 = design values on a fresh one), the simulated lab when the station's addresses
are ``sim``, the drivers, the graph, the runners (multiplexed unless ``sequential``), a
commit per calibration, ``calibration.json`` after every commit, the run files, and at the
end this invocation's report page and the index. It tells a :class:`Listener` (the
presenter of :mod:`qneko_hw.cli.present`) what happens; it never prints.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.chip import Chip, random_chip
from qneko_hw.config.station import Station, default_station
from qneko_hw.errors import ConfigError
from qneko_hw.store import DEFAULT_DB_NAME, Store

if TYPE_CHECKING:
    from qneko_hw.calibrations.graph import Event, Graph, GraphResult
    from qneko_hw.calibrations.routine import Routine
    from qneko_hw.calibrations.runner import RoutineOutcome
    from qneko_hw.report import Invocation, ReportEntry

__all__ = [
    "EXIT_INTERRUPTED",
    "CalibrateOptions",
    "CalibrationSession",
    "Listener",
    "SessionResult",
    "builtin_chip",
    "builtin_station",
    "start_state",
]

log = logging.getLogger(__name__)

#: Exit code of a run stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
BUILTIN_CHIP_SEED = 2026
BUILTIN_QUBITS = 4
#: Seed of the device the simulated lab fabricates from a design when none is given.
FABRICATION_SEED = 1


def builtin_chip() -> Chip:
    """The built-in 4-qubit chip (fixed seed)."""
    return random_chip(BUILTIN_QUBITS, BUILTIN_CHIP_SEED, name="builtin-4q")


def builtin_station(chip: Chip) -> Station:
    """A simulated station wired to every qubit and feedline of ``chip``."""
    feeds: dict[str, list[str]] = {}
    for q, spec in chip.qubits.items():
        feeds.setdefault(chip.resonators[spec.resonator].feedline, []).append(q)
    return default_station(feeds)


def start_state(store: Store, legacy_json: Path, design: CalibrationState) -> CalibrationState:
    """The store's current state; an empty store first gets version 1.

    Version 1 is ``legacy_json`` (a ``calibration.json`` written before the store
    existed) when that file exists, else ``design`` (the design values).
    """
    state = store.current()
    if state is not None:
        return state
    if legacy_json.exists():
        state, message = CalibrationState.load(legacy_json), f"imported from {legacy_json.name}"
    else:
        state, message = design, "design values"
    return state.model_copy(update={"version": store.commit(state, message)})


@dataclass(frozen=True)
class CalibrateOptions:
    """What ``qneko calibrate`` was asked (see its ``--help``)."""

    chip: Path | None = None
    device: Path | None = None
    station: Path | None = None
    out: Path = Path("qneko_out")
    qubits: str | None = None
    shots: int | None = None
    points: int | None = None
    target: str | None = None
    nightly: bool = False
    sequential: bool = False
    punch_out: bool = False
    reset_check: bool = False


class Listener(Protocol):
    """What a session tells its presenter."""

    def lab_up(self, instruments: int) -> None:
        """The simulated lab serves ``instruments`` twins."""

    def graph_ready(self, graph: Graph, version: int) -> None:
        """The graph is built; the store is at ``version``."""

    def running(self, graph: Graph, qubits: Sequence[str]) -> Any:
        """A context manager around the run (e.g. a live display)."""

    def on_event(self, event: Event) -> None:
        """Progress of the graph."""


@dataclass(frozen=True)
class SessionResult:
    """What a session did.

    Attributes:
        graph: the graph result (final state, per-qubit results, steps).
        invocation: the invocation record. report: its page (None if nothing ran).
        state_path, store_path: ``calibration.json`` and the store. elapsed_s: wall time.
        chip_name: the chip's name.
    """

    graph: GraphResult
    invocation: Invocation
    report: Path | None
    state_path: Path
    store_path: Path
    elapsed_s: float
    chip_name: str
    design: Chip | None = None

    @property
    def exit_code(self) -> int:
        """0: every qubit calibrated, 1: one failed, 130: interrupted."""
        if self.graph.interrupted:
            return EXIT_INTERRUPTED
        return 1 if self.graph.failed else 0


@dataclass
class _Runs:
    """Run ids in the order they finished, and their report entries."""

    ids: list[str] = field(default_factory=list)
    entries: dict[str, ReportEntry] = field(default_factory=dict)


class CalibrationSession:
    """One calibration invocation (see the module docstring). Build it with :meth:`load`."""

    def __init__(
        self,
        options: CalibrateOptions,
        chip: Chip,
        station: Station,
        qubits: list[str],
        targets: list[str] | None,
        *,
        device: Chip | None = None,
    ) -> None:
        self.options, self.chip, self.station = options, chip, station
        #: what the simulated lab runs (the design itself when no device is given)
        self.device = device or chip
        self.qubits, self.targets = qubits, targets

    @classmethod
    def load(cls, options: CalibrateOptions) -> CalibrationSession:
        """Read the chip and station files (or take the built-in ones) and check the
        options against them.

        Raises:
            ConfigError: a file does not load, an unknown qubit or node, a station mixing
                simulated and real addresses.
        """
        chip = Chip.load(options.chip) if options.chip else builtin_chip()
        device = Chip.load(options.device) if options.device else None
        if device is not None and (
            set(device.qubits) != set(chip.qubits) or set(device.resonators) != set(chip.resonators)
        ):
            raise ConfigError(
                f"device {device.name} has qubits {', '.join(device.qubits)} and resonators "
                f"{', '.join(device.resonators)}; the design {chip.name} has "
                f"{', '.join(chip.qubits)} and {', '.join(chip.resonators)}",
                source=str(options.device),
            )
        station = Station.load(options.station) if options.station else builtin_station(chip)
        if options.qubits is None:
            names = list(chip.qubits)
        else:
            names = [q.strip() for q in options.qubits.split(",") if q.strip()]
        for q in names:
            if q not in chip.qubits:
                raise ConfigError(
                    f"unknown qubit '{q}' (chip has {', '.join(chip.qubits)})", field="--qubits"
                )
        simulated = {cfg.address == "sim" for cfg in station.instruments.values()}
        if len(simulated) > 1:
            raise ConfigError(
                "mixed station: either every instrument address is 'sim' (simulated lab) "
                "or none is (real instruments)",
                source=str(options.station) if options.station else None,
            )
        simulated_lab = all(c.address == "sim" for c in station.instruments.values())
        if device is not None and not simulated_lab:
            raise ConfigError(
                "--device is for the simulated lab: the station's addresses must be 'sim'",
                source=str(options.device),
            )
        if device is None and simulated_lab:  # the design is never the device
            from qneko_hw.simulated_instruments.fabrication import fabricate

            device = fabricate(chip, FABRICATION_SEED)
        session = cls(options, chip, station, names, None, device=device)
        graph = session.graph()
        targets = None
        if options.target is not None:
            targets = [t.strip() for t in options.target.split(",") if t.strip()]
            for t in targets:
                if t not in graph.nodes:
                    raise ConfigError(
                        f"unknown node '{t}' (graph has {', '.join(graph.order)})",
                        field="--target",
                    )
        session.targets = targets
        return session

    @property
    def simulated(self) -> bool:
        """Whether the station runs on the simulated lab."""
        return all(cfg.address == "sim" for cfg in self.station.instruments.values())

    def graph(self) -> Graph:
        """The default (or nightly) graph for the station and chip."""
        from qneko_hw.calibrations.default_graph import default_graph, nightly_graph

        o = self.options
        make = nightly_graph if o.nightly else default_graph
        return make(
            shots=o.shots,
            points=o.points,
            station=self.station,
            chip=self.chip,
            punch_out=o.punch_out,
            reset_check=o.reset_check,
        )

    def run(self, listener: Listener, should_stop: Callable[[], bool]) -> SessionResult:
        """Calibrate (see the module docstring)."""
        from qneko_hw.calibrations.scheduler import run_graph
        from qneko_hw.config.initial import design_state
        from qneko_hw.drivers.station import connect
        from qneko_hw.report import BackgroundPlots

        t0 = time.monotonic()
        out = self.options.out
        out.mkdir(parents=True, exist_ok=True)
        state_path = out / "calibration.json"
        graph = self.graph()
        started = datetime.now(UTC)
        runs = _Runs()
        with ExitStack() as stack:
            store = stack.enter_context(Store(out / DEFAULT_DB_NAME, create=True))
            fresh = store.current_version() is None
            state = start_state(store, state_path, design_state(self.chip, self.station))
            station = self.station
            if self.simulated:
                from qneko_hw.simulated_instruments.lab import SimulatedLab

                lab = stack.enter_context(SimulatedLab(self.device, self.station))
                station = lab.station
                listener.lab_up(len(lab.servers))
            instruments = stack.enter_context(connect(station))
            listener.graph_ready(graph, state.version)
            plots = stack.enter_context(BackgroundPlots())
            kind = "nightly" if self.options.nightly else ("calibrate" if fresh else "resume")
            invocation_id = f"{started:%Y%m%dT%H%M%S}-{kind}-{uuid.uuid4().hex[:4]}"
            context = {
                "chip": self.chip.model_dump_json(),  # the design: what routines may know
                "device": self.device.name,  # the device's name only, never its values
                "invocation": invocation_id,
            }
            runner, group_runner = self._runners(station, instruments, context, plots, runs)

            def commit(new: CalibrationState, message: str, author: str) -> int:
                version = store.commit(new, message, author=author)
                new.model_copy(update={"version": version}).save(state_path)
                return version

            with listener.running(graph, self.qubits):
                result = run_graph(
                    graph,
                    self.qubits,
                    state,
                    runner,
                    strategy="nightly" if self.options.nightly else "maintain",
                    targets=self.targets,
                    commit=commit,
                    progress=listener.on_event,
                    should_stop=should_stop,
                    group_runner=None if self.options.sequential else group_runner,
                )
            drawn = {e.run_id: e for e in plots.entries()}
            invocation = self._invocation(invocation_id, kind, started, state, result, runs)
            report = self._report(invocation, runs, drawn, state, result.state)
        return SessionResult(
            graph=result,
            invocation=invocation,
            report=report,
            state_path=state_path,
            store_path=out / DEFAULT_DB_NAME,
            elapsed_s=time.monotonic() - t0,
            chip_name=self.chip.name,
            design=self.chip,
        )

    def _runners(
        self,
        station: Station,
        instruments: Any,
        context: dict[str, str],
        plots: Any,
        runs: _Runs,
    ) -> tuple[Any, Any]:
        """The graph's runner and group runner: run a routine, note its run, draw it."""
        from qneko_hw.calibrations.runner import (
            RoutineOutcome,
            run_routine,
            run_routine_multiplexed,
        )
        from qneko_hw.report import ReportEntry
        from qneko_hw.runfile import read_run

        out = self.options.out

        def noted(outcome: RoutineOutcome) -> RoutineOutcome:
            entry = ReportEntry.from_run(
                read_run(outcome.run_file, signals=False),
                error=str(outcome.error) if outcome.error else None,
            )
            runs.ids.append(outcome.run_id)
            runs.entries[outcome.run_id] = entry
            plots.submit(entry)
            return outcome

        def runner(
            routine: Routine[Any],
            qubit: str,
            st: CalibrationState,
            progress: Callable[[str], None],
        ) -> RoutineOutcome:
            return noted(
                run_routine(
                    routine,
                    qubit,
                    st,
                    station,
                    instruments,
                    out_dir=out,
                    context=context,
                    progress=progress,
                )
            )

        def group_runner(
            routine: Routine[Any],
            qubits: Sequence[str],
            st: CalibrationState,
            progress: Callable[[str, str], None],
        ) -> dict[str, RoutineOutcome | Exception]:
            got = run_routine_multiplexed(
                routine,
                qubits,
                st,
                station,
                instruments,
                out_dir=out,
                context=context,
                progress=progress,
            )
            return {q: noted(o) if isinstance(o, RoutineOutcome) else o for q, o in got.items()}

        return runner, group_runner

    def _invocation(  # noqa: PLR0917 - private, called once
        self,
        invocation_id: str,
        kind: str,
        started: datetime,
        start: CalibrationState,
        result: GraphResult,
        runs: _Runs,
    ) -> Invocation:
        from qneko_hw.report import Invocation, QubitStatus

        versions = {
            s.outcome.run_id: s.version
            for s in result.steps
            if s.outcome is not None and s.version is not None
        }
        return Invocation(
            id=invocation_id,
            kind=kind,
            started=started.isoformat(timespec="seconds"),
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            runs=tuple(runs.ids),
            versions=versions,
            start_version=start.version,
            end_version=result.state.version,
            qubits={
                q: QubitStatus(r.status, r.node, r.routine, r.message)
                for q, r in result.qubits.items()
            },
            title=(
                f"Calibration of {self.chip.name}"
                + (f" (device {self.device.name})" if self.device is not self.chip else "")
                + f": {kind} {started:%Y-%m-%d %H:%M} UTC"
            ),
        )

    def _report(
        self,
        invocation: Invocation,
        runs: _Runs,
        drawn: dict[str, ReportEntry],
        before: CalibrationState,
        after: CalibrationState,
    ) -> Path:
        import dataclasses

        from qneko_hw.report import write_invocation_report

        entries = []
        for rid in runs.ids:
            entry = drawn.get(rid) or runs.entries[rid]
            entries.append(dataclasses.replace(entry, version=invocation.versions.get(rid)))
        return write_invocation_report(
            self.options.out,
            invocation,
            entries,
            state=after,
            before=before,
            station=self.station,
        )
