"""The one shape of every calibration routine: Parameters → plan → Data → fit → Results → update.

A routine is a frozen model whose fields are its **parameters** (points, shots, spans...);
it holds no state between calls, so one routine object serves any number of qubits, in any
thread, any number of times.

- ``plan(qubit, state, station) -> Plan``: what to measure (a :class:`Measurement`: pulse
  programs, Qiskit circuits, a VNA sweep, or nothing when the routine does not apply), the
  sweep axes of the measured steps, and the routine's **setup**: a frozen model of
  everything the fit will need that is not measured (the values the routine started from,
  the discriminator it classifies shots with, the layout of the steps). Pure: no I/O.
- the runner measures the plan and makes :class:`~qneko_hw.data.Data` (axes, signals,
  setup, provenance), which goes into the run file before anything is fitted;
- ``fit(data) -> Results``: pure; values, uncertainties, verdict, R², the plot as data;
- :meth:`Routine.analyze` adds the calibration changes the results imply, from the
  routine's declarative :attr:`Routine.updates` map (result key → calibration field);
- :meth:`Routine.update` applies them, one shared implementation for every routine: a
  ``bad`` verdict raises :class:`~qneko_hw.errors.CalibrationError`, anything else writes
  the changes as measured values stamped with the run id.

``qneko analyze RUN.h5`` rebuilds the routine from its parameters and the data from the
file and calls the same ``analyze``: a re-analysis gives exactly the committed results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from qneko_hw.analysis import Change, Results
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.errors import CalibrationError
from qneko_hw.experiment import Experiment

__all__ = [
    "Circuits",
    "Measurement",
    "Plan",
    "Program",
    "Programs",
    "Routine",
    "Skip",
    "Update",
    "VnaSweep",
    "apply_changes",
    "planned_changes",
]

S = TypeVar("S", bound=BaseModel)


# --- what to measure -----------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """One pulse-level program: an experiment, compiled with ``state`` if given (e.g. one
    bias voltage or readout amplitude per program) instead of the routine's state."""

    experiment: Experiment
    state: CalibrationState | None = None


@dataclass(frozen=True)
class Programs:
    """Pulse-level programs run one after the other, their steps stacked in order (for
    sweeps one program cannot make: a digitizer demodulates every step of a program at one
    frequency, a DC bias is one per program)."""

    items: tuple[Program, ...]

    @property
    def steps(self) -> int:
        """Number of measured steps."""
        return sum(p.experiment.steps for p in self.items)


@dataclass(frozen=True)
class Circuits:
    """Qiskit circuits on one qubit (circuit qubit 0 is the routine's qubit), one sweep step
    each, compiled into one program; clbit ``k`` is acquisition ``c<k>``.

    Attributes:
        circuits: the circuits. shots: per circuit. repetition_time_s: between shots (s).
    """

    circuits: tuple[Any, ...]
    shots: int
    repetition_time_s: float

    @property
    def steps(self) -> int:
        """Number of measured steps."""
        return len(self.circuits)


@dataclass(frozen=True)
class VnaSweep:
    """A linear frequency sweep of the VNA ``instrument`` (Hz); its signal is ``s21``."""

    instrument: str
    start_hz: float
    stop_hz: float
    points: int

    @property
    def steps(self) -> int:
        """Number of measured steps (frequencies)."""
        return self.points


@dataclass(frozen=True)
class Skip:
    """Nothing to measure: the routine does not apply to the qubit, and ``reason`` says why."""

    reason: str

    @property
    def steps(self) -> int:
        """No steps."""
        return 0


Measurement = Programs | Circuits | VnaSweep | Skip


@dataclass(frozen=True)
class Plan(Generic[S]):
    """What a routine measures: the measurement, its axes (one value per step) and the
    routine's setup (see the module docstring)."""

    setup: S
    axes: tuple[Axis, ...]
    measurement: Measurement

    @classmethod
    def programs(
        cls,
        setup: S,
        axes: Sequence[Axis],
        *items: Experiment | Program,
    ) -> Plan[S]:
        """Pulse-level programs (experiments, or :class:`Program` with their own state)."""
        progs = tuple(i if isinstance(i, Program) else Program(i) for i in items)
        return cls(setup, tuple(axes), Programs(progs))

    @classmethod
    def circuits(
        cls,
        setup: S,
        axes: Sequence[Axis],
        circuits: Sequence[Any],
        *,
        shots: int,
        repetition_time_s: float,
    ) -> Plan[S]:
        """Circuits, one sweep step each."""
        return cls(setup, tuple(axes), Circuits(tuple(circuits), shots, repetition_time_s))

    @property
    def steps(self) -> int:
        """Number of measured steps."""
        return self.measurement.steps


# --- what the results change ---------------------------------------------------------


