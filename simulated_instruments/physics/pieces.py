"""Piecewise signals: what a sequencer plays in one step, kept as its entries.

A sequencer step is a list of entries, each a block of samples played ``repeats`` times.
The lab keeps a step in that form instead of expanding it sample by sample: a *hold* (one
value for many samples: an idle, a delay, a flat DC offset) stays one number and a length,
so a 1 ms delay costs what one sample costs, and the transmon evolves through it in closed
form (:func:`~qneko_hw.simulated_instruments.physics.transmon.evolve_hold`).

A :data:`Piece` is ``(block, repeats)``; after :func:`normalise` a hold is a block of one
sample with ``repeats`` its length, and anything else is a block played once (``repeats``
1). Pieces are plain numpy data, so they pickle to the lab's worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw.simulated_instruments.physics import transmon

__all__ = [
    "HOLD_MIN_SAMPLES",
    "Piece",
    "combine",
    "dense",
    "evolve_pieces",
    "expand",
    "first_nonzero",
    "is_zero",
    "length",
    "normalise",
    "truncate",
]

Piece = tuple[NDArray[np.generic], int]
"""A block of samples and how many times it plays in a row."""

HOLD_MIN_SAMPLES = 256
"""A hold at least this long is evolved in closed form; shorter ones are expanded."""


def dense(samples: NDArray[np.generic]) -> list[Piece]:
    """One step given sample by sample."""
    return normalise([(np.asarray(samples), 1)])


def _is_hold(piece: Piece) -> bool:
    return piece[0].size == 1


def normalise(pieces: Sequence[Piece]) -> list[Piece]:
    """Equivalent pieces in canonical form: every repeated constant block becomes a hold
    (one sample × length), a repeated varying block is expanded, empty pieces go, and
    neighbouring holds of one value or neighbouring dense blocks are merged."""
    out: list[Piece] = []
    for given, repeats in pieces:
        block = np.asarray(given).reshape(-1)
        n = int(repeats)
        if block.size == 0 or n <= 0:
            continue
        if n > 1 or block.size > 1:
            if bool(np.all(block == block[0])):
                block, n = block[:1], block.size * n
            elif n > 1:
                block, n = np.tile(block, n), 1
        if out:
            last, last_n = out[-1]
            if last.size == 1 and block.size == 1 and last[0] == block[0]:
                out[-1] = (last, last_n + n)
                continue
            if last.size > 1 and block.size > 1 and last_n == 1 and n == 1:
                out[-1] = (np.concatenate([last, block]), 1)
                continue
        out.append((block, n))
    return out


def length(pieces: Sequence[Piece]) -> int:
    """Samples played."""
    return sum(int(b.size) * int(n) for b, n in pieces)


def _bounds(pieces: Sequence[Piece]) -> NDArray[np.int64]:
    sizes = np.array([int(b.size) * int(n) for b, n in pieces], dtype=np.int64)
    return np.concatenate(([0], np.cumsum(sizes)))


def expand(
    pieces: Sequence[Piece], start: int = 0, stop: int | None = None, dtype: Any = np.complex128
) -> NDArray[np.generic]:
    """Samples ``start:stop`` as one array (zeros past the end)."""
    return _expand(pieces, _bounds(pieces), start, stop, dtype)


def _expand(
    pieces: Sequence[Piece],
    bounds: NDArray[np.int64],
    start: int,
    stop: int | None,
    dtype: Any = np.complex128,
) -> NDArray[np.generic]:
    """:func:`expand` with the pieces' :func:`_bounds` given (no walk from the start)."""
    stop = int(bounds[-1]) if stop is None else stop
    out: NDArray[np.generic] = np.zeros(max(stop - start, 0), dtype=dtype)
    first = max(int(np.searchsorted(bounds, start, side="right")) - 1, 0)
    for i in range(first, len(pieces)):
        pos = int(bounds[i])
        if pos >= stop:
            break
        block, n = pieces[i]
        lo, hi = max(start, pos), min(stop, int(bounds[i + 1]))
        if lo < hi:
            if block.size == 1:
                out[lo - start : hi - start] = block[0]
            else:
                played = block if n == 1 else np.tile(block, n)
                out[lo - start : hi - start] = played[lo - pos : hi - pos]
    return out


def truncate(pieces: Sequence[Piece], n: int) -> list[Piece]:
    """The first ``n`` samples (fewer if the step is shorter)."""
    out: list[Piece] = []
    pos = 0
    for block, reps in pieces:
        size = int(block.size) * int(reps)
        if pos + size <= n:
            out.append((block, reps))
        elif pos < n:
            keep = n - pos
            out.append((block[:1], keep) if block.size == 1 else (block[:keep], 1))
        pos += size
        if pos >= n:
            break
    return out


