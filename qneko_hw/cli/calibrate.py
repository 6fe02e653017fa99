"""``qneko calibrate``: the simulated lab (or a real station), drivers, the calibration
graph, a live display per qubit and node, the store, the report and a summary.

Ctrl-C stops after the current routine (a second Ctrl-C aborts it); every run file and
store commit made so far stays, what was done is printed, and the exit code is 130. A rerun
resumes: ``check_state`` skips every node whose values in the store are fresh.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from qneko_hw.calibrations.graph import NOT_APPLICABLE
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.chip import Chip, random_chip
from qneko_hw.config.station import Station, default_station
from qneko_hw.errors import ConfigError, InstrumentError
from qneko_hw.store import DEFAULT_DB_NAME, Store

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from rich.console import Console, RenderableType

    from qneko_hw.calibrations.graph import Event, Graph, GraphResult

__all__ = [
    "EXIT_INTERRUPTED",
    "builtin_chip",
    "builtin_station",
    "run_calibrate",
    "start_state",
]

log = logging.getLogger(__name__)

#: Exit code of a run stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class _VnaNotConnected:
    """Stands for the station's VNA in the graph built before anything is connected."""

    def __init__(self, name: str) -> None:
        self.name = name

    def sweep(
        self, start_hz: float, stop_hz: float, points: int
    ) -> tuple[NDArray[np.float64], NDArray[np.complex128]]:
        raise InstrumentError(f"VNA {self.name} is not connected yet", instrument=self.name)


def builtin_chip() -> Chip:
    """The built-in 4-qubit chip (fixed seed)."""
    from qneko_hw.cli.main import BUILTIN_CHIP_SEED, BUILTIN_QUBITS

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


def _content(state: CalibrationState) -> dict[str, object]:
    return state.model_dump(exclude={"version"})


