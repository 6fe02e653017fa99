r"""Dispersive readout of one transmon through one resonator on a feedline.

Model (times in s, frequencies in Hz, field α in √photons, envelopes in volts at the chip)
-----------------------------------------------------------------------------------------
With the qubit in level n and a weak drive the resonator sits at ``f_r + S_n`` with
``S_0 = 0``, ``S_1 = 2χ`` and, from the transmon formula (Koch et al. 2007),
``χ_j = g²(j+1)/Δ_j``, ``Δ_j = f_{j,j+1} − f_r = f_q + j·α − f_r``,
``S_n = χ_0 + χ_{n−1} − χ_n`` (``χ_{−1} = 0``); g² is inferred from ``S_1 = 2χ``:
``g² = χ / (1/Δ_0 − 1/Δ_1)``. ``f_r`` is the *dressed* |0⟩ resonance: the bare resonator
sits at ``f_bare = f_r + χ_0`` (``−χ_0 = −g²/Δ_0`` is the Lamb shift of the resonator by
the qubit in |0⟩; with the qubit below the resonator χ_0 < 0 and f_bare < f_r).

Punch-out (strong drive). The dispersive picture holds while the field holds fewer photons
than the critical photon number ``n_crit = (Δ_0/2g)²``; beyond it the qubit is driven out
of its dispersive state (dressed-state hybridisation, measurement-induced transitions,
transmon ionisation) and the resonator responds at its bare frequency (the "bright state"
of the Jaynes–Cummings ladder, Bishop et al. 2010, Reed et al. 2010). The model: every
level's pull from the bare frequency shrinks by one factor ``s``::

    f_n(n̄) = f_bare + (f_r + S_n − f_bare)·s(n̄/n_crit),   s(x) = (1 + x^p)^(−1/p),  p = 12

so ``s ≈ 1`` below n_crit (the resonator is exactly the linear dispersive one: at
n̄ ≤ n_crit/3, 1 − s < 2·10⁻⁷; s = 1 to the last bit for n̄ ≲ 0.046·n_crit; the
transmon-inherited Kerr, ~α·(g/Δ)⁴ ≈ 1 kHz per photon, is neglected as before) and
``s ≈ n_crit/n̄`` above it: the energy the qubit adds to the field, n̄·|pull|, saturates at
the value it reaches at n_crit, ``|χ_0|·n_crit = |Δ_0|/4``, and the resonance moves towards
``f_bare`` — for every qubit level alike, so the |0⟩/|1⟩ contrast collapses. The sharpness
p = 12 is phenomenological: it keeps the response at the readout powers the calibrations
use exactly dispersive and puts the onset at n_crit; the approach to f_bare then takes
~10 dB of power (s = 0.1 at 10·n_crit). The Jaynes–Cummings form ``s = 1/sqrt(1 + x)`` is
not used: its Kerr term (2g⁴/|Δ|³ per photon, ~2|Δ/α| ≈ 10–20× the transmon's) would
already move the resonance by a few 100 kHz at those powers (n̄/n_crit ≈ 0.03–0.9, median
0.12, over random chips at 10 mV on the chip).

``n̄`` is the photon number of the readout pulse *on resonance* (the backbone of the
nonlinear resonator: the peak of the response lies where the drive meets the resonance at
the photon number it then holds), ``n̄ = (2·drive_per_v·a/κ)²``, one value per readout
pulse: ``a`` (V) is the amplitude of the pulse's tone that drives this resonator hardest —
the spectral peak of the envelope (weighted by the resonator's response over the range it
can tune, between f_bare and its dressed lines; on a multiplexed feedline each resonator
picks its own tone), its frequency refined on the phase drift of the demodulated tone, and
``a`` the largest magnitude of the tone's complex amplitude, demodulated and averaged by a
triangular window of length ≈ 1/κ (the resonator's response time). For a constant pulse
``a`` is its amplitude (to ~1e-4 with other tones ≥ 60 MHz away on the feedline). Each
level's resonance ``f_n(n̄)`` is then constant over the readout, so the field below keeps
its closed form per sample. Not modelled: the bending and bistability of the line shape
near n_crit (the response is a Lorentzian about the backbone frequency), photon-number
changes within one pulse (ring-up, ring-down), qubit transitions caused by the readout
(besides T1 decay). A resonator without a tone of its own takes n̄ from the nearest tone on
the feedline (≥ 60 MHz away): an overestimate, harmless as its response to that tone is
~κ/(2·detuning) small either way.

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

import functools
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.signal
import scipy.special
from numpy.typing import NDArray

from qneko_hw.errors import ConfigError

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
        frequency_hz: f_r, the dressed resonance with the qubit in |0> at low power (Hz);
            the bare resonator sits at f_r + g²/Δ_0 (:func:`bare_frequency_hz`).
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


def coupling_g2_hz2(qubit: TransmonParams, res: ResonatorParams) -> float:
    """g² (Hz²) of the transmon formula, from ``S_1 = 2χ``; 0 when χ = 0.

    Raises:
        ConfigError: a transition resonant with the resonator, or χ of the wrong sign for
            the detunings (g² ≤ 0).
    """
    if res.chi_hz == 0.0:
        return 0.0
    # plain floats: the same IEEE operations as the numpy version of level_shifts_hz
    delta = [
        qubit.frequency_hz + float(j) * qubit.anharmonicity_hz - res.frequency_hz
        for j in range(qubit.levels)
    ]
    if any(d == 0.0 for d in delta):
        raise ConfigError("a transmon transition is resonant with the resonator", field="chi_hz")
    inv0, inv1 = 1.0 / delta[0], 1.0 / delta[1]
    g2 = res.chi_hz / (inv0 - inv1) if inv0 != inv1 else math.nan
    if not g2 > 0:
        raise ConfigError(
            f"chi = {res.chi_hz!r} Hz is inconsistent with the transmon formula for "
            f"f_q = {qubit.frequency_hz!r} Hz, alpha = {qubit.anharmonicity_hz!r} Hz, "
            f"f_r = {res.frequency_hz!r} Hz (g² = {g2!r} Hz²)",
            field="chi_hz",
        )
    return float(g2)


def level_shifts_hz(qubit: TransmonParams, res: ResonatorParams) -> FloatArray:
    """Low-power resonator frequency shift S_n (Hz) for each qubit level n, shape (levels,)."""
    d = qubit.levels
    shifts = np.zeros(d)
    g2 = coupling_g2_hz2(qubit, res)
    if g2 == 0.0:
        return shifts
    j = np.arange(d, dtype=np.float64)
    inv = 1.0 / (qubit.frequency_hz + j * qubit.anharmonicity_hz - res.frequency_hz)
    chi = g2 * (j + 1.0) * inv
    chi_prev = np.concatenate(([0.0], chi[:-1]))
    shifts = np.asarray(chi[0] + chi_prev - chi, dtype=np.float64)
    shifts[0] = 0.0
    shifts[1] = 2.0 * res.chi_hz
    return shifts


def lamb_shift_hz(qubit: TransmonParams, res: ResonatorParams) -> float:
    """χ_0 = g²/Δ_0 (Hz): the bare resonator sits at ``f_r + χ_0`` (0 when χ = 0)."""
    g2 = coupling_g2_hz2(qubit, res)
    return 0.0 if g2 == 0.0 else g2 / (qubit.frequency_hz - res.frequency_hz)


def bare_frequency_hz(qubit: TransmonParams, res: ResonatorParams) -> float:
    """f_bare = f_r + χ_0 (Hz): where the resonator responds when punched out."""
    return res.frequency_hz + lamb_shift_hz(qubit, res)


def critical_photon_number(qubit: TransmonParams, res: ResonatorParams) -> float:
    """n_crit = (Δ_0/2g)² (photons); infinite when χ = 0 (no coupling)."""
    g2 = coupling_g2_hz2(qubit, res)
    if g2 == 0.0:
        return math.inf
    return (qubit.frequency_hz - res.frequency_hz) ** 2 / (4.0 * g2)


#: Sharpness p of the punch-out knee s(x) = (1 + x^p)^(−1/p), x = n̄/n_crit.
PUNCH_OUT_SHARPNESS = 12.0


def pull_factor(photons: float, n_crit: float) -> float:
    """s(n̄/n_crit) = (1 + x^p)^(−1/p): the fraction of the dispersive pull left at n̄.

    Exactly 1 where x^p is below the float resolution (x ≲ 0.046), ≈ 1/x for x ≫ 1.
    """
    if not photons > 0 or not n_crit < math.inf:
        return 1.0
    log_xp = PUNCH_OUT_SHARPNESS * math.log(photons / n_crit)
    return math.exp(-float(np.logaddexp(0.0, log_xp)) / PUNCH_OUT_SHARPNESS)


def level_frequencies_hz(
    qubit: TransmonParams, res: ResonatorParams, photons: float = 0.0
) -> FloatArray:
    """Resonance f_n(n̄) (Hz) for each qubit level at ``photons`` n̄, shape (levels,).

    ``f_r + S_n`` at low power, → f_bare above n_crit (see the module docstring).
    """
    return np.asarray(res.frequency_hz + _effective_shifts(qubit, res, photons), dtype=np.float64)


def _effective_shifts(qubit: TransmonParams, res: ResonatorParams, photons: float) -> FloatArray:
    """f_n(n̄) − f_r (Hz); bit-identical to :func:`level_shifts_hz` where s(n̄) = 1."""
    shifts = level_shifts_hz(qubit, res)
    s = pull_factor(photons, critical_photon_number(qubit, res))
    if s == 1.0:
        return shifts
    return np.asarray(shifts - (1.0 - s) * (shifts - lamb_shift_hz(qubit, res)), np.float64)


def _triangle(x: ComplexArray, h: int) -> ComplexArray:
    """Moving average of x by a triangular window (two boxcars of h samples), 'valid' part."""
    y = np.asarray(x, dtype=np.complex128)
    for _ in range(2):
        c = np.concatenate(([0.0 + 0.0j], np.cumsum(y)))
        y = np.asarray((c[h:] - c[:-h]) / h, dtype=np.complex128)
    return y


def drive_tone(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
) -> tuple[float, float]:
    """(frequency Hz, amplitude V) of the envelope's tone that drives this resonator hardest.

    The spectral peak of the envelope's nonzero stretch (zero-padded FFT) weighted by
    ``1/((κ/2)² + d²)``, d the distance of the tone from the range the resonator can tune
    over (between f_bare and its dressed lines), refined on the discrete-time Fourier
    transform (one step on the phase drift of the demodulated, smoothed tone); the amplitude
    is the largest magnitude of the tone demodulated and averaged by a triangular window of
    length ≈ 1/κ (the pulse's amplitude for a constant pulse).
    (0, 0) for an empty envelope.
    """
    env = _envelope(envelope, dt_s)
    nonzero = np.flatnonzero(env)
    if nonzero.size == 0:
        return 0.0, 0.0
    seg = np.ascontiguousarray(env[nonzero[0] : nonzero[-1] + 1])
    lines = np.concatenate((level_frequencies_hz(qubit, res), [bare_frequency_hz(qubit, res)]))
    return _tone_of(
        seg.tobytes(),
        dt_s,
        frame_frequency_hz,
        kappa_hz=res.kappa_hz,
        low_hz=float(lines.min()),
        high_hz=float(lines.max()),
    )


@functools.lru_cache(maxsize=64)
def _tone_of(
    data: bytes, dt_s: float, frame_hz: float, *, kappa_hz: float, low_hz: float, high_hz: float
) -> tuple[float, float]:
    """:func:`drive_tone` of the nonzero stretch ``data`` (complex128 bytes); cached, as a
    program's steps and a feedline's windows repeat the same readout pulse."""
    seg = np.frombuffer(data, dtype=np.complex128)
    n = seg.size
    m = 1 << max(4, math.ceil(math.log2(4 * n)))
    spectrum = np.abs(np.fft.fft(seg, m)) ** 2
    # a tone exp(−i2π ν t) peaks at FFT frequency −ν; it drives at f_frame + ν
    nu = -np.fft.fftfreq(m, dt_s)
    f_abs = frame_hz + nu
    outside = np.maximum(np.maximum(low_hz - f_abs, f_abs - high_hz), 0.0)
    k = int(np.argmax(spectrum / ((kappa_hz / 2.0) ** 2 + outside**2)))
    t = np.arange(n, dtype=np.float64) * dt_s
    # triangular window of length ≈ 1/κ: two boxcars of h samples
    h = max(1, min(math.ceil(0.5 / (kappa_hz * dt_s)), (n + 1) // 2))
    tone = float(nu[k])
    smooth = _triangle(seg * np.exp(2j * np.pi * tone * t), h)
    if smooth.size > 1:
        # the smoothed tone turns by −2π·(ν − ν_k)·dt per sample: one correction step
        turn = np.sum(smooth[1:] * np.conj(smooth[:-1]))
        if turn != 0:
            tone -= float(np.angle(turn)) / (2.0 * np.pi * dt_s)
            smooth = _triangle(seg * np.exp(2j * np.pi * tone * t), h)
    return frame_hz + tone, float(np.max(np.abs(smooth)))


def resonant_photons(
    qubit: TransmonParams,
    res: ResonatorParams,
    envelope: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
) -> float:
    """n̄ = (2·drive_per_v·a/κ)²: photons the pulse's tone (see :func:`drive_tone`) holds on
    resonance; the photon number that sets the resonance f_n(n̄) for the whole readout."""
    _, amplitude = drive_tone(qubit, res, envelope, dt_s, frame_frequency_hz)
    return (2.0 * res.drive_per_v * amplitude / res.kappa_hz) ** 2


def _decay_rates(
    qubit: TransmonParams,
    res: ResonatorParams,
    frame_frequency_hz: float,
    photons: float = 0.0,
) -> ComplexArray:
    """λ_n = π·κ + i·2π·(f_n(n̄) − f_frame) (1/s), shape (levels,)."""
    detuning = res.frequency_hz + _effective_shifts(qubit, res, photons) - frame_frequency_hz
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
    """Point fields (d, N+1), averaged fields (d, N), φ (d,), λ (d,) for every level.

    λ_n at the pulse's photon number (:func:`resonant_photons`), constant over the readout.
    """
    env = _envelope(envelope, dt_s)
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
    env = _envelope(envelope, dt_s)
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
    if decay and qubit.gamma_1_per_s > 0 and np.any(excited):
        scale = 1.0 / (qubit.gamma_1_per_s * levels[excited])
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