def first_nonzero(pieces: Sequence[Piece]) -> int:
    """Index of the first non-zero sample; the length if there is none."""
    pos = 0
    for block, n in pieces:
        nz = np.flatnonzero(block)
        if nz.size:
            return pos + int(nz[0])
        pos += int(block.size) * int(n)
    return pos


def is_zero(pieces: Sequence[Piece]) -> bool:
    """Whether every sample is zero."""
    return not any(bool(np.any(b)) for b, _ in pieces)


def _dtype(pieces: Sequence[Piece]) -> Any:
    return np.result_type(*[b.dtype for b, _ in pieces]) if pieces else np.dtype(np.float64)


def combine(
    a: Sequence[Piece],
    b: Sequence[Piece],
    fn: Callable[[NDArray[np.generic], NDArray[np.generic]], NDArray[np.generic]],
) -> list[Piece]:
    """Samplewise ``fn(a, b)`` (the shorter padded with zeros), kept piecewise: where both
    hold, the result holds ``fn`` of the two values."""
    a, b = normalise(a), normalise(b)
    total = max(length(a), length(b))
    pad_a = total - length(a)
    pad_b = total - length(b)
    if pad_a:
        a = [*a, (np.zeros(1, dtype=a[0][0].dtype if a else np.float64), pad_a)]
    if pad_b:
        b = [*b, (np.zeros(1, dtype=b[0][0].dtype if b else np.float64), pad_b)]
    ta, tb = _dtype(a), _dtype(b)
    ba, bb = _bounds(a), _bounds(b)
    cuts = np.union1d(ba, bb)
    out: list[Piece] = []
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        ia = int(np.searchsorted(ba, lo, side="right")) - 1
        ib = int(np.searchsorted(bb, lo, side="right")) - 1
        if _is_hold(a[ia]) and _is_hold(b[ib]):
            out.append((np.asarray(fn(a[ia][0], b[ib][0])).reshape(1), hi - lo))
        else:
            da, db = _expand(a, ba, lo, hi, ta), _expand(b, bb, lo, hi, tb)
            out.append((np.asarray(fn(da, db)), 1))
    return normalise(out)


def evolve_pieces(
    params: transmon.TransmonParams,
    batch: Sequence[Sequence[Piece]],
    dt_s: float,
    frame_frequency_hz: float,
) -> NDArray[np.complex128]:
    """Final density matrices of a batch of piecewise drive envelopes (V at the chip).

    The same as :func:`~qneko_hw.simulated_instruments.physics.transmon.evolve` of the
    expanded batch (the shorter steps padded with zeros at the end): the time axis is cut
    where any step's pieces change; a stretch where every step holds (at least
    :data:`HOLD_MIN_SAMPLES`) is one closed-form propagator per step, everything between
    is solved as one dense batch.
    """
    steps = [normalise(p) for p in batch]
    total = max((length(p) for p in steps), default=0)
    steps = [[*p, (np.zeros(1, dtype=np.complex128), total - length(p))] for p in steps]
    steps = [normalise(p) for p in steps]
    bounds = [_bounds(p) for p in steps]
    cuts = np.unique(np.concatenate([np.array([0, total], dtype=np.int64), *bounds]))
    # (lo, hi, values or None): None marks a stretch that is solved densely
    stretches: list[tuple[int, int, NDArray[np.complex128] | None]] = []
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        values = []
        for p, bd in zip(steps, bounds, strict=True):
            piece = p[int(np.searchsorted(bd, lo, side="right")) - 1]
            if not _is_hold(piece):
                break
            values.append(complex(piece[0][0]))
        held = len(values) == len(steps) and hi - lo >= HOLD_MIN_SAMPLES
        if held:
            stretches.append((lo, hi, np.asarray(values, dtype=np.complex128)))
        elif stretches and stretches[-1][2] is None:
            stretches[-1] = (stretches[-1][0], hi, None)
        else:
            stretches.append((lo, hi, None))
    rho: NDArray[np.complex128] | None = None
    for lo, hi, held in stretches:
        if held is None:
            env = np.zeros((len(steps), hi - lo), dtype=np.complex128)
            for k, (p, bd) in enumerate(zip(steps, bounds, strict=True)):
                env[k] = _expand(p, bd, lo, hi)
            rho = transmon.evolve(params, env, dt_s, frame_frequency_hz, rho0=rho)
        else:
            rho = transmon.evolve_hold(params, held, (hi - lo) * dt_s, frame_frequency_hz, rho0=rho)
    if rho is None:
        empty = np.zeros((len(steps), 0), dtype=np.complex128)
        rho = transmon.evolve(params, empty, dt_s, frame_frequency_hz)
    return np.asarray(rho, dtype=np.complex128)
