"""The default calibration graph of a fresh chip, and the nightly graph.

One line of :data:`ENTRIES` per node: the node name, the routine (an instance with its
default parameters), the nodes it comes after, the calibration parameters it sets, its
timeout, its ``check_data`` tolerances and the cheap check (parameter overrides of the
routine: fewer points, fewer shots; ``None``: no cheap check, ``check_data`` falls back
to calibrating)::

    VNA resonator spectroscopy → resonator spectroscopy → [punch-out] → qubit search
    → qubit spectroscopy → flux sweep → Rabi → readout power → discrimination → Ramsey
    → DRAG → fine amplitude → T1 → T2 echo
                                   discrimination → anharmonicity
                              T1 → T2* → RB
                              T1 → [reset check]

A ``poor`` result is committed only by the nodes that allow it: the readout power (a choice
on a grid, which the discrimination after it judges) and RB (a benchmark: its error per
Clifford is stored with its σ). The readout power node optimises the readout amplitude and
duration for assignment fidelity (it needs the π pulse of Rabi); the discrimination after
it stores the discriminator and the assignment fidelity. The anharmonicity node (e–f
spectroscopy after a π pulse, from the design's α) sits beside the Ramsey, after the
discrimination. DRAG comes before the fine amplitude: a π/2 pulse with a phase error biases
the error-amplified π/2 amplitude (by ~0.5 % at β = 0), so the amplitudes are refined with
the final β. The first Ramsey finds the frequency (its span
from a coarse guess of T2*); the T2* node after T1 measures T2* again with a span adapted to
the qubit (``span_factor`` × the T1 just measured, or × the T2* the first Ramsey resolved),
so a long-lived qubit gets its T2* too. RB comes after T2* (and so after DRAG, the gates it
benchmarks): it chooses its Clifford lengths from the stored T1 and T2*. It does not wait
for the T2 echo. A node left out hands its dependencies to the nodes after it.

The nightly run (``nightly_graph``, ``run_graph(strategy="nightly")``) checks the data of the
nodes marked ``nightly`` first: the resonator (readout frequency), the discriminator, the
Ramsey frequency, the fine amplitude and T1, each with its cheap check; what drifted beyond
its tolerance (:func:`~qneko_hw.calibrations.graph.tolerance`: the node's ``spec`` and four
standard deviations of the difference) is recalibrated, and then what depends on it.

Nodes that need station hardware (:attr:`Entry.requires`): the VNA spectroscopy needs a VNA,
the flux sweep a bias line (and, if the chip design is given, flux tuning). Built with
``station=`` the graph leaves out such a node when it applies to none of the qubits, and
otherwise marks the qubits it does not apply to
(:attr:`~qneko_hw.calibrations.graph.Node.skip`: ``check_state`` reports them fresh with the
reason ``not applicable: …``, nothing runs); ``Graph.left_out`` says why each node is
missing. Built without a station, the graph leaves these nodes out (it cannot know where
they apply). Their routines also skip on their own a qubit they do not apply to (nothing
measured, "not applicable" results, no change), for graphs built otherwise.

Two nodes are opt-in, for their cost (``default_graph(punch_out=True, reset_check=True)``):

- punch-out: one program per readout amplitude and frequency (hundreds with the routine's
  settings, ~50 ms each) would more than double a one-qubit tune-up. It sets the readout
  frequency to the low-power resonance and checks the readout amplitude (lowered to the
  punch-out amplitude when the one in use is above it).
- the reset check: its wait of 5·T1 (250–500 µs on the built-in chip) sits inside the
  readout, which the simulated lab integrates sample by sample (~10–20 ms of wall time per
  µs): 3–10 s per qubit, on every run (it stores nothing, so it is never fresh).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from qneko_hw.calibrations.active_reset import ResetCheck
from qneko_hw.calibrations.discrimination import Discrimination
from qneko_hw.calibrations.drag import DragBeta
from qneko_hw.calibrations.ef_spectroscopy import EfSpectroscopy
from qneko_hw.calibrations.fine_amplitude import FineAmplitude
from qneko_hw.calibrations.flux_sweep import FluxSweep
from qneko_hw.calibrations.graph import Graph, Node
from qneko_hw.calibrations.punch_out import PunchOut
from qneko_hw.calibrations.qubit_search import QubitSearch
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy
from qneko_hw.calibrations.rabi import AmplitudeRabi
from qneko_hw.calibrations.ramsey import Ramsey
from qneko_hw.calibrations.rb import RandomizedBenchmarking
from qneko_hw.calibrations.readout_optimization import ReadoutPower
from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.calibrations.resonator_spectroscopy_vna import (
    ResonatorSpectroscopyVna,
    station_vna,
)
from qneko_hw.calibrations.routine import Routine
from qneko_hw.calibrations.t1 import T1
from qneko_hw.calibrations.t2_echo import T2Echo
from qneko_hw.config.chip import Chip
from qneko_hw.config.station import Station

__all__ = [
    "ENTRIES",
    "Entry",
    "GraphOptions",
    "build_graph",
    "default_graph",
    "needs_bias_line",
    "needs_vna",
    "nightly_graph",
]

log = logging.getLogger(__name__)

HOUR_S = 3600.0

Options = Mapping[str, Any]
#: ``requires(station, chip, qubit)`` → why the node does not apply to ``qubit``, or
#: None when it does (``chip``: the design, if known).
Requirement = Callable[[Station, Chip | None, str], str | None]


def needs_vna(station: Station, chip: Chip | None, qubit: str) -> str | None:
    """The VNA spectroscopy needs a VNA in the station and a readout line."""
    if station.feedline_of(qubit) is None:
        return f"{qubit} has no readout line"
    if station_vna(station) is None:
        return "no VNA in the station"
    return None


def needs_bias_line(station: Station, chip: Chip | None, qubit: str) -> str | None:
    """The flux sweep needs a bias line and (per the chip design, if given) flux tuning."""
    if qubit not in station.bias:
        return f"{qubit} has no bias line in the station"
    if chip is not None and qubit in chip.qubits and chip.qubits[qubit].flux is None:
        return f"{qubit} is a fixed-frequency qubit (no flux tuning in the chip design)"
    return None


@dataclass(frozen=True)
class Entry:
    """One node of the default graph (see the module docstring).

    Attributes:
        node: node name. routine: the routine, with its parameters. after: the nodes it
        depends on. parameters: ``QubitCalibration`` fields it sets. timeout_h: freshness
        (hours). spec: relative tolerance per parameter for ``check_data``. check:
        parameter overrides of the cheap check routine, ``None`` for none. requires: where
        the node applies (station hardware), ``None``: everywhere. opt_in: left out unless
        asked for by name. nightly: the nightly run checks it first
        (:attr:`~qneko_hw.calibrations.graph.Node.nightly`). allow_poor: a ``poor`` result
        is committed (:attr:`~qneko_hw.calibrations.graph.Node.allow_poor`).
    """

    node: str
    routine: Routine[Any]
    after: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    timeout_h: float = 24.0
    spec: Mapping[str, float] = field(default_factory=dict)
    check: Options | None = None
    requires: Requirement | None = None
    opt_in: bool = False
    nightly: bool = False
    allow_poor: bool = False


_PI = ("pi_amplitude_v", "pi_half_amplitude_v")
_DISC = ("iq_angle_rad", "threshold", "assignment_fidelity")
_RF = ("readout_frequency_hz",)
_RF_SPEC = {"readout_frequency_hz": 2e-5}
#: The cheap Ramsey: half the span (1.5·T2*, at most 20 µs: the frequency, not T2*) in 31
#: points, so the delay grid's Nyquist frequency (≥ 0.75 MHz) leaves room for a drift of
#: ±300 kHz on the far side of δ (the two sides tell its sign); a long-lived qubit's 60 µs
#: span would cost 3× the lab time for a precision the check does not need.
_RAMSEY_CHECK = {"points": 31, "span_factor": 1.5, "max_span_s": 20e-6}

#: The default chain, one routine per node.
ENTRIES: tuple[Entry, ...] = (
    Entry("resonator_spectroscopy_vna", ResonatorSpectroscopyVna(), (), _RF, 168, _RF_SPEC,
          requires=needs_vna),
    Entry("resonator_spectroscopy", ResonatorSpectroscopy(), ("resonator_spectroscopy_vna",),
          _RF, 168, _RF_SPEC, {"points": 21}, nightly=True),
    Entry("punch_out", PunchOut(), ("resonator_spectroscopy",),
          ("readout_frequency_hz", "readout_amplitude_v"), 168,
          {"readout_frequency_hz": 2e-5, "readout_amplitude_v": 1e-9}, opt_in=True),
    Entry("qubit_search", QubitSearch(), ("punch_out",), ("drive_frequency_hz",), 168,
          {"drive_frequency_hz": 1e-3}),
    Entry("qubit_spectroscopy", QubitSpectroscopy(), ("qubit_search",), ("drive_frequency_hz",),
          168, {"drive_frequency_hz": 1e-4}, {"points": 21}),
    Entry("flux_sweep", FluxSweep(skip_unwired=True), ("qubit_spectroscopy",),
          ("bias_voltage_v", "drive_frequency_hz"), 168, {"drive_frequency_hz": 1e-4},
          requires=needs_bias_line),
    Entry("rabi", AmplitudeRabi(), ("flux_sweep",), _PI, 24, {"pi_amplitude_v": 0.02},
          {"points": 15, "shots": 400}),
    Entry("readout_power", ReadoutPower(), ("rabi",), ("readout_amplitude_v", "readout_duration_s"),
          168, {"readout_amplitude_v": 1e-6, "readout_duration_s": 1e-6}, allow_poor=True),
    Entry("discrimination", Discrimination(), ("readout_power",), _DISC, 24,
          {"assignment_fidelity": 0.01}, {"shots": 500}, nightly=True),
    Entry("anharmonicity", EfSpectroscopy(), ("discrimination",), ("anharmonicity_hz",), 168,
          {"anharmonicity_hz": 0.005}, {"points": 41}),
    Entry("ramsey", Ramsey(), ("discrimination",), ("drive_frequency_hz",), 12,
          {"drive_frequency_hz": 2e-5}, _RAMSEY_CHECK, nightly=True),
    Entry("drag", DragBeta(), ("ramsey",), ("drag_beta_s",), 48, {"drag_beta_s": 0.2},
          {"points": 11}),
    Entry("amplitude", FineAmplitude(), ("drag",), _PI, 12, {"pi_amplitude_v": 0.005},
          {"shots": 400}, nightly=True),
    Entry("t1", T1(), ("amplitude",), ("t1_s",), 12, {"t1_s": 0.15}, {"points": 11, "shots": 400},
          nightly=True),
    Entry("t2_echo", T2Echo(), ("t1",), ("t2_echo_s",), 12, {"t2_echo_s": 0.25},
          {"points": 11, "shots": 400}),
    Entry("t2_star", Ramsey(name="t2_star"), ("t1",), ("t2_s",), 12, {"t2_s": 0.25},
          {"points": 31}),
    Entry("reset_check", ResetCheck(), ("t1",), (), 24, opt_in=True),
    Entry("rb", RandomizedBenchmarking(), ("t2_star",), ("error_per_clifford",), 24,
          allow_poor=True),
)  # fmt: skip


def _capped(routine: Routine[Any], caps: Mapping[str, int]) -> Routine[Any]:
    """``routine`` with its ``shots``/``points`` (those it has) at most ``caps``."""
    fields = type(routine).model_fields
    changes = {k: min(v, getattr(routine, k)) for k, v in caps.items() if k in fields}
    return routine.replace(**changes) if changes else routine


def _applicability(
    entry: Entry, station: Station | None, chip: Chip | None
) -> tuple[str | None, dict[str, str]]:
    """Why ``entry`` is left out (None: it is not), and the qubits it skips, with why."""
    if entry.requires is None:
        return None, {}
    if station is None:
        return "needs station hardware: build the graph with station=... to place it", {}
    qubits = list(station.drive)
    skip = {q: r for q in qubits if (r := entry.requires(station, chip, q)) is not None}
    if qubits and len(skip) < len(qubits):
        return None, skip
    reasons = sorted(set(skip.values()))
    return (reasons[0] if len(reasons) == 1 else "; ".join(reasons)) or "no qubit", skip


def build_graph(
    entries: Sequence[Entry],
    *,
    name: str = "calibration",
    shots: int | None = None,
    points: int | None = None,
    station: Station | None = None,
    chip: Chip | None = None,
    opt_in: Collection[str] = (),
) -> Graph:
    """The graph of the ``entries`` that apply (``Graph.left_out`` says why the others are
    missing).

    Args:
        shots, points: if given, every routine and check with a ``shots`` / ``points`` field
            uses at most this many (fast runs; the checks keep their smaller values).
        station, chip: where the nodes with ``requires`` apply (see the module docstring);
            ``chip`` is the design (whether a qubit is flux-tunable).
        opt_in: names of the ``opt_in`` entries to include.
    """
    present: dict[str, Node] = {}
    deps_of: dict[str, tuple[str, ...]] = {}
    left_out: dict[str, str] = {}
    caps = {k: v for k, v in (("shots", shots), ("points", points)) if v is not None}
    for entry in entries:
        after: list[str] = []
        for d in entry.after:  # a missing dependency hands over its own dependencies
            for x in deps_of.get(d, ()) if d not in present else (d,):
                if x not in after:
                    after.append(x)
        deps_of[entry.node] = tuple(after)
        why, skip = _applicability(entry, station, chip)
        if entry.opt_in and entry.node not in opt_in:
            why = f"opt-in (slow): default_graph({entry.node}=True) adds it"
        if why is not None:
            left_out[entry.node] = why
            log.info("node %s left out of the graph: %s", entry.node, why)
            continue
        routine = _capped(entry.routine, caps)
        check = None
        if entry.check is not None:
            fields = type(routine).model_fields
            overrides = {k: v for k, v in entry.check.items() if k in fields}
            check = _capped(routine.replace(**overrides, name=f"{routine.name}_check"), caps)
        present[entry.node] = Node(
            name=entry.node,
            routine=routine,
            depends_on=tuple(after),
            timeout_s=entry.timeout_h * HOUR_S,
            parameters=entry.parameters,
            check=check,
            spec=dict(entry.spec),
            skip=skip,
            nightly=entry.nightly,
            allow_poor=entry.allow_poor,
        )
    return Graph(present.values(), name=name, left_out=left_out)


class GraphOptions(TypedDict, total=False):
    """Options of :func:`default_graph` and :func:`nightly_graph` (see
    :func:`build_graph`); ``punch_out``, ``reset_check`` add those opt-in nodes."""

    shots: int | None
    points: int | None
    station: Station | None
    chip: Chip | None
    punch_out: bool
    reset_check: bool


def _graph(name: str, options: GraphOptions) -> Graph:
    opt_in = tuple(k for k in ("punch_out", "reset_check") if options.get(k))
    return build_graph(
        ENTRIES,
        name=name,
        shots=options.get("shots"),
        points=options.get("points"),
        station=options.get("station"),
        chip=options.get("chip"),
        opt_in=opt_in,
    )


def default_graph(**options: Unpack[GraphOptions]) -> Graph:
    """Tune-up graph of a fresh chip (see :data:`ENTRIES` and :class:`GraphOptions`)."""
    return _graph("default", options)


def nightly_graph(**options: Unpack[GraphOptions]) -> Graph:
    """The nightly graph: the same nodes, meant for ``run_graph(strategy="nightly")``
    (check_data on the leaves first, recalibrate only what drifted)."""
    return _graph("nightly", options)
