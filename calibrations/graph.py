"""Calibration graph with Optimus semantics (Kelly et al., "Physical qubit calibration on a
directed acyclic graph", 2018).

A :class:`Graph` holds :class:`Node` s: a routine, the nodes it depends on, a timeout and the
calibration parameters (fields of :class:`~qneko_hw.config.calibration.QubitCalibration`)
it sets. Per qubit, the engine walks the graph with the paper's four operations:

- ``check_state`` (no measurement): the node's parameters were measured (``CalValue.updated``
  is set), not all of them last by routines upstream of it (a value an upstream node just
  set is checked, not taken for this node's own: a resonator spectroscopy after a VNA sweep
  still runs), the oldest of them is younger than the node's timeout, and no dependency
  changed since. A dependency *changed* when one of its parameters is newer than the node and was
  written by the dependency's routine or by a routine upstream of it (``run_id`` names the
  routine); a value rewritten later by a node *downstream* (fine amplitude rewriting the π
  amplitude of Rabi) does not invalidate the nodes in between.
- ``check_data``: a short, cheap measurement (the node's ``check`` routine, e.g. a few-point
  Rabi). Its would-be update is compared with the stored values: ``in_spec`` (relative
  change within the node's ``spec`` tolerances), ``out_of_spec``, or ``bad_data`` (the fit
  or the update failed). A node without a ``check`` routine falls back to ``calibrate`` and
  judges that result the same way. A node never measured has nothing to check against and
  is calibrated directly.
- ``calibrate``: the full routine; its new state is committed.
- ``diagnose``: on bad data, walk back to the dependencies (check their data, recalibrate
  what is out of spec, recursively), then retry.

A node may not apply to every qubit (a flux sweep needs a bias line, the VNA spectroscopy
a VNA): ``Node.skip`` names those qubits and why, and ``check_state`` reports such a node
fresh with the reason ``not applicable: …`` (recorded in the run's steps), so nothing runs
for it on that qubit. A graph built for a station leaves out the nodes that apply to none of
its qubits (``Graph.left_out`` says why). A routine run on a qubit its node does not apply
to anyway (a graph built by hand, ``diagnose`` walking back) plans a
:class:`~qneko_hw.calibrations.routine.Skip`: nothing is measured, its results are good,
``applicable`` False and say why, and nothing changes.

``maintain(node)``: maintain the dependencies, then check_state → check_data → calibrate
(with diagnose on bad data). ``diagnose(node)`` as in the paper. The nightly strategy runs
``diagnose`` on the watched nodes first (``Node.nightly``: the frequency, the amplitude, the
readout and T1 in the default graph; the leaves when no node is watched), one cheap check
each when nothing drifted, then a ``maintain`` pass without timeouts to bring every node
downstream of a recalibration back in line. ``check_data`` calls a value out of spec when it
moved by more than its node's ``spec`` *and* by more than :data:`SIGNIFICANCE` standard
deviations of the difference (:func:`tolerance`): a check that cannot tell the change from
its noise does not recalibrate, and one that can but finds a change too small to matter
does not either.

Qubits are interleaved: each qubit's walk is a generator that yields the routine it needs
next; the scheduler runs the pending request of lowest graph level first (all qubits'
Rabi before anyone's discrimination). Routines run one at a time, on the shared
instruments (:mod:`qneko_hw.calibrations.scheduler` runs the walks); a qubit whose node
fails stops with a :class:`QubitResult` naming the node, routine and reason, and the other
qubits go on. A ``KeyboardInterrupt`` (or ``should_stop()`` returning True between
routines) ends the run cleanly: every commit made so far stays, and a rerun resumes through
``check_state``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from qneko_hw.analysis import Results
from qneko_hw.calibrations.routine import Routine
from qneko_hw.calibrations.runner import RoutineOutcome
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.errors import ConfigError

__all__ = [
    "Action",
    "Committer",
    "Event",
    "Graph",
    "GraphResult",
    "Node",
    "QubitResult",
    "RoutineRunner",
    "StepRecord",
    "Strategy",
    "Verdict",
    "check_state",
    "judge",
    "measured_at",
    "more_precise",
    "set_upstream_by",
    "tolerance",
]

log = logging.getLogger(__name__)

Verdict = Literal["in_spec", "out_of_spec", "bad_data"]
Action = Literal["check_state", "check_data", "calibrate"]
Strategy = Literal["maintain", "nightly"]
Judge = Callable[["Node", QubitCalibration, QubitCalibration, Results], Verdict]


@dataclass(frozen=True)
class Node:
    """One calibration step of the graph.

    Attributes:
        name: node name, unique in the graph.
        routine: the routine ``calibrate`` runs; its ``name`` must be unique in the graph
            (it attributes stored values to nodes through their ``run_id``).
        depends_on: names of the nodes this one needs calibrated first.
        timeout_s: how long (s) a measured value stays fresh for ``check_state``.
        parameters: the ``QubitCalibration`` fields the routine sets; a node with none
            (a benchmark) is never fresh across runs.
        check: the cheap routine of ``check_data``; ``None`` falls back to ``routine``.
        spec: relative tolerance per parameter for ``check_data`` (``|new − old| ≤ tol·|old|``);
            empty: in spec when the check's fit is ``good``.
        judge: replaces the default verdict (:func:`judge`) of ``check_data``.
        skip: qubit → why the node does not apply to it (``check_state`` reports it fresh
            with that reason; nothing runs).
        nightly: the nightly run checks this node's data first (a node whose values the
            gates depend on and that drifts: frequency, amplitude, readout, T1).
        allow_poor: a ``poor`` result of the routine is committed (default: it is not; the
            engine treats it as bad data: walk back, retry once, else the qubit fails).
    """

    name: str
    routine: Routine[Any]
    depends_on: tuple[str, ...] = ()
    timeout_s: float = 24 * 3600.0
    parameters: tuple[str, ...] = ()
    check: Routine[Any] | None = None
    spec: Mapping[str, float] = field(default_factory=dict)
    judge: Judge | None = None
    skip: Mapping[str, str] = field(default_factory=dict)
    nightly: bool = False
    allow_poor: bool = False


class Graph:
    """A directed acyclic graph of :class:`Node` s.

    ``left_out``: nodes a builder left out of this graph, and why (informative).

    Raises:
        ConfigError: duplicate node or routine names, unknown dependencies, a cycle.
    """

    def __init__(
        self,
        nodes: Iterable[Node],
        name: str = "calibration",
        left_out: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.left_out: dict[str, str] = dict(left_out or {})
        self.nodes: dict[str, Node] = {}
        routines: set[str] = set()
        for n in nodes:
            if n.name in self.nodes:
                raise ConfigError(f"duplicate node '{n.name}'", field=f"graph.{name}")
            if n.routine.name in routines:
                raise ConfigError(
                    f"routine name '{n.routine.name}' used by two nodes", field=f"graph.{n.name}"
                )
            routines.add(n.routine.name)
            self.nodes[n.name] = n
        for n in self.nodes.values():
            for d in n.depends_on:
                if d not in self.nodes:
                    raise ConfigError(
                        f"node '{n.name}' depends on unknown node '{d}'", field=f"graph.{n.name}"
                    )
        self.order: tuple[str, ...] = self._topological()
        self.level: dict[str, int] = {}
        for name_ in self.order:
            deps = self.nodes[name_].depends_on
            self.level[name_] = 1 + max((self.level[d] for d in deps), default=-1)
        self._upstream = {k: self._ancestors(k) for k in self.order}

    def _topological(self) -> tuple[str, ...]:
        order: list[str] = []
        marks: dict[str, int] = {}

        def visit(n: str, path: tuple[str, ...]) -> None:
            if marks.get(n) == 2:
                return
            if marks.get(n) == 1:
                raise ConfigError(f"dependency cycle: {' → '.join((*path, n))}", field="graph")
            marks[n] = 1
            for d in self.nodes[n].depends_on:
                visit(d, (*path, n))
            marks[n] = 2
            order.append(n)

        for n in self.nodes:
            visit(n, ())
        return tuple(order)

    def _ancestors(self, name: str) -> frozenset[str]:
        seen: set[str] = set()
        todo = list(self.nodes[name].depends_on)
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(self.nodes[d].depends_on)
        return frozenset(seen)

    def upstream(self, name: str) -> frozenset[str]:
        """Every node ``name`` depends on, directly or not."""
        return self._upstream[name]

    @property
    def watched(self) -> tuple[str, ...]:
        """The nodes the nightly run checks first (``Node.nightly``), in topological order."""
        return tuple(n for n in self.order if self.nodes[n].nightly)

    @property
    def leaves(self) -> tuple[str, ...]:
        """Nodes no other node depends on, in topological order."""
        used = {d for n in self.nodes.values() for d in n.depends_on}
        return tuple(n for n in self.order if n not in used)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {' → '.join(self.order)})"


# --- check_state ---------------------------------------------------------------------


def _value(cal: QubitCalibration, parameter: str) -> CalValue | None:
    v = getattr(cal, parameter, None)
    return v if isinstance(v, CalValue) else None


def _written_by(value: CalValue, routine: str, qubit: str) -> bool:
    return value.run_id is not None and f"-{routine}-{qubit}-" in value.run_id


def _writer(value: CalValue | None, routines: Iterable[str], qubit: str) -> str | None:
    """Which of ``routines`` wrote ``value`` for ``qubit`` (from its run id), if one did."""
    if value is None:
        return None
    return next((r for r in routines if _written_by(value, r, qubit)), None)


def measured_at(node: Node, cal: QubitCalibration) -> datetime | None:
    """When ``node``'s oldest parameter was measured; ``None`` if one never was (or none)."""
    times = []
    for p in node.parameters:
        v = _value(cal, p)
        if v is None or v.updated is None:
            return None
        times.append(v.updated)
    return min(times) if times else None


