r"""Transmon model: a driven, damped Duffing oscillator, batched over sweep points.

Model (ħ = 1, energies in rad/s, times in s, frequencies in Hz, drive in volts at the chip)
------------------------------------------------------------------------------------------
In a frame rotating at ``frame_frequency_hz`` (the LO frequency) and within the RWA::

    H(t) = 2π·[(f_q − f_frame)·n + (α/2)·n(n − 1)] + π·k·(z(t)·a† + conj(z(t))·a)

with ``n = a†a`` truncated to ``levels`` levels, ``f_q`` = ``frequency_hz`` (f_01),
``α`` = ``anharmonicity_hz`` (f_12 − f_01, negative for a transmon), ``k`` =
``rabi_rate_hz_per_v`` (Hz/V) and ``z(t)`` the complex drive envelope in volts at the chip,
constant over each sample of length ``dt_s``. In the qubit subspace (|0> = north pole) a
resonant ``z = A·e^{iφ}`` gives ``H = (Ω/2)(cos φ·X + sin φ·Y)`` with ``Ω = 2π·k·A``: a
rotation about the axis (cos φ, sin φ, 0); a constant resonant drive gives
``P1(t) = sin²(π·k·A·t)``.

Sign of the IF: a tone at ``f_frame + f_if`` is the envelope ``z(t) ∝ exp(−i·2π·f_if·t)``
(it is resonant with a qubit at ``f_q = f_frame + f_if``).

Dissipation (Lindblad, ``dρ/dt = −i[H, ρ] + Σ_c (cρc† − ½{c†c, ρ})``)::

    c_↓ = sqrt(Γ↓)·a,   c_↑ = sqrt(Γ↑)·|1⟩⟨0|,   c_φ = sqrt(2/T_φ)·n,   1/T_φ = 1/T2 − 1/(2·T1)

with ``Γ↓ + Γ↑ = 1/T1`` and ``Γ↑/Γ↓ = p/(1 − p)`` (``p`` = ``thermal_population``):
``Γ↓ = (1 − p)/T1``, ``Γ↑ = p/T1`` (``c_φ``, ``c_↑`` are dropped when their rate is 0).
Thermal excitation acts on the 0 → 1 transition only: then P(|1⟩) relaxes towards p at
exactly 1/T1, the qubit's coherence decays at exactly 1/T2, and ``diag(1 − p, p, 0, …)``
is the dissipator's steady state, so a qubit at rest, or idling while a multiplexed
partner is driven, stays thermal. (An upward channel ``√Γ↑·a†`` on every level would also
excite 1 → 2 at 2·Γ↑, biasing the measured T1 by ≈ p and T2 by ≈ p·T2/T1 — a 2nd-order
thermal effect, ∝ e^{−h·f₁₂/kT}, that a chip file's T1 and T2 do not mean.) The thermal
state is the default initial state.

Numerics
--------
The envelope is cut into runs of samples that are identical across the whole batch
(delays, flat tops). Closed system: one batched ``eigh`` of the run Hamiltonians gives
``U = V·exp(−i·E·n·dt)·V†`` for each run, multiplied in a balanced tree. Open system:
symmetric (Strang) splitting per sample, ``ρ → e^{L_D·h/2}[U_h ρ U_h†]e^{L_D·h/2}`` with
``h = dt/m`` (``m`` substeps, chosen from the decoherence rate unless given), the
dissipator's superoperator precomputed once; drive-free runs use the exact propagator
``exp((L_0 + L_D)·n·dt)`` (one ``d²×d²`` exponential), long driven runs the exact batched
Liouvillian exponential. Density matrices are vectorised row-major:
``vec(ρ)[i·d + j] = ρ[i, j]``, so ``vec(AρB) = (A ⊗ Bᵀ)·vec(ρ)``.

Tone runs (constant-amplitude pulses at an IF, e.g. a spectroscopy tone) are stretches of
at least ``TONE_RUN_MIN_SAMPLES`` samples with ``z_b[s + n] = c_b·ρ_b^n``, ``|ρ_b| = 1``,
``ρ_b = e^{iθ_b}`` possibly different in every batch row ``b`` (a row that is zero
throughout fits any ``ρ``). With ``D = diag(e^{iθ·k})`` (``k`` = level),
``D·a†·D† = e^{iθ}·a†``, so ``H(ρ·z) = D·H(z)·D†``; the free Hamiltonian and the
dissipator commute with the conjugation ``𝒟(ρ) = D·ρ·D†``. The propagator of sample ``n``
is therefore ``S_n = 𝒟ⁿ·S_0·𝒟⁻ⁿ`` and the run's propagator is exactly
``S_{N−1}···S_0 = 𝒟^N·(𝒟⁻¹·S_0)^N``: one exact exponential ``S_0 = exp(L(c_b)·dt)`` per
row (``exp(−i·H(c_b)·dt)`` for the closed system) and ``log2(N)`` batched squarings. In
row-major vectorisation ``𝒟`` is the diagonal ``vec(𝒟ρ)[i·d + j] = e^{iθ(i−j)}·ρ[i, j]``.
Detection (:mod:`.tones`) accepts a run only if every sample is within ``TONE_RTOL·|c_b|``
(1e-6) of ``c_b·e^{iθ_b·n}``: above the AWG twins' float32 rounding (≈1e-7 relative)
and far below anything physical; the
replaced drive differs from the samples by ``|δz_n| ≤ 1e-6·|c_b|``, which changes ρ by at
most ``Σ_n 4π·k·√(d−1)·|δz_n|·dt`` in trace norm (≈2e-7 for a float32 2 µs tone at a
225 kHz Rabi rate; ≈1e-13 for a tone computed in float64).

Per-sample propagators grouped by drive magnitude: the same covariance with
``P_ψ = diag(e^{iψk})`` gives ``H(|z|·e^{iψ}) = P_ψ·H(|z|)·P_ψ†`` (the free part is
diagonal; ``P_ψ·a†·P_ψ† = e^{iψ}·a†``), so ``exp(−i·H(z)·t)_jk = e^{iψ(j−k)}·exp(−i·H(|z|)·t)_jk``:
only the real symmetric ``H(|z|)`` needs an eigendecomposition, whatever the phase of the
sample (IF, virtual Z). Gate pulses have few distinct magnitudes (the envelope samples of a
few pulse shapes and amplitudes, at any phase or IF position), so the drive values that
need a propagator each (the runs of :func:`unitary`, the Strang steps of :func:`evolve`, a
tone's first sample) are grouped by (magnitude, duration): magnitudes on a
relative grid of ``MAGNITUDE_BITS`` fraction bits (round the IEEE significand), each group
diagonalised once at its mean magnitude, then gathered and the phases applied. This is used
only when the groups are at most ``_GROUPED_MAX_FRACTION`` of the values (else one ``eigh``
per value; a miscalibrated IQ mixer, say, makes every magnitude distinct). Members of a
group differ by less than one grid step, so the replaced drive differs from the samples by
``|δz_n| < 2^-bits·|z_n|·(1 + 2^-bits)``: with the default 24 bits, float32's unit
roundoff (6e-8), which the AWG twins' float32 samples have anyway (hence a grid rather than
exact equality). As for tones, ρ changes by at most
``Σ_n 4π·k·√(d−1)·|δz_n|·dt ≈ 2^-bits·2√(d−1)·Θ`` in trace norm, ``Θ = Σ_n 2π·k·|z_n|·dt``
the total drive angle (≤ 5.3e-7 per π pulse at d = 3); they mostly cancel: ≤ 3e-8 in
populations after 125 float32 DRAG pulses at 100 MHz IF. ``MAGNITUDE_BITS = 52`` groups
equal magnitudes only (one ``eigh`` per value, to rounding).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from qneko_hw.errors import ConfigError

from .tones import Tone, covered, tone_runs

__all__ = [
    "TransmonParams",
    "apply_superoperator",
    "default_substeps",
    "dissipator_superoperator",
    "evolve",
    "evolve_hold",
    "populations",
    "thermal_populations",
    "thermal_state",
    "unitary",
]

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]

#: Driven runs at least this many samples long use an exact batched Liouvillian exponential.
EXACT_RUN_MIN_SAMPLES = 32
#: Tone runs (z[n+1] = ρ_b·z[n], |ρ_b| = 1, per batch row) at least this many samples long
#: use the exact covariant propagator 𝒟^N·(𝒟⁻¹·S_0)^N (see the module docstring).
TONE_RUN_MIN_SAMPLES = 32
#: Decoherence per Strang substep, Γ·dt/m² ≤ this (Γ = 1/T1 + 2/T_φ): measured splitting
#: error < 1e-6 in populations for π to 2π pulses with T1, T2 ≥ 1 µs and IF up to 100 MHz.
_STRANG_GAMMA_DT = 5e-5
#: Bound on matrices per batched chunk (memory ~ this × d² × 16 bytes).
_CHUNK_ELEMENTS = 1 << 21
#: Fraction bits of the relative grid on which drive magnitudes are grouped (see the module
#: docstring): a sample's magnitude is replaced by its group's mean, |δz| ≤ 2^-bits·|z|
#: (6e-8·|z| for 24, float32's unit roundoff). 52 groups equal magnitudes only (exact).
MAGNITUDE_BITS = 24
#: The grouped path is taken when the distinct (magnitude, duration) pairs are at most this
#: fraction of the values (np.unique costs ~2 % of the eigh it may save).
_GROUPED_MAX_FRACTION = 0.5
#: Fewer values than this go straight to one eigh each.
_GROUPED_MIN_VALUES = 64


@dataclass(frozen=True)
class TransmonParams:
    """One transmon.

    Attributes:
        frequency_hz: f_01, the 0-1 transition frequency (Hz).
        anharmonicity_hz: α = f_12 − f_01 (Hz), negative for a transmon (e.g. −250e6).
        t1_s: energy relaxation time T1 (s); ``math.inf`` for none.
        t2_s: Ramsey coherence time T2 (s), ``T2 ≤ 2·T1``.
        rabi_rate_hz_per_v: k (Hz/V): a resonant constant drive of complex amplitude z
            (volts at the chip) gives a Rabi frequency k·|z| (Hz).
        thermal_population: P(|1⟩) at rest (dimensionless, 0 ≤ p < 1): the thermal state
            the qubit starts in and relaxes to.
        levels: number of transmon levels kept (≥ 2).
    """

    frequency_hz: float
    anharmonicity_hz: float
    t1_s: float
    t2_s: float
    rabi_rate_hz_per_v: float
    thermal_population: float
    levels: int = 3

    def __post_init__(self) -> None:
        for name in ("frequency_hz", "anharmonicity_hz", "rabi_rate_hz_per_v"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"must be finite, got {getattr(self, name)!r}", field=name)
        if not self.t1_s > 0:
            raise ConfigError(f"T1 must be > 0 s, got {self.t1_s!r}", field="t1_s")
        if not self.t2_s > 0:
            raise ConfigError(f"T2 must be > 0 s, got {self.t2_s!r}", field="t2_s")
        if self.t2_s > 2.0 * self.t1_s * (1.0 + 1e-12):
            raise ConfigError(
                f"T2 = {self.t2_s!r} s exceeds 2·T1 = {2.0 * self.t1_s!r} s", field="t2_s"
            )
        if not 0.0 <= self.thermal_population < 1.0:
            raise ConfigError(
                f"thermal population must be in [0, 1), got {self.thermal_population!r}",
                field="thermal_population",
            )
        if self.levels < 2:
            raise ConfigError(f"levels must be >= 2, got {self.levels!r}", field="levels")

    @property
    def gamma_1_per_s(self) -> float:
        """Relaxation rate 1/T1 = Γ↓ + Γ↑ (1/s)."""
        return 0.0 if math.isinf(self.t1_s) else 1.0 / self.t1_s

    @property
    def gamma_down_per_s(self) -> float:
        """Downward (emission) rate Γ↓ = (1 − p)/T1 (1/s)."""
        return (1.0 - self.thermal_population) * self.gamma_1_per_s

    @property
    def gamma_up_per_s(self) -> float:
        """Upward (thermal absorption) rate Γ↑ = p/T1 (1/s)."""
        return self.thermal_population * self.gamma_1_per_s

    @property
    def gamma_phi_per_s(self) -> float:
        """Pure dephasing rate 1/T_φ = 1/T2 − 1/(2·T1) (1/s), clipped at 0."""
        return max(0.0, 1.0 / self.t2_s - 0.5 * self.gamma_1_per_s)


def _lowering(d: int) -> FloatArray:
    return np.diag(np.sqrt(np.arange(1.0, d)), 1)


def _free_energies(params: TransmonParams, frame_frequency_hz: float) -> FloatArray:
    """Diagonal of the drive-free rotating-frame Hamiltonian (rad/s), shape (d,)."""
    n = np.arange(params.levels, dtype=np.float64)
    detuning = params.frequency_hz - frame_frequency_hz
    return 2.0 * np.pi * (detuning * n + 0.5 * params.anharmonicity_hz * n * (n - 1.0))


def _hamiltonians(params: TransmonParams, energies: FloatArray, z: ComplexArray) -> ComplexArray:
    """H for drive values ``z`` (any shape S) -> (S..., d, d) complex (rad/s)."""
    d = params.levels
    h = np.zeros((*z.shape, d, d), dtype=np.complex128)
    idx = np.arange(d)
    h[..., idx, idx] = energies
    coupling = np.pi * params.rabi_rate_hz_per_v * np.sqrt(np.arange(1.0, d))
    upper = z[..., None] * coupling  # <n+1| H |n> = π k z sqrt(n+1)
    h[..., idx[1:], idx[:-1]] = upper
    h[..., idx[:-1], idx[1:]] = upper.conj()
    return h


def _hamiltonian_superoperator(h: ComplexArray) -> ComplexArray:
    """−i[H, ·] in the row-major vectorisation, (..., d², d²)."""
    d = h.shape[-1]
    eye = np.eye(d)
    left = np.einsum("...ij,kl->...ikjl", h, eye)
    right = np.einsum("ij,...lk->...ikjl", eye, h)
    out = (-1j * (left - right)).reshape(*h.shape[:-2], d * d, d * d)
    return np.asarray(out, dtype=np.complex128)


@functools.lru_cache(maxsize=256)
def dissipator_superoperator(params: TransmonParams) -> ComplexArray:
    """Lindblad dissipator L_D (1/s) as a row-major (d², d²) superoperator (read-only:
    cached per transmon, since every solve of the lab asks for it)."""
    d = params.levels
    eye = np.eye(d)
    ops: list[FloatArray] = []
    if params.gamma_down_per_s > 0:
        ops.append(math.sqrt(params.gamma_down_per_s) * _lowering(d))
    if params.gamma_up_per_s > 0:
        raise_01 = np.zeros((d, d))
        raise_01[1, 0] = 1.0
        ops.append(math.sqrt(params.gamma_up_per_s) * raise_01)
    if params.gamma_phi_per_s > 0:
        ops.append(math.sqrt(2.0 * params.gamma_phi_per_s) * np.diag(np.arange(d, dtype=float)))
    out = np.zeros((d * d, d * d), dtype=np.complex128)
    for c in ops:
        cdc = c.T @ c
        out += np.kron(c, c) - 0.5 * np.kron(cdc, eye) - 0.5 * np.kron(eye, cdc.T)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=256)
def _strang_dissipation(params: TransmonParams, h: float) -> tuple[ComplexArray, ComplexArray]:
    """The dissipator's propagators over h/2 and h (s), transposed for ``ρ_vec @ P``
    (read-only, cached: the same for every solve of one transmon at one step)."""
    l_d = dissipator_superoperator(params)
    half_t = np.ascontiguousarray(scipy.linalg.expm(l_d * (h / 2)).T)
    full_t = np.ascontiguousarray(scipy.linalg.expm(l_d * h).T)
    half_t.flags.writeable = False
    full_t.flags.writeable = False
    return half_t, full_t


def default_substeps(params: TransmonParams, dt_s: float) -> int:
    """Strang substeps m per sample: the smallest m with Γ·dt/m² ≤ 5e-5, Γ = 1/T1 + 2/T_φ.

    The splitting error falls as 1/m² and grows with the dephasing rate; this rule keeps
    it below 1e-6 in populations for T1, T2 ≥ 1 µs (m = 1 for T1, T2 ≳ 40 µs at 1 ns).
    """
    gamma = params.gamma_1_per_s + 2.0 * params.gamma_phi_per_s
    return max(1, math.ceil(math.sqrt(gamma * dt_s / _STRANG_GAMMA_DT) - 1e-9))


def thermal_populations(params: TransmonParams) -> FloatArray:
    """Level populations of the thermal state ``(1 − p, p, 0, …)``, shape (d,): the steady
    state of the dissipator (see the module docstring)."""
    out = np.zeros(params.levels, dtype=np.float64)
    out[0], out[1] = 1.0 - params.thermal_population, params.thermal_population
    return out


def thermal_state(params: TransmonParams) -> ComplexArray:
    """The thermal density matrix ``diag(1 − p, p, 0, …)``, shape (d, d)."""
    return np.diag(thermal_populations(params)).astype(np.complex128)


def populations(rho: ComplexArray) -> FloatArray:
    """Level populations: the real diagonal of ρ, (..., d, d) -> (..., d)."""
    return np.ascontiguousarray(np.diagonal(rho, axis1=-2, axis2=-1).real)


def apply_superoperator(superop: ComplexArray, rho: ComplexArray) -> ComplexArray:
    """Apply a row-major superoperator (d², d²) or (B, d², d²) to ρ of shape (B, d, d)."""
    shape = rho.shape
    vec = rho.reshape(shape[0], -1)
    if superop.ndim == 2:
        return np.asarray(vec @ superop.T).reshape(shape)
    return np.asarray(np.einsum("bij,bj->bi", superop, vec), dtype=np.complex128).reshape(shape)


def _runs(envelopes: ComplexArray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Start index and length of each run of samples identical across the whole batch."""
    n = envelopes.shape[1]
    change = np.any(envelopes[:, 1:] != envelopes[:, :-1], axis=0)
    starts = np.flatnonzero(np.concatenate(([True], change)))
    lengths = np.diff(np.append(starts, n))
    return starts, lengths


