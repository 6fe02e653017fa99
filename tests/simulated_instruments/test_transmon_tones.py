"""Tone runs in ``transmon.evolve``: the covariant propagator against exact per-sample products.

A tone run (z_b[n+1] = ρ_b·z_b[n], |ρ_b| = 1 per batch row) is propagated as
𝒟^N·(𝒟⁻¹·S_0)^N. The references here are an independent exact product of per-sample
propagators ``expm(L(z_n)·dt)`` (Kronecker products, written from the model in the module
docstring), the per-sample path of the solver itself (tone runs switched off), and QuTiP.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
import scipy.linalg
from numpy.typing import NDArray

from qneko_hw.simulated_instruments.physics import (
    TransmonParams,
    evolve,
    populations,
    thermal_state,
    transmon,
    unitary,
)

DT = 1e-9
FQ = 5.0e9
QUTIP_OPTIONS = {"atol": 1e-10, "rtol": 1e-10, "nsteps": 10**6}

Complex = NDArray[np.complex128]


def random_params(
    rng: np.random.Generator, levels: int, t1_range_s: tuple[float, float] = (2e-6, 40e-6)
) -> TransmonParams:
    """A random transmon near ``FQ`` (shared with the phase-grouping tests)."""
    t1 = float(rng.uniform(*t1_range_s))
    return TransmonParams(
        frequency_hz=FQ + float(rng.uniform(-5e6, 5e6)),
        anharmonicity_hz=-float(rng.uniform(180e6, 340e6)),
        t1_s=t1,
        t2_s=t1 * float(rng.uniform(0.3, 2.0)),
        rabi_rate_hz_per_v=float(rng.uniform(20e6, 600e6)),
        thermal_population=float(rng.uniform(0.0, 0.05)),
        levels=levels,
    )


def _tones(
    rng: np.random.Generator, params: TransmonParams, b: int, n: int, spread_hz: float
) -> Complex:
    """(b, n) tones at f_frame + f_if: random IFs, amplitudes (Rabi 0.1–3 MHz) and phases.

    Row 0 is a constant (IF 0) and row 1 zero throughout: both are tones too.
    """
    f_if = rng.uniform(-spread_hz, spread_hz, b)
    f_if[0] = 0.0
    rabi = rng.uniform(0.1e6, 3e6, b)
    amp = rabi / params.rabi_rate_hz_per_v * np.exp(1j * rng.uniform(0, 2 * np.pi, b))
    amp[1] = 0.0
    return np.asarray(amp[:, None] * np.exp(-2j * np.pi * f_if[:, None] * np.arange(n) * DT))


def _gaussian_if(params: TransmonParams, b: int, n: int, f_if: float) -> Complex:
    t = (np.arange(n) + 0.5) * DT
    g = np.exp(-((t - n * DT / 2) ** 2) / (2 * (n * DT / 4) ** 2))
    amp = np.linspace(0.2, 1.0, b) / (2 * params.rabi_rate_hz_per_v * g.sum() * DT)
    return np.asarray(amp[:, None] * g * np.exp(-2j * np.pi * f_if * np.arange(n) * DT))


def _liouvillians(
    params: TransmonParams, frame_hz: float, z: Complex, dissipation: bool
) -> Complex:
    """Row-major Liouvillians (B, d², d²) for drive values z (B,), straight from the model."""
    d = params.levels
    n = np.diag(np.arange(d, dtype=float))
    a = np.diag(np.sqrt(np.arange(1.0, d)), 1)
    eye = np.eye(d)
    h0 = (
        2
        * np.pi
        * ((params.frequency_hz - frame_hz) * n + params.anharmonicity_hz / 2 * n @ (n - eye))
    )
    out = np.empty((z.size, d * d, d * d), dtype=np.complex128)
    diss = np.zeros((d * d, d * d), dtype=np.complex128)
    if dissipation:
        p = params.thermal_population  # PHYSICS.md: Γ↓ = (1 − p)/T1, Γ↑ = p/T1 on 0 → 1
        up = np.zeros((d, d))
        up[1, 0] = 1.0
        ops = [math.sqrt((1 - p) / params.t1_s) * a, math.sqrt(p / params.t1_s) * up]
        if params.gamma_phi_per_s > 0:
            ops.append(math.sqrt(2 * params.gamma_phi_per_s) * n)
        for c in ops:
            cdc = c.conj().T @ c
            diss += np.kron(c, c.conj()) - 0.5 * np.kron(cdc, eye) - 0.5 * np.kron(eye, cdc.T)
    for i, zi in enumerate(z):
        h = h0 + np.pi * params.rabi_rate_hz_per_v * (zi * a.T + np.conj(zi) * a)
        out[i] = -1j * (np.kron(h, eye) - np.kron(eye, h.T)) + diss
    return out


def _exact(
    params: TransmonParams,
    env: Complex,
    frame_hz: float,
    dissipation: bool,
    rho0: Complex | None = None,
) -> Complex:
    """Final ρ (B, d, d): product of the exact per-sample propagators expm(L(z_n)·dt)."""
    b, n = env.shape
    d = params.levels
    start = thermal_state(params) if rho0 is None else rho0
    vec = np.broadcast_to(start, (b, d, d)).reshape(b, d * d).astype(np.complex128)
    for i in range(n):
        props = scipy.linalg.expm(_liouvillians(params, frame_hz, env[:, i], dissipation) * DT)
        vec = np.einsum("bij,bj->bi", props, vec)
    return vec.reshape(b, d, d)


def _tone_spans(env: Complex) -> list[tuple[int, int]]:
    starts, lengths = transmon._runs(env)
    return [(t.start, t.stop) for t in transmon._tone_runs(env, starts, lengths)]


def _assert_close(ours: Complex, ref: Complex, tol: float) -> None:
    assert np.max(np.abs(populations(ours) - populations(ref))) < tol
    assert np.max(np.abs(ours - ref)) < tol


@pytest.mark.parametrize("dissipation", [True, False], ids=["lindblad", "closed"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_padded_tones_equal_exact_per_sample_product(seed: int, dissipation: bool) -> None:
    rng = np.random.default_rng(seed)
    params = random_params(rng, levels=int(rng.integers(2, 5)))
    b, n_tone = 5, int(rng.integers(120, 260))
    pre, post = int(rng.integers(1, 50)), int(rng.integers(1, 50))
    tone = _tones(rng, params, b, n_tone, spread_hz=40e6)
    env = np.concatenate([np.zeros((b, pre)), tone, np.zeros((b, post))], axis=1)
    assert _tone_spans(env) == [(pre, pre + n_tone)]
    frame = FQ - float(rng.uniform(-20e6, 20e6))
    ours = evolve(params, env, DT, frame, dissipation=dissipation)
    _assert_close(ours, _exact(params, env, frame, dissipation), 1e-9)
    assert np.allclose(np.trace(ours, axis1=1, axis2=2), 1.0, atol=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_gaussian_then_two_tones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zeros, an IF Gaussian, a gap, tone A, then tone B (new IFs), zeros.

    Seed 4: B continues A's phase (a frequency hop: the link from A's last sample to B's
    first already has B's ratio); seed 5: B has its own amplitudes and phases.
    """
    rng = np.random.default_rng(seed)
    params = random_params(rng, levels=3)
    b = 5
    gauss = _gaussian_if(params, b, 40, 30e6)
    tone_a = _tones(rng, params, b, 300, spread_hz=15e6)
    tone_b = _tones(rng, params, b, 120, spread_hz=15e6)
    if seed == 4:
        hop = np.exp(-2j * np.pi * rng.uniform(-15e6, 15e6, (b, 1)) * DT)
        tone_b = tone_a[:, -1:] * hop ** np.arange(1, 121)
    parts = [np.zeros((b, 7)), gauss, np.zeros((b, 11)), tone_a, tone_b, np.zeros((b, 9))]
    env = np.concatenate(parts, axis=1)
    a0 = 7 + 40 + 11
    assert _tone_spans(env) == [(a0, a0 + 300), (a0 + 300, a0 + 420)]
    frame = FQ - 10e6
    new_closed = evolve(params, env, DT, frame, dissipation=False)
    new_open = evolve(params, env, DT, frame)
    # open system: the solver's own path up to the tones, the exact product over them
    before = evolve(params, env[:, :a0], DT, frame)
    after_tones = np.stack(
        [_exact(params, env[i : i + 1, a0 : a0 + 420], frame, True, before[i])[0] for i in range(b)]
    )
    ref_open = evolve(params, env[:, a0 + 420 :], DT, frame, rho0=after_tones)
    _assert_close(new_open, ref_open, 1e-9)

    monkeypatch.setattr(transmon, "TONE_RUN_MIN_SAMPLES", 10**9)
    assert _tone_spans(env) == []
    old_closed = evolve(params, env, DT, frame, dissipation=False)
    old_open = evolve(params, env, DT, frame)  # Strang splitting over the tones
    _assert_close(new_closed, old_closed, 1e-9)
    _assert_close(new_open, old_open, 1e-6)


