"""Two-tone qubit spectroscopy: a long weak drive swept in frequency, then measure.

plan → a constant drive pulse of ``duration_s`` (s) on ``<q>.drive`` whose amplitude gives a
Rabi frequency of ``rabi_hz`` (Hz) by the stored π pulse (area scaling of the gate pulse,
capped at the drive AWG's limit), with the drive channel's frame frequency swept over
``drive_frequency_hz ± span_hz``, then measure; one program, axis ``frequency_hz``. A π
rotation over the pulse on resonance (``rabi_hz = 1/(2·duration_s)``) keeps power
broadening to ~1/duration. The setup holds the qubit's discriminator (None without one),
the drive amplitude (V), the drive pulse and the drive frequency the sweep was centred on.
fit → the excited population per frequency (shots thresholded with the setup's
discriminator, or without one the mean IQ projected on its principal axis, V) fitted by a
Lorentzian ``offset + amp/(1 + ((f − f_q)/(Γ/2))²)`` (scipy; :func:`fit_lorentzian`, which
the flux sweep reuses per bias voltage);
update → ``drive_frequency_hz`` = f_q with its σ.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import drive_limit_v, drive_sample_period_s, gate_pulse
from qneko_hw.calibrations.readout import excited_population, population_label
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.plot.figures import Figure, Panel, fit_panel
from qneko_hw.pulses import Constant, pulse_shape

__all__ = [
    "QubitSpectroscopy",
    "QubitSpectroscopySetup",
    "drive_sweep",
    "fit_lorentzian",
    "lorentzian",
    "spectroscopy_panel",
]


def lorentzian(
    f: NDArray[np.float64], f0: float, fwhm: float, amp: float, offset: float
) -> NDArray[np.float64]:
    """``offset + amp / (1 + ((f − f0)/(fwhm/2))²)`` (frequencies ``f``, ``f0``, ``fwhm`` in Hz;
    ``amp`` and ``offset`` in the unit of the signal)."""
    return np.asarray(offset + amp / (1.0 + ((f - f0) / (0.5 * fwhm)) ** 2), dtype=np.float64)


def drive_sweep(
    name: str, qubit: str, pulse: Constant, frequencies_hz: NDArray[np.float64], shots: int
) -> Experiment:
    """``pulse`` on ``<qubit>.drive`` with the channel's frame frequency stepped through
    ``frequencies_hz`` (Hz), then measure: one program, one step per frequency."""
    return Experiment(
        name=name,
        instructions=(
            Play(channel=f"{qubit}.drive", pulse=pulse),
            Measure(qubit=qubit, name=qubit),
        ),
        sweep=Sweep(
            parameter="frequency_hz",
            channel=f"{qubit}.drive",
            values=tuple(float(f) for f in frequencies_hz),
        ),
        shots=shots,
    )


class QubitSpectroscopySetup(Frozen):
    """What the spectroscopy fit needs besides the shots.

    Attributes:
        discriminator: the qubit's discriminator the shots are classified with; None: the
            IQ shots are projected on their principal axis instead.
        drive_amplitude_v: amplitude (V at the AWG) of the constant drive.
        pulse: the drive pulse played at every frequency.
        start_drive_frequency_hz: the drive frequency (Hz) the sweep was centred on.
    """

    discriminator: Discriminator | None
    drive_amplitude_v: float
    pulse: Constant
    start_drive_frequency_hz: float


class QubitSpectroscopy(Routine[QubitSpectroscopySetup]):
    """Two-tone spectroscopy of the qubit transition.

    Attributes:
        points: frequencies; shots: shots per frequency; span_hz: half-width of the sweep
        (Hz) around the stored drive frequency; duration_s: drive pulse length (s);
        rabi_hz: Rabi frequency of the drive (Hz), set from the stored π amplitude.
    """

    kind: ClassVar[str] = "qubit_spectroscopy"
    setup_type: ClassVar[type[QubitSpectroscopySetup]] = QubitSpectroscopySetup
    updates: ClassVar[tuple[Update, ...]] = (Update("qubit_frequency_hz", "drive_frequency_hz"),)

    points: int = 121
    shots: int = 400
    span_hz: float = 10e6
    duration_s: float = 2e-6
    rabi_hz: float = 250e3
    name: str = "qubit_spectroscopy"

    def drive_amplitude_v(self, cal: QubitCalibration, station: Station, qubit: str) -> float:
        """AWG amplitude (V) of a constant drive with Rabi frequency ``rabi_hz`` (Hz).

        The stored π pulse of area ``a_π·∫|shape|dt`` rotates by π, so a constant amplitude
        ``A`` (V) drives at ``A / (2·a_π·∫|shape|dt)`` Hz.
        """
        dt = drive_sample_period_s(station, qubit, self.name)
        n = max(1, round(cal.pulse_duration_s.value / dt))
        shape = pulse_shape(gate_pulse(cal, 1.0), n, dt)
        area = float(np.abs(shape.real).sum()) * dt
        return 2.0 * cal.pi_amplitude_v.value * area * self.rabi_hz

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[QubitSpectroscopySetup]:
        """Constant drive of swept frame frequency (Hz), then measure."""
        cal = state.qubit(qubit)
        limit = drive_limit_v(station, qubit, self.name)
        amp = min(self.drive_amplitude_v(cal, station, qubit), limit)
        pulse = Constant(amplitude_v=amp, duration_s=self.duration_s)
        f0 = cal.drive_frequency_hz.value
        freqs = np.linspace(f0 - self.span_hz, f0 + self.span_hz, self.points)
        experiment = drive_sweep(f"{self.name}_{qubit}", qubit, pulse, freqs, self.shots)
        setup = QubitSpectroscopySetup(
            discriminator=Discriminator.of(cal),
            drive_amplitude_v=amp,
            pulse=pulse,
            start_drive_frequency_hz=f0,
        )
        axis = Axis.of("frequency_hz", freqs, "Hz", "frame frequency of the drive")
        return Plan.programs(setup, [axis], experiment)

    def fit(self, data: Data[QubitSpectroscopySetup]) -> Results:
        """Qubit frequency (Hz) and line width (Hz) from a Lorentzian fit."""
        disc = data.setup.discriminator
        y, err = excited_population(data.iq(data.qubit), disc)
        label, unit = population_label(disc)
        return fit_lorentzian(
            self.name, data.qubit, data.axis("frequency_hz"), y, err, y_label=label, y_unit=unit
        )


def spectroscopy_panel(
    f: NDArray[np.float64],
    y: NDArray[np.float64],
    err: NDArray[np.float64],
    *,
    y_label: str,
    y_unit: str,
    model: tuple[float, float, float, float] | None = None,
    r2: float | None = None,
    note: str = "",
    title: str = "",
) -> Panel:
    """The plot of a spectroscopy: ``y ± err`` vs drive frequency ``f`` (Hz), and the
    Lorentzian of parameters ``model`` (f0 Hz, FWHM Hz, amp, offset) on a dense grid."""
    grid = dense(f)
    curve = None if model is None else (grid, lorentzian(grid, *model))
    return fit_panel(
        f,
        y,
        err,
        curve,
        x_label="drive frequency",
        x_unit="Hz",
        y_label=y_label,
        y_unit=y_unit,
        r_squared=r2,
        note=note,
        title=title,
    )


def fit_lorentzian(
    routine: str,
    qubit: str,
    f: NDArray[np.float64],
    y: NDArray[np.float64],
    err: NDArray[np.float64],
    *,
    y_label: str = "P(|1⟩)",
    y_unit: str = "",
) -> Results:
    """Fit :func:`lorentzian` to ``y(f)`` (peak or dip; ``f`` in Hz, ``y ± err`` in
    ``y_unit``); verdict from R², contrast and position.

    Returns ``qubit_frequency_hz`` and ``linewidth_hz`` (FWHM, Hz) with their σ, and the
    line's ``amplitude`` and ``offset`` (in ``y_unit``); the figure shows ``y`` vs drive
    frequency with the Lorentzian on a dense grid. Bad data give a ``bad`` result, never an
    exception.
    """
    f = np.asarray(f, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)

    def figure(
        model: tuple[float, float, float, float] | None = None,
        r2: float | None = None,
        note: str = "",
    ) -> Figure:
        panel = spectroscopy_panel(
            f, y, err, y_label=y_label, y_unit=y_unit, model=model, r2=r2, note=note
        )
        return Figure(panels=(panel,))

    if f.size < 5 or f.size != y.size or not (np.all(np.isfinite(y)) and np.all(err > 0)):
        return Results.failed(routine, qubit, "no usable signal", figure())
    step = float(np.median(np.diff(f)))
    base = float(np.median(y))
    dev = y - base
    k = int(np.argmax(np.abs(dev)))
    amp0 = float(dev[k])
    above = np.abs(dev) > 0.5 * abs(amp0)
    width0 = max(float(above.sum()) * step, 2 * step)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.optimize.OptimizeWarning)
            popt, pcov = scipy.optimize.curve_fit(
                lorentzian,
                f,
                y,
                p0=(float(f[k]), width0, amp0, base),
                sigma=err,
                absolute_sigma=False,
                maxfev=20000,
            )
    except (RuntimeError, ValueError, scipy.optimize.OptimizeWarning) as exc:
        return Results.failed(routine, qubit, f"Lorentzian fit failed: {exc}", figure())
    perr = np.sqrt(np.abs(np.diag(pcov)))
    f0, fwhm, amp, offset = (float(v) for v in popt)
    fwhm = abs(fwhm)
    r2 = r_squared(y, lorentzian(f, f0, fwhm, amp, offset))
    noise = float(np.median(err))
    inside = f[0] + fwhm / 2 < f0 < f[-1] - fwhm / 2
    snr = abs(amp) / noise if noise > 0 else math.inf
    verdict: Verdict
    if r2 > 0.8 and inside and snr > 10 and fwhm < 0.5 * (f[-1] - f[0]):
        verdict = "good"
        msg = f"line at {f0 / 1e9:.6f} GHz, FWHM {fwhm / 1e3:.0f} kHz"
    elif r2 > 0.5 and inside and snr > 4:
        verdict, msg = "poor", f"weak line (R²={r2:.2f}, S/N {snr:.1f})"
    else:
        verdict = "bad"
        msg = f"no line resolved (R²={r2:.2f}, S/N {snr:.1f}, inside sweep: {inside})"
    note = f"f_q = {f0 / 1e9:.6f} GHz ± {perr[0] / 1e3:.0f} kHz\nFWHM {fwhm / 1e3:.0f} kHz"
    return Results(
        routine=routine,
        qubit=qubit,
        verdict=verdict,
        message=msg,
        values={
            "qubit_frequency_hz": f0,
            "linewidth_hz": fwhm,
            "amplitude": amp,
            "offset": offset,
        },
        uncertainties={"qubit_frequency_hz": float(perr[0]), "linewidth_hz": float(perr[1])},
        r_squared=r2,
        figure=figure((f0, fwhm, amp, offset), r2, note),
    )
