"""Render sequencer programs into sample-exact channel outputs.

The executor uploads what :func:`render_awg` returns: float32 waveforms deduplicated by
content, and a sequence table naming them per step and channel. For an AWG whose sequencer
repeats entries (the QNeko AWG4), every run of one value at least
:data:`HOLD_MIN_SAMPLES` long (an idle, a delay) becomes one block of
:data:`HOLD_BLOCK_SAMPLES` played many times, so a 1 ms delay costs 256 samples of memory,
not a million; otherwise each channel plays one waveform per step.

Each entry adds ``amplitude·e^{i·phase}·W[k]·e^{−i2π·IF·t}`` at sample ``start + k`` of its
step (``t`` the sample centre from the step's start). The IQ-mixer correction of the line
then pre-distorts ``z = x + iy`` into the I and Q that the modelled mixer turns back into
``z``: ``Q = y / ((1+g)·cos φ) − o_Q``, ``I = x + y·tan φ − o_I``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray

from qneko_hw.compiler.programs import AwgProgram, LinePlan, MixerCorrection
from qneko_hw.errors import CompilationError

__all__ = [
    "HOLD_BLOCK_SAMPLES",
    "HOLD_MIN_SAMPLES",
    "Entries",
    "render_awg",
    "render_line",
    "render_step",
]

HOLD_MIN_SAMPLES = 1024
"""A run of one value at least this long is played as a repeated block."""
HOLD_BLOCK_SAMPLES = 256
"""Length of the repeated block (the rest of the run joins the waveform before it)."""

Entries = tuple[tuple[str, int], ...]
"""What one channel plays in one step: (waveform name, times in a row), in order."""


class _Templates:
    """Modulated waveforms ``W[k]·e^{−i2π·f·(k+1/2)·dt}`` cached per (waveform, IF)."""

    def __init__(self, program: AwgProgram) -> None:
        self.program = program
        self.dt = 1.0 / program.sample_rate_hz
        self.cache: dict[tuple[int, float], NDArray[np.complex128]] = {}
        self.sizes = np.array([w.size for w in program.waveforms], dtype=np.int64)

    def get(self, wf: int, f: float) -> NDArray[np.complex128]:
        key = (wf, f)
        t = self.cache.get(key)
        if t is None:
            w = self.program.waveforms[wf]
            if f == 0.0:
                t = w
            else:
                k = np.arange(w.size, dtype=np.float64) + 0.5
                t = w * np.exp(-2j * math.pi * f * self.dt * k)
            self.cache[key] = t
        return t


def _step_slice(entries: NDArray[np.void], step: int) -> NDArray[np.void]:
    steps = entries["step"]
    lo = int(np.searchsorted(steps, step, side="left"))
    hi = int(np.searchsorted(steps, step, side="right"))
    return entries[lo:hi]


def render_line(
    program: AwgProgram,
    line: LinePlan,
    step: int,
    templates: _Templates | None = None,
    window: tuple[int, int] | None = None,
) -> NDArray[np.complex128]:
    """Complex output ``I + iQ`` (V) of one line at one step, before mixer correction;
    only samples ``window[0]:window[1]`` if given (every entry that overlaps the window
    must lie inside it)."""
    tpl = templates or _Templates(program)
    lo, hi = (0, int(program.step_samples[step])) if window is None else window
    z = np.zeros(hi - lo, dtype=np.complex128)
    entries = _step_slice(line.entries, step)
    if window is not None and entries.size:
        ends = entries["start"] + tpl.sizes[entries["waveform"]]
        entries = entries[(entries["start"] < hi) & (ends > lo)]
    if entries.size == 0:
        return z
    phases = entries["start"]
    starts = phases - lo
    freqs = entries["frequency"]
    coeff = entries["amplitude"] * np.exp(
        1j * (entries["phase"] - 2 * math.pi * freqs * phases * tpl.dt)
    )
    # group entries by (waveform, IF): each group shares one modulated template
    wfs = entries["waveform"]
    if bool(np.all(freqs == freqs[0])) and bool(np.all(wfs == wfs[0])):
        t = tpl.get(int(wfs[0]), float(freqs[0]))
        if bool(np.all(np.diff(starts) == t.size)):
            first = int(starts[0])
            rows = z[first : first + starts.size * t.size].reshape(starts.size, -1)
            np.multiply(coeff[:, None], t[None, :], out=rows)
            return z
    f_values, f_index = np.unique(freqs, return_inverse=True)
    key = entries["waveform"].astype(np.int64) * f_values.size + f_index.reshape(-1)
    group_keys, group = np.unique(key, return_inverse=True)
    group = group.reshape(-1)
    bank_parts = [
        tpl.get(int(k // f_values.size), float(f_values[k % f_values.size])) for k in group_keys
    ]
    sizes = np.array([b.size for b in bank_parts], dtype=np.int64)
    lens = sizes[group]
    uniform = bool(np.all(lens == lens[0]))
    if uniform and bool(np.all(starts[1:] == starts[:-1] + lens[:-1])):
        # back-to-back entries of one length (a gate sequence): rows of outer products
        first = int(starts[0])
        rows = z[first : first + starts.size * int(lens[0])].reshape(starts.size, -1)
        if len(bank_parts) == 1:
            np.multiply(coeff[:, None], bank_parts[0][None, :], out=rows)
        else:
            for g, t in enumerate(bank_parts):
                sel = group == g
                rows[sel] = coeff[sel, None] * t[None, :]
        return z
    if starts.size < 2 or bool(np.all(starts[1:] >= starts[:-1] + lens[:-1])):
        # entries sorted and disjoint: per template, rows of outer products scattered at once
        for g, t in enumerate(bank_parts):
            sel = np.flatnonzero(group == g)
            z[starts[sel, None] + np.arange(t.size)] = coeff[sel, None] * t[None, :]
        return z
    for g, t in enumerate(bank_parts):
        sel = np.flatnonzero(group == g)
        idx = starts[sel, None] + np.arange(t.size)[None, :]
        np.add.at(z, idx, coeff[sel, None] * t[None, :])
    return z


def _channel_outputs(line: LinePlan, z: NDArray[np.complex128]) -> dict[int, NDArray[np.float64]]:
    """Channel → voltage (V) of a line's complex output ``z``, pre-distorted for its mixer."""
    c = line.correction
    if line.channel_q is None:
        return {line.channel_i: z.real.copy()}
    if c == MixerCorrection():
        return {line.channel_i: z.real, line.channel_q: z.imag}
    cos_phi = math.cos(c.phase_error_rad)
    q = z.imag / ((1 + c.gain_imbalance) * cos_phi) - c.offset_q_v
    i = z.real + z.imag * math.tan(c.phase_error_rad) - c.offset_i_v
    return {line.channel_i: i, line.channel_q: q}


