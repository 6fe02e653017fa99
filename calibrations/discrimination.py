"""Single-shot discrimination: prepare |0⟩ and |1⟩, fit the IQ blobs, set the threshold.

plan → a two-step amplitude sweep of the calibrated π pulse (0 V: |0⟩; π amplitude: |1⟩),
then measure; axes ``prepared`` (0, 1) and ``amplitude_v`` (V); the setup records the
pulse and the π amplitude it was played at;
fit → rotate the shots so that the line through the two blob means lies along I
(``iq_angle_rad``), pick the threshold on the rotated I axis that maximises the empirical
assignment fidelity ``F = 1 − ½·[P(1|0) + P(0|1)]``, and fit each blob with a two-Gaussian
mixture of common width (centres, σ, the |1⟩ fraction in each preparation). The fitted blobs
also predict the fidelity a threshold midway between them would give,
``½·[1 + erf(d/(2√2·σ))]`` for centres ``d`` apart (``gaussian_fidelity``); it is higher than
the empirical one when the |0⟩ preparation is thermal or |1⟩ decays during the readout.
The figure: the IQ blobs (a deterministic subsample of the shots) with the threshold line,
and the histograms of rotated I with the fitted mixture (R² of the mixture against the
histogram counts) and the threshold;
update → ``iq_angle_rad``, ``threshold`` (from ``threshold_v``) and ``assignment_fidelity``.

The fidelity reported is what this readout gives on these preparations: thermal
population of the |0⟩ preparation, π-pulse errors and decay during the readout all count
against it, as they would for any later measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import best_threshold, rotate
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.plot.figures import Figure, Panel, Series
from qneko_hw.pulses import Drag

__all__ = [
    "SCATTER_SHOTS",
    "Discrimination",
    "DiscriminationSetup",
    "fit_blobs",
    "gaussian_fidelity",
    "histogram_edges",
    "mixture_density",
    "subsample",
]

_EM_ITERATIONS = 200
#: Most shots of each preparation drawn in the IQ scatter of the figure.
SCATTER_SHOTS = 1000
_COLOURS = ("C0", "C3")


def fit_blobs(
    ground_v: NDArray[np.float64], excited_v: NDArray[np.float64]
) -> tuple[float, float, float, float, float]:
    """Two Gaussians of common σ on rotated I, mixed in each preparation (EM).

    Args:
        ground_v, excited_v: rotated I (V) of the |0⟩ and |1⟩ preparations' shots.

    Returns:
        (centre_0, centre_1, sigma, w_0, w_1): centres and σ in V; ``w_k`` is the fraction
        of preparation k's shots in the |1⟩ blob.
    """
    data = (np.asarray(ground_v, dtype=np.float64), np.asarray(excited_v, dtype=np.float64))
    c0, c1 = float(np.median(data[0])), float(np.median(data[1]))
    sigma = max(0.5 * (float(np.std(data[0])) + float(np.std(data[1]))), 1e-12)
    w = [0.05, 0.95]
    for _ in range(_EM_ITERATIONS):
        resp = []
        for k, x in enumerate(data):
            l0 = (1 - w[k]) * np.exp(-0.5 * ((x - c0) / sigma) ** 2)
            l1 = w[k] * np.exp(-0.5 * ((x - c1) / sigma) ** 2)
            resp.append(l1 / np.maximum(l0 + l1, 1e-300))
        w = [float(np.clip(r.mean(), 1e-6, 1 - 1e-6)) for r in resp]
        x_all = np.concatenate(data)
        r_all = np.concatenate(resp)
        n1 = max(float(r_all.sum()), 1e-12)
        n0 = max(float((1 - r_all).sum()), 1e-12)
        new_c0 = float(((1 - r_all) * x_all).sum() / n0)
        new_c1 = float((r_all * x_all).sum() / n1)
        var = ((1 - r_all) * (x_all - new_c0) ** 2 + r_all * (x_all - new_c1) ** 2).sum()
        new_sigma = max(math.sqrt(float(var) / x_all.size), 1e-12)
        done = abs(new_c0 - c0) + abs(new_c1 - c1) + abs(new_sigma - sigma) < 1e-6 * sigma
        c0, c1, sigma = new_c0, new_c1, new_sigma
        if done:
            break
    return c0, c1, sigma, w[0], w[1]


def gaussian_fidelity(separation_v: float, sigma_v: float) -> float:
    """Assignment fidelity of two Gaussian blobs of common σ (V) whose centres are
    ``separation_v`` (V) apart, thresholded midway: ``½·[1 + erf(d/(2√2·σ))]``."""
    return 0.5 * (1.0 + math.erf(abs(separation_v) / (2.0 * math.sqrt(2.0) * sigma_v)))


def subsample(shots: NDArray[np.complexfloating], most: int = SCATTER_SHOTS) -> NDArray[np.int64]:
    """Indices of a deterministic, evenly strided subsample of at most ``most`` shots."""
    n = int(np.asarray(shots).shape[-1])
    stride = max(1, math.ceil(n / most))
    return np.arange(0, n, stride, dtype=np.int64)


def mixture_density(
    x_v: NDArray[np.float64], centre_0_v: float, centre_1_v: float, sigma_v: float, w1: float
) -> NDArray[np.float64]:
    """Probability density (1/V) at rotated I ``x_v`` (V) of the two-Gaussian mixture with
    a fraction ``w1`` in the |1⟩ blob."""
    norm = 1.0 / (math.sqrt(2.0 * math.pi) * sigma_v)
    g0 = np.exp(-0.5 * ((x_v - centre_0_v) / sigma_v) ** 2)
    g1 = np.exp(-0.5 * ((x_v - centre_1_v) / sigma_v) ** 2)
    return np.asarray(norm * ((1.0 - w1) * g0 + w1 * g1), dtype=np.float64)


def histogram_edges(
    ground_v: NDArray[np.float64], excited_v: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Common bin edges (V) of the rotated-I histograms of both preparations: √n bins per
    preparation (between 10 and 60) over the range of all shots."""
    both = np.concatenate((ground_v, excited_v))
    bins = int(np.clip(round(math.sqrt(max(ground_v.size, excited_v.size))), 10, 60))
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        hi = lo + 1e-12
    return np.linspace(lo, hi, bins + 1)


