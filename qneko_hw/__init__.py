"""QNeko-HW: control and calibration of superconducting qubits.

Importing this package is cheap: heavy libraries (qcodes, qiskit, scipy) are imported by
the modules that use them.
"""

from __future__ import annotations

from qneko_hw.errors import (
    CalibrationError,
    CompilationError,
    ConfigError,
    InstrumentError,
    QnekoError,
    SafetyLimitError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "CalibrationError",
    "CompilationError",
    "ConfigError",
    "InstrumentError",
    "QnekoError",
    "SafetyLimitError",
    "StoreError",
    "__version__",
]
