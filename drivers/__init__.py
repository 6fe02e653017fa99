"""Instrument drivers and their roles.

The roles (protocols and small config types) are re-exported here; the QCoDeS drivers are
imported from their modules (``qneko_hw.drivers.qneko_sg1`` ...), so that importing the
roles does not import qcodes.
"""

from __future__ import annotations

from qneko_hw.drivers.roles import (
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
