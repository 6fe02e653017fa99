"""Simulated digitizer "QNeko,DIG2": 2 inputs at 1 GSa/s, up to 16 demodulators.

The twin only holds settings and results: the simulated lab reads :attr:`DigitizerTwin.config`
when it is :attr:`~DigitizerTwin.armed`, computes the demodulated IQ points and hands them
over with :meth:`DigitizerTwin.deliver`; a client then reads them with ``FETC?``.

Commands (``<k>`` is the 1-based demodulator; ``DEM:...`` without a suffix means ``DEM1``):

- ``ACQuire:SHOTs <n>`` / ``?``, ``ACQuire:STEPs <n>`` / ``?``, ``ACQuire:SRATe?``
- ``DEModulator:COUNt <n>`` / ``?`` (1..16)
- ``DEModulator<k>:CHANnel <ch>`` / ``?`` (1..2), ``DEModulator<k>:FREQuency <Hz>`` / ``?``
  (-500e6..500e6), ``DEModulator<k>:STARt <samples>`` / ``?`` (window start after the
  trigger), ``DEModulator<k>:LENGth <samples>`` / ``?`` (1..2^20; a new length resets the
  weights to ones), ``DEModulator<k>:WEIGhts #<block complex64 LE>`` / ``?`` (as many
  weights as LENGth), ``DEModulator<k>:WEIGhts:RESet``
- ``ACQuire:ARM``, ``ACQuire:ABORt``, ``ACQuire:STATe?`` (``IDLE|ARMED|DONE``),
  ``ACQuire:DATA:SHAPe?`` (``steps,shots,dem``)
- ``FETCh[:DATA]?``: complex64 LE block of shape (steps, shots, dem), C order; before DONE
  it queues ``-230,"Data corrupt or stale"`` and replies the empty block ``#10``.

Changing any setting drops armed state and data (state IDLE).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qneko_hw.errors import InstrumentError
from qneko_hw.simulated_instruments.scpi.blocks import encode_block
from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiError, ScpiInstrument

__all__ = [
    "AcquisitionState",
    "DemodulatorSettings",
    "DigitizerConfig",
    "DigitizerTwin",
]

SAMPLE_RATE_HZ = 1e9
INPUT_CHANNELS = 2
MAX_DEMODULATORS = 16
MAX_WINDOW_SAMPLES = 2**20
MAX_DEMOD_FREQUENCY_HZ = 500e6
MAX_SHOTS = 10_000_000
MAX_STEPS = 1_000_000
MAX_POINTS = 2**25


class AcquisitionState(enum.Enum):
    """Acquisition state as ``ACQ:STAT?`` reports it."""

    IDLE = "IDLE"
    ARMED = "ARMED"
    DONE = "DONE"


def _ones(length: int) -> NDArray[np.complex64]:
    weights = np.ones(length, dtype=np.complex64)
    weights.flags.writeable = False
    return weights


@dataclass
class _Demodulator:
    channel: int = 1
    frequency_hz: float = 0.0
    start_samples: int = 0
    length_samples: int = 1024
    weights: NDArray[np.complex64] = field(default_factory=lambda: _ones(1024))


@dataclass(frozen=True, eq=False)
class DemodulatorSettings:
    """One demodulator: input channel (1-based), frequency (Hz), integration window start
    and length after the trigger (samples) and complex weights (read-only, one per sample).
    """

    channel: int
    frequency_hz: float
    start_samples: int
    length_samples: int
    weights: NDArray[np.complex64] = field(repr=False)


@dataclass(frozen=True, eq=False)
class DigitizerConfig:
    """Snapshot of the acquisition settings: shots per step, steps, the active
    demodulators (``DEM:COUN`` of them) and the sample rate (Sa/s)."""

    shots: int
    steps: int
    demodulators: tuple[DemodulatorSettings, ...]
    sample_rate_hz: float = SAMPLE_RATE_HZ

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the data: (steps, shots, demodulators)."""
        return (self.steps, self.shots, len(self.demodulators))