@contextmanager
def _stop_on_sigint(console: Console) -> Iterator[Callable[[], bool]]:
    """First Ctrl-C: ask to stop after the current routine; second: KeyboardInterrupt."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        console.print(
            "[yellow]Ctrl-C: stopping after the current routine (Ctrl-C again aborts it)[/]"
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _log_to(console: Console) -> Iterator[None]:
    """Warnings of the library on the rich console (above the live display), no tracebacks."""
    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False, show_time=False)
    handler.setLevel(logging.WARNING)
    lib = logging.getLogger("qneko_hw")
    lib.addHandler(handler)
    try:
        yield
    finally:
        lib.removeHandler(handler)


_MARK = {
    "fresh": "[green]• fresh[/]",
    "in_spec": "[green]≈ in spec[/]",
    "done": "[bold green]✓[/]",
    "out_of_spec": "[yellow]↻ drift[/]",
    "bad_data": "[yellow]! bad[/]",
    "failed": "[bold red]✗ failed[/]",
    "not_applicable": "[dim]n/a[/]",
}
_LEGEND = (
    "✓ calibrated  • fresh in store  ≈ data in spec  ↻ drifted  ! bad data  ✗ failed  "
    "– skipped  n/a not applicable"
)


class _Display:
    """Live table: one row per qubit, one column per node, and the routine running now."""

    def __init__(self, graph: Graph, qubits: list[str]) -> None:
        self.graph, self.qubits = graph, qubits
        self.cells: dict[tuple[str, str], str] = {}
        self.current = ""
        self.started = time.monotonic()
        self.routine_started = self.started

    def on_event(self, e: Event) -> None:
        if e.status == "start":
            self.routine_started = time.monotonic()
            verb = "checking" if e.action == "check_data" else "calibrating"
            self.cells[e.qubit, e.node] = f"[cyan]▶ {verb[:5]}[/]"
            self.current = f"{e.qubit} {e.node}: {e.message}"
        elif e.status == "step":
            self.current = f"{e.qubit} {e.node}: {e.action} — {e.message}"
        elif e.status == "failed":
            self.cells[e.qubit, e.node] = _MARK["failed"]
            for n in self.graph.order:
                self.cells.setdefault((e.qubit, n), "[dim]–[/]")
        elif e.status == "fresh" and e.message.startswith(NOT_APPLICABLE):
            self.cells[e.qubit, e.node] = _MARK["not_applicable"]
        elif e.status in _MARK and e.node:
            self.cells[e.qubit, e.node] = _MARK[e.status]

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"{self.graph.name} graph", title_justify="left", caption=_LEGEND)
        table.add_column("qubit")
        for n in self.graph.order:
            table.add_column(n)
        for q in self.qubits:
            table.add_row(q, *(self.cells.get((q, n), "[dim]·[/]") for n in self.graph.order))
        now = time.monotonic()
        line = Text.from_markup(
            f"[dim]{now - self.started:5.0f} s[/]  {self.current}"
            f"  [dim]({now - self.routine_started:.0f} s)[/]"
            if self.current
            else ""
        )
        return Group(table, line)


def _summary(console: Console, result: GraphResult, chip_name: str, elapsed_s: float) -> None:
    from rich.table import Table

    table = Table(title=f"Calibration of {chip_name}")
    for col in ("qubit", "result", "f01 (GHz)", "π amp (V)", "F assign", "T1 (µs)", "T2* (µs)"):
        table.add_column(col)

    def fmt(v: Any, scale: float, digits: int) -> str:
        return "—" if v is None or v.updated is None else f"{v.value * scale:.{digits}f}"

    for q, r in sorted(result.qubits.items()):
        cal = result.state.qubit(q)
        status = {
            "ok": "[green]ok[/]",
            "failed": f"[red]failed at {r.node}[/]",
            "interrupted": f"[yellow]stopped at {r.node or '—'}[/]",
        }[r.status]
        table.add_row(
            q,
            status,
            fmt(cal.drive_frequency_hz, 1e-9, 6),
            fmt(cal.pi_amplitude_v, 1, 5),
            fmt(cal.assignment_fidelity, 1, 4),
            fmt(cal.t1_s, 1e6, 1),
            fmt(cal.t2_s, 1e6, 1),
        )
    console.print(table)
    counts: dict[str, int] = {}
    for s in result.steps:
        key = "fresh" if s.action == "check_state" and s.message.startswith("fresh") else s.action
        if s.action != "check_state" or key == "fresh":
            counts[key] = counts.get(key, 0) + 1
    console.print(
        f"{counts.get('calibrate', 0)} calibrations, {counts.get('check_data', 0)} data checks, "
        f"{counts.get('fresh', 0)} nodes fresh in the store; {elapsed_s:.1f} s"
    )


def _done_list(console: Console, result: GraphResult) -> None:
    """What an interrupted run did, routine by routine."""
    for s in result.executed:
        what = s.verdict or ("ok" if s.error is None else "bad data")
        where = f" → version {s.version}" if s.version else ""
        console.print(f"  {s.qubit} {s.node}: {s.action} ({s.routine}) {what}{where}")


def run_calibrate(
    chip_path: Path | None,
    station_path: Path | None,
    out: Path,
    qubits: str | None,
    shots: int | None,
    *,
    points: int | None = None,
    target: str | None = None,
    nightly: bool = False,
    sequential: bool = False,
    punch_out: bool = False,
    reset_check: bool = False,
) -> int:
    """Run the calibration graph; returns the exit code (0: every qubit calibrated, 1: one
    failed, 130: interrupted by Ctrl-C)."""
    from rich.console import Console
    from rich.live import Live

    from qneko_hw.calibrations import run_routine
    from qneko_hw.calibrations.default_graph import default_graph, nightly_graph
    from qneko_hw.calibrations.resonator_spectroscopy_vna import VNA_MODELS
    from qneko_hw.calibrations.runner import Routine, RoutineOutcome, run_routine_multiplexed
    from qneko_hw.calibrations.scheduler import run_graph
    from qneko_hw.config.initial import design_state
    from qneko_hw.drivers.station import connect
    from qneko_hw.report import BackgroundPlots, ReportEntry, write_report
    from qneko_hw.simulated_instruments.lab import SimulatedLab

    console = Console()
    t0 = time.monotonic()
    chip = Chip.load(chip_path) if chip_path else builtin_chip()
    station = Station.load(station_path) if station_path else builtin_station(chip)
    names = (
        list(chip.qubits) if qubits is None else [q.strip() for q in qubits.split(",") if q.strip()]
    )
    for q in names:
        if q not in chip.qubits:
            raise ConfigError(
                f"unknown qubit '{q}' (chip has {', '.join(chip.qubits)})", field="--qubits"
            )
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "calibration.json"
    chip_yaml = chip.model_dump_json()
    simulated = {cfg.address == "sim" for cfg in station.instruments.values()}
    if len(simulated) > 1:
        raise ConfigError(
            "mixed station: either every instrument address is 'sim' (simulated lab) "
            "or none is (real instruments)",
            source=str(station_path) if station_path else None,
        )
    make_graph = nightly_graph if nightly else default_graph
    options: dict[str, Any] = {
        "shots": shots,
        "points": points,
        "station": station,
        "chip": chip,
        "punch_out": punch_out,
        "reset_check": reset_check,
    }
    # The nodes, to check --target before anything starts; a VNA in the station is handed
    # to its node once connected (the graph is built again then).
    vnas = [n for n, c in station.instruments.items() if c.model in VNA_MODELS]
    graph = make_graph(**options, vna=_VnaNotConnected(vnas[0]) if vnas else None)
    targets = None if target is None else [t.strip() for t in target.split(",") if t.strip()]
    for t in targets or ():
        if t not in graph.nodes:
            raise ConfigError(
                f"unknown node '{t}' (graph has {', '.join(graph.order)})", field="--target"
            )
    result: GraphResult | None = None
    with ExitStack() as stack:
        store = stack.enter_context(Store(out / DEFAULT_DB_NAME, create=True))
        state = start_state(store, state_path, design_state(chip, station))
        if simulated == {True}:
            lab = stack.enter_context(SimulatedLab(chip, station))
            station = lab.station
            console.print(f"[bold]simulated lab[/] up: {len(lab.servers)} instruments on loopback")
        instruments = stack.enter_context(connect(station))
        if vnas:
            graph = make_graph(**{**options, "station": station, "vna": instruments[vnas[0]]})
        console.print(f"graph: {' → '.join(graph.order)} (store version {state.version})")
        for node, why in graph.left_out.items():
            console.print(f"[dim]left out: {node} ({why})[/]")

        plots = stack.enter_context(BackgroundPlots())

        def drawn(outcome: RoutineOutcome) -> RoutineOutcome:
            plots.submit(ReportEntry.from_outcome(outcome))
            return outcome

        def runner(
            routine: Routine, qubit: str, st: CalibrationState, progress: Callable[[str], None]
        ) -> RoutineOutcome:
            return drawn(
                run_routine(
                    routine,
                    qubit,
                    st,
                    station,
                    instruments,
                    out_dir=out,
                    context={"chip": chip_yaml},
                    progress=progress,
                )
            )

        def group_runner(
            routine: Routine,
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
                context={"chip": chip_yaml},
                progress=progress,
            )
            return {q: drawn(o) if isinstance(o, RoutineOutcome) else o for q, o in got.items()}

        def commit(new: CalibrationState, message: str, author: str) -> int:
            version = store.commit(new, message, author=author)
            new.model_copy(update={"version": version}).save(state_path)
            return version

        display = _Display(graph, names)
        stop = stack.enter_context(_stop_on_sigint(console))
        stack.enter_context(_log_to(console))
        with Live(display, console=console, refresh_per_second=4, transient=False):
            result = run_graph(
                graph,
                names,
                state,
                runner,
                strategy="nightly" if nightly else "maintain",
                targets=targets,
                commit=commit,
                progress=display.on_event,
                should_stop=stop,
                group_runner=None if sequential else group_runner,
            )
        drawn_entries = {e.run_id: e for e in plots.entries()}
    elapsed = time.monotonic() - t0
    _summary(console, result, chip.name, elapsed)
    console.print(
        f"calibration written to [bold]{state_path}[/] (version {result.state.version} "
        f"in {out / DEFAULT_DB_NAME})"
    )
    outcomes = [s.outcome for s in result.executed if s.outcome is not None]
    if outcomes:
        entries = [drawn_entries.get(oc.run_id) or ReportEntry.from_outcome(oc) for oc in outcomes]
        report = write_report(out, entries)
        console.print(f"report written to [bold]{report}[/]")
    for q, r in result.failed.items():
        console.print(f"[red]{q} not calibrated:[/] node {r.node} ({r.routine}): {r.message}")
    if result.interrupted:
        console.print("[yellow]interrupted[/]; done so far:")
        _done_list(console, result)
        console.print("run [bold]qneko calibrate[/] again with the same --out to resume")
        return EXIT_INTERRUPTED
    return 1 if result.failed else 0
