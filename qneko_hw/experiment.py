"""Experiments: pulse-level instructions on logical channels, plus one optional sweep.

Logical channels are named ``<qubit>.drive`` and ``<qubit>.readout``. Times are seconds; the
compiler puts them on the integer sample grid and rejects durations that are not on it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from qneko_hw.config.base import Frozen
from qneko_hw.pulses import Pulse

__all__ = ["Acquire", "Barrier", "Delay", "Experiment", "Instruction", "Measure", "Play", "Sweep"]

Seconds = Annotated[float, Field(ge=0, le=1.0, allow_inf_nan=False)]


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


Instruction = Annotated[Play | Delay | Barrier | Acquire | Measure, Field(discriminator="kind")]


class Sweep(Frozen):
    """Values stepped by the instruments, one step per value.

    ``parameter="amplitude_v"`` replaces the amplitude (V) of the pulse of instruction
    ``instruction``; ``parameter="frequency_hz"`` sets the frequency (Hz) of logical channel
    ``channel`` (its IF changes, the LO stays).
    """

    parameter: Literal["amplitude_v", "frequency_hz"]
    values: tuple[Annotated[float, Field(allow_inf_nan=False)], ...] = Field(min_length=1)
    instruction: int | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Sweep:
        if self.parameter == "amplitude_v" and self.instruction is None:
            raise ValueError("an amplitude sweep needs 'instruction' (index of a play)")
        if self.parameter == "frequency_hz" and self.channel is None:
            raise ValueError("a frequency sweep needs 'channel'")
        return self


class Experiment(Frozen):
    """A sequence of instructions repeated ``shots`` times per sweep step."""

    name: str
    instructions: tuple[Instruction, ...] = Field(min_length=1)
    sweep: Sweep | None = None
    shots: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    repetition_time_s: Annotated[float, Field(gt=0, le=10.0)] = 200e-6

    @property
    def steps(self) -> int:
        """Number of sweep steps (1 without a sweep)."""
        return len(self.sweep.values) if self.sweep else 1
