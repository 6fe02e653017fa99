"""Instrument roles: what the executor needs from an LO source, an AWG, a digitizer, a
DC source and a VNA.

The roles are :class:`typing.Protocol` classes, so any driver (ours, or an adapter of a
QCoDeS driver) that has the methods fills the role; ``isinstance`` works on them. They live
in the core, so that the executor and the routines need no driver to name them; which role
an instrument model fills is in :mod:`qneko_hw.instruments`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from qneko_hw.compiler.programs import Demodulator

__all__ = [
    "AWG",
    "VNA",
    "DCSource",
    "DemodulatorConfig",
    "Digitizer",
    "LOSource",
    "SafetyLimits",
    "StepPlay",
]

StepPlay = str | Sequence[tuple[str, int]]
"""What one channel plays in one sequence step: a waveform name, or (for a sequencer that
repeats entries) a list of (waveform name, times in a row)."""


@dataclass(frozen=True)
class SafetyLimits:
    """Safety limits of one instrument, checked by the driver before anything is written.

    ``None`` means no limit. Field names match :class:`qneko_hw.config.station.Limits`, so
    ``SafetyLimits(**limits.model_dump())`` converts one.

    Attributes:
        max_amplitude_v: peak output voltage of an AWG channel, waveform x amplitude plus
            offset (V).
        max_power_dbm: output power of a source (dBm).
        max_voltage_v: output voltage of a DC source (V).
        max_ramp_rate_v_per_s: ramp rate of a DC source (V/s).
    """

    max_amplitude_v: float | None = None
    max_power_dbm: float | None = None
    max_voltage_v: float | None = None
    max_ramp_rate_v_per_s: float | None = None


DemodulatorConfig = Demodulator
"""One demodulator of a digitizer: the compiler's :class:`~qneko_hw.compiler.Demodulator`.

The digitizer multiplies the input by ``exp(+2j*pi*frequency_hz*t)`` (the sign convention
of :mod:`qneko_hw.compiler.compile`) and averages it with the weights over the window.
"""


@runtime_checkable
class LOSource(Protocol):
    """A continuous-wave microwave source."""

    def set_frequency(self, hz: float) -> None:
        """Set the output frequency (Hz)."""

    def set_power(self, dbm: float) -> None:
        """Set the output power (dBm); refused above the station's power limit."""

    def set_output(self, on: bool) -> None:
        """Switch the RF output on or off."""


@runtime_checkable
class AWG(Protocol):
    """A sequencing arbitrary waveform generator."""

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate (Sa/s)."""

    def upload_waveforms(self, waveforms: Mapping[str, NDArray[np.floating]]) -> None:
        """Replace the waveform list by ``waveforms`` (name -> samples in [-1, 1])."""

    def set_sequence(self, sequence: Sequence[Mapping[int, StepPlay]]) -> None:
        """Set the sequence: per step, channel (1-based) -> waveform name, or entries for
        an AWG whose traits say ``repeats``."""

    def set_channel(
        self, ch: int, amplitude_v: float, offset_v: float = 0.0, output: bool = True
    ) -> None:
        """Set channel ``ch``: peak amplitude (V), offset (V) and output switch."""

    def set_shots(self, n: int, repetition_time_s: float) -> None:
        """Play the whole sequence ``n`` times per trigger, one shot every
        ``repetition_time_s`` (s)."""

    def run(self) -> None:
        """Start: the AWG accepts triggers."""

    def stop(self) -> None:
        """Stop playing."""

    def trigger(self) -> None:
        """Send a software trigger (plays ``n`` shots)."""


@runtime_checkable
class Digitizer(Protocol):
    """A digitizer with demodulators that returns one IQ point per shot and demodulator."""

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate of the inputs (Sa/s)."""

    def configure(self, shots: int, steps: int, demodulators: Sequence[DemodulatorConfig]) -> None:
        """Set shots per step, sweep steps and the demodulators."""

    def arm(self) -> None:
        """Wait for the next acquisition."""

    def fetch(self) -> NDArray[np.complex64]:
        """The IQ points, complex64 of shape (steps, shots, demodulators)."""


@runtime_checkable
class DCSource(Protocol):
    """A DC voltage source (e.g. flux bias), ramped at no more than the station's rate."""

    def set_voltage(self, v: float) -> None:
        """Go to ``v`` (V); refused above the voltage limit, ramped at the rate limit."""

    def voltage(self) -> float:
        """The output level (V)."""

    def set_output(self, on: bool) -> None:
        """Switch the output on or off."""


@runtime_checkable
class VNA(Protocol):
    """A vector network analyzer measuring one S-parameter in linear frequency sweeps."""

    def sweep(
        self, start_hz: float, stop_hz: float, points: int
    ) -> tuple[NDArray[np.float64], NDArray[np.complex128]]:
        """Sweep from ``start_hz`` to ``stop_hz`` (Hz) in ``points`` points; the frequencies
        (Hz) and the complex S-parameter."""
