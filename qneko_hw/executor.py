"""Run compiled programs on instruments through their role interfaces.

The executor knows roles, not models: any object with the methods of
:mod:`qneko_hw.roles` (LO source, AWG, digitizer) will do. It configures every
instrument, arms the digitizers, starts the AWGs, triggers drive AWGs before readout AWGs,
and fetches the shots.

Whatever ends an execution early (an instrument's error, a refused safety limit, Ctrl-C),
the instruments of the program are left safe before the error goes on: every AWG stopped
with its channels' outputs off, every LO's RF output off (:func:`safe_state`). DC sources
keep their voltage: a flux bias stepped to zero is not safer than one left where it is.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw.compiler.programs import CompiledExperiment
from qneko_hw.compiler.render import render_awg
from qneko_hw.errors import CalibrationError, InstrumentError
from qneko_hw.roles import AWG, DCSource, Digitizer, LOSource

__all__ = ["ExecutionResult", "execute", "safe_state"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionResult:
    """Shots of one experiment: acquisition name → complex IQ array (steps, shots) in volts."""

    shots: dict[str, NDArray[np.complex64]]
    sweep_parameter: str | None
    sweep_values: NDArray[np.float64]
    program_digest: str
    duration_s: float

    def step_range(self, start: int, stop: int) -> ExecutionResult:
        """The result of sweep steps ``start`` … ``stop − 1`` (e.g. one block of several
        programs' stacked steps)."""
        return ExecutionResult(
            shots={a: s[start:stop] for a, s in self.shots.items()},
            sweep_parameter=self.sweep_parameter,
            sweep_values=self.sweep_values[start:stop],
            program_digest=self.program_digest,
            duration_s=self.duration_s,
        )

    def acquisition(self, name: str, routine: str | None = None) -> NDArray[np.complex64]:
        """The shots of acquisition ``name``; a missing one raises :class:`CalibrationError`."""
        try:
            return self.shots[name]
        except KeyError:
            known = ", ".join(sorted(self.shots)) or "none"
            raise CalibrationError(
                f"no shots for {name} in the result (acquisitions: {known})",
                qubit=name,
                routine=routine,
            ) from None


def _get(instruments: Mapping[str, Any], name: str) -> Any:
    try:
        return instruments[name]
    except KeyError:
        known = ", ".join(sorted(instruments))
        raise InstrumentError(
            f"program needs instrument '{name}', not connected (have: {known})", instrument=name
        ) from None


def safe_state(compiled: CompiledExperiment, instruments: Mapping[str, Any]) -> list[str]:
    """Stop every AWG of ``compiled`` and switch its channels' outputs off; switch every
    LO's RF output off. Each step is tried whatever the others do (an instrument that
    cannot be reached must not keep the others playing); returns what failed, logged."""
    failed: list[str] = []

    def attempt(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # keep going: the other instruments must be made safe
            log.error("safe state: %s failed: %s", what, exc)
            failed.append(f"{what}: {exc}")

    for awg_prog in compiled.awgs:
        awg = instruments.get(awg_prog.instrument)
        if awg is None:
            continue
        attempt(f"{awg_prog.instrument} stop", awg.stop)
        for ch in awg_prog.amplitudes_v:
            attempt(
                f"{awg_prog.instrument} channel {ch} off",
                functools.partial(awg.set_channel, ch, 0.0, 0.0, False),
            )
    for lo_prog in compiled.los:
        lo = instruments.get(lo_prog.instrument)
        if lo is not None:
            attempt(f"{lo_prog.instrument} RF off", functools.partial(lo.set_output, False))
    return failed


def execute(
    compiled: CompiledExperiment,
    instruments: Mapping[str, Any],
    progress: Callable[[str], None] | None = None,
) -> ExecutionResult:
    """Upload, arm, run and fetch ``compiled`` on ``instruments`` (name → role object).

    On any error or interrupt the program's instruments are left in :func:`safe_state`
    and the error is raised again.
    """
    try:
        return _execute(compiled, instruments, progress)
    except BaseException:
        safe_state(compiled, instruments)
        raise


def _execute(
    compiled: CompiledExperiment,
    instruments: Mapping[str, Any],
    progress: Callable[[str], None] | None,
) -> ExecutionResult:
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    for dc_prog in compiled.dcs:
        dc: DCSource = _get(instruments, dc_prog.instrument)
        dc.set_output(dc_prog.output)
        dc.set_voltage(dc_prog.voltage_v)
    for lo_prog in compiled.los:
        lo: LOSource = _get(instruments, lo_prog.instrument)
        lo.set_frequency(lo_prog.frequency_hz)
        lo.set_power(lo_prog.power_dbm)
        lo.set_output(lo_prog.output)
    for awg_prog in compiled.awgs:
        awg: AWG = _get(instruments, awg_prog.instrument)
        say(f"upload {awg_prog.instrument}")
        waveforms, sequence = render_awg(awg_prog)
        awg.stop()
        for ch, amp in awg_prog.amplitudes_v.items():
            awg.set_channel(ch, amp, 0.0, True)
        awg.upload_waveforms(waveforms)
        awg.set_sequence(sequence)
        awg.set_shots(awg_prog.shots, awg_prog.repetition_time_s)
    for dig_prog in compiled.digitizers:
        dig: Digitizer = _get(instruments, dig_prog.instrument)
        dig.configure(dig_prog.shots, dig_prog.steps, list(dig_prog.demodulators))
        dig.arm()
    ordered = sorted(compiled.awgs, key=lambda p: p.readout)
    for awg_prog in ordered:
        _get(instruments, awg_prog.instrument).run()
    say("run")
    for awg_prog in ordered:
        _get(instruments, awg_prog.instrument).trigger()
    shots: dict[str, NDArray[np.complex64]] = {}
    for dig_prog in compiled.digitizers:
        dig = _get(instruments, dig_prog.instrument)
        data = np.asarray(dig.fetch())
        expected = (dig_prog.steps, dig_prog.shots, len(dig_prog.demodulators))
        if data.shape != expected:
            raise InstrumentError(
                f"{dig_prog.instrument} returned data of shape {data.shape}, expected {expected}",
                instrument=dig_prog.instrument,
                command="fetch",
            )
        for k, name in enumerate(dig_prog.names):
            shots[name] = np.ascontiguousarray(data[:, :, k], dtype=np.complex64)
    for awg_prog in ordered:
        _get(instruments, awg_prog.instrument).stop()
    return ExecutionResult(
        shots=shots,
        sweep_parameter=compiled.sweep_parameter,
        sweep_values=compiled.sweep_values,
        program_digest=compiled.digest,
        duration_s=time.perf_counter() - t0,
    )
