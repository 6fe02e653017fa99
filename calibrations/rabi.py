"""Amplitude Rabi: sweep the amplitude of the gate pulse, fit the oscillation, set π.

plan → an amplitude sweep (V) of the calibrated gate pulse followed by a measurement, from 0
to ``span`` × the stored π amplitude, capped at the drive AWG's limit;
fit → the IQ shots projected on their principal axis, fitted by ``offset − A·cos(π·a/a_π)``
(:func:`~qneko_hw.analysis.fit_rabi`);
update → ``pi_amplitude_v`` = a_π and ``pi_half_amplitude_v`` = a_π/2 with their σ.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from qneko_hw.analysis import Results, fit_rabi, project_iq
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Drag

__all__ = ["AmplitudeRabi", "RabiSetup"]


class RabiSetup(Frozen):
    """What the Rabi fit needs besides the shots: the pulse whose amplitude was swept, and
    the π amplitude (V) the sweep was centred on."""

    pulse: Drag
    start_pi_amplitude_v: float


class AmplitudeRabi(Routine[RabiSetup]):
    """Amplitude-Rabi routine.

    Attributes:
        points: sweep points; shots: shots per point;
        span: the sweep runs from 0 to ``span`` × the current π amplitude, capped at the AWG
        channel's limit.
    """

    kind: ClassVar[str] = "rabi"
    setup_type: ClassVar[type[RabiSetup]] = RabiSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("pi_amplitude_v", "pi_amplitude_v"),
        Update("pi_half_amplitude_v", "pi_half_amplitude_v"),
    )

    points: int = 61
    shots: int = 1000
    span: float = 2.4
    name: str = "rabi"

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[RabiSetup]:
        """Gate pulse of swept amplitude (V), then measure."""
        cal = state.qubit(qubit)
        top = min(self.span * cal.pi_amplitude_v.value, drive_limit_v(station, qubit, self.name))
        pulse = gate_pulse(cal, 0.0)
        amplitudes = np.linspace(0.0, top, self.points)
        experiment = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=f"{qubit}.drive", pulse=pulse),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="amplitude_v", instruction=0, values=tuple(amplitudes)),
            shots=self.shots,
        )
        setup = RabiSetup(pulse=pulse, start_pi_amplitude_v=cal.pi_amplitude_v.value)
        axis = Axis.of("amplitude_v", amplitudes, "V", "amplitude of the gate pulse")
        return Plan.programs(setup, [axis], experiment)

    def fit(self, data: Data[RabiSetup]) -> Results:
        """π amplitude (V) from the projected IQ shots of the qubit."""
        signal, err = project_iq(data.iq(data.qubit))
        return fit_rabi(self.name, data.qubit, data.axis("amplitude_v"), signal, err)
