"""Analysis building blocks: the results of a fit, R², IQ projection, the Rabi fit.

Everything here works from instrument data only (IQ shots and sweep axes).

:class:`Results` is what every routine's pure ``fit`` returns: the fitted values and their
uncertainties (SI units, one standard deviation), the verdict (``good``: use it, ``poor``:
usable with care, ``bad``: do not use) and why, R² of the plotted quantity, the plot as
data (:class:`~qneko_hw.plot.figures.Figure`) and the calibration changes the values imply
(``changes``, filled from the routine's declarative update map). Results are frozen and go
into the run file as JSON, so a run is re-analysed from its file alone.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import ConfigDict, Field

from qneko_hw.config.base import Frozen
from qneko_hw.plot.figures import Figure, fit_panel

__all__ = [
    "Change",
    "Results",
    "Verdict",
    "dense",
    "fit_rabi",
    "project_iq",
    "r_squared",
]

Verdict = Literal["good", "poor", "bad"]

#: Points of the dense grid a fitted model is drawn on.
DENSE_POINTS = 400


class Change(Frozen):
    """A calibration field's new value as a routine's results give it.

    Attributes:
        value, uncertainty: for a calibrated number (SI unit of the field; σ, None unknown).
        samples: for a per-sample field (integration weights): ``(re, im)`` pairs.
    """

    value: float | None = None
    uncertainty: float | None = None
    samples: tuple[tuple[float, float], ...] | None = None


class Results(Frozen):
    """What a routine's fit found.

    Attributes:
        routine, qubit: what was fitted (the routine's name, the qubit).
        verdict: ``good``, ``poor`` or ``bad``; message: why.
        values, uncertainties: fitted and derived quantities, SI units (names carry the
            unit suffix), uncertainties one standard deviation.
        vectors: named vectors (e.g. matched-filter weights), SI units.
        r_squared: coefficient of determination of the fit of the plotted quantity (None:
            nothing was fitted, e.g. a threshold scan).
        applicable: False when the routine did not apply to the qubit (nothing measured).
        changes: calibration field → new value, what ``update`` would write.
        figure: the plot.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    routine: str
    qubit: str
    verdict: Verdict
    message: str = ""
    values: dict[str, float] = Field(default_factory=dict)
    uncertainties: dict[str, float] = Field(default_factory=dict)
    vectors: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    r_squared: float | None = None
    applicable: bool = True
    changes: dict[str, Change] = Field(default_factory=dict)
    figure: Figure | None = None

    @classmethod
    def failed(
        cls, routine: str, qubit: str, message: str, figure: Figure | None = None
    ) -> Results:
        """A ``bad`` result with no values, saying why."""
        return cls(routine=routine, qubit=qubit, verdict="bad", message=message, figure=figure)

    @classmethod
    def not_applicable(cls, routine: str, qubit: str, reason: str) -> Results:
        """The routine does not apply to ``qubit`` (nothing measured, nothing changes)."""
        return cls(
            routine=routine,
            qubit=qubit,
            verdict="good",
            message=f"not applicable: {reason}",
            applicable=False,
        )


def r_squared(y: ArrayLike, model: ArrayLike) -> float:
    """Coefficient of determination ``1 − SS_res/SS_tot`` of ``model`` for the data ``y``
    (same quantity, same points; complex data use ``|·|²``); 0 when ``y`` is constant."""
    yy = np.asarray(y)
    mm = np.asarray(model)
    ss_tot = float((np.abs(yy - yy.mean()) ** 2).sum())
    if ss_tot <= 0:
        return 0.0
    return 1.0 - float((np.abs(yy - mm) ** 2).sum()) / ss_tot


def dense(x: ArrayLike, points: int = DENSE_POINTS) -> NDArray[np.float64]:
    """An evenly spaced grid over the range of ``x``, for drawing a fitted model."""
    xx = np.asarray(x, dtype=np.float64)
    if xx.size == 0:
        return xx
    return np.linspace(float(xx.min()), float(xx.max()), points)


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


def _rabi_model(
    a: NDArray[np.float64], a_pi: float, amp: float, offset: float
) -> NDArray[np.float64]:
    return np.asarray(offset - amp * np.cos(np.pi * a / a_pi), dtype=np.float64)


def fit_rabi(
    routine: str,
    qubit: str,
    amplitudes: NDArray[np.float64],
    signal: NDArray[np.float64],
    sigma: NDArray[np.float64],
    *,
    y_label: str = "projected IQ signal",
    y_unit: str = "V",
) -> Results:
    """Fit ``offset − A·cos(π·a/a_π)`` to an amplitude-Rabi signal; returns ``a_pi`` (V).

    The period is first estimated from the spectrum, then refined by least squares on the
    points up to 1.5 π-amplitudes, where the oscillation is least distorted by leakage.
    ``y_label``/``y_unit`` name the signal on the plot.
    """
    from scipy.optimize import curve_fit

    x = np.asarray(amplitudes, dtype=np.float64)
    y = np.asarray(signal, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)

    def figure(model: NDArray[np.float64] | None, r2: float | None, note: str) -> Figure:
        curve = None if model is None else (dense(x), model)
        panel = fit_panel(
            x,
            y,
            s,
            curve,
            x_label="drive amplitude",
            x_unit="V",
            y_label=y_label,
            y_unit=y_unit,
            r_squared=r2,
            note=note,
        )
        return Figure(panels=(panel,))

    if x.size < 5 or not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        return Results.failed(routine, qubit, "no usable signal", figure(None, None, ""))
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
        return Results.failed(
            routine, qubit, "oscillation fit did not converge", figure(None, None, "")
        )
    p = best[1]
    cov = best[2]
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
            pass
    model = _rabi_model(x, *p)
    r2 = r_squared(y, model)
    err = np.sqrt(np.abs(np.diag(cov)))
    chi2 = float((((y - model) / s) ** 2).sum()) / max(x.size - 3, 1)
    err = err * math.sqrt(max(chi2, 1.0))
    rel = float(err[0] / p[0])
    verdict: Verdict
    if r2 > 0.9 and rel < 0.02 and p[0] < x[-1]:
        verdict, msg = "good", "oscillation fitted"
    elif r2 > 0.5 and p[0] < 2 * x[-1]:
        verdict, msg = "poor", f"weak fit (R²={r2:.2f}, relative error {rel:.1%})"
    else:
        verdict, msg = "bad", f"no clear oscillation (R²={r2:.2f})"
    a_pi, d_pi = float(p[0]), float(err[0])
    return Results(
        routine=routine,
        qubit=qubit,
        verdict=verdict,
        message=msg,
        values={
            "pi_amplitude_v": a_pi,
            "pi_half_amplitude_v": a_pi / 2,
            "contrast_v": float(2 * p[1]),
            "offset_v": float(p[2]),
        },
        uncertainties={
            "pi_amplitude_v": d_pi,
            "pi_half_amplitude_v": d_pi / 2,
            "contrast_v": float(2 * err[1]),
            "offset_v": float(err[2]),
        },
        r_squared=r2,
        figure=figure(
            _rabi_model(dense(x), *p), r2, f"a_π = {a_pi * 1e3:.2f} ± {d_pi * 1e3:.2f} mV"
        ),
    )
