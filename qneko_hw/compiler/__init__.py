"""The pulse compiler: experiments in, per-instrument programs out. No I/O, no qcodes."""

from __future__ import annotations

from qneko_hw.compiler.circuits import compile_circuit, load_circuit
from qneko_hw.compiler.compile import compile_experiment
from qneko_hw.compiler.programs import (
    AwgProgram,
    CompiledExperiment,
    DcProgram,
    Demodulator,
    DigitizerProgram,
    LoProgram,
)
from qneko_hw.compiler.render import render_awg, render_step

__all__ = [
    "AwgProgram",
    "CompiledExperiment",
    "DcProgram",
    "Demodulator",
    "DigitizerProgram",
    "LoProgram",
    "compile_circuit",
    "compile_experiment",
    "load_circuit",
    "render_awg",
    "render_step",
]
