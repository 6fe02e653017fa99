r"""Dispersive readout of one transmon through one resonator on a feedline.

Model (times in s, frequencies in Hz, field α in √photons, envelopes in volts at the chip)
-----------------------------------------------------------------------------------------
With the qubit in level n the resonator sits at ``f_r + S_n`` with ``S_0 = 0``,
``S_1 = 2χ`` and, from the transmon formula (Koch et al. 2007),
``χ_j = g²(j+1)/Δ_j``, ``Δ_j = f_{j,j+1} − f_r = f_q + j·α − f_r``,
``S_n = χ_0 + χ_{n−1} − χ_n`` (``χ_{−1} = 0``); g² is inferred from ``S_1 = 2χ``:
``g² = χ / (1/Δ_0 − 1/Δ_1)``.

In the frame of the readout LO (``frame_frequency_hz``) the intra-resonator field obeys::

    dα/dt = −(π·κ + i·2π·(f_r + S_n − f_frame))·α + ε(t),   ε(t) = 2π·drive_per_v·z_ro(t)

(``κ`` = ``kappa_hz`` is the FWHM linewidth; ``z_ro`` is the complex readout envelope,
constant per sample, with the IF in it: a tone at f_frame + f_if is ``exp(−i2π f_if t)``).
Each sample is solved exactly (linear ODE with a constant source); the resonator is empty
at the first sample. A resonant drive of amplitude A gives ``n̄ = (2·drive_per_v·A/κ)²``
photons in steady state.

The digitizer sees ``s(t) = output_gain_v·sqrt(2π·κ)·α(t)`` (V), the sample value being
the field averaged over the sample. Integration over a window of L samples starting at
``start_sample``::

    I = (1/L)·Σ_{k in window} w[k]·s(t_k)·exp(+i·2π·f_demod·t_k),    t_k = k·dt

and white noise of amplitude spectral density ``noise_v_per_sqrt_hz`` in each quadrature
adds a Gaussian of standard deviation ``noise_v_per_sqrt_hz·rms(w)/sqrt(L·dt)`` per
quadrature (rms(w) = 1 for unit weights).

Decay during readout: a shot starting in level m ≥ 1 jumps to m − 1 at a time drawn from
Exp(T1/m) (at most one jump), rounded to the sample grid; after the jump the field is the
new level's trace plus the difference of the two traces at the jump time, decaying with
the new level's rate. Every jump time's integrated value is tabulated exactly (prefix and
suffix sums), so shots cost one table look-up each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.special
from numpy.typing import NDArray

from qneko_hw.errors import ConfigError

from .transmon import TransmonParams

__all__ = [
    "ResonatorParams",
    "assignment_fidelity_truth",
    "drive_per_v_for_photons",
    "integrate_shots",
    "integration_noise_std_v",
    "level_shifts_hz",
    "mean_integrated",
    "mean_traces",
    "noise",
]

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]

#: Default drive_per_v: 10 photons at |z_ro| = 10 mV, resonant, for κ/2π = 2 MHz.
DEFAULT_DRIVE_PER_V = math.sqrt(10.0) * 2e6 / (2.0 * 0.01)


def drive_per_v_for_photons(kappa_hz: float, photons: float, amplitude_v: float) -> float:
    """drive_per_v (1/(s·V)·√photons/2π) giving ``photons`` in steady state at resonance.

    ``n̄ = (2·drive_per_v·A/κ)²`` for a resonant drive of amplitude ``amplitude_v`` (V).
    """
    return math.sqrt(photons) * kappa_hz / (2.0 * amplitude_v)


@dataclass(frozen=True)
class ResonatorParams:
    """One readout resonator.

    Attributes:
        frequency_hz: f_r with the qubit in |0> (Hz).
        kappa_hz: linewidth κ/2π, FWHM (Hz).
        chi_hz: dispersive shift χ/2π (Hz): f_r(|1>) − f_r(|0>) = 2χ; typically < 0.
        drive_per_v: ε = 2π·drive_per_v·z_ro (√photons/s per V, divided by 2π); the
            default gives 10 photons at 10 mV, resonant, for κ/2π = 2 MHz.
        output_gain_v: digitizer volts per √(photon/s) of output field:
            s(t) = output_gain_v·sqrt(2π·κ)·α(t).
        noise_v_per_sqrt_hz: white-noise amplitude spectral density at the digitizer, per
            quadrature (V/√Hz).
    """

    frequency_hz: float
    kappa_hz: float
    chi_hz: float
    drive_per_v: float = DEFAULT_DRIVE_PER_V
    output_gain_v: float = 1e-6
    noise_v_per_sqrt_hz: float = 2.5e-6

    def __post_init__(self) -> None:
        for name in ("frequency_hz", "chi_hz", "drive_per_v", "output_gain_v"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"must be finite, got {getattr(self, name)!r}", field=name)
        if not self.kappa_hz > 0:
            raise ConfigError(f"kappa must be > 0 Hz, got {self.kappa_hz!r}", field="kappa_hz")
        if not self.noise_v_per_sqrt_hz >= 0:
            raise ConfigError(
                f"noise must be >= 0 V/√Hz, got {self.noise_v_per_sqrt_hz!r}",
                field="noise_v_per_sqrt_hz",
            )


def level_shifts_hz(qubit: TransmonParams, res: ResonatorParams) -> FloatArray:
    """Resonator frequency shift S_n (Hz) for each qubit level n, shape (levels,)."""
    d = qubit.levels
    shifts = np.zeros(d)
    if res.chi_hz == 0.0:
        return shifts
    j = np.arange(d, dtype=np.float64)
    delta = qubit.frequency_hz + j * qubit.anharmonicity_hz - res.frequency_hz
    if np.any(delta == 0.0):
        raise ConfigError("a transmon transition is resonant with the resonator", field="chi_hz")
    inv = 1.0 / delta
    g2 = res.chi_hz / (inv[0] - inv[1]) if inv[0] != inv[1] else math.nan
    if not g2 > 0:
        raise ConfigError(
            f"chi = {res.chi_hz!r} Hz is inconsistent with the transmon formula for "
            f"f_q = {qubit.frequency_hz!r} Hz, alpha = {qubit.anharmonicity_hz!r} Hz, "
            f"f_r = {res.frequency_hz!r} Hz (g² = {g2!r} Hz²)",
            field="chi_hz",
        )
    chi = g2 * (j + 1.0) * inv
    chi_prev = np.concatenate(([0.0], chi[:-1]))
    shifts = np.asarray(chi[0] + chi_prev - chi, dtype=np.float64)
    shifts[0] = 0.0
    shifts[1] = 2.0 * res.chi_hz
    return shifts


def _decay_rates(
    qubit: TransmonParams, res: ResonatorParams, frame_frequency_hz: float
) -> ComplexArray:
    """λ_n = π·κ + i·2π·(f_r + S_n − f_frame) (1/s), shape (levels,)."""
    detuning = res.frequency_hz + level_shifts_hz(qubit, res) - frame_frequency_hz
    return np.asarray(np.pi * res.kappa_hz + 2j * np.pi * detuning, dtype=np.complex128)


def _fields(
    lam: complex, eps: ComplexArray, dt_s: float
) -> tuple[ComplexArray, ComplexArray, complex]:
    """Exact per-sample solution of dα/dt = −λα + ε.

    Returns the field at the sample boundaries (N+1,), its average over each sample (N,),
    and the factor φ = (1 − e^{−λdt})/(λdt) that averages a free decay over a sample.
    """
    decay = complex(np.exp(-lam * dt_s))
    gain = (1.0 - decay) / lam
    phi = gain / dt_s
    ends = scipy.signal.lfilter([gain], [1.0, -decay], eps)
    points = np.concatenate(([0.0 + 0.0j], ends)).astype(np.complex128)
    source = eps / lam
    averages = source + (points[:-1] - source) * phi
    return points, averages.astype(np.complex128), phi


def _envelope(envelope: ComplexArray, dt_s: float) -> ComplexArray:
    env = np.asarray(envelope, dtype=np.complex128)
    if env.ndim != 1:
        raise ValueError(f"envelope must have shape (N,), got {env.shape}")
    if not dt_s > 0:
        raise ValueError(f"dt_s must be > 0 s, got {dt_s!r}")
    return env


def _all_fields(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
) -> tuple[ComplexArray, ComplexArray, ComplexArray, ComplexArray]:
    """Point fields (d, N+1), averaged fields (d, N), φ (d,), λ (d,) for every level."""
    env = _envelope(envelope, dt_s)
    eps = 2.0 * np.pi * res.drive_per_v * env
    lams = _decay_rates(qubit, res, frame_frequency_hz)
    d = qubit.levels
    points = np.empty((d, env.size + 1), dtype=np.complex128)
    averages = np.empty((d, env.size), dtype=np.complex128)
    phis = np.empty(d, dtype=np.complex128)
    for n in range(d):
        points[n], averages[n], phis[n] = _fields(complex(lams[n]), eps, dt_s)
    return points, averages, phis, lams


def _signal_gain(res: ResonatorParams) -> float:
    return res.output_gain_v * math.sqrt(2.0 * np.pi * res.kappa_hz)


def mean_traces(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
) -> ComplexArray:
    """Noise-free digitizer baseband traces s_n (V) with the qubit held in level n.

    Args:
        qubit: the transmon (levels, frequency, anharmonicity set the shifts).
        res: the resonator.
        envelope: (N,) complex readout envelope (V at the chip), one sample per ``dt_s``.
        dt_s: sample duration (s).
        frame_frequency_hz: readout LO frequency (Hz).

    Returns:
        (levels, N) complex: the field averaged over each sample times the output gain.
    """
    _, averages, _, _ = _all_fields(qubit, res, envelope, dt_s, frame_frequency_hz)
    return _signal_gain(res) * averages


def _window_weights(
    weights: ComplexArray, n: int, start_sample: int, length_samples: int, demod: ComplexArray
) -> ComplexArray:
    """g_k = w_k·exp(i2π f_d t_k)/L on the window, 0 elsewhere, shape (N,)."""
    if length_samples < 1 or start_sample < 0 or start_sample + length_samples > n:
        raise ValueError(
            f"window [{start_sample}, {start_sample + length_samples}) is not inside the "
            f"{n}-sample readout"
        )
    w = np.asarray(weights, dtype=np.complex128)
    full = np.zeros(n, dtype=np.complex128)
    window = slice(start_sample, start_sample + length_samples)
    if w.shape == (length_samples,):
        full[window] = w
    elif w.shape == (n,):
        full[window] = w[window]
    else:
        raise ValueError(f"weights must have shape ({length_samples},) or ({n},), got {w.shape}")
    return full * demod / length_samples


def _demod(n: int, dt_s: float, demod_frequency_hz: float) -> ComplexArray:
    return np.asarray(np.exp(2j * np.pi * demod_frequency_hz * dt_s * np.arange(n)), np.complex128)


def mean_integrated(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
    *,
    weights: ComplexArray,
    start_sample: int,
    length_samples: int,
    demod_frequency_hz: float,
) -> ComplexArray:
    """Noise-free integrated IQ point (V) for the qubit held in each level, shape (levels,).

    Arguments as in :func:`integrate_shots`.
    """
    traces = mean_traces(qubit, res, envelope, dt_s, frame_frequency_hz)
    g: ComplexArray = _window_weights(
        weights,
        traces.shape[1],
        start_sample,
        length_samples,
        _demod(traces.shape[1], dt_s, demod_frequency_hz),
    )
    return np.asarray(traces @ g, dtype=np.complex128)


def _jump_tables(
    qubit: TransmonParams,
    res: ResonatorParams,
    *,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
    g: ComplexArray,
) -> ComplexArray:
    """Integrated value for a shot starting in level m and jumping to m−1 at sample j.

    Returns (levels, N+1): row m, column j (j = N: no jump during the readout). Row 0 is
    constant (no decay from the ground state).
    """
    points, averages, phis, lams = _all_fields(qubit, res, envelope, dt_s, frame_frequency_hz)
    gain = _signal_gain(res)
    d, n = averages.shape
    contrib = gain * averages * g  # (d, N): g_k·s_m(k)
    prefix = np.zeros((d, n + 1), dtype=np.complex128)
    prefix[:, 1:] = np.cumsum(contrib, axis=1)
    suffix = prefix[:, -1:] - prefix  # Σ_{k ≥ j}
    table = np.empty((d, n + 1), dtype=np.complex128)
    table[0] = prefix[0, -1]
    for m in range(1, d):
        lower = m - 1
        decay = complex(np.exp(-lams[lower] * dt_s))
        # C[j] = Σ_{k ≥ j} g_k·gain·φ·e^{−λ(k−j)dt}: backward first-order recursion.
        c_rev = scipy.signal.lfilter([gain * phis[lower]], [1.0, -decay], g[::-1])
        c = np.concatenate((c_rev[::-1], [0.0]))
        jump = points[m] - points[lower]
        table[m] = prefix[m] + suffix[lower] + jump * c
    return table


def integration_noise_std_v(
    noise_v_per_sqrt_hz: float, window_s: float, weights: ComplexArray | None = None
) -> float:
    """Std (V) per quadrature of white noise averaged over ``window_s`` with weights.

    ``noise_v_per_sqrt_hz·rms(weights)/sqrt(window_s)``; rms = 1 without weights.
    """
    rms = 1.0 if weights is None else float(np.sqrt(np.mean(np.abs(weights) ** 2)))
    return noise_v_per_sqrt_hz * rms / math.sqrt(window_s)


def noise(rng: np.random.Generator, shape: tuple[int, ...], std_v: float) -> ComplexArray:
    """Complex white Gaussian noise, std ``std_v`` (V) in each quadrature."""
    return (rng.normal(0.0, std_v, shape) + 1j * rng.normal(0.0, std_v, shape)).astype(
        np.complex128
    )


def integrate_shots(
    rng: np.random.Generator,
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    *,
    frame_frequency_hz: float,
    level_samples: NDArray[np.integer],
    weights: ComplexArray,
    start_sample: int,
    length_samples: int,
    demod_frequency_hz: float,
    add_noise: bool = True,
    decay: bool = True,
) -> ComplexArray:
    """Integrated IQ value (V) of every shot.

    Args:
        rng: random generator (jump times, noise).
        qubit: the transmon.
        res: the resonator.
        envelope: (N,) complex readout envelope (V at the chip), one sample per ``dt_s``.
        dt_s: sample duration (s).
        frame_frequency_hz: readout LO frequency (Hz).
        level_samples: (S,) int, the qubit level at the start of the readout per shot.
        weights: integration weights, (length_samples,) over the window or (N,) over the
            whole readout (only the window is used).
        start_sample: first sample of the integration window.
        length_samples: window length L (samples).
        demod_frequency_hz: digital demodulation frequency (Hz), phase exp(+i2π f t_k).
        add_noise: add the white noise of this resonator's chain; a caller summing several
            resonators on one feedline passes False and adds :func:`noise` once.
        decay: let excited shots decay (one jump m → m−1 at a time drawn from Exp(T1/m)).

    Returns:
        (S,) complex128 integrated values, ``(1/L)·Σ w[k]·s(t_k)·exp(+i2π f_demod t_k)``.
    """
    env = _envelope(envelope, dt_s)
    n = env.size
    levels = np.asarray(level_samples)
    if levels.ndim != 1:
        raise ValueError(f"level_samples must have shape (S,), got {levels.shape}")
    if levels.size and (levels.min() < 0 or levels.max() >= qubit.levels):
        raise ValueError(f"level_samples must be in [0, {qubit.levels})")
    g = _window_weights(
        weights, n, start_sample, length_samples, _demod(n, dt_s, demod_frequency_hz)
    )
    table = _jump_tables(
        qubit, res, envelope=env, dt_s=dt_s, frame_frequency_hz=frame_frequency_hz, g=g
    )
    jump_at = np.full(levels.shape, n, dtype=np.int64)
    excited = levels > 0
    if decay and qubit.gamma_1_per_s > 0 and np.any(excited):
        scale = 1.0 / (qubit.gamma_1_per_s * levels[excited])
        times = rng.exponential(scale)
        jump_at[excited] = np.minimum(np.rint(times / dt_s), n).astype(np.int64)
    values = table[levels, jump_at]
    if add_noise:
        window_g = g[start_sample : start_sample + length_samples] * length_samples
        std = integration_noise_std_v(res.noise_v_per_sqrt_hz, length_samples * dt_s, window_g)
        values = values + noise(rng, values.shape, std)
    return np.asarray(values, dtype=np.complex128)


def assignment_fidelity_truth(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
    *,
    weights: ComplexArray,
    start_sample: int,
    length_samples: int,
    demod_frequency_hz: float,
) -> float:
    """Best threshold assignment fidelity between |0> and |1>, without decay (for tests).

    ``F = 1 − ½·erfc(|I_0 − I_1| / (2·sqrt(2)·σ))`` with σ the noise std per quadrature.
    """
    points = mean_integrated(
        qubit,
        res,
        envelope,
        dt_s,
        frame_frequency_hz,
        weights=weights,
        start_sample=start_sample,
        length_samples=length_samples,
        demod_frequency_hz=demod_frequency_hz,
    )
    w = np.asarray(weights, dtype=np.complex128)
    window_w = (
        w if w.shape == (length_samples,) else w[start_sample : start_sample + length_samples]
    )
    sigma = integration_noise_std_v(res.noise_v_per_sqrt_hz, length_samples * dt_s, window_w)
    separation = float(abs(points[0] - points[1]))
    if sigma == 0.0:
        return 1.0
    return float(1.0 - 0.5 * scipy.special.erfc(separation / (2.0 * math.sqrt(2.0) * sigma)))
