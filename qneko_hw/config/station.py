"""Station description: instruments, their safety limits, and the wiring to the chip.

Addresses are VISA resource strings (``TCPIP::host::port::SOCKET``); the address ``sim``
means "started by the simulated lab", which replaces it with a loopback address.

A station file may name a QCoDeS Station YAML (``qcodes_station:``, a path relative to the
station file) whose ``instruments:`` (``{name: {type: <QCoDeS driver class>, address: ...}}``)
become ours: the driver class gives the model (the ``qcodes_types`` of the models in
:data:`qneko_hw.instruments.MODELS`), ``address`` the address. Our own ``instruments:``
entries are merged over them field by field (ours win, so a station file can add limits to,
or re-address, an instrument of the QCoDeS file).

Which model an instrument is, which role it fills and where it may be wired come from its
entry in :data:`qneko_hw.instruments.MODELS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from qneko_hw.config.base import Frozen, load_yaml_model
from qneko_hw.errors import ConfigError
from qneko_hw.instruments import QCODES_TYPES
from qneko_hw.instruments import model as instrument_model

__all__ = [
    "BiasLine",
    "DriveLine",
    "FluxLine",
    "InstrumentConfig",
    "Limits",
    "MixerConfig",
    "ReadoutLine",
    "Station",
    "default_station",
    "qcodes_station_instruments",
]

Channel = Annotated[int, Field(ge=1, le=64)]


def _model_of_type(type_name: object) -> str | None:
    """Our model of a QCoDeS driver class ``module.Class`` (the module must be in ``qcodes``
    or ``qneko_hw``), by the class name."""
    if not isinstance(type_name, str) or "." not in type_name:
        return None
    module, _, cls = type_name.rpartition(".")
    if module.split(".")[0] not in ("qcodes", "qneko_hw"):
        return None
    return QCODES_TYPES.get(cls)


def qcodes_station_instruments(path: str | Path) -> dict[str, dict[str, Any]]:
    """Our instrument entries (``model``, and ``address`` if given) read from the
    ``instruments:`` of the QCoDeS Station YAML ``path``.

    Raises:
        ConfigError: the file cannot be read or is not a QCoDeS station file, or an
            instrument has a driver class with no model of ours (naming file and instrument).
    """
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read QCoDeS station file: {exc.strerror}", source=str(p)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"QCoDeS station file is not valid YAML: {exc}", source=str(p)) from None
    instruments = data.get("instruments") if isinstance(data, dict) else None
    if not isinstance(instruments, dict):
        raise ConfigError(
            "QCoDeS station file has no 'instruments' mapping", source=str(p), field="instruments"
        )
    out: dict[str, dict[str, Any]] = {}
    for name, spec in instruments.items():
        type_name = spec.get("type") if isinstance(spec, dict) else None
        model = _model_of_type(type_name)
        if model is None:
            known = ", ".join(sorted(QCODES_TYPES))
            raise ConfigError(
                f"instrument '{name}' has driver type {type_name!r}, which maps to no model "
                f"of ours (known driver classes in qcodes/qneko_hw: {known})",
                source=str(p),
                field=f"instruments.{name}.type",
            )
        entry: dict[str, Any] = {"model": model}
        if isinstance(spec, dict) and spec.get("address") is not None:
            entry["address"] = str(spec["address"])
        out[str(name)] = entry
    return out


def _merge_qcodes_station(data: dict[str, Any], station_path: Path) -> dict[str, Any]:
    ref = data.get("qcodes_station")
    if ref is None:
        return data
    if not isinstance(ref, str):
        raise ConfigError(
            f"qcodes_station must be a path, got {ref!r}",
            source=str(station_path),
            field="qcodes_station",
        )
    merged: dict[str, Any] = dict(qcodes_station_instruments(station_path.parent / ref))
    ours = data.get("instruments")
    if ours is None:
        ours = {}
    if not isinstance(ours, dict):
        return data  # validation reports it
    for name, entry in ours.items():
        base = merged.get(name)
        merged[name] = {**base, **entry} if isinstance(entry, dict) and base else entry
    return {**data, "instruments": merged}


class Limits(Frozen):
    """Safety limits of one instrument; ``None`` (``null`` in YAML) means no limit.

    A limit is a finite number: ``.nan`` would compare false with every value and switch
    the check off, and ``.inf`` would mean "no limit" without saying so; both are refused
    when the station loads.

    Attributes:
        max_amplitude_v: peak output voltage of an AWG channel (V).
        max_power_dbm: output power of a source (dBm).
        max_voltage_v: output voltage of a DC source (V).
        max_ramp_rate_v_per_s: ramp rate of a DC source (V/s).
    """

    max_amplitude_v: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    max_power_dbm: Annotated[float, Field(allow_inf_nan=False)] | None = None
    max_voltage_v: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    max_ramp_rate_v_per_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class InstrumentConfig(Frozen):
    """One instrument: its model (a name of :data:`qneko_hw.instruments.MODELS`), VISA
    address and safety limits."""

    model: str
    address: str = "sim"
    limits: Limits = Limits()

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        try:
            instrument_model(name)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return name


class MixerConfig(Frozen):
    """IQ-mixer imperfections of a line (applied physically by the simulated lab).

    Attributes:
        gain_imbalance: relative gain of Q versus I (0 = balanced).
        phase_error_rad: quadrature phase error (rad).
        offset_i_v, offset_q_v: DC offsets at the mixer inputs (V), leaking the LO.
    """

    gain_imbalance: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    phase_error_rad: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    offset_i_v: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    offset_q_v: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0


class FluxLine(Frozen):
    """Flux wiring of one qubit: one AWG channel, baseband, through attenuation."""

    awg: str
    channel: Channel
    attenuation_db: Annotated[float, Field(ge=0, le=120)] = 0.0


class BiasLine(Frozen):
    """DC flux bias of one qubit: a DC source through a bias resistor (current = V / R)."""

    source: str
    resistance_ohm: Annotated[float, Field(gt=0)] = 1000.0


class DriveLine(Frozen):
    """Drive wiring of one qubit: AWG I/Q channels → IQ mixer with an LO → attenuators."""

    awg: str
    channel_i: Channel
    channel_q: Channel
    lo: str
    attenuation_db: Annotated[float, Field(ge=0, le=120)] = 20.0
    if_frequency_hz: Annotated[float, Field(ge=-400e6, le=400e6)] = 100e6
    lo_power_dbm: float = 15.0
    mixer: MixerConfig = MixerConfig()
    correction: MixerConfig = MixerConfig()


class ReadoutLine(Frozen):
    """Readout wiring of one feedline: AWG I/Q → mixer/LO → attenuation → chip → digitizer."""

    awg: str
    channel_i: Channel
    channel_q: Channel
    lo: str
    digitizer: str
    digitizer_channel: Channel = 1
    qubits: tuple[str, ...] = ()
    attenuation_db: Annotated[float, Field(ge=0, le=120)] = 20.0
    if_frequency_hz: Annotated[float, Field(ge=-400e6, le=400e6)] = 50e6
    lo_power_dbm: float = 15.0
    mixer: MixerConfig = MixerConfig()
    correction: MixerConfig = MixerConfig()


class Station(Frozen):
    """Instruments by name, drive lines by qubit name, readout lines by feedline name."""

    name: str = "station"
    seed: int | None = None
    qcodes_station: str | None = None
    instruments: dict[str, InstrumentConfig]
    drive: dict[str, DriveLine] = Field(default_factory=dict)
    readout: dict[str, ReadoutLine] = Field(default_factory=dict)
    flux: dict[str, FluxLine] = Field(default_factory=dict)
    bias: dict[str, BiasLine] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _links(self) -> Station:
        kinds = {name: cfg.model for name, cfg in self.instruments.items()}

        def need(owner: str, field: str, name: str, model: str) -> None:
            if name not in kinds:
                raise ValueError(f"{owner}.{field} names instrument '{name}', which is not defined")
            if instrument_model(kinds[name]).wiring != model:
                raise ValueError(
                    f"{owner}.{field} names '{name}' of model {kinds[name]}, expected {model}"
                )

        used: dict[tuple[str, int], str] = {}
        lines: list[tuple[str, DriveLine | ReadoutLine]] = [
            *((f"drive.{q}", d) for q, d in self.drive.items()),
            *((f"readout.{f}", r) for f, r in self.readout.items()),
        ]

        def claim(owner: str, awg: str, ch: int) -> None:
            if (awg, ch) in used:
                raise ValueError(
                    f"{owner} uses {awg} channel {ch}, already used by {used[awg, ch]}"
                )
            used[awg, ch] = owner

        for owner, line in lines:
            need(owner, "awg", line.awg, "qneko_awg4")
            need(owner, "lo", line.lo, "qneko_sg1")
            for ch in (line.channel_i, line.channel_q):
                claim(owner, line.awg, ch)
        for q, fl in self.flux.items():
            need(f"flux.{q}", "awg", fl.awg, "qneko_awg4")
            claim(f"flux.{q}", fl.awg, fl.channel)
        for q, bl in self.bias.items():
            need(f"bias.{q}", "source", bl.source, "yokogawa_gs200")
        seen: dict[str, str] = {}
        for feed, ro in self.readout.items():
            need(f"readout.{feed}", "digitizer", ro.digitizer, "qneko_dig2")
            for q in ro.qubits:
                if q in seen:
                    raise ValueError(f"qubit {q} is on feedlines {seen[q]} and {feed}")
                seen[q] = feed
        return self

    @classmethod
    def load(cls, path: str | Path) -> Station:
        """Load a station YAML file; errors name the file, line and field. The instruments
        of the QCoDeS station file named by ``qcodes_station`` (relative to ``path``) are
        read and merged under ours (see the module docstring)."""
        p = Path(path)
        return load_yaml_model(cls, p, prepare=lambda data: _merge_qcodes_station(data, p))

    def feedline_of(self, qubit: str) -> str | None:
        """The feedline that reads ``qubit`` out, or ``None``."""
        return next((f for f, ro in self.readout.items() if qubit in ro.qubits), None)

    def with_addresses(self, addresses: dict[str, str]) -> Station:
        """A copy whose instruments have the given addresses (by instrument name)."""
        instruments = {
            name: cfg.replace(address=addresses.get(name, cfg.address))
            for name, cfg in self.instruments.items()
        }
        return self.model_copy(update={"instruments": instruments})


def default_station(feedlines: dict[str, list[str]], seed: int = 1234) -> Station:
    """A simulated station for feedlines given as ``{feedline: [qubit, ...]}``.

    One SG1 LO per qubit, 4-channel AWGs holding two qubits' I/Q pairs each, one readout
    AWG channel pair, LO and digitizer channel per feedline.
    """
    instruments: dict[str, InstrumentConfig] = {}
    drive: dict[str, DriveLine] = {}
    readout: dict[str, ReadoutLine] = {}
    qubits = [q for qs in feedlines.values() for q in qs]
    awg_limits = Limits(max_amplitude_v=1.0)
    lo_limits = Limits(max_power_dbm=20.0)
    for i, q in enumerate(qubits):
        awg = f"awg_drive{i // 2}"
        instruments.setdefault(awg, InstrumentConfig(model="qneko_awg4", limits=awg_limits))
        instruments[f"lo_{q}"] = InstrumentConfig(model="qneko_sg1", limits=lo_limits)
        base = 1 + 2 * (i % 2)
        drive[q] = DriveLine(awg=awg, channel_i=base, channel_q=base + 1, lo=f"lo_{q}")
    instruments["dig"] = InstrumentConfig(model="qneko_dig2")
    for j, (feed, on_line) in enumerate(feedlines.items()):
        awg = f"awg_readout{j // 2}"
        instruments.setdefault(awg, InstrumentConfig(model="qneko_awg4", limits=awg_limits))
        instruments[f"lo_{feed}"] = InstrumentConfig(model="qneko_sg1", limits=lo_limits)
        base = 1 + 2 * (j % 2)
        readout[feed] = ReadoutLine(
            awg=awg,
            channel_i=base,
            channel_q=base + 1,
            lo=f"lo_{feed}",
            digitizer="dig",
            digitizer_channel=1 + j % 2,
            qubits=tuple(on_line),
        )
    return Station(
        name="simulated", seed=seed, instruments=instruments, drive=drive, readout=readout
    )
