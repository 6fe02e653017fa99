"""Simulated Tektronix AWG5208 (8 channels), as QCoDeS's ``TektronixAWG5208`` drives it.

Implements the SCPI that :class:`qcodes.instrument_drivers.tektronix.TektronixAWG5208`
(base ``TektronixAWG70000Base``) sends in ``__init__``, ``snapshot(update=True)`` and its
methods: clock, mode, run state, outputs, function-generator and AWG channel levels, markers,
DAC resolution; the mass memory (``MMEMory:CDIRectory``, ``MMEMory:DATA`` with a binary
block, ``MMEMory:DELete``, ``MMEMory:OPEN`` for a ``.wfmx`` into the waveform list,
``MMEMory:OPEN:SASSet:SEQuence`` for a ``.seqx`` into the sequence and waveform lists), the
waveform list (``WLISt:LIST?``, ``SIZE?``, ``NAME?``, ``WAVeform:DELete``,
``WAVeform:LENGth?``), the sequence list (``SLISt:SIZE?``, ``NAME?``, ``SEQuence:DELete``),
channel assets (``SOURce<n>:CASSet:WAVeform``, ``CASSet:SEQuence "seq",track``,
``CASSet:CLEar``, ``CASSet?``), run control (``AWGControl:RUN``/``STOP``/``RSTate?``), the
internal trigger timer (``TRIGger:INTerval``) and forced triggers
(``TRIGger:IMMediate ATRigger|BTRigger``, ``*TRG``). ``SYSTem:ERRor:CODE?`` gives the code
of the next error. A block may end a message without a newline, as ``_sendBinaryFile`` does.

Output of a channel (V): ``sample x Vpp/2 + offset``, where ``Vpp`` is
``SOURce<n>:VOLTage`` (0.25..1.5 V peak-to-peak) and the sample is in [-1, 1]; zero when the
channel's output is off or ``OUTPut:OFF`` is on.

Lab-facing state (as of :class:`~qneko_hw.simulated_instruments.awg_twin.AwgTwin`):
:meth:`step_samples`, :meth:`step_length_samples`, :attr:`sample_rate_hz`,
:attr:`repetition_time_s` (the internal trigger interval, one step per interval),
:attr:`running`, :attr:`on_trigger` (called on a forced trigger A while running).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from qneko_hw.simulated_instruments.scpi.blocks import encode_block
from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiError, ScpiInstrument
from qneko_hw.simulated_instruments.scpi.settings import Setting, add_settings
from qneko_hw.simulated_instruments.tek_files import (
    TekFileError,
    TekSequence,
    read_seqx,
    read_wfmx,
)

__all__ = ["AWG5208_SETTINGS", "Awg5208Twin"]

logger = logging.getLogger(__name__)

CHANNELS = 8
MARKERS = 4
MEMORY_SAMPLES = 2_000_000_000
MIN_WAVEFORM_SAMPLES = 2400

_SRATE = "CLOCk:SRATe"
_VPP = "SOURce#:VOLTage[:LEVel][:IMMediate][:AMPLitude]"
_OFFS = "SOURce#:VOLTage[:LEVel][:IMMediate]:OFFSet"
_STATE = "OUTPut#[:STATe]"
_ALL_OFF = "OUTPut:OFF"
_TRIG_INT = "TRIGger:INTerval"
_CDIR = "MMEMory:CDIRectory"

AWG5208_SETTINGS: dict[str, Setting] = {
    _CDIR: Setting("string", "\\Users\\OEM\\Documents"),
    "INSTrument:MODE": Setting("enum", "AWG", choices=("AWG", "FGEN")),
    _SRATE: Setting("float", 2.5e9, 1.49e3, 2.5e9),
    "CLOCk:SOURce": Setting("enum", "INT", choices=("INT", "EFIX", "EVAR", "EXT")),
    "CLOCk:ECLock:FREQuency": Setting("float", 6.25e9, 6.25e9, 12.5e9),
    _ALL_OFF: Setting("bool", False),
    _TRIG_INT: Setting("float", 1e-3, 1e-6, 10.0),
    _STATE: Setting("int", 0, 0, 1),
    "OUTPut#:WVALue:ANALog[:STATe]": Setting("enum", "ZERO", choices=("FIRSt", "ZERO")),
    "FGEN[:CHANnel#]:AMPLitude": Setting("float", 0.5, 0.0, 1.5),
    "FGEN[:CHANnel#]:OFFSet": Setting("float", 0.0, 0.0, 0.25),
    "FGEN[:CHANnel#]:FREQuency": Setting("float", 1e6, 1.0, 12.5e9),
    "FGEN[:CHANnel#]:DCLevel": Setting("float", 0.0, -0.25, 0.25),
    "FGEN[:CHANnel#]:PATH": Setting("enum", "DCHB", choices=("DCHB", "DCHV", "ACD")),
    "FGEN[:CHANnel#]:PHASe": Setting("float", 0.0, -180.0, 180.0),
    "FGEN[:CHANnel#]:SYMMetry": Setting("float", 100.0, 0.0, 100.0),
    "FGEN[:CHANnel#]:TYPE": Setting(
        "enum",
        "SINE",
        choices=("SINE", "SQU", "TRI", "NOIS", "DC", "GAUSS", "EXPR", "EXPD", "NONE"),
    ),
    _VPP: Setting("float", 0.5, 0.25, 1.5),
    _OFFS: Setting("float", 0.0, -2.0, 2.0),
    "SOURce#:MARKer#:VOLTage[:LEVel][:IMMediate]:HIGH": Setting("float", 1.0, -0.5, 1.75),
    "SOURce#:MARKer#:VOLTage[:LEVel][:IMMediate]:LOW": Setting("float", 0.0, -0.3, 1.55),
    "OUTPut#:WVALue:MARKer#": Setting("enum", "FIRS", choices=("FIRSt", "LOW", "HIGH")),
    "OUTPut#:SVALue:MARKer#": Setting("enum", "OFF", choices=("OFF", "LOW")),
    "SOURce#:DAC:RESolution": Setting("int", 16, 12, 16),
}

TriggerHook = Callable[["Awg5208Twin"], None]


class Awg5208Twin(ScpiInstrument):
    """Simulated AWG5208; ``name`` is used in logs, ``serial`` in ``*IDN?``.

    Attributes:
        on_trigger: hook called as ``on_trigger(self)`` on a forced trigger A while
            running, under :attr:`lock`; an exception in it becomes ``-200``.
        files: the mass memory, full path (upper case) -> bytes.
        trigger_count: forced A triggers accepted while running.
    """

    def __init__(self, *, name: str | None = None, serial: str = "B010001") -> None:
        super().__init__(
            manufacturer="TEKTRONIX",
            model="AWG5208",
            serial=serial,
            firmware="FV:6.3.0080.0",
            name=name,
        )
        self.n_channels = CHANNELS
        self.settings = add_settings(self, AWG5208_SETTINGS)
        self.files: dict[str, bytes] = {}
        self.waveform_list: dict[str, NDArray[np.float32]] = {}
        self.sequence_list: dict[str, TekSequence] = {}
        self.assets: dict[int, tuple[str, str, int]] = {}  # ch -> (kind, name, track)
        self.on_trigger: TriggerHook | None = None
        self.trigger_count = 0
        self._running = False
        add = self.add_command
        add("SYSTem:ERRor:CODE[:NEXT]", on_query=lambda c: self.pop_error().split(",")[0])
        add("MMEMory:DATA", on_set=self._mmem_data, on_query=self._mmem_data_query)
        add("MMEMory:DELete", on_set=self._mmem_delete)
        add("MMEMory:OPEN", on_set=self._mmem_open)
        add("MMEMory:OPEN:SASSet:SEQuence", on_set=self._mmem_open_seqx)
        add("MMEMory:OPEN:SASSet[:WAVeform]", on_set=self._mmem_open_seqx)
        add("WLISt:LIST", on_query=lambda c: ",".join(f'"{n}"' for n in self.waveform_list))
        add("WLISt:SIZE", on_query=lambda c: str(len(self.waveform_list)))
        add("WLISt:NAME", on_query=self._wlist_name)
        add("WLISt:WAVeform:DELete", on_set=self._wlist_delete)
        add("WLISt:WAVeform:LENGth", on_query=self._wlist_length)
        add("SLISt:SIZE", on_query=lambda c: str(len(self.sequence_list)))
        add("SLISt:NAME", on_query=self._slist_name)
        add("SLISt:SEQuence:DELete", on_set=self._slist_delete)
        add("SLISt:SEQuence:STEP#:EJUMp", on_set=lambda c: c.expect_args(2))
        add("SOURce#:CASSet", on_query=self._casset_query)
        add("SOURce#:CASSet:WAVeform", on_set=self._casset_waveform)
        add("SOURce#:CASSet:SEQuence", on_set=self._casset_sequence)
        add("SOURce#:CASSet:CLEar", on_set=self._casset_clear)
        add("SOURce#:JUMP:FORCe", on_set=self._force_jump)
        add("FGEN[:CHANnel#]:PERiod", on_query=self._fgen_period)
        add("AWGControl:RUN[:IMMediate]", on_set=self._run)
        add("AWGControl:STOP[:IMMediate]", on_set=self._stop)
        add("AWGControl:RSTate", on_query=lambda c: self._run_state())
        add("TRIGger[:SEQuence]:IMMediate", on_set=self._force_trigger)
        add("*TRG", on_set=self._force_trigger)

    # -- lab-facing state -----------------------------------------------------------------

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate (Sa/s)."""
        return float(self.settings.get(_SRATE))

    @property
    def repetition_time_s(self) -> float:
        """Internal trigger interval (s): one sequence step is played per interval."""
        return float(self.settings.get(_TRIG_INT))

    @property
    def running(self) -> bool:
        """Whether the AWG is running."""
        return self._running

    def channel_amplitude_v(self, ch: int) -> float:
        """Peak amplitude of channel ``ch`` (half the peak-to-peak setting) (V)."""
        return float(self.settings.get(_VPP, ch)) / 2

    def channel_offset_v(self, ch: int) -> float:
        """Offset of channel ``ch`` (V)."""
        return float(self.settings.get(_OFFS, ch))

    def channel_output(self, ch: int) -> bool:
        """Whether output ``ch`` is on (and not all outputs off)."""
        return bool(self.settings.get(_STATE, ch)) and not bool(self.settings.get(_ALL_OFF))

    def _asset_at(self, step: int, ch: int) -> str | None:
        asset = self.assets.get(ch)
        if asset is None:
            return None
        kind, name, track = asset
        if kind == "WAV":
            return name if step == 0 else None
        seq = self.sequence_list.get(name)
        if seq is None or not 0 <= step < len(seq.steps):
            return None
        return seq.steps[step].assets[track - 1]

    def step_length_samples(self, step: int) -> int:
        """Length of step ``step`` (0-based) (samples): the longest waveform any channel
        plays there; 0 past the end of the assigned sequences."""
        with self.lock:
            lengths = [
                len(self.waveform_list.get(name, ()))
                for ch in range(1, CHANNELS + 1)
                if (name := self._asset_at(step, ch)) is not None
            ]
            return max(lengths, default=0)

    def step_samples(self, step: int, ch: int) -> NDArray[np.float64]:
        """Output voltage of channel ``ch`` (1-based) during step ``step`` (0-based) (V)."""
        if not 1 <= ch <= CHANNELS:
            raise ValueError(f"channel {ch} is not in 1..{CHANNELS}")
        with self.lock:
            length = self.step_length_samples(step)
            if not self.channel_output(ch):
                return np.zeros(length)
            samples = np.zeros(length)
            name = self._asset_at(step, ch)
            if name is not None and name in self.waveform_list:
                wave = self.waveform_list[name]
                samples[: len(wave)] = wave
            return samples * self.channel_amplitude_v(ch) + self.channel_offset_v(ch)

    def step_pieces(self, step: int, ch: int) -> list[tuple[NDArray[np.float64], int]]:
        """:meth:`step_samples` as one piece (a sequence entry here plays one waveform)."""
        samples = self.step_samples(step, ch)
        return [(samples, 1)] if samples.size else []

    def reset(self) -> None:
        """``*RST``: default settings, stopped, assets cleared (lists and files are kept)."""
        self.settings.reset()
        self.assets.clear()
        self._running = False

    # -- mass memory --------------------------------------------------------------------

    def _path(self, raw: str) -> str:
        path = raw.replace("/", "\\")
        if len(path) < 2 or path[1] != ":":
            folder = str(self.settings.get(_CDIR)).rstrip("\\")
            path = f"C:{folder}\\{path}"
        return path.upper()

    def _mmem_data(self, command: ScpiCommand) -> None:
        command.expect_args(2)
        self.files[self._path(command.string_arg(0))] = command.block_arg(1)

    def _mmem_data_query(self, command: ScpiCommand) -> bytes:
        command.expect_args(1)
        return encode_block(self._file(command))

    def _file(self, command: ScpiCommand) -> bytes:
        path = self._path(command.string_arg(0))
        if path not in self.files:
            raise ScpiError(-256, "File name not found", path)
        return self.files[path]

    def _mmem_delete(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        path = self._path(command.string_arg(0))
        if self.files.pop(path, None) is None:
            raise ScpiError(-256, "File name not found", path)

    def _store_waveform(self, name: str, samples: NDArray[np.float32]) -> None:
        if len(samples) < MIN_WAVEFORM_SAMPLES:
            raise ScpiError(-224, "Illegal parameter value", f"{name}: under 2400 samples")
        if not np.all(np.isfinite(samples)) or float(np.max(np.abs(samples))) > 1.0:
            raise ScpiError.out_of_range(f"waveform {name!r} samples outside [-1, 1]")
        used = sum(len(w) for n, w in self.waveform_list.items() if n != name)
        if used + len(samples) > MEMORY_SAMPLES:
            raise ScpiError(-225, "Out of memory", name)
        self.waveform_list[name] = samples

    def _mmem_open(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        path = self._path(command.string_arg(0))
        data = self._file(command)
        stem = command.string_arg(0).replace("/", "\\").rsplit("\\", 1)[-1].rsplit(".", 1)[0]
        if not path.endswith(".WFMX"):
            raise ScpiError(-257, "File name error", f"{path}: only .wfmx is supported")
        try:
            samples = read_wfmx(data)
        except TekFileError as exc:
            raise ScpiError(-258, "File read error", f"{path}: {exc}") from None
        self._store_waveform(stem, samples)

    def _mmem_open_seqx(self, command: ScpiCommand) -> None:
        if not 1 <= len(command.args) <= 2:
            command.expect_args(1)
        try:
            bundle = read_seqx(self._file(command))
        except TekFileError as exc:
            raise ScpiError(-258, "File read error", str(exc)) from None
        for name, samples in bundle.waveforms.items():
            self._store_waveform(name, samples)
        for seq in bundle.sequences:
            for k, step in enumerate(seq.steps, start=1):
                missing = [a for a in step.assets if a not in self.waveform_list]
                if missing:
                    raise ScpiError(-224, "Illegal parameter value", f"step {k}: no {missing[0]}")
            self.sequence_list[seq.name] = seq

    # -- waveform and sequence lists ------------------------------------------------------

    def _wlist_name(self, command: ScpiCommand) -> str:
        command.expect_args(1)
        names = list(self.waveform_list)
        if not names:
            raise ScpiError.out_of_range("the waveform list is empty")
        return f'"{names[command.int_arg(0, 1, len(names)) - 1]}"'

    def _known_waveform(self, command: ScpiCommand) -> str:
        name = command.string_arg(0)
        if name not in self.waveform_list:
            raise ScpiError(-224, "Illegal parameter value", f"no waveform {name!r}")
        return name

    def _wlist_delete(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        if command.text(0).upper() == "ALL":
            self.waveform_list.clear()
        else:
            del self.waveform_list[self._known_waveform(command)]

    def _wlist_length(self, command: ScpiCommand) -> str:
        command.expect_args(1)
        return str(len(self.waveform_list[self._known_waveform(command)]))

    def _slist_name(self, command: ScpiCommand) -> str:
        command.expect_args(1)
        names = list(self.sequence_list)
        if not names:
            raise ScpiError.out_of_range("the sequence list is empty")
        return f'"{names[command.int_arg(0, 1, len(names)) - 1]}"'

    def _slist_delete(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        if command.text(0).upper() == "ALL":
            self.sequence_list.clear()
        else:
            name = command.string_arg(0)
            if self.sequence_list.pop(name, None) is None:
                raise ScpiError(-224, "Illegal parameter value", f"no sequence {name!r}")
        self.assets = {
            ch: a for ch, a in self.assets.items() if a[0] == "WAV" or a[1] in self.sequence_list
        }

    # -- channel assets -------------------------------------------------------------------

    def _channel(self, command: ScpiCommand) -> int:
        return command.suffix(0, 1, CHANNELS)

    def _casset_query(self, command: ScpiCommand) -> str:
        asset = self.assets.get(self._channel(command))
        if asset is None:
            return '""'
        kind, name, track = asset
        return f'"{name}"' if kind == "WAV" else f'"{name},{track}"'

    def _casset_waveform(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.assets[self._channel(command)] = ("WAV", self._known_waveform(command), 1)

    def _casset_sequence(self, command: ScpiCommand) -> None:
        command.expect_args(2)
        ch = self._channel(command)
        name = command.string_arg(0)
        seq = self.sequence_list.get(name)
        if seq is None:
            raise ScpiError(-224, "Illegal parameter value", f"no sequence {name!r}")
        track = command.int_arg(1, 1, seq.tracks)
        self.assets[ch] = ("SEQ", name, track)

    def _casset_clear(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        self.assets.pop(self._channel(command), None)

    def _force_jump(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        command.int_arg(0, 1, 16383)

    def _fgen_period(self, command: ScpiCommand) -> str:
        freq = float(self.settings.get("FGEN[:CHANnel#]:FREQuency", *command.suffixes))
        return repr(1.0 / freq)

    # -- run control and triggers ---------------------------------------------------------

    def _run_state(self) -> str:
        if not self._running:
            return "0"
        waits = any(
            a[0] == "SEQ"
            and a[1] in self.sequence_list
            and self.sequence_list[a[1]].steps[0].wait != "None"
            for a in self.assets.values()
        )
        return "1" if waits else "2"

    def _run(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        if not self.assets:
            raise ScpiError.conflict("no waveform or sequence is assigned to a channel")
        self._running = True

    def _stop(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        self._running = False

    def _force_trigger(self, command: ScpiCommand) -> None:
        which = command.text(0).upper() if command.args else "ATR"
        if which not in ("ATR", "ATRIGGER", "BTR", "BTRIGGER"):
            raise ScpiError(-224, "Illegal parameter value", which)
        if not self._running:
            raise ScpiError(-211, "Trigger ignored")
        if which.startswith("B"):
            return
        self.trigger_count += 1
        hook = self.on_trigger
        if hook is None:
            return
        try:
            hook(self)
        except Exception as exc:
            logger.exception("%s: trigger hook failed", self.name)
            raise ScpiError.execution(f"trigger hook: {exc}") from exc
