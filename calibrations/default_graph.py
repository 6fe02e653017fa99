"""The default calibration graph of a fresh chip, and the nightly graph, from the routines
that exist.

One line of :data:`ENTRIES` per node: the node name, the routine (``module:Class`` inside
``qneko_hw.calibrations``, or several candidates, the first that exists wins), the nodes it
comes after, the calibration parameters it sets, its timeout, its ``check_data`` tolerances
and the cheap check (field overrides of the routine: fewer points, fewer shots; ``None``:
no cheap check, ``check_data`` falls back to calibrating). A routine whose module is not
there yet is left out and its dependents inherit its dependencies, so the chain

    VNA resonator spectroscopy → resonator spectroscopy → [punch-out] → qubit spectroscopy
    → flux sweep → Rabi → discrimination → Ramsey → fine amplitude (or a second Rabi)
    → DRAG → T1 → T2 echo
                 T1 → reset check
          DRAG → RB

shrinks to what has landed, and a new routine plugs in by its one line. RB hangs off DRAG
(the gates it benchmarks), not off T2 echo: a coherence fit that fails does not keep a
qubit from being benchmarked.

Nodes that need station hardware (:attr:`Entry.requires`): the VNA spectroscopy needs a VNA
(and its driver, ``vna=``), the flux sweep a bias line (and, if the chip design is given,
flux tuning). Built with ``station=`` the graph leaves out such a node when it applies to
none of the qubits, and otherwise marks the qubits it does not apply to
(:attr:`~qneko_hw.calibrations.graph.Node.skip`: ``check_state`` reports them fresh with the
reason ``not applicable: …``, nothing runs); ``Graph.left_out`` says why each node is
missing. Built without a station, the graph leaves these nodes out (it cannot know where
they apply). Their routines also skip on their own a qubit they do not apply to (an idle
program and a good "not applicable" fit, no change), for graphs built otherwise.

Two nodes are opt-in, for their cost (``default_graph(punch_out=True, reset_check=True)``):

- punch-out: one program per readout amplitude and frequency (hundreds with the routine's
  settings, ~50 ms each) would more than double a one-qubit tune-up. Its node
  (:class:`PunchOutScan`) builds every (amplitude, frequency) program at once, sets the
  readout frequency to the low-power resonance, and stores the readout amplitude as
  checked: lowered to the punch-out amplitude when the one in use is above it, else as it
  is.
- the reset check: its wait of 5·T1 (250–500 µs on the built-in chip) sits inside the
  readout, which the simulated lab integrates sample by sample (~10–20 ms of wall time per
  µs): 3–10 s per qubit, on every run (it stores nothing, so it is never fresh).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from qneko_hw.analysis import Fit
from qneko_hw.calibrations.graph import Graph, Node
from qneko_hw.calibrations.punch_out import PunchOut, amplitude_limit_v
from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.calibrations.runner import Routine
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.chip import Chip
from qneko_hw.config.station import Station
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment

if TYPE_CHECKING:
    from qneko_hw.drivers.roles import VNA

__all__ = [
    "ENTRIES",
    "Entry",
    "PunchOutScan",
    "build_graph",
    "default_graph",
    "needs_bias_line",
    "needs_vna",
    "nightly_graph",
]

log = logging.getLogger(__name__)

HOUR_S = 3600.0

Options = Mapping[str, Any]
#: ``requires(station, chip, qubit, vna)`` → why the node does not apply to ``qubit``, or
#: None when it does (``chip``: the design, if known; ``vna``: the driver handed over).
Requirement = Callable[[Station, Chip | None, str, Any], str | None]


def needs_vna(station: Station, chip: Chip | None, qubit: str, vna: Any) -> str | None:
    """The VNA spectroscopy needs a VNA in the station and its driver."""
    from qneko_hw.calibrations.resonator_spectroscopy_vna import VNA_MODELS

    if station.feedline_of(qubit) is None:
        return f"{qubit} has no readout line"
    vnas = [n for n, c in station.instruments.items() if c.model in VNA_MODELS]
    if not vnas:
        return "no VNA in the station"
    if vna is None:
        return f"the station's VNA {vnas[0]} was not handed to the graph (vna=...)"
    return None


def needs_bias_line(station: Station, chip: Chip | None, qubit: str, vna: Any) -> str | None:
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
        node: node name. routines: candidate ``(module:Class, field overrides)`` pairs,
        the first whose module exists is used. after: the nodes it depends on.
        parameters: ``QubitCalibration`` fields it sets. timeout_h: freshness (hours).
        spec: relative tolerance per parameter for ``check_data``. check: field overrides
        of the cheap check routine, ``None`` for none. requires: where the node applies
        (station hardware), ``None``: everywhere. opt_in: left out unless asked for by name.
    """

    node: str
    routines: tuple[tuple[str, Options], ...]
    after: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    timeout_h: float = 24.0
    spec: Mapping[str, float] = field(default_factory=dict)
    check: Options | None = None
    requires: Requirement | None = None
    opt_in: bool = False


