"""Run a :class:`~qneko_hw.calibrations.graph.Graph` on many qubits: the per-qubit walks
(``maintain``, ``diagnose``, ``check_data``, ``calibrate``; semantics in
:mod:`qneko_hw.calibrations.graph`) and the scheduler that interleaves them.

Each qubit's walk is a generator: it yields a request (node, action, routine) whenever it
needs a routine run, and gets back the outcome. The scheduler serves the pending request of
the lowest graph level first (ties: the qubit served longest ago), so qubits advance level
by level; one routine runs at a time on the shared instruments, on one qubit or, with a
``group_runner``, on every qubit waiting for the same node at once (multiplexed). Between
routines it polls ``should_stop``; a ``KeyboardInterrupt`` from a routine ends the run the
same way, keeping every commit made so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from qneko_hw.calibrations.graph import (
    Action,
    Committer,
    Event,
    Graph,
    GraphResult,
    QubitResult,
    RoutineRunner,
    StepRecord,
    Strategy,
    Verdict,
    check_state,
    judge,
    measured_at,
    more_precise,
    set_upstream_by,
)
from qneko_hw.calibrations.routine import Routine
from qneko_hw.calibrations.runner import RoutineOutcome, multiplexable
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.errors import CalibrationError, ConfigError

__all__ = ["GroupRunner", "run_graph"]

log = logging.getLogger(__name__)


class _NodeFailedError(Exception):
    def __init__(self, node: str, routine: str, message: str) -> None:
        super().__init__(message)
        self.node, self.routine, self.message = node, routine, message


@dataclass(frozen=True)
class _Request:
    node: str
    action: Action
    routine: Routine[Any]


@dataclass(frozen=True)
class _Reply:
    outcome: RoutineOutcome | None
    error: Exception | None


_Walk = Generator[_Request, _Reply, bool]


class GroupRunner(Protocol):
    """Runs one routine on several qubits at once (e.g.
    :func:`~qneko_hw.calibrations.runner.run_routine_multiplexed` bound to a station):
    qubit → outcome, or the exception that qubit's run raised."""

    def __call__(
        self,
        routine: Routine[Any],
        qubits: Sequence[str],
        state: CalibrationState,
        progress: Callable[[str, str], None],
        /,
    ) -> Mapping[str, RoutineOutcome | Exception]: ...


class _Engine:
    def __init__(
        self,
        graph: Graph,
        state: CalibrationState,
        runner: RoutineRunner,
        *,
        commit: Committer | None,
        progress: Callable[[Event], None] | None,
        now: Callable[[], datetime],
        group_runner: GroupRunner | None = None,
    ) -> None:
        self.graph, self.state, self.runner = graph, state, runner
        self.commit_fn, self.progress_fn, self.now = commit, progress, now
        self.group_runner = group_runner
        self.steps: list[StepRecord] = []
        self.seq = 0

    def event(self, qubit: str, node: str, action: Action, status: str, msg: str = "") -> None:
        if self.progress_fn is not None:
            self.progress_fn(Event(qubit, node, action, status, msg))

    def execute(self, qubit: str, req: _Request) -> _Reply:
        """Run a requested routine; exceptions are returned, KeyboardInterrupt propagates."""
        self.event(qubit, req.node, req.action, "start", req.routine.name)

        def say(msg: str) -> None:
            self.event(qubit, req.node, req.action, "step", msg)

        try:
            return _Reply(self.runner(req.routine, qubit, self.state, say), None)
        except Exception as exc:  # isolate the qubit; the walk decides what it means
            log.warning("%s %s on %s raised %s", req.action, req.node, qubit, _describe(exc))
            log.debug("traceback of %s %s on %s", req.action, req.node, qubit, exc_info=True)
            return _Reply(None, exc)

    def execute_group(self, qubits: Sequence[str], req: _Request) -> dict[str, _Reply]:
        """Run a requested routine on several qubits at once (``group_runner``)."""
        assert self.group_runner is not None
        for q in qubits:
            self.event(q, req.node, req.action, "start", req.routine.name)

        def say(q: str, msg: str) -> None:
            self.event(q, req.node, req.action, "step", msg)

        try:
            got = self.group_runner(req.routine, qubits, self.state, say)
        except Exception as exc:  # every qubit of the group gets it
            log.warning("%s %s on %s raised %s", req.action, req.node, qubits, _describe(exc))
            got = dict.fromkeys(qubits, exc)
        replies: dict[str, _Reply] = {}
        for q in qubits:
            item = got.get(q)
            if isinstance(item, RoutineOutcome):
                replies[q] = _Reply(item, None)
            else:
                error = item if isinstance(item, Exception) else RuntimeError("no outcome")
                log.warning("%s %s on %s raised %s", req.action, req.node, q, _describe(error))
                replies[q] = _Reply(None, error)
        return replies

    def commit(self, new: CalibrationState, message: str, author: str) -> int | None:
        old = self.state.model_dump(exclude={"version"})
        if new.model_dump(exclude={"version"}) == old:
            return None
        version = self.commit_fn(new, message, author) if self.commit_fn else new.version
        self.state = new.model_copy(update={"version": version})
        return version


