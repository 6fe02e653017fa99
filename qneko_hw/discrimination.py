"""Single-shot state discrimination from IQ shots: rotate, threshold, count.

Convention (shared with :class:`~qneko_hw.config.calibration.QubitCalibration`): an IQ shot
``s`` (V) is rotated to ``r = Re(s·e^{−i·iq_angle_rad})``, the |0⟩ → |1⟩ direction of the
blob centres lying along +I after the rotation; a shot with ``r > threshold`` (V) is
assigned |1⟩, otherwise |0⟩.

Everything here works from instrument data only.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import project_iq
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import QubitCalibration

__all__ = [
    "Discriminator",
    "best_threshold",
    "classify",
    "excited_probability",
    "readout_signal",
    "rotate",
]


class Discriminator(Frozen):
    """A qubit's single-shot discriminator (see the module docstring).

    Attributes:
        iq_angle_rad: rotation bringing the |0⟩ → |1⟩ axis onto +I (rad).
        threshold_v: threshold on the rotated I axis (V); above it, |1⟩.
    """

    iq_angle_rad: float
    threshold_v: float

    @classmethod
    def of(cls, cal: QubitCalibration) -> Discriminator | None:
        """The discriminator calibrated in ``cal``, or None if it has none."""
        if cal.iq_angle_rad is None or cal.threshold is None:
            return None
        return cls(iq_angle_rad=cal.iq_angle_rad.value, threshold_v=cal.threshold.value)

    def classify(self, shots: NDArray[np.complexfloating]) -> NDArray[np.bool_]:
        """Per-shot outcomes, True for |1⟩ (same shape as ``shots``)."""
        return classify(shots, self.iq_angle_rad, self.threshold_v)


def rotate(shots: NDArray[np.complexfloating], angle_rad: float) -> NDArray[np.float64]:
    """Rotated I component (V) of IQ shots: ``Re(s·e^{−i·angle_rad})``, same shape."""
    data = np.asarray(shots, dtype=np.complex128)
    return np.asarray((data * complex(math.cos(angle_rad), -math.sin(angle_rad))).real)


def classify(
    shots: NDArray[np.complexfloating], angle_rad: float, threshold_v: float
) -> NDArray[np.bool_]:
    """Per-shot outcome, ``True`` for |1⟩: rotated I (V) above ``threshold_v`` (V)."""
    return np.asarray(rotate(shots, angle_rad) > threshold_v, dtype=np.bool_)


def excited_probability(
    shots: NDArray[np.complexfloating], angle_rad: float, threshold_v: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fraction of shots assigned |1⟩ per sweep step, and its binomial standard error.

    Args:
        shots: IQ shots (V), shape (steps, shots).
        angle_rad, threshold_v: the discriminator (see the module docstring).

    Returns:
        (p, err), each of shape (steps,). The error uses ``(k + ½)/(n + 1)`` in place of
        ``p`` so that it never vanishes at 0 or 1.
    """
    ones = classify(shots, angle_rad, threshold_v)
    n = ones.shape[-1]
    k = ones.sum(axis=-1).astype(np.float64)
    p = k / n
    q = (k + 0.5) / (n + 1.0)
    err = np.sqrt(q * (1.0 - q) / n)
    return np.asarray(p, dtype=np.float64), np.asarray(err, dtype=np.float64)


def readout_signal(
    shots: NDArray[np.complexfloating], cal: QubitCalibration
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """Per-step signal of a qubit: P(|1⟩) when it has a discriminator, else the IQ projection.

    Returns:
        (signal, err, discriminated): with a calibrated ``iq_angle_rad`` and ``threshold``,
        the assigned |1⟩ fraction and its binomial error (``discriminated=True``); without,
        the mean projection on the principal IQ axis and its standard error (V).
    """
    if cal.iq_angle_rad is not None and cal.threshold is not None:
        p, err = excited_probability(shots, cal.iq_angle_rad.value, cal.threshold.value)
        return p, err, True
    signal, err = project_iq(shots)
    return signal, err, False


def best_threshold(
    ground_v: NDArray[np.floating], excited_v: NDArray[np.floating]
) -> tuple[float, float]:
    """Threshold (V) on rotated I maximising the empirical assignment fidelity.

    ``F(t) = 1 − ½·[P(r > t | |0⟩ prepared) + P(r ≤ t | |1⟩ prepared)]``, evaluated at every
    midpoint between sorted shots; the excited shots are expected above the ground ones.

    Returns:
        (threshold, fidelity).
    """
    g = np.sort(np.asarray(ground_v, dtype=np.float64).ravel())
    e = np.sort(np.asarray(excited_v, dtype=np.float64).ravel())
    both = np.concatenate((g, e))
    both.sort()
    cand = np.concatenate(([both[0] - 1.0], (both[1:] + both[:-1]) / 2, [both[-1] + 1.0]))
    above_g = 1.0 - np.searchsorted(g, cand, side="right") / g.size
    below_e = np.searchsorted(e, cand, side="right") / e.size
    fid = 1.0 - 0.5 * (above_g + below_e)
    best = np.flatnonzero(fid == fid.max())
    # the middle of the plateau of equal fidelity
    k = int(best[best.size // 2])
    return float(cand[k]), float(fid[k])