def check_state(
    graph: Graph,
    name: str,
    cal: QubitCalibration,
    qubit: str,
    now: datetime,
    *,
    timeouts: bool = True,
) -> tuple[bool, str]:
    """Whether ``name``'s stored values are fresh for ``qubit``, and why (or why not).

    Fresh: measured, younger than the node's timeout (if ``timeouts``), and no dependency
    changed since (see the module docstring); or the node does not apply to ``qubit``
    (``Node.skip``), with the reason ``not applicable: …``.
    """
    node = graph.nodes[name]
    reason = node.skip.get(qubit)
    if reason is not None:
        return True, f"{NOT_APPLICABLE}: {reason}"
    if not node.parameters:
        return False, "nothing stored (always runs)"
    at = measured_at(node, cal)
    if at is None:
        return False, "never measured"
    by = set_upstream_by(graph, name, cal, qubit)
    if by is not None:
        return False, f"{', '.join(node.parameters)} last set upstream ({by}), not checked here"
    age = (now - at).total_seconds()
    if timeouts and age > node.timeout_s:
        return False, f"{age / 3600:.1f} h old > timeout {node.timeout_s / 3600:.1f} h"
    for d in node.depends_on:
        dep = graph.nodes[d]
        writers = [graph.nodes[u].routine.name for u in (*graph.upstream(d), d)]
        for p in dep.parameters:
            v = _value(cal, p)
            if v is None or v.updated is None or v.updated <= at:
                continue
            if any(_written_by(v, w, qubit) for w in writers):
                return False, f"dependency {d} changed since ({p})"
    return True, f"fresh ({age / 60:.0f} min old)"


