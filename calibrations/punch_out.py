"""Punch-out: resonator spectroscopy through the digitizer at a series of readout amplitudes.

plan → for each readout amplitude (V at the AWG, low to high, capped at the readout AWG's
limit) one program per frequency point of a resonator spectroscopy
(:func:`~qneko_hw.calibrations.resonator_spectroscopy.spectroscopy_programs`: a digitizer
window demodulates every step of a program at one IF), each compiled with the state at
that readout amplitude; all of them in one run, axes ``readout_amplitude_v`` and
``frequency_hz``. The span must reach the bare resonator frequency, |g²/Δ| (a few MHz) from
the dressed one: the default is 20 MHz.
fit → the resonance at each amplitude (the digitizer routine's fit), then the dispersive
(low-power) resonance is the fitted resonance at the lowest amplitude whose fit is usable.
An amplitude's resonance has *shifted* when it differs from the low-power one by more than
``max(shift_fraction·κ, 5σ)`` (κ: the low-power linewidth, σ: the combined fit
uncertainty). The punch-out amplitude reported is the highest amplitude below the first
shifted one; if none shifted, the results say "no punch-out seen in range" and report no
punch-out amplitude (``values["punched_out"]`` = 0). The resonance at the highest usable
amplitude is reported too (``high_power_frequency_hz``, and ``high_power_shift_hz`` from
the low-power one): once punched out, it approaches the bare resonator frequency, and the
shift approaches the qubit's Lamb shift of the resonator, g²/Δ.
update → ``readout_frequency_hz`` = the low-power resonance (the convention of the
digitizer routine: the |0⟩ resonance f_r), and ``readout_amplitude_v`` checked: lowered to
the punch-out amplitude when the one in use is above it, else kept (stored as measured by
this run, so the graph knows when it was checked).

In the simulated lab the resonator punches out as described in
:mod:`qneko_hw.simulated_instruments.physics.readout`: its dispersive shifts hold below the
critical photon number n_crit = (Δ/2g)² and collapse above it, the resonance moving from
the dressed f_r towards the bare frequency f_r + g²/Δ; with the routine's 0.25·κ criterion
the shift is detected at n̄ ≈ (0.9 … 1.1)·n_crit on resonance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from qneko_hw.analysis import Results, Verdict
from qneko_hw.calibrations.gates import readout_limit_v
from qneko_hw.calibrations.resonator_spectroscopy import (
    iq_trace,
    resonance_results,
    spectroscopy_programs,
)
from qneko_hw.calibrations.routine import Plan, Program, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.plot.figures import Figure, Panel, Series

__all__ = ["PunchOut", "PunchOutSetup"]

log = logging.getLogger(__name__)


class PunchOutSetup(Frozen):
    """The amplitudes scanned (V, increasing), the frequency points per amplitude, and the
    readout amplitude in use before the scan (V)."""

    amplitudes_v: tuple[float, ...]
    points: int
    readout_amplitude_v: float


class PunchOut(Routine[PunchOutSetup]):
    """Readout amplitude × frequency scan with the digitizer.

    Attributes:
        amplitudes_v: readout amplitudes (V at the AWG), scanned in increasing order and
            capped at the readout AWG's limit; default 3 dB steps from 0.05 V to 1 V.
        span_hz, points, shots: the frequency sweep at each amplitude (full width in Hz
            centred on the current readout frequency, frequencies, shots per frequency);
            the span must include the bare resonator frequency.
        shift_fraction: a resonance moved by more than this fraction of κ has shifted.
    """

    kind: ClassVar[str] = "punch_out"
    setup_type: ClassVar[type[PunchOutSetup]] = PunchOutSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("resonator_frequency_hz", "readout_frequency_hz"),
        Update("checked_readout_amplitude_v", "readout_amplitude_v"),
    )

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

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[PunchOutSetup]:
        """One program per (amplitude, frequency), amplitudes low to high, each with the
        state at that readout amplitude."""
        cap = readout_limit_v(station, qubit, self.name)
        amplitudes = tuple(sorted({min(float(a), cap) for a in self.amplitudes_v}))
        cal = state.qubit(qubit)
        centre = cal.readout_frequency_hz.value
        freqs = centre + np.linspace(-self.span_hz / 2, self.span_hz / 2, self.points)
        items: list[Program] = []
        for a in amplitudes:
            at_a = state.with_qubit(qubit, readout_amplitude_v=CalValue.design(a))
            items += [
                Program(exp, at_a)
                for exp in spectroscopy_programs(self.name, qubit, freqs, self.shots)
            ]
        setup = PunchOutSetup(
            amplitudes_v=amplitudes,
            points=self.points,
            readout_amplitude_v=cal.readout_amplitude_v.value,
        )
        axes = (
            Axis.of(
                "readout_amplitude_v", np.repeat(amplitudes, freqs.size), "V", "readout amplitude"
            ),
            Axis.of("frequency_hz", np.tile(freqs, len(amplitudes)), "Hz", "readout frequency"),
        )
        return Plan.programs(setup, axes, *items)

    def fit(self, data: Data[PunchOutSetup]) -> Results:
        """Low-power resonance and punch-out amplitude from one resonance fit per amplitude."""
        setup = data.setup
        shots = data.iq(data.qubit)
        n = setup.points
        if shots.shape[0] != n * len(setup.amplitudes_v):
            return Results.failed(
                self.name,
                data.qubit,
                f"expected {len(setup.amplitudes_v)}×{n} steps, got {shots.shape[0]}",
            )
        f_all = data.axis("frequency_hz")
        fits, traces = [], []
        for k in range(len(setup.amplitudes_v)):
            part = slice(k * n, (k + 1) * n)
            z, err, noise = iq_trace(shots[part])
            fits.append(resonance_results(self.name, data.qubit, f_all[part], z, err, noise=noise))
            traces.append((f_all[part], np.abs(z)))
        return self.conclude(
            data.qubit, setup.amplitudes_v, fits, setup.readout_amplitude_v, traces
        )

    def conclude(
        self,
        qubit: str,
        amplitudes_v: Sequence[float],
        fits: Sequence[Results],
        readout_amplitude_v: float,
        traces: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    ) -> Results:
        """The punch-out results from one resonance fit per amplitude (V, increasing);
        ``readout_amplitude_v``: the amplitude in use (V); ``traces``: (f, |z|) per
        amplitude, for the figure."""
        usable = [(a, f) for a, f in zip(amplitudes_v, fits, strict=True) if f.verdict != "bad"]
        if not usable:
            return Results.failed(self.name, qubit, "no resonance at any amplitude")
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
        checked = readout_amplitude_v if punch is None else min(readout_amplitude_v, punch)
        if checked < readout_amplitude_v:
            log.warning(
                "%s: readout amplitude %.3g V is above punch-out, lowered to %.3g V",
                qubit,
                readout_amplitude_v,
                checked,
            )
        values = {
            "resonator_frequency_hz": f_low,
            "kappa_hz": kappa,
            "low_power_amplitude_v": a_low,
            "max_amplitude_v": float(max(amplitudes_v)),
            "punched_out": 0.0 if punch is None else 1.0,
            "high_power_amplitude_v": a_high,
            "high_power_frequency_hz": f_high,
            "high_power_shift_hz": f_high - f_low,
            "checked_readout_amplitude_v": checked,
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
        verdict: Verdict = "good" if low.verdict == "good" else "poor"
        vectors = {
            "amplitudes_v": tuple(float(a) for a, _ in usable),
            "resonance_hz": tuple(float(f.values["resonator_frequency_hz"]) for _, f in usable),
        }
        return Results(
            routine=self.name,
            qubit=qubit,
            verdict=verdict,
            message=msg,
            values=values,
            uncertainties={
                "resonator_frequency_hz": s_low,
                "kappa_hz": low.uncertainties["kappa_hz"],
                "high_power_frequency_hz": high.uncertainties["resonator_frequency_hz"],
            },
            vectors=vectors,
            r_squared=low.r_squared,
            figure=self._figure(usable, f_low, punch, traces),
        )

    def _figure(
        self,
        usable: Sequence[tuple[float, Results]],
        f_low: float,
        punch: float | None,
        traces: Sequence[tuple[np.ndarray, np.ndarray]],
    ) -> Figure:
        resonance = [
            Series.points(
                [a for a, _ in usable],
                [f.values["resonator_frequency_hz"] for _, f in usable],
                [f.uncertainties["resonator_frequency_hz"] for _, f in usable],
                label="fitted resonance",
            ),
            Series(kind="hline", y=(f_low,), label="low-power resonance", color="C2"),
        ]
        if punch is not None:
            resonance.append(Series(kind="vline", x=(punch,), label="punch-out", color="C3"))
        panels = [
            Panel(
                x_label="readout amplitude",
                x_unit="V",
                y_label="resonance frequency",
                y_unit="Hz",
                x_scale="log",
                series=tuple(resonance),
            )
        ]
        if traces:
            lines = []
            for k, (f, mag) in enumerate(traces):
                top = float(mag.max()) or 1.0
                lines.append(Series(kind="line", x=tuple(f), y=tuple(mag / top + k)))
            panels.append(
                Panel(
                    x_label="readout frequency",
                    x_unit="Hz",
                    y_label="|z| / max, offset by amplitude index",
                    series=tuple(lines),
                    note="amplitudes low (bottom) to high (top)",
                )
            )
        return Figure(panels=tuple(panels))
