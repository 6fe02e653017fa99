"""Calibration graph (Optimus semantics) with fake routines: pure Python, no lab.

The fake lab holds a truth per (qubit, parameter); a fake routine measures its parameter's
truth, unless a parameter it needs is more than 5 % off the truth (bad data), or it is told
to fail or to raise KeyboardInterrupt. A fake clock advances one second per routine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qneko_hw.analysis import Results
from qneko_hw.calibrations.graph import Event, Graph, Node, check_state
from qneko_hw.calibrations.runner import RoutineOutcome
from qneko_hw.calibrations.scheduler import run_graph
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.errors import CalibrationError, ConfigError, InstrumentError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600.0


@dataclass
class FakeLab:
    truth: dict[tuple[str, str], float]
    now: datetime = T0
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: set[tuple[str, str]] = field(default_factory=set)  # (routine, qubit): always bad
    crash: set[tuple[str, str]] = field(default_factory=set)  # raises InstrumentError
    interrupt: set[tuple[str, str]] = field(default_factory=set)  # raises KeyboardInterrupt once

    def clock(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class FakeRoutine:
    name: str
    param: str
    needs: tuple[str, ...]
    lab: FakeLab
    multiplex: bool = True  # the Routine interface the scheduler reads; the fake runner never plans

    def run(self, qubit: str, state: CalibrationState) -> RoutineOutcome:
        lab = self.lab
        lab.now += timedelta(seconds=1)
        lab.calls.append((self.name, qubit))
        key = (self.name, qubit)
        if key in lab.interrupt:
            lab.interrupt.discard(key)
            raise KeyboardInterrupt
        if key in lab.crash:
            raise InstrumentError("digitizer timed out", instrument="dig")
        cal = state.qubit(qubit)
        off = [p for p in self.needs if abs(getattr(cal, p).value / lab.truth[qubit, p] - 1) > 0.05]
        run_id = f"{lab.now:%Y%m%dT%H%M%S}-{self.name}-{qubit}-abcdef"
        if off or key in lab.fail:
            fit = Results.failed(self.name, qubit, f"no signal ({', '.join(off) or 'broken'})")
            err = CalibrationError(f"{self.name} failed", qubit=qubit, routine=self.name)
            return RoutineOutcome(fit, state, Path("none.h5"), run_id, err)
        value = lab.truth[qubit, self.param]
        fit = Results(
            routine=self.name,
            qubit=qubit,
            verdict="good",
            values={self.param: value},
            uncertainties={self.param: 0.0},
            r_squared=1.0,
        )
        new = state.with_qubit(
            qubit, **{self.param: CalValue(value=value, updated=lab.now, run_id=run_id)}
        )
        return RoutineOutcome(fit, new, Path("none.h5"), run_id)


def runner(routine: Any, qubit: str, state: CalibrationState, progress: Any) -> RoutineOutcome:
    progress("measure")
    return routine.run(qubit, state)  # type: ignore[no-any-return]


# spec → rabi → disc → t1, and t2e after rabi and disc (a second leaf)
CHAIN = [
    ("spec", "drive_frequency_hz", (), ()),
    ("rabi", "pi_amplitude_v", ("spec",), ("drive_frequency_hz",)),
    ("disc", "threshold", ("rabi",), ("pi_amplitude_v",)),
    ("t1", "t1_s", ("disc",), ("threshold",)),
    ("t2e", "t2_echo_s", ("rabi", "disc"), ("pi_amplitude_v", "threshold")),
]
QUBITS = ("q0", "q1")


def make_graph(lab: FakeLab, *, checks: bool = True, timeout_h: float = 24) -> Graph:
    nodes = []
    for name, param, deps, needs in CHAIN:
        nodes.append(
            Node(
                name=name,
                routine=FakeRoutine(name, param, needs, lab),
                depends_on=deps,
                timeout_s=timeout_h * HOUR,
                parameters=(param,),
                check=FakeRoutine(f"{name}_check", param, needs, lab) if checks else None,
                spec={param: 0.02},
            )
        )
    return Graph(nodes)


def fresh_state() -> CalibrationState:
    d = CalValue.design
    return CalibrationState(
        qubits={
            q: QubitCalibration(
                drive_frequency_hz=d(5e9),
                pi_amplitude_v=d(0.3),
                pi_half_amplitude_v=d(0.15),
                readout_frequency_hz=d(7e9),
                threshold=d(0.0),
            )
            for q in QUBITS
        }
    )


def make_lab() -> FakeLab:
    truth = {}
    for i, q in enumerate(QUBITS):
        truth |= {
            (q, "drive_frequency_hz"): 5.01e9 + i * 1e6,
            (q, "pi_amplitude_v"): 0.31 + 0.01 * i,
            (q, "threshold"): 0.02,
            (q, "t1_s"): 50e-6,
            (q, "t2_echo_s"): 60e-6,
        }
    return FakeLab(truth)


class Recorder:
    def __init__(self) -> None:
        self.versions: list[CalibrationState] = []
        self.events: list[Event] = []

    def commit(self, state: CalibrationState, message: str, author: str) -> int:
        self.versions.append(state)
        return len(self.versions)


def run(lab: FakeLab, state: CalibrationState, rec: Recorder | None = None, **kw: Any) -> Any:
    rec = rec or Recorder()
    graph = kw.pop("graph", None) or make_graph(lab)
    return run_graph(
        graph,
        QUBITS,
        state,
        runner,
        commit=rec.commit,
        progress=rec.events.append,
        now=lab.clock,
        **kw,
    )


def test_fresh_chip_runs_in_dependency_order_interleaved_per_level() -> None:
    lab, rec = make_lab(), Recorder()
    result = run(lab, fresh_state(), rec)
    order = ["spec", "rabi", "disc", "t1", "t2e"]
    assert lab.calls == [(n, q) for n in order for q in QUBITS]  # no checks on a fresh chip
    assert {q: r.status for q, r in result.qubits.items()} == {"q0": "ok", "q1": "ok"}
    assert len(rec.versions) == 10 and result.state.version == 10
    assert result.state.qubit("q1").pi_amplitude_v.value == pytest.approx(0.32)
    assert [s.version for s in result.executed] == list(range(1, 11))
    started = [(e.node, e.qubit) for e in rec.events if e.status == "start"]
    assert started == lab.calls
    assert any(e.status == "step" and e.message == "measure" for e in rec.events)


def test_rerun_skips_fresh_nodes_and_timeouts_trigger_check_data() -> None:
    lab = make_lab()
    state = run(lab, fresh_state()).state
    lab.calls.clear()
    again = run(lab, state)
    assert lab.calls == []
    assert {s.message.split(" (")[0] for s in again.steps} == {"fresh"}
    lab.now += timedelta(hours=25)  # every value older than its timeout: cheap checks only
    rec = Recorder()
    result = run(lab, state, rec)
    assert lab.calls == [
        (f"{n}_check", q) for n in ("spec", "rabi", "disc", "t1", "t2e") for q in QUBITS
    ]
    assert {s.verdict for s in result.executed} == {"in_spec"}
    assert rec.versions == []


def test_out_of_spec_recalibrates_and_dependents_are_checked() -> None:
    lab = make_lab()
    state = run(lab, fresh_state()).state
    lab.calls.clear()
    lab.truth["q0", "pi_amplitude_v"] *= 1.03  # drifted 3 %: out of spec, data still good
    graph = make_graph(lab)
    rabi = graph.nodes["rabi"]
    # only rabi timed out: rewrite its value's timestamp as if measured two days ago
    old = state.qubit("q0").pi_amplitude_v.model_copy(update={"updated": T0})
    state = state.with_qubit("q0", pi_amplitude_v=old)
    assert not check_state(graph, "rabi", state.qubit("q0"), "q0", lab.now)[0]
    assert rabi.name == "rabi"
    rec = Recorder()
    result = run(lab, state, rec, graph=graph)
    assert lab.calls == [
        ("rabi_check", "q0"),
        ("rabi", "q0"),  # out of spec → calibrate
        ("disc_check", "q0"),  # dependency changed → check its data
        ("t2e_check", "q0"),
    ]
    assert [s.verdict for s in result.executed] == ["out_of_spec", None, "in_spec", "in_spec"]
    assert len(rec.versions) == 1
    assert result.state.qubit("q0").pi_amplitude_v.value == pytest.approx(0.31 * 1.03)


def test_check_state_timeout_and_changed_dependency() -> None:
    lab = make_lab()
    graph = make_graph(lab, timeout_h=1)
    state = run(lab, fresh_state(), graph=graph).state
    cal = state.qubit("q0")
    assert check_state(graph, "disc", cal, "q0", lab.now)[0]
    fresh, why = check_state(graph, "disc", cal, "q0", lab.now + timedelta(hours=2))
    assert not fresh and "timeout" in why
    assert check_state(graph, "disc", cal, "q0", lab.now + timedelta(hours=2), timeouts=False)[0]
    # rabi recalibrated after disc: disc is stale although young
    later = lab.now + timedelta(seconds=5)
    new_pi = CalValue(value=0.3, updated=later, run_id=f"{later:%Y%m%dT%H%M%S}-rabi-q0-abcdef")
    cal2 = cal.model_copy(update={"pi_amplitude_v": new_pi})
    fresh, why = check_state(graph, "disc", cal2, "q0", later)
    assert not fresh and why == "dependency rabi changed since (pi_amplitude_v)"
    # the same value written later by a node downstream of disc does not invalidate disc
    by_t1 = new_pi.model_copy(update={"run_id": f"{later:%Y%m%dT%H%M%S}-t1-q0-abcdef"})
    assert check_state(
        graph, "disc", cal.model_copy(update={"pi_amplitude_v": by_t1}), "q0", later
    )[0]
    # never measured (design value)
    assert check_state(graph, "spec", fresh_state().qubit("q0"), "q0", lab.now) == (
        False,
        "never measured",
    )


def test_bad_data_diagnoses_dependencies_then_retries() -> None:
    lab = make_lab()
    state = run(lab, fresh_state()).state
    lab.calls.clear()
    lab.now += timedelta(hours=25)
    lab.truth["q1", "drive_frequency_hz"] *= 1.1  # Rabi of q1 sees no signal now
    result = run(lab, state, graph=make_graph(lab))
    q1 = [c for c, q in lab.calls if q == "q1"]
    assert q1[:4] == ["spec_check", "spec", "rabi_check", "disc_check"]  # spec out of spec
    # with a second drift, rabi's check data is bad: diagnose walks back to spec
    lab.calls.clear()
    lab.now += timedelta(hours=25)
    lab.truth["q1", "drive_frequency_hz"] *= 1.1
    graph = make_graph(lab)
    state = result.state
    # spec looks fresh (timeout far away) so maintain reaches rabi, whose data is bad
    spec = graph.nodes["spec"]
    graph = Graph(
        [
            Node(**{**spec.__dict__, "timeout_s": 1e9}),
            *[n for k, n in graph.nodes.items() if k != "spec"],
        ]
    )
    result = run(lab, state, graph=graph)
    q1 = [c for c, q in lab.calls if q == "q1"]
    assert q1[:4] == ["rabi_check", "spec_check", "spec", "rabi"]
    rabi_check = next(s for s in result.executed if s.qubit == "q1" and s.node == "rabi")
    assert rabi_check.verdict == "bad_data"
    assert result.qubits["q1"].status == "ok"
    assert (
        result.state.qubit("q1").drive_frequency_hz.value == lab.truth["q1", "drive_frequency_hz"]
    )


def test_failing_qubit_does_not_stop_the_others() -> None:
    lab = make_lab()
    lab.fail.add(("disc", "q1"))
    lab.crash.add(("t1", "q0"))
    result = run(lab, fresh_state(), graph=make_graph(lab))
    assert result.qubits["q1"].status == "failed"
    assert (result.qubits["q1"].node, result.qubits["q1"].routine) == ("disc", "disc")
    assert "disc failed" in result.qubits["q1"].message
    assert result.qubits["q0"].status == "failed"
    assert result.qubits["q0"].node == "t1"
    assert "InstrumentError: digitizer timed out" in result.qubits["q0"].message
    assert ("t1", "q1") not in lab.calls and ("t2e", "q1") not in lab.calls
    assert ("t2e", "q0") not in lab.calls  # t1 came first in the walk and failed
    # q1's bad disc made the walk diagnose rabi (in spec) before giving up
    assert [c for c, q in lab.calls if q == "q1"] == ["spec", "rabi", "disc", "rabi_check"]
    assert set(result.failed) == {"q0", "q1"}


def test_interrupted_run_keeps_commits_and_rerun_resumes() -> None:
    lab = make_lab()
    lab.interrupt.add(("disc", "q1"))
    rec = Recorder()
    result = run(lab, fresh_state(), rec)
    assert result.interrupted
    assert lab.calls[-1] == ("disc", "q1")
    assert len(rec.versions) == 5  # spec, rabi ×2, disc q0
    assert result.qubits["q1"].status == "interrupted" and result.qubits["q1"].node == "disc"
    lab.calls.clear()
    resumed = run(lab, rec.versions[-1])
    assert lab.calls == [("disc", "q1"), ("t1", "q0"), ("t1", "q1"), ("t2e", "q0"), ("t2e", "q1")]
    assert not resumed.interrupted
    assert all(r.status == "ok" for r in resumed.qubits.values())


def test_should_stop_ends_between_routines() -> None:
    lab = make_lab()
    result = run(lab, fresh_state(), should_stop=lambda: len(lab.calls) >= 3)
    assert result.interrupted and len(lab.calls) == 3


def test_nightly_checks_leaves_first_and_recalibrates_only_what_drifted() -> None:
    lab = make_lab()
    state = run(lab, fresh_state()).state
    lab.calls.clear()
    lab.now += timedelta(days=2)
    nightly = run(lab, state, strategy="nightly")
    assert lab.calls == [(f"{n}_check", q) for n in ("t1", "t2e") for q in QUBITS]
    assert all(r.status == "ok" for r in nightly.qubits.values())
    lab.calls.clear()
    lab.truth["q0", "t1_s"] *= 0.7
    lab.truth["q1", "threshold"] *= 1.5  # disc drifted: t1 and t2e of q1 see bad data
    rec = Recorder()
    nightly = run(lab, state, rec, strategy="nightly")
    q0 = [c for c, q in lab.calls if q == "q0"]
    q1 = [c for c, q in lab.calls if q == "q1"]
    assert q0 == ["t1_check", "t1", "t2e_check"]
    # t1 of q1: bad data → diagnose disc: out of spec → recalibrate it, then t1; t2e's
    # check then passes on the new discriminator; rabi and spec are never touched
    assert q1 == ["t1_check", "disc_check", "disc", "t1", "t2e_check"]
    assert len(rec.versions) == 3


def test_routine_without_cheap_check_falls_back_to_calibrate() -> None:
    lab = make_lab()
    state = run(lab, fresh_state()).state
    lab.calls.clear()
    lab.now += timedelta(hours=25)
    rec = Recorder()
    run(lab, state, rec, graph=make_graph(lab, checks=False))
    assert lab.calls == [(n, q) for n in ("spec", "rabi", "disc", "t1", "t2e") for q in QUBITS]
    assert rec.versions == []  # all in spec: nothing committed


def test_node_that_does_not_apply_to_a_qubit_is_skipped_with_its_reason() -> None:
    """``Node.skip``: q1 never runs ``t1`` (its dependents still run), the step says why,
    and a rerun finds everything fresh."""
    lab = make_lab()
    nodes = {n.name: n for n in make_graph(lab).nodes.values()}
    nodes["t1"] = replace(nodes["t1"], skip={"q1": "q1 has no such line"})
    graph = Graph(nodes.values())
    result = run(lab, fresh_state(), graph=graph)
    assert all(r.status == "ok" for r in result.qubits.values())
    assert ("t1", "q1") not in lab.calls and ("t1_check", "q1") not in lab.calls
    assert ("t1", "q0") in lab.calls and ("t2e", "q1") in lab.calls
    (step,) = [s for s in result.steps if (s.qubit, s.node) == ("q1", "t1")]
    assert step.action == "check_state" and step.message == "not applicable: q1 has no such line"
    assert result.state.qubit("q1").t1_s is None
    lab.calls.clear()
    again = run(lab, result.state, graph=graph)
    assert lab.calls == [] and not again.executed


def test_a_value_just_set_upstream_is_measured_again_and_committed() -> None:
    """``fine`` sets the same parameter as its dependency ``spec`` (a narrow spectroscopy
    after a wide search): right after ``spec`` it is not fresh; it calibrates (a check would
    leave the coarser value stored, and every rerun would check again), its more precise
    value is committed, and a rerun finds both nodes fresh."""
    lab = make_lab()
    nodes = [
        Node(
            "spec",
            FakeRoutine("spec", "drive_frequency_hz", (), lab),
            parameters=("drive_frequency_hz",),
        ),
        Node(
            "fine",
            FakeRoutine("fine", "drive_frequency_hz", (), lab),
            depends_on=("spec",),
            parameters=("drive_frequency_hz",),
            check=FakeRoutine("fine_check", "drive_frequency_hz", (), lab),
            spec={"drive_frequency_hz": 1e-6},
        ),
    ]
    result = run(lab, fresh_state(), graph=Graph(nodes))
    assert lab.calls == [("spec", "q0"), ("spec", "q1"), ("fine", "q0"), ("fine", "q1")]
    (step,) = [
        s for s in result.steps if (s.qubit, s.node, s.action) == ("q0", "fine", "check_state")
    ]
    assert step.message == "drive_frequency_hz last set upstream (spec), not checked here"
    assert "-fine-q0-" in (result.state.qubit("q0").drive_frequency_hz.run_id or "")
    fresh, why = check_state(Graph(nodes), "spec", result.state.qubit("q0"), "q0", lab.now)
    assert fresh, why
    lab.calls.clear()
    again = run(lab, result.state, graph=Graph(nodes))
    assert lab.calls == [] and not again.executed


def test_graph_validation() -> None:
    lab = make_lab()
    r = FakeRoutine("a", "t1_s", (), lab)
    with pytest.raises(ConfigError, match="unknown node"):
        Graph([Node("a", r, depends_on=("b",))])
    with pytest.raises(ConfigError, match="cycle"):
        Graph(
            [Node("a", r, depends_on=("b",)), Node("b", FakeRoutine("b", "t1_s", (), lab), ("a",))]
        )
    with pytest.raises(ConfigError, match="routine name"):
        Graph([Node("a", r), Node("b", r)])
    g = make_graph(lab)
    assert g.leaves == ("t1", "t2e")
    assert g.level == {"spec": 0, "rabi": 1, "disc": 2, "t1": 3, "t2e": 3}
    with pytest.raises(ConfigError, match="unknown target"):
        run(lab, fresh_state(), targets=["nope"])


def test_qneko_calibrate_runs_graph_interrupts_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``qneko calibrate`` with the real routines on a 1-qubit random chip, up to
    discrimination: Ctrl-C in discrimination exits 130 keeping Rabi's commit; the rerun
    calibrates only what is missing; a third run finds everything fresh."""
    from typer.testing import CliRunner

    import qneko_hw.calibrations.runner as cals
    from qneko_hw.cli.main import app
    from qneko_hw.store import Store

    cli = CliRunner()
    chip, out = tmp_path / "chip.yaml", tmp_path / "o"
    assert (
        cli.invoke(
            app, ["chip", "new", "--qubits", "1", "--seed", "8", "--out", str(chip)]
        ).exit_code
        == 0
    )
    args = ["calibrate", "--chip", str(chip), "--out", str(out), "--shots", "300"]
    args += ["--target", "discrimination"]
    real = cals.run_routine

    def ctrl_c_in_discrimination(routine: Any, *a: Any, **kw: Any) -> Any:
        if routine.name == "discrimination":
            raise KeyboardInterrupt
        return real(routine, *a, **kw)

    monkeypatch.setattr(cals, "run_routine", ctrl_c_in_discrimination)
    res = cli.invoke(app, args)
    assert res.exit_code == 130, res.output
    assert "interrupted" in res.output and "q0 rabi: calibrate (rabi) ok" in res.output
    with Store(out / "calibration.db") as s:
        stopped_at = s.current_version()
        assert s.history()[0].author == "readout_power"  # the node before discrimination
    monkeypatch.setattr(cals, "run_routine", real)

    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "1 calibrations" in res.output  # discrimination only: the rest is fresh in the store
    with Store(out / "calibration.db") as s:
        assert s.current_version() == (stopped_at or 0) + 1
        cal = s.current()
        assert cal is not None and cal.qubits["q0"].assignment_fidelity is not None
        assert cal.qubits["q0"].assignment_fidelity.value > 0.8
    assert (out / "report.html").exists() and list((out / "runs").glob("*discrimination*.h5"))

    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "0 calibrations, 0 data checks" in res.output
