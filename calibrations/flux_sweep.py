"""Flux sweep: qubit frequency vs DC bias voltage, and the sweet spot.

plan → for each bias voltage ``V`` of ``voltages_v`` one program: the two-tone spectroscopy
of :class:`~qneko_hw.calibrations.qubit_spectroscopy.QubitSpectroscopy` (composition: its
plan is reused), compiled with the state's ``bias_voltage_v`` set to ``V`` so that the
compiler's DC program sets the qubit's bias source to ``V`` before the pulses play. The
programs' steps are stacked: axes ``bias_voltage_v`` (V) and ``frequency_hz`` (Hz) on every
step. The setup holds the spectroscopy's setup (discriminator, drive amplitude and pulse),
the number of steps per voltage and the bias the routine started from.
fit → the qubit frequency at each voltage from the spectroscopy's Lorentzian fit
(:func:`~qneko_hw.calibrations.qubit_spectroscopy.fit_lorentzian` on the steps of that
voltage; voltages whose line is not resolved are dropped), then a weighted parabola
``f(V) = f_max − c·(V − V₀)²`` around the highest frequency. Near the sweet spot the
transmon flux model ``f = (f_max + |α|)·(cos²(πΦ) + d²·sin²(πΦ))^{1/4} − |α|`` with
``Φ = V·M/R + Φ_offset`` is a parabola in V up to terms of order ``(πΦ)⁴``, which stay small
against the line-fit uncertainty over the few tens of mΦ₀ the sweep spans; the parabola
needs neither |α| nor d nor M/R. The figure: frequency vs bias (the lines with their σ, the
parabola, the sweet spot) and the spectroscopy of the voltage nearest the sweet spot.
update → ``bias_voltage_v`` = V₀ (the sweet spot) and ``drive_frequency_hz`` = f_max, both
only when the qubit tunes (``values["tunable"]``).

Without ``voltages_v`` the sweep spans ``span_v`` in ``steps`` voltages centred on the
stored bias (0 V before any). A qubit whose resolved lines do not move with the bias (their
spread within ``flat_hz`` or 5 line uncertainties: a fixed-frequency qubit behind a bias
line) has no sweet spot to find: the result is good, says so (``values["tunable"] = 0``)
and the update changes nothing. A qubit without a bias line is refused (CalibrationError
from ``plan``), or with ``skip_unwired`` (graph use) not measured: the plan's measurement
is a :class:`~qneko_hw.calibrations.routine.Skip` and the run's results say "not
applicable".
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.qubit_spectroscopy import (
    QubitSpectroscopy,
    QubitSpectroscopySetup,
    fit_lorentzian,
)
from qneko_hw.calibrations.readout import excited_population, population_label
from qneko_hw.calibrations.routine import Plan, Program, Programs, Routine, Skip, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.errors import CalibrationError
from qneko_hw.plot.figures import Figure, Panel, Series

__all__ = ["FluxSweep", "FluxSweepSetup", "fit_sweet_spot"]

#: Smallest uncertainty (Hz) given to a line's frequency in the parabola fit.
_MIN_LINE_ERROR_HZ = 1e3


def _coarse_spectroscopy() -> QubitSpectroscopy:
    """A wide, coarse two-tone spectroscopy: a 200 ns π-area drive (FWHM ≈ 4–5 MHz),
    1 MHz steps over ±25 MHz around the stored drive frequency."""
    return QubitSpectroscopy(
        points=51, shots=200, span_hz=25e6, duration_s=200e-9, rabi_hz=2.5e6, name="flux_sweep"
    )


class FluxSweepSetup(Frozen):
    """What the flux-sweep fit needs besides the shots and axes.

    Attributes:
        spectroscopy: the setup of the spectroscopy run at every voltage (discriminator,
            drive amplitude and pulse, the drive frequency it was centred on); None when
            nothing was measured (no bias line, skipped).
        points_per_voltage: measured steps (frequencies) per bias voltage.
        start_bias_voltage_v: the stored bias (V) the routine started from (None: none).
    """

    spectroscopy: QubitSpectroscopySetup | None = None
    points_per_voltage: int = 0
    start_bias_voltage_v: float | None = None


class FluxSweep(Routine[FluxSweepSetup]):
    """Qubit frequency vs flux-bias voltage; sweet spot from a parabola around the maximum.

    Never multiplexed: one bias state per program.

    Attributes:
        voltages_v: bias voltages (V at the DC source) to measure at, one program each;
            empty: ``steps`` voltages over ``span_v`` (V) centred on the stored bias.
        spectroscopy: the two-tone spectroscopy run at each voltage (its span must cover
            the qubit frequency at every voltage).
        min_points: fewest resolved lines the parabola fit needs.
        span_v: width (V) of the default sweep; steps: its number of voltages.
        flat_hz: lines spread by less than this (Hz, or 5 line uncertainties) mean the
            qubit does not tune with its bias.
        skip_unwired: a qubit without a bias line is skipped ("not applicable") instead of
            refused.
    """

    kind: ClassVar[str] = "flux_sweep"
    setup_type: ClassVar[type[FluxSweepSetup]] = FluxSweepSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("sweet_spot_voltage_v", "bias_voltage_v", when="tunable"),
        Update("max_frequency_hz", "drive_frequency_hz", when="tunable"),
    )
    multiplex: ClassVar[bool] = False

    voltages_v: tuple[float, ...] = ()
    spectroscopy: QubitSpectroscopy = Field(default_factory=_coarse_spectroscopy)
    min_points: int = 4
    span_v: float = 0.1
    steps: int = 11
    flat_hz: float = 1e6
    skip_unwired: bool = False
    name: str = "flux_sweep"

    def voltages(self, cal: QubitCalibration) -> tuple[float, ...]:
        """The bias voltages (V) to measure ``cal``'s qubit at."""
        if self.voltages_v:
            return tuple(float(v) for v in self.voltages_v)
        centre = cal.bias_voltage_v.value if cal.bias_voltage_v is not None else 0.0
        half = self.span_v / 2
        return tuple(float(v) for v in np.linspace(centre - half, centre + half, self.steps))

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[FluxSweepSetup]:
        """One spectroscopy per voltage (V), each compiled with that bias voltage; a qubit
        without a bias line is skipped (``skip_unwired``) or refused.

        Raises:
            CalibrationError: no bias line (without ``skip_unwired``), fewer voltages than
                ``min_points``, or the spectroscopy cannot be planned (no drive line).
        """
        cal = state.qubit(qubit)
        start_bias = cal.bias_voltage_v.value if cal.bias_voltage_v is not None else None
        if qubit not in station.bias:
            reason = f"{qubit}: no bias line in the station, nothing to sweep"
            if self.skip_unwired:
                return Plan(FluxSweepSetup(start_bias_voltage_v=start_bias), (), Skip(reason))
            raise CalibrationError(reason, qubit=qubit, routine=self.name)
        voltages = self.voltages(cal)
        if len(voltages) < self.min_points:
            raise CalibrationError(
                f"{qubit}: flux sweep needs at least {self.min_points} voltages, "
                f"got {len(voltages)}",
                qubit=qubit,
                routine=self.name,
            )
        inner = self.spectroscopy.plan(qubit, state, station)
        assert isinstance(inner.measurement, Programs)  # the spectroscopy is one program
        exp = inner.measurement.items[0].experiment
        freqs = next(a for a in inner.axes if a.name == "frequency_hz")
        n = exp.steps
        programs = []
        for k, v in enumerate(voltages):
            biased = state.with_qubit(qubit, bias_voltage_v=CalValue.design(float(v)))
            named = exp.model_copy(update={"name": f"{self.name}_{qubit}_v{k}"})
            programs.append(Program(named, state=biased))
        axes = [
            Axis.of("bias_voltage_v", np.repeat(voltages, n), "V", "flux-bias voltage"),
            Axis.of("frequency_hz", np.tile(freqs.values, len(voltages)), "Hz", freqs.long_name),
        ]
        setup = FluxSweepSetup(
            spectroscopy=inner.setup, points_per_voltage=n, start_bias_voltage_v=start_bias
        )
        return Plan.programs(setup, axes, *programs)

    def fit(self, data: Data[FluxSweepSetup]) -> Results:
        """Sweet-spot voltage (V) and maximum frequency (Hz) from the per-voltage lines."""
        spec = data.setup.spectroscopy
        n = data.setup.points_per_voltage
        if spec is None or n <= 0:
            return Results.failed(self.name, data.qubit, "no spectroscopy was planned")
        shots = data.iq(data.qubit)
        bias = data.axis("bias_voltage_v")
        freq = data.axis("frequency_hz")
        steps = int(shots.shape[0])
        count = bias.size // n
        if steps != bias.size or bias.size != freq.size or bias.size != n * count:
            return Results.failed(self.name, data.qubit, f"expected {n}×{count} steps, got {steps}")
        label, unit = population_label(spec.discriminator)
        volts: list[float] = []
        freqs: list[float] = []
        errs: list[float] = []
        lines: list[Results] = []
        for k in range(count):
            part = slice(k * n, (k + 1) * n)
            v = bias[part]
            if np.ptp(v) != 0:
                return Results.failed(
                    self.name, data.qubit, f"steps {k * n}…{(k + 1) * n - 1} mix bias voltages"
                )
            y, err = excited_population(shots[part], spec.discriminator)
            line = fit_lorentzian(
                self.spectroscopy.name, data.qubit, freq[part], y, err, y_label=label, y_unit=unit
            )
            if line.verdict == "bad":
                continue
            volts.append(float(v[0]))
            freqs.append(line.values["qubit_frequency_hz"])
            errs.append(max(line.uncertainties["qubit_frequency_hz"], _MIN_LINE_ERROR_HZ))
            lines.append(line)
        flat = self._flat(data.qubit, volts, freqs, errs)
        results = flat or fit_sweet_spot(
            self.name, data.qubit, volts=volts, freqs=freqs, errs=errs, min_points=self.min_points
        )
        return _with_line_panel(results, volts, lines)

    def _flat(
        self, qubit: str, volts: list[float], freqs: list[float], errs: list[float]
    ) -> Results | None:
        """The good "does not tune" result when the resolved lines do not move, else None."""
        if len(volts) < self.min_points:
            return None
        f = np.asarray(freqs, dtype=np.float64)
        spread = float(np.ptp(f))
        if spread > max(self.flat_hz, 5 * float(np.median(errs))):
            return None
        mean = float(f.mean())
        panel = _bias_panel(
            volts,
            freqs,
            errs,
            extra=(Series(kind="hline", y=(mean,), label="mean", color="C3"),),
            note=f"does not tune: spread {spread / 1e3:.0f} kHz",
        )
        return Results(
            routine=self.name,
            qubit=qubit,
            verdict="good",
            message=(
                f"frequency does not move with the bias (spread {spread / 1e3:.0f} kHz over "
                f"{min(volts) * 1e3:.0f}…{max(volts) * 1e3:.0f} mV): no sweet spot to find, "
                "nothing changed"
            ),
            values={"tunable": 0.0, "mean_frequency_hz": mean, "spread_hz": spread},
            uncertainties={"mean_frequency_hz": float(f.std(ddof=1)) / math.sqrt(f.size)},
            figure=Figure(panels=(panel,)),
        )