class _QubitWalk:
    """maintain / diagnose of one qubit, as a generator of routine requests."""

    def __init__(self, engine: _Engine, qubit: str, strategy: Strategy) -> None:
        self.e, self.q, self.strategy = engine, qubit, strategy
        self.g = engine.graph
        self.maintained: dict[str, bool] = {}
        self.diagnosed: dict[str, bool] = {}
        self.verified_at: dict[str, int] = {}  # node → sequence number of its last good check
        self.calibrated_at: dict[str, int] = {}
        self.timeouts = True

    def cal(self) -> QubitCalibration:
        return self.e.state.qubit(self.q)

    def mark(self, node: str, calibrated: bool) -> None:
        self.e.seq += 1
        self.verified_at[node] = self.e.seq
        if calibrated:
            self.calibrated_at[node] = self.e.seq

    def run(self, targets: Sequence[str]) -> _Walk:
        if self.strategy == "nightly":
            wanted = set(targets).union(*(self.g.upstream(t) for t in targets))
            watched = [n for n in self.g.watched if n in wanted] or list(targets)
            for t in watched:
                yield from self.diagnose(t, top=True)
            self.timeouts = False
        for t in targets:
            yield from self.maintain(t)
        return True

    def fresh(self, name: str) -> tuple[bool, str]:
        seen = self.verified_at.get(name)
        if seen is not None and all(
            self.calibrated_at.get(d, 0) < seen for d in self.g.nodes[name].depends_on
        ):
            return True, "verified in this run"
        return check_state(self.g, name, self.cal(), self.q, self.e.now(), timeouts=self.timeouts)

    def upstream_values(self, name: str) -> bool:
        """Whether every parameter of ``name`` was last set by a node upstream of it."""
        return set_upstream_by(self.g, name, self.cal(), self.q) is not None

    def maintain(self, name: str) -> _Walk:
        """Paper's maintain: dependencies first, then check_state → check_data → calibrate."""
        if name in self.maintained:
            return self.maintained[name]
        node = self.g.nodes[name]
        for d in node.depends_on:
            yield from self.maintain(d)
        fresh, why = self.fresh(name)
        self.e.steps.append(StepRecord(self.q, name, "check_state", message=why))
        if fresh:
            self.e.event(self.q, name, "check_state", "fresh", why)
            self.maintained[name] = False
            return False
        if measured_at(node, self.cal()) is None or self.upstream_values(name):
            # nothing of its own to check: a value an upstream node set (a wide search) is
            # measured again here, and the more precise measurement is committed
            yield from self.calibrate(name, retry=True)
        else:
            verdict, calibrated = yield from self.check_data(name)
            if verdict == "bad_data":
                yield from self.walk_back(name)
                yield from self.calibrate(name, retry=False)
            elif verdict == "out_of_spec" and not calibrated:
                yield from self.calibrate(name, retry=True)
        self.maintained[name] = name in self.calibrated_at
        return self.maintained[name]

    def diagnose(self, name: str, top: bool = False) -> _Walk:
        """Paper's diagnose: check_data; on bad data diagnose the dependencies and, if one
        was recalibrated, recalibrate; out of spec: recalibrate. Returns: recalibrated.

        ``top``: the node is a target of the nightly run; bad data there is recalibrated
        (or fails) even when no dependency changed.
        """
        if name in self.diagnosed:
            return self.diagnosed[name]
        node = self.g.nodes[name]
        result = True
        if measured_at(node, self.cal()) is None and node.parameters:
            for d in node.depends_on:  # nothing to compare with: make sure of the inputs
                yield from self.diagnose(d)
            yield from self.calibrate(name, retry=True)
        else:
            verdict, calibrated = yield from self.check_data(name)
            if verdict == "in_spec":
                result = False
            elif verdict == "out_of_spec":
                if not calibrated:
                    yield from self.calibrate(name, retry=True)
            elif (yield from self.walk_back(name)) or top:
                yield from self.calibrate(name, retry=False)
            else:
                result = False
        self.diagnosed[name] = result
        return result

    def walk_back(self, name: str) -> _Walk:
        """Diagnose every dependency; True if one of them was recalibrated."""
        changed = False
        for d in self.g.nodes[name].depends_on:
            changed |= yield from self.diagnose(d)
        return changed

    def check_data(self, name: str) -> Generator[_Request, _Reply, tuple[Verdict, bool]]:
        """Cheap check; without one, the routine itself (its result is committed when out
        of spec, or in spec and more precise than what is stored). Returns (verdict,
        calibrated)."""
        node = self.g.nodes[name]
        if node.check is None:
            before = self.cal()
            verdict, _, outcome = yield from self.attempt(name, "calibrate", judged=True)
            # out of spec, or in spec and more precise than what is stored: committed
            calibrated = verdict == "out_of_spec" or (
                verdict == "in_spec"
                and outcome is not None
                and outcome.results.verdict == "good"
                and more_precise(node, before, outcome.state.qubit(self.q))
            )
            if calibrated:
                self.committed(name, outcome)
            return verdict, calibrated
        verdict, _, _ = yield from self.attempt(name, "check_data", judged=True)
        return verdict, False

    def attempt(
        self, name: str, action: Action, *, judged: bool
    ) -> Generator[_Request, _Reply, tuple[Verdict, str | None, RoutineOutcome | None]]:
        """Run the node's routine (``calibrate``) or check routine, record and report it.

        Returns the verdict (``judge``; for a plain calibration ``in_spec`` unless the data is
        bad), the error message of bad data, and the outcome. A routine raising anything but
        a CalibrationError fails the node.
        """
        node = self.g.nodes[name]
        routine = node.check if action == "check_data" and node.check else node.routine
        before = self.cal()
        t0 = time.perf_counter()
        reply = yield _Request(name, action, routine)
        verdict: Verdict
        error: str | None = None
        outcome = reply.outcome
        if reply.error is not None:
            if not isinstance(reply.error, CalibrationError):
                msg = _describe(reply.error)
                self.e.steps.append(
                    StepRecord(
                        self.q,
                        name,
                        action,
                        routine.name,
                        error=msg,
                        duration_s=time.perf_counter() - t0,
                    )
                )
                raise _NodeFailedError(name, routine.name, msg)
            verdict, error = "bad_data", str(reply.error)
        elif outcome is None or outcome.error is not None:
            verdict, error = "bad_data", str(outcome.error if outcome else "no outcome")
        elif outcome.results.verdict == "bad":
            verdict, error = "bad_data", f"bad results: {outcome.results.message}"
        elif outcome.results.verdict == "poor" and not judged and not node.allow_poor:
            verdict = "bad_data"
            error = (
                f"poor fit, not committed (the node does not allow it): {outcome.results.message}"
            )
        elif judged:
            new = outcome.state.qubit(self.q)
            verdict = (node.judge or judge)(node, before, new, outcome.results)
        else:
            verdict = "in_spec"
        self.e.steps.append(
            StepRecord(
                self.q,
                name,
                action,
                routine.name,
                verdict if judged else None,
                outcome,
                error,
                duration_s=time.perf_counter() - t0,
            )
        )
        self.e.event(self.q, name, action, verdict, error or _summary(outcome))
        if judged and verdict == "in_spec":
            self.mark(name, calibrated=False)
        return verdict, error, outcome

    def committed(self, name: str, outcome: RoutineOutcome | None) -> None:
        """Commit a good calibration of ``name`` and note it in the last step record."""
        assert outcome is not None
        node = self.g.nodes[name]
        msg = f"{node.routine.name} {self.q} {outcome.run_id}"
        # The routine updated this qubit of the state it started from; other qubits may have
        # been committed since (multiplexed runs), so only this qubit's entry is taken.
        current = self.e.state
        rebased = outcome.state.model_copy(
            update={"qubits": {**current.qubits, self.q: outcome.state.qubit(self.q)}}
        )
        version = self.e.commit(rebased, msg, node.routine.name)
        if version is not None:
            last = self.e.steps[-1]
            self.e.steps[-1] = replace(last, version=version)
        self.mark(name, calibrated=True)
        self.e.event(self.q, name, "calibrate", "done", _summary(outcome))

    def calibrate(self, name: str, *, retry: bool) -> _Walk:
        """Run the node's routine and commit; on bad data walk back and, if a dependency
        was recalibrated, retry once (``retry``); a node still bad fails the qubit."""
        _, error, outcome = yield from self.attempt(name, "calibrate", judged=False)
        if error is None:
            self.committed(name, outcome)
            return True
        if retry and (yield from self.walk_back(name)):
            return (yield from self.calibrate(name, retry=False))
        raise _NodeFailedError(name, self.g.nodes[name].routine.name, error)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _summary(outcome: RoutineOutcome | None) -> str:
    if outcome is None:
        return ""
    return f"{outcome.results.verdict}: {outcome.results.message}"


