"""QCoDeS driver of the QNeko AWG4 arbitrary waveform generator (real or simulated twin).

Parameters: ``sample_rate`` (Sa/s), ``shots``, ``repetition_time`` (s), ``running``,
``sequence_length``; per channel ``chN.amplitude`` (peak V), ``chN.offset`` (V),
``chN.output``.

Safety (``limits.max_amplitude_v``), checked before anything is written: a channel's peak
output ``peak x amplitude + |offset|`` must stay within the limit, where ``peak`` is the
largest ``|sample|`` of any uploaded waveform (any waveform may be played on any channel by
the sequence, so the check does not depend on the sequence). Until this driver has uploaded
waveforms itself, the instrument may hold unknown ones and ``peak`` is taken as 1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qcodes.instrument import InstrumentChannel
from qcodes.validators import Bool, Ints, Numbers

from qneko_hw.drivers.scpi_driver import QnekoScpiDriver
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.roles import SafetyLimits, StepPlay

__all__ = ["QnekoAWG4", "QnekoAWG4Channel"]

logger = logging.getLogger(__name__)

_UNITS_PER_LINE = 64
_MAX_ENTRIES = 4096  # entries per channel and step the AWG4 plays


class QnekoAWG4Channel(InstrumentChannel["QnekoAWG4"]):
    """One output of the AWG: ``amplitude`` (peak V), ``offset`` (V), ``output``."""

    def __init__(self, parent: QnekoAWG4, name: str, channel: int) -> None:
        super().__init__(parent, name)
        self.channel = channel
        self.amplitude = self.add_parameter(
            "amplitude",
            label=f"Channel {channel} amplitude",
            unit="V",
            get_cmd=lambda: parent.query_float(f"SOUR{channel}:VOLT?"),
            set_cmd=lambda v: parent.set_channel_levels(channel, amplitude_v=float(v)),
            vals=Numbers(0.0, 1.5),
        )
        self.offset = self.add_parameter(
            "offset",
            label=f"Channel {channel} offset",
            unit="V",
            get_cmd=lambda: parent.query_float(f"SOUR{channel}:VOLT:OFFS?"),
            set_cmd=lambda v: parent.set_channel_levels(channel, offset_v=float(v)),
            vals=Numbers(-0.5, 0.5),
        )
        self.output = self.add_parameter(
            "output",
            label=f"Channel {channel} output",
            get_cmd=lambda: parent.query_bool(f"OUTP{channel}?"),
            set_cmd=lambda on: parent.write_checked(f"OUTP{channel} {'ON' if on else 'OFF'}"),
            vals=Bool(),
        )


class QnekoAWG4(QnekoScpiDriver):
    """QNeko AWG4; fills the :class:`~qneko_hw.roles.AWG` role.

    Args:
        name: QCoDeS instrument name.
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        limits: safety limits (``max_amplitude_v``); ``None``: no limits.
        channels: number of outputs (submodules ``ch1`` ... ``chN``).
        kwargs: passed to :class:`QnekoScpiDriver` (``timeout`` in s, ``visalib``, ...).
    """

    def __init__(
        self,
        name: str,
        address: str,
        limits: SafetyLimits | None = None,
        channels: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, address, limits=limits, **kwargs)
        self.n_channels = channels
        self._waveform_peaks: dict[str, float] | None = None
        self.sample_rate = self.add_parameter(
            "sample_rate",
            unit="Sa/s",
            get_cmd=lambda: self.query_float("CLOC:SRAT?"),
            set_cmd=lambda v: self.write_checked(f"CLOC:SRAT {float(v)!r}"),
            vals=Numbers(1e8, 2.5e9),
        )
        self.shots = self.add_parameter(
            "shots",
            get_cmd=lambda: self.query_int("AWGC:SHOT?"),
            set_cmd=lambda n: self.write_checked(f"AWGC:SHOT {int(n)}"),
            vals=Ints(1, 10_000_000),
        )
        self.repetition_time = self.add_parameter(
            "repetition_time",
            unit="s",
            get_cmd=lambda: self.query_float("AWGC:REPT?"),
            set_cmd=lambda v: self.write_checked(f"AWGC:REPT {float(v)!r}"),
            vals=Numbers(1e-7, 10.0),
        )
        self.running = self.add_parameter(
            "running", get_cmd=lambda: self.query_bool("AWGC:RST?"), set_cmd=False
        )
        self.sequence_length = self.add_parameter(
            "sequence_length", get_cmd=lambda: self.query_int("SEQ:LENG?"), set_cmd=False
        )
        self.channels: list[QnekoAWG4Channel] = []
        for ch in range(1, channels + 1):
            submodule = QnekoAWG4Channel(self, f"ch{ch}", ch)
            self.add_submodule(f"ch{ch}", submodule)
            self.channels.append(submodule)

    def channel(self, ch: int) -> QnekoAWG4Channel:
        """Submodule of output ``ch`` (1-based)."""
        if not 1 <= ch <= self.n_channels:
            raise InstrumentError(
                f"{self.name}: no channel {ch} (1..{self.n_channels})", instrument=self.name
            )
        return self.channels[ch - 1]

    # -- safety --------------------------------------------------------------------------

    def _peak(self) -> float:
        if self._waveform_peaks is None:
            return 1.0
        return max(self._waveform_peaks.values(), default=0.0)

    def _check_levels(self, ch: int, amplitude_v: float, offset_v: float, peak: float) -> None:
        limit = self.limits.max_amplitude_v
        if limit is None:
            return
        if amplitude_v > limit:
            raise SafetyLimitError(
                f"{self.name}: channel {ch} amplitude {amplitude_v} V exceeds the limit "
                f"{limit} V; nothing written",
                instrument=self.name,
                parameter=f"ch{ch}.amplitude_v",
                limit=limit,
                value=amplitude_v,
            )
        out = peak * amplitude_v + abs(offset_v)
        if out > limit:
            raise SafetyLimitError(
                f"{self.name}: channel {ch} would output {out:.4g} V (waveform peak {peak:.4g}"
                f" x {amplitude_v} V + |{offset_v}| V), above the limit {limit} V;"
                " nothing written",
                instrument=self.name,
                parameter=f"ch{ch}.peak_output_v",
                limit=limit,
                value=out,
            )

    def set_channel_levels(
        self, ch: int, amplitude_v: float | None = None, offset_v: float | None = None
    ) -> None:
        """Set amplitude (peak V) and/or offset (V) of output ``ch`` after the safety check.

        The two writes are ordered so that the intermediate state is within the limits too.
        """
        with self._io_lock:
            old_amp = self.query_float(f"SOUR{ch}:VOLT?")
            old_off = self.query_float(f"SOUR{ch}:VOLT:OFFS?")
            amp = old_amp if amplitude_v is None else float(amplitude_v)
            off = old_off if offset_v is None else float(offset_v)
            peak = self._peak()
            self._check_levels(ch, amp, off, peak)
            offset_first = False
            if self.limits.max_amplitude_v is not None:
                offset_first = old_amp * peak + abs(off) <= self.limits.max_amplitude_v
            writes = [f"SOUR{ch}:VOLT {amp!r}", f"SOUR{ch}:VOLT:OFFS {off!r}"]
            if amplitude_v is None:
                writes = writes[1:]
            elif offset_v is None:
                writes = writes[:1]
            elif offset_first:
                writes.reverse()
            for command in writes:
                self.write_checked(command)

    # -- AWG role ------------------------------------------------------------------------

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate (Sa/s), read from the instrument."""
        return float(self.sample_rate())

    def upload_waveforms(self, waveforms: Mapping[str, NDArray[np.floating]]) -> None:
        """Replace the waveform list by ``waveforms`` (name -> samples in [-1, 1]).

        All waveforms are checked (finite, within [-1, 1], and against the safety limit with
        every channel's current amplitude and offset) before anything is written; then the
        old list is deleted (which also clears the sequence's references to it), every
        waveform is uploaded as a float32 block, and the error queue and the number of
        waveforms stored are checked once at the end.

        Raises:
            SafetyLimitError: a waveform would exceed ``limits.max_amplitude_v``.
            InstrumentError: bad name or samples, the instrument refused an upload, or a
                waveform did not arrive.
        """
        arrays: dict[str, NDArray[np.float32]] = {}
        for name, samples in waveforms.items():
            if not name or any(c in name for c in "\"'\n\r;,*"):
                raise InstrumentError(
                    f"{self.name}: waveform name {name!r} may not be empty or contain quotes,"
                    " newlines, ';', ',' or '*'",
                    instrument=self.name,
                )
            array = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
            if array.size == 0 or not np.all(np.isfinite(array)) or np.abs(array).max() > 1:
                raise InstrumentError(
                    f"{self.name}: waveform {name!r} must be non-empty, finite, in [-1, 1]",
                    instrument=self.name,
                )
            arrays[name] = array
        peaks = {name: float(np.abs(a).max()) for name, a in arrays.items()}
        with self._io_lock:
            if self.limits.max_amplitude_v is not None and peaks:
                peak = max(peaks.values())
                for ch in range(1, self.n_channels + 1):
                    amp = self.query_float(f"SOUR{ch}:VOLT?")
                    off = self.query_float(f"SOUR{ch}:VOLT:OFFS?")
                    self._check_levels(ch, amp, off, peak)
            self.write_checked("WLIS:WAV:DEL ALL")
            self._waveform_peaks = {}
            before = self.reconnect_count
            for name, array in arrays.items():
                header = f'WLIS:WAV:DATA "{name}",'
                self.write_block(header, array.astype("<f4").tobytes())
            self.check_errors(f"upload of {len(arrays)} waveforms")
            stored = self.query_int("WLIS:SIZE?")
            if stored != len(arrays) or self.reconnect_count != before:
                # a block was lost (e.g. the connection dropped and came back): never run
                # a program with waveforms missing
                raise InstrumentError(
                    f"{self.name}: {stored} of {len(arrays)} waveforms arrived"
                    + (" (the connection was re-established)" if stored == len(arrays) else ""),
                    instrument=self.name,
                    command="WLIS:WAV:DATA",
                    reply=str(stored),
                )
            self._waveform_peaks = dict(peaks)
        logger.debug("%s: uploaded %d waveforms", self.name, len(arrays))

    def set_sequence(self, sequence: Sequence[Mapping[int, StepPlay]]) -> None:
        """Set the sequence: per step, channel (1-based) -> waveform name, or the entries
        (waveform name, times in a row) the channel plays one after another.

        Raises:
            InstrumentError: a bad entry (count < 1, too many entries), or the instrument
                refused the sequence.
        """
        units = [f"SEQ:LENG {len(sequence)}"]
        for k, step in enumerate(sequence, start=1):
            for ch, play in sorted(step.items()):
                units.append(f'SEQ:STEP{k}:WAV{int(ch)} "{self._entries_text(k, ch, play)}"')
        with self._io_lock:
            for i in range(0, len(units), _UNITS_PER_LINE):
                self.write(";".join(units[i : i + _UNITS_PER_LINE]))
            self.check_errors(f"sequence of {len(sequence)} steps")

    def _entries_text(self, step: int, ch: int, play: StepPlay) -> str:
        if isinstance(play, str):
            return play
        if not 1 <= len(play) <= _MAX_ENTRIES:
            raise InstrumentError(
                f"{self.name}: step {step} channel {ch}: {len(play)} entries, not 1.."
                f"{_MAX_ENTRIES}",
                instrument=self.name,
            )
        parts = []
        for name, count in play:
            if int(count) < 1:
                raise InstrumentError(
                    f"{self.name}: step {step} channel {ch}: waveform {name!r} repeated"
                    f" {count} times (at least once)",
                    instrument=self.name,
                )
            parts.append(name if int(count) == 1 else f"{name}*{int(count)}")
        return ",".join(parts)

    def set_channel(
        self, ch: int, amplitude_v: float, offset_v: float = 0.0, output: bool = True
    ) -> None:
        """Set output ``ch`` (1-based): peak amplitude (V), offset (V), output switch.

        Raises:
            SafetyLimitError: ``peak x amplitude_v + |offset_v|`` exceeds the limit.
        """
        submodule = self.channel(ch)
        with self._io_lock:
            self.set_channel_levels(ch, amplitude_v=amplitude_v, offset_v=offset_v)
            submodule.output(bool(output))

    def set_shots(self, n: int, repetition_time_s: float) -> None:
        """Play the sequence ``n`` times per trigger, one shot every ``repetition_time_s``."""
        with self._io_lock:
            self.shots(int(n))
            self.repetition_time(float(repetition_time_s))

    def run(self) -> None:
        """Start; the AWG then accepts triggers."""
        self.write_checked("AWGC:RUN")

    def stop(self) -> None:
        """Stop playing."""
        self.write_checked("AWGC:STOP")

    trigger_timeout_s = 600.0
    """Time (s) allowed for the check after ``*TRG``: the trigger plays every shot of every
    step, and a simulated twin answers only once it has simulated them."""

    def trigger(self) -> None:
        """Send a software trigger (``*TRG``) and check that it was accepted."""
        with self._io_lock, self.timeout.set_to(self.trigger_timeout_s):
            self.write_checked("*TRG")
