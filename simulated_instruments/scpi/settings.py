"""Plain instrument settings as data: a table of SCPI patterns with a type, range and default.

Most parameters of a real instrument are "set a value, read it back". A twin declares them
as :class:`Setting` rows and :func:`add_settings` registers one set and one query handler
per row on a :class:`ScpiInstrument`; values are kept per numeric suffix (``OUTP2:STAT`` and
``OUTP3:STAT`` are separate). Commands with behaviour (uploads, run control) stay handlers.

Kinds:

- ``float`` / ``int``: a number in ``[low, high]``; the reply is ``repr(float)`` / ``str(int)``.
- ``bool``: ``ON|OFF|1|0``; the reply is ``1`` or ``0``.
- ``enum``: one of ``choices``, SCPI mnemonics (upper case = short form), matched in short
  or long form case-insensitively; the reply is the short form.
- ``string``: a quoted string; the reply is quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiError, ScpiInstrument

__all__ = ["Setting", "SettingStore", "add_settings"]

SettingValue = float | int | bool | str


@dataclass(frozen=True)
class Setting:
    """One settable value: kind, default, range (numbers) or choices (enums)."""

    kind: Literal["float", "int", "bool", "enum", "string"]
    default: SettingValue
    low: float = float("-inf")
    high: float = float("inf")
    choices: tuple[str, ...] = ()
    readonly: bool = False


def _short(mnemonic: str) -> str:
    if mnemonic[:1].isdigit():  # a value such as "10MHz", not a mnemonic
        return mnemonic
    short = "".join(ch for ch in mnemonic if not ch.islower())
    return short if short else mnemonic.upper()


class SettingStore:
    """Values of the settings of one instrument, by (pattern, suffixes)."""

    def __init__(self, table: Mapping[str, Setting]) -> None:
        self.table = dict(table)
        self.values: dict[tuple[str, tuple[int, ...]], SettingValue] = {}

    def get(self, pattern: str, *suffixes: int) -> SettingValue:
        """Value of ``pattern`` at ``suffixes`` (the default if never set)."""
        key = (pattern, suffixes or self._default_suffixes(pattern))
        return self.values.get(key, self.table[pattern].default)

    def put(self, pattern: str, value: SettingValue, *suffixes: int) -> None:
        """Set a value in-process (no range check)."""
        self.values[(pattern, suffixes or self._default_suffixes(pattern))] = value

    def reset(self) -> None:
        """Back to the defaults."""
        self.values.clear()

    @staticmethod
    def _default_suffixes(pattern: str) -> tuple[int, ...]:
        return tuple(1 for _ in range(pattern.count("#")))

    def parse(self, pattern: str, command: ScpiCommand) -> SettingValue:
        """The value of a set ``command`` for ``pattern``, checked (ScpiError otherwise)."""
        setting = self.table[pattern]
        command.expect_args(1)
        if setting.kind == "float":
            return command.float_arg(0, setting.low, setting.high)
        if setting.kind == "int":
            return command.int_arg(0, int(setting.low), int(setting.high))
        if setting.kind == "bool":
            return command.bool_arg(0)
        if setting.kind == "string":
            return command.string_arg(0)
        raw = command.text(0).strip().upper()
        for choice in setting.choices:
            if raw in (_short(choice), choice.upper()):
                return _short(choice)
        raise ScpiError(-224, "Illegal parameter value", f"{command.header} {raw}")

    def format(self, pattern: str, value: SettingValue) -> str:
        """The reply text of ``value``."""
        kind = self.table[pattern].kind
        if kind == "float":
            return repr(float(value))
        if kind == "int":
            return str(int(value))
        if kind == "bool":
            return "1" if value else "0"
        if kind == "string":
            return '"' + str(value).replace('"', '""') + '"'
        return str(value)


def add_settings(instrument: ScpiInstrument, table: Mapping[str, Setting]) -> SettingStore:
    """Register every row of ``table`` on ``instrument``; the store holding the values."""
    store = SettingStore(table)
    for pattern, setting in table.items():

        def on_set(command: ScpiCommand, pattern: str = pattern) -> None:
            store.values[(pattern, command.suffixes)] = store.parse(pattern, command)

        def on_query(command: ScpiCommand, pattern: str = pattern) -> str:
            value = store.values.get((pattern, command.suffixes), store.table[pattern].default)
            return store.format(pattern, value)

        instrument.add_command(
            pattern, on_set=None if setting.readonly else on_set, on_query=on_query
        )
    return store
