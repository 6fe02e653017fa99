"""What pulse-level routines share: the qubit's gate pulses as the circuit compiler plays
them, the limits and sample period of its drive line, and the usual axes.

``x`` and ``sx`` are the calibrated DRAG pulse (duration, σ, β from the calibration state)
at the π and π/2 amplitudes (V at the AWG output); a rotation about Y is the same pulse
with phase π/2 (rad).
"""

from __future__ import annotations

import numpy as np

from qneko_hw.compiler.channels import awg_limit
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.pulses import Arbitrary, Drag, pulse_shape

__all__ = [
    "drive_limit_v",
    "drive_sample_period_s",
    "gate_pulse",
    "idle_is_free",
    "pulse_train",
    "readout_limit_v",
    "readout_share_v",
]


def gate_pulse(cal: QubitCalibration, amplitude_v: float, phase_rad: float = 0.0) -> Drag:
    """The calibrated single-qubit gate pulse at ``amplitude_v`` (V) and ``phase_rad`` (rad)."""
    return Drag(
        amplitude_v=amplitude_v,
        duration_s=cal.pulse_duration_s.value,
        sigma_s=cal.pulse_sigma_s.value,
        beta_s=cal.drag_beta_s.value,
        phase_rad=phase_rad,
    )


def _drive_awg(station: Station, qubit: str, routine: str) -> str:
    line = station.drive.get(qubit)
    if line is None:
        raise CalibrationError(f"{qubit} has no drive line", qubit=qubit, routine=routine)
    return line.awg


def idle_is_free(station: Station, qubit: str) -> bool:
    """Whether every AWG that plays for ``qubit`` (its drive and its feedline's readout)
    repeats sequence entries, so a delay of any length costs one short block of memory
    (``repeats`` in :class:`~qneko_hw.instruments.AwgTraits`)."""
    feed = station.feedline_of(qubit)
    awgs = [station.drive[qubit].awg] if qubit in station.drive else []
    if feed is not None:
        awgs.append(station.readout[feed].awg)
    return bool(awgs) and all(awg_traits(station.instruments[a].model).repeats for a in awgs)


def drive_limit_v(station: Station, qubit: str, routine: str) -> float:
    """Largest amplitude (V) the AWG of ``qubit``'s drive line may play; no drive line
    raises :class:`CalibrationError` naming the qubit and ``routine``."""
    return awg_limit(station, _drive_awg(station, qubit, routine))


def drive_sample_period_s(station: Station, qubit: str, routine: str = "") -> float:
    """Sample period (s) of ``qubit``'s drive AWG."""
    awg = _drive_awg(station, qubit, routine)
    return 1.0 / awg_traits(station.instruments[awg].model).sample_rate_hz


def readout_limit_v(station: Station, qubit: str, routine: str) -> float:
    """Largest amplitude (V) the readout AWG of ``qubit``'s feedline may play; no readout
    line raises :class:`CalibrationError`."""
    feed = station.feedline_of(qubit)
    if feed is None:
        raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=routine)
    return awg_limit(station, station.readout[feed].awg)


def readout_share_v(station: Station, qubit: str, routine: str) -> float:
    """Largest readout amplitude (V) ``qubit`` may use so that the readouts of every qubit
    on its feedline, multiplexed on one AWG channel, stay within the AWG's limit together:
    the limit divided by the number of qubits the station reads on that feedline."""
    feed = station.feedline_of(qubit)
    limit = readout_limit_v(station, qubit, routine)
    sharing = sum(1 for q in station.drive if station.feedline_of(q) == feed)
    return limit / max(sharing, 1)


def pulse_train(
    cal: QubitCalibration, count: int, dt_s: float, phases_rad: tuple[float, ...] = (0.0,)
) -> tuple[Arbitrary, float]:
    """``count`` back-to-back gate pulses as one arbitrary waveform, and its amplitude scale.

    Pulse ``j`` has phase ``phases_rad[j % len(phases_rad)]``. Played with
    ``amplitude_v = scale × gate amplitude`` the train equals ``count`` plays of the gate;
    truncating its duration to ``m`` pulse lengths (a duration sweep) plays the first ``m``.
    ``dt_s`` is the AWG sample period (s).
    """
    n = round(cal.pulse_duration_s.value / dt_s)
    unit = pulse_shape(gate_pulse(cal, 1.0), n, dt_s)
    phases = np.resize(np.asarray(phases_rad, dtype=np.float64), count)
    samples = (np.exp(1j * phases)[:, None] * unit[None, :]).ravel()
    peak = float(np.abs(samples).max())
    samples = samples / peak
    return (
        Arbitrary(
            amplitude_v=0.0,
            duration_s=count * n * dt_s,
            samples=tuple((float(z.real), float(z.imag)) for z in samples),
        ),
        1.0 / peak,
    )