def _bias_panel(
    volts: list[float] | NDArray[np.float64],
    freqs: list[float] | NDArray[np.float64],
    errs: list[float] | NDArray[np.float64],
    *,
    extra: tuple[Series, ...] = (),
    r2: float | None = None,
    note: str = "",
) -> Panel:
    """Qubit frequency (Hz) vs bias voltage (V): the resolved lines with their σ, and
    ``extra`` series (the parabola, the sweet spot)."""
    return Panel(
        x_label="bias voltage",
        x_unit="V",
        y_label="qubit frequency",
        y_unit="Hz",
        series=(Series.points(volts, freqs, errs, label="lines"), *extra),
        r_squared=r2,
        note=note,
    )


def _with_line_panel(results: Results, volts: list[float], lines: list[Results]) -> Results:
    """``results`` with the spectroscopy of the voltage nearest the sweet spot (or of the
    highest line when there is no sweet spot) as a second panel."""
    if not lines or results.figure is None:
        return results
    if "sweet_spot_voltage_v" in results.values:
        target = results.values["sweet_spot_voltage_v"]
        k = int(np.argmin(np.abs(np.asarray(volts) - target)))
    else:
        k = int(np.argmax([line.values["qubit_frequency_hz"] for line in lines]))
    figure = lines[k].figure
    if figure is None:
        return results
    panel = figure.panels[0].model_copy(
        update={"title": f"spectroscopy at {volts[k] * 1e3:.1f} mV"}
    )
    both = results.figure.model_copy(update={"panels": (*results.figure.panels, panel)})
    return results.model_copy(update={"figure": both})


