"""Pulse shapes: typed frozen models with an analytic envelope, sampled late.

An envelope is complex: ``amplitude_v · e^{i·phase_rad} · shape(t)``. Every shape's real
part peaks at 1 (DRAG adds its derivative in the imaginary part). Amplitudes are volts at the
AWG output. :func:`pulse_shape` samples the unit shape at sample centres
``(k + 1/2)·dt_s``; the compiler applies amplitude and phase per played instance, so a sweep of
amplitude or phase shares one sampled waveform.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from qneko_hw.config.base import Frozen

__all__ = [
    "Arbitrary",
    "Constant",
    "Cosine",
    "Drag",
    "Gaussian",
    "GaussianSquare",
    "Pulse",
    "PulseModel",
    "Square",
    "pulse_shape",
    "sample_pulse",
]

Finite = Annotated[float, Field(allow_inf_nan=False)]
Duration = Annotated[float, Field(gt=0, le=1e-2, allow_inf_nan=False)]
Width = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _PulseBase(Frozen):
    amplitude_v: Finite
    duration_s: Duration
    phase_rad: Finite = 0.0


class Constant(_PulseBase):
    """Constant envelope over ``duration_s`` (s)."""

    kind: Literal["constant"] = "constant"


Square = Constant


class Gaussian(_PulseBase):
    """Gaussian of standard deviation ``sigma_s`` (s), centred, lifted to zero at the edges."""

    kind: Literal["gaussian"] = "gaussian"
    sigma_s: Width


class Drag(_PulseBase):
    """Gaussian in I with its derivative in Q: ``Ω(t) + i·β·dΩ/dt``; ``beta_s`` in seconds."""

    kind: Literal["drag"] = "drag"
    sigma_s: Width
    beta_s: Finite = 0.0


class GaussianSquare(_PulseBase):
    """Flat top of ``width_s`` (s) with Gaussian rise and fall of σ = ``sigma_s`` (s)."""

    kind: Literal["gaussian_square"] = "gaussian_square"
    sigma_s: Width
    width_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Cosine(_PulseBase):
    """Raised cosine ``(1 − cos(2πt/T))/2`` over the duration T."""

    kind: Literal["cosine"] = "cosine"


class Arbitrary(_PulseBase):
    """Given samples ``samples`` as ``[re, im]`` pairs, one per AWG sample, scaled by amplitude."""

    kind: Literal["arbitrary"] = "arbitrary"
    samples: tuple[tuple[Finite, Finite], ...] = Field(min_length=1)

    @field_validator("samples")
    @classmethod
    def _peak(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if max(abs(complex(a, b)) for a, b in v) > 1.0 + 1e-12:
            raise ValueError("arbitrary samples must have |sample| <= 1")
        return v


PulseModel = Constant | Gaussian | Drag | GaussianSquare | Cosine | Arbitrary
Pulse = Annotated[PulseModel, Field(discriminator="kind")]


def _gaussian(t: NDArray[np.float64], centre: float, sigma: float) -> NDArray[np.float64]:
    return np.asarray(np.exp(-((t - centre) ** 2) / (2 * sigma**2)), dtype=np.float64)


def pulse_shape(pulse: PulseModel, n_samples: int, dt_s: float) -> NDArray[np.complex128]:
    """Unit-amplitude complex shape at sample centres ``(k + 1/2)·dt_s`` for ``k < n_samples``."""
    t = (np.arange(n_samples, dtype=np.float64) + 0.5) * dt_s
    T = pulse.duration_s
    if isinstance(pulse, Constant):
        return np.ones(n_samples, dtype=np.complex128)
    if isinstance(pulse, Cosine):
        return ((1 - np.cos(2 * np.pi * t / T)) / 2).astype(np.complex128)
    if isinstance(pulse, Arbitrary):
        raw = np.array([complex(a, b) for a, b in pulse.samples], dtype=np.complex128)
        out = np.zeros(n_samples, dtype=np.complex128)
        out[: min(n_samples, raw.size)] = raw[:n_samples]
        return out
    if isinstance(pulse, GaussianSquare):
        rise = (T - pulse.width_s) / 2
        edge = float(np.exp(-(rise**2) / (2 * pulse.sigma_s**2)))
        g = np.where(
            t < rise,
            _gaussian(t, rise, pulse.sigma_s),
            np.where(t > T - rise, _gaussian(t, T - rise, pulse.sigma_s), 1.0),
        )
        return (
            ((g - edge) / (1 - edge)).astype(np.complex128) if edge < 1 else g.astype(np.complex128)
        )
    centre = T / 2
    edge = float(np.exp(-(centre**2) / (2 * pulse.sigma_s**2)))
    g = _gaussian(t, centre, pulse.sigma_s)
    shape = ((g - edge) / (1 - edge)).astype(np.complex128)
    if isinstance(pulse, Drag) and pulse.beta_s != 0.0:
        deriv = -(t - centre) / pulse.sigma_s**2 * g / (1 - edge)
        shape = shape + 1j * pulse.beta_s * deriv
    return shape


def sample_pulse(pulse: PulseModel, n_samples: int, dt_s: float) -> NDArray[np.complex128]:
    """Complex envelope (V) at sample centres: ``amplitude·e^{iφ}·shape``."""
    scale = pulse.amplitude_v * np.exp(1j * pulse.phase_rad)
    return np.asarray(scale * pulse_shape(pulse, n_samples, dt_s), dtype=np.complex128)