def test_unitary_of_tones_equals_per_sample_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    params = random_params(rng, levels=4)
    tone = _tones(rng, params, 8, 1000, spread_hz=100e6)
    env = np.concatenate([_gaussian_if(params, 8, 24, 5e6), tone, np.zeros((8, 5))], axis=1)
    assert _tone_spans(env) == [(24, 1024)]
    ours = unitary(params, env, DT, FQ)
    assert np.allclose(ours @ np.conj(np.swapaxes(ours, 1, 2)), np.eye(4), atol=1e-11)
    monkeypatch.setattr(transmon, "TONE_RUN_MIN_SAMPLES", 10**9)
    assert np.max(np.abs(ours - unitary(params, env, DT, FQ))) < 1e-9


def test_batched_tones_equal_per_row() -> None:
    """Each row alone (a constant, a zero row, single tones) gives what the batch gives."""
    rng = np.random.default_rng(7)
    params = random_params(rng, levels=3)
    env = np.concatenate([np.zeros((6, 3)), _tones(rng, params, 6, 500, 20e6)], axis=1)
    batched = evolve(params, env, DT, FQ)
    single = np.stack([evolve(params, env[i : i + 1], DT, FQ)[0] for i in range(6)])
    assert np.max(np.abs(batched - single)) < 1e-10


