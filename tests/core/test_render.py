"""Renderer: mixer pre-distortion undoes the modelled mixer; device traits pad and limit."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest

from qneko_hw import instruments
from qneko_hw.compiler import compile_experiment, render_step
from qneko_hw.compiler import traits as traits_module
from qneko_hw.compiler.traits import AwgTraits
from qneko_hw.config import MixerConfig, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.errors import CompilationError
from qneko_hw.experiment import Experiment, Measure, Play
from qneko_hw.pulses import Drag, sample_pulse
from qneko_hw.simulated_instruments.lab import mix

CHIP = random_chip(1, 3)
STATION = default_station({"f0": ["q0"]})
STATE = design_state(CHIP, STATION)
PULSE = Drag(amplitude_v=0.3, duration_s=40e-9, sigma_s=10e-9, beta_s=1e-9, phase_rad=0.4)
EXP = Experiment(name="x", instructions=(Play(channel="q0.drive", pulse=PULSE),))


def patch_awg_traits(monkeypatch: pytest.MonkeyPatch, traits: AwgTraits) -> None:
    """Give the qneko_awg4 entry of the model table other traits for one test."""
    spec = dataclasses.replace(instruments.model("qneko_awg4"), awg=traits)
    table = MappingProxyType({**instruments.MODELS, "qneko_awg4": spec})
    monkeypatch.setattr(instruments, "MODELS", table)
    assert traits_module.awg_traits("qneko_awg4") is traits


def test_mixer_correction_undoes_the_mixer() -> None:
    imperfect = MixerConfig(
        gain_imbalance=0.08, phase_error_rad=0.12, offset_i_v=0.01, offset_q_v=-0.02
    )
    drive = STATION.drive["q0"]
    station = STATION.model_copy(
        update={
            "drive": {
                "q0": drive.replace(mixer=imperfect.model_dump(), correction=imperfect.model_dump())
            }
        }
    )
    prog = compile_experiment(EXP, station, STATE).awgs[0]
    out = render_step(prog, 0)
    chip = mix(out[drive.channel_i], out[drive.channel_q], imperfect, 0.0)
    t = (np.arange(40) + 0.5) * 1e-9
    ideal = sample_pulse(PULSE, 40, 1e-9) * np.exp(-2j * np.pi * drive.if_frequency_hz * t)
    assert np.allclose(chip, ideal, atol=1e-12)
    uncorrected = render_step(compile_experiment(EXP, STATION, STATE).awgs[0], 0)
    bad = mix(uncorrected[drive.channel_i], uncorrected[drive.channel_q], imperfect, 0.0)
    assert np.abs(bad - ideal).max() > 0.01


def test_steps_are_padded_to_granularity_and_minimum_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = traits_module.awg_traits("qneko_awg4")
    coarse = dataclasses.replace(base, granularity_samples=16, min_length_samples=64)
    patch_awg_traits(monkeypatch, coarse)
    prog = compile_experiment(EXP, STATION, STATE).awgs[0]
    assert prog.step_samples.tolist() == [64]
    exp = Experiment(
        name="m",
        instructions=(Play(channel="q0.drive", pulse=PULSE), Measure(qubit="q0", name="m")),
    )
    for p in compile_experiment(exp, STATION, STATE).awgs:
        assert int(p.step_samples[0]) % 16 == 0 and int(p.step_samples[0]) >= 2040


def test_sequencer_entries_and_memory_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    base = traits_module.awg_traits("qneko_awg4")
    patch_awg_traits(monkeypatch, dataclasses.replace(base, memory_samples=30))
    with pytest.raises(CompilationError, match="waveform memory") as err:
        compile_experiment(EXP, STATION, STATE)
    assert err.value.instrument == STATION.drive["q0"].awg and err.value.limit == 30


def _expanded(waves: dict[str, np.ndarray], play: str | tuple[tuple[str, int], ...]) -> np.ndarray:
    entries = ((play, 1),) if isinstance(play, str) else play
    return np.concatenate([np.tile(waves[name], n) for name, n in entries])


@pytest.mark.parametrize("offsets", [False, True])
def test_a_long_delay_is_one_block_repeated_and_plays_the_same_samples(offsets: bool) -> None:
    # a T1-like sweep to 1 ms: on an AWG whose sequencer repeats entries the idle is one
    # block played many times (of zeros, or of the mixer's DC-offset correction); expanded,
    # the entries are the rendered samples
    from qneko_hw.compiler import render_awg
    from qneko_hw.experiment import Delay, Sweep

    exp = Experiment(
        name="t1",
        instructions=(
            Play(channel="q0.drive", pulse=PULSE),
            Delay(channel="q0.drive", duration_s=0.0),
            Measure(qubit="q0", name="m"),
        ),
        sweep=Sweep(parameter="duration_s", instruction=1, values=(0.0, 10e-6, 1e-3)),
    )
    station = STATION
    if offsets:
        imperfect = MixerConfig(
            gain_imbalance=0.05, phase_error_rad=0.1, offset_i_v=0.01, offset_q_v=-0.02
        )
        drive = STATION.drive["q0"]
        fixed = drive.replace(mixer=imperfect.model_dump(), correction=imperfect.model_dump())
        station = STATION.model_copy(update={"drive": {"q0": fixed}})
    compiled = compile_experiment(exp, station, STATE)
    total = 0
    for prog in compiled.awgs:
        assert prog.repeat_entries  # the QNeko AWG4 repeats entries
        waves, seq = render_awg(prog)
        total += sum(w.size for w in waves.values())
        for step in range(prog.steps):
            dense = render_step(prog, step)
            for ch, play in seq[step].items():
                expected = np.clip(dense[ch] / prog.amplitudes_v[ch], -1, 1).astype(np.float32)
                np.testing.assert_array_equal(_expanded(waves, play), expected)
        assert any(not isinstance(p, str) and max(n for _, n in p) > 3000 for p in seq[2].values())
        dense_waves, dense_seq = render_awg(dataclasses.replace(prog, repeat_entries=False))
        assert all(isinstance(p, str) for step in dense_seq for p in step.values())
        assert sum(w.size for w in dense_waves.values()) > 1_000_000
    # the pulses, the readout and a few blocks; sample by sample it is > 2 million
    assert total < 40_000
