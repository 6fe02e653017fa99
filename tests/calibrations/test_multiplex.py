"""Several qubits at once: merged experiments and circuits, the multiplexed runner on the
simulated lab against truth, and the scheduler serving qubits in groups."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from conftest import Bench, best_assignment_fidelity, true_pi_amplitude
from test_graph import Recorder, fresh_state, make_graph, make_lab, runner

from qneko_hw.calibrations import AmplitudeRabi, Discrimination, Ramsey
from qneko_hw.calibrations.analyze import reanalyze
from qneko_hw.calibrations.multiplex import merge_plans, split_shots
from qneko_hw.calibrations.routine import Circuits, Program, Programs
from qneko_hw.calibrations.runner import (
    RoutineOutcome,
    multiplexable,
    run_routine,
    run_routine_multiplexed,
)
from qneko_hw.calibrations.scheduler import run_graph
from qneko_hw.compiler import compile_experiment
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.errors import CompilationError, ConfigError
from qneko_hw.executor import execute
from qneko_hw.experiment import Barrier, Delay, Experiment, Measure, Play, ShiftPhase, Sweep
from qneko_hw.pulses import Gaussian
from qneko_hw.report import Invocation, ReportEntry, render_invocation
from qneko_hw.runfile import read_run
from qneko_hw.simulated_instruments.lab import SimulatedLab

QS = ["q0", "q1"]


def _exp(q: str, delays: tuple[float, ...], shots: int = 100) -> Experiment:
    pulse = Gaussian(amplitude_v=0.1, duration_s=40e-9, sigma_s=10e-9)
    return Experiment(
        name=f"t_{q}",
        instructions=(
            Play(channel=f"{q}.drive", pulse=pulse),
            Delay(channel=f"{q}.drive", duration_s=0.0),
            Measure(qubit=q, name="m"),
            ShiftPhase(channel=f"{q}.drive", phase_rad=0.1),
            Measure(qubit=q, name="again"),
        ),
        sweep=Sweep(parameter="duration_s", instruction=1, values=delays),
        shots=shots,
    )


def _programs(*experiments: Experiment) -> Programs:
    return Programs(tuple(Program(e) for e in experiments))


def test_merged_experiment_lays_qubits_side_by_side_and_measures_them_together() -> None:
    state = fresh_state()
    plans = {"q0": _programs(_exp("q0", (0.0, 1e-6))), "q1": _programs(_exp("q1", (0.0, 2e-6)))}
    merged = merge_plans(plans, state)
    assert merged is not None and isinstance(merged.measurement, Programs)
    (item,) = merged.measurement.items
    exp = item.experiment
    kinds = [i.kind for i in exp.instructions]
    # segment 1: both bodies, barrier, both measurements; segment 2 likewise
    segment_1 = ["play", "delay", "play", "delay", "barrier", "measure", "measure"]
    segment_2 = ["shift_phase", "shift_phase", "barrier", "measure", "measure"]
    assert kinds == [*segment_1, *segment_2]
    assert isinstance(exp.instructions[4], Barrier) and exp.instructions[4].channels == ()
    assert exp.scheduling == "alap"
    names = [i.name for i in exp.instructions if isinstance(i, Measure)]
    assert names == ["q0:m", "q1:m", "q0:again", "q1:again"]
    # each qubit's sweep still targets its own delay, stepped together
    sweeps = exp.all_sweeps
    assert [s.instruction for s in sweeps] == [1, 3]
    assert [s.values for s in sweeps] == [(0.0, 1e-6), (0.0, 2e-6)]
    assert merged.rename["q1"] == {"q1:m": "m", "q1:again": "again"}
    fake = {n: np.full((2, 3), k, np.complex64) for k, n in enumerate(names)}
    share = split_shots(merged, fake)["q1"]
    assert set(share) == {"m", "again"} and share["again"][0, 0] == 3


def test_plans_that_do_not_merge_are_refused() -> None:
    state = fresh_state()
    one = _programs(_exp("q0", (0.0,)))
    assert merge_plans({"q0": one}, state) is None  # one qubit
    other_shots = {"q0": one, "q1": _programs(_exp("q1", (0.0,), shots=7))}
    assert merge_plans(other_shots, state) is None
    other_steps = {"q0": one, "q1": _programs(_exp("q1", (0.0, 1e-6)))}
    assert merge_plans(other_steps, state) is None
    two_programs = {"q0": one, "q1": _programs(*[_exp("q1", (0.0,))] * 2)}
    assert merge_plans(two_programs, state) is None
    mixed = {"q0": one, "q1": Circuits((), shots=100, repetition_time_s=200e-6)}
    assert merge_plans(mixed, state) is None


def test_parallel_sweeps_must_match_the_sweep() -> None:
    with pytest.raises(ValueError, match="parallel_sweeps\\[0\\] has 1 values"):
        Experiment(
            name="x",
            instructions=(Measure(qubit="q0", name="m"),),
            sweep=Sweep(parameter="frequency_hz", channel="q0.drive", values=(1.0, 2.0)),
            parallel_sweeps=(Sweep(parameter="frequency_hz", channel="q1.drive", values=(1.0,)),),
        )


def test_merged_circuits_keep_each_qubits_clbits() -> None:
    from qiskit import QuantumCircuit

    def circ(n_x: int) -> QuantumCircuit:
        qc = QuantumCircuit(1, 1)
        for _ in range(n_x):
            qc.x(0)
        qc.measure(0, 0)
        return qc

    state = fresh_state()
    merged = merge_plans(
        {
            "q0": Circuits((circ(1), circ(2)), shots=100, repetition_time_s=200e-6),
            "q1": Circuits((circ(3), circ(0)), shots=100, repetition_time_s=200e-6),
        },
        state,
    )
    assert merged is not None and isinstance(merged.measurement, Circuits)
    first = merged.measurement.circuits[0]
    ops = [(ci.operation.name, first.find_bit(ci.qubits[0]).index) for ci in first.data]
    bodies = [("x", 0), ("x", 1), ("x", 1), ("x", 1)]
    assert ops == [*bodies, ("barrier", 0), ("measure", 0), ("measure", 1)]
    assert merged.rename == {"q0": {"c0": "c0"}, "q1": {"c1": "c0"}}


def _pi_state(bench: Bench) -> CalibrationState:
    state = bench.truth_state()
    for q in QS:  # start Rabi 8 % off the truth
        cal = state.qubit(q)
        state = state.with_qubit(q, pi_amplitude_v=CalValue.design(cal.pi_amplitude_v.value * 1.08))
    return state


def test_multiplexed_rabi_finds_each_pi_amplitude(bench: Bench) -> None:
    """Both qubits driven at once and read out on the shared feedline; the π amplitudes
    meet the issue's 0.5 % and one program ran for both (same digest, both run files say
    with whom)."""
    state = _pi_state(bench)
    got = run_routine_multiplexed(
        AmplitudeRabi(), QS, state, bench.lab.station, bench.instruments, out_dir=bench.out_dir
    )
    digests = set()
    for q in QS:
        outcome = got[q]
        assert isinstance(outcome, RoutineOutcome), outcome
        assert outcome.error is None, outcome.results.message
        truth = true_pi_amplitude(bench.truth, bench.station, q, state.qubit(q))
        found = outcome.state.qubit(q).pi_amplitude_v.value
        assert found == pytest.approx(truth, rel=0.005), (q, found, truth)
        other = "q1" if q == "q0" else "q0"
        with h5py.File(outcome.run_file) as f:
            assert f.attrs["multiplexed_with"] == other
            digests.add(f.attrs["program_sha256"])
        assert reanalyze(outcome.run_file).same
        run = read_run(outcome.run_file, signals=False)
        entry = ReportEntry.from_run(run)  # the report says so too
        assert entry.multiplexed_with == (other,)
        assert run.sheet is not None and {"drive:q0", "drive:q1"} <= {
            line.name for line in run.sheet.lines
        }  # the pulse sheet shows both qubits' drives
        page = render_invocation(
            Invocation(id="x", kind="calibrate", started="now", runs=(run.run_id,)),
            [entry],
            state=outcome.state,
            before=state,
            station=bench.lab.station,
        )
        assert f"measured together with {other}" in page
    assert len(digests) == 1


def test_iq_angle_does_not_depend_on_who_else_is_measured(bench: Bench) -> None:
    """The discriminator a qubit gets alone is the one it gets multiplexed (the digitizer
    demodulates from the trigger, and the readout LO does not follow the measured qubit)."""
    state = bench.truth_state()
    alone = {q: bench.run(Discrimination(shots=2000), q, state) for q in QS}
    together = run_routine_multiplexed(
        Discrimination(shots=2000),
        QS,
        state,
        bench.lab.station,
        bench.instruments,
        out_dir=bench.out_dir,
    )
    for q in QS:
        mux = together[q]
        assert isinstance(mux, RoutineOutcome) and mux.error is None
        a = alone[q].state.qubit(q).iq_angle_rad
        b = mux.state.qubit(q).iq_angle_rad
        assert a is not None and b is not None
        assert np.angle(np.exp(1j * (a.value - b.value))) == pytest.approx(0.0, abs=0.1)
        best, _ = best_assignment_fidelity(bench.truth, bench.station, state, q)
        assert mux.results.values["assignment_fidelity"] == pytest.approx(best, abs=0.01)


def test_iq_angle_does_not_depend_on_when_the_readout_starts(bench: Bench) -> None:
    """Regression: the simulated digitizer demodulated from the readout's first sample, so
    the IQ point of the same state turned with the readout's start time."""
    state = bench.truth_state()
    means = []
    for wait in (0.0, 13e-9, 1.037e-6):
        exp = Experiment(
            name="wait_then_measure",
            instructions=(
                Delay(channel="q0.readout", duration_s=wait),
                Measure(qubit="q0", name="m"),
            ),
            shots=2000,
        )
        prog = compile_experiment(exp, bench.lab.station, state)
        means.append(complex(execute(prog, bench.instruments).shots["m"].mean()))
    for m in means[1:]:
        assert abs(np.angle(m / means[0])) < 0.05, means


