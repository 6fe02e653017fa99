"""Re-analysis of a run from its file alone.

A run file stores the routine's kind and parameters, its setup, the axes and signals it
measured, and the results it committed. :func:`reanalyze` rebuilds the routine and its
:class:`~qneko_hw.data.Data` from the file and fits again; the results are identical to
the stored ones (the fit is pure and the data are stored exactly as fitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qneko_hw.analysis import Results
from qneko_hw.calibrations.routine import Routine
from qneko_hw.data import Data, Provenance
from qneko_hw.errors import CalibrationError, QnekoError
from qneko_hw.runfile import RunFile, read_run

__all__ = ["Reanalysis", "data_of", "reanalyze", "results_of", "routine_of"]


def routine_of(run: RunFile) -> Routine[Any]:
    """The routine that wrote ``run``, rebuilt from its kind and parameters.

    Raises:
        QnekoError: the kind is not a routine of this qneko-hw, or the parameters do not
            validate (naming the file).
    """
    from qneko_hw.calibrations import ROUTINES

    cls = ROUTINES.get(run.kind)
    if cls is None:
        known = ", ".join(sorted(ROUTINES))
        raise QnekoError(
            f"{run.path}: routine kind {run.kind!r} is not known here (known: {known})",
            source=str(run.path),
        )
    text = run.routine.get("parameters", "")
    try:
        return cls.model_validate_json(text)
    except ValueError as exc:
        raise QnekoError(
            f"{run.path}: the parameters of {run.kind} do not validate: {exc}",
            source=str(run.path),
        ) from None


def data_of(run: RunFile, routine: Routine[Any]) -> Data[Any]:
    """The :class:`Data` stored in ``run``, with ``routine``'s setup model."""
    try:
        setup = routine.parse_setup(run.routine.get("setup", ""))
    except ValueError as exc:
        raise QnekoError(
            f"{run.path}: the setup of {run.kind} does not validate: {exc}",
            source=str(run.path),
        ) from None
    attrs = run.attrs
    return Data(
        routine=run.routine_name,
        qubit=run.qubit,
        setup=setup,
        axes=run.axes,
        signals=run.signals,
        provenance=Provenance(
            run_id=run.run_id,
            program_digest=str(attrs.get("program_sha256", "")),
            calibration_version=int(attrs.get("calibration_version", 0)),
            multiplexed_with=run.multiplexed_with,
        ),
    )


def results_of(routine: Routine[Any], data: Data[Any], not_applicable: str | None) -> Results:
    """What the run of ``routine`` that measured ``data`` concludes: its ``analyze``; a
    routine that did not apply gives the "not applicable" results, data the fit cannot use
    (a missing acquisition...) a ``bad`` result saying why."""
    if not_applicable:
        return Results.not_applicable(data.routine, data.qubit, not_applicable)
    try:
        return routine.analyze(data)
    except CalibrationError as exc:
        return Results.failed(data.routine, data.qubit, str(exc))


@dataclass(frozen=True)
class Reanalysis:
    """A re-fit of a run file: the results now, those the run stored, and whether they are
    the same (compared as JSON, so NaN equals NaN)."""

    run: RunFile
    results: Results
    stored: Results | None

    @property
    def same(self) -> bool:
        """Whether the re-fit gives exactly the stored results."""
        return self.stored is not None and (
            self.results.model_dump_json() == self.stored.model_dump_json()
        )


def reanalyze(path: str | Path) -> Reanalysis:
    """Fit the run in ``path`` again from the file alone.

    Raises:
        QnekoError: the file is not a complete run file of a known routine.
    """
    run = read_run(path)
    if not run.complete:
        raise QnekoError(
            f"{run.path}: the run did not finish (a .partial file); nothing to compare",
            source=str(run.path),
        )
    routine = routine_of(run)
    return Reanalysis(
        run, results_of(routine, data_of(run, routine), run.not_applicable), run.results
    )
