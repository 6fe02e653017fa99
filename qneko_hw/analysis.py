"""Analysis building blocks: fit results, IQ projection, oscillation fits.

Everything here works from instrument data only (IQ shots and sweep axes).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qneko_hw.config.base import Frozen

__all__ = ["Fit", "fit_rabi", "project_iq"]

Quality = Literal["good", "poor", "bad"]


class Fit(Frozen):
    """Result of an analysis.

    Attributes:
        routine, qubit: what was fitted. values / uncertainties: fitted parameters in SI
        units (one standard deviation). quality: ``good`` (use it), ``poor`` (usable with
        care), ``bad`` (do not use). r_squared: coefficient of determination.
        message: why the verdict is what it is.
    """

    routine: str
    qubit: str
    values: dict[str, float]
    uncertainties: dict[str, float]
    quality: Quality
    r_squared: float
    message: str = ""
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    y_fit: tuple[float, ...] = ()

    @classmethod
    def failed(cls, routine: str, qubit: str, message: str) -> Fit:
        """A ``bad`` fit with no values, saying why."""
        return cls(
            routine=routine,
            qubit=qubit,
            values={},
            uncertainties={},
            quality="bad",
            r_squared=0.0,
            message=message,
        )


def project_iq(
    shots: NDArray[np.complexfloating],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project IQ shots (steps, shots) onto the axis along which their step means vary most.

    Returns the projected mean per step and its standard error (V). The sign is chosen so
    that the first step has the lowest value: the signal rises as the qubit is excited from
    the ground state.
    """
    data = np.asarray(shots, dtype=np.complex128)
    means = data.mean(axis=1)
    centred = means - means.mean()
    pts = np.stack([centred.real, centred.imag], axis=1)
    _, _, vt = np.linalg.svd(pts, full_matrices=False)
    axis = complex(vt[0, 0], vt[0, 1])
    proj = (data * np.conj(axis)).real
    signal = proj.mean(axis=1)
    if signal[0] > np.median(signal):
        signal, proj = -signal, -proj
    err = (
        proj.std(axis=1, ddof=1) / math.sqrt(max(data.shape[1] - 1, 1))
        if data.shape[1] > 1
        else np.ones_like(signal)
    )
    return np.asarray(signal, dtype=np.float64), np.asarray(
        np.maximum(err, 1e-30), dtype=np.float64
    )


def _r_squared(y: NDArray[np.float64], model: NDArray[np.float64]) -> float:
    ss_res = float(((y - model) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


def _rabi_model(
    a: NDArray[np.float64], a_pi: float, amp: float, offset: float
) -> NDArray[np.float64]:
    return np.asarray(offset - amp * np.cos(np.pi * a / a_pi), dtype=np.float64)


def fit_rabi(
    qubit: str,
    amplitudes: NDArray[np.float64],
    signal: NDArray[np.float64],
    sigma: NDArray[np.float64],
) -> Fit:
    """Fit ``offset − A·cos(π·a/a_π)`` to an amplitude-Rabi signal; returns ``a_pi`` (V).

    The period is first estimated from the spectrum, then refined by least squares on the
    points up to 1.5 π-amplitudes, where the oscillation is least distorted by leakage.
    """
    from scipy.optimize import curve_fit

    x = np.asarray(amplitudes, dtype=np.float64)
    y = np.asarray(signal, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if x.size < 5 or not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        return Fit(
            routine="rabi",
            qubit=qubit,
            values={},
            uncertainties={},
            quality="bad",
            r_squared=0.0,
            message="no usable signal",
        )
    dx = float(np.mean(np.diff(x)))
    spec = np.abs(np.fft.rfft(y - y.mean(), n=8 * x.size))
    freqs = np.fft.rfftfreq(8 * x.size, d=dx)
    f0 = float(freqs[1 + int(np.argmax(spec[1:]))])
    guesses = [0.5 / f0] if f0 > 0 else []
    guesses += [x[-1] * k for k in (0.25, 0.4, 0.6, 0.8)]
    best: tuple[float, NDArray[np.float64], NDArray[np.float64]] | None = None
    for g in guesses:
        try:
            p, cov = curve_fit(
                _rabi_model,
                x,
                y,
                p0=[g, np.ptp(y) / 2, y.mean()],
                sigma=s,
                absolute_sigma=True,
                maxfev=5000,
            )
        except (RuntimeError, ValueError):
            continue
        cost = float((((y - _rabi_model(x, *p)) / s) ** 2).sum())
        if p[0] > 0 and p[1] > 0 and (best is None or cost < best[0]):
            best = (cost, p, cov)
    if best is None:
        return Fit(
            routine="rabi",
            qubit=qubit,
            values={},
            uncertainties={},
            quality="bad",
            r_squared=0.0,
            message="oscillation fit did not converge",
        )
    p = best[1]
    window = x <= 1.5 * p[0]
    if window.sum() >= 8:
        try:
            p2, cov2 = curve_fit(
                _rabi_model,
                x[window],
                y[window],
                p0=p,
                sigma=s[window],
                absolute_sigma=True,
                maxfev=5000,
            )
            if p2[0] > 0 and p2[1] > 0:
                p, cov = p2, cov2
        except (RuntimeError, ValueError):
            cov = best[2]
    else:
        cov = best[2]
    model = _rabi_model(x, *p)
    r2 = _r_squared(y, model)
    err = np.sqrt(np.abs(np.diag(cov)))
    chi2 = float((((y - model) / s) ** 2).sum()) / max(x.size - 3, 1)
    err = err * math.sqrt(max(chi2, 1.0))
    rel = float(err[0] / p[0])
    if r2 > 0.9 and rel < 0.02 and p[0] < x[-1]:
        quality: Quality = "good"
        msg = "oscillation fitted"
    elif r2 > 0.5 and p[0] < 2 * x[-1]:
        quality, msg = "poor", f"weak fit (R²={r2:.2f}, relative error {rel:.1%})"
    else:
        quality, msg = "bad", f"no clear oscillation (R²={r2:.2f})"
    return Fit(
        routine="rabi",
        qubit=qubit,
        values={
            "pi_amplitude_v": float(p[0]),
            "contrast_v": float(2 * p[1]),
            "offset_v": float(p[2]),
        },
        uncertainties={
            "pi_amplitude_v": float(err[0]),
            "contrast_v": float(2 * err[1]),
            "offset_v": float(err[2]),
        },
        quality=quality,
        r_squared=r2,
        message=msg,
        x=tuple(float(v) for v in x),
        y=tuple(float(v) for v in y),
        y_fit=tuple(float(v) for v in model),
    )