def test_multiplexed_ramsey_with_different_delay_grids(bench: Bench) -> None:
    """Each qubit's own delays (different spans) run in one program: the fringe frequency
    of each is its own detuning (drive frequency within 50 kHz of truth)."""
    state = bench.truth_state()
    for q in QS:
        state = bench.run(Discrimination(shots=2000), q, state).state
    for q, t2, off in (("q0", 8e-6, 80e3), ("q1", 15e-6, -60e3)):
        cal = state.qubit(q)
        state = state.with_qubit(
            q,
            t2_s=CalValue.design(t2),
            drive_frequency_hz=CalValue.design(cal.drive_frequency_hz.value + off),
        )
    got = run_routine_multiplexed(
        Ramsey(), QS, state, bench.lab.station, bench.instruments, out_dir=bench.out_dir
    )
    for q in QS:
        outcome = got[q]
        assert isinstance(outcome, RoutineOutcome), outcome
        assert outcome.error is None, outcome.results.message
        found = outcome.state.qubit(q).drive_frequency_hz.value
        assert found == pytest.approx(bench.truth.qubits[q].frequency_hz, abs=50e3), q


def test_routines_that_opt_out_are_not_multiplexable() -> None:
    from qneko_hw.calibrations.flux_sweep import FluxSweep
    from qneko_hw.calibrations.resonator_spectroscopy_vna import ResonatorSpectroscopyVna

    assert not multiplexable(ResonatorSpectroscopyVna())  # the VNA measures by itself
    assert not multiplexable(FluxSweep())  # one bias state per program
    assert multiplexable(AmplitudeRabi())