# --- the scheduler -------------------------------------------------------------------


def run_graph(
    graph: Graph,
    qubits: Sequence[str],
    state: CalibrationState,
    runner: RoutineRunner,
    *,
    strategy: Strategy = "maintain",
    targets: Sequence[str] | None = None,
    commit: Committer | None = None,
    progress: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: Callable[[], datetime] | None = None,
    group_runner: GroupRunner | None = None,
) -> GraphResult:
    """Calibrate ``qubits`` along ``graph``, interleaved per graph level.

    Args:
        graph: the graph. qubits: the qubits, in the order they are served on a level.
        state: the calibration state to start from.
        runner: runs one routine (see :class:`RoutineRunner`).
        strategy: ``maintain`` (fresh chip, resume) or ``nightly`` (diagnose the watched
            nodes, or the leaves, then maintain the targets without timeouts).
        targets: nodes to bring up to date (default: the graph's leaves).
        commit: ``commit(state, message, author) → version``, called after every
            calibration that changed the state (e.g. ``Store.commit``).
        progress: called with every :class:`Event`.
        should_stop: polled between routines; True ends the run as an interruption.
        now: clock for ``check_state`` (default: UTC now).
        group_runner: runs a routine on several qubits at once. With it, the qubits whose
            pending request is the same node, action and routine (and the routine is
            :func:`~qneko_hw.calibrations.runner.multiplexable`) are served together: their
            drives play in parallel and their readouts are multiplexed. Without it, one
            qubit at a time.
    """
    for q in qubits:
        state.qubit(q)  # unknown qubits raise ConfigError before anything runs
    engine = _Engine(
        graph,
        state,
        runner,
        commit=commit,
        progress=progress,
        now=now or (lambda: datetime.now(UTC)),
        group_runner=group_runner,
    )
    goals = tuple(targets) if targets is not None else graph.leaves
    for t in goals:
        if t not in graph.nodes:
            raise ConfigError(f"unknown target node '{t}'", field="targets")
    results: dict[str, QubitResult] = {}
    pending: dict[str, tuple[_Walk, _Request]] = {}

    def advance(q: str, walk: _Walk, reply: _Reply | None) -> None:
        try:
            req = walk.send(reply) if reply is not None else next(walk)
        except StopIteration:
            results[q] = QubitResult(q, "ok")
            engine.event(q, "", "calibrate", "qubit_done")
            return
        except _NodeFailedError as f:
            results[q] = QubitResult(q, "failed", f.node, f.routine, f.message)
            engine.event(q, f.node, "calibrate", "failed", f.message)
            return
        pending[q] = (walk, req)

    interrupted = False
    order = {q: i for i, q in enumerate(qubits)}
    served = dict.fromkeys(qubits, 0)  # round robin among requests of the same level
    try:
        for q in qubits:
            advance(q, _QubitWalk(engine, q, strategy).run(goals), None)
        while pending:
            if should_stop is not None and should_stop():
                interrupted = True
                break
            q = min(pending, key=lambda k: (graph.level[pending[k][1].node], served[k], order[k]))
            req = pending[q][1]
            group = [q]
            if group_runner is not None and multiplexable(req.routine):
                group += [
                    k
                    for k in sorted(pending, key=order.__getitem__)
                    if k != q
                    and pending[k][1].node == req.node
                    and pending[k][1].action == req.action
                    and pending[k][1].routine is req.routine
                ]
            turn = max(served.values()) + 1
            for k in group:
                served[k] = turn
            if len(group) == 1:
                replies = {q: engine.execute(q, req)}  # q stays pending if interrupted
            else:
                replies = engine.execute_group(group, req)
            for k in group:
                walk_k = pending.pop(k)[0]
                advance(k, walk_k, replies[k])
    except KeyboardInterrupt:
        interrupted = True
    for q in qubits:
        if q not in results:
            node = pending[q][1].node if q in pending else None
            results[q] = QubitResult(q, "interrupted", node, message="interrupted")
    return GraphResult(engine.state, results, tuple(engine.steps), interrupted)
