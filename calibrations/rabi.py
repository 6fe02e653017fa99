"""Amplitude Rabi: sweep the amplitude of the gate pulse, fit the oscillation, set π.

build → an amplitude sweep of the calibrated Gaussian gate pulse followed by a measurement;
analyze → project the IQ shots on their principal axis, fit ``offset − A·cos(π·a/a_π)``;
update → ``pi_amplitude_v`` and ``pi_half_amplitude_v`` with the fit's uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qneko_hw.analysis import Fit, fit_rabi, project_iq
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Gaussian

__all__ = ["AmplitudeRabi"]


@dataclass(frozen=True)
class AmplitudeRabi:
    """Amplitude-Rabi routine.

    Attributes:
        points: sweep points; shots: shots per point;
        span: the sweep runs from 0 to ``span`` × the current π amplitude, capped at the AWG
        channel's limit.
    """

    points: int = 61
    shots: int = 1000
    span: float = 2.4
    name: str = "rabi"

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: Gaussian gate pulse of swept amplitude (V), then measure."""
        cal = state.qubit(qubit)
        line = station.drive.get(qubit)
        if line is None:
            raise CalibrationError(f"{qubit} has no drive line", qubit=qubit, routine=self.name)
        awg = station.instruments[line.awg]
        limit = awg_traits(awg.model).max_amplitude_v
        if awg.limits.max_amplitude_v is not None:
            limit = min(limit, awg.limits.max_amplitude_v)
        top = min(self.span * cal.pi_amplitude_v.value, limit)
        pulse = Gaussian(
            amplitude_v=0.0,
            duration_s=cal.pulse_duration_s.value,
            sigma_s=cal.pulse_sigma_s.value,
        )
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=f"{qubit}.drive", pulse=pulse),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(
                parameter="amplitude_v",
                instruction=0,
                values=tuple(np.linspace(0.0, top, self.points)),
            ),
            shots=self.shots,
        )

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Fit the π amplitude (V) from the IQ shots of ``qubit``."""
        signal, err = project_iq(result.acquisition(qubit, self.name))
        return fit_rabi(qubit, result.sweep_values, signal, err)

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with the fitted π and π/2 amplitudes; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: Rabi fit unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        a = fit.values["pi_amplitude_v"]
        da = fit.uncertainties["pi_amplitude_v"]
        return state.with_qubit(
            fit.qubit,
            pi_amplitude_v=CalValue.measured(a, da, run_id),
            pi_half_amplitude_v=CalValue.measured(a / 2, da / 2, run_id),
        )
