"""Render sequencer programs into sample-exact channel outputs.

For an AWG that has no sequencer of its own (the foundation's QNeko AWG4), the executor
uploads what :func:`render_awg` returns: one float32 waveform per channel and sweep step,
deduplicated by content, and a sequence table naming them.

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

__all__ = ["render_awg", "render_line", "render_step"]


class _Templates:
    """Modulated waveforms ``W[k]·e^{−i2π·f·(k+1/2)·dt}`` cached per (waveform, IF)."""

    def __init__(self, program: AwgProgram) -> None:
        self.program = program
        self.dt = 1.0 / program.sample_rate_hz
        self.cache: dict[tuple[int, float], NDArray[np.complex128]] = {}

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
    program: AwgProgram, line: LinePlan, step: int, templates: _Templates | None = None
) -> NDArray[np.complex128]:
    """Complex output ``I + iQ`` (V) of one line at one step, before mixer correction."""
    tpl = templates or _Templates(program)
    z = np.zeros(int(program.step_samples[step]), dtype=np.complex128)
    entries = _step_slice(line.entries, step)
    if entries.size == 0:
        return z
    starts = entries["start"]
    freqs = entries["frequency"]
    coeff = entries["amplitude"] * np.exp(
        1j * (entries["phase"] - 2 * math.pi * freqs * starts * tpl.dt)
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


def render_step(program: AwgProgram, step: int) -> dict[int, NDArray[np.float64]]:
    """Channel → output voltage (V) of every line of ``program`` at sweep ``step``."""
    tpl = _Templates(program)
    out: dict[int, NDArray[np.float64]] = {}
    for line in program.lines:
        z = render_line(program, line, step, tpl)
        c = line.correction
        if line.channel_q is None:
            out[line.channel_i] = z.real.copy()
            continue
        if c == MixerCorrection():
            out[line.channel_i] = z.real
            out[line.channel_q] = z.imag
            continue
        cos_phi = math.cos(c.phase_error_rad)
        q = z.imag / ((1 + c.gain_imbalance) * cos_phi) - c.offset_q_v
        i = z.real + z.imag * math.tan(c.phase_error_rad) - c.offset_i_v
        out[line.channel_i] = i
        out[line.channel_q] = q
    return out


def render_awg(program: AwgProgram) -> tuple[dict[str, NDArray[np.float32]], list[dict[int, str]]]:
    """Waveforms (name → float32 in [−1, 1], by content hash) and the per-step sequence.

    Raises:
        CompilationError: a rendered sample exceeds the channel's amplitude (names the
            instrument, channel, step and limit).
    """
    waves: dict[str, NDArray[np.float32]] = {}
    sequence: list[dict[int, str]] = []
    for step in range(program.steps):
        seq: dict[int, str] = {}
        for ch, volts in render_step(program, step).items():
            amp = program.amplitudes_v[ch]
            peak = float(np.abs(volts).max()) if volts.size else 0.0
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
            samples = np.clip(volts / amp, -1.0, 1.0).astype(np.float32)
            name = "w" + hashlib.sha256(samples.tobytes()).hexdigest()[:20]
            waves.setdefault(name, samples)
            seq[ch] = name
        sequence.append(dict(sorted(seq.items())))
    return waves, sequence