@dataclass(frozen=True)
class Update:
    """One line of a routine's update map.

    Attributes:
        key: the result to take: ``Results.values[key]`` (with its uncertainty) for a
            calibrated number, ``Results.vectors[key]`` (interleaved re, im) for a
            per-sample field such as ``integration_weights``.
        field: the :class:`~qneko_hw.config.calibration.QubitCalibration` field it sets.
        when: only if ``Results.values[when]`` is non-zero (e.g. a T2* precise enough).
    """

    key: str
    field: str
    when: str | None = None


_SAMPLE_FIELDS = frozenset({"integration_weights"})


def planned_changes(updates: Sequence[Update], results: Results) -> dict[str, Change]:
    """The calibration changes that ``updates`` make of ``results``: none for a ``bad``
    verdict or a routine that did not apply."""
    if results.verdict == "bad" or not results.applicable:
        return {}
    out: dict[str, Change] = {}
    for u in updates:
        if u.when is not None and not results.values.get(u.when):
            continue
        if u.field in _SAMPLE_FIELDS:
            flat = results.vectors.get(u.key)
            if flat is None:
                raise CalibrationError(
                    f"{results.routine}: results have no vector '{u.key}' for {u.field}",
                    qubit=results.qubit,
                    routine=results.routine,
                )
            pairs = tuple(zip(flat[0::2], flat[1::2], strict=True))
            out[u.field] = Change(samples=pairs)
            continue
        if u.key not in results.values:
            raise CalibrationError(
                f"{results.routine}: results have no value '{u.key}' for {u.field}",
                qubit=results.qubit,
                routine=results.routine,
            )
        out[u.field] = Change(
            value=results.values[u.key], uncertainty=results.uncertainties.get(u.key)
        )
    return out


def apply_changes(results: Results, state: CalibrationState, run_id: str) -> CalibrationState:
    """``state`` with ``results.changes`` written as measured values of ``run_id``.

    Raises:
        CalibrationError: the verdict is ``bad`` (the message says why).
    """
    if results.verdict == "bad":
        raise CalibrationError(
            f"{results.qubit}: {results.routine} unusable: {results.message}",
            qubit=results.qubit,
            routine=results.routine,
            reason=results.message,
        )
    if not results.changes:
        return state
    fields: dict[str, Any] = {}
    for name, change in results.changes.items():
        if change.samples is not None:
            fields[name] = change.samples
        else:
            assert change.value is not None
            fields[name] = CalValue.measured(change.value, change.uncertainty, run_id)
    return state.with_qubit(results.qubit, **fields)


# --- the routine ---------------------------------------------------------------------


class Routine(Frozen, Generic[S]):
    """Base of every routine; a subclass's fields are its parameters.

    Class attributes of a subclass:
        kind: the routine's kind (its entry in :data:`~qneko_hw.calibrations.ROUTINES`),
            stored in run files to rebuild the routine for a re-analysis.
        setup_type: the model of its setup.
        updates: its update map (:class:`Update` lines).
        multiplex: whether several qubits may be measured at once in one program.

    Attributes:
        name: the routine's name in run ids, file names and graphs (unique in a graph: a
            cheap check is the same routine with fewer points under another name).
    """

    kind: ClassVar[str] = ""
    setup_type: ClassVar[type[BaseModel]]
    updates: ClassVar[tuple[Update, ...]] = ()
    multiplex: ClassVar[bool] = True

    name: str = ""

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[S]:
        """What to measure on ``qubit`` from ``state`` on ``station`` (no I/O)."""
        raise NotImplementedError

    def fit(self, data: Data[S]) -> Results:
        """The results of ``data``; pure."""
        raise NotImplementedError

    def analyze(self, data: Data[S]) -> Results:
        """:meth:`fit`, with the calibration changes of the update map. A change that is not
        a finite number makes the results ``bad`` (nothing is stored): never a NaN in the
        calibration state."""
        results = self.fit(data)
        changes = planned_changes(self.updates, results)
        broken = sorted(
            k for k, c in changes.items() if c.value is not None and not math.isfinite(c.value)
        )
        if broken:
            return results.model_copy(
                update={
                    "verdict": "bad",
                    "message": f"{results.message}; {', '.join(broken)} not a finite number",
                    "changes": {},
                }
            )
        return results.model_copy(update={"changes": changes})

    def update(self, results: Results, state: CalibrationState, run_id: str) -> CalibrationState:
        """``state`` with the results' changes (:func:`apply_changes`); bad results raise."""
        return apply_changes(results, state, run_id)

    def parse_setup(self, text: str) -> S:
        """The setup of this routine from its JSON (as a run file stores it)."""
        return self.setup_type.model_validate_json(text)  # type: ignore[return-value]
