"""SI unit constants.

Every public API of QNeko-HW takes SI floats (s, Hz, V, rad). Multiply by these constants
to write other units: ``40 * ns``, ``5.1 * GHz``, ``250 * mV``.
"""

from __future__ import annotations

import math

__all__ = ["GHz", "Hz", "MHz", "V", "deg", "kHz", "mV", "ms", "ns", "ps", "rad", "s", "uV", "us"]

s = 1.0
ms = 1e-3
us = 1e-6
ns = 1e-9
ps = 1e-12

Hz = 1.0
kHz = 1e3  # noqa: N816
MHz = 1e6
GHz = 1e9

V = 1.0
mV = 1e-3  # noqa: N816
uV = 1e-6  # noqa: N816

rad = 1.0
deg = math.pi / 180.0
