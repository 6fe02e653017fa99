"""Resonator spectroscopy through the digitizer: sweep the readout tone, fit the resonance.

build → one single-step experiment per frequency (Hz) around the current readout
frequency: set the frame of ``<qubit>.readout`` to it, then measure with the calibrated
readout pulse; the qubit is left in its (thermal) ground state. The points are separate
programs because a digitizer demodulates every sweep step of a program at one frequency
(the compiler takes the demodulator's IF from step 0), so a one-program frame-frequency
sweep would be demodulated at the wrong IF everywhere but at its first point.
analyze → the mean IQ point per frequency is fitted by the complex response of a
driven damped resonator (the integrated field): ``z(f) = c + A·e^{iφ}/(1 + 2i·(f − f_r)/κ)``
(f_r: resonance in Hz, κ: FWHM linewidth in Hz, A, φ, c: scale, phase and background in V),
by least squares on the real and imaginary parts. The window integrates the ring-up too, so
the fitted κ is an effective linewidth, somewhat above the resonator's own.
update → ``readout_frequency_hz`` = f_r (the resonance with the qubit in |0⟩); readout
optimization then moves it to where |0⟩ and |1⟩ separate best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment, Measure, SetFrequency, Sweep

__all__ = ["ResonatorSpectroscopy", "fit_resonance", "resonance_fit", "resonance_model"]


def resonance_model(
    f: NDArray[np.float64], f_r: float, kappa: float, a: complex, c: complex, *, hand: int = 1
) -> NDArray[np.complex128]:
    """Complex response (V): ``c + a/(1 + 2i·h·(f − f_r)/κ)``; f, f_r, κ in Hz.

    ``hand`` h = ±1 is the sense in which the IQ point turns through the resonance (it
    depends on the sign conventions of the up- and down-conversion); the fit tries both.
    """
    return np.asarray(c + a / (1 + 2j * hand * (f - f_r) / kappa), dtype=np.complex128)


def fit_resonance(
    f: NDArray[np.float64], z: NDArray[np.complex128], err: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Fit :func:`resonance_model` to the mean IQ points ``z`` (V) of frequencies ``f`` (Hz).

    Returns:
        (params, sigmas, r²): params = (f_r, κ, Re a, Im a, Re c, Im c, h) in Hz and V.
    """
    fits = [_fit_hand(f, z, err, hand) for hand in (1, -1)]
    return min(fits, key=lambda fit: fit[3])[:3]


def resonance_fit(
    routine: str,
    qubit: str,
    f: NDArray[np.float64],
    z: NDArray[np.complex128],
    *,
    fitted: tuple[NDArray[np.float64], NDArray[np.float64], float],
    noise: float,
    depth: dict[str, float],
) -> Fit:
    """The :class:`Fit` of a resonance fitted by :func:`fit_resonance` (``fitted``: its
    parameters, their standard errors and R²) to the trace ``z(f)`` of noise ``noise``
    (same unit as z): bad if the resonance is not resolved 5 σ deep inside the sweep, poor
    if the fit is weak or wider than the sweep. ``depth``: the depth value(s) to report."""
    p, s, r2 = fitted
    f_r, kappa = float(p[0]), abs(float(p[1]))
    a, c = complex(p[2], p[3]), complex(p[4], p[5])
    quality: Quality
    inside = f.min() + kappa / 2 <= f_r <= f.max() - kappa / 2
    if not (np.all(np.isfinite(s[:2])) and inside) or abs(a) < 5 * noise:
        quality, msg = "bad", f"no resonance in the sweep (depth {abs(a) / noise:.1f} σ)"
    elif r2 < 0.9 or kappa > f.max() - f.min():
        quality, msg = "poor", f"resonance at {f_r / 1e9:.6f} GHz, poor fit (R² {r2:.2f})"
    else:
        quality = "good"
        msg = f"resonance at {f_r / 1e9:.6f} GHz, κ = {kappa / 1e6:.2f} MHz"
    model = resonance_model(f, f_r, float(p[1]), a, c, hand=int(p[6]))
    return Fit(
        routine=routine,
        qubit=qubit,
        values={"resonator_frequency_hz": f_r, "kappa_hz": kappa, **depth},
        uncertainties={"resonator_frequency_hz": float(s[0]), "kappa_hz": float(s[1])},
        quality=quality,
        r_squared=r2,
        message=msg,
        x=tuple(float(v) for v in f),
        y=tuple(float(v) for v in np.abs(z)),
        y_fit=tuple(float(v) for v in np.abs(model)),
    )