class DiscriminationSetup(Frozen):
    """What the discrimination fit knows besides the shots: the gate pulse whose amplitude
    selects the preparation, and the π amplitude (V) played for |1⟩."""

    pulse: Drag
    pi_amplitude_v: float


class Discrimination(Routine[DiscriminationSetup]):
    """Single-shot readout discrimination and assignment fidelity.

    Attributes:
        shots: shots per preparation (each of |0⟩ and |1⟩).
    """

    kind: ClassVar[str] = "discrimination"
    setup_type: ClassVar[type[DiscriminationSetup]] = DiscriminationSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("iq_angle_rad", "iq_angle_rad"),
        Update("threshold_v", "threshold"),
        Update("assignment_fidelity", "assignment_fidelity"),
    )

    shots: int = 2000
    name: str = "discrimination"

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[DiscriminationSetup]:
        """Calibrated π pulse at amplitude 0 V then the π amplitude (V), measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        pulse = gate_pulse(cal, 0.0)
        a_pi = cal.pi_amplitude_v.value
        experiment = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=f"{qubit}.drive", pulse=pulse),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="amplitude_v", instruction=0, values=(0.0, a_pi)),
            shots=self.shots,
        )
        axes = [
            Axis.of("prepared", [0, 1], "", "prepared state (0: |0⟩, 1: |1⟩)"),
            Axis.of("amplitude_v", [0.0, a_pi], "V", "amplitude of the preparing gate pulse"),
        ]
        return Plan.programs(
            DiscriminationSetup(pulse=pulse, pi_amplitude_v=a_pi), axes, experiment
        )

    def fit(self, data: Data[DiscriminationSetup]) -> Results:
        """Angle (rad), threshold (V) and assignment fidelity from the two preparations."""
        shots = np.asarray(data.iq(data.qubit), dtype=np.complex128)
        if shots.ndim != 2 or shots.shape[0] != 2 or shots.shape[1] < 10:
            return Results.failed(
                self.name,
                data.qubit,
                f"expected 2 preparations of ≥ 10 shots, got {shots.shape}",
                figure=_figure(shots, None),
            )
        n = shots.shape[1]
        mean0, mean1 = complex(shots[0].mean()), complex(shots[1].mean())
        if mean1 == mean0:
            return Results.failed(
                self.name,
                data.qubit,
                "the two preparations give the same mean",
                figure=_figure(shots, None),
            )
        angle = math.atan2((mean1 - mean0).imag, (mean1 - mean0).real)
        r0, r1 = rotate(shots[0], angle), rotate(shots[1], angle)
        threshold, fidelity = best_threshold(r0, r1)
        c0, c1, sigma, w0, w1 = fit_blobs(r0, r1)
        p10 = float((r0 > threshold).mean())
        p01 = float((r1 <= threshold).mean())
        fid_err = 0.5 * math.sqrt((p10 * (1 - p10) + p01 * (1 - p01) + 1.0 / n) / n)
        snr = abs(c1 - c0) / sigma
        f_gauss = gaussian_fidelity(c1 - c0, sigma)
        # angle uncertainty: scatter of the mean difference across the separation
        spread = float(np.sqrt(shots[0].var() + shots[1].var()) / math.sqrt(n))
        angle_err = spread / abs(mean1 - mean0)
        verdict: Verdict
        if snr > 2.0 and fidelity > 0.8:
            verdict, msg = "good", f"blobs separated by {snr:.1f} σ"
        elif snr > 1.0 and fidelity > 0.6:
            verdict, msg = "poor", f"blobs overlap: separation {snr:.1f} σ"
        else:
            verdict, msg = "bad", f"blobs not resolved: separation {snr:.1f} σ"
        fitted = _Fitted(
            angle_rad=angle,
            threshold_v=threshold,
            rotated=(r0, r1),
            blobs=(c0, c1, sigma, w0, w1),
            note=(
                f"F = {fidelity:.4f} (best threshold)\n"
                f"F_gauss = {f_gauss:.4f} (fitted blobs, {snr:.1f} σ)\n"
                f"P(1|0) = {p10:.4f}, P(0|1) = {p01:.4f}"
            ),
        )
        figure, r2 = _figure_and_r2(shots, fitted)
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=msg,
            values={
                "iq_angle_rad": angle,
                "threshold_v": threshold,
                "assignment_fidelity": fidelity,
                "gaussian_fidelity": f_gauss,
                "p1_given_0": p10,
                "p0_given_1": p01,
                "centre_0_v": c0,
                "centre_1_v": c1,
                "sigma_v": sigma,
                "snr": snr,
                "excited_fraction_0": w0,
                "excited_fraction_1": w1,
            },
            uncertainties={
                "iq_angle_rad": angle_err,
                "threshold_v": sigma / math.sqrt(n),
                "assignment_fidelity": fid_err,
            },
            r_squared=r2,
            figure=figure,
        )


@dataclass(frozen=True)
class _Fitted:
    """What the figure draws of a successful fit: the discriminator (rad, V), the rotated I
    of both preparations (V), the blobs (centres, σ in V, |1⟩ fractions) and the note."""

    angle_rad: float
    threshold_v: float
    rotated: tuple[NDArray[np.float64], NDArray[np.float64]]
    blobs: tuple[float, float, float, float, float]
    note: str


def _scatter(shots: NDArray[np.complex128]) -> list[Series]:
    out = []
    for k in range(min(shots.shape[0], 2)):
        pick = shots[k, subsample(shots[k])]
        out.append(
            Series(
                kind="scatter",
                x=tuple(float(v) for v in pick.real),
                y=tuple(float(v) for v in pick.imag),
                label=f"|{k}⟩ prepared",
                color=_COLOURS[k],
            )
        )
    return out


def _iq_panel(shots: NDArray[np.complex128], fitted: _Fitted | None) -> Panel:
    series = _scatter(shots) if shots.ndim == 2 and shots.size else []
    if fitted is not None:
        # the threshold in IQ space: Re(s·e^{−iθ}) = t, i.e. s = (t + i·u)·e^{iθ}, drawn
        # across the rotated-Q extent of the plotted shots
        rot = np.exp(1j * fitted.angle_rad)
        picked = np.concatenate([shots[k, subsample(shots[k])] for k in range(2)])
        u = (picked * np.conj(rot)).imag
        lo, hi = float(u.min()), float(u.max())
        pad = 0.1 * (hi - lo)
        ends = (fitted.threshold_v + 1j * np.array([lo - pad, hi + pad])) * rot
        series.append(
            Series.line(ends.real, ends.imag, label="threshold", color="k"),
        )
    return Panel(x_label="I", x_unit="V", y_label="Q", y_unit="V", series=tuple(series))


def _figure(shots: NDArray[np.complex128], fitted: _Fitted | None) -> Figure:
    """The data alone (no fit): the IQ scatter."""
    return Figure(panels=(_iq_panel(shots, fitted),))


def _figure_and_r2(shots: NDArray[np.complex128], fitted: _Fitted) -> tuple[Figure, float]:
    """Both panels and R² of the mixture against the histogram counts."""
    r0, r1 = fitted.rotated
    c0, c1, sigma, w0, w1 = fitted.blobs
    edges = histogram_edges(r0, r1)
    width = float(edges[1] - edges[0])
    centres = 0.5 * (edges[1:] + edges[:-1])
    grid = dense(edges)
    counts_all = []
    model_all = []
    series: list[Series] = []
    for k, (r, w) in enumerate(((r0, w0), (r1, w1))):
        counts, _ = np.histogram(r, bins=edges)
        scale = r.size * width
        counts_all.append(counts.astype(np.float64))
        model_all.append(scale * mixture_density(centres, c0, c1, sigma, w))
        series.append(
            Series(
                kind="hist",
                x=tuple(float(v) for v in edges),
                y=tuple(float(v) for v in counts),
                label=f"|{k}⟩ prepared",
                color=_COLOURS[k],
            )
        )
    for k, w in enumerate((w0, w1)):
        n_k = (r0, r1)[k].size
        series.append(
            Series.line(
                grid,
                n_k * width * mixture_density(grid, c0, c1, sigma, w),
                label=f"mixture fit |{k}⟩",
                color=_COLOURS[k],
            )
        )
    series.append(
        Series(kind="vline", x=(fitted.threshold_v,), label="threshold", color="k"),
    )
    r2 = r_squared(np.concatenate(counts_all), np.concatenate(model_all))
    hist = Panel(
        x_label="rotated I",
        x_unit="V",
        y_label="counts per bin",
        series=tuple(series),
        r_squared=r2,
        note=fitted.note,
    )
    return Figure(panels=(_iq_panel(shots, fitted), hist)), r2
