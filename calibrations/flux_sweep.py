"""Flux sweep: qubit frequency vs DC bias voltage, and the sweet spot.

build → for each bias voltage ``V`` of ``voltages_v`` one program: the two-tone
spectroscopy of :class:`QubitSpectroscopy` (composition: its build and fit are reused),
compiled with the state's ``bias_voltage_v`` set to ``V`` so that the compiler's DC program
sets the qubit's bias source to ``V`` before the pulses play.
analyze → the qubit frequency at each voltage from the spectroscopy's Lorentzian fit
(voltages whose line is not resolved are dropped), then a weighted parabola
``f(V) = f_max − c·(V − V₀)²`` around the highest frequency. Near the sweet spot the
transmon flux model ``f = (f_max + |α|)·(cos²(πΦ) + d²·sin²(πΦ))^{1/4} − |α|`` with
``Φ = V·M/R + Φ_offset`` is a parabola in V up to terms of order ``(πΦ)⁴``, which stay small
against the line-fit uncertainty over the few tens of mΦ₀ the sweep spans; the parabola
needs neither |α| nor d nor M/R.
update → ``bias_voltage_v`` = V₀ (the sweet spot) and ``drive_frequency_hz`` = f_max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment

__all__ = ["FluxSweep"]


def _coarse_spectroscopy() -> QubitSpectroscopy:
    """A wide, coarse two-tone spectroscopy: a 200 ns π-area drive (FWHM ≈ 4–5 MHz),
    1 MHz steps over ±25 MHz around the stored drive frequency."""
    return QubitSpectroscopy(
        points=51, shots=200, span_hz=25e6, duration_s=200e-9, rabi_hz=2.5e6, name="flux_sweep"
    )


@dataclass(frozen=True)
class FluxSweep:
    """Qubit frequency vs flux-bias voltage; sweet spot from a parabola around the maximum.

    Attributes:
        voltages_v: bias voltages (V at the DC source) to measure at, one program each.
        spectroscopy: the two-tone spectroscopy run at each voltage (its span must cover
            the qubit frequency at every voltage).
        min_points: fewest resolved lines the parabola fit needs.
    """

    voltages_v: tuple[float, ...] = ()
    spectroscopy: QubitSpectroscopy = field(default_factory=_coarse_spectroscopy)
    min_points: int = 4
    name: str = "flux_sweep"

    def build(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> list[tuple[Experiment, CalibrationState]]:
        """One spectroscopy per voltage, each compiled with that bias voltage."""
        if qubit not in station.bias:
            raise CalibrationError(
                f"{qubit}: no bias line in the station, nothing to sweep",
                qubit=qubit,
                routine=self.name,
            )
        if len(self.voltages_v) < self.min_points:
            raise CalibrationError(
                f"{qubit}: flux sweep needs at least {self.min_points} voltages, "
                f"got {len(self.voltages_v)}",
                qubit=qubit,
                routine=self.name,
            )
        exp = self.spectroscopy.build(qubit, state, station)
        out = []
        for k, v in enumerate(self.voltages_v):
            biased = state.with_qubit(qubit, bias_voltage_v=CalValue.design(float(v)))
            named = exp.model_copy(update={"name": f"{self.name}_{qubit}_v{k}"})
            out.append((named, biased))
        return out

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """Sweet-spot voltage (V) and maximum frequency (Hz) from the per-voltage lines."""
        n = self.spectroscopy.points
        steps = len(result.sweep_values)
        if steps != n * len(self.voltages_v):
            return Fit.failed(
                self.name, qubit, f"expected {n}×{len(self.voltages_v)} steps, got {steps}"
            )
        volts, freqs, errs = [], [], []
        for k, v in enumerate(self.voltages_v):
            part = ExecutionResult(
                shots={a: s[k * n : (k + 1) * n] for a, s in result.shots.items()},
                sweep_parameter=result.sweep_parameter,
                sweep_values=result.sweep_values[k * n : (k + 1) * n],
                program_digest=result.program_digest,
                duration_s=result.duration_s,
            )
            line = self.spectroscopy.analyze(qubit, part, readout)
            if line.quality == "bad":
                continue
            volts.append(float(v))
            freqs.append(line.values["qubit_frequency_hz"])
            errs.append(max(line.uncertainties["qubit_frequency_hz"], 1e3))
        return fit_sweet_spot(
            self.name, qubit, volts=volts, freqs=freqs, errs=errs, min_points=self.min_points
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state at the sweet spot; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: flux sweep unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        v = fit.values
        u = fit.uncertainties
        return state.with_qubit(
            fit.qubit,
            bias_voltage_v=CalValue.measured(
                v["sweet_spot_voltage_v"], u["sweet_spot_voltage_v"], run_id
            ),
            drive_frequency_hz=CalValue.measured(
                v["max_frequency_hz"], u["max_frequency_hz"], run_id
            ),
        )


def fit_sweet_spot(
    routine: str,
    qubit: str,
    *,
    volts: list[float],
    freqs: list[float],
    errs: list[float],
    min_points: int,
) -> Fit:
    """Weighted parabola ``f_max − c·(V − V₀)²`` through the resolved lines.

    The fit uses the points whose frequency is within the top half of the measured range
    (at least ``min_points``, the closest to the highest); the vertex must lie inside the
    swept voltages and the curvature must be negative.
    """
    if len(volts) < min_points:
        return Fit.failed(routine, qubit, f"only {len(volts)} lines resolved, need {min_points}")
    v = np.asarray(volts, dtype=np.float64)
    f = np.asarray(freqs, dtype=np.float64)
    e = np.asarray(errs, dtype=np.float64)
    order = np.argsort(-f)
    keep = f >= f.max() - 0.5 * (f.max() - f.min())
    if keep.sum() < min_points:
        keep[order[:min_points]] = True
    vk, fk, ek = v[keep], f[keep], e[keep]
    scale = float(np.ptp(v)) or 1.0
    x0 = float(v[order[0]])
    x = (vk - x0) / scale
    try:
        coef, cov = np.polyfit(x, fk, 2, w=1.0 / ek, cov="unscaled")
    except (np.linalg.LinAlgError, ValueError) as exc:
        return Fit.failed(routine, qubit, f"parabola fit failed: {exc}")
    a, b, c = (float(z) for z in coef)
    if not a < 0:
        return Fit.failed(routine, qubit, "frequency vs bias has no maximum (curvature ≥ 0)")
    xs = -b / (2 * a)
    f_max = c - b * b / (4 * a)
    # error propagation through xs(a, b) and f_max(a, b, c)
    j_x = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
    j_f = np.array([b * b / (4 * a * a), -b / (2 * a), 1.0])
    sx = math.sqrt(max(float(j_x @ cov @ j_x), 0.0)) * scale
    sf = math.sqrt(max(float(j_f @ cov @ j_f), 0.0))
    v0 = x0 + xs * scale
    model = np.polyval(coef, (v - x0) / scale)
    ss_tot = float(((f - f.mean()) ** 2).sum())
    r2 = 1.0 - float(((f - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
    inside = float(vk.min()) <= v0 <= float(vk.max())
    quality: Quality
    if inside and r2 > 0.9:
        quality = "good"
        msg = f"sweet spot {v0 * 1e3:.2f} mV, f_max {f_max / 1e9:.6f} GHz"
    elif float(v.min()) <= v0 <= float(v.max()) and r2 > 0.5:
        quality, msg = "poor", f"sweet spot near the sweep edge (R²={r2:.2f})"
    else:
        quality = "bad"
        msg = f"sweet spot not within the sweep (V₀={v0 * 1e3:.1f} mV, R²={r2:.2f})"
    return Fit(
        routine=routine,
        qubit=qubit,
        values={
            "sweet_spot_voltage_v": v0,
            "max_frequency_hz": f_max,
            "curvature_hz_per_v2": -a / scale**2,
        },
        uncertainties={"sweet_spot_voltage_v": sx, "max_frequency_hz": sf},
        quality=quality,
        r_squared=r2,
        message=msg,
        x=tuple(float(z) for z in v),
        y=tuple(float(z) for z in f),
        y_fit=tuple(float(z) for z in model),
    )
