"""Sample propagators grouped by drive magnitude in ``transmon._run_unitaries``.

``H(|z|·e^{iψ}) = P_ψ·H(|z|)·P_ψ†`` with ``P_ψ = diag(e^{iψk})``, so only the magnitudes need
an eigendecomposition. The reference is the direct path (one ``eigh`` per value), forced by
replacing ``_run_unitaries`` with ``_direct_run_unitaries``; the grouped path is forced by
``_GROUPED_MAX_FRACTION = 1`` and made exact-only by ``MAGNITUDE_BITS = 52``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from test_transmon_tones import random_params

from qneko_hw.simulated_instruments.physics import (
    TransmonParams,
    evolve,
    populations,
    transmon,
    unitary,
)

DT = 1e-9
FQ = 5.0e9

Complex = NDArray[np.complex128]


def _random_params(rng: np.random.Generator, levels: int) -> TransmonParams:
    return random_params(rng, levels, (5e-6, 60e-6))


def _drag(params: TransmonParams, n: int, angle: float, beta: float) -> Complex:
    """(n,) DRAG pulse of rotation ``angle`` (rad): Gaussian + i·β·derivative (β in samples)."""
    t = np.arange(n) + 0.5 - n / 2
    sigma = n / 4
    g = np.exp(-(t**2) / (2 * sigma**2))
    amp = angle / (2 * np.pi * params.rabi_rate_hz_per_v * g.sum() * DT)
    return np.asarray(amp * (g - 1j * beta * t / sigma**2 * g), dtype=np.complex128)


def _sequences(
    rng: np.random.Generator,
    params: TransmonParams,
    rows: int,
    pulses: int,
    f_ifs: tuple[float, ...],
    float32: bool,
) -> Complex:
    """(rows, pulses·40) random sequences of π and π/2 DRAG pulses with random phases.

    Each row has its own IF (from ``f_ifs``); rows end early (zeros) at random.
    """
    shapes = np.stack([_drag(params, 40, np.pi, 0.4), _drag(params, 40, np.pi / 2, 0.4)])
    env = np.zeros((rows, pulses * 40), dtype=np.complex128)
    for r in range(rows):
        count = int(rng.integers(1, pulses + 1))
        which = rng.integers(0, 2, count)
        phase = np.exp(1j * rng.uniform(0, 2 * np.pi, count))
        env[r, : count * 40] = (shapes[which] * phase[:, None]).reshape(-1)
    f_if = np.asarray(f_ifs)[np.arange(rows) % len(f_ifs)]
    env *= np.exp(-2j * np.pi * f_if[:, None] * (np.arange(pulses * 40) + 0.5) * DT)
    if float32:
        env = env.real.astype(np.float32) + 1j * env.imag.astype(np.float32).astype(np.float64)
    return np.asarray(env, dtype=np.complex128)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per call, whether the grouped path produced the propagators."""
    taken: list[bool] = []
    grouped = transmon._grouped_run_unitaries

    def spy(*args: object) -> Complex | None:
        out = grouped(*args)  # type: ignore[arg-type]
        taken.append(out is not None)
        return out

    monkeypatch.setattr(transmon, "_grouped_run_unitaries", spy)
    return taken


def _direct(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Complex]) -> Complex:
    """``run()`` with one eigh per value (the path before the grouping)."""
    with monkeypatch.context() as m:
        m.setattr(transmon, "_run_unitaries", transmon._direct_run_unitaries)
        return run()


@pytest.mark.parametrize("levels", [2, 3, 4])
def test_phase_covariance_sign(levels: int) -> None:
    """H(|z|e^{iψ}) = P_ψ·H(|z|)·P_ψ† (not P_ψ†·H·P_ψ), and the same for the propagators."""
    rng = np.random.default_rng(levels)
    params = _random_params(rng, levels)
    energies = transmon._free_energies(params, FQ - 80e6)
    z = np.asarray(3e-3 * (rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))), np.complex128)
    psi = np.angle(z)
    p = np.exp(1j * psi[..., None] * np.arange(levels))  # diagonal of P_ψ
    h_abs = transmon._hamiltonians(params, energies, np.abs(z).astype(np.complex128))
    h = transmon._hamiltonians(params, energies, z)
    assert np.max(np.abs(h - p[..., :, None] * h_abs * np.conj(p[..., None, :]))) < 1e-6
    wrong = np.conj(p[..., :, None]) * h_abs * p[..., None, :]
    assert np.max(np.abs(h - wrong)) > 1e6  # rad/s: the other sign is a different drive
    times = rng.uniform(0.5, 30, 3) * DT
    u = transmon._direct_run_unitaries(params, energies, z, times)
    u_abs = transmon._direct_run_unitaries(params, energies, np.abs(z) + 0j, times)
    diff = np.arange(levels)[:, None] - np.arange(levels)[None, :]
    assert np.max(np.abs(u - np.exp(1j * psi[..., None, None] * diff) * u_abs)) < 1e-12


def test_quantised() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([[0.0, 1.0, 2.0 - 2.0**-30, 1e-300], rng.uniform(0, 1, 10000)])
    x *= 10.0 ** rng.integers(-8, 3, x.size)
    for bits in (10, 22, 24):
        q = transmon._quantised(x, bits)
        assert np.all(np.abs(q - x) <= 2.0 ** -(bits + 1) * x)
    assert transmon._quantised(np.array([2.0 - 2.0**-30]), 22)[0] == 2.0  # carry: next binade
    assert transmon._quantised(np.array([1.0 + 2.0**-24]), 22)[0] == 1.0  # step 2^-22
    assert transmon._quantised(np.array([1.0 + 3 * 2.0**-24]), 22)[0] == 1.0 + 2.0**-22
    assert np.array_equal(transmon._quantised(x, 52), x)


