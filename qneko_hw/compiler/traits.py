"""Device traits per instrument model, as data: what the compiler must respect."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AwgTraits", "DigitizerTraits", "awg_traits", "digitizer_traits"]


@dataclass(frozen=True)
class AwgTraits:
    """Limits of an AWG model.

    Attributes: sample_rate_hz (Sa/s), channels, granularity_samples (waveform length must be
    a multiple), min_length_samples, memory_samples (per waveform), max_sequence_steps,
    max_amplitude_v (peak volts per channel).
    """

    sample_rate_hz: float
    channels: int
    granularity_samples: int
    min_length_samples: int
    memory_samples: int
    max_sequence_steps: int
    max_amplitude_v: float


@dataclass(frozen=True)
class DigitizerTraits:
    """Limits of a digitizer model: sample rate (Sa/s), inputs, demodulators, window length."""

    sample_rate_hz: float
    channels: int
    max_demodulators: int
    max_window_samples: int


_AWGS = {
    "qneko_awg4": AwgTraits(
        sample_rate_hz=1e9,
        channels=4,
        granularity_samples=1,
        min_length_samples=1,
        memory_samples=16 * 1024 * 1024,
        max_sequence_steps=65536,
        max_amplitude_v=1.5,
    ),
    # Tektronix AWG5208 run at 1 GS/s by its adapter; waveforms shorter than its minimum of
    # 2400 samples are zero-padded by the adapter; peak amplitude = 1.5 Vpp / 2.
    "tek_awg5208": AwgTraits(
        sample_rate_hz=1e9,
        channels=8,
        granularity_samples=1,
        min_length_samples=1,
        memory_samples=2_000_000_000,
        max_sequence_steps=16383,
        max_amplitude_v=0.75,
    ),
}
_DIGITIZERS = {
    "qneko_dig2": DigitizerTraits(
        sample_rate_hz=1e9, channels=2, max_demodulators=16, max_window_samples=2**20
    )
}


def awg_traits(model: str) -> AwgTraits:
    """Traits of AWG ``model``; a KeyError names the model."""
    return _AWGS[model]


def digitizer_traits(model: str) -> DigitizerTraits:
    """Traits of digitizer ``model``."""
    return _DIGITIZERS[model]
