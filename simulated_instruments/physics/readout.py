r"""Dispersive readout of one transmon through one resonator on a feedline.

Model (times in s, frequencies in Hz, field α in √photons, envelopes in volts at the chip)
-----------------------------------------------------------------------------------------
Each level n of the qubit puts the resonator at ``f_n(n̄)``: the dispersive shifts and the
punch-out at high photon number n̄ are in :mod:`.resonator`.

In the frame of the readout LO (``frame_frequency_hz``) the intra-resonator field obeys::

    dα/dt = −(π·κ + i·2π·(f_n(n̄) − f_frame))·α + ε(t),   ε(t) = 2π·drive_per_v·z_ro(t)

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
suffix sums), so shots cost one table look-up each. Several integration windows of one
readout (multiplexed demodulators) share the traces and each shot's jump time:
:func:`integrate_shots_windows`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.signal
import scipy.special
from numpy.typing import NDArray

from .resonator import (
    PUNCH_OUT_SHARPNESS,
    ResonatorParams,
    bare_frequency_hz,
    checked_envelope,
    coupling_g2_hz2,
    critical_photon_number,
    drive_per_v_for_photons,
    drive_tone,
    effective_shifts_hz,
    lamb_shift_hz,
    level_frequencies_hz,
    level_shifts_hz,
    pull_factor,
    resonant_photons,
)
from .transmon import TransmonParams

__all__ = [
    "PUNCH_OUT_SHARPNESS",
    "ReadoutWindow",
    "ResonatorParams",
    "assignment_fidelity_truth",
    "bare_frequency_hz",
    "coupling_g2_hz2",
    "critical_photon_number",
    "drive_per_v_for_photons",
    "drive_tone",
    "integrate_shots",
    "integrate_shots_windows",
    "integration_noise_std_v",
    "lamb_shift_hz",
    "level_frequencies_hz",
    "level_shifts_hz",
    "mean_integrated",
    "mean_traces",
    "noise",
    "pull_factor",
    "resonant_photons",
]

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]


def _decay_rates(
    qubit: TransmonParams,
    res: ResonatorParams,
    frame_frequency_hz: float,
    photons: float = 0.0,
) -> ComplexArray:
    """λ_n = π·κ + i·2π·(f_n(n̄) − f_frame) (1/s), shape (levels,)."""
    detuning = res.frequency_hz + effective_shifts_hz(qubit, res, photons) - frame_frequency_hz
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


def _all_fields(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
) -> tuple[ComplexArray, ComplexArray, ComplexArray, ComplexArray]:
    """Point fields (d, N+1), averaged fields (d, N), φ (d,), λ (d,) for every level.

    λ_n at the pulse's photon number (:func:`resonant_photons`), constant over the readout.
    """
    env = checked_envelope(envelope, dt_s)
    eps = 2.0 * np.pi * res.drive_per_v * env
    photons = resonant_photons(qubit, res, env, dt_s, frame_frequency_hz)
    lams = _decay_rates(qubit, res, frame_frequency_hz, photons)
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
    fields = _all_fields(qubit, res, envelope, dt_s, frame_frequency_hz)
    return _table(fields, _signal_gain(res), dt_s, g)


def _table(
    fields: tuple[ComplexArray, ComplexArray, ComplexArray, ComplexArray],
    gain: float,
    dt_s: float,
    g: ComplexArray,
) -> ComplexArray:
    """:func:`_jump_tables` from the fields of :func:`_all_fields` and window weights g."""
    points, averages, phis, lams = fields
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


class ReadoutWindow(NamedTuple):
    """One integration window (demodulator) of a readout.

    Attributes:
        weights: integration weights, (length_samples,) over the window or (N,) over the
            whole readout (only the window is used).
        start_sample: first sample of the window.
        length_samples: window length L (samples).
        demod_frequency_hz: digital demodulation frequency (Hz), phase exp(+i2π f t_k).
    """

    weights: ComplexArray
    start_sample: int
    length_samples: int
    demod_frequency_hz: float


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
        Same values and random draws as :func:`integrate_shots_windows` with this one
        window.
    """
    window = ReadoutWindow(weights, start_sample, length_samples, demod_frequency_hz)
    values = integrate_shots_windows(
        rng,
        qubit,
        res,
        envelope,
        dt_s,
        frame_frequency_hz=frame_frequency_hz,
        level_samples=level_samples,
        windows=[window],
        add_noise=add_noise,
        decay=decay,
    )
    return np.asarray(values[:, 0], dtype=np.complex128)


