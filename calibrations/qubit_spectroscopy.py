"""Two-tone qubit spectroscopy: a long weak drive swept in frequency, then measure.

build → a constant drive pulse of ``duration_s`` (s) on ``<q>.drive`` whose amplitude gives a
Rabi frequency of ``rabi_hz`` (Hz) by the stored π pulse (area scaling of the gate pulse),
with the drive channel's frame frequency swept over ``drive_frequency_hz ± span_hz``, then
measure. A π rotation over the pulse on resonance (``rabi_hz = 1/(2·duration_s)``) keeps
power broadening to ~1/duration.
analyze → the excited population per frequency (shots thresholded with the qubit's
discriminator when it has one, else the mean IQ projected on its principal axis) fitted by
a Lorentzian ``offset + amp/(1 + ((f − f_q)/(Γ/2))²)`` (scipy); update →
``drive_frequency_hz``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.readout import BuiltReadout, excited_population
from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Constant, pulse_shape

__all__ = ["QubitSpectroscopy", "lorentzian"]


def lorentzian(
    f: NDArray[np.float64], f0: float, fwhm: float, amp: float, offset: float
) -> NDArray[np.float64]:
    """``offset + amp / (1 + ((f − f0)/(fwhm/2))²)`` (frequencies in Hz)."""
    return np.asarray(offset + amp / (1.0 + ((f - f0) / (0.5 * fwhm)) ** 2), dtype=np.float64)


@dataclass(frozen=True)
class QubitSpectroscopy:
    """Two-tone spectroscopy of the qubit transition.

    Attributes:
        points: frequencies; shots: shots per frequency; span_hz: half-width of the sweep
        (Hz) around the stored drive frequency; duration_s: drive pulse length (s);
        rabi_hz: Rabi frequency of the drive (Hz), set from the stored π amplitude.
    """

    points: int = 121
    shots: int = 400
    span_hz: float = 10e6
    duration_s: float = 2e-6
    rabi_hz: float = 250e3
    name: str = "qubit_spectroscopy"
    built: BuiltReadout = field(default_factory=BuiltReadout, compare=False, repr=False)

    def drive_amplitude_v(self, cal: QubitCalibration, station: Station, qubit: str) -> float:
        """AWG amplitude (V) of a constant drive with Rabi frequency ``rabi_hz``.

        The stored π pulse of area ``a_π·∫|shape|dt`` rotates by π, so a constant amplitude
        ``A`` drives at ``A / (2·a_π·∫|shape|dt)`` Hz.
        """
        dt = 1.0 / awg_traits(station.instruments[station.drive[qubit].awg].model).sample_rate_hz
        n = max(1, round(cal.pulse_duration_s.value / dt))
        shape = pulse_shape(gate_pulse(cal, 1.0), n, dt)
        area = float(np.abs(shape.real).sum()) * dt
        return 2.0 * cal.pi_amplitude_v.value * area * self.rabi_hz

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: constant drive of swept frame frequency (Hz), then measure."""
        cal = state.qubit(qubit)
        limit = drive_limit_v(station, qubit, self.name)
        amp = min(self.drive_amplitude_v(cal, station, qubit), limit)
        self.built.record(qubit, cal)
        f0 = cal.drive_frequency_hz.value
        freqs = np.linspace(f0 - self.span_hz, f0 + self.span_hz, self.points)
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(
                    channel=f"{qubit}.drive",
                    pulse=Constant(amplitude_v=amp, duration_s=self.duration_s),
                ),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(
                parameter="frequency_hz",
                channel=f"{qubit}.drive",
                values=tuple(float(f) for f in freqs),
            ),
            shots=self.shots,
        )

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """Qubit frequency (Hz) and line width (Hz) from a Lorentzian fit."""
        shots = result.acquisition(qubit, self.name)
        y, err = excited_population(shots, self.built.get(qubit, readout))
        f = np.asarray(result.sweep_values, dtype=np.float64)
        return fit_lorentzian(self.name, qubit, f, y, err)

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with ``drive_frequency_hz``; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: qubit spectroscopy unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        f_q = CalValue.measured(
            fit.values["qubit_frequency_hz"], fit.uncertainties["qubit_frequency_hz"], run_id
        )
        return state.with_qubit(fit.qubit, drive_frequency_hz=f_q)


def fit_lorentzian(
    routine: str,
    qubit: str,
    f: NDArray[np.float64],
    y: NDArray[np.float64],
    err: NDArray[np.float64],
) -> Fit:
    """Fit ``lorentzian`` to ``y(f)`` (peak or dip); verdict from R², contrast and position."""
    step = float(np.median(np.diff(f))) if f.size > 1 else 1.0
    base = float(np.median(y))
    dev = y - base
    k = int(np.argmax(np.abs(dev)))
    amp0 = float(dev[k])
    above = np.abs(dev) > 0.5 * abs(amp0)
    width0 = max(float(above.sum()) * step, 2 * step)
    try:
        popt, pcov = scipy.optimize.curve_fit(
            lorentzian,
            f,
            y,
            p0=(float(f[k]), width0, amp0, base),
            sigma=err,
            absolute_sigma=False,
            maxfev=20000,
        )
    except (RuntimeError, ValueError) as exc:
        return Fit(
            routine=routine,
            qubit=qubit,
            values={},
            uncertainties={},
            quality="bad",
            r_squared=0.0,
            message=f"Lorentzian fit failed: {exc}",
            x=tuple(float(v) for v in f),
            y=tuple(float(v) for v in y),
        )
    perr = np.sqrt(np.abs(np.diag(pcov)))
    f0, fwhm, amp, offset = (float(v) for v in popt)
    fwhm = abs(fwhm)
    model = lorentzian(f, f0, fwhm, amp, offset)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
    noise = float(np.median(err))
    inside = f[0] + fwhm / 2 < f0 < f[-1] - fwhm / 2
    snr = abs(amp) / noise if noise > 0 else math.inf
    quality: Quality
    if r2 > 0.8 and inside and snr > 10 and fwhm < 0.5 * (f[-1] - f[0]):
        quality = "good"
        msg = f"line at {f0 / 1e9:.6f} GHz, FWHM {fwhm / 1e3:.0f} kHz"
    elif r2 > 0.5 and inside and snr > 4:
        quality, msg = "poor", f"weak line (R²={r2:.2f}, S/N {snr:.1f})"
    else:
        quality = "bad"
        msg = f"no line resolved (R²={r2:.2f}, S/N {snr:.1f}, inside sweep: {inside})"
    return Fit(
        routine=routine,
        qubit=qubit,
        values={
            "qubit_frequency_hz": f0,
            "linewidth_hz": fwhm,
            "amplitude": amp,
            "offset": offset,
        },
        uncertainties={"qubit_frequency_hz": float(perr[0]), "linewidth_hz": float(perr[1])},
        quality=quality,
        r_squared=r2,
        message=msg,
        x=tuple(float(v) for v in f),
        y=tuple(float(v) for v in y),
        y_fit=tuple(float(v) for v in model),
    )