def test_float32_rounded_tone_is_detected() -> None:
    """AWG twins store float32 samples: a played tone's ratios vary by ~1e-7, still a tone."""
    rng = np.random.default_rng(8)
    params = random_params(rng, levels=3)
    exact = _tones(rng, params, 4, 800, spread_hz=20e6)
    rounded = exact.real.astype(np.float32).astype(float) + 1j * exact.imag.astype(np.float32)
    assert np.max(np.abs(rounded - exact)) > 0
    assert _tone_spans(rounded) == [(0, 800)]
    ours = evolve(params, rounded, DT, FQ - 3e6)
    _assert_close(ours, _exact(params, rounded, FQ - 3e6, True), 1e-7)


def test_not_tones_keep_the_per_sample_path() -> None:
    """A slow chirp, a tone with a DC offset and a decaying tone are not tone runs."""
    n = np.arange(600)
    tone = 1e-3 * np.exp(-2j * np.pi * 20e6 * n * DT)
    chirp = 1e-3 * np.exp(-2j * np.pi * (20e6 * n * DT + 0.5 * 1e12 * (n * DT) ** 2))
    offset = tone + 1e-6
    decay = tone * np.exp(-n * 1e-8)
    assert _tone_spans(tone[None]) == [(0, 600)]
    for env in (chirp, offset, decay):
        assert _tone_spans(np.stack([tone, env])) == []


def _qutip_tone(
    params: TransmonParams, envelope: Complex, frame_hz: float, rho0: Complex
) -> Complex:
    """mesolve, one call per sample (the drive is piecewise constant)."""
    d = params.levels
    a = qutip.destroy(d)
    num = a.dag() * a
    h0 = (
        2
        * np.pi
        * ((params.frequency_hz - frame_hz) * num + params.anharmonicity_hz / 2 * num * (num - 1))
    )
    p = params.thermal_population
    c_ops = [
        math.sqrt((1 - p) / params.t1_s) * a,
        math.sqrt(p / params.t1_s) * qutip.basis(d, 1) * qutip.basis(d, 0).dag(),
        math.sqrt(2 * params.gamma_phi_per_s) * num,
    ]
    drive = np.pi * params.rabi_rate_hz_per_v
    rho = qutip.Qobj(rho0)
    for z in envelope:
        h = h0 + drive * (complex(z) * a.dag() + np.conj(z) * a)
        rho = qutip.mesolve(h, rho, [0.0, DT], c_ops=c_ops, options=QUTIP_OPTIONS).final_state
    return np.asarray(rho.full(), dtype=np.complex128)


def test_tone_matches_qutip() -> None:
    """A 300 ns tone 2 MHz off the qubit (Rabi 4 MHz), T1 = 2 µs, T2 = 1.5 µs, 3 levels."""
    params = TransmonParams(
        frequency_hz=FQ,
        anharmonicity_hz=-220e6,
        t1_s=2e-6,
        t2_s=1.5e-6,
        rabi_rate_hz_per_v=50e6,
        thermal_population=0.04,
        levels=3,
    )
    f_if = 60e6
    frame = FQ - f_if - 2e6
    tone = 4e6 / 50e6 * np.exp(0.3j) * np.exp(-2j * np.pi * f_if * np.arange(300) * DT)
    env = np.concatenate([np.zeros(5), tone, np.zeros(5)])
    assert _tone_spans(env[None]) == [(5, 305)]
    ours = evolve(params, env[None], DT, frame)[0]
    ref = _qutip_tone(params, env, frame, thermal_state(params))
    assert populations(ours)[1] > 0.1
    _assert_close(ours[None], ref[None], 1e-6)
