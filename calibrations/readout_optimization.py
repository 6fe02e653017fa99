"""Readout optimization: frequency, amplitude × duration, and optimal integration weights.

Three routines, run in this order, each from instrument data only; each prepares |0⟩ (the
calibrated π pulse at 0 V) and |1⟩ (at the π amplitude) as two steps, then reads out. Every
measured step has its axis values (``prepared``: 0, 1, 0, 1...), and what the fit needs
besides the shots is in the routine's setup, so a run file re-fits on its own.

- :class:`ReadoutFrequency`: plan → one program per readout frequency (Hz) around the
  current one (a digitizer demodulates every step of a program at one frequency); axes
  ``frequency_hz`` (each value twice) and ``prepared``. fit → the separation
  ``|μ₁ − μ₀|`` (V) of the two mean IQ points is largest where the |0⟩ and |1⟩ responses
  differ most; a parabola through the largest point and its neighbours places the maximum
  (drawn on a dense grid over those three points). update → ``readout_frequency_hz``.
- :class:`ReadoutPower`: plan → one program per (amplitude V, duration s) of a grid: a
  constant readout pulse and an acquisition of the same length; axes
  ``readout_amplitude_v``, ``readout_duration_s`` and ``prepared``; the setup records the
  length of the current integration weights and the digitizer's sample rate. fit → the
  assignment fidelity ``1 − ½·[P(1|0) + P(0|1)]`` of the best threshold on the rotated I
  axis decides (within one standard error of the best: the shortest, then the weakest).
  update → ``readout_amplitude_v`` and ``readout_duration_s``, and integration weights of
  a length other than the chosen duration's samples are cleared (``clears_weights``).
- :class:`IntegrationWeights`: the digitizer returns integrated IQ only, no traces, so the
  traces are measured coarsely: the readout window is cut into ``K`` consecutive
  sub-windows, each its own acquisition ``<q>_w<k>`` (one demodulator each; the layout is
  the setup), and the mean |1⟩ − |0⟩ difference ``Δ_k`` of each sub-window gives the
  matched filter ``w ∝ conj(Δ_k)``, constant within a sub-window, normalised to rms 1 over
  the window (so the noise per shot equals that of the box filter). update →
  ``integration_weights`` (the per-sample vector); ``iq_angle_rad`` and ``threshold`` of
  the box filter no longer apply: run the discrimination again.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import gate_pulse, readout_share_v
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.compiler.traits import digitizer_traits
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import best_threshold, rotate
from qneko_hw.errors import CalibrationError
from qneko_hw.experiment import (
    Acquire,
    Barrier,
    Experiment,
    Instruction,
    Measure,
    Play,
    SetFrequency,
    Sweep,
)
from qneko_hw.plot.figures import Figure, Panel, Series
from qneko_hw.pulses import Constant

__all__ = [
    "IntegrationWeights",
    "IntegrationWeightsSetup",
    "ReadoutFrequency",
    "ReadoutFrequencySetup",
    "ReadoutPower",
    "ReadoutPowerSetup",
    "assignment",
    "separation_error_v",
]

_PREPARED_LONG_NAME = "prepared state (0: |0⟩, 1: |1⟩)"


def assignment(ground: NDArray[np.complex128], excited: NDArray[np.complex128]) -> float:
    """Best-threshold assignment fidelity of two sets of IQ shots (V), on their mean axis."""
    d = complex(excited.mean() - ground.mean())
    angle = math.atan2(d.imag, d.real)
    return best_threshold(rotate(ground, angle), rotate(excited, angle))[1]


def separation_error_v(
    ground: NDArray[np.complex128], excited: NDArray[np.complex128]
) -> NDArray[np.float64]:
    """Standard error (V) of ``|μ₁ − μ₀|`` from IQ shots (..., shots) of both preparations:
    the spread of the mean difference along one direction."""
    n = ground.shape[-1]
    var = np.abs(ground - ground.mean(axis=-1, keepdims=True)) ** 2
    var1 = np.abs(excited - excited.mean(axis=-1, keepdims=True)) ** 2
    return np.asarray(np.sqrt((var.mean(axis=-1) + var1.mean(axis=-1)) / (2 * n)), dtype=np.float64)


def _prepared(
    qubit: str, cal: QubitCalibration, name: str, readout: tuple[Instruction, ...], shots: int
) -> Experiment:
    """|0⟩ and |1⟩ (π pulse at 0 V and at the π amplitude) as two steps, then ``readout``."""
    return Experiment(
        name=name,
        instructions=(Play(channel=f"{qubit}.drive", pulse=gate_pulse(cal, 0.0)), *readout),
        sweep=Sweep(parameter="amplitude_v", instruction=0, values=(0.0, cal.pi_amplitude_v.value)),
        shots=shots,
    )


def _prepared_axis(programs: int) -> Axis:
    return Axis.of("prepared", np.tile([0.0, 1.0], programs), "", _PREPARED_LONG_NAME)


def _pairs(
    prepared: NDArray[np.float64], shots: NDArray[np.complexfloating]
) -> NDArray[np.complex128] | None:
    """(programs, 2, shots) from stacked |0⟩, |1⟩ steps, or None if the ``prepared`` axis is
    not 0, 1, 0, 1... along the shots' steps."""
    arr = np.asarray(shots, dtype=np.complex128)
    steps = arr.shape[0]
    if arr.ndim != 2 or steps == 0 or steps % 2 or prepared.size != steps:
        return None
    if not np.array_equal(prepared, np.tile([0.0, 1.0], steps // 2)):
        return None
    return arr.reshape(steps // 2, 2, arr.shape[1])


def _per_program(values: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """One value per program from an axis with each value twice (None if they differ)."""
    pairs = values.reshape(-1, 2)
    if not np.array_equal(pairs[:, 0], pairs[:, 1]):
        return None
    return np.asarray(pairs[:, 0], dtype=np.float64)


def _digitizer_rate_hz(station: Station, qubit: str, routine: str) -> float:
    feed = station.feedline_of(qubit)
    if feed is None:
        raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=routine)
    model = station.instruments[station.readout[feed].digitizer].model
    return float(digitizer_traits(model).sample_rate_hz)


# --- readout frequency ---------------------------------------------------------------


class ReadoutFrequencySetup(Frozen):
    """What the readout-frequency fit knows besides the shots: the readout frequency (Hz)
    the sweep was centred on and the π amplitude (V) that prepared |1⟩."""

    start_readout_frequency_hz: float
    pi_amplitude_v: float


class ReadoutFrequency(Routine[ReadoutFrequencySetup]):
    """Readout frequency of largest |0⟩/|1⟩ separation.

    Attributes:
        span_hz: full sweep width (Hz) around the current readout frequency;
        points: frequencies; shots: shots per preparation and frequency.
    """

    kind: ClassVar[str] = "readout_frequency"
    setup_type: ClassVar[type[ReadoutFrequencySetup]] = ReadoutFrequencySetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("readout_frequency_hz", "readout_frequency_hz"),
    )

    span_hz: float = 3e6
    points: int = 15
    shots: int = 300
    name: str = "readout_frequency"

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[ReadoutFrequencySetup]:
        """One two-step program per frequency (Hz): prepare, set the readout frame, measure."""
        cal = state.qubit(qubit)
        centre = cal.readout_frequency_hz.value
        freqs = centre + np.linspace(-self.span_hz / 2, self.span_hz / 2, self.points)
        experiments = [
            _prepared(
                qubit,
                cal,
                f"{self.name}_{qubit}",
                (
                    SetFrequency(channel=f"{qubit}.readout", frequency_hz=float(f)),
                    Measure(qubit=qubit, name=qubit),
                ),
                self.shots,
            )
            for f in freqs
        ]
        axes = [
            Axis.of("frequency_hz", np.repeat(freqs, 2), "Hz", "readout frequency"),
            _prepared_axis(self.points),
        ]
        setup = ReadoutFrequencySetup(
            start_readout_frequency_hz=centre, pi_amplitude_v=cal.pi_amplitude_v.value
        )
        return Plan.programs(setup, axes, *experiments)

    def fit(self, data: Data[ReadoutFrequencySetup]) -> Results:
        """Frequency (Hz) of the largest separation of the |0⟩ and |1⟩ mean IQ points."""
        pairs = _pairs(data.axis("prepared"), data.iq(data.qubit))
        freq_axis = data.axis("frequency_hz")
        f = (
            _per_program(freq_axis)
            if pairs is not None and freq_axis.size == 2 * pairs.shape[0]
            else None
        )
        if pairs is None or f is None or f.size < 3:
            return Results.failed(
                self.name, data.qubit, "unexpected data shape: need ≥ 3 frequencies of |0⟩, |1⟩"
            )
        sep = np.abs(pairs[:, 1].mean(axis=1) - pairs[:, 0].mean(axis=1))
        err = separation_error_v(pairs[:, 0], pairs[:, 1])
        noise = float(np.sqrt(pairs.real.var(axis=2).sum(axis=1) * 2 / pairs.shape[2]).mean())
        points = f.size
        k = int(np.clip(np.argmax(sep), 1, points - 2))
        step = float(f[1] - f[0])
        c2, c1, c0 = np.polyfit((f[k - 1 : k + 2] - f[k]) / step, sep[k - 1 : k + 2], 2)
        best = float(f[k]) + (step * float(np.clip(-c1 / (2 * c2), -1, 1)) if c2 < 0 else 0.0)

        def parabola(x: NDArray[np.float64]) -> NDArray[np.float64]:
            u = (x - f[k]) / step
            return np.asarray((c2 * u + c1) * u + c0, dtype=np.float64)

        used = f[k - 1 : k + 2]
        r2 = r_squared(sep[k - 1 : k + 2], parabola(used))
        verdict: Verdict
        if float(sep.max()) < 5 * noise:
            verdict, msg = "bad", "|0⟩ and |1⟩ responses not separated"
        elif int(np.argmax(sep)) in (0, points - 1):
            verdict, msg = "poor", "largest separation at the edge of the sweep"
        else:
            verdict, msg = "good", f"separation {sep.max() / noise:.0f} σ at {best / 1e9:.6f} GHz"
        grid = dense(used)
        figure = Figure(
            panels=(
                Panel(
                    x_label="readout frequency",
                    x_unit="Hz",
                    y_label="|μ₁ − μ₀|",
                    y_unit="V",
                    series=(
                        Series.points(f, sep, err),
                        Series.line(grid, parabola(grid), label="parabola through the maximum"),
                        Series(
                            kind="vline",
                            x=(best,),
                            label=f"chosen: {best / 1e9:.6f} GHz ± {step / 2 / 1e3:.0f} kHz",
                            color="k",
                        ),
                    ),
                    r_squared=r2,
                ),
            )
        )
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=msg,
            values={"readout_frequency_hz": best, "separation_v": float(sep.max())},
            uncertainties={"readout_frequency_hz": step / 2},
            r_squared=r2,
            figure=figure,
        )


# --- readout amplitude and duration ---------------------------------------------------


class ReadoutPowerSetup(Frozen):
    """What the readout-power fit knows besides the shots.

    Attributes:
        start_readout_amplitude_v, start_readout_duration_s: the readout the grid started
            from (V, s).
        pi_amplitude_v: the π amplitude (V) that prepared |1⟩.
        weights_samples: length (samples) of the qubit's integration weights when planned
            (0: box filter).
        digitizer_sample_rate_hz: sample rate (Sa/s) of the qubit's digitizer, at which the
            weights are defined.
    """

    start_readout_amplitude_v: float
    start_readout_duration_s: float
    pi_amplitude_v: float
    weights_samples: int
    digitizer_sample_rate_hz: float


class ReadoutPower(Routine[ReadoutPowerSetup]):
    """Readout amplitude and duration of the best assignment fidelity over a grid.

    Attributes:
        amplitudes_v: readout amplitudes (V at the AWG), capped at the qubit's share of the
        AWG's limit (:func:`~qneko_hw.calibrations.gates.readout_share_v`);
        durations_s: readout durations (s), on the sample grid; shots: per preparation.
    """

    kind: ClassVar[str] = "readout_power"
    setup_type: ClassVar[type[ReadoutPowerSetup]] = ReadoutPowerSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("readout_amplitude_v", "readout_amplitude_v"),
        Update("readout_duration_s", "readout_duration_s"),
        Update("cleared_weights", "integration_weights", when="clears_weights"),
    )

    amplitudes_v: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    durations_s: tuple[float, ...] = (0.5e-6, 1e-6, 2e-6, 3e-6)
    shots: int = 1000
    name: str = "readout_power"

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[ReadoutPowerSetup]:
        """One two-step program per (amplitude V, duration s): prepare, read out."""
        cal = state.qubit(qubit)
        # the chosen amplitude is played beside the other qubits' readouts of the feedline
        limit = readout_share_v(station, qubit, self.name)
        rate = _digitizer_rate_hz(station, qubit, self.name)
        amps = sorted({min(a, limit) for a in self.amplitudes_v})
        grid = [(a, d) for a in amps for d in self.durations_s]
        chans = (f"{qubit}.drive", f"{qubit}.readout", f"{qubit}.acquire")
        experiments = [
            _prepared(
                qubit,
                cal,
                f"{self.name}_{qubit}",
                (
                    Barrier(channels=chans),
                    Play(
                        channel=f"{qubit}.readout",
                        pulse=Constant(amplitude_v=a, duration_s=d),
                    ),
                    Acquire(qubit=qubit, name=qubit, duration_s=d),
                ),
                self.shots,
            )
            for a, d in grid
        ]
        axes = [
            Axis.of(
                "readout_amplitude_v",
                np.repeat([a for a, _ in grid], 2),
                "V",
                "readout pulse amplitude",
            ),
            Axis.of(
                "readout_duration_s",
                np.repeat([d for _, d in grid], 2),
                "s",
                "readout pulse and integration duration",
            ),
            _prepared_axis(len(grid)),
        ]
        setup = ReadoutPowerSetup(
            start_readout_amplitude_v=cal.readout_amplitude_v.value,
            start_readout_duration_s=cal.readout_duration_s.value,
            pi_amplitude_v=cal.pi_amplitude_v.value,
            weights_samples=len(cal.integration_weights),
            digitizer_sample_rate_hz=rate,
        )
        return Plan.programs(setup, axes, *experiments)

    def fit(self, data: Data[ReadoutPowerSetup]) -> Results:
        """Best (amplitude V, duration s) by assignment fidelity; ties go to the shorter."""
        pairs = _pairs(data.axis("prepared"), data.iq(data.qubit))
        amp_axis, dur_axis = data.axis("readout_amplitude_v"), data.axis("readout_duration_s")
        ok = pairs is not None and amp_axis.size == dur_axis.size == 2 * pairs.shape[0]
        amps = _per_program(amp_axis) if ok else None
        durs = _per_program(dur_axis) if ok else None
        if pairs is None or amps is None or durs is None or amps.size == 0:
            return Results.failed(
                self.name, data.qubit, "unexpected data shape: need |0⟩, |1⟩ per grid point"
            )
        programs = amps.size
        fid = np.array([assignment(pairs[k, 0], pairs[k, 1]) for k in range(programs)])
        m = pairs.shape[2]
        err = float(np.sqrt(max(fid.max() * (1 - fid.max()), 1.0 / m) / (2 * m)))
        # within one standard error of the best: the shortest, then the weakest
        near = [k for k in range(programs) if fid[k] >= fid.max() - err]
        k = min(near, key=lambda j: (durs[j], amps[j]))
        a, d = float(amps[k]), float(durs[k])
        verdict: Verdict = "good" if fid[k] > 0.8 else ("poor" if fid[k] > 0.6 else "bad")
        setup = data.setup
        chosen_samples = round(d * setup.digitizer_sample_rate_hz)
        clears = setup.weights_samples > 0 and setup.weights_samples != chosen_samples
        point_err = np.sqrt(np.maximum(fid * (1 - fid), 1.0 / m) / (2 * m))
        series = []
        for j, amp in enumerate(np.unique(amps)):
            sel = np.flatnonzero(amps == amp)
            sel = sel[np.argsort(durs[sel])]
            series.append(
                Series(
                    kind="points",
                    x=tuple(float(v) for v in durs[sel]),
                    y=tuple(float(v) for v in fid[sel]),
                    yerr=tuple(float(v) for v in point_err[sel]),
                    label=f"{amp:.3g} V",
                    color=f"C{j % 10}",
                )
            )
        series.append(
            Series(
                kind="points",
                x=(d,),
                y=(float(fid[k]),),
                label=f"chosen: F = {fid[k]:.4f} at {a:.3g} V, {d * 1e6:.2f} µs",
                color="k",
            )
        )
        figure = Figure(
            panels=(
                Panel(
                    x_label="readout duration",
                    x_unit="s",
                    y_label="assignment fidelity",
                    series=tuple(series),
                ),
            )
        )
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=f"F = {fid[k]:.4f} at {a:.3f} V, {d * 1e6:.2f} µs",
            values={
                "readout_amplitude_v": a,
                "readout_duration_s": d,
                "fidelity": float(fid[k]),
                "clears_weights": 1.0 if clears else 0.0,
            },
            uncertainties={"fidelity": err},
            vectors={"cleared_weights": ()},
            figure=figure,
        )


