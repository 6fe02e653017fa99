"""Simulated microwave source "QNeko,SG1": frequency, power and output switch.

Commands: ``FREQuency <Hz>`` / ``FREQuency?`` (1e6..20e9), ``POWer <dBm>`` / ``POWer?``
(-120..25), ``OUTPut ON|OFF|1|0`` / ``OUTPut?`` (``0``/``1``). ``SOURce:`` prefixes are
accepted (``SOUR:FREQ``). The state is a plain dataclass the simulated lab reads in-process.
"""

from __future__ import annotations

from dataclasses import dataclass

from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiInstrument

__all__ = ["LoState", "LoTwin"]

MIN_FREQUENCY_HZ = 1e6
MAX_FREQUENCY_HZ = 20e9
MIN_POWER_DBM = -120.0
MAX_POWER_DBM = 25.0


@dataclass
class LoState:
    """Settings of the source: frequency (Hz), power (dBm), output on/off."""

    frequency_hz: float = 1e9
    power_dbm: float = -10.0
    output: bool = False


class LoTwin(ScpiInstrument):
    """Simulated LO source; ``name`` is used in logs, ``serial`` goes into ``*IDN?``."""

    def __init__(self, *, name: str | None = None, serial: str = "0") -> None:
        super().__init__(manufacturer="QNeko", model="SG1", serial=serial, name=name)
        self.state = LoState()
        self.add_command("[SOURce]:FREQuency[:CW]", on_set=self._set_freq, on_query=self._get_freq)
        self.add_command("[SOURce]:POWer[:LEVel]", on_set=self._set_pow, on_query=self._get_pow)
        self.add_command("OUTPut[:STATe]", on_set=self._set_outp, on_query=self._get_outp)

    @property
    def frequency_hz(self) -> float:
        """Output frequency (Hz)."""
        return self.state.frequency_hz

    @property
    def power_dbm(self) -> float:
        """Output power (dBm)."""
        return self.state.power_dbm

    @property
    def output(self) -> bool:
        """Whether the RF output is on."""
        return self.state.output

    def reset(self) -> None:
        """``*RST``: power-on settings, output off."""
        self.state = LoState()

    def _set_freq(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.state.frequency_hz = command.float_arg(0, MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ)

    def _get_freq(self, command: ScpiCommand) -> str:
        return repr(self.state.frequency_hz)

    def _set_pow(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.state.power_dbm = command.float_arg(0, MIN_POWER_DBM, MAX_POWER_DBM)

    def _get_pow(self, command: ScpiCommand) -> str:
        return repr(self.state.power_dbm)

    def _set_outp(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self.state.output = command.bool_arg(0)

    def _get_outp(self, command: ScpiCommand) -> str:
        return "1" if self.state.output else "0"
