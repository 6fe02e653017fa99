"""Tone runs in batches of drive envelopes: stretches where, in every row b, consecutive
samples follow z_b[n+1] = ρ_b·z_b[n] with |ρ_b| = 1 (a constant-amplitude pulse at an IF).

Detection only (pure numpy); :mod:`.transmon` propagates them exactly. Tolerance: every
ratio within ``TONE_RTOL`` (relative) in every row, then θ_b and c_b fitted over the run and
accepted only if every sample is within ``TONE_RTOL·|c_b|`` of ``c_b·e^{iθ_b·n}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["TONE_RTOL", "Tone", "covered", "tone_runs"]

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]

#: Relative tolerance of the tone detection (ratios, and samples against the fitted tone).
TONE_RTOL = 1e-6


@dataclass(frozen=True)
class Tone:
    """A tone run: samples [start, stop) with z_b[start + n] = amplitude_b·e^{i·step_b·n}."""

    start: int
    stop: int
    amplitude: ComplexArray  # (B,) complex, V at the chip
    step: FloatArray  # (B,) θ_b = arg ρ_b, rad per sample


def _abs2(z: ComplexArray) -> FloatArray:
    return np.asarray(z.real * z.real + z.imag * z.imag, dtype=np.float64)


def _fit_tone(segment: ComplexArray, start: int) -> Tone | None:
    """Fit z_b[n] = c_b·e^{iθ_b·n} to a (B, L) segment; None unless every sample fits."""
    b, length = segment.shape
    cross = np.sum(segment[:, 1:] * np.conj(segment[:, :-1]), axis=1)  # pairwise sum
    step = np.asarray(np.angle(cross), dtype=np.float64)  # 0 for a row zero throughout
    # e^{−iθn} for n = 64·q + r as e^{−iθ·64q}·e^{−iθr}: two short exponentials, ≤ 1 ulp off
    fine = np.exp(-1j * step[:, None] * np.arange(64))
    coarse = np.exp(-1j * step[:, None] * (64.0 * np.arange(-(-length // 64))))
    rotation = (coarse[:, :, None] * fine[:, None, :]).reshape(b, -1)[:, :length]
    demodulated = segment * rotation  # c_b + (deviation from the tone)·e^{−iθn}
    amplitude = np.mean(demodulated, axis=1)
    deviation = np.max(np.abs(demodulated - amplitude[:, None]), axis=1)
    if np.any(deviation > TONE_RTOL * np.abs(amplitude)):
        return None
    return Tone(start, start + length, amplitude, step)


def _spans(flags: NDArray[np.bool_], min_count: int) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in ``flags`` at least ``min_count`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [
        (lo, hi)
        for lo, hi in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True)
        if hi - lo >= min_count
    ]


def _tones_in(envelopes: ComplexArray, offset: int, min_samples: int) -> list[Tone]:
    """Tone runs of at least ``min_samples`` samples in a (B, L) stretch of the envelopes.

    Division-free tests of the ratios q_n = z[n+1]/z[n] in every row: |q_n| = 1 (or zero to
    zero) as ``||z[n+1]|² − |z[n]|²| ≤ 2·tol·|z[n]|²``; where a span of such links fits no
    single tone, it is split where q_n ≠ q_{n−1}: ``|z[n+1]·z[n−1] − z[n]²| > tol·|z[n]|²``.
    """
    power = _abs2(envelopes)
    link = np.all(np.abs(power[:, 1:] - power[:, :-1]) <= 2 * TONE_RTOL * power[:, :-1], axis=0)
    tones: list[Tone] = []
    for lo, hi in _spans(link, min_samples - 1):  # links lo..hi−1: samples lo..hi
        span = envelopes[:, lo : hi + 1]
        whole = _fit_tone(span, offset + lo)
        if whole is not None:
            tones.append(whole)
            continue
        curvature = span[:, 2:] * span[:, :-2] - span[:, 1:-1] ** 2
        steady = np.all(_abs2(curvature) <= TONE_RTOL**2 * power[:, lo + 1 : hi] ** 2, axis=0)
        # chains of links with one ratio: links first..first+count−1, samples first..first+count
        firsts = np.flatnonzero(np.concatenate(([True], ~steady)))
        counts = np.diff(np.append(firsts, span.shape[1] - 1))
        free_from = 0  # consecutive chains share a sample: keep the tones disjoint
        for first, count in zip(firsts.tolist(), counts.tolist(), strict=True):
            start, stop = max(first, free_from), first + count + 1
            if stop - start < min_samples:
                continue
            tone = _fit_tone(span[:, start:stop], offset + lo + start)
            if tone is not None:
                tones.append(tone)
                free_from = stop
    return tones


def tone_runs(
    envelopes: ComplexArray,
    starts: NDArray[np.intp],
    lengths: NDArray[np.intp],
    min_samples: int,
) -> list[Tone]:
    """Disjoint tone runs of at least ``min_samples`` samples, ordered in time.

    ``starts``, ``lengths``: the runs of samples identical across the batch. A tone that is
    not constant in every row changes some sample at every step, so it lies in a stretch of
    single-sample runs; only those stretches are searched.
    """
    min_samples = max(3, min_samples)
    tones: list[Tone] = []
    for r0, r1 in _spans(lengths == 1, min_samples):
        lo, hi = int(starts[r0]), int(starts[r1 - 1]) + 1
        tones.extend(_tones_in(envelopes[:, lo:hi], lo, min_samples))
    return tones


def covered(tones: list[Tone], n: int) -> NDArray[np.bool_]:
    """Mask of the samples inside a tone run, shape (N,)."""
    mask = np.zeros(n, dtype=bool)
    for tone in tones:
        mask[tone.start : tone.stop] = True
    return mask