def set_upstream_by(graph: Graph, name: str, cal: QubitCalibration, qubit: str) -> str | None:
    """The upstream routine that last set every parameter of node ``name`` (e.g. a wide
    search before a narrow spectroscopy), or None if the node's own values are stored."""
    node = graph.nodes[name]
    if not node.parameters:
        return None
    ancestors = [graph.nodes[u].routine.name for u in graph.upstream(name)]
    by = [_writer(_value(cal, p), ancestors, qubit) for p in node.parameters]
    return by[0] if all(w is not None for w in by) else None


#: A change counts as drift when it exceeds this many standard deviations of the
#: difference (old and new uncertainties in quadrature), besides the node's ``spec``.
SIGNIFICANCE = 4.0


def tolerance(node: Node, parameter: str, old: CalValue, new: CalValue) -> float:
    """How far ``parameter`` may move before ``check_data`` calls it out of spec.

    The larger of the node's relative ``spec`` (what matters for the gates) and
    :data:`SIGNIFICANCE` standard deviations of the difference (what the two measurements
    can tell apart); a value without uncertainty counts with the ``spec`` alone.
    """
    floor = node.spec.get(parameter, 0.0) * abs(old.value)
    if old.uncertainty is None or new.uncertainty is None:
        return floor
    return max(floor, SIGNIFICANCE * math.hypot(old.uncertainty, new.uncertainty))


