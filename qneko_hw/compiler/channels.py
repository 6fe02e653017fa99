"""Channel resolution: where a logical channel is wired, and the limits that apply there."""

from __future__ import annotations

from dataclasses import dataclass

from qneko_hw.compiler.traits import awg_traits
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import DriveLine, FluxLine, MixerConfig, ReadoutLine, Station
from qneko_hw.errors import CompilationError

__all__ = ["ChannelInfo", "awg_limit", "lo_frequency_hz", "resolve_channel"]


@dataclass(frozen=True)
class ChannelInfo:
    """Where a logical channel goes: line key, AWG, channels, LO, limit, kind."""

    line: str
    kind: str  # drive | readout | flux
    qubit: str
    awg: str
    channel_i: int
    channel_q: int | None
    lo: str | None
    limit_v: float
    correction: MixerConfig


def resolve_channel(name: str, station: Station, state: CalibrationState) -> ChannelInfo:
    """Where logical channel ``name`` (``<qubit>.drive|readout|flux|acquire``) is wired."""
    qubit, _, role = name.rpartition(".")
    if role not in ("drive", "readout", "flux", "acquire") or not qubit:
        raise CompilationError(
            f"unknown logical channel '{name}' (expected <qubit>.drive, .readout or .flux)",
            channel=name,
        )
    if qubit not in state.qubits:
        known = ", ".join(sorted(state.qubits))
        raise CompilationError(f"unknown qubit '{qubit}' (known: {known})", channel=name)
    line: DriveLine | ReadoutLine | FluxLine
    if role == "drive":
        if qubit not in station.drive:
            raise CompilationError(f"qubit {qubit} has no drive line in the station", channel=name)
        line, key = station.drive[qubit], f"drive:{qubit}"
    elif role == "flux":
        if qubit not in station.flux:
            raise CompilationError(f"qubit {qubit} has no flux line in the station", channel=name)
        fl = station.flux[qubit]
        return ChannelInfo(
            f"flux:{qubit}",
            "flux",
            qubit,
            fl.awg,
            fl.channel,
            None,
            None,
            awg_limit(station, fl.awg),
            MixerConfig(),
        )
    else:
        feed = station.feedline_of(qubit)
        if feed is None:
            raise CompilationError(
                f"qubit {qubit} is on no readout line of the station", channel=name
            )
        line, key = station.readout[feed], f"readout:{feed}"
    assert not isinstance(line, FluxLine)
    return ChannelInfo(
        key,
        "drive" if role == "drive" else "readout",
        qubit,
        line.awg,
        line.channel_i,
        line.channel_q,
        line.lo,
        awg_limit(station, line.awg),
        line.correction,
    )


def awg_limit(station: Station, awg: str) -> float:
    """Peak output (V) allowed on ``awg``: its model's maximum or the station's limit."""
    cfg = station.instruments[awg]
    limit = awg_traits(cfg.model).max_amplitude_v
    if cfg.limits.max_amplitude_v is not None:
        limit = min(limit, cfg.limits.max_amplitude_v)
    return limit


def lo_frequency_hz(station: Station, state: CalibrationState, info: ChannelInfo) -> float:
    """LO frequency (Hz) of the line of ``info``: ``base − if_frequency_hz`` of the line.

    A drive line's base is its qubit's calibrated drive frequency. A readout line's base
    is the middle of the calibrated readout frequencies of *all* the qubits on the line
    (the station's ``qubits``), whichever of them an experiment measures: a multiplexed
    readout keeps its IFs small, and a qubit's readout IF does not depend on which other
    qubits are measured with it. A flux line has none (0).
    """
    if info.kind == "flux":
        return 0.0
    if info.kind == "drive":
        line = station.drive[info.qubit]
        return state.qubit(info.qubit).drive_frequency_hz.value - line.if_frequency_hz
    ro = station.readout[info.line.removeprefix("readout:")]
    on_line = [q for q in ro.qubits if q in state.qubits] or [info.qubit]
    freqs = [state.qubit(q).readout_frequency_hz.value for q in on_line]
    return 0.5 * (min(freqs) + max(freqs)) - ro.if_frequency_hz
