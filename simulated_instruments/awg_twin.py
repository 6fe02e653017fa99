"""Simulated arbitrary waveform generator "QNeko,AWG4".

Waveform list (float32 samples in [-1, 1], 16 Mi samples of memory in total), a sequence of
steps (per step: channel -> entries, each a waveform played a number of times), per-channel
amplitude, offset and output, and run control with shots per trigger. ``*TRG`` while
running calls :attr:`AwgTwin.on_trigger`, which the simulated lab sets; the twin itself
knows no physics.

Commands (short/long forms, case-insensitive; ``<ch>`` and ``<k>`` are 1-based):

- ``CLOCk:SRATe <Hz>`` / ``?`` (1e8..2.5e9)
- ``WLISt:WAVeform:DATA "name",#<block float32 LE>`` / ``WLISt:WAVeform:DATA? "name"``
- ``WLISt:WAVeform:DELete "name"|ALL``, ``WLISt:SIZE?``, ``WLISt:WAVeform:LENGth? "name"``,
  ``WLISt:NAME? <i>`` (``i`` is 0-based, in upload order)
- ``SEQuence:LENGth <n>`` / ``?`` (0..65536, resets the steps),
  ``SEQuence:STEP<k>:WAVeform<ch> "entries"`` / ``?`` (``""`` clears): the entries the
  channel plays in the step, one after another, ``name`` or ``name*<count>`` separated by
  commas (``"x90,idle*4000,ro"``), so a long idle is one short block repeated, not memory
  (at most 4096 entries per channel and step, counts 1..2^31−1)
- ``SOURce<ch>:VOLTage <V>`` / ``?`` (peak amplitude 0..1.5),
  ``SOURce<ch>:VOLTage:OFFSet <V>`` / ``?`` (-0.5..0.5), ``OUTPut<ch> ON|OFF`` / ``?``
- ``AWGControl:RUN``, ``AWGControl:STOP``, ``AWGControl:RSTate?`` (0 stopped, 1 running),
  ``AWGControl:SHOTs <n>`` / ``?`` (1..1e7), ``AWGControl:REPTime <s>`` / ``?`` (1e-7..10)
- ``*TRG``
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qneko_hw.simulated_instruments.scpi.blocks import encode_block
from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiError, ScpiInstrument

__all__ = ["AwgChannelState", "AwgState", "AwgTwin", "TriggerHook"]

logger = logging.getLogger(__name__)

MEMORY_SAMPLES = 16 * 1024 * 1024
MAX_SEQUENCE_STEPS = 65536
MIN_SAMPLE_RATE_HZ = 1e8
MAX_SAMPLE_RATE_HZ = 2.5e9
MAX_AMPLITUDE_V = 1.5
MAX_OFFSET_V = 0.5
MAX_SHOTS = 10_000_000
MAX_ENTRIES = 4096
MAX_REPEATS = 2**31 - 1

Entries = tuple[tuple[str, int], ...]
"""What one channel plays in one step: (waveform name, times in a row), in order."""

TriggerHook = Callable[["AwgTwin"], None]


@dataclass
class AwgChannelState:
    """One output: peak amplitude (V, output = sample x amplitude), offset (V), switch."""

    amplitude_v: float = 0.5
    offset_v: float = 0.0
    output: bool = False


@dataclass
class AwgState:
    """All settings of the AWG.

    Attributes: sample_rate_hz (Sa/s), waveforms (name -> float32 samples, read-only arrays,
    in upload order), sequence (per step: channel -> entries), channels (index 0 is
    channel 1), running, shots (sequence repetitions per trigger), repetition_time_s (s).
    """

    channels: list[AwgChannelState]
    sample_rate_hz: float = 1e9
    waveforms: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    sequence: list[dict[int, Entries]] = field(default_factory=list)
    running: bool = False
    shots: int = 1
    repetition_time_s: float = 100e-6


class AwgTwin(ScpiInstrument):
    """Simulated AWG with ``channels`` outputs; ``name`` is used in logs, ``serial`` in ``*IDN?``.

    Attributes:
        on_trigger: hook called as ``on_trigger(self)`` on ``*TRG`` while running, under
            :attr:`lock`; an exception in it becomes ``-200,"Execution error;..."``.
        trigger_count: number of triggers accepted while running.
    """

    def __init__(self, *, name: str | None = None, channels: int = 4, serial: str = "0") -> None:
        super().__init__(manufacturer="QNeko", model="AWG4", serial=serial, name=name)
        self.n_channels = channels
        self.state = AwgState(channels=[AwgChannelState() for _ in range(channels)])
        self.on_trigger: TriggerHook | None = None
        self.trigger_count = 0
        add = self.add_command
        add("CLOCk:SRATe", on_set=self._set_srat, on_query=lambda c: repr(self.sample_rate_hz))
        add("WLISt:WAVeform:DATA", on_set=self._set_wave, on_query=self._get_wave)
        add("WLISt:WAVeform:DELete", on_set=self._del_wave)
        add("WLISt:SIZE", on_query=lambda c: str(len(self.state.waveforms)))
        add("WLISt:WAVeform:LENGth", on_query=self._get_wave_length)
        add("WLISt:NAME", on_query=self._get_wave_name)
        add("SEQuence:LENGth", on_set=self._set_seq_len, on_query=self._get_seq_len)
        add("SEQuence:STEP#:WAVeform#", on_set=self._set_step, on_query=self._get_step)
        add("SOURce#:VOLTage[:AMPLitude]", on_set=self._set_amp, on_query=self._get_amp)
        add("SOURce#:VOLTage:OFFSet", on_set=self._set_offs, on_query=self._get_offs)
        add("OUTPut#[:STATe]", on_set=self._set_outp, on_query=self._get_outp)
        add("AWGControl:RUN[:IMMediate]", on_set=self._run)
        add("AWGControl:STOP[:IMMediate]", on_set=self._stop)
        add("AWGControl:RSTate", on_query=lambda c: "1" if self.state.running else "0")
        add("AWGControl:SHOTs", on_set=self._set_shots, on_query=lambda c: str(self.shots))
        add("AWGControl:REPTime", on_set=self._set_rept, on_query=self._get_rept)
        add("*TRG", on_set=self._trigger)

    # -- lab-facing read-only accessors -------------------------------------------------

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate (Sa/s)."""
        return self.state.sample_rate_hz

    @property
    def waveforms(self) -> dict[str, NDArray[np.float32]]:
        """Uploaded waveforms, name -> read-only float32 samples (a new dict)."""
        with self.lock:
            return dict(self.state.waveforms)

    @property
    def sequence(self) -> list[dict[int, str]]:
        """Sequence steps (index 0 = step 1): channel (1-based) -> its entries as written
        (``"name"``, ``"a,b*3"``)."""
        with self.lock:
            return [
                {ch: _format_entries(e) for ch, e in step.items()} for step in self.state.sequence
            ]

    @property
    def running(self) -> bool:
        """Whether the AWG is running (accepts triggers)."""
        return self.state.running

    @property
    def shots(self) -> int:
        """Repetitions of the whole sequence per trigger."""
        return self.state.shots

    @property
    def repetition_time_s(self) -> float:
        """Time per shot (s), for the lab clock."""
        return self.state.repetition_time_s

    def channel_amplitude_v(self, ch: int) -> float:
        """Peak amplitude of channel ``ch`` (1-based) (V)."""
        return self.state.channels[self._channel_index(ch)].amplitude_v

    def channel_offset_v(self, ch: int) -> float:
        """DC offset of channel ``ch`` (1-based) (V)."""
        return self.state.channels[self._channel_index(ch)].offset_v

    def channel_output(self, ch: int) -> bool:
        """Whether output ``ch`` (1-based) is on."""
        return self.state.channels[self._channel_index(ch)].output

    def step_length_samples(self, step: int) -> int:
        """Length of sequence step ``step`` (0-based index into :attr:`sequence`) (samples):
        the longest waveform of the step; 0 for an empty step or a step past the sequence."""
        with self.lock:
            if not 0 <= step < len(self.state.sequence):
                return 0
            entries = self.state.sequence[step].values()
            return max((self._entries_length(e) for e in entries), default=0)

    def _entries_length(self, entries: Entries) -> int:
        return sum(len(self.state.waveforms[name]) * count for name, count in entries)

    def step_pieces(self, step: int, ch: int) -> list[tuple[NDArray[np.float64], int]]:
        """Output voltage of channel ``ch`` (1-based) during step ``step`` (0-based) (V), as
        the sequencer plays it: (block, times in a row) per entry, a repeated entry kept
        as one block (see :mod:`~qneko_hw.simulated_instruments.physics.pieces`).

        ``samples x amplitude + offset`` if the output is on, else zeros. A channel with
        no entries at the step plays its offset (zeros if off) for the step's length;
        entries shorter than the step are followed by zeros (before scaling). A step past
        the end of the sequence (e.g. an AWG that was never programmed) has length 0.
        """
        with self.lock:
            length = self.step_length_samples(step)
            channel = self.state.channels[self._channel_index(ch)]
            if not length:
                return []
            if not channel.output:
                return [(np.zeros(1), length)]
            amp, off = channel.amplitude_v, channel.offset_v
            out: list[tuple[NDArray[np.float64], int]] = []
            played = 0
            for name, count in self.state.sequence[step].get(ch, ()):
                wave = self.state.waveforms[name]
                out.append((wave.astype(np.float64) * amp + off, count))
                played += len(wave) * count
            if played < length:
                out.append((np.full(1, off), length - played))
            return out

    def step_samples(self, step: int, ch: int) -> NDArray[np.float64]:
        """Output voltage of channel ``ch`` (1-based) during step ``step`` (0-based) (V),
        sample by sample (:meth:`step_pieces` expanded)."""
        parts = [np.tile(block, count) for block, count in self.step_pieces(step, ch)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def reset(self) -> None:
        """``*RST``: default settings, no waveforms, empty sequence, stopped."""
        self.state = AwgState(channels=[AwgChannelState() for _ in range(self.n_channels)])

    def _channel_index(self, ch: int) -> int:
        if not 1 <= ch <= self.n_channels:
            raise ValueError(f"channel {ch} is not in 1..{self.n_channels}")
        return ch - 1

    # -- handlers ------------------------------------------------------------------------

    def _channel(self, command: ScpiCommand, index: int = 0) -> AwgChannelState:
        return self.state.channels[command.suffix(index, 1, self.n_channels) - 1]

    def _set_srat(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.state.sample_rate_hz = command.float_arg(0, MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ)

    def _known_name(self, command: ScpiCommand, index: int) -> str:
        name = command.string_arg(index)
        if name not in self.state.waveforms:
            raise ScpiError(-224, "Illegal parameter value", f"no waveform {name!r}")
        return name

    def _set_wave(self, command: ScpiCommand) -> None:
        command.expect_args(2)
        name = command.string_arg(0)
        payload = command.block_arg(1)
        if not name:
            raise ScpiError(-224, "Illegal parameter value", "empty waveform name")
        if len(payload) % 4 or not payload:
            raise ScpiError(-161, "Invalid block data", f"{len(payload)} bytes, not float32")
        samples = np.frombuffer(payload, dtype="<f4").astype(np.float32)
        if not np.all(np.isfinite(samples)) or np.max(np.abs(samples)) > 1.0:
            raise ScpiError.out_of_range(f"waveform {name!r} samples outside [-1, 1]")
        used = sum(len(w) for n, w in self.state.waveforms.items() if n != name)
        if used + len(samples) > MEMORY_SAMPLES:
            raise ScpiError(-225, "Out of memory", f"waveform {name!r}")
        samples.flags.writeable = False
        self.state.waveforms.pop(name, None)
        self.state.waveforms[name] = samples

    def _get_wave(self, command: ScpiCommand) -> bytes:
        command.expect_args(1)
        return encode_block(self.state.waveforms[self._known_name(command, 0)].tobytes())

    def _del_wave(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        if command.text(0).upper() == "ALL":
            names = set(self.state.waveforms)
        else:
            names = {self._known_name(command, 0)}
        for name in names:
            del self.state.waveforms[name]
        for step in self.state.sequence:
            for ch in [c for c, e in step.items() if any(n in names for n, _ in e)]:
                del step[ch]

    def _get_wave_length(self, command: ScpiCommand) -> str:
        command.expect_args(1)
        return str(len(self.state.waveforms[self._known_name(command, 0)]))

    def _get_wave_name(self, command: ScpiCommand) -> str:
        command.expect_args(1)
        names = list(self.state.waveforms)
        index = command.int_arg(0, 0, max(len(names) - 1, 0))
        if not names:
            raise ScpiError.out_of_range("the waveform list is empty")
        return f'"{names[index]}"'

    def _set_seq_len(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        length = command.int_arg(0, 0, MAX_SEQUENCE_STEPS)
        self.state.sequence = [{} for _ in range(length)]

    def _get_seq_len(self, command: ScpiCommand) -> str:
        return str(len(self.state.sequence))

    def _step(self, command: ScpiCommand) -> tuple[dict[int, Entries], int]:
        if not self.state.sequence:
            raise ScpiError.conflict("the sequence is empty (SEQ:LENG)")
        step = command.suffix(0, 1, len(self.state.sequence))
        ch = command.suffix(1, 1, self.n_channels)
        return self.state.sequence[step - 1], ch

    def _set_step(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        step, ch = self._step(command)
        text = command.string_arg(0)
        if not text:
            step.pop(ch, None)
            return
        step[ch] = self._parse_entries(text)

    def _parse_entries(self, text: str) -> Entries:
        items = text.split(",")
        if len(items) > MAX_ENTRIES:
            raise ScpiError(-223, "Too much data", f"{len(items)} entries > {MAX_ENTRIES}")
        out: list[tuple[str, int]] = []
        for item in items:
            name, star, count_text = item.partition("*")
            count = 1
            if star:
                try:
                    count = int(count_text)
                except ValueError:
                    raise ScpiError(
                        -224, "Illegal parameter value", f"entry {item!r}: count not an integer"
                    ) from None
                if not 1 <= count <= MAX_REPEATS:
                    raise ScpiError.out_of_range(f"entry {item!r}: count not in 1..{MAX_REPEATS}")
            if name not in self.state.waveforms:
                raise ScpiError(-224, "Illegal parameter value", f"no waveform {name!r}")
            out.append((name, count))
        return tuple(out)

    def _get_step(self, command: ScpiCommand) -> str:
        step, ch = self._step(command)
        return f'"{_format_entries(step.get(ch, ()))}"'

    def _set_amp(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        channel = self._channel(command)
        channel.amplitude_v = command.float_arg(0, 0.0, MAX_AMPLITUDE_V)

    def _get_amp(self, command: ScpiCommand) -> str:
        return repr(self._channel(command).amplitude_v)

    def _set_offs(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        channel = self._channel(command)
        channel.offset_v = command.float_arg(0, -MAX_OFFSET_V, MAX_OFFSET_V)

    def _get_offs(self, command: ScpiCommand) -> str:
        return repr(self._channel(command).offset_v)

    def _set_outp(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        channel = self._channel(command)
        channel.output = command.bool_arg(0)

    def _get_outp(self, command: ScpiCommand) -> str:
        return "1" if self._channel(command).output else "0"

    def _run(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        if not self.state.sequence:
            raise ScpiError.conflict("the sequence is empty (SEQ:LENG)")
        self.state.running = True

    def _stop(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        self.state.running = False

    def _set_shots(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.state.shots = command.int_arg(0, 1, MAX_SHOTS)

    def _set_rept(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.state.repetition_time_s = command.float_arg(0, 1e-7, 10.0)

    def _get_rept(self, command: ScpiCommand) -> str:
        return repr(self.state.repetition_time_s)

    def _trigger(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        if not self.state.running:
            raise ScpiError(-211, "Trigger ignored")
        self.trigger_count += 1
        hook = self.on_trigger
        if hook is None:
            return
        try:
            hook(self)
        except Exception as exc:
            logger.exception("%s: trigger hook failed", self.name)
            raise ScpiError.execution(f"trigger hook: {exc}") from exc


def _format_entries(entries: Entries) -> str:
    return ",".join(name if count == 1 else f"{name}*{count}" for name, count in entries)