def _fake_group_runner(groups: list[tuple[str, tuple[str, ...]]]) -> Any:
    """A group runner over the fake lab's routines; records every group it ran."""

    def group_runner(
        routine: Any, qubits: Any, state: CalibrationState, progress: Any
    ) -> dict[str, RoutineOutcome | Exception]:
        groups.append((routine.name, tuple(qubits)))
        out: dict[str, RoutineOutcome | Exception] = {}
        for q in qubits:
            try:
                out[q] = routine.run(q, state)  # every qubit from the same state
            except Exception as exc:
                out[q] = exc
        return out

    return group_runner


def test_scheduler_serves_waiting_qubits_together_and_keeps_every_commit() -> None:
    """With a group runner the two qubits run each node in one call; each qubit's commit is
    rebased on the state the other's commit made, so nothing is lost."""
    lab, rec = make_lab(), Recorder()
    groups: list[tuple[str, tuple[str, ...]]] = []
    group_runner = _fake_group_runner(groups)

    lab.crash.add(("t1", "q1"))
    result = run_graph(
        make_graph(lab),
        ("q0", "q1"),
        fresh_state(),
        runner,
        commit=rec.commit,
        now=lab.clock,
        group_runner=group_runner,
    )
    assert groups[:3] == [(n, ("q0", "q1")) for n in ("spec", "rabi", "disc")]
    assert result.qubits["q0"].status == "ok" and result.qubits["q1"].status == "failed"
    final = result.state
    for q in ("q0", "q1"):
        assert final.qubit(q).pi_amplitude_v.value == lab.truth[q, "pi_amplitude_v"]
        assert final.qubit(q).threshold.value == lab.truth[q, "threshold"]  # type: ignore[union-attr]
    assert final.qubit("q0").t1_s is not None and final.qubit("q1").t1_s is None


