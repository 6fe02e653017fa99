"""Configuration models: chip, station, calibration state."""

from __future__ import annotations

from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.chip import Chip, Qubit, Resonator, random_chip
from qneko_hw.config.station import (
    DriveLine,
    InstrumentConfig,
    Limits,
    MixerConfig,
    ReadoutLine,
    Station,
    default_station,
)

__all__ = [
    "CalValue",
    "CalibrationState",
    "Chip",
    "DriveLine",
    "InstrumentConfig",
    "Limits",
    "MixerConfig",
    "Qubit",
    "QubitCalibration",
    "ReadoutLine",
    "Resonator",
    "Station",
    "default_station",
    "random_chip",
]
