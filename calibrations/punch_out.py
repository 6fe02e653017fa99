"""Punch-out: resonator spectroscopy through the digitizer at a series of readout amplitudes.

measure → for each readout amplitude (V at the AWG, low to high), the calibrated readout
amplitude is set to it and a
:class:`~qneko_hw.calibrations.resonator_spectroscopy.ResonatorSpectroscopy` runs
through :func:`~qneko_hw.calibrations.runner.run_routine`: one program per frequency point,
because a digitizer window demodulates every step of a program at one IF. Each amplitude
gives its own run file (``out_dir/runs``).
analyze → the dispersive (low-power) resonance is the fitted resonance at the lowest
amplitude whose fit is usable. An amplitude's resonance has *shifted* when it differs from
the low-power one by more than ``max(shift_fraction·κ, 5σ)`` (κ: the low-power linewidth,
σ: the combined fit uncertainty). The punch-out amplitude reported is the highest amplitude
below the first shifted one; if none shifted, the fit says "no punch-out seen in range" and
reports no punch-out amplitude (``values["punched_out"]`` = 0).
update → ``readout_frequency_hz`` = the low-power resonance (the convention of the
digitizer routine: the |0⟩ resonance f_r).

The simulated resonator is linear (no Kerr nonlinearity, no bare-cavity response at high
power), so in the simulated lab the resonance does not move with amplitude: the tests can
only check the low-power resonance and that no punch-out is reported in range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.calibrations.runner import run_routine
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError

__all__ = ["PunchOut"]


@dataclass(frozen=True)
class PunchOut:
    """Readout amplitude × frequency scan with the digitizer.

    Attributes:
        amplitudes_v: readout amplitudes (V at the AWG), scanned in increasing order.
        span_hz, points, shots: the frequency sweep at each amplitude (full width in Hz
            centred on the current readout frequency, frequencies, shots per frequency).
        shift_fraction: a resonance moved by more than this fraction of κ has shifted.
    """

    amplitudes_v: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.4)
    span_hz: float = 8e6
    points: int = 41
    shots: int = 200
    shift_fraction: float = 0.25
    name: str = "punch_out"

    def measure(
        self,
        qubit: str,
        state: CalibrationState,
        station: Station,
        instruments: Mapping[str, Any],
        *,
        out_dir: Path,
    ) -> Fit:
        """Run the frequency sweep at each amplitude and analyze the scan."""
        spec = ResonatorSpectroscopy(
            span_hz=self.span_hz, points=self.points, shots=self.shots, name=self.name
        )
        amplitudes = sorted(float(a) for a in self.amplitudes_v)
        fits = []
        for a in amplitudes:
            at_a = state.with_qubit(qubit, readout_amplitude_v=CalValue.design(a))
            outcome = run_routine(
                spec,
                qubit,
                at_a,
                station,
                instruments,
                out_dir=out_dir,
                context={"readout_amplitude_v": repr(a)},
            )
            fits.append(outcome.fit)
        return self.analyze(qubit, amplitudes, fits)

    def analyze(self, qubit: str, amplitudes_v: Sequence[float], fits: Sequence[Fit]) -> Fit:
        """Low-power resonance and punch-out amplitude from one spectroscopy fit per
        amplitude (amplitudes in increasing order)."""
        usable = [(a, f) for a, f in zip(amplitudes_v, fits, strict=True) if f.quality != "bad"]
        if not usable:
            return Fit.failed(self.name, qubit, "no resonance at any amplitude")
        a_low, low = usable[0]
        f_low = low.values["resonator_frequency_hz"]
        s_low = low.uncertainties["resonator_frequency_hz"]
        kappa = low.values["kappa_hz"]
        punch: float | None = None
        previous = a_low
        for a, fit in usable[1:]:
            delta = fit.values["resonator_frequency_hz"] - f_low
            sigma = math.hypot(fit.uncertainties["resonator_frequency_hz"], s_low)
            if abs(delta) > max(self.shift_fraction * kappa, 5 * sigma):
                punch = previous
                break
            previous = a
        values = {
            "resonator_frequency_hz": f_low,
            "kappa_hz": kappa,
            "low_power_amplitude_v": a_low,
            "max_amplitude_v": float(max(amplitudes_v)),
            "punched_out": 0.0 if punch is None else 1.0,
        }
        if punch is not None:
            values["punch_out_amplitude_v"] = punch
            msg = (
                f"low-power resonance at {f_low / 1e9:.6f} GHz; the response shifts "
                f"above {punch:.3g} V"
            )
        else:
            msg = (
                f"low-power resonance at {f_low / 1e9:.6f} GHz; no punch-out seen in range "
                f"(≤ {max(amplitudes_v):.3g} V)"
            )
        quality: Quality = "good" if low.quality == "good" else "poor"
        res = np.array([f.values["resonator_frequency_hz"] for _, f in usable])
        return Fit(
            routine=self.name,
            qubit=qubit,
            values=values,
            uncertainties={
                "resonator_frequency_hz": s_low,
                "kappa_hz": low.uncertainties["kappa_hz"],
            },
            quality=quality,
            r_squared=low.r_squared,
            message=msg,
            x=tuple(float(a) for a, _ in usable),
            y=tuple(float(v) for v in res),
            y_fit=tuple(f_low for _ in usable),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with the readout frequency at the low-power resonance; bad raises."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: punch-out unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        return state.with_qubit(
            fit.qubit,
            readout_frequency_hz=CalValue.measured(
                fit.values["resonator_frequency_hz"],
                fit.uncertainties["resonator_frequency_hz"],
                run_id,
            ),
        )