def _tone_runs(
    envelopes: ComplexArray, starts: NDArray[np.intp], lengths: NDArray[np.intp]
) -> list[Tone]:
    """Tone runs of at least ``TONE_RUN_MIN_SAMPLES`` (read at call time)."""
    return tone_runs(envelopes, starts, lengths, TONE_RUN_MIN_SAMPLES)


def _level_difference(d: int) -> FloatArray:
    """i − j at the row-major index i·d + j, shape (d²,)."""
    idx = np.arange(d, dtype=np.float64)
    return np.asarray((idx[:, None] - idx[None, :]).reshape(-1), dtype=np.float64)


def _expm_small(a: ComplexArray) -> ComplexArray:
    """exp of a stack of small matrices (B, k, k): Taylor (degree 13) with scaling and squaring.

    Scaled to ‖a‖₁/2^s ≤ 1/4, where the truncation error is < 1e-19 relative. Batched
    ``matmul`` only: ``scipy.linalg.expm`` handles a stack one matrix at a time through BLAS
    calls that are slow when the cores are shared.
    """
    norm = float(np.max(np.sum(np.abs(a), axis=-2), initial=0.0))
    s = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0.25 else 0
    x = a / 2.0**s
    out = np.eye(a.shape[-1], dtype=np.complex128) + x
    term = x
    for j in range(2, 14):
        term = np.matmul(term, x) / j
        out = out + term
    for _ in range(s):
        out = np.matmul(out, out)
    return np.asarray(out, dtype=np.complex128)


