"""Punch-out: resonator spectroscopy through the digitizer at a series of readout amplitudes.

measure → for each readout amplitude (V at the AWG, low to high, capped at the readout AWG's
limit), the calibrated readout amplitude is set to it and a
:class:`~qneko_hw.calibrations.resonator_spectroscopy.ResonatorSpectroscopy` runs
through :func:`~qneko_hw.calibrations.runner.run_routine`: one program per frequency point,
because a digitizer window demodulates every step of a program at one IF. Each amplitude
gives its own run file (``out_dir/runs``). The span must reach the bare resonator
frequency, |g²/Δ| (a few MHz) from the dressed one: the default is 20 MHz.
analyze → the dispersive (low-power) resonance is the fitted resonance at the lowest
amplitude whose fit is usable. An amplitude's resonance has *shifted* when it differs from
the low-power one by more than ``max(shift_fraction·κ, 5σ)`` (κ: the low-power linewidth,
σ: the combined fit uncertainty). The punch-out amplitude reported is the highest amplitude
below the first shifted one; if none shifted, the fit says "no punch-out seen in range" and
reports no punch-out amplitude (``values["punched_out"]`` = 0). The resonance at the highest
usable amplitude is reported too (``high_power_frequency_hz``, and ``high_power_shift_hz``
from the low-power one): once punched out, it approaches the bare resonator frequency, and
the shift approaches the qubit's Lamb shift of the resonator, g²/Δ.
update → ``readout_frequency_hz`` = the low-power resonance (the convention of the
digitizer routine: the |0⟩ resonance f_r).

In the simulated lab the resonator punches out as described in
:mod:`qneko_hw.simulated_instruments.physics.readout`: its dispersive shifts hold below the
critical photon number n_crit = (Δ/2g)² and collapse above it, the resonance moving from
the dressed f_r towards the bare frequency f_r + g²/Δ; with the routine's 0.25·κ criterion
the shift is detected at n̄ ≈ (0.9 … 1.1)·n_crit on resonance.
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
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError

__all__ = ["PunchOut", "amplitude_limit_v"]


@dataclass(frozen=True)
class PunchOut:
    """Readout amplitude × frequency scan with the digitizer.

    Attributes:
        amplitudes_v: readout amplitudes (V at the AWG), scanned in increasing order and
            capped at the readout AWG's limit; default 3 dB steps from 0.05 V to 1 V.
        span_hz, points, shots: the frequency sweep at each amplitude (full width in Hz
            centred on the current readout frequency, frequencies, shots per frequency);
            the span must include the bare resonator frequency.
        shift_fraction: a resonance moved by more than this fraction of κ has shifted.
    """

    amplitudes_v: tuple[float, ...] = (
        0.05,
        0.0707,
        0.1,
        0.1414,
        0.2,
        0.2828,
        0.4,
        0.5657,
        0.8,
        1.0,
    )
    span_hz: float = 20e6
    points: int = 81
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
        amplitudes = sorted(
            {min(float(a), amplitude_limit_v(qubit, station)) for a in self.amplitudes_v}
        )
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
        a_high, high = usable[-1]
        f_high = high.values["resonator_frequency_hz"]
        values = {
            "resonator_frequency_hz": f_low,
            "kappa_hz": kappa,
            "low_power_amplitude_v": a_low,
            "max_amplitude_v": float(max(amplitudes_v)),
            "punched_out": 0.0 if punch is None else 1.0,
            "high_power_amplitude_v": a_high,
            "high_power_frequency_hz": f_high,
            "high_power_shift_hz": f_high - f_low,
        }
        if punch is not None:
            values["punch_out_amplitude_v"] = punch
            msg = (
                f"low-power resonance at {f_low / 1e9:.6f} GHz; the response shifts "
                f"above {punch:.3g} V, by {(f_high - f_low) / 1e6:+.3f} MHz at {a_high:.3g} V"
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
                "high_power_frequency_hz": high.uncertainties["resonator_frequency_hz"],
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


def amplitude_limit_v(qubit: str, station: Station) -> float:
    """Peak amplitude (V) the readout AWG of ``qubit`` may play; inf without a readout line."""
    feed = station.feedline_of(qubit)
    if feed is None:
        return math.inf
    awg = station.instruments[station.readout[feed].awg]
    limit = awg_traits(awg.model).max_amplitude_v
    if awg.limits.max_amplitude_v is not None:
        limit = min(limit, awg.limits.max_amplitude_v)
    return float(limit)
