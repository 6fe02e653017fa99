"""Pulse shapes: typed frozen models with an analytic envelope, sampled late.

An envelope is complex: ``amplitude_v · e^{i·phase_rad} · shape(t)`` with ``shape`` peaking
at 1 (Gaussian, DRAG's I part, square). Amplitudes are volts at the AWG output.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from qneko_hw.config.base import Frozen

__all__ = ["Drag", "Gaussian", "Pulse", "Square", "sample_pulse"]

Amplitude = Annotated[float, Field(allow_inf_nan=False)]
Duration = Annotated[float, Field(gt=0, le=1e-2, allow_inf_nan=False)]


class _PulseBase(Frozen):
    amplitude_v: Amplitude
    duration_s: Duration
    phase_rad: Annotated[float, Field(allow_inf_nan=False)] = 0.0


class Square(_PulseBase):
    """Constant envelope over ``duration_s`` (s)."""

    kind: Literal["square"] = "square"


class Gaussian(_PulseBase):
    """Gaussian of standard deviation ``sigma_s`` (s), centred, lifted to zero at the edges."""

    kind: Literal["gaussian"] = "gaussian"
    sigma_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Drag(_PulseBase):
    """Gaussian in I with its derivative in Q: ``Ω(t) + i·β·dΩ/dt``; ``beta_s`` in seconds."""

    kind: Literal["drag"] = "drag"
    sigma_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    beta_s: Annotated[float, Field(allow_inf_nan=False)] = 0.0


Pulse = Annotated[Square | Gaussian | Drag, Field(discriminator="kind")]


def _lifted_gaussian(t: NDArray[np.float64], duration: float, sigma: float) -> NDArray[np.float64]:
    centre = duration / 2
    g = np.exp(-((t - centre) ** 2) / (2 * sigma**2))
    edge = np.exp(-(centre**2) / (2 * sigma**2))
    return np.asarray((g - edge) / (1 - edge), dtype=np.float64)


def sample_pulse(
    pulse: Square | Gaussian | Drag, n_samples: int, dt_s: float
) -> NDArray[np.complex128]:
    """Complex envelope at sample centres ``(k + 1/2)·dt_s`` for ``k < n_samples`` (V)."""
    t = (np.arange(n_samples, dtype=np.float64) + 0.5) * dt_s
    if isinstance(pulse, Square):
        shape = np.ones(n_samples, dtype=np.complex128)
    else:
        real = _lifted_gaussian(t, pulse.duration_s, pulse.sigma_s)
        shape = real.astype(np.complex128)
        if isinstance(pulse, Drag) and pulse.beta_s != 0.0:
            centre = pulse.duration_s / 2
            edge = np.exp(-(centre**2) / (2 * pulse.sigma_s**2))
            deriv = (
                -(t - centre)
                / pulse.sigma_s**2
                * np.exp(-((t - centre) ** 2) / (2 * pulse.sigma_s**2))
            )
            shape = shape + 1j * pulse.beta_s * deriv / (1 - edge)
    return np.asarray(pulse.amplitude_v * np.exp(1j * pulse.phase_rad) * shape, dtype=np.complex128)
