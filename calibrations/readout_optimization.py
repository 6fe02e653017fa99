"""Readout optimization: frequency, amplitude × duration, and optimal integration weights.

Three routines, run in this order, each from instrument data only; each prepares |0⟩ (the
calibrated π pulse at 0 V) and |1⟩ (at the π amplitude) as two sweep steps, then reads out.

- :class:`ReadoutFrequency`: one program per readout frequency (Hz) around the current one
  (a digitizer demodulates every step of a program at one frequency); the separation
  ``|μ₁ − μ₀|`` (V) of the two mean IQ points is largest where the |0⟩ and |1⟩ responses
  differ most; a parabola through the largest point and its neighbours places the maximum.
  Updates ``readout_frequency_hz``.
- :class:`ReadoutPower`: one program per (amplitude V, duration s) of a grid: a constant
  readout pulse and an acquisition of the same length; the assignment fidelity
  ``1 − ½·[P(1|0) + P(0|1)]`` of the best threshold on the rotated I axis decides. Updates
  ``readout_amplitude_v`` and ``readout_duration_s`` (and clears integration weights of a
  different length).
- :class:`IntegrationWeights`: the digitizer returns integrated IQ only, no traces, so the
  traces are measured coarsely: the readout window is cut into ``K`` consecutive
  sub-windows, each its own acquisition (one demodulator each), and the mean |1⟩ − |0⟩
  difference ``Δ_k`` of each sub-window gives the matched filter ``w ∝ conj(Δ_k)``,
  constant within a sub-window, normalised to rms 1 over the window (so the noise per shot
  equals that of the box filter). Updates ``integration_weights``; ``iq_angle_rad`` and
  ``threshold`` of the box filter no longer apply: run the discrimination again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import gate_pulse
from qneko_hw.compiler.traits import awg_traits, digitizer_traits
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.discrimination import best_threshold, rotate
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
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
from qneko_hw.pulses import Constant

__all__ = ["IntegrationWeights", "ReadoutFrequency", "ReadoutPower", "assignment"]

log = logging.getLogger(__name__)


def assignment(ground: NDArray[np.complex128], excited: NDArray[np.complex128]) -> float:
    """Best-threshold assignment fidelity of two sets of IQ shots (V), on their mean axis."""
    d = complex(excited.mean() - ground.mean())
    angle = math.atan2(d.imag, d.real)
    return best_threshold(rotate(ground, angle), rotate(excited, angle))[1]


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


def _pairs(data: NDArray[np.complexfloating], programs: int) -> NDArray[np.complex128]:
    """(programs, 2, shots) from the stacked steps of ``programs`` two-step programs."""
    arr = np.asarray(data, dtype=np.complex128)
    return arr.reshape(programs, 2, arr.shape[-1])


def _raise_if_bad(fit: Fit, routine: str) -> None:
    if fit.quality == "bad":
        raise CalibrationError(
            f"{fit.qubit}: {routine} unusable: {fit.message}",
            qubit=fit.qubit,
            routine=routine,
            reason=fit.message,
        )


@dataclass(frozen=True)
class ReadoutFrequency:
    """Readout frequency of largest |0⟩/|1⟩ separation.

    Attributes:
        span_hz: full sweep width (Hz) around the current readout frequency;
        points: frequencies; shots: shots per preparation and frequency.
    """

    span_hz: float = 3e6
    points: int = 15
    shots: int = 300
    name: str = "readout_frequency"
    built: dict[str, tuple[float, ...]] = field(default_factory=dict, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> list[Experiment]:
        """One two-step experiment per frequency (Hz): prepare, set the readout frame, measure."""
        cal = state.qubit(qubit)
        centre = cal.readout_frequency_hz.value
        freqs = centre + np.linspace(-self.span_hz / 2, self.span_hz / 2, self.points)
        self.built[qubit] = tuple(float(f) for f in freqs)
        return [
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

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Frequency (Hz) of the largest separation of the |0⟩ and |1⟩ mean IQ points."""
        shots = result.shots.get(qubit)
        if shots is None or shots.shape[0] != 2 * self.points or self.points < 3:
            return Fit.failed(self.name, qubit, "unexpected data shape")
        data = _pairs(shots, self.points)
        f = np.asarray(self.built.get(qubit, ()), dtype=np.float64)
        if f.size != self.points:
            return Fit.failed(self.name, qubit, "no frequencies recorded at build")
        sep = np.abs(data[:, 1].mean(axis=1) - data[:, 0].mean(axis=1))
        noise = float(np.sqrt(data.real.var(axis=2).sum(axis=1) * 2 / data.shape[2]).mean())
        k = int(np.clip(np.argmax(sep), 1, self.points - 2))
        step = float(f[1] - f[0])
        c2, c1, _ = np.polyfit((f[k - 1 : k + 2] - f[k]) / step, sep[k - 1 : k + 2], 2)
        best = float(f[k]) + (step * float(np.clip(-c1 / (2 * c2), -1, 1)) if c2 < 0 else 0.0)
        quality: Quality
        if float(sep.max()) < 5 * noise:
            quality, msg = "bad", "|0⟩ and |1⟩ responses not separated"
        elif int(np.argmax(sep)) in (0, self.points - 1):
            quality, msg = "poor", "largest separation at the edge of the sweep"
        else:
            quality, msg = "good", f"separation {sep.max() / noise:.0f} σ at {best / 1e9:.6f} GHz"
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={"readout_frequency_hz": best, "separation_v": float(sep.max())},
            uncertainties={"readout_frequency_hz": step / 2},
            quality=quality,
            r_squared=0.0,
            message=msg,
            x=tuple(float(v) for v in f),
            y=tuple(float(v) for v in sep),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with the readout frequency of largest separation."""
        _raise_if_bad(fit, self.name)
        return state.with_qubit(
            fit.qubit,
            readout_frequency_hz=CalValue.measured(
                fit.values["readout_frequency_hz"],
                fit.uncertainties["readout_frequency_hz"],
                run_id,
            ),
        )


@dataclass(frozen=True)
class ReadoutPower:
    """Readout amplitude and duration of the best assignment fidelity over a grid.

    Attributes:
        amplitudes_v: readout amplitudes (V at the AWG), capped at the AWG's limit;
        durations_s: readout durations (s), on the sample grid; shots: per preparation.
    """

    amplitudes_v: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    durations_s: tuple[float, ...] = (0.5e-6, 1e-6, 2e-6, 3e-6)
    shots: int = 1000
    name: str = "readout_power"
    built: dict[str, list[tuple[float, float]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def build(self, qubit: str, state: CalibrationState, station: Station) -> list[Experiment]:
        """One two-step experiment per (amplitude V, duration s): prepare, read out."""
        cal = state.qubit(qubit)
        feed = station.feedline_of(qubit)
        if feed is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        awg = station.instruments[station.readout[feed].awg]
        limit = awg_traits(awg.model).max_amplitude_v
        if awg.limits.max_amplitude_v is not None:
            limit = min(limit, awg.limits.max_amplitude_v)
        amps = sorted({min(a, limit) for a in self.amplitudes_v})
        grid = [(a, d) for a in amps for d in self.durations_s]
        self.built[qubit] = grid
        chans = (f"{qubit}.drive", f"{qubit}.readout", f"{qubit}.acquire")
        return [
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

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Best (amplitude V, duration s) by assignment fidelity; ties go to the shorter."""
        shots = result.shots.get(qubit)
        grid = self.built.get(qubit, [])
        if shots is None or shots.shape[0] != 2 * len(grid) or not grid:
            return Fit.failed(self.name, qubit, "unexpected data shape or no grid built")
        programs = len(grid)
        data = _pairs(shots, programs)
        fid = np.array([assignment(data[k, 0], data[k, 1]) for k in range(programs)])
        m = data.shape[2]
        err = float(np.sqrt(max(fid.max() * (1 - fid.max()), 1.0 / m) / (2 * m)))
        # within one standard error of the best: the shortest, then the weakest
        near = [k for k in range(programs) if fid[k] >= fid.max() - err]
        k = min(near, key=lambda j: (grid[j][1], grid[j][0]))
        a, d = grid[k]
        quality: Quality = "good" if fid[k] > 0.8 else ("poor" if fid[k] > 0.6 else "bad")
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={"readout_amplitude_v": a, "readout_duration_s": d, "fidelity": float(fid[k])},
            uncertainties={"fidelity": err},
            quality=quality,
            r_squared=0.0,
            message=f"F = {fid[k]:.4f} at {a:.3f} V, {d * 1e6:.2f} µs",
            x=tuple(float(v) for v in range(programs)),
            y=tuple(float(v) for v in fid),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with readout amplitude (V) and duration (s)."""
        _raise_if_bad(fit, self.name)
        v = fit.values
        new = state.with_qubit(
            fit.qubit,
            readout_amplitude_v=CalValue.measured(v["readout_amplitude_v"], None, run_id),
            readout_duration_s=CalValue.measured(v["readout_duration_s"], None, run_id),
        )
        cal = new.qubit(fit.qubit)
        if cal.integration_weights and len(cal.integration_weights) != round(
            v["readout_duration_s"] * 1e9
        ):
            q = cal.model_copy(update={"integration_weights": ()})
            new = new.model_copy(update={"qubits": {**new.qubits, fit.qubit: q}})
        return new


@dataclass(frozen=True)
class IntegrationWeights:
    """Matched-filter integration weights from sub-window acquisitions.

    Attributes:
        windows: sub-windows (≤ the digitizer's demodulators); fewer are used when the
            readout length in samples is not a multiple; shots: per preparation.
    """

    windows: int = 16
    shots: int = 2000
    name: str = "integration_weights"
    built: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    def _layout(self, state: CalibrationState, station: Station, qubit: str) -> tuple[int, int]:
        """(sub-windows K, samples per sub-window) at the digitizer's sample rate."""
        cal = state.qubit(qubit)
        feed = station.feedline_of(qubit)
        if feed is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        traits = digitizer_traits(station.instruments[station.readout[feed].digitizer].model)
        total = round(cal.readout_duration_s.value * traits.sample_rate_hz)
        k = min(self.windows, traits.max_demodulators)
        while total % k:
            k -= 1
        return k, total // k

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """|0⟩ and |1⟩, the calibrated readout pulse, K consecutive sub-window acquisitions."""
        cal = state.qubit(qubit)
        k, length = self._layout(state, station, qubit)
        sub_s = cal.readout_duration_s.value / k
        self.built[qubit] = (k, length)
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
        return _prepared(qubit, cal, f"{self.name}_{qubit}", readout, self.shots)

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Per-sub-window mean difference Δ_k → weights; fidelity of box and matched filter."""
        k, length = self.built.get(qubit, (0, 0))
        names = [f"{qubit}_w{j}" for j in range(k)]
        if not names or any(n not in result.shots for n in names):
            return Fit.failed(self.name, qubit, "no sub-window acquisitions (or no layout built)")
        sub = np.stack([np.asarray(result.shots[n], dtype=np.complex128) for n in names])
        # sub: (K, 2, shots); a sub-window value is the mean over its samples
        delta = sub[:, 1].mean(axis=1) - sub[:, 0].mean(axis=1)
        w = np.conj(delta)
        rms = float(np.sqrt(np.mean(np.abs(w) ** 2)))
        if rms == 0.0:
            return Fit.failed(self.name, qubit, "|0⟩ and |1⟩ give the same trace")
        w = w / rms
        box = sub.mean(axis=0)
        matched = np.tensordot(w, sub, axes=(0, 0)) / len(names)
        f_box = assignment(box[0], box[1])
        f_matched = assignment(matched[0], matched[1])
        quality: Quality = "good" if f_matched >= f_box - 0.005 else "poor"
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={
                "fidelity_box": f_box,
                "fidelity_matched": f_matched,
                "windows": float(k),
                "samples_per_window": float(length),
                **{f"w{j}_re": float(v.real) for j, v in enumerate(w)},
                **{f"w{j}_im": float(v.imag) for j, v in enumerate(w)},
            },
            uncertainties={},
            quality=quality,
            r_squared=0.0,
            message=f"matched filter F = {f_matched:.4f} (box {f_box:.4f})",
            x=tuple(float(j) for j in range(len(names))),
            y=tuple(float(abs(v)) for v in delta),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with per-sample weights (the sub-window weights held over each)."""
        _raise_if_bad(fit, self.name)
        cal = state.qubit(fit.qubit)
        k, per = int(fit.values["windows"]), int(fit.values["samples_per_window"])
        weights = tuple(
            (fit.values[f"w{j}_re"], fit.values[f"w{j}_im"]) for j in range(k) for _ in range(per)
        )
        log.info("%s: integration weights of %s from run %s", self.name, fit.qubit, run_id)
        q = QubitCalibration.model_validate({**cal.model_dump(), "integration_weights": weights})
        return state.model_copy(
            update={"version": state.version + 1, "qubits": {**state.qubits, fit.qubit: q}}
        )
