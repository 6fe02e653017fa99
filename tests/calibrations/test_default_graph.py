"""The default graph: its nodes, where the station-dependent ones apply, the nodes that
wrap routines for the graph, and T1/T2 echo with the graph's settings on random chips.

Truth (the chips' parameters) is used here to set prerequisites and check answers only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import pytest
from conftest import CHIPS, nearby_device, truth_state
from test_flux_sweep import biased_station, tunable_chip
from test_resonator_spectroscopy_vna import moved, with_vna

from qneko_hw.analysis import Results
from qneko_hw.calibrations import Discrimination, run_routine
from qneko_hw.calibrations.analyze import reanalyze
from qneko_hw.calibrations.default_graph import ENTRIES, default_graph
from qneko_hw.calibrations.flux_sweep import FluxSweep
from qneko_hw.calibrations.graph import check_state
from qneko_hw.calibrations.punch_out import PunchOut
from qneko_hw.calibrations.resonator_spectroscopy_vna import ResonatorSpectroscopyVna
from qneko_hw.calibrations.routine import Routine, apply_changes, planned_changes
from qneko_hw.calibrations.runner import RoutineOutcome, run_routine_multiplexed
from qneko_hw.calibrations.scheduler import run_graph
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.runfile import read_run
from qneko_hw.simulated_instruments.lab import SimulatedLab

CHAIN = (
    "resonator_spectroscopy",
    "qubit_search",
    "qubit_spectroscopy",
    "rabi",
    "readout_power",
    "discrimination",
    "anharmonicity",
    "ramsey",
    "drag",
    "amplitude",
    "t1",
    "t2_echo",
    "t2_star",
    "rb",
)


def _two_qubit_station(*, vna: bool = False, bias_q0: bool = False) -> Station:
    station = default_station({"f0": ["q0", "q1"]})
    if vna:
        station = with_vna(station)
    if bias_q0:
        biased = biased_station()
        station = station.model_copy(
            update={
                "instruments": {**station.instruments, "dc": biased.instruments["dc"]},
                "bias": dict(biased.bias),
            }
        )
    return station


def _tunable_q0(chip: Chip) -> Chip:
    flux = tunable_chip().qubits["q0"].flux
    assert flux is not None
    q0 = chip.qubits["q0"]
    fx = flux.model_copy(update={"max_frequency_hz": q0.frequency_hz + 15e6})
    return chip.replace(
        qubits={**chip.model_dump()["qubits"], "q0": {**q0.model_dump(), "flux": fx.model_dump()}}
    )


def test_without_station_the_hardware_nodes_are_left_out_with_reasons() -> None:
    graph = default_graph()
    assert graph.order == CHAIN
    assert graph.nodes["qubit_search"].depends_on == ("resonator_spectroscopy",)
    assert graph.nodes["qubit_spectroscopy"].depends_on == ("qubit_search",)
    assert graph.nodes["rb"].depends_on == ("t2_star",)  # its lengths come from T1 and T2*
    assert graph.nodes["t2_star"].depends_on == ("t1",)  # its span comes from T1
    assert graph.nodes["discrimination"].depends_on == ("readout_power",)
    # the nightly run checks these first; only readout power and RB commit a poor fit
    assert graph.watched == (
        "resonator_spectroscopy",
        "discrimination",
        "ramsey",
        "amplitude",
        "t1",
    )
    assert {n for n, node in graph.nodes.items() if node.allow_poor} == {"readout_power", "rb"}
    assert graph.nodes["rabi"].depends_on == ("qubit_spectroscopy",)
    assert "station=" in graph.left_out["resonator_spectroscopy_vna"]
    assert "station=" in graph.left_out["flux_sweep"]
    assert "opt-in" in graph.left_out["punch_out"]
    assert "opt-in" in graph.left_out["reset_check"]
    assert set(graph.left_out) | set(graph.nodes) == {e.node for e in ENTRIES}


def test_opt_in_nodes_take_their_place() -> None:
    graph = default_graph(punch_out=True, reset_check=True)
    assert graph.nodes["punch_out"].depends_on == ("resonator_spectroscopy",)
    assert graph.nodes["qubit_search"].depends_on == ("punch_out",)
    assert graph.nodes["reset_check"].depends_on == ("t1",)
    assert isinstance(graph.nodes["punch_out"].routine, PunchOut)
    assert graph.left_out == {
        "resonator_spectroscopy_vna": graph.left_out["resonator_spectroscopy_vna"],
        "flux_sweep": graph.left_out["flux_sweep"],
    }


def test_station_places_vna_and_flux_nodes_and_skips_the_qubits_they_miss() -> None:
    station = _two_qubit_station(vna=True, bias_q0=True)
    chip = _tunable_q0(random_chip(2, 5))
    graph = default_graph(station=station, chip=chip)
    assert graph.order[:4] == (
        "resonator_spectroscopy_vna",
        "resonator_spectroscopy",
        "qubit_search",
        "qubit_spectroscopy",
    )
    assert graph.nodes["resonator_spectroscopy"].depends_on == ("resonator_spectroscopy_vna",)
    assert graph.nodes["flux_sweep"].depends_on == ("qubit_spectroscopy",)
    assert graph.nodes["rabi"].depends_on == ("flux_sweep",)
    node = graph.nodes["resonator_spectroscopy_vna"]
    assert isinstance(node.routine, ResonatorSpectroscopyVna)
    assert node.skip == {}
    flux = graph.nodes["flux_sweep"]
    assert isinstance(flux.routine, FluxSweep) and flux.routine.skip_unwired
    assert flux.skip == {"q1": "q1 has no bias line in the station"}
    # check_state: a skipped qubit is fresh, with the reason; the other is not
    cal = design_state(chip, station)
    now = datetime.now(UTC)
    fresh, why = check_state(graph, "flux_sweep", cal.qubit("q1"), "q1", now)
    assert fresh and why == "not applicable: q1 has no bias line in the station"
    assert check_state(graph, "flux_sweep", cal.qubit("q0"), "q0", now) == (False, "never measured")
    # a fixed-frequency chip design has no flux node
    fixed = random_chip(2, 5)
    graph = default_graph(station=station, chip=fixed)
    assert "resonator_spectroscopy_vna" in graph.nodes
    assert "fixed-frequency" in graph.left_out["flux_sweep"]
    graph = default_graph(station=_two_qubit_station(), chip=chip)
    assert graph.left_out["resonator_spectroscopy_vna"] == "no VNA in the station"
    assert (
        graph.left_out["flux_sweep"]
        == "q0 has no bias line in the station; q1 has no bias line in the station"
    )
    assert graph.order == CHAIN


# --- the routines in the simulated lab ------------------------------------------------


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path


def _run(
    routine: Routine[Any],
    qubit: str,
    state: CalibrationState,
    lab: SimulatedLab,
    inst: Any,
    out: Path,
) -> RoutineOutcome:
    outcome = run_routine(routine, qubit, state, lab.station, inst, out_dir=out)
    assert reanalyze(outcome.run_file).same  # the file alone gives the same results
    return outcome


def test_routines_skip_qubits_they_do_not_apply_to(out: Path) -> None:
    """Graphs built by hand: the routine itself measures nothing and says why."""
    chip = random_chip(2, 5)
    station = _two_qubit_station()
    state = design_state(chip, station)
    with SimulatedLab(chip, station) as lab, connect(lab.station) as inst:
        for routine, why in [
            (FluxSweep(skip_unwired=True), "no bias line"),
            (ResonatorSpectroscopyVna(), "no VNA in the station"),
        ]:
            outcome = _run(routine, "q1", state, lab, inst, out)
            fit = outcome.results
            assert outcome.error is None and fit.verdict == "good", fit.message
            assert not fit.applicable and why in fit.message, fit.message
            assert fit.message.startswith("not applicable: ")
            assert outcome.state == state
            run = read_run(outcome.run_file)
            assert run.shots == {} and run.signals == {}  # nothing was measured
            assert why in run.not_applicable


def test_vna_node_in_the_graph_finds_the_moved_resonator(out: Path) -> None:
    seed, fab = CHIPS[0]
    design = random_chip(2, seed)
    truth = moved(nearby_device(design, fab), "r0", 1.3e6)
    station = with_vna(default_station({"f0": ["q0", "q1"]}, seed=seed))
    with SimulatedLab(truth, station) as lab, connect(lab.station) as inst:
        graph = default_graph(station=station, chip=design)

        def runner(
            routine: Routine[Any], q: str, st: CalibrationState, progress: Any
        ) -> RoutineOutcome:
            return _run(routine, q, st, lab, inst, out)

        result = run_graph(
            graph,
            ["q0"],
            design_state(design, station),
            runner,
            targets=["resonator_spectroscopy_vna"],
        )
    assert result.qubits["q0"].status == "ok"
    (step,) = result.executed
    assert step.node == "resonator_spectroscopy_vna" and step.outcome is not None
    assert step.outcome.results.verdict == "good", step.outcome.results.message
    assert read_run(step.outcome.run_file).signals["s21"].values.size == 401
    r = truth.resonators["r0"]
    rf = result.state.qubit("q0").readout_frequency_hz
    assert rf.value == pytest.approx(r.frequency_hz, abs=r.kappa_hz / 10)
    assert rf.run_id == step.outcome.run_id


@pytest.fixture
def flux_lab() -> Iterator[tuple[Chip, Station, SimulatedLab, Any]]:
    from qcodes.instrument import Instrument

    chip, station = tunable_chip(), biased_station()
    try:
        with SimulatedLab(chip, station) as lab, connect(lab.station) as inst:
            yield chip, station, lab, inst
    finally:
        Instrument.close_all()


def test_flux_node_finds_the_sweet_spot_from_its_own_voltages(
    flux_lab: tuple[Chip, Station, SimulatedLab, Any], out: Path
) -> None:
    """The graph's flux sweep (no voltages given: ±50 mV around 0 V) on the chip of
    ``test_flux_sweep``, sweet spot at −33 mV, 15 MHz above the start."""
    chip, station, lab, inst = flux_lab
    routine = default_graph(station=station, chip=chip).nodes["flux_sweep"].routine
    outcome = _run(routine, "q0", design_state(chip, station), lab, inst, out)
    assert outcome.error is None and outcome.results.verdict == "good", outcome.results.message
    q = chip.qubits["q0"]
    assert q.flux is not None
    cal = outcome.state.qubit("q0")
    assert cal.bias_voltage_v is not None
    assert cal.bias_voltage_v.value == pytest.approx(
        -q.flux.offset(q.frequency_hz, q.anharmonicity_hz), abs=2.5e-3
    )
    assert cal.drive_frequency_hz.value == pytest.approx(q.flux.max_frequency_hz, abs=1e6)


def test_flux_sweep_of_a_fixed_qubit_behind_a_bias_line_changes_nothing(out: Path) -> None:
    chip = tunable_chip()
    fixed = chip.replace(qubits={"q0": {**chip.qubits["q0"].model_dump(), "flux": None}})
    station = biased_station()
    state = design_state(fixed, station)
    with SimulatedLab(fixed, station) as lab, connect(lab.station) as inst:
        outcome = _run(FluxSweep(skip_unwired=True), "q0", state, lab, inst, out)
    fit = outcome.results
    assert outcome.error is None and fit.verdict == "good", fit.message
    assert fit.values["tunable"] == 0.0 and "does not move" in fit.message
    assert fit.values["mean_frequency_hz"] == pytest.approx(
        fixed.qubits["q0"].frequency_hz, abs=0.5e6
    )
    assert outcome.state == state


def test_punch_out_node_runs_every_amplitude_in_one_run(out: Path) -> None:
    seed, fab = CHIPS[1]
    design = random_chip(2, seed)
    truth = moved(nearby_device(design, fab), "r0", -2.1e6)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    routine = PunchOut(amplitudes_v=(0.05, 0.1), span_hz=10e6, points=31, shots=400)
    state = design_state(design, station)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as inst:
        outcome = _run(routine, "q0", state, lab, inst, out)
    fit = outcome.results
    assert outcome.error is None and fit.verdict == "good", fit.message
    r = truth.resonators["r0"]
    assert fit.values["low_power_amplitude_v"] == 0.05
    assert fit.values["resonator_frequency_hz"] == pytest.approx(r.frequency_hz, abs=50e3)
    cal = outcome.state.qubit("q0")
    assert cal.readout_frequency_hz.value == fit.values["resonator_frequency_hz"]
    assert len(list((out / "runs").glob("*punch_out*.h5"))) == 1


def _spec(f_hz: float) -> Results:
    return Results(
        routine="punch_out",
        qubit="q0",
        verdict="good",
        values={"resonator_frequency_hz": f_hz, "kappa_hz": 1e6},
        uncertainties={"resonator_frequency_hz": 5e3, "kappa_hz": 1e4},
    )


def test_punch_out_lowers_a_readout_amplitude_above_punch_out() -> None:
    """Through the update map and the one shared apply: the readout frequency at the
    low-power resonance, the readout amplitude lowered to the punch-out amplitude when
    above it, else kept and stamped as checked."""
    chip = random_chip(1, 5)
    state = design_state(chip, default_station({"f0": ["q0"]}))  # readout amplitude 0.1 V
    routine = PunchOut()
    fits = [_spec(7e9), _spec(7e9 + 1e4), _spec(7e9 + 9e5)]  # shifts above 0.07 V
    res = routine.conclude("q0", [0.05, 0.07, 0.2], fits, readout_amplitude_v=0.1)
    res = res.model_copy(update={"changes": planned_changes(routine.updates, res)})
    cal = apply_changes(res, state, "run-1").qubit("q0")
    assert cal.readout_amplitude_v.value == 0.07 and cal.readout_amplitude_v.run_id == "run-1"
    assert cal.readout_frequency_hz.value == 7e9
    res = routine.conclude("q0", [0.05, 0.2, 0.4], fits, readout_amplitude_v=0.1)
    res = res.model_copy(update={"changes": planned_changes(routine.updates, res)})
    checked = apply_changes(res, state, "run-2").qubit("q0").readout_amplitude_v
    assert res.values["punch_out_amplitude_v"] == 0.2
    assert checked.value == 0.1 and checked.run_id == "run-2"  # kept, stamped as checked


# --- T1 and T2 echo with the graph's settings -----------------------------------------


@pytest.mark.parametrize("chip", CHIPS, ids=[f"seed{c[0]}" for c in CHIPS])
def test_graph_t1_and_echo_within_ten_percent_on_uncapped_chips(
    chip: tuple[int, float, float], out: Path
) -> None:
    """The graph's T1 then T2-echo nodes, as a fresh tune-up runs them (no T1 stored, T2E
    from the measured T1; both qubits at once, multiplexed, as ``qneko calibrate`` does),
    on a random chip whose coherence is not capped (T1 and T2 up to 200 µs; seeds 11, 12:
    T1 30–186 µs, T2 23–108 µs)."""
    seed, fab = chip
    design = random_chip(2, seed)
    truth = nearby_device(design, fab)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    graph = default_graph()
    t1, echo = graph.nodes["t1"].routine, graph.nodes["t2_echo"].routine
    with SimulatedLab(truth, station) as lab, connect(lab.station) as inst:
        state = truth_state(truth, lab.station, design_state(design, station))
        for q in ("q0", "q1"):
            state = _run(Discrimination(shots=2000), q, state, lab, inst, out).state
        for routine in (t1, echo):
            got = run_routine_multiplexed(
                routine, ["q0", "q1"], state, lab.station, inst, out_dir=out
            )
            for q, outcome in got.items():
                assert isinstance(outcome, RoutineOutcome), outcome
                res = outcome.results
                assert outcome.error is None and res.verdict == "good", res.message
                with h5py.File(outcome.run_file) as f:  # one program for both qubits
                    assert f.attrs["multiplexed_with"] == ("q1" if q == "q0" else "q0")
                assert reanalyze(outcome.run_file).same
                qubits = {**state.qubits, q: outcome.state.qubit(q)}
                state = state.model_copy(update={"qubits": qubits})
    for q in ("q0", "q1"):
        cal, true = state.qubit(q), truth.qubits[q]
        assert cal.t1_s is not None and cal.t2_echo_s is not None
        assert cal.t1_s.value == pytest.approx(true.t1_s, rel=0.1), (q, cal.t1_s, true.t1_s)
        assert cal.t2_echo_s.value == pytest.approx(true.t2_s, rel=0.1), (
            q,
            cal.t2_echo_s,
            true.t2_s,
        )