def test_single_and_multiplexed_runs_share_the_run_file_layout(bench: Bench) -> None:
    state = _pi_state(bench)
    alone = run_routine(
        AmplitudeRabi(points=11),
        "q0",
        state,
        bench.lab.station,
        bench.instruments,
        out_dir=bench.out_dir,
    )
    mux = run_routine_multiplexed(
        AmplitudeRabi(points=11),
        QS,
        state,
        bench.lab.station,
        bench.instruments,
        out_dir=bench.out_dir,
    )["q0"]
    assert isinstance(mux, RoutineOutcome)
    with h5py.File(alone.run_file) as a, h5py.File(mux.run_file) as b:
        assert sorted(a.keys()) == sorted(b.keys())
        for key in a:
            if isinstance(a[key], h5py.Dataset):
                assert a[key].shape == b[key].shape, key


def test_builds_whose_merged_program_does_not_compile_run_one_after_the_other(
    tmp_path: Path,
) -> None:
    """Two qubits' drives on one LO at two frequencies: each alone compiles, merged they
    do not (the LO cannot be at both); the runner falls back to one qubit at a time."""
    chip = random_chip(2, 11)
    base = default_station({"f0": ["q0", "q1"]}, seed=11)
    shared = base.model_copy(
        update={"drive": {**base.drive, "q1": base.drive["q1"].model_copy(update={"lo": "lo_q0"})}}
    )
    state = design_state(chip, shared)
    rabi = AmplitudeRabi(points=11, shots=200)
    merged = merge_plans({q: rabi.plan(q, state, shared).measurement for q in QS}, state)
    assert merged is not None and isinstance(merged.measurement, Programs)
    with pytest.raises(CompilationError, match="lo_q0 is shared"):
        compile_experiment(merged.measurement.items[0].experiment, shared, state)
    with SimulatedLab(chip, shared) as lab, connect(lab.station) as inst:
        got = run_routine_multiplexed(rabi, QS, state, lab.station, inst, out_dir=tmp_path)
    for q in QS:
        outcome = got[q]
        assert isinstance(outcome, RoutineOutcome), outcome
        with h5py.File(outcome.run_file) as f:
            assert f.attrs["multiplexed_with"] == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_lab_workers_survive_ctrl_c_and_are_replaced_when_lost(
    workers_bench: Bench, sig: signal.Signals
) -> None:
    """Ctrl-C reaches the whole process group: the lab's solver processes ignore it (the
    run stops after the current routine, which still needs them). A worker that dies
    anyway leaves the lab solving in-process, and the routine still succeeds."""
    bench = workers_bench
    workers = multiprocessing.active_children()
    assert len(workers) == 2, "the lab starts the solver processes asked for"
    for proc in workers:
        os.kill(proc.pid, sig)
    time.sleep(0.3)
    got = run_routine_multiplexed(
        AmplitudeRabi(points=15),
        QS,
        _pi_state(bench),
        bench.lab.station,
        bench.instruments,
        out_dir=bench.out_dir,
    )
    for q in QS:
        outcome = got[q]
        assert isinstance(outcome, RoutineOutcome), outcome
        assert outcome.error is None, outcome.results.message
        assert outcome.results.verdict == "good", outcome.results.message
    alive = [p for p in workers if p.is_alive()]
    assert (alive == workers) if sig == signal.SIGINT else not alive


