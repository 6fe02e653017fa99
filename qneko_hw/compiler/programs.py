"""Compiled programs: what each instrument is told to do. Plain data, no I/O.

An AWG program is a *sequencer* program: a table of unit-amplitude complex waveforms
(deduplicated by the sha256 of their samples) and, per I/Q line, a table of entries — at
which sample of which sweep step which waveform starts, with which amplitude, phase and IF.
:mod:`qneko_hw.compiler.render` turns it into sample-exact channel outputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ENTRY_DTYPE",
    "AwgProgram",
    "CompiledExperiment",
    "DcProgram",
    "Demodulator",
    "DigitizerProgram",
    "LinePlan",
    "LoProgram",
    "MixerCorrection",
]

ENTRY_DTYPE = np.dtype(
    [
        ("step", "<i4"),
        ("start", "<i8"),
        ("waveform", "<i4"),
        ("amplitude", "<f8"),
        ("phase", "<f8"),
        ("frequency", "<f8"),
    ]
)
"""One played pulse: sweep step, start sample, waveform index, amplitude (V), phase (rad),
IF (Hz). Its output is ``amplitude·e^{i·phase}·W[k]·e^{−i2π·IF·t}`` at sample ``start + k``,
with ``t`` the sample centre counted from the start of the step."""


@dataclass(frozen=True, eq=False)
class Demodulator:
    """One integration window of a digitizer.

    Attributes:
        channel: digitizer input (1-based); frequency_hz: IF removed by demodulation (Hz),
        the digitizer multiplies by ``exp(+2j·π·f·t)``; start_samples / length_samples:
        window after the trigger (digitizer samples); weights: complex weights per sample,
        or ``None`` for a box window.
    """

    channel: int
    frequency_hz: float
    start_samples: int
    length_samples: int
    weights: NDArray[np.complex64] | None = None


@dataclass(frozen=True)
class MixerCorrection:
    """Model of an IQ mixer that the compiler pre-distorts for: Q-arm gain and phase error
    (rad), DC offsets (V). The identity leaves I and Q as they are."""

    gain_imbalance: float = 0.0
    phase_error_rad: float = 0.0
    offset_i_v: float = 0.0
    offset_q_v: float = 0.0


@dataclass(frozen=True, eq=False)
class LinePlan:
    """The entries played on one line of an AWG: an I/Q pair, or one baseband channel.

    ``channel_q`` is ``None`` for a baseband (flux) line, which plays the real part only.
    """

    name: str
    channel_i: int
    channel_q: int | None
    entries: NDArray[np.void]
    correction: MixerCorrection = MixerCorrection()


@dataclass(frozen=True, eq=False)
class AwgProgram:
    """Sequencer program of one AWG.

    Attributes:
        waveforms: unit-amplitude complex shapes; ``waveform_names`` their sha256 names.
        lines: what each I/Q line (or flux channel) plays.
        step_samples: length of each sweep step (samples).
        amplitudes_v: channel → peak output (V) that a rendered sample of 1.0 gives.
        readout: this AWG plays a readout line (it is triggered last).
        repeat_entries: the AWG's sequencer repeats entries (``repeats`` of
            :class:`~qneko_hw.instruments.AwgTraits`):
            render long runs of one value as one short block played many times.
    """

    instrument: str
    sample_rate_hz: float
    waveforms: tuple[NDArray[np.complex128], ...]
    waveform_names: tuple[str, ...]
    lines: tuple[LinePlan, ...]
    step_samples: NDArray[np.int64]
    amplitudes_v: dict[int, float]
    shots: int
    repetition_time_s: float
    readout: bool = False
    repeat_entries: bool = False

    @property
    def steps(self) -> int:
        """Number of sweep steps."""
        return int(self.step_samples.size)


@dataclass(frozen=True, eq=False)
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
class DcProgram:
    """Settings of a DC source: output voltage (V), output on."""

    instrument: str
    voltage_v: float
    output: bool = True


@dataclass(frozen=True, eq=False)
class CompiledExperiment:
    """All programs of one experiment, plus the sweep axis and where each acquisition lands."""

    name: str
    awgs: tuple[AwgProgram, ...]
    digitizers: tuple[DigitizerProgram, ...]
    los: tuple[LoProgram, ...]
    sweep_parameter: str | None
    sweep_values: NDArray[np.float64]
    shots: int
    frame_phases: dict[str, float] = field(default_factory=dict)
    dcs: tuple[DcProgram, ...] = ()
    digest: str = ""

    def sha256(self) -> str:
        """Content hash of every program (stable across processes and runs)."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        for awg in self.awgs:
            h.update(f"awg|{awg.instrument}|{awg.sample_rate_hz!r}|{awg.shots}|".encode())
            h.update(f"{awg.repetition_time_s!r}|{sorted(awg.amplitudes_v.items())!r}".encode())
            h.update(f"{awg.readout}|".encode())
            h.update("|".join(awg.waveform_names).encode())
            h.update(np.ascontiguousarray(awg.step_samples).tobytes())
            for line in awg.lines:
                h.update(
                    f"{line.name}|{line.channel_i}|{line.channel_q}|{line.correction!r}".encode()
                )
                h.update(np.ascontiguousarray(line.entries).tobytes())
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
        for dc in self.dcs:
            h.update(f"dc|{dc.instrument}|{dc.voltage_v!r}|{dc.output}".encode())
        h.update(np.ascontiguousarray(self.sweep_values).tobytes())
        h.update(repr(sorted(self.frame_phases.items())).encode())
        return h.hexdigest()