def _e(  # noqa: PLR0917 - one table line per node
    node: str,
    routine: str | tuple[tuple[str, Options], ...],
    after: tuple[str, ...],
    parameters: tuple[str, ...],
    timeout_h: float,
    spec: Mapping[str, float],
    check: Options | None,
    requires: Requirement | None = None,
    *,
    opt_in: bool = False,
) -> Entry:
    routines = ((routine, {}),) if isinstance(routine, str) else routine
    return Entry(node, routines, after, parameters, timeout_h, spec, check, requires, opt_in)


_PI = ("pi_amplitude_v", "pi_half_amplitude_v")
_DISC = ("iq_angle_rad", "threshold", "assignment_fidelity")
_RF = ("readout_frequency_hz",)
_PUNCH = ("readout_frequency_hz", "readout_amplitude_v")
_SECOND_AMPLITUDE: tuple[tuple[str, Options], ...] = (
    ("fine_amplitude:FineAmplitude", {}),
    ("rabi:AmplitudeRabi", {"name": "rabi_fine", "points": 41, "span": 1.6}),
)
_VNA: tuple[tuple[str, Options], ...] = (
    ("resonator_spectroscopy_vna:ResonatorSpectroscopyVnaNode", {}),
)
_FLUX: tuple[tuple[str, Options], ...] = (("flux_sweep:FluxSweep", {"skip_unwired": True}),)
_FLUX_PARAMETERS = ("bias_voltage_v", "drive_frequency_hz")

#: The default chain, one routine per line (node, routine, after, parameters, timeout in
#: hours, check_data tolerances, cheap-check overrides[, requires]).
# fmt: off
ENTRIES: tuple[Entry, ...] = (
    _e("resonator_spectroscopy_vna", _VNA, (), _RF, 168, {"readout_frequency_hz": 2e-5}, None, needs_vna),  # noqa: E501
    _e("resonator_spectroscopy", "resonator_spectroscopy:ResonatorSpectroscopy", ("resonator_spectroscopy_vna",), _RF, 168, {"readout_frequency_hz": 2e-5}, {"points": 21}),  # noqa: E501
    _e("punch_out", "default_graph:PunchOutScan", ("resonator_spectroscopy",), _PUNCH, 168, {"readout_frequency_hz": 2e-5, "readout_amplitude_v": 1e-9}, None, opt_in=True),  # noqa: E501
    _e("qubit_spectroscopy", "qubit_spectroscopy:QubitSpectroscopy", ("punch_out",), ("drive_frequency_hz",), 168, {"drive_frequency_hz": 1e-4}, {"points": 21}),  # noqa: E501
    _e("flux_sweep", _FLUX, ("qubit_spectroscopy",), _FLUX_PARAMETERS, 168, {"drive_frequency_hz": 1e-4}, None, needs_bias_line),  # noqa: E501
    _e("rabi", "rabi:AmplitudeRabi", ("flux_sweep",), _PI, 24, {"pi_amplitude_v": 0.02}, {"points": 15, "shots": 400}),  # noqa: E501
    _e("discrimination", "discrimination:Discrimination", ("rabi",), _DISC, 24, {"assignment_fidelity": 0.01}, {"shots": 500}),  # noqa: E501
    _e("ramsey", "ramsey:Ramsey", ("discrimination",), ("drive_frequency_hz",), 12, {"drive_frequency_hz": 2e-5}, {"points": 21}),  # noqa: E501
    _e("amplitude", _SECOND_AMPLITUDE, ("ramsey",), _PI, 12, {"pi_amplitude_v": 0.005}, {"points": 15, "shots": 400}),  # noqa: E501
    _e("drag", "drag:DragBeta", ("amplitude",), ("drag_beta_s",), 48, {"drag_beta_s": 0.2}, {"points": 11}),  # noqa: E501
    _e("t1", "t1:T1", ("drag",), ("t1_s",), 12, {"t1_s": 0.25}, {"points": 11, "shots": 400}),
    _e("t2_echo", "t2_echo:T2Echo", ("t1",), ("t2_echo_s",), 12, {"t2_echo_s": 0.25}, {"points": 11, "shots": 400}),  # noqa: E501
    _e("reset_check", "active_reset:ResetCheck", ("t1",), (), 24, {}, None, opt_in=True),
    _e("rb", "rb:RandomizedBenchmarking", ("drag",), (), 24, {}, None),
)
# fmt: on