# --- integration weights --------------------------------------------------------------


class IntegrationWeightsSetup(Frozen):
    """The sub-window layout the integration-weights fit reads the acquisitions with.

    Attributes:
        windows: sub-windows K (acquisitions ``<qubit>_w0`` … ``<qubit>_w<K−1>``).
        samples_per_window: digitizer samples in each sub-window.
        digitizer_sample_rate_hz: the digitizer's sample rate (Sa/s).
        readout_amplitude_v, readout_duration_s: the readout pulse played (V, s).
        pi_amplitude_v: the π amplitude (V) that prepared |1⟩.
    """

    windows: int
    samples_per_window: int
    digitizer_sample_rate_hz: float
    readout_amplitude_v: float
    readout_duration_s: float
    pi_amplitude_v: float


class IntegrationWeights(Routine[IntegrationWeightsSetup]):
    """Matched-filter integration weights from sub-window acquisitions.

    Attributes:
        windows: sub-windows (≤ the digitizer's demodulators); fewer are used when the
            readout length in samples is not a multiple; shots: per preparation.
    """

    kind: ClassVar[str] = "integration_weights"
    setup_type: ClassVar[type[IntegrationWeightsSetup]] = IntegrationWeightsSetup
    updates: ClassVar[tuple[Update, ...]] = (Update("integration_weights", "integration_weights"),)

    windows: int = 16
    shots: int = 2000
    name: str = "integration_weights"

    def _layout(
        self, state: CalibrationState, station: Station, qubit: str
    ) -> tuple[int, int, float]:
        """(sub-windows K, samples per sub-window, sample rate Sa/s) of the digitizer."""
        cal = state.qubit(qubit)
        feed = station.feedline_of(qubit)
        if feed is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        traits = digitizer_traits(station.instruments[station.readout[feed].digitizer].model)
        total = round(cal.readout_duration_s.value * traits.sample_rate_hz)
        k = min(self.windows, traits.max_demodulators)
        while total % k:
            k -= 1
        return k, total // k, float(traits.sample_rate_hz)

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[IntegrationWeightsSetup]:
        """|0⟩ and |1⟩, the calibrated readout pulse, K consecutive sub-window acquisitions."""
        cal = state.qubit(qubit)
        k, length, rate = self._layout(state, station, qubit)
        sub_s = cal.readout_duration_s.value / k
        chans = (f"{qubit}.drive", f"{qubit}.readout", f"{qubit}.acquire")
        readout: tuple[Instruction, ...] = (
            Barrier(channels=chans),
            Play(
                channel=f"{qubit}.readout",
                pulse=Constant(
                    amplitude_v=cal.readout_amplitude_v.value,
                    duration_s=cal.readout_duration_s.value,
                ),
            ),
            *(Acquire(qubit=qubit, name=f"{qubit}_w{j}", duration_s=sub_s) for j in range(k)),
        )
        experiment = _prepared(qubit, cal, f"{self.name}_{qubit}", readout, self.shots)
        setup = IntegrationWeightsSetup(
            windows=k,
            samples_per_window=length,
            digitizer_sample_rate_hz=rate,
            readout_amplitude_v=cal.readout_amplitude_v.value,
            readout_duration_s=cal.readout_duration_s.value,
            pi_amplitude_v=cal.pi_amplitude_v.value,
        )
        return Plan.programs(setup, [_prepared_axis(1)], experiment)

    def fit(self, data: Data[IntegrationWeightsSetup]) -> Results:
        """Per-sub-window mean difference Δ_k → weights; fidelity of box and matched filter."""
        setup = data.setup
        k, per = setup.windows, setup.samples_per_window
        if k < 1 or per < 1:
            return Results.failed(self.name, data.qubit, f"no sub-windows in the layout ({k})")
        names = [f"{data.qubit}_w{j}" for j in range(k)]
        prepared = data.axis("prepared")
        raw = [_pairs(prepared, data.iq(n)) for n in names]
        if any(r is None or r.shape[0] != 1 for r in raw):
            return Results.failed(
                self.name, data.qubit, "unexpected data shape: need |0⟩ and |1⟩ per sub-window"
            )
        # sub: (K, 2, shots); a sub-window value is the mean over its samples
        sub = np.stack([r[0] for r in raw if r is not None])
        delta = sub[:, 1].mean(axis=1) - sub[:, 0].mean(axis=1)
        delta_err = separation_error_v(sub[:, 0], sub[:, 1])
        t_window = np.asarray(
            (np.arange(k) + 0.5) * per / setup.digitizer_sample_rate_hz, dtype=np.float64
        )
        w = np.conj(delta)
        rms = float(np.sqrt(np.mean(np.abs(w) ** 2)))
        if rms == 0.0:
            return Results.failed(
                self.name,
                data.qubit,
                "|0⟩ and |1⟩ give the same trace",
                figure=Figure(panels=(_delta_panel(t_window, delta, delta_err),)),
            )
        w = w / rms
        box = sub.mean(axis=0)
        matched = np.tensordot(w, sub, axes=(0, 0)) / k
        f_box = assignment(box[0], box[1])
        f_matched = assignment(matched[0], matched[1])
        verdict: Verdict = "good" if f_matched >= f_box - 0.005 else "poor"
        per_sample = np.repeat(w, per)
        t_sample = (np.arange(per_sample.size) + 0.5) / setup.digitizer_sample_rate_hz
        weights_panel = Panel(
            x_label="time in the readout window",
            x_unit="s",
            y_label="integration weight (rms 1)",
            series=(
                Series.line(t_sample, per_sample.real, label="Re w", color="C0"),
                Series.line(t_sample, per_sample.imag, label="Im w", color="C1"),
            ),
            note=f"matched F = {f_matched:.4f}\nbox F = {f_box:.4f}",
        )
        figure = Figure(panels=(_delta_panel(t_window, delta, delta_err), weights_panel))
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=f"matched filter F = {f_matched:.4f} (box {f_box:.4f})",
            values={
                "fidelity_box": f_box,
                "fidelity_matched": f_matched,
                "windows": float(k),
                "samples_per_window": float(per),
            },
            vectors={
                "integration_weights": _interleaved(per_sample),
                "window_weights": _interleaved(w),
            },
            figure=figure,
        )


def _interleaved(z: NDArray[np.complex128]) -> tuple[float, ...]:
    """re, im, re, im... of ``z``."""
    return tuple(float(v) for v in np.stack([z.real, z.imag], axis=1).ravel())


def _delta_panel(
    t_s: NDArray[np.float64], delta: NDArray[np.complex128], err: NDArray[np.float64]
) -> Panel:
    return Panel(
        x_label="time in the readout window",
        x_unit="s",
        y_label="|Δ| per sub-window",
        y_unit="V",
        series=(Series.points(t_s, np.abs(delta), err),),
    )