def more_precise(node: Node, old: QubitCalibration, new: QubitCalibration) -> bool:
    """Whether ``new`` measured every parameter of ``node`` with a smaller uncertainty than
    ``old`` holds (or ``old`` holds none): the more precise of two measurements wins."""
    if not node.parameters:
        return False
    for p in node.parameters:
        a, b = _value(old, p), _value(new, p)
        if b is None or b.uncertainty is None:
            return False
        if a is not None and a.uncertainty is not None and b.uncertainty >= a.uncertainty:
            return False
    return True


def judge(node: Node, old: QubitCalibration, new: QubitCalibration, results: Results) -> Verdict:
    """Default ``check_data`` verdict: bad results → bad data; any ``spec`` parameter moved
    more than its :func:`tolerance` → out of spec; without ``spec``, ``poor`` results are
    out of spec.
    """
    if results.verdict == "bad":  # also a change that is not a number (Routine.analyze)
        return "bad_data"
    if not node.spec:
        return "in_spec" if results.verdict == "good" else "out_of_spec"
    for p in node.spec:
        a, b = _value(old, p), _value(new, p)
        if a is None or b is None or abs(b.value - a.value) > tolerance(node, p, a, b):
            return "out_of_spec"
    return "in_spec"


# --- nodes that do not apply ---------------------------------------------------------

#: How a check_state reason (and a routine's results) say that a node does not apply.
NOT_APPLICABLE = "not applicable"


# --- records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A progress report of the engine.

    Attributes:
        qubit, node: where. action: ``check_state`` / ``check_data`` / ``calibrate``.
        status: ``start`` (a routine starts), ``step`` (the routine's own progress:
            ``message``), ``fresh``, ``in_spec``, ``out_of_spec``, ``bad_data``, ``done``,
            ``failed``, ``skipped`` (a node upstream failed).
        message: details for humans.
    """

    qubit: str
    node: str
    action: Action
    status: str
    message: str = ""


@dataclass(frozen=True)
class StepRecord:
    """One decision or routine execution of the run.

    Attributes:
        qubit, node, action: what was done. routine: the routine's name (``""`` for
        check_state). verdict: ``check_data``'s verdict, if any. outcome: the routine's
        outcome (fit, run file, new state), ``None`` if no routine ran or it raised.
        error: why it failed, if it did. version: store version committed, if any.
        duration_s: wall time (s). message: details (check_state's reason).
    """

    qubit: str
    node: str
    action: Action
    routine: str = ""
    verdict: Verdict | None = None
    outcome: RoutineOutcome | None = None
    error: str | None = None
    version: int | None = None
    duration_s: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class QubitResult:
    """How one qubit ended: ``ok``, ``failed`` (at ``node``/``routine``: ``message``), or
    ``interrupted``."""

    qubit: str
    status: Literal["ok", "failed", "interrupted"]
    node: str | None = None
    routine: str | None = None
    message: str = ""


@dataclass(frozen=True)
class GraphResult:
    """Everything a run did: final state, per-qubit results, every step in order."""

    state: CalibrationState
    qubits: dict[str, QubitResult]
    steps: tuple[StepRecord, ...]
    interrupted: bool

    @property
    def failed(self) -> dict[str, QubitResult]:
        """The qubits that failed."""
        return {q: r for q, r in self.qubits.items() if r.status == "failed"}

    @property
    def executed(self) -> tuple[StepRecord, ...]:
        """The steps that ran a routine."""
        return tuple(s for s in self.steps if s.action != "check_state")


class RoutineRunner(Protocol):
    """Runs one routine on one qubit (e.g. :func:`~qneko_hw.calibrations.run_routine` bound
    to a station, its instruments and an output folder)."""

    def __call__(
        self,
        routine: Routine[Any],
        qubit: str,
        state: CalibrationState,
        progress: Callable[[str], None],
        /,
    ) -> RoutineOutcome: ...


#: ``commit(state, message, author) → version`` (e.g. ``Store.commit``).
Committer = Callable[[CalibrationState, str, str], int]
