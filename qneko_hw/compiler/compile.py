"""Compile a pulse-level :class:`~qneko_hw.experiment.Experiment` into per-instrument programs.

Passes: lower measurements via the calibration state → schedule on the integer sample grid
(ASAP or ALAP per logical channel; barriers align) → one entry per played pulse with the
frame's phase and IF → check device traits and safety limits → deduplicate waveform shapes by
the sha256 of their samples. A sweep runs the instruction list once per step inside this one
call; amplitude and phase sweeps share the sampled shapes.

Modulation convention (shared with the simulated lab): a line with LO frequency f_LO plays
I + iQ = envelope·e^{−i2π·f_IF·t} with f_IF = f − f_LO, which the mixer turns into a tone at
f = f_LO + f_IF; t is the centre of each sample from the start of the sequence step. The
digitizer removes the same IF with e^{+i2π·f_IF·t}.
"""

from __future__ import annotations

import numpy as np

from qneko_hw.compiler.builder import Builder
from qneko_hw.compiler.programs import CompiledExperiment
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.errors import CompilationError
from qneko_hw.experiment import (
    Acquire,
    Barrier,
    Delay,
    Experiment,
    Measure,
    Play,
    SetFrequency,
    ShiftFrequency,
    ShiftPhase,
    Sweep,
)
from qneko_hw.pulses import Constant, Drag

__all__ = ["compile_experiment"]


def _swept(ins: object, index: int, sweep: Sweep | None, value: float) -> object:
    """The instruction with the swept parameter replaced at this step."""
    if sweep is None:
        return ins
    p = sweep.parameter
    if sweep.channel is not None:
        if (
            p == "beta_s"
            and isinstance(ins, Play)
            and ins.channel == sweep.channel
            and isinstance(ins.pulse, Drag)
        ):
            return ins.model_copy(update={"pulse": ins.pulse.model_copy(update={p: value})})
        if p == "duration_s" and isinstance(ins, Delay) and ins.channel == sweep.channel:
            return ins.model_copy(update={"duration_s": value})
        return ins
    if sweep.instruction != index:
        return ins
    if isinstance(ins, Play) and (
        p in ("amplitude_v", "duration_s", "phase_rad")
        or (p == "beta_s" and isinstance(ins.pulse, Drag))
    ):
        return ins.model_copy(update={"pulse": ins.pulse.model_copy(update={p: value})})
    if isinstance(ins, Delay) and p == "duration_s":
        return ins.model_copy(update={"duration_s": value})
    if isinstance(ins, ShiftPhase) and p == "phase_rad":
        return ins.model_copy(update={"phase_rad": value})
    if isinstance(ins, SetFrequency | ShiftFrequency) and p == "frequency_hz":
        return ins.model_copy(update={"frequency_hz": value})
    raise CompilationError(
        f"sweep of {p} targets instruction {index} ({getattr(ins, 'kind', '?')}), "
        "which has no such parameter",
        instruction=str(index),
    )


def compile_experiment(
    exp: Experiment, station: Station, state: CalibrationState
) -> CompiledExperiment:
    """Compile ``exp`` for ``station`` with the calibration ``state``; no I/O.

    Raises:
        CompilationError: naming the instrument, channel, instruction and limit violated.
    """
    sweep = exp.sweep
    sweeps = exp.all_sweeps
    for sw in sweeps:
        if sw.instruction is not None and not 0 <= sw.instruction < len(exp.instructions):
            raise CompilationError(
                f"sweep targets instruction {sw.instruction}, "
                f"the experiment has {len(exp.instructions)}",
                instruction=str(sw.instruction),
            )
    b = Builder(
        exp.name,
        station,
        state,
        steps=exp.steps,
        shots=exp.shots,
        repetition_time_s=exp.repetition_time_s,
        scheduling=exp.scheduling,
    )
    values = sweep.values if sweep else (0.0,)
    for step in range(len(values)):
        if step:
            b.begin_step(step)
        for sw in sweeps:
            if sw.channel is not None and sw.parameter == "frequency_hz":
                b.set_frequency(sw.channel, sw.values[step])
        for index, raw in enumerate(exp.instructions):
            ins: object = raw
            for sw in sweeps:
                ins = _swept(ins, index, sw, sw.values[step])
            what = f"instruction {index} ({raw.kind})"
            if isinstance(ins, Play):
                wf, n = b.shape_index(ins.pulse, what)
                b.play(ins.channel, wf, n, ins.pulse.amplitude_v, ins.pulse.phase_rad, what=what)
            elif isinstance(ins, Delay):
                b.channel(ins.channel)
                b.delay(ins.channel, b.samples(ins.duration_s, what))
            elif isinstance(ins, Barrier):
                b.barrier(ins.channels)
            elif isinstance(ins, ShiftPhase):
                b.channel(ins.channel)
                b.shift_phase(ins.channel, ins.phase_rad)
            elif isinstance(ins, SetFrequency):
                b.set_frequency(ins.channel, ins.frequency_hz)
            elif isinstance(ins, ShiftFrequency):
                b.channel(ins.channel)
                b.shift_frequency(ins.channel, ins.frequency_hz)
            elif isinstance(ins, Acquire):
                b.channel(f"{ins.qubit}.readout")
                b.acquire(ins.qubit, ins.name, b.samples(ins.duration_s, what))
            elif isinstance(ins, Measure):
                b.channel(f"{ins.qubit}.readout")
                cal = state.qubit(ins.qubit)
                pulse = Constant(
                    amplitude_v=cal.readout_amplitude_v.value,
                    duration_s=cal.readout_duration_s.value,
                )
                b.measure(ins.qubit, ins.name, b.shape_index(pulse, what), pulse.amplitude_v)
    return b.finish(sweep.parameter if sweep else None, np.asarray(values, dtype=np.float64))