def _load(ref: str) -> type[Any] | None:
    """The class ``module:Class`` of ``qneko_hw.calibrations``; None if the module is absent."""
    module_name, _, cls_name = ref.partition(":")
    full = f"qneko_hw.calibrations.{module_name}"
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name == full:
            return None
        raise
    cls = getattr(module, cls_name, None)
    if cls is None:
        log.warning("%s has no %s: node left out of the graph", full, cls_name)
    return cast("type[Any] | None", cls)


def _with(routine: Any, options: Options) -> Any:
    """``routine`` with those of ``options`` that are fields of it."""
    if isinstance(routine, type) or not dataclasses.is_dataclass(routine):
        return routine
    names = {f.name for f in dataclasses.fields(routine)}
    return dataclasses.replace(
        cast("Any", routine), **{k: v for k, v in options.items() if k in names}
    )


def _applicability(
    entry: Entry, station: Station | None, chip: Chip | None, vna: VNA | None
) -> tuple[str | None, dict[str, str]]:
    """Why ``entry`` is left out (None: it is not), and the qubits it skips, with why."""
    if entry.requires is None:
        return None, {}
    if station is None:
        return "needs station hardware: build the graph with station=... to place it", {}
    qubits = list(station.drive)
    skip = {q: r for q in qubits if (r := entry.requires(station, chip, q, vna)) is not None}
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
    vna: VNA | None = None,
    opt_in: Collection[str] = (),
) -> tuple[Graph, tuple[str, ...]]:
    """The graph of the ``entries`` whose routine exists and that apply, and the names of
    those left out (``Graph.left_out`` says why).

    Args:
        shots, points: if given, every routine and check with a ``shots`` / ``points`` field
            uses at most this many (fast runs; the checks keep their smaller values).
        station, chip: where the nodes with ``requires`` apply (see the module docstring);
            ``chip`` is the design (whether a qubit is flux-tunable).
        vna: the VNA's driver, handed to the routines that sweep it.
        opt_in: names of the ``opt_in`` entries to include.
    """
    present: dict[str, Node] = {}
    deps_of: dict[str, tuple[str, ...]] = {}
    left_out: dict[str, str] = {}
    for entry in entries:
        after: list[str] = []
        for d in entry.after:  # a missing dependency hands over its own dependencies
            for x in deps_of.get(d, ()) if d not in present else (d,):
                if x not in after:
                    after.append(x)
        deps_of[entry.node] = tuple(after)
        why, skip = _applicability(entry, station, chip, vna)
        if entry.opt_in and entry.node not in opt_in:
            why = f"opt-in (slow): default_graph({entry.node}=True) adds it"
        routine: Any = None
        for ref, options in entry.routines if why is None else ():
            cls = _load(ref)
            if cls is not None:
                routine = _with(cls(), {**options, "vna": vna})
                break
        if routine is None:
            left_out[entry.node] = why or "its routine does not exist yet"
            continue
        caps: dict[str, int] = {}
        if shots is not None:
            caps["shots"] = shots
        if points is not None:
            caps["points"] = points
        routine = _with(routine, {k: min(v, getattr(routine, k, v)) for k, v in caps.items()})
        check = None
        if entry.check is not None and dataclasses.is_dataclass(routine):
            opts = {**entry.check, "name": f"{getattr(routine, 'name', entry.node)}_check"}
            opts.update({k: min(v, int(opts.get(k, v))) for k, v in caps.items()})
            check = cast("Routine", _with(routine, opts))
        present[entry.node] = Node(
            name=entry.node,
            routine=cast("Routine", routine),
            depends_on=tuple(after),
            timeout_s=entry.timeout_h * HOUR_S,
            parameters=entry.parameters,
            check=check,
            spec=dict(entry.spec),
            skip=skip,
        )
    for node, why in left_out.items():
        log.info("node %s left out of the graph: %s", node, why)
    return Graph(present.values(), name=name, left_out=left_out), tuple(left_out)


def default_graph(
    *,
    shots: int | None = None,
    points: int | None = None,
    station: Station | None = None,
    chip: Chip | None = None,
    vna: VNA | None = None,
    punch_out: bool = False,
    reset_check: bool = False,
) -> Graph:
    """Tune-up graph of a fresh chip from the routines that exist (see :data:`ENTRIES`);
    ``punch_out``, ``reset_check`` add those (slow) nodes."""
    return build_graph(
        ENTRIES,
        name="default",
        shots=shots,
        points=points,
        station=station,
        chip=chip,
        vna=vna,
        opt_in=_opt_in(punch_out=punch_out, reset_check=reset_check),
    )[0]


