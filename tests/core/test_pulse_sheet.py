"""Pulse sheet: what it stores of a compiled program, its compressed time axis, the figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from qiskit import QuantumCircuit

from qneko_hw.compiler import compile_circuit, compile_experiment
from qneko_hw.compiler.programs import CompiledExperiment
from qneko_hw.compiler.render import render_line
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import FluxLine, InstrumentConfig, Limits, Station
from qneko_hw.errors import QnekoError
from qneko_hw.experiment import Delay, Experiment, Measure, Play, ShiftPhase, Sweep
from qneko_hw.plot.sheet import (
    SheetData,
    pulse_sheet,
    pulse_sheet_png,
    sheet_data,
    time_axis,
)
from qneko_hw.pulses import Constant, Gaussian

CHIP = random_chip(2, seed=7)
STATION = default_station({"f0": ["q0", "q1"]})
STATE = design_state(CHIP, STATION)
PI = Gaussian(amplitude_v=0.3, duration_s=40e-9, sigma_s=10e-9)


def compiled(
    *instructions: Any, sweep: Sweep | None = None, station: Station = STATION
) -> CompiledExperiment:
    exp = Experiment(name="sheet", instructions=instructions, sweep=sweep, shots=10)
    return compile_experiment(exp, station, STATE)


def t1_program() -> CompiledExperiment:
    return compiled(
        Play(channel="q0.drive", pulse=PI),
        Delay(channel="q0.drive", duration_s=500e-6),
        Measure(qubit="q0", name="m0"),
    )


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if isinstance(t, Text)]


def test_drive_samples_are_the_rendered_pulse_and_nothing_idle() -> None:
    prog = compiled(Play(channel="q0.drive", pulse=PI), Measure(qubit="q0", name="m0"))
    sheet = sheet_data(prog)
    awg = next(a for a in prog.awgs if any(ln.name == "drive:q0" for ln in a.lines))
    plan = next(ln for ln in awg.lines if ln.name == "drive:q0")
    z = render_line(awg, plan, 0)
    line = sheet.line("drive:q0")
    assert line.kind == "drive" and line.instrument == awg.instrument
    assert line.sample_rate_hz == awg.sample_rate_hz and line.decimation == 1
    assert len(line.segments) == 1
    seg = line.segments[0]
    assert (seg.start_samples, seg.length_samples, seg.samples.size) == (0, 40, 40)
    assert line.stored_samples == 40  # the padded step is longer; no idle zeros kept
    assert int(awg.step_samples[0]) > 40
    assert np.array_equal(seg.samples, z[:40])
    assert not z[40:].any()  # nothing played was left out
    peak = float(np.abs(seg.samples).max())
    assert peak == float(np.abs(z).max())
    unit_peak = float(np.abs(awg.waveforms[int(plan.entries["waveform"][0])]).max())
    assert peak == pytest.approx(0.3 * unit_peak, rel=1e-12)
    assert not seg.samples.flags.writeable


def test_windows_and_the_compressed_axis_of_a_long_delay() -> None:
    prog = t1_program()
    sheet = sheet_data(prog)
    dem = prog.digitizers[0].demodulators[0]
    (window,) = sheet.windows
    assert window.name == "m0" and window.instrument == prog.digitizers[0].instrument
    assert window.start_s == dem.start_samples / 1e9
    assert window.length_s == dem.length_samples / 1e9
    assert window.frequency_hz == dem.frequency_hz
    assert window.start_s == pytest.approx(500.04e-6)
    half_rate = sheet_data(prog, digitizer_rate_hz=2e9).windows[0]
    assert half_rate.start_s == dem.start_samples / 2e9

    axis = time_axis(sheet.active_s(), sheet.duration_s)
    assert sheet.duration_s > 500e-6
    assert axis.length_s < 5e-6  # far shorter than the 500 µs it shows
    assert axis.breaks == ((40e-9, window.start_s),)
    pulse_width = axis.at(40e-9) - axis.at(0.0)
    assert pulse_width == pytest.approx(40e-9, rel=1e-9)  # true scale
    assert pulse_width / axis.length_s > 0.01  # a visible share of the axis
    read = axis.at(window.start_s + window.length_s) - axis.at(window.start_s)
    assert read == pytest.approx(window.length_s, rel=1e-9)
    assert axis.true_time(axis.at(window.start_s + 1e-6)) == pytest.approx(window.start_s + 1e-6)
    assert "⋯ 500.0 µs ⋯" in texts(pulse_sheet(sheet))


def test_time_axis_keeps_short_gaps_and_compresses_long_ones() -> None:
    active = [(0.0, 40e-9), (100e-9, 140e-9), (20e-6, 22e-6), (21e-6, 21.5e-6)]
    axis = time_axis(active, 30e-6, max_gap_s=1e-6, gap_width_s=0.2e-6)
    assert axis.breaks == ((140e-9, 20e-6), (22e-6, 30e-6))
    assert axis.at(100e-9) - axis.at(40e-9) == pytest.approx(60e-9)  # short gap to scale
    assert axis.at(20e-6) - axis.at(140e-9) == pytest.approx(0.2e-6)
    assert axis.length_s == pytest.approx(140e-9 + 0.2e-6 + 2e-6 + 0.2e-6)
    x = axis(np.linspace(0.0, 30e-6, 1001))
    assert np.all(np.diff(x) >= 0)
    assert axis.pieces() == [(0.0, 140e-9), (20e-6, 22e-6)]
    plain = time_axis([(0.0, 1e-6)], 1.5e-6)  # nothing long enough to compress
    assert plain.breaks == () and plain.length_s == pytest.approx(1.5e-6)


def test_shift_phase_between_two_plays_is_marked() -> None:
    prog = compiled(
        Play(channel="q0.drive", pulse=PI),
        ShiftPhase(channel="q0.drive", phase_rad=0.5),
        Play(channel="q0.drive", pulse=PI),
        Measure(qubit="q0", name="m0"),
    )
    sheet = sheet_data(prog)
    line = sheet.line("drive:q0")
    assert line.entry_starts_s.tolist() == [0.0, 40e-9]
    assert line.entry_phase_rad.tolist() == [0.0, 0.5]
    (change,) = line.frame_changes()
    assert change.time_s == 40e-9
    assert change.delta_phase_rad == pytest.approx(0.5)
    assert change.label == "Δφ=+0.500"
    assert sheet.line("readout:f0").frame_changes() == ()
    fig = pulse_sheet(prog)
    drive_ax = next(ax for ax in fig.axes if ax.get_label() == "drive:q0")
    assert any("Δφ=+0.500" in t.get_text() for t in drive_ax.texts)


def test_rz_between_two_sx_is_a_frame_change() -> None:
    qc = QuantumCircuit(1, 1)
    qc.sx(0)
    qc.rz(0.7, 0)
    qc.sx(0)
    qc.measure(0, 0)
    prog = compile_circuit(qc, STATION, STATE, shots=10)
    changes = sheet_data(prog).line("drive:q0").frame_changes()
    assert len(changes) == 1
    # rz(θ) is virtual: the frame turns by −θ for the second sx, which starts at 40 ns
    assert changes[0].time_s == pytest.approx(40e-9)
    assert changes[0].delta_phase_rad == pytest.approx(-0.7)


def test_two_qubits_give_two_drive_lines() -> None:
    prog = compiled(
        Play(channel="q0.drive", pulse=PI),
        Play(channel="q1.drive", pulse=PI.model_copy(update={"amplitude_v": 0.2})),
        Measure(qubit="q0", name="m0"),
        Measure(qubit="q1", name="m1"),
    )
    sheet = sheet_data(prog)
    drives = [ln for ln in sheet.lines if ln.kind == "drive"]
    assert [ln.name for ln in drives] == ["drive:q0", "drive:q1"]
    peaks = [float(np.abs(ln.segments[0].samples).max()) for ln in drives]
    assert peaks[1] == pytest.approx(peaks[0] * 2 / 3)
    assert {w.name for w in sheet.windows} == {"m0", "m1"}
    # the two readout tones of one feedline do not mark each other as frame changes
    assert sheet.line("readout:f0").frame_changes() == ()
    labels = {ax.get_label() for ax in pulse_sheet(sheet).axes}
    assert {"drive:q0", "drive:q1", "readout:f0", "acquire"} <= labels


def test_a_flux_line_plays_its_real_part_only() -> None:
    station = STATION.model_copy(
        update={
            "flux": {"q1": FluxLine(awg="awg_flux", channel=1)},
            "instruments": {
                **STATION.instruments,
                "awg_flux": InstrumentConfig(
                    model="qneko_awg4", limits=Limits(max_amplitude_v=1.0)
                ),
            },
        }
    )
    prog = compiled(
        Play(channel="q0.drive", pulse=PI),
        Play(channel="q1.flux", pulse=Constant(amplitude_v=0.25, duration_s=60e-9)),
        Measure(qubit="q0", name="m0"),
        station=station,
    )
    sheet = sheet_data(prog)
    flux = sheet.line("flux:q1")
    assert flux.kind == "flux" and flux.instrument == "awg_flux"
    assert np.allclose(flux.segments[0].samples, 0.25)
    fig = pulse_sheet(sheet)
    flux_ax = next(ax for ax in fig.axes if ax.get_label() == "flux:q1")
    drive_ax = next(ax for ax in fig.axes if ax.get_label() == "drive:q0")

    def traces(ax: Any) -> list[Line2D]:
        return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]

    assert len(traces(flux_ax)) == 1 and len(traces(drive_ax)) == 2  # V; I and Q
    assert np.nanmax(traces(flux_ax)[0].get_ydata()) == pytest.approx(0.25)


def test_hdf5_round_trip_is_exact(tmp_path: Path) -> None:
    sweep = Sweep(parameter="amplitude_v", instruction=0, values=(0.1, 0.2, 0.3))
    prog = compiled(
        Play(channel="q0.drive", pulse=PI),
        ShiftPhase(channel="q0.drive", phase_rad=-1.25),
        Play(channel="q0.drive", pulse=PI),
        Measure(qubit="q0", name="m0"),
        sweep=sweep,
    )
    exact = sheet_data(prog, 2)
    coarse = sheet_data(prog, 1, max_samples=500)
    assert exact.sweep_parameter == "amplitude_v" and exact.sweep_value == 0.3
    assert coarse.decimated and not exact.decimated
    with h5py.File(tmp_path / "sheet.h5", "w") as f:
        exact.to_hdf5(f.create_group("a"))
        coarse.to_hdf5(f.create_group("b"))
        f.create_group("empty")
    with h5py.File(tmp_path / "sheet.h5", "r") as f:
        back_a = SheetData.from_hdf5(f["a"])
        back_b = SheetData.from_hdf5(f["b"])
        assert len(f["a"]) == 3 * len(exact.lines)  # a few datasets, no subgroups
        with pytest.raises(QnekoError, match="no pulse sheet"):
            SheetData.from_hdf5(f["empty"])
    assert back_a == exact and back_b == coarse
    assert back_a != coarse
    assert back_a.frame_changes() == exact.frame_changes()
    assert back_a.line("drive:q0").segments[0].samples.dtype == np.complex128
    assert pulse_sheet_png(back_b)[:8] == b"\x89PNG\r\n\x1a\n"


def test_decimation_keeps_the_cap_and_bounds_the_samples() -> None:
    prog = t1_program()
    full = sheet_data(prog)
    small = sheet_data(prog, max_samples=300)
    assert full.stored_samples == 40 + 2000 and not full.decimated
    assert small.decimated and small.stored_samples <= 300
    for f_line, s_line in zip(full.lines, small.lines, strict=True):
        d = s_line.decimation
        assert d > 1
        for f_seg, s_seg in zip(f_line.segments, s_line.segments, strict=True):
            assert s_seg.length_samples == f_seg.length_samples
            z = f_seg.samples
            env = s_seg.samples.reshape(-1, 2)
            assert env.shape[0] == -(-z.size // d)
            for j, (lo, hi) in enumerate(env):
                chunk = z[j * d : (j + 1) * d]
                assert lo.real == chunk.real.min() and hi.real == chunk.real.max()
                assert lo.imag == chunk.imag.min() and hi.imag == chunk.imag.max()


def test_png_and_axis_labels() -> None:
    prog = t1_program()
    png = pulse_sheet_png(prog)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    fig = pulse_sheet(prog)
    names = [ln.name for ln in sheet_data(prog).lines]
    assert [ax.get_label() for ax in fig.axes] == [*names, "acquire"]
    for ax, name in zip(fig.axes, names, strict=False):
        assert name in ax.get_ylabel() and "V" in ax.get_ylabel()
    assert fig.axes[-1].get_xlabel().startswith("time (µs)")
    assert "sheet · step 0 of 1" in texts(fig)
    # tick labels are true times: the readout's start after the break reads 500.04 µs
    assert "500.04" in [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert any("lo_q0" in t for t in texts(fig))


def test_step_out_of_range_is_named() -> None:
    sweep = Sweep(parameter="amplitude_v", instruction=0, values=(0.1, 0.2, 0.3))
    prog = compiled(Play(channel="q0.drive", pulse=PI), Measure(qubit="q0", name="m0"), sweep=sweep)
    with pytest.raises(QnekoError, match="3 sweep steps") as err:
        sheet_data(prog, 3)
    assert "step 3" in str(err.value) and err.value.fields == {"step": 3, "steps": 3}
    with pytest.raises(QnekoError, match="step -1"):
        pulse_sheet(prog, -1)
    with pytest.raises(QnekoError, match="step 1"):
        pulse_sheet(sheet_data(prog, 2), 1)
    assert pulse_sheet(sheet_data(prog, 2), 2).axes