class DigitizerTwin(ScpiInstrument):
    """Simulated digitizer; ``name`` is used in logs and errors, ``serial`` in ``*IDN?``."""

    def __init__(self, *, name: str | None = None, serial: str = "0") -> None:
        super().__init__(manufacturer="QNeko", model="DIG2", serial=serial, name=name)
        self._init_state()
        add = self.add_command
        add("ACQuire:SHOTs", on_set=self._set_shots, on_query=lambda c: str(self._shots))
        add("ACQuire:STEPs", on_set=self._set_steps, on_query=lambda c: str(self._steps))
        add("ACQuire:SRATe", on_query=lambda c: repr(SAMPLE_RATE_HZ))
        add("ACQuire:ARM", on_set=self._arm)
        add("ACQuire:ABORt", on_set=self._abort)
        add("ACQuire:STATe", on_query=lambda c: self._state.value)
        add("ACQuire:DATA:SHAPe", on_query=lambda c: ",".join(map(str, self.config.shape)))
        add("FETCh[:DATA]", on_query=self._fetch)
        add("DEModulator:COUNt", on_set=self._set_count, on_query=lambda c: str(self._count))
        add("DEModulator#:CHANnel", on_set=self._set_chan, on_query=self._get_chan)
        add("DEModulator#:FREQuency", on_set=self._set_freq, on_query=self._get_freq)
        add("DEModulator#:STARt", on_set=self._set_start, on_query=self._get_start)
        add("DEModulator#:LENGth", on_set=self._set_length, on_query=self._get_length)
        add("DEModulator#:WEIGhts", on_set=self._set_weights, on_query=self._get_weights)
        add("DEModulator#:WEIGhts:RESet", on_set=self._reset_weights)

    def _init_state(self) -> None:
        self._shots = 1
        self._steps = 1
        self._count = 1
        self._demods = [_Demodulator() for _ in range(MAX_DEMODULATORS)]
        self._state = AcquisitionState.IDLE
        self._data: NDArray[np.complex64] | None = None

    # -- lab-facing API ------------------------------------------------------------------

    @property
    def config(self) -> DigitizerConfig:
        """Frozen snapshot of the current settings."""
        with self.lock:
            demods = tuple(
                DemodulatorSettings(
                    channel=d.channel,
                    frequency_hz=d.frequency_hz,
                    start_samples=d.start_samples,
                    length_samples=d.length_samples,
                    weights=d.weights,
                )
                for d in self._demods[: self._count]
            )
            return DigitizerConfig(shots=self._shots, steps=self._steps, demodulators=demods)

    @property
    def sample_rate_hz(self) -> float:
        """Sample rate of the inputs (Sa/s)."""
        return SAMPLE_RATE_HZ

    @property
    def acquisition_state(self) -> AcquisitionState:
        """IDLE, ARMED (waiting for data) or DONE (data ready to fetch)."""
        return self._state

    @property
    def armed(self) -> bool:
        """Whether the digitizer waits for data (``ACQ:ARM`` was sent, nothing delivered)."""
        return self._state is AcquisitionState.ARMED

    def deliver(self, data: NDArray[np.complexfloating]) -> None:
        """Store the acquired IQ points (shape (steps, shots, dem)) and set DONE.

        Raises:
            InstrumentError: the digitizer is not armed, or ``data`` has the wrong shape.
        """
        with self.lock:
            if self._state is not AcquisitionState.ARMED:
                raise InstrumentError(
                    f"{self.name}: data delivered while {self._state.value}, not ARMED",
                    instrument=self.name,
                )
            expected = self.config.shape
            array = np.asarray(data)
            if array.shape != expected:
                raise InstrumentError(
                    f"{self.name}: data of shape {array.shape} delivered, expected {expected}"
                    " (steps, shots, demodulators)",
                    instrument=self.name,
                )
            self._data = np.ascontiguousarray(array, dtype=np.complex64).copy()
            self._state = AcquisitionState.DONE

    def reset(self) -> None:
        """``*RST``: default settings, IDLE, no data."""
        self._init_state()

    # -- handlers ------------------------------------------------------------------------

    def _changed(self) -> None:
        self._state = AcquisitionState.IDLE
        self._data = None

    def _set_shots(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self._shots = command.int_arg(0, 1, MAX_SHOTS)
        self._changed()

    def _set_steps(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self._steps = command.int_arg(0, 1, MAX_STEPS)
        self._changed()

    def _set_count(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self._count = command.int_arg(0, 1, MAX_DEMODULATORS)
        self._changed()

    def _arm(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        points = self._steps * self._shots * self._count
        if points > MAX_POINTS:
            raise ScpiError.conflict(f"{points} IQ points exceed the memory of {MAX_POINTS}")
        self._data = None
        self._state = AcquisitionState.ARMED

    def _abort(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        self._changed()

    def _fetch(self, command: ScpiCommand) -> bytes:
        command.expect_args(0)
        if self._state is not AcquisitionState.DONE or self._data is None:
            self.push_error(ScpiError(-230, "Data corrupt or stale", self._state.value))
            return encode_block(b"")
        return encode_block(self._data.astype("<c8").tobytes())

    def _demod(self, command: ScpiCommand) -> _Demodulator:
        return self._demods[command.suffix(0, 1, MAX_DEMODULATORS) - 1]

    def _set_chan(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        demod = self._demod(command)
        demod.channel = command.int_arg(0, 1, INPUT_CHANNELS)
        self._changed()

    def _get_chan(self, command: ScpiCommand) -> str:
        return str(self._demod(command).channel)

    def _set_freq(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        demod = self._demod(command)
        limit = MAX_DEMOD_FREQUENCY_HZ
        demod.frequency_hz = command.float_arg(0, -limit, limit)
        self._changed()

    def _get_freq(self, command: ScpiCommand) -> str:
        return repr(self._demod(command).frequency_hz)

    def _set_start(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        demod = self._demod(command)
        demod.start_samples = command.int_arg(0, 0, 2**31 - 1)
        self._changed()

    def _get_start(self, command: ScpiCommand) -> str:
        return str(self._demod(command).start_samples)

    def _set_length(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        demod = self._demod(command)
        length = command.int_arg(0, 1, MAX_WINDOW_SAMPLES)
        if length != demod.length_samples:
            demod.length_samples = length
            demod.weights = _ones(length)
        self._changed()

    def _get_length(self, command: ScpiCommand) -> str:
        return str(self._demod(command).length_samples)

    def _set_weights(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        demod = self._demod(command)
        payload = command.block_arg(0)
        if len(payload) % 8:
            raise ScpiError(-161, "Invalid block data", f"{len(payload)} bytes, not complex64")
        weights = np.frombuffer(payload, dtype="<c8").astype(np.complex64)
        if len(weights) != demod.length_samples:
            raise ScpiError.out_of_range(
                f"{len(weights)} weights for a window of {demod.length_samples} samples"
            )
        if not np.all(np.isfinite(weights)):
            raise ScpiError.out_of_range("weights must be finite")
        weights.flags.writeable = False
        demod.weights = weights
        self._changed()

    def _get_weights(self, command: ScpiCommand) -> bytes:
        return encode_block(self._demod(command).weights.astype("<c8").tobytes())

    def _reset_weights(self, command: ScpiCommand) -> None:
        command.expect_args(0)
        demod = self._demod(command)
        demod.weights = _ones(demod.length_samples)
        self._changed()
