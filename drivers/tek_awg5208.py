"""Tektronix AWG5208 as an AWG: QCoDeS's own driver behind the AWG role.

The QCoDeS driver (:class:`qcodes.instrument_drivers.tektronix.TektronixAWG5208`) is used
unchanged (:attr:`TekAwg5208.driver`). How the role maps onto the instrument:

- ``upload_waveforms``: the waveform list is cleared, then each waveform is written as a
  ``.wfmx`` file (QCoDeS's WFMX header, float32 samples) with ``MMEMory:DATA`` and loaded
  with ``MMEMory:OPEN``; the error queue is read after each. Waveforms shorter than the
  instrument's minimum of 2400 samples are padded with zeros at the end.
- ``set_sequence``: a ``.seqx`` bundle made by QCoDeS's ``makeSEQXFile`` (one track per
  channel used, each step zero-padded to its longest waveform; every step waits for the
  internal trigger; the last step goes back to the first) is sent, loaded with
  ``MMEMory:OPEN:SASSet:SEQuence`` and its tracks assigned with ``CASSet:SEQuence``.
- ``set_channel(ch, amplitude_v, offset_v)``: ``amplitude_v`` is the peak output (V) for a
  sample of 1. The AWG5208 sets peak-to-peak amplitude in 0.25..1.5 V, so the adapter sets
  ``Vpp = max(0.25, 2 x amplitude_v)`` and scales the channel's samples in the sequence by
  ``2 x amplitude_v / Vpp`` (the sequence is re-sent if the amplitude changes after it).
- ``set_shots(n, repetition_time_s)``: the internal trigger interval
  (``TRIGger:INTerval``) is the repetition time; one step plays per interval, cycling, until
  stopped; the number of shots is the digitizer's (kept in :attr:`shots` for reference).
- ``trigger``: a forced trigger A (``TRIGger:IMMediate ATRigger``).

Safety (``limits.max_amplitude_v``), checked before anything is written: a channel's peak
output ``peak x amplitude + |offset|`` stays within the limit, ``peak`` being the largest
``|sample|`` of the uploaded waveforms (1 until this adapter has uploaded any).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw.drivers.qcodes_adapter import QcodesAdapter
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.roles import SafetyLimits, StepPlay

__all__ = ["TekAwg5208"]

logger = logging.getLogger(__name__)

CHANNELS = 8
MIN_SAMPLES = 2400
MIN_VPP = 0.25
MAX_VPP = 1.5
SEQUENCE_NAME = "qneko"
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


class TekAwg5208(QcodesAdapter):
    """AWG5208; fills the :class:`~qneko_hw.roles.AWG` role.

    Args:
        name: instrument name (also the QCoDeS instrument's name, unique in the process).
        address: VISA resource, e.g. ``TCPIP::127.0.0.1::4000::SOCKET``.
        limits: safety limits (``max_amplitude_v``); ``None``: no limits.
        sample_rate_hz: sample rate set at connection (Sa/s).
        visalib: PyVISA backend, ``"@py"`` (pyvisa-py) by default.
        timeout: VISA timeout (s).
    """

    def __init__(
        self,
        name: str,
        address: str,
        limits: SafetyLimits | None = None,
        *,
        sample_rate_hz: float = 1e9,
        visalib: str | None = "@py",
        timeout: float = 10.0,
    ) -> None:
        from qcodes.instrument_drivers.tektronix import TektronixAWG5208

        driver = TektronixAWG5208(name, address, visalib=visalib, timeout=timeout)
        super().__init__(name, driver, limits)
        self.shots = 1
        self._levels: dict[int, tuple[float, float]] = {}
        self._waveforms: dict[str, NDArray[np.float32]] = {}
        self._peaks: dict[str, float] | None = None
        self._sequence: list[dict[int, str]] | None = None
        try:
            self.call("CLOC:SRAT", lambda: self.driver.sample_rate(float(sample_rate_hz)))
            self.check_errors(f"CLOCk:SRATe {sample_rate_hz}")
        except BaseException:
            self.driver.close()
            raise

    # -- safety --------------------------------------------------------------------------

    def _peak(self) -> float:
        if self._peaks is None:
            return 1.0
        return max(self._peaks.values(), default=0.0)

    def _check_levels(self, ch: int, amplitude_v: float, offset_v: float, peak: float) -> None:
        if not 0 <= amplitude_v <= MAX_VPP / 2:
            raise InstrumentError(
                f"{self.name}: channel {ch} amplitude {amplitude_v} V is outside the AWG5208's"
                f" 0..{MAX_VPP / 2} V peak",
                instrument=self.name,
                command=f"SOUR{ch}:VOLT",
            )
        limit = self.limits.max_amplitude_v
        if limit is None:
            return
        out = peak * amplitude_v + abs(offset_v)
        if amplitude_v > limit or out > limit:
            raise SafetyLimitError(
                f"{self.name}: channel {ch} would output {out:.4g} V (waveform peak {peak:.4g}"
                f" x {amplitude_v} V + |{offset_v}| V), above the limit {limit} V;"
                " nothing written",
                instrument=self.name,
                parameter=f"ch{ch}.peak_output_v",
                limit=limit,
                value=max(out, amplitude_v),
            )

    def _channel(self, ch: int) -> Any:
        if not 1 <= ch <= CHANNELS:
            raise InstrumentError(
                f"{self.name}: no channel {ch} (1..{CHANNELS})", instrument=self.name
            )
        return self.driver.submodules[f"ch{ch}"]

    @staticmethod
    def _vpp(amplitude_v: float) -> float:
        return min(MAX_VPP, max(MIN_VPP, 2 * amplitude_v))

    # -- AWG role ------------------------------------------------------------------------

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate (Sa/s), read from the instrument."""
        return float(self.call("CLOCk:SRATe?", self.driver.sample_rate))

    def set_channel(
        self, ch: int, amplitude_v: float, offset_v: float = 0.0, output: bool = True
    ) -> None:
        """Set output ``ch`` (1-based): peak amplitude (V), offset (V), output switch.

        Raises:
            SafetyLimitError: ``peak x amplitude_v + |offset_v|`` exceeds the limit.
            InstrumentError: no such channel, amplitude beyond the instrument, or an error.
        """
        channel = self._channel(ch)
        amp, off = float(amplitude_v), float(offset_v)
        with self.lock:
            self._check_levels(ch, amp, off, self._peak())
            vpp = self._vpp(amp)
            changed = self._levels.get(ch, (None, None))[0] != amp
            self.call(f"SOUR{ch}:VOLT {vpp}", lambda: channel.awg_amplitude(vpp))
            self.call(f"SOUR{ch}:VOLT:OFFS {off}", lambda: channel.offset(off))
            self.call(f"OUTP{ch}:STAT {int(output)}", lambda: channel.state(int(bool(output))))
            self.check_errors(f"channel {ch} levels")
            self._levels[ch] = (amp, off)
            if changed and self._sequence is not None:
                self._load_sequence(self._sequence)

    def upload_waveforms(self, waveforms: Mapping[str, NDArray[np.floating]]) -> None:
        """Replace the waveform list by ``waveforms`` (name -> samples in [-1, 1]).

        All waveforms are checked (name, finite, within [-1, 1], and against the safety
        limit with every channel's levels) before anything is written.

        Raises:
            SafetyLimitError: a waveform would exceed ``limits.max_amplitude_v``.
            InstrumentError: bad name or samples, or the instrument refused an upload.
        """
        arrays: dict[str, NDArray[np.float32]] = {}
        for name, samples in waveforms.items():
            if not _NAME.fullmatch(name):
                raise InstrumentError(
                    f"{self.name}: waveform name {name!r} must be 1-200 of A-Z a-z 0-9 _ . -",
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
        with self.lock:
            peak = max(peaks.values(), default=0.0)
            for ch, (amp, off) in self._levels.items():
                self._check_levels(ch, amp, off, peak)
            self.call("WLIS:WAV:DEL ALL", self.driver.clearWaveformList)
            self.check_errors("WLISt:WAVeform:DELete ALL")
            self._waveforms, self._peaks = {}, {}
            for name, array in arrays.items():
                self._send_wfmx(name, array)
                self._waveforms[name] = array
                self._peaks[name] = peaks[name]
        logger.debug("%s: uploaded %d waveforms", self.name, len(arrays))

    def _send_wfmx(self, name: str, array: NDArray[np.float32]) -> None:
        padded = np.zeros(max(MIN_SAMPLES, array.size), dtype="<f4")
        padded[: array.size] = array
        header = self.driver._makeWFMXFileHeader(num_samples=padded.size, markers_included=False)
        wfmx = header.encode("ascii") + padded.tobytes()
        command = f'MMEMory:DATA "{name}.wfmx",#<{len(wfmx)} bytes>'
        self.call(command, lambda: self.driver.sendWFMXFile(wfmx, f"{name}.wfmx"))
        self.call(f'MMEM:OPEN "{name}.wfmx"', lambda: self.driver.loadWFMXFile(f"{name}.wfmx"))
        self.check_errors(command)

    def set_sequence(self, sequence: Sequence[Mapping[int, StepPlay]]) -> None:
        """Set the sequence: per step, channel (1-based) -> waveform name.

        Raises:
            InstrumentError: an unknown waveform or channel, entries instead of one waveform
                (this adapter plays one waveform per step and channel), or the instrument
                refused it.
        """
        steps: list[dict[int, str]] = []
        for k, step in enumerate(sequence, start=1):
            names: dict[int, str] = {}
            for ch, play in step.items():
                if not isinstance(play, str):
                    raise InstrumentError(
                        f"{self.name}: step {k} channel {ch} asks for repeated entries; this"
                        " adapter plays one waveform per step and channel",
                        instrument=self.name,
                    )
                names[ch] = play
            steps.append(names)
        for k, step in enumerate(steps, start=1):
            for ch, name in step.items():
                self._channel(ch)
                if name not in self._waveforms:
                    raise InstrumentError(
                        f"{self.name}: step {k} channel {ch} names waveform {name!r}, which"
                        " was not uploaded",
                        instrument=self.name,
                    )
        with self.lock:
            self._load_sequence(steps)
            self._sequence = steps

    def _load_sequence(self, steps: list[dict[int, str]]) -> None:
        if not steps:
            raise InstrumentError(f"{self.name}: empty sequence", instrument=self.name)
        channels = sorted({ch for step in steps for ch in step})
        if not channels:
            raise InstrumentError(f"{self.name}: the sequence plays nothing", instrument=self.name)
        lengths = [
            max([MIN_SAMPLES, *(self._waveforms[n].size for n in step.values())]) for step in steps
        ]
        wfms: list[list[NDArray[np.float64]]] = []
        amplitudes: list[float] = []
        for ch in channels:
            amp = self._levels.get(ch, (MIN_VPP / 2, 0.0))[0]
            vpp = self._vpp(amp)
            track: list[NDArray[np.float64]] = []
            for step, n in zip(steps, lengths, strict=True):
                data = np.zeros(n)
                name = step.get(ch)
                if name is not None:
                    wave = self._waveforms[name]
                    data[: wave.size] = wave * amp  # volts; makeSEQXFile divides by vpp/2
                track.append(np.clip(data, -vpp / 2, vpp / 2))
            wfms.append(track)
            amplitudes.append(vpp)
        count = len(steps)
        seqx = self.driver.makeSEQXFile(
            trig_waits=[3] * count,
            nreps=[1] * count,
            event_jumps=[0] * count,
            event_jump_to=[0] * count,
            go_to=[0] * (count - 1) + [1],
            wfms=wfms,
            amplitudes=amplitudes,
            seqname=SEQUENCE_NAME,
        )
        command = f'MMEMory:DATA "{SEQUENCE_NAME}.seqx",#<{len(seqx)} bytes>'
        self.call("SLIS:SEQ:DEL ALL", self.driver.clearSequenceList)
        self.call(command, lambda: self.driver.sendSEQXFile(seqx, f"{SEQUENCE_NAME}.seqx"))
        self.call("MMEM:OPEN:SASS:SEQ", lambda: self.driver.loadSEQXFile(f"{SEQUENCE_NAME}.seqx"))
        self.check_errors(command)
        for track_no, ch in enumerate(channels, start=1):
            assign = partial(self._channel(ch).setSequenceTrack, SEQUENCE_NAME, track_no)
            self.call(f'SOUR{ch}:CASS:SEQ "{SEQUENCE_NAME}",{track_no}', assign)
        self.check_errors("SOURce:CASSet:SEQuence")

    def set_shots(self, n: int, repetition_time_s: float) -> None:
        """Keep ``n`` and set the internal trigger interval to ``repetition_time_s`` (s)."""
        with self.lock:
            command = f"TRIGger:INTerval {float(repetition_time_s)!r}"
            self.call(command, lambda: self.driver.write(command))
            self.check_errors(command)
            self.shots = int(n)

    def run(self) -> None:
        """Start playing (``AWGControl:RUN``); raise if the AWG does not run."""
        with self.lock:
            self.call("AWGControl:RUN", lambda: self.driver.play(wait_for_running=False))
            self.check_errors("AWGControl:RUN")
            state = self.call("AWGControl:RSTate?", self.driver.run_state)
            if state == "Stopped":
                raise InstrumentError(
                    f"{self.name}: the AWG did not start",
                    instrument=self.name,
                    command="AWGControl:RUN",
                    reply=str(state),
                )

    def stop(self) -> None:
        """Stop playing."""
        with self.lock:
            self.call("AWGControl:STOP", self.driver.stop)
            self.check_errors("AWGControl:STOP")

    def trigger(self) -> None:
        """Force trigger A and check that it was accepted."""
        with self.lock:
            self.call("TRIGger:IMMediate ATRigger", self.driver.force_triggerA)
            self.check_errors("TRIGger:IMMediate ATRigger")