def test_solver_processes_do_not_change_a_seeded_run(tmp_path: Path) -> None:
    """The same seeded multiplexed program gives the same shots whether the lab solves the
    qubits in worker processes or in-process (``workers=0``); bad ``workers`` is an error."""
    chip = random_chip(2, 11)
    station = default_station({"f0": ["q0", "q1"]}, seed=11)
    state = design_state(chip, station)
    shots = []
    for workers in (2, 0):
        with SimulatedLab(chip, station, workers=workers) as lab, connect(lab.station) as inst:
            assert len(multiprocessing.active_children()) == workers
            got = run_routine_multiplexed(
                AmplitudeRabi(points=11, shots=200),
                QS,
                state,
                lab.station,
                inst,
                out_dir=tmp_path,
            )
        per_qubit = {}
        for q, outcome in got.items():
            assert isinstance(outcome, RoutineOutcome), outcome
            with h5py.File(outcome.run_file) as f:
                per_qubit[q] = f[q][()]
        shots.append(per_qubit)
    for q in QS:
        assert np.array_equal(shots[0][q], shots[1][q])
    with pytest.raises(ConfigError, match="workers"):
        SimulatedLab(chip, station, workers=-1)


def test_nightly_in_groups_takes_each_qubits_own_path() -> None:
    """The nightly drift scenario of the graph tests, with a group runner: qubits are
    checked together while their walks agree and each still takes its own path (q0
    recalibrates T1, q1 its discriminator first); the same three versions are committed."""
    lab = make_lab()
    state = run_graph(make_graph(lab), ("q0", "q1"), fresh_state(), runner, now=lab.clock).state
    lab.now += timedelta(days=2)
    lab.truth["q0", "t1_s"] *= 0.7
    lab.truth["q1", "threshold"] *= 1.5
    lab.calls.clear()
    rec, groups = Recorder(), []
    result = run_graph(
        make_graph(lab),
        ("q0", "q1"),
        state,
        runner,
        strategy="nightly",
        commit=rec.commit,
        now=lab.clock,
        group_runner=_fake_group_runner(groups),
    )
    assert all(r.status == "ok" for r in result.qubits.values())
    assert groups[0] == ("t1_check", ("q0", "q1"))  # both checked in one program
    assert [c for c, q in lab.calls if q == "q0"] == ["t1_check", "t1", "t2e_check"]
    assert [c for c, q in lab.calls if q == "q1"] == [
        "t1_check",
        "disc_check",
        "disc",
        "t1",
        "t2e_check",
    ]
    assert len(rec.versions) == 3
    final = result.state
    assert final.qubit("q0").t1_s.value == lab.truth["q0", "t1_s"]  # type: ignore[union-attr]
    assert final.qubit("q1").threshold.value == lab.truth["q1", "threshold"]  # type: ignore[union-attr]
