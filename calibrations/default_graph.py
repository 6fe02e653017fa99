"""The default calibration graph of a fresh chip, and the nightly graph, from the routines
that exist.

One line of :data:`ENTRIES` per node: the node name, the routine (``module:Class`` inside
``qneko_hw.calibrations``, or several candidates, the first that exists wins), the nodes it
comes after, the calibration parameters it sets, its timeout, its ``check_data`` tolerances
and the cheap check (field overrides of the routine: fewer points, fewer shots; ``None``:
no cheap check, ``check_data`` falls back to calibrating). A routine whose module is not
there yet is left out and its dependents inherit its dependencies, so the chain

    resonator spectroscopy → qubit spectroscopy → Rabi → discrimination → Ramsey
    → fine amplitude (or a second Rabi) → DRAG → T1 → T2 echo
                                              DRAG → RB

shrinks to what has landed, and a new routine plugs in by its one line. RB hangs off DRAG
(the gates it benchmarks), not off T2 echo: a coherence fit that fails does not keep a
qubit from being benchmarked.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from qneko_hw.calibrations.graph import Graph, Node
from qneko_hw.calibrations.runner import Routine

__all__ = ["ENTRIES", "Entry", "build_graph", "default_graph", "nightly_graph"]

log = logging.getLogger(__name__)

HOUR_S = 3600.0

Options = Mapping[str, Any]


@dataclass(frozen=True)
class Entry:
    """One node of the default graph (see the module docstring).

    Attributes:
        node: node name. routines: candidate ``(module:Class, field overrides)`` pairs,
        the first whose module exists is used. after: the nodes it depends on.
        parameters: ``QubitCalibration`` fields it sets. timeout_h: freshness (hours).
        spec: relative tolerance per parameter for ``check_data``. check: field overrides
        of the cheap check routine, ``None`` for none.
    """

    node: str
    routines: tuple[tuple[str, Options], ...]
    after: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    timeout_h: float = 24.0
    spec: Mapping[str, float] = field(default_factory=dict)
    check: Options | None = None


def _e(  # noqa: PLR0917 - one table line per node
    node: str,
    routine: str | tuple[tuple[str, Options], ...],
    after: tuple[str, ...],
    parameters: tuple[str, ...],
    timeout_h: float,
    spec: Mapping[str, float],
    check: Options | None,
) -> Entry:
    routines = ((routine, {}),) if isinstance(routine, str) else routine
    return Entry(node, routines, after, parameters, timeout_h, spec, check)


_PI = ("pi_amplitude_v", "pi_half_amplitude_v")
_DISC = ("iq_angle_rad", "threshold", "assignment_fidelity")
_SECOND_AMPLITUDE: tuple[tuple[str, Options], ...] = (
    ("fine_amplitude:FineAmplitude", {}),
    ("rabi:AmplitudeRabi", {"name": "rabi_fine", "points": 41, "span": 1.6}),
)

#: The default chain, one routine per line (node, routine, after, parameters, timeout in
#: hours, check_data tolerances, cheap-check overrides).
# fmt: off
ENTRIES: tuple[Entry, ...] = (
    _e("resonator_spectroscopy", "resonator_spectroscopy:ResonatorSpectroscopy", (), ("readout_frequency_hz",), 168, {"readout_frequency_hz": 2e-5}, {"points": 21}),  # noqa: E501
    _e("qubit_spectroscopy", "qubit_spectroscopy:QubitSpectroscopy", ("resonator_spectroscopy",), ("drive_frequency_hz",), 168, {"drive_frequency_hz": 1e-4}, {"points": 21}),  # noqa: E501
    _e("rabi", "rabi:AmplitudeRabi", ("qubit_spectroscopy",), _PI, 24, {"pi_amplitude_v": 0.02}, {"points": 15, "shots": 400}),  # noqa: E501
    _e("discrimination", "discrimination:Discrimination", ("rabi",), _DISC, 24, {"assignment_fidelity": 0.01}, {"shots": 500}),  # noqa: E501
    _e("ramsey", "ramsey:Ramsey", ("discrimination",), ("drive_frequency_hz",), 12, {"drive_frequency_hz": 2e-5}, {"points": 21}),  # noqa: E501
    _e("amplitude", _SECOND_AMPLITUDE, ("ramsey",), _PI, 12, {"pi_amplitude_v": 0.005}, {"points": 15, "shots": 400}),  # noqa: E501
    _e("drag", "drag:DragBeta", ("amplitude",), ("drag_beta_s",), 48, {"drag_beta_s": 0.2}, {"points": 11}),  # noqa: E501
    _e("t1", "t1:T1", ("drag",), ("t1_s",), 12, {"t1_s": 0.25}, {"points": 11, "shots": 400}),
    _e("t2_echo", "t2_echo:T2Echo", ("t1",), ("t2_echo_s",), 12, {"t2_echo_s": 0.25}, {"points": 11, "shots": 400}),  # noqa: E501
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


def build_graph(
    entries: Sequence[Entry],
    *,
    name: str = "calibration",
    shots: int | None = None,
    points: int | None = None,
) -> tuple[Graph, tuple[str, ...]]:
    """The graph of the ``entries`` whose routine exists, and the names of those left out.

    Args:
        shots, points: if given, every routine and check with a ``shots`` / ``points`` field
            uses at most this many (fast runs; the checks keep their smaller values).
    """
    present: dict[str, Node] = {}
    deps_of: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    for entry in entries:
        after: list[str] = []
        for d in entry.after:  # a missing dependency hands over its own dependencies
            for x in deps_of.get(d, ()) if d not in present else (d,):
                if x not in after:
                    after.append(x)
        deps_of[entry.node] = tuple(after)
        routine: Any = None
        for ref, options in entry.routines:
            cls = _load(ref)
            if cls is not None:
                routine = _with(cls(), options)
                break
        if routine is None:
            missing.append(entry.node)
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
        )
    return Graph(present.values(), name=name), tuple(missing)


def default_graph(*, shots: int | None = None, points: int | None = None) -> Graph:
    """Tune-up graph of a fresh chip from the routines that exist (see :data:`ENTRIES`)."""
    return build_graph(ENTRIES, name="default", shots=shots, points=points)[0]


def nightly_graph(*, shots: int | None = None, points: int | None = None) -> Graph:
    """The nightly graph: the same nodes, meant for ``run_graph(strategy="nightly")``
    (check_data on the leaves first, recalibrate only what drifted)."""
    return build_graph(ENTRIES, name="nightly", shots=shots, points=points)[0]