def nightly_graph(
    *,
    shots: int | None = None,
    points: int | None = None,
    station: Station | None = None,
    chip: Chip | None = None,
    vna: VNA | None = None,
    punch_out: bool = False,
    reset_check: bool = False,
) -> Graph:
    """The nightly graph: the same nodes, meant for ``run_graph(strategy="nightly")``
    (check_data on the leaves first, recalibrate only what drifted)."""
    return build_graph(
        ENTRIES,
        name="nightly",
        shots=shots,
        points=points,
        station=station,
        chip=chip,
        vna=vna,
        opt_in=_opt_in(punch_out=punch_out, reset_check=reset_check),
    )[0]


def _opt_in(**flags: bool) -> tuple[str, ...]:
    return tuple(name for name, on in flags.items() if on)


# --- punch-out as one graph routine ---------------------------------------------------


@dataclass(frozen=True)
class PunchOutScan:
    """:class:`~qneko_hw.calibrations.punch_out.PunchOut` as a graph routine.

    ``PunchOut.measure`` runs one resonator spectroscopy per amplitude itself; the graph's
    runner needs ``build``/``analyze``/``update``. ``build`` returns every (amplitude,
    frequency) program at once, each paired with the state at that readout amplitude (one
    run file); ``analyze`` cuts the result per amplitude, fits each with
    :class:`~qneko_hw.calibrations.resonator_spectroscopy.ResonatorSpectroscopy` and hands
    the fits to ``PunchOut.analyze``; ``update`` is ``PunchOut.update`` (readout frequency
    at the low-power resonance), and stores the readout amplitude as measured: lowered to
    the punch-out amplitude if the one in use is above it, else as it is (checked below
    punch-out; the node's own parameter, so the graph knows when it ran).

    Attributes: as :class:`~qneko_hw.calibrations.punch_out.PunchOut` (same defaults).
    """

    amplitudes_v: tuple[float, ...] = PunchOut.amplitudes_v
    span_hz: float = PunchOut.span_hz
    points: int = PunchOut.points
    shots: int = PunchOut.shots
    shift_fraction: float = PunchOut.shift_fraction
    name: str = "punch_out"
    scanned: dict[str, tuple[float, ...]] = field(default_factory=dict, compare=False, repr=False)

    def punch_out(self) -> PunchOut:
        """The punch-out routine with these settings."""
        return PunchOut(
            amplitudes_v=self.amplitudes_v,
            span_hz=self.span_hz,
            points=self.points,
            shots=self.shots,
            shift_fraction=self.shift_fraction,
            name=self.name,
        )

    def spectroscopy(self) -> ResonatorSpectroscopy:
        """The frequency sweep run at each amplitude."""
        return ResonatorSpectroscopy(
            span_hz=self.span_hz, points=self.points, shots=self.shots, name=self.name
        )

    def build(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> list[tuple[Experiment, CalibrationState]]:
        """One program per (amplitude, frequency), amplitudes low to high and capped at the
        readout AWG's limit, each with the state at that readout amplitude."""
        cap = amplitude_limit_v(qubit, station)
        amplitudes = tuple(sorted({min(float(a), cap) for a in self.amplitudes_v}))
        self.scanned[qubit] = amplitudes
        spec = self.spectroscopy()
        items: list[tuple[Experiment, CalibrationState]] = []
        for a in amplitudes:
            at_a = state.with_qubit(qubit, readout_amplitude_v=CalValue.design(a))
            items += [(exp, at_a) for exp in spec.build(qubit, at_a, station)]
        return items

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Low-power resonance and punch-out amplitude (``PunchOut.analyze``)."""
        amplitudes = self.scanned.get(qubit, tuple(sorted(self.amplitudes_v)))
        n = self.points
        if len(result.sweep_values) != n * len(amplitudes):
            return Fit.failed(
                self.name,
                qubit,
                f"expected {len(amplitudes)}×{n} steps, got {len(result.sweep_values)}",
            )
        spec = self.spectroscopy()
        fits = []
        for k in range(len(amplitudes)):
            part = result.step_range(k * n, (k + 1) * n)
            fits.append(spec.analyze(qubit, part))
        return self.punch_out().analyze(qubit, amplitudes, fits)

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """Readout frequency at the low-power resonance; the readout amplitude checked
        (lowered to the punch-out amplitude if above it); a bad fit raises
        CalibrationError."""
        new = self.punch_out().update(state, fit, run_id)
        amplitude = new.qubit(fit.qubit).readout_amplitude_v.value
        limit = fit.values.get("punch_out_amplitude_v")
        if limit is not None and amplitude > limit:
            log.warning(
                "%s: readout amplitude above punch-out, lowered to %.3g V", fit.qubit, limit
            )
            amplitude = limit
        checked = CalValue.measured(amplitude, None, run_id)
        return new.with_qubit(fit.qubit, readout_amplitude_v=checked)
