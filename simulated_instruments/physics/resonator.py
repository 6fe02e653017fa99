r"""A resonator coupled to a transmon: its frequency for each qubit level and photon number.

Model (frequencies in Hz, envelopes in volts at the chip)
---------------------------------------------------------
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
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qneko_hw.errors import ConfigError

from .transmon import TransmonParams

__all__ = [
    "DEFAULT_DRIVE_PER_V",
    "PUNCH_OUT_SHARPNESS",
    "ResonatorParams",
    "bare_frequency_hz",
    "checked_envelope",
    "coupling_g2_hz2",
    "critical_photon_number",
    "drive_per_v_for_photons",
    "drive_tone",
    "effective_shifts_hz",
    "lamb_shift_hz",
    "level_frequencies_hz",
    "level_shifts_hz",
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
    return np.asarray(res.frequency_hz + effective_shifts_hz(qubit, res, photons), dtype=np.float64)


def effective_shifts_hz(qubit: TransmonParams, res: ResonatorParams, photons: float) -> FloatArray:
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


def checked_envelope(envelope: ComplexArray, dt_s: float) -> ComplexArray:
    env = np.asarray(envelope, dtype=np.complex128)
    if env.ndim != 1:
        raise ValueError(f"envelope must have shape (N,), got {env.shape}")
    if not dt_s > 0:
        raise ValueError(f"dt_s must be > 0 s, got {dt_s!r}")
    return env


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
    env = checked_envelope(envelope, dt_s)
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
