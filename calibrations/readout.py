"""How single-qubit routines read their qubit: classified shots, excited populations, and
the data qiskit-experiments' analyses take.

A routine records the discriminator it classifies shots with in its setup when it plans
the measurement (:class:`~qneko_hw.discrimination.Discriminator`), so the fit of the data
read back from a run file classifies the same way.

qiskit-experiments' curve analyses get *per-shot* classified memory (level 2: every shot's
outcome, and the counts made from it), never averaged IQ points: their default data
processor reads counts, and IQ averages given as anything else are silently misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import project_iq
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError

__all__ = [
    "binomial_error",
    "counts_experiment_data",
    "excited_population",
    "population_label",
    "require_discriminator",
]


def binomial_error(p: NDArray[np.float64], shots: int) -> NDArray[np.float64]:
    """Standard error of excited fractions ``p`` from ``shots`` shots (floored at 1/(2√n))."""
    return np.asarray(np.sqrt(np.clip(p * (1 - p), 0.25 / shots, None) / shots), dtype=np.float64)


def excited_population(
    shots: NDArray[np.complexfloating], discriminator: Discriminator | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Excited fraction per step and its error from thresholded shots (steps, shots); without
    a discriminator, the IQ means projected on their principal axis instead (V)."""
    if discriminator is None:
        return project_iq(shots)
    outcomes = discriminator.classify(shots)
    y = outcomes.mean(axis=1).astype(np.float64)
    return y, binomial_error(y, outcomes.shape[1])


def population_label(discriminator: Discriminator | None) -> tuple[str, str]:
    """(label, unit) of what :func:`excited_population` gives."""
    return ("P(|1⟩)", "") if discriminator is not None else ("projected IQ signal", "V")


def counts_experiment_data(
    xvals: Sequence[float] | NDArray[np.float64], outcomes: NDArray[np.bool_]
) -> Any:
    """A qiskit-experiments ``ExperimentData`` with per-shot memory, one circuit per x.

    Args:
        xvals: the swept value of each step (SI unit of the sweep).
        outcomes: (steps, shots) classified shots, True for |1⟩.
    """
    from qiskit_experiments.framework import ExperimentData

    data = ExperimentData()
    data.metadata["meas_level"] = 2
    data.add_data(
        [
            {
                "counts": {"1": int(row.sum()), "0": int(row.size - row.sum())},
                "memory": ["1" if bit else "0" for bit in row],
                "shots": int(row.size),
                "meas_level": 2,
                "metadata": {"xval": float(x)},
            }
            for x, row in zip(xvals, outcomes, strict=True)
        ]
    )
    return data


def require_discriminator(state: CalibrationState, qubit: str, routine: str) -> Discriminator:
    """The qubit's discriminator, for a routine that classifies shots; none raises
    :class:`CalibrationError` (run the discrimination first)."""
    disc = Discriminator.of(state.qubit(qubit))
    if disc is None:
        raise CalibrationError(
            f"{qubit}: {routine} needs a discriminator (run discrimination first)",
            qubit=qubit,
            routine=routine,
        )
    return disc