def _tone_unitary(
    params: TransmonParams, energies: FloatArray, tone: Tone, dt_s: float
) -> ComplexArray:
    """Closed-system propagator of a tone run, D^N·(D⁻¹·U_0)^N, shape (B, d, d)."""
    n = tone.stop - tone.start
    u0 = _run_unitaries(params, energies, tone.amplitude[None], np.array([dt_s]))[0]
    levels = np.arange(params.levels, dtype=np.float64)
    step = tone.step[:, None]
    power = np.linalg.matrix_power(np.exp(-1j * step * levels)[:, :, None] * u0, n)
    return np.asarray(np.exp(1j * n * step * levels)[:, :, None] * power, dtype=np.complex128)


def _tone_superoperator(
    params: TransmonParams,
    energies: FloatArray,
    l_d: ComplexArray,
    tone: Tone,
    dt_s: float,
) -> ComplexArray:
    """Row-major propagator of a tone run, 𝒟^N·(𝒟⁻¹·S_0)^N, shape (B, d², d²)."""
    n = tone.stop - tone.start
    liou = _hamiltonian_superoperator(_hamiltonians(params, energies, tone.amplitude)) + l_d
    s0 = _expm_small(liou * dt_s)
    diff = _level_difference(params.levels)
    step = tone.step[:, None]
    power = np.linalg.matrix_power(np.exp(-1j * step * diff)[:, :, None] * s0, n)
    return np.asarray(np.exp(1j * n * step * diff)[:, :, None] * power, dtype=np.complex128)


