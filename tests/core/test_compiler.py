"""The minimal compiler: schedule, modulation, sweeps, limits, determinism."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qneko_hw.compiler import compile_experiment, render_awg, render_step
from qneko_hw.config import Limits, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.errors import CompilationError
from qneko_hw.experiment import Barrier, Delay, Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Drag, Gaussian, Square, sample_pulse

CHIP = random_chip(2, 11)
STATION = default_station({"f0": ["q0", "q1"]})
STATE = design_state(CHIP, STATION)


def gauss(amp: float = 0.1) -> Gaussian:
    return Gaussian(amplitude_v=amp, duration_s=40e-9, sigma_s=10e-9)


def rabi(values: tuple[float, ...] = (0.0, 0.1, 0.2)) -> Experiment:
    return Experiment(
        name="rabi",
        instructions=(Play(channel="q0.drive", pulse=gauss()), Measure(qubit="q0", name="m")),
        sweep=Sweep(parameter="amplitude_v", instruction=0, values=values),
        shots=10,
    )


def awg_signal(compiled, awg: str, step: int, ch_i: int, ch_q: int) -> np.ndarray:
    prog = next(a for a in compiled.awgs if a.instrument == awg)
    out = render_step(prog, step)
    return out[ch_i] + 1j * out[ch_q]


def test_rabi_sweep_compiles_once_with_scaled_steps() -> None:
    c = compile_experiment(rabi(), STATION, STATE)
    line = STATION.drive["q0"]
    s1 = awg_signal(c, line.awg, 1, line.channel_i, line.channel_q)
    s2 = awg_signal(c, line.awg, 2, line.channel_i, line.channel_q)
    assert np.allclose(s2[:40], 2 * s1[:40], atol=1e-6)
    assert np.allclose(awg_signal(c, line.awg, 0, line.channel_i, line.channel_q), 0)
    # the drive ends before the readout starts (measure aligns after the drive)
    dig = c.digitizers[0]
    assert dig.demodulators[0].start_samples == 40
    assert dig.steps == 3 and dig.names == ("m",)
    assert c.sweep_values.tolist() == [0.0, 0.1, 0.2]


def test_if_modulation_and_lo_frequency() -> None:
    c = compile_experiment(rabi(), STATION, STATE)
    line = STATION.drive["q0"]
    lo = next(p for p in c.los if p.instrument == line.lo)
    assert lo.frequency_hz == pytest.approx(
        STATE.qubit("q0").drive_frequency_hz.value - line.if_frequency_hz
    )
    z = awg_signal(c, line.awg, 1, line.channel_i, line.channel_q)[:40]
    env = sample_pulse(gauss(0.1), 40, 1e-9)
    t = (np.arange(40) + 0.5) * 1e-9
    expected = env * np.exp(-2j * np.pi * line.if_frequency_hz * t)
    assert np.allclose(z, expected, atol=1e-6)


def test_waveforms_are_deduplicated() -> None:
    c = compile_experiment(rabi((0.1, 0.1, 0.1, 0.2)), STATION, STATE)
    awg = next(a for a in c.awgs if a.instrument == STATION.drive["q0"].awg)
    assert len(awg.waveforms) == 2  # one gate shape, one readout shape, for all steps
    waves, seq = render_awg(awg)
    # two distinct rendered steps x (I, Q), each a head with the pulse and the idle after
    # it as one block of zeros repeated, stored once for all
    assert len(waves) == 5
    assert seq[0] == seq[1] == seq[2] != seq[3]
    held = {name for step in seq for entries in step.values() for name, n in entries if n > 1}
    assert len(held) == 1 and not np.any(waves[held.pop()])


def test_output_is_deterministic_across_processes() -> None:
    here = Path(__file__).parent
    code = (
        f"import sys; sys.path.insert(0, {str(here)!r})\n"
        "from test_compiler import rabi, STATION, STATE\n"
        "from qneko_hw.compiler import compile_experiment, render_awg, render_step\n"
        "print(compile_experiment(rabi(), STATION, STATE).digest)\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert outs == {compile_experiment(rabi(), STATION, STATE).digest}


def test_barrier_and_delay_schedule() -> None:
    exp = Experiment(
        name="t",
        instructions=(
            Play(channel="q0.drive", pulse=gauss()),
            Delay(channel="q1.drive", duration_s=100e-9),
            Barrier(),
            Play(channel="q1.drive", pulse=Square(amplitude_v=0.05, duration_s=20e-9)),
            Measure(qubit="q1", name="m1"),
        ),
        shots=1,
    )
    c = compile_experiment(exp, STATION, STATE)
    line = STATION.drive["q1"]
    z = awg_signal(c, line.awg, 0, line.channel_i, line.channel_q)
    nz = np.flatnonzero(np.abs(z) > 1e-9)
    assert nz[0] == 100 and nz[-1] == 119
    assert c.digitizers[0].demodulators[0].start_samples == 120


def test_amplitude_over_limit_is_a_compilation_error() -> None:
    with pytest.raises(CompilationError) as err:
        compile_experiment(rabi((0.0, 1.2)), STATION, STATE)
    assert err.value.instrument == STATION.drive["q0"].awg
    assert err.value.limit == pytest.approx(1.0)
    limited = STATION.model_copy(
        update={
            "instruments": {
                **STATION.instruments,
                "awg_drive0": STATION.instruments["awg_drive0"].replace(
                    limits=Limits(max_amplitude_v=0.15)
                ),
            }
        }
    )
    with pytest.raises(CompilationError, match=r"exceeds the limit 0\.15 V of awg_drive0"):
        compile_experiment(rabi((0.0, 0.2)), limited, STATE)


@pytest.mark.parametrize(
    ("instructions", "match"),
    [
        (
            (Play(channel="q9.drive", pulse=Square(amplitude_v=0.1, duration_s=1e-8)),),
            "unknown qubit 'q9'",
        ),
        (
            (Play(channel="q0.flux", pulse=Square(amplitude_v=0.1, duration_s=1e-8)),),
            "has no flux line",
        ),
        (
            (Play(channel="q0.bogus", pulse=Square(amplitude_v=0.1, duration_s=1e-8)),),
            "unknown logical channel",
        ),
        (
            (Play(channel="q0.drive", pulse=Square(amplitude_v=0.1, duration_s=1.5e-9)),),
            "not a whole number of samples",
        ),
        ((Measure(qubit="q0", name="a"), Measure(qubit="q0", name="a")), "used twice"),
    ],
)
def test_bad_experiments(instructions: tuple, match: str) -> None:
    with pytest.raises(CompilationError, match=match):
        compile_experiment(Experiment(name="bad", instructions=instructions), STATION, STATE)


def test_nan_amplitude_rejected_by_model() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Square(amplitude_v=float("nan"), duration_s=1e-8)


def test_drag_quadrature_is_derivative() -> None:
    p = Drag(amplitude_v=1.0, duration_s=40e-9, sigma_s=10e-9, beta_s=2e-9)
    z = sample_pulse(p, 400, 1e-10)
    d = np.gradient(z.real, 1e-10)
    assert np.allclose(z.imag, 2e-9 * d, atol=2e-3)