@pytest.mark.parametrize("dissipation", [True, False], ids=["lindblad", "closed"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_grouping_equals_direct_path(
    seed: int, dissipation: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact-only grouping (52 bits, grouping forced) equals one eigh per value to 1e-12."""
    rng = np.random.default_rng(seed)
    params = _random_params(rng, levels=2 + seed % 3)  # 3, 4, 2 levels
    monkeypatch.setattr(transmon, "MAGNITUDE_BITS", 52)
    monkeypatch.setattr(transmon, "_GROUPED_MAX_FRACTION", 1.0)
    f_ifs = (0.0, 37e6, -100e6, 100e6)
    env = _sequences(rng, params, rows=12, pulses=6, f_ifs=f_ifs, float32=bool(seed % 2))
    frame = FQ - float(rng.choice(f_ifs))
    taken = _spy(monkeypatch)
    ours = evolve(params, env, DT, frame, dissipation=dissipation)
    assert taken and all(taken)
    ref = _direct(monkeypatch, lambda: evolve(params, env, DT, frame, dissipation=dissipation))
    assert np.max(np.abs(ours - ref)) < 1e-12
    assert np.max(np.abs(populations(ours) - populations(ref))) < 1e-12
    u = unitary(params, env, DT, frame)
    u_ref = _direct(monkeypatch, lambda: unitary(params, env, DT, frame))
    assert np.max(np.abs(u - u_ref)) < 1e-12


def test_unitary_with_runs_of_several_lengths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flat tops and delays shared by the batch: (magnitude, duration) pairs are grouped."""
    rng = np.random.default_rng(11)
    params = _random_params(rng, 3)
    edge = _drag(params, 12, np.pi / 4, 0.3)
    rows = []
    for r in range(16):
        top = np.full(int(3 + r % 3), edge[-1])  # constant in every row: runs of length > 1
        gap = np.zeros(5 + r % 2)
        row = np.concatenate([edge, top, edge[::-1], gap, edge * 1j, np.zeros(8)])
        rows.append(row * np.exp(1j * (r % 4) * np.pi / 2))
    n = max(r.size for r in rows)
    env = np.stack([np.pad(r, (0, n - r.size)) for r in rows])
    _, lengths = transmon._runs(env)
    assert np.unique(lengths).size > 2
    monkeypatch.setattr(transmon, "MAGNITUDE_BITS", 52)
    taken = _spy(monkeypatch)
    u = unitary(params, env, DT, FQ + 3e6)
    assert taken and all(taken)  # the rows repeat magnitudes exactly: grouping pays
    u_ref = _direct(monkeypatch, lambda: unitary(params, env, DT, FQ + 3e6))
    assert np.max(np.abs(u - u_ref)) < 1e-12


@pytest.mark.parametrize("levels", [3, 4])
def test_default_grid_on_float32_rb_batch(levels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Float32-rounded DRAG sequences at 100 MHz IF: grouped by default, ≤ 1e-6 off."""
    rng = np.random.default_rng(20 + levels)
    params = _random_params(rng, levels)
    env = _sequences(rng, params, rows=40, pulses=25, f_ifs=(100e6,), float32=True)
    magnitudes = np.abs(env[env != 0])
    assert np.unique(magnitudes).size > 0.5 * magnitudes.size  # not equal to the bit
    taken = _spy(monkeypatch)
    ours = evolve(params, env, DT, FQ - 100e6)
    assert taken and all(taken)
    ref = _direct(monkeypatch, lambda: evolve(params, env, DT, FQ - 100e6))
    assert np.max(np.abs(populations(ours) - populations(ref))) < 1e-6
    assert np.max(np.abs(ours - ref)) < 1e-6
    assert np.max(populations(ref)[:, 1]) > 0.5  # the pulses do rotate the qubit


def test_distinct_magnitudes_take_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Noise-like drives (every magnitude distinct) give what one eigh per value gives."""
    rng = np.random.default_rng(30)
    params = _random_params(rng, 3)
    env = np.asarray(
        2e-3 * (rng.normal(size=(10, 60)) + 1j * rng.normal(size=(10, 60))), np.complex128
    )
    taken = _spy(monkeypatch)
    ours = evolve(params, env, DT, FQ)
    assert taken and not any(taken)
    ref = _direct(monkeypatch, lambda: evolve(params, env, DT, FQ))
    assert np.array_equal(ours, ref)


def test_tones_of_equal_amplitude_in_a_large_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """_tone_unitary's first sample is grouped too (≥ 64 rows of one amplitude)."""
    rng = np.random.default_rng(40)
    params = _random_params(rng, 3)
    b, n = 80, 200
    f_if = rng.uniform(-20e6, 20e6, b)
    amp = 2e6 / params.rabi_rate_hz_per_v * np.exp(1j * rng.uniform(0, 2 * np.pi, b))
    env = amp[:, None] * np.exp(-2j * np.pi * f_if[:, None] * np.arange(n) * DT)
    taken = _spy(monkeypatch)
    ours = unitary(params, env, DT, FQ)
    assert taken and all(taken)
    ref = _direct(monkeypatch, lambda: unitary(params, env, DT, FQ))
    assert np.max(np.abs(ours - ref)) < 1e-12
