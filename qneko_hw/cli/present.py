"""What ``qneko calibrate`` shows: a live table per qubit and node while the session runs,
the library's warnings above it, and a summary at the end (rich).

The presenter only shows; the work is :class:`~qneko_hw.cli.session.CalibrationSession`'s.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from qneko_hw.calibrations.graph import NOT_APPLICABLE

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from qneko_hw.calibrations.graph import Event, Graph, GraphResult
    from qneko_hw.cli.session import SessionResult

__all__ = ["Presenter", "stop_on_sigint"]

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


@contextmanager
def stop_on_sigint(console: Console) -> Iterator[Callable[[], bool]]:
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


class _Display:
    """Live table: one row per qubit, one column per node, and the routine running now."""

    def __init__(self, graph: Graph, qubits: Sequence[str]) -> None:
        self.graph, self.qubits = graph, list(qubits)
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
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"{self.graph.name} graph", title_justify="left", caption=_LEGEND)
        table.add_column("qubit")
        # the nodes this run has touched so far (a --target run shows its part of the
        # graph; a long graph stays readable in an 80-column terminal until it has run)
        touched = {n for _, n in self.cells}
        shown = [n for n in self.graph.order if n in touched] or list(self.graph.order)
        for n in shown:
            table.add_column(n)
        for q in self.qubits:
            table.add_row(escape(q), *(self.cells.get((q, n), "[dim]·[/]") for n in shown))
        now = time.monotonic()
        line = Text(
            f"{now - self.started:5.0f} s  {self.current}  ({now - self.routine_started:.0f} s)"
            if self.current
            else ""
        )
        return Group(table, line)


class Presenter:
    """Shows a calibration session on a rich console (a
    :class:`~qneko_hw.cli.session.Listener`)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._display: _Display | None = None

    # -- the listener -------------------------------------------------------------------

    def lab_up(self, instruments: int) -> None:
        self.console.print(f"[bold]simulated lab[/] up: {instruments} instruments on loopback")

    def graph_ready(self, graph: Graph, version: int) -> None:
        self.console.print(f"graph: {' → '.join(graph.order)} (store version {version})")
        for node, why in graph.left_out.items():
            self.console.print(f"[dim]left out: {node} ({why})[/]", markup=True)

    @contextmanager
    def running(self, graph: Graph, qubits: Sequence[str]) -> Iterator[None]:
        from rich.live import Live

        self._display = _Display(graph, qubits)
        with (
            self._log_to(),
            Live(self._display, console=self.console, refresh_per_second=4, transient=False),
        ):
            yield

    def on_event(self, event: Event) -> None:
        if self._display is not None:
            self._display.on_event(event)

    @contextmanager
    def _log_to(self) -> Iterator[None]:
        """Warnings of the library on the console (above the live display), no tracebacks."""
        from rich.logging import RichHandler

        handler = RichHandler(console=self.console, show_path=False, show_time=False)
        handler.setLevel(logging.WARNING)
        lib = logging.getLogger("qneko_hw")
        lib.addHandler(handler)
        try:
            yield
        finally:
            lib.removeHandler(handler)

    # -- the end ------------------------------------------------------------------------

    def finished(self, done: SessionResult) -> None:
        """The summary table, where things were written, failures, and what an
        interrupted run did."""
        from rich.markup import escape

        result = done.graph
        self._summary(result, done)
        self.console.print(
            f"calibration written to [bold]{escape(str(done.state_path))}[/] (version "
            f"{result.state.version} in {escape(str(done.store_path))})"
        )
        if done.report is not None:
            self.console.print(f"report written to [bold]{escape(str(done.report))}[/]")
        for q, r in result.failed.items():
            self.console.print(
                f"[red]{escape(q)} not calibrated:[/] node {escape(str(r.node))} "
                f"({escape(str(r.routine))}): {escape(r.message)}"
            )
        if result.interrupted:
            self.console.print("[yellow]interrupted[/]; done so far:")
            for s in result.executed:
                what = s.verdict or ("ok" if s.error is None else "bad data")
                where = f" → version {s.version}" if s.version else ""
                self.console.print(
                    f"  {escape(s.qubit)} {s.node}: {s.action} ({s.routine}) {what}{where}"
                )
            self.console.print("run [bold]qneko calibrate[/] again with the same --out to resume")

    def _summary(self, result: GraphResult, done: SessionResult) -> None:
        """One row per qubit: how it ended, and what was found against the design."""
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=f"Calibration of {escape(done.chip_name)}: design → found")
        columns = ("qubit", "result", "f01 (GHz)", "Δ design (MHz)", "F assign")
        for col in (*columns, "T1 (µs)", "T2* (µs)", "EPC"):
            table.add_column(col, overflow="fold")

        def fmt(v: Any, scale: float, digits: int) -> str:
            return "—" if v is None or v.updated is None else f"{v.value * scale:.{digits}f}"

        def moved(v: Any, design_hz: float | None) -> str:
            if v is None or v.updated is None or design_hz is None:
                return "—"
            return f"{(v.value - design_hz) / 1e6:+.3f}"

        design = done.design
        for q, r in sorted(result.qubits.items()):
            cal = result.state.qubit(q)
            status = {
                "ok": "[green]ok[/]",
                "failed": f"[red]failed at {escape(str(r.node))}[/]",
                "interrupted": f"[yellow]stopped at {escape(str(r.node or '—'))}[/]",
            }[r.status]
            f_design = design.qubits[q].frequency_hz if design and q in design.qubits else None
            table.add_row(
                escape(q),
                status,
                fmt(cal.drive_frequency_hz, 1e-9, 6),
                moved(cal.drive_frequency_hz, f_design),
                fmt(cal.assignment_fidelity, 1, 4),
                fmt(cal.t1_s, 1e6, 1),
                fmt(cal.t2_s, 1e6, 1),
                "—" if cal.error_per_clifford is None else f"{cal.error_per_clifford.value:.1e}",
            )
        self.console.print(table)
        counts: dict[str, int] = {}
        for s in result.steps:
            fresh = s.action == "check_state" and s.message.startswith("fresh")
            key = "fresh" if fresh else s.action
            if s.action != "check_state" or fresh:
                counts[key] = counts.get(key, 0) + 1
        self.console.print(
            f"{counts.get('calibrate', 0)} calibrations, {counts.get('check_data', 0)} data "
            f"checks, {counts.get('fresh', 0)} nodes fresh in the store; {done.elapsed_s:.1f} s"
        )
