"""Compile an :class:`~qneko_hw.experiment.Experiment` into per-instrument programs.

Passes: lower measurements via the calibration state → schedule on the integer sample grid
(ASAP per logical channel, barriers align) → sample every step's pulses, IF-modulate them
onto the line's I/Q pair → check against device traits and safety limits → deduplicate
waveforms by the sha256 of their samples.

Modulation convention (shared with the simulated lab): a line with LO frequency f_LO plays
I + iQ = envelope·e^{−i2π·f_IF·t} with f_IF = f − f_LO, which the mixer turns into a tone at
f = f_LO + f_IF; t is the centre of each sample, counted from the start of the sequence step.
The digitizer removes the same IF with e^{+i2π·f_IF·t}.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qneko_hw.compiler.programs import (
    AwgProgram,
    CompiledExperiment,
    Demodulator,
    DigitizerProgram,
    LoProgram,
)
from qneko_hw.compiler.traits import awg_traits, digitizer_traits
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import DriveLine, ReadoutLine, Station
from qneko_hw.errors import CompilationError
from qneko_hw.experiment import Acquire, Barrier, Delay, Experiment, Measure, Play
from qneko_hw.pulses import Drag, Gaussian, Square, sample_pulse

__all__ = ["compile_experiment"]

_GRID_TOLERANCE = 1e-6  # fraction of a sample a duration may be off the grid


@dataclass(frozen=True)
class _Slot:
    """A scheduled play: original instruction index, logical channel, start and length."""

    index: int
    channel: str
    start: int
    length: int
    pulse: Square | Gaussian | Drag


@dataclass(frozen=True)
class _Window:
    qubit: str
    name: str
    start: int
    length: int


def _samples(duration_s: float, dt_s: float, what: str) -> int:
    n = duration_s / dt_s
    k = round(n)
    if abs(n - k) > _GRID_TOLERANCE:
        raise CompilationError(
            f"{what}: duration {duration_s:g} s is not a whole number of samples of {dt_s:g} s",
            instruction=what,
            limit=dt_s,
            value=duration_s,
        )
    return int(k)


def _split_channel(channel: str) -> tuple[str, str]:
    qubit, _, role = channel.rpartition(".")
    if role not in ("drive", "readout", "acquire") or not qubit:
        raise CompilationError(
            f"unknown logical channel '{channel}' (expected '<qubit>.drive' or '<qubit>.readout')",
            channel=channel,
        )
    return qubit, role


class _Compiler:
    def __init__(self, exp: Experiment, station: Station, state: CalibrationState) -> None:
        self.exp = exp
        self.station = station
        self.state = state
        rates = {
            awg_traits(station.instruments[line.awg].model).sample_rate_hz
            for line in self._all_lines()
        }
        if len(rates) > 1:
            raise CompilationError(
                f"AWGs of the station run at different sample rates {sorted(rates)}"
            )
        self.sample_rate_hz = rates.pop() if rates else 1e9
        self.dt = 1.0 / self.sample_rate_hz
        self.readout_reference: dict[str, str] = {}

    def _all_lines(self) -> list[DriveLine | ReadoutLine]:
        return [*self.station.drive.values(), *self.station.readout.values()]

    # -- line resolution -------------------------------------------------------------------
    def line_of(self, channel: str) -> tuple[str, DriveLine | ReadoutLine]:
        """(line key, line) of a logical channel; the key is ``drive:<q>`` or ``readout:<feed>``."""
        qubit, role = _split_channel(channel)
        if qubit not in self.state.qubits:
            self._unknown_qubit(qubit, channel)
        if role == "drive":
            if qubit not in self.station.drive:
                raise CompilationError(
                    f"qubit {qubit} has no drive line in the station", channel=channel
                )
            return f"drive:{qubit}", self.station.drive[qubit]
        feed = self.station.feedline_of(qubit)
        if feed is None:
            raise CompilationError(
                f"qubit {qubit} is on no readout line of the station", channel=channel
            )
        return f"readout:{feed}", self.station.readout[feed]

    def _unknown_qubit(self, qubit: str, channel: str) -> None:
        known = ", ".join(sorted(self.state.qubits))
        raise CompilationError(f"unknown qubit '{qubit}' (known: {known})", channel=channel)

    def lo_frequency(self, key: str, line: DriveLine | ReadoutLine) -> float:
        """LO frequency (Hz) of a line: the calibrated frequency of its qubit minus the IF.

        A readout line's reference is the first qubit (by name) read or played on it in this
        experiment; other qubits on the line get their own IF relative to that LO.
        """
        kind, _, name = key.partition(":")
        if kind == "drive":
            f = self.state.qubit(name).drive_frequency_hz.value
        else:
            assert isinstance(line, ReadoutLine)
            f = self.state.qubit(self.readout_reference[key]).readout_frequency_hz.value
        return f - line.if_frequency_hz

    def channel_frequency(self, channel: str, step: int) -> float:
        """Carrier frequency (Hz) of a logical channel at a sweep step."""
        sweep = self.exp.sweep
        if sweep is not None and sweep.parameter == "frequency_hz" and sweep.channel == channel:
            return sweep.values[step]
        qubit, role = _split_channel(channel)
        cal = self.state.qubit(qubit)
        return cal.drive_frequency_hz.value if role == "drive" else cal.readout_frequency_hz.value

    # -- passes ----------------------------------------------------------------------------
    def lower(self) -> list[tuple[int, Play | Delay | Barrier | Acquire]]:
        """Replace each measurement by its calibrated readout pulse and acquisition."""
        out: list[tuple[int, Play | Delay | Barrier | Acquire]] = []
        for i, ins in enumerate(self.exp.instructions):
            if isinstance(ins, Measure):
                if ins.qubit not in self.state.qubits:
                    self._unknown_qubit(ins.qubit, f"{ins.qubit}.readout")
                cal = self.state.qubit(ins.qubit)
                q = ins.qubit
                pulse = Square(
                    amplitude_v=cal.readout_amplitude_v.value,
                    duration_s=cal.readout_duration_s.value,
                )
                out.append((i, Barrier(channels=(f"{q}.drive", f"{q}.readout", f"{q}.acquire"))))
                out.append((i, Play(channel=f"{q}.readout", pulse=pulse)))
                out.append((i, Acquire(qubit=q, name=ins.name, duration_s=pulse.duration_s)))
            else:
                out.append((i, ins))
        return out

    def schedule(
        self, lowered: list[tuple[int, Play | Delay | Barrier | Acquire]]
    ) -> tuple[list[_Slot], list[_Window], int]:
        """ASAP on the sample grid; returns plays, acquisition windows and total samples."""
        clock: dict[str, int] = {}
        for _, ins in lowered:
            if isinstance(ins, Play | Delay):
                clock.setdefault(ins.channel, 0)
            elif isinstance(ins, Acquire):
                clock.setdefault(f"{ins.qubit}.acquire", 0)
        slots: list[_Slot] = []
        windows: list[_Window] = []
        for index, ins in lowered:
            what = f"instruction {index} ({ins.kind})"
            if isinstance(ins, Play):
                self.line_of(ins.channel)
                n = _samples(ins.pulse.duration_s, self.dt, what)
                start = clock.get(ins.channel, 0)
                slots.append(_Slot(index, ins.channel, start, n, ins.pulse))
                clock[ins.channel] = start + n
            elif isinstance(ins, Delay):
                clock[ins.channel] = clock.get(ins.channel, 0) + _samples(
                    ins.duration_s, self.dt, what
                )
            elif isinstance(ins, Barrier):
                chans = ins.channels or tuple(clock)
                t = max((clock.get(c, 0) for c in chans), default=0)
                for c in chans:
                    clock[c] = t
            else:
                ch = f"{ins.qubit}.acquire"
                self.line_of(f"{ins.qubit}.readout")
                n = _samples(ins.duration_s, self.dt, what)
                start = clock.get(ch, 0)
                windows.append(_Window(ins.qubit, ins.name, start, n))
                clock[ch] = start + n
        for ch in sorted(clock):
            qubit, role = _split_channel(ch)
            if role != "drive":
                key, _ = self.line_of(f"{qubit}.readout")
                self.readout_reference.setdefault(key, qubit)
        total = max(clock.values(), default=0)
        if total == 0:
            raise CompilationError("the experiment plays nothing and acquires nothing")
        names = [w.name for w in windows]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise CompilationError(f"acquisition names used twice: {sorted(dup)}")
        return slots, windows, total

    def pulse_at(self, slot: _Slot, step: int) -> Square | Gaussian | Drag:
        sweep = self.exp.sweep
        if (
            sweep is not None
            and sweep.parameter == "amplitude_v"
            and sweep.instruction == slot.index
        ):
            return slot.pulse.replace(amplitude_v=sweep.values[step])
        return slot.pulse

    def line_signal(
        self, key: str, line: DriveLine | ReadoutLine, slots: list[_Slot], total: int, step: int
    ) -> NDArray[np.complex128]:
        """I + iQ (V) of one line at one step: every play on it, IF-modulated."""
        z = np.zeros(total, dtype=np.complex128)
        lo = self.lo_frequency(key, line)
        for slot in slots:
            if self.line_of(slot.channel)[0] != key:
                continue
            f_if = self.channel_frequency(slot.channel, step) - lo
            if abs(f_if) > self.sample_rate_hz / 2:
                raise CompilationError(
                    f"{slot.channel}: IF {f_if / 1e6:.1f} MHz exceeds the Nyquist frequency",
                    channel=slot.channel,
                    instruction=f"instruction {slot.index}",
                    limit=self.sample_rate_hz / 2,
                    value=f_if,
                )
            env = sample_pulse(self.pulse_at(slot, step), slot.length, self.dt)
            t = (slot.start + np.arange(slot.length) + 0.5) * self.dt
            z[slot.start : slot.start + slot.length] += env * np.exp(-2j * math.pi * f_if * t)
        return z

    def channel_amplitude(self, awg: str) -> float:
        cfg = self.station.instruments[awg]
        limit = awg_traits(cfg.model).max_amplitude_v
        if cfg.limits.max_amplitude_v is not None:
            limit = min(limit, cfg.limits.max_amplitude_v)
        return limit

    def build(self) -> CompiledExperiment:
        slots, windows, total = self.schedule(self.lower())
        steps = self.exp.steps
        used: dict[str, DriveLine | ReadoutLine] = {}
        for slot in slots:
            key, line = self.line_of(slot.channel)
            used[key] = line
        for w in windows:
            key, line = self.line_of(f"{w.qubit}.readout")
            used[key] = line
        self._check_sweep(slots)

        awg_wave: dict[str, dict[str, NDArray[np.float32]]] = {}
        awg_seq: dict[str, list[dict[int, str]]] = {}
        awg_amp: dict[str, dict[int, float]] = {}
        awg_readout: dict[str, bool] = {}
        for key in sorted(used):
            line = used[key]
            amp = self.channel_amplitude(line.awg)
            traits = awg_traits(self.station.instruments[line.awg].model)
            if total > traits.memory_samples:
                raise CompilationError(
                    f"{line.awg}: sequence step of {total} samples exceeds the waveform memory",
                    instrument=line.awg,
                    limit=traits.memory_samples,
                    value=total,
                )
            for ch in (line.channel_i, line.channel_q):
                if ch > traits.channels:
                    raise CompilationError(
                        f"{line.awg} has {traits.channels} channels; wiring asks for channel {ch}",
                        instrument=line.awg,
                        channel=str(ch),
                        limit=traits.channels,
                        value=ch,
                    )
            waves = awg_wave.setdefault(line.awg, {})
            seq = awg_seq.setdefault(line.awg, [{} for _ in range(steps)])
            awg_amp.setdefault(line.awg, {}).update({line.channel_i: amp, line.channel_q: amp})
            awg_readout[line.awg] = awg_readout.get(line.awg, False) or key.startswith("readout:")
            for step in range(steps):
                z = self.line_signal(key, line, slots, total, step)
                peak = float(max(np.abs(z.real).max(), np.abs(z.imag).max()))
                if peak > amp * (1 + 1e-9):
                    raise CompilationError(
                        f"{key.replace(':', ' line ')}: peak {peak:.4g} V at sweep step {step} "
                        f"exceeds "
                        f"the channel limit {amp:.4g} V of {line.awg}",
                        instrument=line.awg,
                        channel=f"{line.channel_i}/{line.channel_q}",
                        instruction=f"step {step}",
                        limit=amp,
                        value=peak,
                    )
                for ch, part in ((line.channel_i, z.real), (line.channel_q, z.imag)):
                    samples = np.clip(part / amp, -1.0, 1.0).astype(np.float32)
                    name = "w" + hashlib.sha256(samples.tobytes()).hexdigest()[:20]
                    waves.setdefault(name, samples)
                    seq[step][ch] = name

        awgs = tuple(
            AwgProgram(
                instrument=name,
                sample_rate_hz=self.sample_rate_hz,
                waveforms=awg_wave[name],
                sequence=tuple(awg_seq[name]),
                amplitudes_v=dict(sorted(awg_amp[name].items())),
                shots=self.exp.shots,
                repetition_time_s=self.exp.repetition_time_s,
                readout=awg_readout[name],
            )
            for name in sorted(awg_wave)
        )
        return CompiledExperiment(
            name=self.exp.name,
            awgs=awgs,
            digitizers=self._digitizers(windows, steps),
            los=self._los(used),
            sweep_parameter=self.exp.sweep.parameter if self.exp.sweep else None,
            sweep_values=np.asarray(
                self.exp.sweep.values if self.exp.sweep else [0.0], dtype=np.float64
            ),
            shots=self.exp.shots,
        )

    def _check_sweep(self, slots: list[_Slot]) -> None:
        sweep = self.exp.sweep
        if sweep is None:
            return
        if sweep.parameter == "amplitude_v" and not any(
            s.index == sweep.instruction for s in slots
        ):
            raise CompilationError(
                f"amplitude sweep targets instruction {sweep.instruction}, which is not a play",
                instruction=str(sweep.instruction),
            )
        if sweep.parameter == "frequency_hz" and sweep.channel is not None:
            self.line_of(sweep.channel)

    def _digitizers(self, windows: list[_Window], steps: int) -> tuple[DigitizerProgram, ...]:
        per_dig: dict[str, list[tuple[str, Demodulator]]] = {}
        for w in windows:
            key, line = self.line_of(f"{w.qubit}.readout")
            assert isinstance(line, ReadoutLine)
            traits = digitizer_traits(self.station.instruments[line.digitizer].model)
            ratio = traits.sample_rate_hz / self.sample_rate_hz
            length = round(w.length * ratio)
            if length > traits.max_window_samples:
                raise CompilationError(
                    f"acquisition {w.name}: window of {length} samples is too long",
                    instrument=line.digitizer,
                    limit=traits.max_window_samples,
                    value=length,
                )
            cal = self.state.qubit(w.qubit)
            weights = None
            if cal.integration_weights:
                wts = np.array(
                    [complex(a, b) for a, b in cal.integration_weights], dtype=np.complex64
                )
                if wts.size == length:
                    weights = wts
            f_if = cal.readout_frequency_hz.value - self.lo_frequency(key, line)
            dem = Demodulator(
                channel=line.digitizer_channel,
                frequency_hz=f_if,
                start_samples=round(w.start * ratio),
                length_samples=length,
                weights=weights,
            )
            per_dig.setdefault(line.digitizer, []).append((w.name, dem))
        progs = []
        for dig, items in sorted(per_dig.items()):
            traits = digitizer_traits(self.station.instruments[dig].model)
            if len(items) > traits.max_demodulators:
                raise CompilationError(
                    f"{dig}: {len(items)} acquisitions exceed its "
                    f"{traits.max_demodulators} demodulators",
                    instrument=dig,
                    limit=traits.max_demodulators,
                    value=len(items),
                )
            progs.append(
                DigitizerProgram(
                    instrument=dig,
                    shots=self.exp.shots,
                    steps=steps,
                    demodulators=tuple(d for _, d in items),
                    names=tuple(n for n, _ in items),
                )
            )
        return tuple(progs)

    def _los(self, used: dict[str, DriveLine | ReadoutLine]) -> tuple[LoProgram, ...]:
        los: dict[str, LoProgram] = {}
        for key in sorted(used):
            line = used[key]
            limit = self.station.instruments[line.lo].limits.max_power_dbm
            if limit is not None and line.lo_power_dbm > limit:
                raise CompilationError(
                    f"{line.lo}: LO power {line.lo_power_dbm} dBm exceeds the limit {limit} dBm",
                    instrument=line.lo,
                    limit=limit,
                    value=line.lo_power_dbm,
                )
            prog = LoProgram(line.lo, self.lo_frequency(key, line), line.lo_power_dbm)
            other = los.get(line.lo)
            if other is not None and other.frequency_hz != prog.frequency_hz:
                raise CompilationError(
                    f"{line.lo} is shared by lines needing {other.frequency_hz:g} and "
                    f"{prog.frequency_hz:g} Hz",
                    instrument=line.lo,
                )
            los[line.lo] = prog
        return tuple(los[k] for k in sorted(los))


def compile_experiment(
    exp: Experiment, station: Station, state: CalibrationState
) -> CompiledExperiment:
    """Compile ``exp`` for ``station`` with the calibration ``state``; no I/O.

    Raises:
        CompilationError: naming the instrument, channel, instruction and limit violated.
    """
    compiled = _Compiler(exp, station, state).build()
    return CompiledExperiment(**{**compiled.__dict__, "digest": compiled.sha256()})
