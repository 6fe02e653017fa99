"""A first calibration state from the chip's design values and the station's wiring.

These are the numbers a lab starts from after a cooldown: design frequencies and a π
amplitude estimated from the design Rabi rate and the line attenuation. Routines refine them.
"""

from __future__ import annotations

import numpy as np

from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.chip import Chip
from qneko_hw.config.station import Station
from qneko_hw.errors import ConfigError
from qneko_hw.pulses import Gaussian, sample_pulse

__all__ = ["design_state", "estimated_pi_amplitude_v"]

DEFAULT_DURATION_S = 40e-9
DEFAULT_SIGMA_S = 10e-9
DEFAULT_READOUT_AMPLITUDE_V = 0.1
DEFAULT_READOUT_DURATION_S = 2e-6


def estimated_pi_amplitude_v(rabi_rate_hz_per_v: float, attenuation_db: float) -> float:
    """AWG amplitude (V) of a π pulse of the default Gaussian shape, from design values.

    A resonant pulse rotates by 2π·k·∫|z|dt, with z the envelope at the chip (V) and k the
    Rabi rate per volt (Hz/V); the line attenuates by ``attenuation_db``.
    """
    dt = 1e-10
    shape = Gaussian(amplitude_v=1.0, duration_s=DEFAULT_DURATION_S, sigma_s=DEFAULT_SIGMA_S)
    area = float(np.abs(sample_pulse(shape, round(DEFAULT_DURATION_S / dt), dt)).sum() * dt)
    gain = 10 ** (-attenuation_db / 20)
    return 0.5 / (rabi_rate_hz_per_v * gain * area)


def design_state(chip: Chip, station: Station) -> CalibrationState:
    """Calibration state holding design values for every qubit that has a drive line."""
    qubits: dict[str, QubitCalibration] = {}
    for name, q in chip.qubits.items():
        if name not in station.drive:
            raise ConfigError(
                f"qubit {name} of the chip has no drive line in the station", field=f"drive.{name}"
            )
        res = chip.resonators[q.resonator]
        pi = estimated_pi_amplitude_v(q.rabi_rate_hz_per_v, station.drive[name].attenuation_db)
        qubits[name] = QubitCalibration(
            drive_frequency_hz=CalValue.design(q.frequency_hz),
            anharmonicity_hz=CalValue.design(q.anharmonicity_hz),
            pi_amplitude_v=CalValue.design(pi),
            pi_half_amplitude_v=CalValue.design(pi / 2),
            pulse_duration_s=CalValue.design(DEFAULT_DURATION_S),
            pulse_sigma_s=CalValue.design(DEFAULT_SIGMA_S),
            readout_frequency_hz=CalValue.design(res.frequency_hz + res.chi_hz),
            readout_amplitude_v=CalValue.design(DEFAULT_READOUT_AMPLITUDE_V),
            readout_duration_s=CalValue.design(DEFAULT_READOUT_DURATION_S),
        )
    return CalibrationState(qubits=qubits)