def _check_inputs(envelopes: ComplexArray, dt_s: float) -> ComplexArray:
    env = np.asarray(envelopes, dtype=np.complex128)
    if env.ndim != 2:
        raise ValueError(f"envelopes must have shape (B, N), got {env.shape}")
    if not dt_s > 0:
        raise ValueError(f"dt_s must be > 0 s, got {dt_s!r}")
    if not np.all(np.isfinite(env)):
        raise ValueError("envelopes contain NaN or inf")
    return env


def _direct_run_unitaries(
    params: TransmonParams,
    energies: FloatArray,
    values: ComplexArray,
    times: FloatArray,
) -> ComplexArray:
    """exp(−i·H(z)·t), one ``eigh`` per value: (R, B) values, (R,) durations -> (R, B, d, d)."""
    h = _hamiltonians(params, energies, values)
    evals, evecs = np.linalg.eigh(h)
    phases = np.exp(-1j * evals * times[:, None, None])
    return np.asarray(np.matmul(evecs * phases[..., None, :], np.conj(np.swapaxes(evecs, -1, -2))))


def _quantised(magnitudes: FloatArray, bits: int) -> FloatArray:
    """Non-negative floats rounded to ``bits`` fraction bits: |x' − x| ≤ 2^-(bits+1)·x.

    Rounds the IEEE-754 bit pattern (half up; a carry moves to the next binade, which is
    exact). ``bits ≥ 52`` returns the values unchanged.
    """
    shift = 52 - min(max(int(bits), 0), 52)
    values = np.ascontiguousarray(magnitudes, dtype=np.float64)
    if shift == 0:
        return values
    raw = values.view(np.int64)
    rounded = (raw + np.int64(1 << (shift - 1))) & np.int64(~((1 << shift) - 1))
    return np.asarray(rounded.view(np.float64), dtype=np.float64)


