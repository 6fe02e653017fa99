"""Resonator spectroscopy through the digitizer: sweep the readout tone, fit the resonance.

plan → one single-step program per frequency (Hz) around the current readout frequency:
set the frame of ``<qubit>.readout`` to it, then measure with the calibrated readout pulse;
the qubit is left in its (thermal) ground state. The points are separate programs because a
digitizer demodulates every sweep step of a program at one frequency (the compiler takes
the demodulator's IF from step 0), so a one-program frame-frequency sweep would be
demodulated at the wrong IF everywhere but at its first point. Axis: ``frequency_hz``.
fit → the mean IQ point per frequency is fitted by the complex response of a driven damped
resonator (the integrated field): ``z(f) = c + A·e^{iφ}/(1 + 2i·(f − f_r)/κ)`` (f_r:
resonance in Hz, κ: FWHM linewidth in Hz, A, φ, c: scale, phase and background in V), by
least squares on the real and imaginary parts (:func:`fit_resonance`, shared with the VNA
and punch-out routines). The window integrates the ring-up too, so the fitted κ is an
effective linewidth, somewhat above the resonator's own. The figure shows |z| against
frequency and the trace in the IQ plane, each with the model on a dense grid.
update → ``readout_frequency_hz`` = f_r (the resonance with the qubit in |0⟩); readout
optimization then moves it to where |0⟩ and |1⟩ separate best.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.routine import Plan, Program, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.errors import CalibrationError
from qneko_hw.experiment import Experiment, Measure, SetFrequency, Sweep
from qneko_hw.plot.figures import Figure, Panel, Series, fit_panel

__all__ = [
    "ResonanceFit",
    "ResonatorSpectroscopy",
    "ResonatorSpectroscopySetup",
    "find_dips",
    "fit_resonance",
    "resonance_model",
    "resonance_results",
    "spectroscopy_programs",
]


def resonance_model(
    f: NDArray[np.float64], f_r: float, kappa: float, a: complex, c: complex, *, hand: int = 1
) -> NDArray[np.complex128]:
    """Complex response (V): ``c + a/(1 + 2i·h·(f − f_r)/κ)``; f, f_r, κ in Hz.

    ``hand`` h = ±1 is the sense in which the IQ point turns through the resonance (it
    depends on the sign conventions of the up- and down-conversion); the fit tries both.
    """
    return np.asarray(c + a / (1 + 2j * hand * (f - f_r) / kappa), dtype=np.complex128)


class ResonanceFit(Frozen):
    """A fitted resonance: f_r and κ (Hz) with their σ, the complex scale ``a`` and
    background ``c`` (unit of the trace), the hand h = ±1, and R² of the complex fit."""

    f_r: float
    kappa: float
    sigma_f_r: float
    sigma_kappa: float
    a_re: float
    a_im: float
    c_re: float
    c_im: float
    hand: int
    r2: float

    @property
    def a(self) -> complex:
        """Complex scale of the resonance."""
        return complex(self.a_re, self.a_im)

    @property
    def c(self) -> complex:
        """Off-resonant background."""
        return complex(self.c_re, self.c_im)

    def model(self, f: NDArray[np.float64]) -> NDArray[np.complex128]:
        """The fitted response at frequencies ``f`` (Hz)."""
        return resonance_model(f, self.f_r, self.kappa, self.a, self.c, hand=self.hand)


def fit_resonance(
    f: NDArray[np.float64], z: NDArray[np.complex128], err: NDArray[np.float64]
) -> ResonanceFit:
    """Fit :func:`resonance_model` to the mean IQ points ``z`` of frequencies ``f`` (Hz)
    with standard errors ``err`` (both hands; the better one)."""
    fits = [_fit_hand(f, z, err, hand) for hand in (1, -1)]
    return min(fits, key=lambda fit: fit[1])[0]


def _fit_hand(
    f: NDArray[np.float64], z: NDArray[np.complex128], err: NDArray[np.float64], hand: int
) -> tuple[ResonanceFit, float]:
    c0 = complex(np.median(np.concatenate((z[:3], z[-3:]))))
    depth = np.abs(z - c0)
    k = int(np.argmax(depth))
    f_r0 = float(f[k])
    half = f[depth >= depth[k] / math.sqrt(2)]
    kappa0 = max(float(half.max() - half.min()), 2 * float(np.min(np.diff(f))))
    a0 = complex(z[k] - c0)
    scale = max(float(np.abs(z - c0).max()), 1e-30)
    w = 1.0 / np.maximum(err, 1e-30)

    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        m = resonance_model(
            f, f_r0 + p[0] * 1e6, p[1] * 1e6, complex(p[2], p[3]) * scale, 0j, hand=hand
        )
        d = (z - complex(p[4], p[5]) * scale - m) * w
        return np.concatenate((d.real, d.imag))

    p0 = np.array(
        [0.0, kappa0 / 1e6, a0.real / scale, a0.imag / scale, c0.real / scale, c0.imag / scale]
    )
    sol = scipy.optimize.least_squares(resid, p0)
    units = np.array([1e6, 1e6, scale, scale, scale, scale])
    dof = max(2 * f.size - p0.size, 1)
    chi2 = float((sol.fun**2).sum()) / dof
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac) * max(chi2, 1.0)
        sig = np.sqrt(np.clip(np.diag(cov), 0, None)) * units
    except np.linalg.LinAlgError:
        sig = np.full(p0.size, np.inf)
    p = sol.x * units
    p[0] += f_r0
    model = resonance_model(f, p[0], p[1], complex(p[2], p[3]), complex(p[4], p[5]), hand=hand)
    fit = ResonanceFit(
        f_r=float(p[0]),
        kappa=abs(float(p[1])),
        sigma_f_r=float(sig[0]),
        sigma_kappa=float(sig[1]),
        a_re=float(p[2]),
        a_im=float(p[3]),
        c_re=float(p[4]),
        c_im=float(p[5]),
        hand=hand,
        r2=r_squared(z, model),
    )
    return fit, float(sol.cost)


def _resonance_figure(
    f: NDArray[np.float64],
    z: NDArray[np.complex128],
    err: NDArray[np.float64],
    fit: ResonanceFit | None,
    *,
    unit: str,
    label: str,
) -> Figure:
    mag = Series.points(f, np.abs(z), err)
    iq = Series.points(z.real, z.imag, label="data")
    magnitude: list[Series] = [mag]
    plane: list[Series] = [iq]
    r2_mag = None
    note = ""
    if fit is not None:
        grid = dense(f)
        model = fit.model(grid)
        magnitude.append(Series.line(grid, np.abs(model)))
        plane.append(Series.line(model.real, model.imag))
        magnitude.append(Series(kind="vline", x=(fit.f_r,), label="f_r", color="C2"))
        r2_mag = r_squared(np.abs(z), np.abs(fit.model(f)))
        note = f"f_r = {fit.f_r / 1e9:.6f} GHz\nκ = {fit.kappa / 1e6:.3f} MHz"
    return Figure(
        panels=(
            Panel(
                x_label="frequency",
                x_unit="Hz",
                y_label=f"|{label}|",
                y_unit=unit,
                series=tuple(magnitude),
                r_squared=r2_mag,
                note=note,
            ),
            Panel(
                x_label=f"Re {label}",
                x_unit=unit,
                y_label=f"Im {label}",
                y_unit=unit,
                series=tuple(plane),
                r_squared=None if fit is None else fit.r2,
            ),
        )
    )


def resonance_results(
    routine: str,
    qubit: str,
    f: NDArray[np.float64],
    z: NDArray[np.complex128],
    err: NDArray[np.float64],
    *,
    noise: float,
    unit: str = "V",
    label: str = "z",
    depth_key: str = "depth_v",
) -> Results:
    """The :class:`Results` of a resonance fitted to the trace ``z(f)`` (standard errors
    ``err``, white noise ``noise``, same unit as z; f in Hz): bad if the resonance is not
    resolved 5 σ deep inside the sweep, poor if the fit is weak or wider than the sweep.
    ``depth_key`` names the reported depth (|a| in the trace's unit, or |a|/|c| for a
    transmission without unit)."""
    if f.size < 7 or f.shape != z.shape:
        figure = (
            _resonance_figure(f, z, err, None, unit=unit, label=label)
            if f.shape == z.shape
            else None
        )
        return Results.failed(routine, qubit, "fewer than 7 frequencies measured", figure)
    try:
        fit = fit_resonance(f, z, err)
    except (ValueError, RuntimeError) as exc:
        return Results.failed(
            routine,
            qubit,
            f"fit failed: {exc}",
            _resonance_figure(f, z, err, None, unit=unit, label=label),
        )
    depth = abs(fit.a) if unit else (abs(fit.a) / abs(fit.c) if abs(fit.c) > 0 else math.inf)
    inside = f.min() + fit.kappa / 2 <= fit.f_r <= f.max() - fit.kappa / 2
    verdict: Verdict
    finite = math.isfinite(fit.sigma_f_r) and math.isfinite(fit.sigma_kappa)
    if not (finite and inside) or abs(fit.a) < 5 * noise:
        verdict = "bad"
        msg = f"no resonance in the sweep (depth {abs(fit.a) / max(noise, 1e-300):.1f} σ)"
    elif fit.r2 < 0.9 or fit.kappa > f.max() - f.min():
        verdict, msg = "poor", f"resonance at {fit.f_r / 1e9:.6f} GHz, poor fit (R² {fit.r2:.2f})"
    else:
        verdict = "good"
        msg = f"resonance at {fit.f_r / 1e9:.6f} GHz, κ = {fit.kappa / 1e6:.2f} MHz"
    return Results(
        routine=routine,
        qubit=qubit,
        verdict=verdict,
        message=msg,
        values={"resonator_frequency_hz": fit.f_r, "kappa_hz": fit.kappa, depth_key: depth},
        uncertainties={"resonator_frequency_hz": fit.sigma_f_r, "kappa_hz": fit.sigma_kappa},
        r_squared=fit.r2,
        figure=_resonance_figure(f, z, err, fit, unit=unit, label=label),
    )


def iq_trace(
    shots: NDArray[np.complexfloating],
) -> tuple[NDArray[np.complex128], NDArray[np.float64], float]:
    """Mean IQ point per step (V), its standard error per step, and the median error."""
    data = np.asarray(shots, dtype=np.complex128)
    z = data.mean(axis=1)
    err = np.sqrt(data.real.var(axis=1) + data.imag.var(axis=1)) / math.sqrt(2 * data.shape[1])
    return z, err, float(np.median(err))


def spectroscopy_programs(
    routine: str, qubit: str, frequencies_hz: NDArray[np.float64], shots: int
) -> list[Experiment]:
    """One single-step experiment per readout frequency (Hz): set the readout frame, measure."""
    return [
        Experiment(
            name=f"{routine}_{qubit}",
            instructions=(
                SetFrequency(channel=f"{qubit}.readout", frequency_hz=float(f)),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="frequency_hz", instruction=0, values=(float(f),)),
            shots=shots,
        )
        for f in frequencies_hz
    ]


class ResonatorSpectroscopySetup(Frozen):
    """What the resonator fit needs besides the trace.

    Attributes:
        readout_amplitude_v, readout_duration_s: the readout pulse the resonator was
            probed with (V, s).
        centre_hz: the readout frequency the sweep was centred on (Hz).
        search: the sweep is a search (the readout frequency was never measured): every
            dip is located and the one nearest ``centre_hz`` is fitted.
    """

    readout_amplitude_v: float
    readout_duration_s: float
    centre_hz: float = 0.0
    search: bool = False


def find_dips(
    f: NDArray[np.float64], z: NDArray[np.complex128], noise: float, *, min_separation_hz: float
) -> list[int]:
    """Indices of the resonances in a wide trace: local maxima of ``|z − background|``
    (background: the median trace value) deeper than 8 noise σ and than a third of the
    deepest, at least ``min_separation_hz`` (Hz) apart."""
    from scipy.signal import find_peaks

    depth = np.abs(z - complex(np.median(z.real), np.median(z.imag)))
    if depth.size < 3:
        return []
    step = float(np.median(np.diff(f)))
    threshold = max(8 * noise, depth.max() / 3)
    peaks, _ = find_peaks(depth, height=threshold, distance=max(1, round(min_separation_hz / step)))
    return [int(k) for k in peaks]


class ResonatorSpectroscopy(Routine[ResonatorSpectroscopySetup]):
    """Readout-resonator spectroscopy with the digitizer.

    A readout frequency never measured (a design value) is searched for first: the sweep
    spans ``search_span_hz`` in ``search_points`` (fabrication moves resonators by a few
    MHz, σ ≈ 2–5 MHz), every dip is located, the one nearest the design value is fitted in
    a window around it, and the others are reported. A measured readout frequency is
    swept over ``span_hz`` in ``points``.

    Attributes:
        span_hz: full width of the sweep (Hz), centred on the current readout frequency;
        points: frequencies; shots: shots per frequency; search_span_hz, search_points:
        the same for a search; window_hz: full width (Hz) of the fit window of a search;
        probe_amplitude_v, probe_duration_s: the readout amplitude (V) and duration (s) of
        the probe, ``None`` for the stored ones. A fixed probe makes two runs comparable
        whatever the readout optimization chose since: the dressed resonance moves with
        the readout power (by ~0.5 MHz from 0.1 V to 0.2 V on the built-in chip) and a
        short readout's ring-up moves it too, which a nightly check would take for drift.
    """

    kind: ClassVar[str] = "resonator_spectroscopy"
    setup_type: ClassVar[type[ResonatorSpectroscopySetup]] = ResonatorSpectroscopySetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("resonator_frequency_hz", "readout_frequency_hz"),
    )

    span_hz: float = 8e6
    points: int = 41
    shots: int = 200
    search_span_hz: float = 60e6
    search_points: int = 121
    window_hz: float = 10e6
    probe_amplitude_v: float | None = 0.1
    probe_duration_s: float | None = 2e-6
    name: str = "resonator_spectroscopy"

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[ResonatorSpectroscopySetup]:
        """One program per frequency (Hz): set the readout frame, measure."""
        cal = state.qubit(qubit)
        if station.feedline_of(qubit) is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        centre = cal.readout_frequency_hz.value
        search = cal.readout_frequency_hz.run_id is None and self.search_span_hz > self.span_hz
        span, points = (
            (self.search_span_hz, self.search_points)
            if search
            else (
                self.span_hz,
                self.points,
            )
        )
        freqs = centre + np.linspace(-span / 2, span / 2, points)
        amplitude = self.probe_amplitude_v or cal.readout_amplitude_v.value
        duration = self.probe_duration_s or cal.readout_duration_s.value
        probe = state
        if (amplitude, duration) != (cal.readout_amplitude_v.value, cal.readout_duration_s.value):
            fields: dict[str, Any] = {
                "readout_amplitude_v": CalValue.design(amplitude),
                "readout_duration_s": CalValue.design(duration),
                "integration_weights": (),  # a box filter of the probe's length
            }
            probe = state.with_qubit(qubit, **fields)
        setup = ResonatorSpectroscopySetup(
            readout_amplitude_v=amplitude,
            readout_duration_s=duration,
            centre_hz=centre,
            search=search,
        )
        axis = Axis.of("frequency_hz", freqs, "Hz", "readout frequency")
        programs = spectroscopy_programs(self.name, qubit, freqs, self.shots)
        return Plan.programs(setup, [axis], *(Program(p, state=probe) for p in programs))

    def fit(self, data: Data[ResonatorSpectroscopySetup]) -> Results:
        """Resonance frequency and linewidth (Hz) from the mean IQ point per frequency."""
        z, err, noise = iq_trace(data.iq(data.qubit))
        f = data.axis("frequency_hz")
        if not data.setup.search:
            return resonance_results(self.name, data.qubit, f, z, err, noise=noise)
        return self._search(data.qubit, data.setup.centre_hz, f, z, err=err, noise=noise)

    def _search(
        self,
        qubit: str,
        centre: float,
        f: NDArray[np.float64],
        z: NDArray[np.complex128],
        *,
        err: NDArray[np.float64],
        noise: float,
    ) -> Results:
        dips = find_dips(f, z, noise, min_separation_hz=self.window_hz / 2)
        if not dips:
            return Results.failed(
                self.name,
                qubit,
                f"no resonance within ±{self.search_span_hz / 2e6:.0f} MHz of the design value "
                f"{centre / 1e9:.6f} GHz",
                _resonance_figure(f, z, err, None, unit="V", label="z"),
            )
        chosen = min(dips, key=lambda k: abs(f[k] - centre))
        window = np.abs(f - f[chosen]) <= self.window_hz / 2
        res = resonance_results(self.name, qubit, f[window], z[window], err[window], noise=noise)
        others = [float(f[k]) for k in dips if k != chosen]
        note = (
            f"{len(dips)} dips within ±{self.search_span_hz / 2e6:.0f} MHz; the one nearest "
            f"the design ({(f[chosen] - centre) / 1e6:+.2f} MHz from it) fitted"
        )
        if others:
            note += "; others at " + ", ".join(f"{x / 1e9:.6f} GHz" for x in others)
        marks = (
            [Series(kind="vline", x=tuple(others), label="other dips", color="C1")]
            if (others)
            else []
        )
        fitted = res.figure.panels if res.figure is not None else ()
        overview = fit_panel(
            f,
            np.abs(z),
            err,
            None,
            x_label="frequency (search)",
            x_unit="Hz",
            y_label="|z|",
            y_unit="V",
            extra=[
                Series(kind="vline", x=(float(f[chosen]),), label="fitted dip", color="C2"),
                *marks,
            ],
        )
        return res.model_copy(
            update={
                "message": f"{res.message}; {note}",
                "values": {**res.values, "dips_found": float(len(dips))},
                "vectors": {"other_dips_hz": tuple(others)},
                "figure": Figure(panels=(overview, *fitted)),
            }
        )