def fit_sweet_spot(
    routine: str,
    qubit: str,
    *,
    volts: list[float],
    freqs: list[float],
    errs: list[float],
    min_points: int,
) -> Results:
    """Weighted parabola ``f_max − c·(V − V₀)²`` through the resolved lines (voltages in V,
    frequencies and their σ in Hz).

    The fit uses the points whose frequency is within the top half of the measured range
    (at least ``min_points``, the closest to the highest); the vertex must lie inside the
    swept voltages and the curvature must be negative. R² is that of the parabola for all
    resolved lines, as plotted.
    """
    data_only = Figure(panels=(_bias_panel(volts, freqs, errs),))
    if len(volts) < min_points:
        return Results.failed(
            routine, qubit, f"only {len(volts)} lines resolved, need {min_points}", data_only
        )
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
        return Results.failed(routine, qubit, f"parabola fit failed: {exc}", data_only)
    a, b, c = (float(z) for z in coef)
    if not a < 0:
        return Results.failed(
            routine, qubit, "frequency vs bias has no maximum (curvature ≥ 0)", data_only
        )
    xs = -b / (2 * a)
    f_max = c - b * b / (4 * a)
    # error propagation through xs(a, b) and f_max(a, b, c)
    j_x = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
    j_f = np.array([b * b / (4 * a * a), -b / (2 * a), 1.0])
    sx = math.sqrt(max(float(j_x @ cov @ j_x), 0.0)) * scale
    sf = math.sqrt(max(float(j_f @ cov @ j_f), 0.0))
    v0 = x0 + xs * scale
    r2 = r_squared(f, np.polyval(coef, (v - x0) / scale))
    inside = float(vk.min()) <= v0 <= float(vk.max())
    verdict: Verdict
    if inside and r2 > 0.9:
        verdict = "good"
        msg = f"sweet spot {v0 * 1e3:.2f} mV, f_max {f_max / 1e9:.6f} GHz"
    elif float(v.min()) <= v0 <= float(v.max()) and r2 > 0.5:
        verdict, msg = "poor", f"sweet spot near the sweep edge (R²={r2:.2f})"
    else:
        verdict = "bad"
        msg = f"sweet spot not within the sweep (V₀={v0 * 1e3:.1f} mV, R²={r2:.2f})"
    grid = dense(v)
    panel = _bias_panel(
        v,
        f,
        e,
        extra=(
            Series.line(grid, np.polyval(coef, (grid - x0) / scale), label="parabola"),
            Series(kind="vline", x=(v0,), label="sweet spot", color="C2"),
        ),
        r2=r2,
        note=(
            f"V₀ = {v0 * 1e3:.2f} ± {sx * 1e3:.2f} mV\n"
            f"f_max = {f_max / 1e9:.6f} GHz ± {sf / 1e3:.0f} kHz"
        ),
    )
    return Results(
        routine=routine,
        qubit=qubit,
        verdict=verdict,
        message=msg,
        values={
            "tunable": 1.0,
            "sweet_spot_voltage_v": v0,
            "max_frequency_hz": f_max,
            "curvature_hz_per_v2": -a / scale**2,
        },
        uncertainties={"sweet_spot_voltage_v": sx, "max_frequency_hz": sf},
        r_squared=r2,
        figure=Figure(panels=(panel,)),
    )