def _grouped_run_unitaries(
    params: TransmonParams,
    energies: FloatArray,
    values: ComplexArray,
    times: FloatArray,
) -> ComplexArray | None:
    """exp(−i·H(z)·t) from one ``eigh`` per group of (|z|, t); None if that does not pay.

    ``U(|z|·e^{iψ}, t) = P_ψ·U(|z|, t)·P_ψ†`` with ``P_ψ = diag(e^{iψk})`` (module
    docstring), so ``U_jk(z) = e^{iψ(j−k)}·U_jk(|z|)``. Values are grouped by duration and
    magnitude rounded by :func:`_quantised` to ``MAGNITUDE_BITS``; the real symmetric
    H(|z|) at each group's mean magnitude is diagonalised once and the phases are applied
    elementwise.
    """
    r, b = values.shape
    magnitudes = np.abs(values)
    rounded = _quantised(magnitudes, MAGNITUDE_BITS)
    if np.all(times == times[0]):
        mags, inverse = np.unique(rounded.reshape(-1), return_inverse=True)
        durations = np.full(mags.size, times[0])
    else:  # complex keys sort lexicographically: (magnitude, duration) pairs
        keys = (rounded + 1j * times[:, None]).reshape(-1)
        pairs, inverse = np.unique(keys, return_inverse=True)
        mags, durations = pairs.real.copy(), pairs.imag.copy()
    if mags.size > _GROUPED_MAX_FRACTION * r * b:
        return None
    # each group's mean magnitude (not its grid point): unbiased, exact for equal values
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=mags.size)
    mags = np.bincount(inverse, weights=magnitudes.reshape(-1), minlength=mags.size) / counts
    h = np.ascontiguousarray(_hamiltonians(params, energies, mags.astype(np.complex128)).real)
    evals, evecs = np.linalg.eigh(h)
    phases = np.exp(-1j * evals * durations[:, None])
    distinct = np.matmul(evecs * phases[:, None, :], np.swapaxes(evecs, -1, -2))
    out = distinct[inverse.reshape(r, b)]  # (R, B, d, d), a copy
    # e^{iψk} = (z/|z|)^k, by repeated products (1 where z = 0)
    unit = np.where(magnitudes > 0, values / np.where(magnitudes > 0, magnitudes, 1.0), 1.0)
    powers = np.empty((r, b, params.levels), dtype=np.complex128)
    powers[..., 0] = 1.0
    for k in range(1, params.levels):
        powers[..., k] = powers[..., k - 1] * unit
    out *= powers[..., :, None]
    out *= np.conj(powers[..., None, :])
    return np.asarray(out, dtype=np.complex128)