def _fit_hand(
    f: NDArray[np.float64], z: NDArray[np.complex128], err: NDArray[np.float64], hand: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float]:
    c0 = complex(np.median(np.concatenate((z[:3], z[-3:]))))
    depth = np.abs(z - c0)
    k = int(np.argmax(depth))
    f_r0 = float(f[k])
    half = f[depth >= depth[k] / math.sqrt(2)]
    kappa0 = max(float(half.max() - half.min()), 2 * float(np.min(np.diff(f))))
    a0 = complex(z[k] - c0)
    scale = max(float(np.abs(z - c0).max()), 1e-30)
    w = 1.0 / np.maximum(err, 1e-30)

    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        m = resonance_model(
            f, f_r0 + p[0] * 1e6, p[1] * 1e6, complex(p[2], p[3]) * scale, 0j, hand=hand
        )
        d = (z - complex(p[4], p[5]) * scale - m) * w
        return np.concatenate((d.real, d.imag))

    p0 = np.array(
        [0.0, kappa0 / 1e6, a0.real / scale, a0.imag / scale, c0.real / scale, c0.imag / scale]
    )
    sol = scipy.optimize.least_squares(resid, p0)
    units = np.array([1e6, 1e6, scale, scale, scale, scale])
    dof = max(2 * f.size - p0.size, 1)
    chi2 = float((sol.fun**2).sum()) / dof
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac) * max(chi2, 1.0)
        sig = np.sqrt(np.clip(np.diag(cov), 0, None)) * units
    except np.linalg.LinAlgError:
        sig = np.full(p0.size, np.inf)
    params = np.append(sol.x * units, hand)
    params[0] += f_r0
    model = resonance_model(
        f,
        params[0],
        params[1],
        complex(params[2], params[3]),
        complex(params[4], params[5]),
        hand=hand,
    )
    ss_res = float((np.abs(z - model) ** 2).sum())
    ss_tot = float((np.abs(z - z.mean()) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 0.0
    return params, sig, r2, float(sol.cost)


@dataclass(frozen=True)
class ResonatorSpectroscopy:
    """Readout-resonator spectroscopy with the digitizer.

    Attributes:
        span_hz: full width of the sweep (Hz), centred on the current readout frequency;
        points: frequencies; shots: shots per frequency.
    """

    span_hz: float = 8e6
    points: int = 41
    shots: int = 200
    name: str = "resonator_spectroscopy"

    def build(self, qubit: str, state: CalibrationState, station: Station) -> list[Experiment]:
        """One experiment per frequency (Hz): set the readout frame, measure."""
        cal = state.qubit(qubit)
        if station.feedline_of(qubit) is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        centre = cal.readout_frequency_hz.value
        freqs = centre + np.linspace(-self.span_hz / 2, self.span_hz / 2, self.points)
        return [
            Experiment(
                name=f"{self.name}_{qubit}",
                instructions=(
                    SetFrequency(channel=f"{qubit}.readout", frequency_hz=float(f)),
                    Measure(qubit=qubit, name=qubit),
                ),
                sweep=Sweep(parameter="frequency_hz", instruction=0, values=(float(f),)),
                shots=self.shots,
            )
            for f in freqs
        ]

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Resonance frequency and linewidth (Hz) from the mean IQ point per frequency."""
        shots = result.shots.get(qubit)
        if shots is None or shots.shape[0] < 7:
            return Fit.failed(self.name, qubit, "fewer than 7 frequencies measured")
        f = np.asarray(result.sweep_values, dtype=np.float64)
        data = np.asarray(shots, dtype=np.complex128)
        z = data.mean(axis=1)
        err = np.sqrt(data.real.var(axis=1) + data.imag.var(axis=1)) / math.sqrt(2 * data.shape[1])
        try:
            p, s, r2 = fit_resonance(f, z, err)
        except (ValueError, RuntimeError) as exc:
            return Fit.failed(self.name, qubit, f"fit failed: {exc}")
        amp = abs(complex(p[2], p[3]))
        noise = float(np.median(err))
        return resonance_fit(
            self.name, qubit, f, z, fitted=(p, s, r2), noise=noise, depth={"depth_v": amp}
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with the readout frequency at the resonance; a bad fit raises."""
        return set_readout_frequency(state, fit, run_id, self.name, "resonator spectroscopy")


def set_readout_frequency(
    state: CalibrationState, fit: Fit, run_id: str, routine: str, label: str
) -> CalibrationState:
    """New state with ``readout_frequency_hz`` at the fitted resonance; a bad fit raises."""
    if fit.quality == "bad":
        raise CalibrationError(
            f"{fit.qubit}: {label} unusable: {fit.message}",
            qubit=fit.qubit,
            routine=routine,
            reason=fit.message,
        )
    return state.with_qubit(
        fit.qubit,
        readout_frequency_hz=CalValue.measured(
            fit.values["resonator_frequency_hz"],
            fit.uncertainties["resonator_frequency_hz"],
            run_id,
        ),
    )
