"""Compiled programs: what each instrument is told to do. Plain data, no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AwgProgram",
    "CompiledExperiment",
    "Demodulator",
    "DigitizerProgram",
    "LoProgram",
]


@dataclass(frozen=True, eq=False)
class Demodulator:
    """One integration window of a digitizer.

    Attributes:
        channel: digitizer input (1-based); frequency_hz: IF removed by demodulation (Hz);
        start_samples / length_samples: window after the trigger (digitizer samples);
        weights: complex weights per sample, or ``None`` for a box window.
    """

    channel: int
    frequency_hz: float
    start_samples: int
    length_samples: int
    weights: NDArray[np.complex64] | None = None


@dataclass(frozen=True)
class AwgProgram:
    """Waveforms (float32 in [−1, 1], by content-hash name), a sequence and channel settings.

    ``sequence[k]`` maps channel → waveform name at sweep step k. ``amplitudes_v`` maps
    channel → peak output voltage (V) that a sample of 1.0 gives.
    """

    instrument: str
    sample_rate_hz: float
    waveforms: dict[str, NDArray[np.float32]]
    sequence: tuple[dict[int, str], ...]
    amplitudes_v: dict[int, float]
    shots: int
    repetition_time_s: float
    readout: bool = False


@dataclass(frozen=True)
class DigitizerProgram:
    """Acquisition set-up: shots per step, steps, and the named demodulators."""

    instrument: str
    shots: int
    steps: int
    demodulators: tuple[Demodulator, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class LoProgram:
    """Settings of an LO source: frequency (Hz), power (dBm), output on."""

    instrument: str
    frequency_hz: float
    power_dbm: float
    output: bool = True


@dataclass(frozen=True)
class CompiledExperiment:
    """All programs of one experiment, plus the sweep axis and where each acquisition lands."""

    name: str
    awgs: tuple[AwgProgram, ...]
    digitizers: tuple[DigitizerProgram, ...]
    los: tuple[LoProgram, ...]
    sweep_parameter: str | None
    sweep_values: NDArray[np.float64]
    shots: int
    digest: str = field(default="")

    def sha256(self) -> str:
        """Content hash of every program (stable across processes and runs)."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        for awg in self.awgs:
            h.update(f"awg|{awg.instrument}|{awg.sample_rate_hz!r}|{awg.shots}|".encode())
            h.update(f"{awg.repetition_time_s!r}|{sorted(awg.amplitudes_v.items())!r}".encode())
            for name in sorted(awg.waveforms):
                h.update(name.encode())
                h.update(np.ascontiguousarray(awg.waveforms[name]).tobytes())
            for step in awg.sequence:
                h.update(repr(sorted(step.items())).encode())
        for dig in self.digitizers:
            h.update(f"dig|{dig.instrument}|{dig.shots}|{dig.steps}|{dig.names!r}".encode())
            for d in dig.demodulators:
                h.update(
                    f"{d.channel}|{d.frequency_hz!r}|{d.start_samples}|{d.length_samples}".encode()
                )
                if d.weights is not None:
                    h.update(np.ascontiguousarray(d.weights).tobytes())
        for lo in self.los:
            h.update(
                f"lo|{lo.instrument}|{lo.frequency_hz!r}|{lo.power_dbm!r}|{lo.output}".encode()
            )
        h.update(np.ascontiguousarray(self.sweep_values).tobytes())
        return h.hexdigest()