def render_step(
    program: AwgProgram, step: int, window: tuple[int, int] | None = None
) -> dict[int, NDArray[np.float64]]:
    """Channel → output voltage (V) of every line of ``program`` at sweep ``step`` (only
    the samples of ``window``, see :func:`render_line`)."""
    tpl = _Templates(program)
    out: dict[int, NDArray[np.float64]] = {}
    for line in program.lines:
        out.update(_channel_outputs(line, render_line(program, line, step, tpl, window)))
    return out


def _windows(program: AwgProgram, step: int) -> list[tuple[int, int]]:
    """Stretches of ``step`` that some entry plays in, merged across gaps shorter than
    :data:`HOLD_MIN_SAMPLES`; outside them every channel idles at one value."""
    sizes = np.array([w.size for w in program.waveforms], dtype=np.int64)
    spans: list[tuple[int, int]] = []
    for line in program.lines:
        e = _step_slice(line.entries, step)
        ends = e["start"] + sizes[e["waveform"]]
        spans.extend(zip(e["start"].tolist(), ends.tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a - merged[-1][1] < HOLD_MIN_SAMPLES:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _name(samples: NDArray[np.float32]) -> str:
    return "w" + hashlib.sha256(samples.tobytes()).hexdigest()[:20]


def _pieces(samples: NDArray[np.float32]) -> list[tuple[NDArray[np.float32], int]]:
    """``samples`` as (block, repeats): runs of one value ≥ HOLD_MIN_SAMPLES repeated."""
    n = samples.size
    if n < HOLD_MIN_SAMPLES:
        return [(samples, 1)]
    change = np.flatnonzero(samples[1:] != samples[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.append(starts, n))
    out: list[tuple[NDArray[np.float32], int]] = []
    pos = 0  # first sample not yet placed
    for r in np.flatnonzero(lengths >= HOLD_MIN_SAMPLES).tolist():
        start, run = int(starts[r]), int(lengths[r])
        repeats, rest = divmod(run, HOLD_BLOCK_SAMPLES)
        if start + rest > pos:
            out.append((samples[pos : start + rest], 1))
        out.append((np.full(HOLD_BLOCK_SAMPLES, samples[start], dtype=np.float32), repeats))
        pos = start + run
    if pos < n:
        out.append((samples[pos:], 1))
    return out


def _step_parts(program: AwgProgram, step: int) -> dict[int, list[tuple[NDArray[np.float64], int]]]:
    """Channel → (volts, times in a row) of ``step``: each window rendered once, each gap
    between windows its channel's idle value (one sample) held for the gap."""
    n = int(program.step_samples[step])
    idle: dict[int, NDArray[np.float64]] = {}
    for line in program.lines:
        idle.update(_channel_outputs(line, np.zeros(1, dtype=np.complex128)))
    parts: dict[int, list[tuple[NDArray[np.float64], int]]] = {ch: [] for ch in idle}
    pos = 0
    for a, b in [*_windows(program, step), (n, n)]:
        if a > pos:
            for ch, value in idle.items():
                parts[ch].append((value, a - pos))
        if b > a:
            for ch, volts in render_step(program, step, (a, b)).items():
                parts[ch].append((volts, 1))
        pos = max(pos, b)
    return parts


def _entries(parts: list[tuple[NDArray[np.float32], int]]) -> list[tuple[NDArray[np.float32], int]]:
    """Blocks to upload and their repeats: a hold of at least HOLD_MIN_SAMPLES becomes one
    block of HOLD_BLOCK_SAMPLES repeated (the rest joins its neighbour), everything else is
    joined into waveforms, in which long runs of one value are held too."""
    flat: list[tuple[NDArray[np.float32], int]] = []
    for block, n in parts:
        if block.size == 1 and n >= HOLD_MIN_SAMPLES:
            repeats, rest = divmod(n, HOLD_BLOCK_SAMPLES)
            if rest:
                flat.append((np.full(rest, block[0], dtype=np.float32), 1))
            flat.append((np.full(HOLD_BLOCK_SAMPLES, block[0], dtype=np.float32), repeats))
        elif block.size == 1:
            flat.append((np.full(n, block[0], dtype=np.float32), 1))
        else:
            flat.append((block, n))
    out: list[tuple[NDArray[np.float32], int]] = []
    run: list[NDArray[np.float32]] = []
    for block, n in [*flat, (np.zeros(0, dtype=np.float32), 0)]:
        if n == 1:
            run.append(block)
            continue
        if run:
            out.extend(_pieces(np.concatenate(run)))
            run = []
        if n > 1:
            out.append((block, n))
    return out


def render_awg(
    program: AwgProgram,
) -> tuple[dict[str, NDArray[np.float32]], list[dict[int, str | Entries]]]:
    """Waveforms (name → float32 in [−1, 1], by content hash) and the per-step sequence:
    channel → waveform name, or (for ``program.repeat_entries``, where a step holds a long
    run of one value) its entries. With ``repeat_entries`` only what the entries play is
    rendered; the idle between them is a value held, never a sample per nanosecond.

    Raises:
        CompilationError: a rendered sample exceeds the channel's amplitude (names the
            instrument, channel, step and limit).
    """
    waves: dict[str, NDArray[np.float32]] = {}
    sequence: list[dict[int, str | Entries]] = []
    for step in range(program.steps):
        if program.repeat_entries:
            by_channel = _step_parts(program, step)
        else:
            by_channel = {ch: [(v, 1)] for ch, v in render_step(program, step).items()}
        seq: dict[int, str | Entries] = {}
        for ch, parts in by_channel.items():
            amp = program.amplitudes_v[ch]
            peak = max((float(np.abs(v).max()) for v, _ in parts if v.size), default=0.0)
            if peak > amp * (1 + 1e-9):
                raise CompilationError(
                    f"{program.instrument} channel {ch}: peak {peak:.4g} V at sweep step {step} "
                    f"exceeds the channel limit {amp:.4g} V",
                    instrument=program.instrument,
                    channel=str(ch),
                    instruction=f"step {step}",
                    limit=amp,
                    value=peak,
                )
            scaled = [(np.clip(v / amp, -1.0, 1.0).astype(np.float32), n) for v, n in parts]
            blocks = _entries(scaled) if program.repeat_entries else scaled
            entries = []
            for block, repeats in blocks:
                name = _name(block)
                waves.setdefault(name, block)
                entries.append((name, repeats))
            seq[ch] = entries[0][0] if len(entries) == 1 and entries[0][1] == 1 else tuple(entries)
        sequence.append(dict(sorted(seq.items())))
    return waves, sequence
