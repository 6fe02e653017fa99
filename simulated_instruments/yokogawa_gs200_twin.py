"""Simulated Yokogawa GS200 DC voltage/current source (flux bias).

Implements the SCPI that :class:`qcodes.instrument_drivers.yokogawa.YokogawaGS200` sends in
``__init__``, ``snapshot(update=True)`` and for its parameters: source function and range
(per function), output level (fixed range, or ``:SOUR:LEV:AUTO`` which picks the smallest
range that holds the level), output switch, protection limits, the optional monitor
(``/MON``: ``:SENS`` settings and ``:MEAS?``), BNC routing, line frequency, the status
registers (``*STB?``, ``:STAT:EVEN?``, ``:STAT:COND?``) and the program commands used by its
hardware ramp (``:PROG:EDIT:STAR``, ``:SOUR:LEV`` while editing, ``:PROG:EDIT:END``,
``:PROG:RUN``, which jumps to the last step and sets the end-of-program bit).

A level above 120 % of the range (32 V on the 30 V range), a range that is not one of the
function's, or a change of function while the output is on go to the error queue.
``:MEAS?`` measures into a resistive load of :attr:`load_ohm`.
"""

from __future__ import annotations

from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiError, ScpiInstrument
from qneko_hw.simulated_instruments.scpi.settings import Setting, add_settings

__all__ = ["GS200_SETTINGS", "Gs200Twin"]

VOLTAGE_RANGES_V = (10e-3, 100e-3, 1.0, 10.0, 30.0)
CURRENT_RANGES_A = (1e-3, 10e-3, 100e-3, 200e-3)
_OVERRANGE = 1.2
_MAX_VOLTAGE_V = 32.0
_EAV = 4
_ESB = 32
_EOS = 1 << 6
_EOP = 1 << 7

GS200_SETTINGS: dict[str, Setting] = {
    "[SOURce]:PROTection:VOLTage": Setting("int", 30, 1, 30),
    "[SOURce]:PROTection:CURRent": Setting("float", 200e-3, 1e-3, 200e-3),
    "SENSe[:STATe]": Setting("bool", False),
    "SENSe:NPLC": Setting("int", 5, 1, 25),
    "SENSe:DELay": Setting("int", 0, 0, 999999),
    "SENSe:TRIGger": Setting(
        "enum", "READ", choices=("READy", "TIMer", "COMMunicate", "IMMediate")
    ),
    "SENSe:INTerval": Setting("float", 0.5, 0.1, 3600.0),
    "SENSe:REMote": Setting("bool", False),
    "SENSe:GUARd": Setting("bool", False),
    "ROUTe:BNCO": Setting("enum", "TRIG", choices=("TRIGger", "OUTPut", "READy")),
    "ROUTe:BNCI": Setting("enum", "TRIG", choices=("TRIGger", "OUTPut")),
    "SYSTem:LFRequency": Setting("int", 50, readonly=True),
    "PROGram:INTerval": Setting("float", 1.0, 0.1, 3600.0),
    "PROGram:SLOPe": Setting("float", 0.0, 0.0, 3600.0),
    "PROGram:TRIGger": Setting("enum", "NORM", choices=("NORMal", "MEND")),
    "PROGram:REPeat": Setting("bool", True),
    "PROGram:COUNt": Setting("int", 1, 1, 10000),
    "PROGram:SAVE": Setting("string", ""),
    "PROGram:LOAD": Setting("string", ""),
}