def _run_unitaries(
    params: TransmonParams,
    energies: FloatArray,
    values: ComplexArray,
    times: FloatArray,
) -> ComplexArray:
    """exp(−i·H(z)·t) for drive values (R, B) and durations (R,) -> (R, B, d, d).

    Grouped by drive magnitude (:func:`_grouped_run_unitaries`) when the distinct
    (magnitude, duration) pairs are at most ``_GROUPED_MAX_FRACTION`` of the values,
    otherwise one ``eigh`` per value.
    """
    if values.size >= _GROUPED_MIN_VALUES:
        grouped = _grouped_run_unitaries(params, energies, values, times)
        if grouped is not None:
            return grouped
    return _direct_run_unitaries(params, energies, values, times)


def _tree_product(us: ComplexArray) -> ComplexArray:
    """Time-ordered product U_{R−1}···U_0 of (R, B, d, d) in log2(R) batched steps."""
    while us.shape[0] > 1:
        if us.shape[0] % 2:
            eye = np.broadcast_to(np.eye(us.shape[-1], dtype=np.complex128), us.shape[1:])
            us = np.concatenate([us, eye[None]], axis=0)
        us = np.matmul(us[1::2], us[0::2])
    return np.asarray(us[0], dtype=np.complex128)


def unitary(
    params: TransmonParams,
    envelopes: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
) -> ComplexArray:
    """Closed-system propagator of each envelope.

    Args:
        params: the transmon.
        envelopes: (B, N) complex drive envelopes (V at the chip), one sample per ``dt_s``.
        dt_s: sample duration (s).
        frame_frequency_hz: frame (LO) frequency (Hz).

    Returns:
        (B, d, d) complex unitaries (in the rotating frame).
    """
    env = _check_inputs(envelopes, dt_s)
    b, n = env.shape
    d = params.levels
    total = np.broadcast_to(np.eye(d, dtype=np.complex128), (b, d, d)).copy()
    if n == 0:
        return total
    energies = _free_energies(params, frame_frequency_hz)
    starts, lengths = _runs(env)
    tones = _tone_runs(env, starts, lengths)
    # the runs between tone runs, then the tone run: one group per tone, plus the tail
    bounds = [tone.start for tone in tones] + [n]
    chunk = max(1, _CHUNK_ELEMENTS // (b * d * d))
    begin = 0
    for i, end in enumerate(bounds):
        r0, r1 = np.searchsorted(starts, [begin, end])
        for lo in range(int(r0), int(r1), chunk):
            sl = slice(lo, min(lo + chunk, int(r1)))
            values = np.ascontiguousarray(env[:, starts[sl]].T)
            times = np.asarray(lengths[sl] * dt_s, dtype=np.float64)
            us = _run_unitaries(params, energies, values, times)
            total = np.matmul(_tree_product(us), total)
        if i < len(tones):
            total = np.matmul(_tone_unitary(params, energies, tones[i], dt_s), total)
            begin = tones[i].stop
    return total


def _initial(params: TransmonParams, b: int, rho0: ComplexArray | None) -> ComplexArray:
    d = params.levels
    start = thermal_state(params) if rho0 is None else np.asarray(rho0, dtype=np.complex128)
    if start.shape == (d, d):
        return np.broadcast_to(start, (b, d, d)).copy()
    if start.shape == (b, d, d):
        return start.copy()
    raise ValueError(f"rho0 must have shape ({d}, {d}) or ({b}, {d}, {d}), got {start.shape}")


def evolve(
    params: TransmonParams,
    envelopes: ComplexArray,
    dt_s: float,
    frame_frequency_hz: float,
    *,
    dissipation: bool = True,
    rho0: ComplexArray | None = None,
    substeps: int | None = None,
) -> ComplexArray:
    """Final density matrices for a batch of drive envelopes, in one batched computation.

    Args:
        params: the transmon.
        envelopes: (B, N) complex drive envelopes (V at the chip), one sample per ``dt_s``,
            including any IF modulation (a tone at f_frame + f_if is ``exp(−i2π f_if t)``).
        dt_s: sample duration (s).
        frame_frequency_hz: frame (LO) frequency (Hz).
        dissipation: include T1 / T_φ (Lindblad); without it the evolution is unitary.
        rho0: initial state, (d, d) for all points or (B, d, d); default the thermal state.
        substeps: Strang substeps per driven sample (open system); default
            :func:`default_substeps`.

    Returns:
        (B, d, d) complex density matrices at the end of the envelopes (rotating frame).
    """
    env = _check_inputs(envelopes, dt_s)
    b, n = env.shape
    d = params.levels
    rho = _initial(params, b, rho0)
    if not dissipation:
        u = unitary(params, env, dt_s, frame_frequency_hz)
        return np.asarray(np.matmul(np.matmul(u, rho), np.conj(np.swapaxes(u, -1, -2))))
    if n == 0:
        return rho
    m = default_substeps(params, dt_s) if substeps is None else int(substeps)
    if m < 1:
        raise ValueError(f"substeps must be >= 1, got {m}")
    h = dt_s / m
    energies = _free_energies(params, frame_frequency_hz)
    l_d = dissipator_superoperator(params)
    l_0 = _hamiltonian_superoperator(np.diag(energies).astype(np.complex128)) + l_d
    free_t: dict[int, ComplexArray] = {}

    starts, lengths = _runs(env)
    tones = _tone_runs(env, starts, lengths)
    tone_at = {tone.start: tone for tone in tones}
    in_tone = covered(tones, n)[starts]  # tone runs consist of single-sample runs
    values_all = env[:, starts]  # (B, R)
    driven = np.any(values_all != 0, axis=0)
    # One batched eigendecomposition for every driven run that goes through Strang steps.
    strang_runs = np.flatnonzero(driven & (lengths < EXACT_RUN_MIN_SAMPLES) & ~in_tone)
    if strang_runs.size:
        half_t, full_t = _strang_dissipation(params, h)
    else:  # no Strang step, so no half-step is ever owed
        half_t = full_t = np.eye(d * d, dtype=np.complex128)
    unitaries: dict[int, tuple[ComplexArray, ComplexArray]] = {}
    chunk = max(1, _CHUNK_ELEMENTS // (b * d * d))
    for lo in range(0, strang_runs.size, chunk):
        sel = strang_runs[lo : lo + chunk]
        vals = np.ascontiguousarray(values_all[:, sel].T)
        us = _run_unitaries(params, energies, vals, np.full(sel.size, h))
        uhs = np.conjugate(np.swapaxes(us, -1, -2), order="C")
        for j, r in enumerate(sel):
            unitaries[int(r)] = (us[j], uhs[j])

    pending = False  # a half-step of the dissipator is owed
    # every run except those inside a tone run; a tone run is applied at its first sample
    visit = np.flatnonzero(~in_tone | np.isin(starts, list(tone_at)))
    for r in visit.tolist():
        length = int(lengths[r])
        if in_tone[r]:
            tone = tone_at[int(starts[r])]
            if pending:
                rho = apply_superoperator(half_t.T, rho)
                pending = False
            rho = apply_superoperator(_tone_superoperator(params, energies, l_d, tone, dt_s), rho)
        elif not driven[r]:
            if pending:
                rho = apply_superoperator(half_t.T, rho)
                pending = False
            if length not in free_t:
                free_t[length] = scipy.linalg.expm(l_0 * (length * dt_s))
            rho = apply_superoperator(free_t[length], rho)
        elif length >= EXACT_RUN_MIN_SAMPLES:
            if pending:
                rho = apply_superoperator(half_t.T, rho)
                pending = False
            h_run = _hamiltonians(params, energies, values_all[:, r])
            liou = _hamiltonian_superoperator(h_run) + l_d
            rho = apply_superoperator(scipy.linalg.expm(liou * (length * dt_s)), rho)
        else:
            u, uh = unitaries[r]
            for _ in range(length * m):
                vec = rho.reshape(b, d * d) @ (full_t if pending else half_t)
                rho = np.matmul(np.matmul(u, vec.reshape(b, d, d)), uh)
                pending = True
    if pending:
        rho = apply_superoperator(half_t.T, rho)
    return rho


def evolve_hold(
    params: TransmonParams,
    values: ComplexArray,
    duration_s: float,
    frame_frequency_hz: float,
    *,
    rho0: ComplexArray | None = None,
) -> ComplexArray:
    """Density matrices after holding drive value ``values[b]`` (V at the chip) for
    ``duration_s``, in closed form: one Liouvillian exponential per distinct value (the
    free evolution when the drive is zero), whatever the duration.

    Args:
        values: (B,) complex drive held by each batch member (no IF: a held value).
        rho0: as for :func:`evolve` (default the thermal state).

    Returns:
        (B, d, d) complex density matrices (rotating frame).
    """
    z = np.asarray(values, dtype=np.complex128).reshape(-1)
    rho = _initial(params, z.size, rho0)
    if duration_s < 0 or not math.isfinite(duration_s):
        raise ValueError(f"duration must be finite and >= 0, got {duration_s!r}")
    if duration_s == 0 or z.size == 0:
        return rho
    energies = _free_energies(params, frame_frequency_hz)
    l_d = dissipator_superoperator(params)
    distinct, index = np.unique(z, return_inverse=True)
    h = _hamiltonians(params, energies, distinct)
    props = scipy.linalg.expm((_hamiltonian_superoperator(h) + l_d) * duration_s)
    return apply_superoperator(props[index.reshape(-1)], rho)
