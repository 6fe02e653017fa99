"""The QNeko-HW error family.

Every error the library raises on purpose derives from :class:`QnekoError`. Each subclass
carries structured fields (which file, field, qubit, instrument, limit, value) so that a
caller can act on them, and a message that names them for a human.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CalibrationError",
    "CompilationError",
    "ConfigError",
    "InstrumentError",
    "QnekoError",
    "SafetyLimitError",
    "StoreError",
]


class QnekoError(Exception):
    """Root of every error QNeko-HW raises on purpose."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        return self.message


class ConfigError(QnekoError):
    """A configuration input (YAML file, model field) is invalid.

    Attributes:
        source: the file (or other origin) of the configuration, if known.
        field: dotted path of the offending field, e.g. ``qubits.q0.t1``.
    """

    def __init__(
        self, message: str, *, source: str | None = None, field: str | None = None
    ) -> None:
        where = ", ".join(p for p in (source, f"field '{field}'" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message, source=source, field=field)
        self.source = source
        self.field = field


class CompilationError(QnekoError):
    """An experiment cannot be compiled into instrument programs.

    Attributes:
        instrument: instrument name, channel: channel, instruction: the offending
        instruction, limit / value: the violated limit and the value found.
    """

    def __init__(
        self,
        message: str,
        *,
        instrument: str | None = None,
        channel: str | None = None,
        instruction: str | None = None,
        limit: Any = None,
        value: Any = None,
    ) -> None:
        super().__init__(
            message,
            instrument=instrument,
            channel=channel,
            instruction=instruction,
            limit=limit,
            value=value,
        )
        self.instrument = instrument
        self.channel = channel
        self.instruction = instruction
        self.limit = limit
        self.value = value


class InstrumentError(QnekoError):
    """An instrument did not do what it was asked.

    Attributes:
        instrument: instrument name, command: the command sent, reply: the raw reply.
    """

    def __init__(
        self,
        message: str,
        *,
        instrument: str | None = None,
        command: str | None = None,
        reply: str | None = None,
    ) -> None:
        super().__init__(message, instrument=instrument, command=command, reply=reply)
        self.instrument = instrument
        self.command = command
        self.reply = reply


class SafetyLimitError(InstrumentError):
    """A value would exceed a safety limit of the station; nothing was written.

    Attributes:
        parameter: which quantity (``amplitude``, ``power_dbm``, ``voltage``, ...),
        limit: the limit, value: the value that was refused.
    """

    def __init__(
        self,
        message: str,
        *,
        instrument: str | None = None,
        parameter: str | None = None,
        limit: float | None = None,
        value: float | None = None,
    ) -> None:
        super().__init__(message, instrument=instrument)
        self.fields.update(
            {
                k: v
                for k, v in {"parameter": parameter, "limit": limit, "value": value}.items()
                if v is not None
            }
        )
        self.parameter = parameter
        self.limit = limit
        self.value = value


class StoreError(QnekoError):
    """The calibration store cannot do what was asked (missing or corrupt file, no such version).

    Attributes:
        path: the store's database file, version: the version concerned, if any.
    """

    def __init__(
        self, message: str, *, path: str | None = None, version: int | None = None
    ) -> None:
        where = ", ".join(
            p for p in (path, f"version {version}" if version is not None else None) if p
        )
        super().__init__(f"{where}: {message}" if where else message, path=path, version=version)
        self.path = path
        self.version = version


class CalibrationError(QnekoError):
    """A calibration routine could not produce a trustworthy result.

    Attributes:
        qubit: the qubit, routine: the routine name, reason: why (fit failed, bad data...).
    """

    def __init__(
        self,
        message: str,
        *,
        qubit: str | None = None,
        routine: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, qubit=qubit, routine=routine, reason=reason)
        self.qubit = qubit
        self.routine = routine
        self.reason = reason
