"""Instrument drivers: implementations of the core's roles.

The roles (protocols and small config types) live in :mod:`qneko_hw.roles` and are
re-exported here; the QCoDeS drivers are imported from their modules
(``qneko_hw.drivers.qneko_sg1`` ...), so that importing this package does not import qcodes.
Which driver serves an instrument model is in :mod:`qneko_hw.instruments`.
"""

from __future__ import annotations

from qneko_hw.roles import (
    AWG,
    VNA,
    DCSource,
    DemodulatorConfig,
    Digitizer,
    LOSource,
    SafetyLimits,
)

__all__ = [
    "AWG",
    "VNA",
    "DCSource",
    "DemodulatorConfig",
    "Digitizer",
    "LOSource",
    "SafetyLimits",
]