class Gs200Twin(ScpiInstrument):
    """Simulated GS200; ``name`` is used in logs, ``serial`` goes into ``*IDN?``.

    Attributes:
        load_ohm: resistance of the load seen by ``:MEAS?`` (Ω).
    """

    def __init__(
        self, *, name: str | None = None, serial: str = "91W000001", load_ohm: float = 1e3
    ) -> None:
        super().__init__(
            manufacturer="YOKOGAWA", model="GS210", serial=serial, firmware="2.02", name=name
        )
        self.load_ohm = load_ohm
        self.settings = add_settings(self, GS200_SETTINGS)
        self.reset()
        self.add_command("*OPT", on_query=lambda c: "/MON")
        self.add_command("*STB", on_query=self._stb)
        self.add_command("STATus:EVENt", on_query=self._event)
        self.add_command("STATus:CONDition", on_query=lambda c: str(1 << 8))
        self.add_command("[SOURce]:FUNCtion", on_set=self._set_func, on_query=self._get_func)
        self.add_command("[SOURce]:RANGe", on_set=self._set_range, on_query=self._get_range)
        self.add_command("[SOURce]:LEVel", on_set=self._set_level, on_query=self._get_level)
        self.add_command("[SOURce]:LEVel:AUTO", on_set=self._set_level_auto)
        self.add_command("OUTPut[:STATe]", on_set=self._set_output, on_query=self._get_output)
        self.add_command("MEASure", on_query=self._measure)
        self.add_command("PROGram:EDIT:STARt", on_set=self._edit_start)
        self.add_command("PROGram:EDIT:END", on_set=self._edit_end)
        self.add_command("PROGram:RUN", on_set=self._run_program)
        for word in ("HOLD", "PAUSe", "CONTinue"):
            self.add_command(f"PROGram:{word}", on_set=lambda c: None)

    # -- state read by tests and the lab --------------------------------------------------

    @property
    def mode(self) -> str:
        """Source function, ``VOLT`` or ``CURR``."""
        return self._mode

    @property
    def level(self) -> float:
        """Output level setting (V or A, by :attr:`mode`)."""
        return self._level

    @property
    def output(self) -> bool:
        """Whether the output is on."""
        return self._output

    @property
    def voltage_v(self) -> float:
        """Voltage at the terminals (V): the level in ``VOLT`` mode with the output on."""
        if not self._output:
            return 0.0
        return self._level if self._mode == "VOLT" else self._level * self.load_ohm

    def reset(self) -> None:
        """``*RST``: voltage mode, 10 V range, level 0, output off."""
        with self.lock:
            self.settings.reset()
            self._mode = "VOLT"
            self._range = {"VOLT": 10.0, "CURR": 100e-3}
            self._level = 0.0
            self._output = False
            self._editing = False
            self._program: list[float] = []
            self._event_register = 0

    # -- handlers --------------------------------------------------------------------------

    def _stb(self, command: ScpiCommand) -> str:
        value = (_EAV if self.errors else 0) | (_ESB if self._esr else 0)
        return str(value)

    def _event(self, command: ScpiCommand) -> str:
        value, self._event_register = self._event_register, 0
        return str(value)

    def _set_func(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        raw = command.text(0).upper()
        mode = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR"}.get(raw)
        if mode is None:
            raise ScpiError(-224, "Illegal parameter value", f"SOUR:FUNC {raw}")
        if self._output and mode != self._mode:
            raise ScpiError.conflict("cannot change the function while the output is on")
        if mode != self._mode:
            self._mode = mode
            self._level = 0.0

    def _get_func(self, command: ScpiCommand) -> str:
        return self._mode

    def _ranges(self) -> tuple[float, ...]:
        return VOLTAGE_RANGES_V if self._mode == "VOLT" else CURRENT_RANGES_A

    def _set_range(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        value = command.float_arg(0, 0.0, 1e3)
        for candidate in self._ranges():
            if abs(value - candidate) <= 1e-9 * candidate:
                self._range[self._mode] = candidate
                self._level = min(max(self._level, -self._max(candidate)), self._max(candidate))
                return
        raise ScpiError.out_of_range(f"SOUR:RANG {value}")

    def _get_range(self, command: ScpiCommand) -> str:
        return repr(self._range[self._mode])

    def _max(self, rng: float) -> float:
        return min(rng * _OVERRANGE, _MAX_VOLTAGE_V) if self._mode == "VOLT" else rng * _OVERRANGE

    def _level_arg(self, command: ScpiCommand) -> float:
        command.expect_args(1)
        return command.float_arg(0, -1e3, 1e3)

    def _set_level(self, command: ScpiCommand) -> None:
        value = self._level_arg(command)
        if abs(value) > self._max(self._range[self._mode]):
            raise ScpiError.out_of_range(f"SOUR:LEV {value} above the range")
        if self._editing:
            self._program.append(value)
        else:
            self._level = value

    def _set_level_auto(self, command: ScpiCommand) -> None:
        value = self._level_arg(command)
        for candidate in self._ranges():
            if abs(value) <= candidate:
                self._range[self._mode] = candidate
                self._level = value
                return
        raise ScpiError.out_of_range(f"SOUR:LEV:AUTO {value}")

    def _get_level(self, command: ScpiCommand) -> str:
        return f"{self._level:.6E}"

    def _set_output(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        self._output = command.bool_arg(0)

    def _get_output(self, command: ScpiCommand) -> str:
        return "1" if self._output else "0"

    def _measure(self, command: ScpiCommand) -> str:
        if not self._output:
            return f"{0.0:.6E}"
        if self._mode == "VOLT":
            return f"{self._level / self.load_ohm:.6E}"
        return f"{self._level * self.load_ohm:.6E}"

    def _edit_start(self, command: ScpiCommand) -> None:
        self._editing = True
        self._program = []

    def _edit_end(self, command: ScpiCommand) -> None:
        self._editing = False

    def _run_program(self, command: ScpiCommand) -> None:
        if self._editing:
            raise ScpiError.conflict("program still being edited")
        if self._program:
            self._level = self._program[-1]
        self._event_register |= _EOS | _EOP
