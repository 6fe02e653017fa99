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

Without ``voltages_v`` the sweep spans ``span_v`` in ``steps`` voltages centred on the
stored bias (0 V before any). A qubit whose resolved lines do not move with the bias (their
spread within ``flat_hz`` or 5 line uncertainties: a fixed-frequency qubit behind a bias
line) has no sweet spot to find: the fit is good, says so (``values["tunable"] = 0``) and
the update changes nothing. A qubit without a bias line
is refused (CalibrationError), or with ``skip_unwired`` (graph use) skipped: an idle program
and a good "not applicable" fit (:class:`~qneko_hw.calibrations.graph.NotApplicable`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.graph import NotApplicable
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
        voltages_v: bias voltages (V at the DC source) to measure at, one program each;
            empty: ``steps`` voltages over ``span_v`` (V) centred on the stored bias.
        spectroscopy: the two-tone spectroscopy run at each voltage (its span must cover
            the qubit frequency at every voltage).
        min_points: fewest resolved lines the parabola fit needs.
        flat_hz: lines spread by less than this (Hz, or 5 line uncertainties) mean the
            qubit does not tune with its bias.
        skip_unwired: a qubit without a bias line is skipped ("not applicable") instead of
            refused.
        multiplex: never run on several qubits at once (one bias state per program).
    """

    voltages_v: tuple[float, ...] = ()
    spectroscopy: QubitSpectroscopy = field(default_factory=_coarse_spectroscopy)
    min_points: int = 4
    span_v: float = 0.1
    steps: int = 11
    flat_hz: float = 1e6
    skip_unwired: bool = False
    name: str = "flux_sweep"
    multiplex: bool = False
    skipped: NotApplicable = field(default_factory=NotApplicable, compare=False, repr=False)
    swept: dict[str, tuple[float, ...]] = field(default_factory=dict, compare=False, repr=False)

    def voltages(self, cal: QubitCalibration) -> tuple[float, ...]:
        """The bias voltages (V) to measure ``cal``'s qubit at."""
        if self.voltages_v:
            return tuple(float(v) for v in self.voltages_v)
        centre = cal.bias_voltage_v.value if cal.bias_voltage_v is not None else 0.0
        half = self.span_v / 2
        return tuple(float(v) for v in np.linspace(centre - half, centre + half, self.steps))

    def build(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> list[tuple[Experiment, CalibrationState]] | Experiment:
        """One spectroscopy per voltage, each compiled with that bias voltage."""
        if qubit not in station.bias:
            reason = f"{qubit}: no bias line in the station, nothing to sweep"
            if self.skip_unwired:
                return self.skipped.skip(self.name, qubit, reason)
            raise CalibrationError(reason, qubit=qubit, routine=self.name)
        self.skipped.applies(qubit)
        voltages = self.voltages(state.qubit(qubit))
        if len(voltages) < self.min_points:
            raise CalibrationError(
                f"{qubit}: flux sweep needs at least {self.min_points} voltages, "
                f"got {len(voltages)}",
                qubit=qubit,
                routine=self.name,
            )
        self.swept[qubit] = voltages
        exp = self.spectroscopy.build(qubit, state, station)
        out = []
        for k, v in enumerate(voltages):
            biased = state.with_qubit(qubit, bias_voltage_v=CalValue.design(float(v)))
            named = exp.model_copy(update={"name": f"{self.name}_{qubit}_v{k}"})
            out.append((named, biased))
        return out

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """Sweet-spot voltage (V) and maximum frequency (Hz) from the per-voltage lines
        (the voltages of the last build for ``qubit``, else ``voltages_v``)."""
        skipped = self.skipped.fit(self.name, qubit)
        if skipped is not None:
            return skipped
        voltages = self.swept.get(qubit, self.voltages_v)
        n = self.spectroscopy.points
        steps = len(result.sweep_values)
        if steps != n * len(voltages):
            return Fit.failed(self.name, qubit, f"expected {n}×{len(voltages)} steps, got {steps}")
        volts, freqs, errs = [], [], []
        for k, v in enumerate(voltages):
            part = result.step_range(k * n, (k + 1) * n)
            line = self.spectroscopy.analyze(qubit, part, readout)
            if line.quality == "bad":
                continue
            volts.append(float(v))
            freqs.append(line.values["qubit_frequency_hz"])
            errs.append(max(line.uncertainties["qubit_frequency_hz"], 1e3))
        flat = self._flat(qubit, volts, freqs, errs)
        if flat is not None:
            return flat
        return fit_sweet_spot(
            self.name, qubit, volts=volts, freqs=freqs, errs=errs, min_points=self.min_points
        )

    def _flat(
        self, qubit: str, volts: list[float], freqs: list[float], errs: list[float]
    ) -> Fit | None:
        """The good "does not tune" fit when the resolved lines do not move, else None."""
        if len(volts) < self.min_points:
            return None
        f = np.asarray(freqs, dtype=np.float64)
        spread = float(np.ptp(f))
        if spread > max(self.flat_hz, 5 * float(np.median(errs))):
            return None
        mean = float(f.mean())
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={"tunable": 0.0, "mean_frequency_hz": mean, "spread_hz": spread},
            uncertainties={"mean_frequency_hz": float(f.std(ddof=1)) / math.sqrt(f.size)},
            quality="good",
            r_squared=1.0,
            message=(
                f"frequency does not move with the bias (spread {spread / 1e3:.0f} kHz over "
                f"{min(volts) * 1e3:.0f}…{max(volts) * 1e3:.0f} mV): no sweet spot to find, "
                "nothing changed"
            ),
            x=tuple(volts),
            y=tuple(freqs),
            y_fit=tuple(mean for _ in volts),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state at the sweet spot; unchanged when the node does not apply or the qubit
        does not tune; a bad fit raises CalibrationError."""
        if fit.values.get("applicable") == 0.0 or fit.values.get("tunable") == 0.0:
            return state
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