class _TableCache:
    """Jump tables of recent (qubit, resonator, readout envelope, frame, windows), by content.

    Every sweep step of a program usually plays the same readout pulse; its traces and
    tables are computed once and only the shots' levels and jump times differ per step.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._store: OrderedDict[str, tuple[list[ComplexArray], list[ComplexArray]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        qubit: TransmonParams,
        res: ResonatorParams,
        env: ComplexArray,
        dt_s: float,
        *,
        frame_frequency_hz: float,
        windows: Sequence[ReadoutWindow],
    ) -> tuple[list[ComplexArray], list[ComplexArray]]:
        """(window weights g, jump tables), one per window."""
        digest = hashlib.sha256(repr((qubit, res, float(dt_s), float(frame_frequency_hz))).encode())
        digest.update(np.ascontiguousarray(env).tobytes())
        for w in windows:
            digest.update(repr((int(w.start_sample), int(w.length_samples))).encode())
            digest.update(repr(float(w.demod_frequency_hz)).encode())
            digest.update(np.ascontiguousarray(w.weights, dtype=np.complex128).tobytes())
        key = digest.hexdigest()
        with self._lock:
            found = self._store.get(key)
            if found is not None:
                self._store.move_to_end(key)
                return found
        n = env.size
        demods: dict[float, ComplexArray] = {}
        gs = []
        for w in windows:
            f_demod = float(w.demod_frequency_hz)
            if f_demod not in demods:
                demods[f_demod] = _demod(n, dt_s, f_demod)
            gs.append(
                _window_weights(
                    w.weights, n, int(w.start_sample), int(w.length_samples), demods[f_demod]
                )
            )
        fields = _all_fields(qubit, res, env, dt_s, frame_frequency_hz)
        gain = _signal_gain(res)
        tables = [_table(fields, gain, dt_s, g) for g in gs]
        for t in (*gs, *tables):
            t.setflags(write=False)
        with self._lock:
            self._store[key] = (gs, tables)
            while len(self._store) > self.maxsize:
                self._store.popitem(last=False)
        return gs, tables


_TABLES = _TableCache()


def integrate_shots_windows(
    rng: np.random.Generator,
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    *,
    frame_frequency_hz: float,
    level_samples: NDArray[np.integer],
    windows: Sequence[ReadoutWindow | tuple[ComplexArray, int, int, float]],
    add_noise: bool = True,
    decay: bool = True,
) -> ComplexArray:
    """Integrated IQ value (V) of every shot in each of several windows of one readout.

    The resonator fields (one trace per level) are computed once and every window is
    integrated from them; each shot has one decay time, shared by all windows.

    Random draws, in this order: the jump times (one ``rng.exponential`` call for the
    excited shots, if ``decay``), then, if ``add_noise``, one :func:`noise` call per window
    in the order of ``windows``. So the result for a single window equals
    :func:`integrate_shots` with the same generator state, and column k equals
    :func:`integrate_shots` for window k alone whenever the jump times agree (no noise, or
    no decay, or the same generator state with ``add_noise=False``).

    Args:
        rng, qubit, res, envelope, dt_s, frame_frequency_hz, level_samples, add_noise,
        decay: as in :func:`integrate_shots`.
        windows: the windows, each a :class:`ReadoutWindow` or a tuple
            ``(weights, start_sample, length_samples, demod_frequency_hz)``.

    Returns:
        (S, len(windows)) complex128 integrated values.
    """
    env = checked_envelope(envelope, dt_s)
    n = env.size
    levels = np.asarray(level_samples)
    if levels.ndim != 1:
        raise ValueError(f"level_samples must have shape (S,), got {levels.shape}")
    if levels.size and (levels.min() < 0 or levels.max() >= qubit.levels):
        raise ValueError(f"level_samples must be in [0, {qubit.levels})")
    wins = [ReadoutWindow(*w) for w in windows]
    out = np.empty((levels.size, len(wins)), dtype=np.complex128)
    if not wins:
        return out
    gs, tables = _TABLES.get(
        qubit, res, env, dt_s, frame_frequency_hz=frame_frequency_hz, windows=wins
    )
    jump_at = np.full(levels.shape, n, dtype=np.int64)
    excited = levels > 0
    if decay and qubit.gamma_down_per_s > 0 and np.any(excited):
        scale = 1.0 / (qubit.gamma_down_per_s * levels[excited])
        times = rng.exponential(scale)
        jump_at[excited] = np.minimum(np.rint(times / dt_s), n).astype(np.int64)
    for k, (w, g, table) in enumerate(zip(wins, gs, tables, strict=True)):
        values = table[levels, jump_at]
        if add_noise:
            start, length = int(w.start_sample), int(w.length_samples)
            window_g = g[start : start + length] * length
            std = integration_noise_std_v(res.noise_v_per_sqrt_hz, length * dt_s, window_g)
            values = values + noise(rng, values.shape, std)
        out[:, k] = values
    return out


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
