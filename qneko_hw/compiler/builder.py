"""The scheduling engine shared by the pulse-level and circuit front-ends.

Every logical channel (``q0.drive``, ``q0.readout``, ``q0.flux``, and ``q0.acquire`` for
acquisition windows) has an integer clock on the common sample grid and a frame (phase,
frequency). Plays append entries to the line the channel is wired to; nothing is sampled
here except each distinct pulse shape, once. ASAP is computed as instructions arrive; ALAP is
a backward pass over the recorded operations at the end of each sweep step.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray

from qneko_hw.compiler.channels import ChannelInfo, lo_frequency_hz, resolve_channel
from qneko_hw.compiler.programs import (
    ENTRY_DTYPE,
    AwgProgram,
    CompiledExperiment,
    DcProgram,
    Demodulator,
    DigitizerProgram,
    LinePlan,
    LoProgram,
    MixerCorrection,
)
from qneko_hw.compiler.traits import awg_traits, digitizer_traits
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.errors import CompilationError
from qneko_hw.pulses import PulseModel, pulse_shape

__all__ = ["Builder"]

_TWO_PI = 2 * math.pi
_GRID_TOLERANCE = 1e-6
_MAX_SAMPLES = 2**31 - 1  # no instrument holds more in one step


class Builder:
    """Collects scheduled entries for one experiment (all sweep steps)."""

    def __init__(
        self,
        name: str,
        station: Station,
        state: CalibrationState,
        *,
        steps: int,
        shots: int,
        repetition_time_s: float,
        scheduling: str = "asap",
    ) -> None:
        self.name = name
        self.station = station
        self.state = state
        self.steps = steps
        self.shots = shots
        self.repetition_time_s = repetition_time_s
        if scheduling not in ("asap", "alap"):
            raise CompilationError(f"unknown scheduling '{scheduling}' (asap or alap)")
        self.alap = scheduling == "alap"
        awgs = {d.awg for d in station.drive.values()}
        awgs |= {r.awg for r in station.readout.values()}
        awgs |= {f.awg for f in station.flux.values()}
        rates = {awg_traits(station.instruments[awg].model).sample_rate_hz for awg in awgs}
        if len(rates) > 1:
            raise CompilationError(
                f"AWGs of the station run at different sample rates {sorted(rates)}"
            )
        self.sample_rate_hz = rates.pop() if rates else 1e9
        self.dt = 1.0 / self.sample_rate_hz
        self._channels: dict[str, ChannelInfo] = {}
        self._lo: dict[str, float] = {}  # line -> LO frequency (Hz)
        self.entries: dict[str, list[list[float]]] = {}
        self.windows: list[tuple[str, str, int, list[float]]] = []
        self.waveforms: list[NDArray[np.complex128]] = []
        self.waveform_names: list[str] = []
        self.peaks: list[float] = []
        self._by_hash: dict[str, int] = {}
        self._by_pulse: dict[tuple[object, ...], tuple[int, int]] = {}
        self.step_samples = np.zeros(steps, dtype=np.int64)
        self.final_phases: dict[str, float] = {}
        self.step = -1
        self.begin_step(0)

    # -- steps -----------------------------------------------------------------------------
    def begin_step(self, step: int) -> None:
        """Start sweep step ``step``: clocks at zero, frames at their calibrated values."""
        if self.step >= 0:
            self.end_step()
        self.step = step
        self.clock: dict[str, int] = {}
        self._floor = 0  # where a channel first used after a full barrier starts
        self.phase: dict[str, float] = {}
        self.freq: dict[str, float] = {}
        self._checked: dict[tuple[str, int, float], tuple[list[list[float]], float]] = {}
        self._ops: list[tuple[str, tuple[str, ...], int, list[float] | None]] = []
        self._measured: set[str] = set()

    def end_step(self) -> None:
        """Close the current step: ALAP pass if asked, step length, final frame phases."""
        total = max(self.clock.values(), default=0)
        if self.alap:
            self._alap(total)
        self.step_samples[self.step] = total
        if self.step == 0:
            self.final_phases = {
                c: p for c, p in sorted(self.phase.items()) if c.endswith(".drive")
            }

    def _alap(self, total: int) -> None:
        rev: dict[str, int] = {}
        floor = 0
        for kind, listed, n, ref in reversed(self._ops):
            if kind == "barrier":
                every = not listed
                chans = tuple(rev) if every else listed
                t = max((rev.get(c, floor) for c in chans), default=floor)
                for c in chans:
                    rev[c] = t
                if every:
                    floor = t
                continue
            c = listed[0]
            end = rev.get(c, floor) + n
            rev[c] = end
            if ref is not None:
                ref[1] = total - end

    # -- channels --------------------------------------------------------------------------
    def channel(self, name: str) -> ChannelInfo:
        """Resolve a logical channel to its wiring (cached)."""
        info = self._channels.get(name)
        if info is None:
            info = resolve_channel(name, self.station, self.state)
            self._channels[name] = info
        return info

    def frame_frequency(self, channel: str) -> float:
        """Current frame frequency (Hz) of a logical channel."""
        f = self.freq.get(channel)
        if f is None:
            info = self.channel(channel)
            cal = self.state.qubit(info.qubit)
            if info.kind == "flux":
                f = 0.0
            elif info.kind == "drive":
                f = cal.drive_frequency_hz.value
            else:
                f = cal.readout_frequency_hz.value
            self.freq[channel] = f
        return f

    def lo_frequency(self, info: ChannelInfo, channel: str) -> float:
        """LO frequency (Hz) of a line (:func:`~qneko_hw.compiler.channels.lo_frequency_hz`)."""
        lo = self._lo.get(info.line)
        if lo is None:
            lo = lo_frequency_hz(self.station, self.state, info)
            self._lo[info.line] = lo
        return lo

    # -- waveforms ---------------------------------------------------------------------------
    def samples(self, duration_s: float, what: str) -> int:
        """Duration (s) → whole number of samples, or a CompilationError."""
        n = duration_s / self.dt
        if not math.isfinite(n) or n < 0 or n > _MAX_SAMPLES:
            raise CompilationError(
                f"{what}: duration {duration_s!r} s is not a finite, non-negative duration "
                f"of at most {_MAX_SAMPLES} samples",
                instruction=what,
                limit=_MAX_SAMPLES * self.dt,
                value=duration_s,
            )
        k = round(n)
        if abs(n - k) > _GRID_TOLERANCE:
            raise CompilationError(
                f"{what}: duration {duration_s:g} s is not a whole number of samples "
                f"of {self.dt:g} s",
                instruction=what,
                limit=self.dt,
                value=duration_s,
            )
        return int(k)

    def shape_index(self, pulse: PulseModel, what: str) -> tuple[int, int]:
        """(waveform index, samples) of a pulse's unit shape; sampled once per distinct shape."""
        key = (type(pulse), *(v for k, v in pulse if k not in ("amplitude_v", "phase_rad")))
        hit = self._by_pulse.get(key)
        if hit is not None:
            return hit
        n = self.samples(pulse.duration_s, what)
        if n == 0:
            raise CompilationError(f"{what}: a pulse of zero samples", instruction=what, value=0)
        shape = pulse_shape(pulse, n, self.dt)
        digest = hashlib.sha256(shape.tobytes()).hexdigest()
        idx = self._by_hash.get(digest)
        if idx is None:
            idx = len(self.waveforms)
            self._by_hash[digest] = idx
            self.waveforms.append(shape)
            self.waveform_names.append(digest[:24])
            self.peaks.append(float(np.abs(shape).max()) if n else 0.0)
        self._by_pulse[key] = (idx, n)
        return idx, n

    # -- instructions ------------------------------------------------------------------------
    def play(
        self, channel: str, wf: int, n: int, amplitude: float, phase: float, *, what: str
    ) -> None:
        """Play waveform ``wf`` (``n`` samples) at ``amplitude`` (V) and extra ``phase`` (rad)."""
        hit = self._checked.get((channel, wf, amplitude))
        if hit is None:
            hit = self._check_play(channel, wf, amplitude, what)
        line, f_if = hit
        start = self.clock.get(channel, self._floor)
        entry = [self.step, start, wf, amplitude, self.phase.get(channel, 0.0) + phase, f_if]
        line.append(entry)
        self.clock[channel] = start + n
        if self.alap:
            self._ops.append(("play", (channel,), n, entry))

    def _check_play(
        self, channel: str, wf: int, amplitude: float, what: str
    ) -> tuple[list[list[float]], float]:
        """Limits of a (channel, waveform, amplitude) under the current frame: the line's
        entry list and the IF (Hz). Cached until a frame frequency changes."""
        info = self._channels.get(channel) or self.channel(channel)
        if abs(amplitude) * self.peaks[wf] > info.limit_v * (1 + 1e-9):
            self._over_limit(info, channel, abs(amplitude) * self.peaks[wf], what)
        f_if = self.frame_frequency(channel) - self.lo_frequency(info, channel)
        if abs(f_if) > self.sample_rate_hz / 2:
            raise CompilationError(
                f"{what} on {channel}: IF {f_if / 1e6:.1f} MHz exceeds the Nyquist frequency",
                instrument=info.awg,
                channel=channel,
                instruction=what,
                limit=self.sample_rate_hz / 2,
                value=f_if,
            )
        line = self.entries.setdefault(info.line, [])
        self._checked[(channel, wf, amplitude)] = (line, f_if)
        return line, f_if

    def _over_limit(self, info: ChannelInfo, channel: str, peak: float, what: str) -> None:
        raise CompilationError(
            f"{what} on {channel}: peak {peak:.4g} V exceeds the limit {info.limit_v:.4g} V of "
            f"{info.awg}",
            instrument=info.awg,
            channel=channel,
            instruction=what,
            limit=info.limit_v,
            value=peak,
        )

    def delay(self, channel: str, n: int) -> None:
        """Idle ``n`` samples on ``channel``."""
        if n < 0:
            raise CompilationError(
                f"negative delay of {n} samples on {channel}", channel=channel, value=n
            )
        self.clock[channel] = self.clock.get(channel, self._floor) + n
        if self.alap:
            self._ops.append(("delay", (channel,), n, None))

    def barrier(self, channels: tuple[str, ...]) -> None:
        """Align ``channels``; when empty, every channel of the experiment (a channel first
        used later starts no earlier than this barrier)."""
        clock = self.clock
        chans = channels or tuple(clock)
        t = self._floor
        for c in chans:
            v = clock.get(c, t)
            t = max(t, v)
        for c in chans:
            clock[c] = t
        if not channels:
            self._floor = t
        if self.alap:
            self._ops.append(("barrier", channels, 0, None))

    def shift_phase(self, channel: str, phase: float) -> None:
        """Add ``phase`` (rad) to the frame of ``channel``, kept in (−π, π]."""
        if not math.isfinite(phase):
            raise CompilationError(
                f"phase shift of {phase!r} rad on {channel} is not finite",
                channel=channel,
                value=phase,
            )
        p = math.remainder(self.phase.get(channel, 0.0) + phase, _TWO_PI)
        self.phase[channel] = p

    def set_frequency(self, channel: str, frequency_hz: float) -> None:
        """Set the frame frequency (Hz) of ``channel``."""
        self.channel(channel)
        self.freq[channel] = frequency_hz
        self._checked.clear()

    def shift_frequency(self, channel: str, delta_hz: float) -> None:
        """Add ``delta_hz`` (Hz) to the frame frequency of ``channel``."""
        self.freq[channel] = self.frame_frequency(channel) + delta_hz
        self._checked.clear()

    def acquire(self, qubit: str, name: str, n: int) -> None:
        """An acquisition window of ``n`` samples on ``qubit``'s readout, into ``name``."""
        ch = f"{qubit}.acquire"
        info = self.channel(f"{qubit}.readout")
        start = self.clock.get(ch, self._floor)
        f_if = self.frame_frequency(f"{qubit}.readout") - self.lo_frequency(
            info, f"{qubit}.readout"
        )
        entry: list[float] = [self.step, start, 0, 0.0, 0.0, f_if]
        self.windows.append((qubit, name, n, entry))
        self.clock[ch] = start + n
        if self.alap:
            self._ops.append(("play", (ch,), n, entry))

    def measure(self, qubit: str, name: str, readout_wf: tuple[int, int], amplitude: float) -> None:
        """Calibrated measurement: barrier over the qubit's channels, readout pulse, window."""
        chans = (f"{qubit}.drive", f"{qubit}.readout", f"{qubit}.acquire")
        self.barrier(chans)
        wf, n = readout_wf
        self.play(f"{qubit}.readout", wf, n, amplitude, 0.0, what=f"measure {qubit}")
        self.acquire(qubit, name, n)

    # -- output ------------------------------------------------------------------------------
    def finish(
        self, sweep_parameter: str | None, sweep_values: NDArray[np.float64]
    ) -> CompiledExperiment:
        """All programs of the experiment."""
        self.end_step()
        self.step = -1
        if not self.step_samples.any():
            raise CompilationError("the experiment plays nothing and acquires nothing")
        self._align_acquisitions()
        lines_by_awg: dict[str, list[LinePlan]] = {}
        readout_awgs: set[str] = set()
        for line_key in sorted(self.entries):
            info = next(i for i in self._channels.values() if i.line == line_key)
            arr = np.array([tuple(e) for e in self.entries[line_key]], dtype=ENTRY_DTYPE)
            arr = arr[np.lexsort((arr["start"], arr["step"]))]
            corr = info.correction
            lines_by_awg.setdefault(info.awg, []).append(
                LinePlan(
                    line_key,
                    info.channel_i,
                    info.channel_q,
                    arr,
                    MixerCorrection(
                        corr.gain_imbalance, corr.phase_error_rad, corr.offset_i_v, corr.offset_q_v
                    ),
                )
            )
            if info.kind == "readout":
                readout_awgs.add(info.awg)
        awgs = []
        for awg in sorted(lines_by_awg):
            lines = tuple(lines_by_awg[awg])
            limit = next(i.limit_v for i in self._channels.values() if i.awg == awg)
            traits = awg_traits(self.station.instruments[awg].model)
            # pad every step to the AWG's granularity and minimum waveform length
            gran = traits.granularity_samples
            padded = np.maximum(self.step_samples, traits.min_length_samples)
            padded = -(-padded // gran) * gran
            longest = int(padded.max())
            if longest > traits.memory_samples:
                raise CompilationError(
                    f"{awg}: a sweep step of {longest} samples exceeds the waveform memory",
                    instrument=awg,
                    limit=traits.memory_samples,
                    value=longest,
                )
            if self.steps > traits.max_sequence_steps:
                raise CompilationError(
                    f"{awg}: {self.steps} sweep steps exceed "
                    f"{traits.max_sequence_steps} sequencer entries",
                    instrument=awg,
                    limit=traits.max_sequence_steps,
                    value=self.steps,
                )
            chans: dict[int, float] = {}
            for ln in lines:
                for ch in (ln.channel_i, ln.channel_q):
                    if ch is None:
                        continue
                    if ch > traits.channels:
                        raise CompilationError(
                            f"{awg} has {traits.channels} channels; wiring asks for channel {ch}",
                            instrument=awg,
                            channel=str(ch),
                            limit=traits.channels,
                            value=ch,
                        )
                    chans[ch] = limit
            awgs.append(
                AwgProgram(
                    instrument=awg,
                    sample_rate_hz=self.sample_rate_hz,
                    waveforms=tuple(self.waveforms),
                    waveform_names=tuple(self.waveform_names),
                    lines=lines,
                    step_samples=padded.astype(np.int64),
                    amplitudes_v=dict(sorted(chans.items())),
                    shots=self.shots,
                    repetition_time_s=self.repetition_time_s,
                    readout=awg in readout_awgs,
                    repeat_entries=traits.repeats,
                )
            )
        compiled = CompiledExperiment(
            name=self.name,
            awgs=tuple(awgs),
            digitizers=self._digitizers(),
            los=self._los(),
            dcs=self._dcs(),
            sweep_parameter=sweep_parameter,
            sweep_values=np.asarray(sweep_values, dtype=np.float64),
            shots=self.shots,
            frame_phases=self.final_phases,
        )
        return CompiledExperiment(**{**compiled.__dict__, "digest": compiled.sha256()})

    def _align_acquisitions(self) -> None:
        """Delay each step's content so its first acquisition starts at the same sample.

        A digitizer window is fixed after the trigger, so steps whose measurement comes at a
        different time (delay or duration sweeps, circuits of different lengths) are padded
        at their start; windows that still differ between steps are an error.
        """
        if self.steps < 2 or not self.windows:
            return
        first: dict[int, int] = {}
        for _, _, _, entry in self.windows:
            step, start = int(entry[0]), int(entry[1])
            first[step] = min(first.get(step, start), start)
        latest = max(first.values())
        shift = {step: latest - start for step, start in first.items()}
        for entries in self.entries.values():
            for e in entries:
                e[1] += shift.get(int(e[0]), 0)
        for _, _, _, entry in self.windows:
            entry[1] += shift.get(int(entry[0]), 0)
        for step, s in shift.items():
            self.step_samples[step] += s
        layout: dict[int, list[tuple[str, int, int, float]]] = {}
        for _, name, n, entry in self.windows:
            layout.setdefault(int(entry[0]), []).append((name, int(entry[1]), n, entry[5]))
        reference = sorted(layout.get(0, []))
        for step, windows in layout.items():
            if sorted(windows) != reference:
                raise CompilationError(
                    f"acquisitions of sweep step {step} differ from those of step 0 in start, "
                    f"length or demodulation IF ({sorted(windows)} vs {reference}); a "
                    "digitizer window is the same at every step: sweep the readout frequency "
                    "with one program per point",
                    instruction=f"step {step}",
                )

    def _digitizers(self) -> tuple[DigitizerProgram, ...]:
        per_dig: dict[str, list[tuple[str, Demodulator]]] = {}
        seen: set[str] = set()
        for qubit, name, n, entry in self.windows:
            if entry[0] != 0:
                continue
            start, f_if = int(entry[1]), entry[5]
            if name in seen:
                raise CompilationError(f"acquisition name '{name}' used twice", instruction=name)
            seen.add(name)
            info = self.channel(f"{qubit}.readout")
            line = self.station.readout[info.line[8:]]
            traits = digitizer_traits(self.station.instruments[line.digitizer].model)
            ratio = traits.sample_rate_hz / self.sample_rate_hz
            length = round(n * ratio)
            if length > traits.max_window_samples:
                raise CompilationError(
                    f"acquisition {name}: window of {length} samples is too long",
                    instrument=line.digitizer,
                    limit=traits.max_window_samples,
                    value=length,
                )
            cal = self.state.qubit(qubit)
            weights = None
            if cal.integration_weights and len(cal.integration_weights) == length:
                weights = np.array(
                    [complex(a, b) for a, b in cal.integration_weights], dtype=np.complex64
                )
            dem = Demodulator(line.digitizer_channel, f_if, round(start * ratio), length, weights)
            per_dig.setdefault(line.digitizer, []).append((name, dem))
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
                    dig,
                    self.shots,
                    self.steps,
                    tuple(d for _, d in items),
                    tuple(n for n, _ in items),
                )
            )
        return tuple(progs)

    def _dcs(self) -> tuple[DcProgram, ...]:
        """Bias voltages of the qubits this experiment touches that have a bias line and a
        calibrated operating point; each checked against the source's voltage limit."""
        touched = {info.qubit for info in self._channels.values()}
        dcs: dict[str, DcProgram] = {}
        for qubit in sorted(touched):
            line = self.station.bias.get(qubit)
            bias = self.state.qubit(qubit).bias_voltage_v
            if line is None or bias is None:
                continue
            limit = self.station.instruments[line.source].limits.max_voltage_v
            if limit is not None and abs(bias.value) > limit:
                raise CompilationError(
                    f"{line.source}: bias {bias.value} V of {qubit} exceeds the limit {limit} V",
                    instrument=line.source,
                    limit=limit,
                    value=bias.value,
                )
            other = dcs.get(line.source)
            if other is not None and other.voltage_v != bias.value:
                raise CompilationError(
                    f"{line.source} is shared by qubits needing {other.voltage_v} and "
                    f"{bias.value} V",
                    instrument=line.source,
                )
            dcs[line.source] = DcProgram(line.source, bias.value)
        return tuple(dcs[k] for k in sorted(dcs))

    def _los(self) -> tuple[LoProgram, ...]:
        los: dict[str, LoProgram] = {}
        for line_key in sorted(self._lo):
            info = next(i for i in self._channels.values() if i.line == line_key)
            if info.lo is None:
                continue
            line = (
                self.station.drive[info.qubit]
                if info.kind == "drive"
                else self.station.readout[line_key[8:]]
            )
            limit = self.station.instruments[info.lo].limits.max_power_dbm
            if limit is not None and line.lo_power_dbm > limit:
                raise CompilationError(
                    f"{info.lo}: LO power {line.lo_power_dbm} dBm exceeds the limit {limit} dBm",
                    instrument=info.lo,
                    limit=limit,
                    value=line.lo_power_dbm,
                )
            prog = LoProgram(info.lo, self._lo[line_key], line.lo_power_dbm)
            other = los.get(info.lo)
            if other is not None and other.frequency_hz != prog.frequency_hz:
                raise CompilationError(
                    f"{info.lo} is shared by lines needing {other.frequency_hz:g} "
                    f"and {prog.frequency_hz:g} Hz",
                    instrument=info.lo,
                )
            los[info.lo] = prog
        return tuple(los[k] for k in sorted(los))
