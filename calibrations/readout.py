"""How single-qubit routines read their qubit: discriminated shots and qiskit-experiments data.

A routine's ``analyze`` gets instrument data only, but thresholding the shots needs the
discriminator (``iq_angle_rad``, ``threshold``) the measurement was made with. Routines
record the qubit's calibration when they build the experiment (:class:`BuiltReadout`), or
take it as the ``readout`` argument of ``analyze`` (re-analysis of a stored run).

qiskit-experiments' curve analyses get *per-shot* classified memory (level 2: every shot's
outcome, and the counts made from it), never averaged IQ points: their default data
processor reads counts, and IQ averages given as anything else are silently misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw.config.calibration import QubitCalibration
from qneko_hw.discrimination import classify

__all__ = [
    "BuiltReadout",
    "binomial_error",
    "counts_experiment_data",
    "discriminated",
    "excited_population",
]


@dataclass
class BuiltReadout:
    """The calibration each qubit had when a routine built its experiment."""

    by_qubit: dict[str, QubitCalibration] = field(default_factory=dict)

    def record(self, qubit: str, cal: QubitCalibration) -> None:
        """Remember ``cal`` as the calibration ``qubit`` is measured with."""
        self.by_qubit[qubit] = cal

    def get(self, qubit: str, given: QubitCalibration | None) -> QubitCalibration | None:
        """``given`` if not None, else the calibration recorded at build time, if any."""
        return given if given is not None else self.by_qubit.get(qubit)


def discriminated(
    shots: NDArray[np.complexfloating], cal: QubitCalibration | None
) -> NDArray[np.bool_] | None:
    """Per-shot outcomes (steps, shots), True for |1⟩, or None without a discriminator."""
    if cal is None or cal.iq_angle_rad is None or cal.threshold is None:
        return None
    return classify(shots, cal.iq_angle_rad.value, cal.threshold.value)


def binomial_error(p: NDArray[np.float64], shots: int) -> NDArray[np.float64]:
    """Standard error of excited fractions ``p`` from ``shots`` shots (floored at 1/(2√n))."""
    return np.asarray(np.sqrt(np.clip(p * (1 - p), 0.25 / shots, None) / shots), dtype=np.float64)


def excited_population(
    shots: NDArray[np.complexfloating], readout: QubitCalibration | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Excited fraction per step and its error from thresholded shots (steps, shots); without
    a discriminator, the IQ means projected on their principal axis instead."""
    from qneko_hw.analysis import project_iq

    outcomes = discriminated(shots, readout)
    if outcomes is None:
        return project_iq(shots)
    y = outcomes.mean(axis=1).astype(np.float64)
    return y, binomial_error(y, outcomes.shape[1])


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
