"""Pulse-level experiments: instructions on logical channels, plus one optional sweep (and
sweeps stepped together with it, e.g. one per qubit of a multiplexed experiment).

Logical channels are ``<qubit>.drive``, ``<qubit>.readout`` and ``<qubit>.flux``; each has a
frame (frequency, phase) that ``shift_phase``, ``set_frequency`` and ``shift_frequency``
change for every later pulse on it. Times are seconds; the compiler puts them on the integer
sample grid and rejects durations that are not on it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from qneko_hw.config.base import Frozen
from qneko_hw.pulses import Pulse

__all__ = [
    "Acquire",
    "Barrier",
    "Delay",
    "Experiment",
    "Instruction",
    "Measure",
    "Play",
    "SetFrequency",
    "ShiftFrequency",
    "ShiftPhase",
    "Sweep",
]

Seconds = Annotated[float, Field(ge=0, le=1.0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Play(Frozen):
    """Play ``pulse`` on logical channel ``channel`` (e.g. ``q0.drive``)."""

    kind: Literal["play"] = "play"
    channel: str
    pulse: Pulse


class Delay(Frozen):
    """Idle ``duration_s`` (s) on ``channel``."""

    kind: Literal["delay"] = "delay"
    channel: str
    duration_s: Seconds


class Barrier(Frozen):
    """Align the clocks of ``channels`` (all channels of the experiment when empty)."""

    kind: Literal["barrier"] = "barrier"
    channels: tuple[str, ...] = ()


class Acquire(Frozen):
    """Integrate the readout of ``qubit`` for ``duration_s`` (s) into acquisition ``name``."""

    kind: Literal["acquire"] = "acquire"
    qubit: str
    name: str
    duration_s: Annotated[float, Field(gt=0, le=1e-3, allow_inf_nan=False)]


class Measure(Frozen):
    """Measure ``qubit`` with its calibrated readout pulse, into acquisition ``name``."""

    kind: Literal["measure"] = "measure"
    qubit: str
    name: str


class ShiftPhase(Frozen):
    """Add ``phase_rad`` (rad) to the frame of ``channel``."""

    kind: Literal["shift_phase"] = "shift_phase"
    channel: str
    phase_rad: Finite


class SetFrequency(Frozen):
    """Set the frame frequency of ``channel`` to ``frequency_hz`` (Hz)."""

    kind: Literal["set_frequency"] = "set_frequency"
    channel: str
    frequency_hz: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ShiftFrequency(Frozen):
    """Add ``frequency_hz`` (Hz) to the frame frequency of ``channel``."""

    kind: Literal["shift_frequency"] = "shift_frequency"
    channel: str
    frequency_hz: Finite


Instruction = Annotated[
    Play | Delay | Barrier | Acquire | Measure | ShiftPhase | SetFrequency | ShiftFrequency,
    Field(discriminator="kind"),
]

SweepParameter = Literal["amplitude_v", "duration_s", "frequency_hz", "phase_rad", "beta_s"]
_CHANNEL_PARAMETERS = ("frequency_hz", "beta_s", "duration_s")


class Sweep(Frozen):
    """Values stepped by the instruments, one sweep step per value.

    With ``instruction``: the parameter of that instruction — a play's pulse amplitude (V),
    duration (s) or phase (rad), or the DRAG coefficient ``beta_s`` (s) of a played
    :class:`~qneko_hw.pulses.Drag`; a delay's duration (s); a shift_phase's phase (rad); a
    set/shift_frequency's frequency (Hz). With ``channel``: ``frequency_hz``, the frame
    frequency (Hz) of that logical channel from the start; ``beta_s``, the DRAG
    coefficient (s) of every Drag pulse played on that channel; or ``duration_s``, the
    duration (s) of every delay on that channel (an echo's two equal halves).
    """

    parameter: SweepParameter
    values: tuple[Finite, ...] = Field(min_length=1)
    instruction: int | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Sweep:
        if (self.instruction is None) == (self.channel is None):
            raise ValueError("a sweep targets exactly one of 'instruction' or 'channel'")
        if self.channel is not None and self.parameter not in _CHANNEL_PARAMETERS:
            raise ValueError(f"a channel sweep can only sweep one of {_CHANNEL_PARAMETERS}")
        return self


class Experiment(Frozen):
    """A sequence of instructions repeated ``shots`` times per sweep step.

    ``parallel_sweeps`` step together with ``sweep`` (same number of values; step k sets
    value k of each): a multiplexed experiment sweeps each qubit's parameter at once. The
    result's sweep axis is ``sweep``'s.
    """

    name: str
    instructions: tuple[Instruction, ...] = Field(min_length=1)
    sweep: Sweep | None = None
    shots: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    repetition_time_s: Annotated[float, Field(gt=0, le=10.0)] = 200e-6
    scheduling: Literal["asap", "alap"] = "asap"

    parallel_sweeps: tuple[Sweep, ...] = ()

    @model_validator(mode="after")
    def _parallel(self) -> Experiment:
        if self.parallel_sweeps and self.sweep is None:
            raise ValueError("parallel_sweeps step together with 'sweep', which is missing")
        for k, extra in enumerate(self.parallel_sweeps):
            if self.sweep is not None and len(extra.values) != len(self.sweep.values):
                raise ValueError(
                    f"parallel_sweeps[{k}] has {len(extra.values)} values, "
                    f"the sweep has {len(self.sweep.values)}"
                )
        return self

    @property
    def steps(self) -> int:
        """Number of sweep steps (1 without a sweep)."""
        return len(self.sweep.values) if self.sweep else 1

    @property
    def all_sweeps(self) -> tuple[Sweep, ...]:
        """``sweep`` followed by ``parallel_sweeps`` (empty without a sweep)."""
        return (self.sweep, *self.parallel_sweeps) if self.sweep else ()
