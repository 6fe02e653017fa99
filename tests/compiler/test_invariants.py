"""Invariants of the compiler under random pulse-level programs, and bad input (hypothesis).

A small reference model here schedules the same instruction list independently (ASAP on
integer clocks, barriers align, a measurement aligns the qubit's drive, readout and
acquisition channels, then plays the calibrated readout pulse and opens the window), tracks
frames, and samples every pulse directly with :func:`qneko_hw.pulses.sample_pulse`; the
compiled programs must agree with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from qiskit import QuantumCircuit
from qiskit.circuit import Gate

from qneko_hw.compiler import CompiledExperiment, compile_circuit, compile_experiment, render_step
from qneko_hw.compiler.builder import Builder
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.config.station import MixerConfig
from qneko_hw.errors import CompilationError, ConfigError, QnekoError
from qneko_hw.experiment import (
    Barrier,
    Delay,
    Experiment,
    Measure,
    Play,
    SetFrequency,
    ShiftPhase,
    Sweep,
)
from qneko_hw.pulses import (
    Arbitrary,
    Constant,
    Cosine,
    Drag,
    Gaussian,
    GaussianSquare,
    PulseModel,
    sample_pulse,
)
from qneko_hw.simulated_instruments.lab import mix

CHIP = random_chip(2, 11)
STATION = default_station({"f0": ["q0", "q1"]})
STATE = design_state(CHIP, STATION)
DT = 1e-9
TWO_PI = 2 * math.pi
QUBITS = ("q0", "q1")
ALL_CHANNELS = tuple(f"{q}.{r}" for q in QUBITS for r in ("drive", "readout", "acquire"))
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def wrap(x: float) -> float:
    """x mod 2π into (−π, π]."""
    return math.remainder(x, TWO_PI)


# -- random programs -------------------------------------------------------------------------
@st.composite
def pulses(draw: st.DrawFn) -> PulseModel:
    n = draw(st.integers(4, 64))
    d = n * DT
    amp = draw(st.floats(-0.3, 0.3, allow_nan=False))
    phase = draw(st.floats(-7.0, 7.0, allow_nan=False))
    kind = draw(st.sampled_from(["constant", "gaussian", "drag", "gsquare", "cosine", "arb"]))
    sigma = draw(st.integers(2, 16)) * DT
    if kind == "constant":
        return Constant(amplitude_v=amp, duration_s=d, phase_rad=phase)
    if kind == "gaussian":
        return Gaussian(amplitude_v=amp, duration_s=d, sigma_s=sigma, phase_rad=phase)
    if kind == "drag":
        beta = draw(st.floats(-1.5e-9, 1.5e-9))
        return Drag(amplitude_v=amp, duration_s=d, sigma_s=sigma, beta_s=beta, phase_rad=phase)
    if kind == "gsquare":
        width = draw(st.integers(0, n)) * DT
        return GaussianSquare(
            amplitude_v=amp, duration_s=d, sigma_s=sigma, width_s=width, phase_rad=phase
        )
    if kind == "cosine":
        return Cosine(amplitude_v=amp, duration_s=d, phase_rad=phase)
    rs = draw(st.lists(st.floats(-0.7, 0.7), min_size=n, max_size=n))
    ims = draw(st.lists(st.floats(-0.7, 0.7), min_size=n, max_size=n))
    return Arbitrary(amplitude_v=amp, duration_s=d, samples=tuple(zip(rs, ims, strict=True)))


DRIVES = st.sampled_from(["q0.drive", "q1.drive"])


@st.composite
def programs(draw: st.DrawFn) -> tuple[Any, ...]:
    """Instruction lists; every channel is touched first so an empty barrier aligns all."""
    ops: list[Any] = [Delay(channel=c, duration_s=0.0) for c in ALL_CHANNELS]
    n_meas = 0
    for _ in range(draw(st.integers(1, 14))):
        what = draw(
            st.sampled_from(["play", "play", "play", "delay", "barrier", "phase", "freq", "meas"])
        )
        if what == "play":
            ops.append(Play(channel=draw(DRIVES), pulse=draw(pulses())))
        elif what == "delay":
            chan = draw(st.sampled_from(ALL_CHANNELS))
            ops.append(Delay(channel=chan, duration_s=draw(st.integers(0, 50)) * DT))
        elif what == "barrier":
            chans = draw(st.lists(st.sampled_from(ALL_CHANNELS), max_size=4, unique=True))
            ops.append(Barrier(channels=tuple(chans)))
        elif what == "phase":
            ops.append(ShiftPhase(channel=draw(DRIVES), phase_rad=draw(st.floats(-20.0, 20.0))))
        elif what == "freq":
            chan = draw(DRIVES)
            base = STATE.qubit(chan[:2]).drive_frequency_hz.value
            df = draw(st.integers(-50, 50)) * 1e6
            ops.append(SetFrequency(channel=chan, frequency_hz=base + df))
        else:
            ops.append(Measure(qubit=draw(st.sampled_from(QUBITS)), name=f"m{n_meas}"))
            n_meas += 1
    ops.append(Play(channel=draw(DRIVES), pulse=draw(pulses())))
    return tuple(ops)


# -- reference model -------------------------------------------------------------------------
@dataclass
class Expected:
    """One play as the reference model sees it."""

    line: str
    channel: str
    start: int
    pulse: PulseModel
    frame_phase: float
    if_hz: float

    @property
    def n(self) -> int:
        return round(self.pulse.duration_s / DT)


@dataclass
class Model:
    clock: dict[str, int] = field(default_factory=dict)
    phase: dict[str, float] = field(default_factory=dict)
    freq: dict[str, float] = field(default_factory=dict)
    lo: dict[str, float] = field(default_factory=dict)
    plays: list[Expected] = field(default_factory=list)
    windows: list[tuple[str, int, int]] = field(default_factory=list)

    def line_of(self, channel: str) -> str:
        q, _, role = channel.partition(".")
        return f"drive:{q}" if role == "drive" else "readout:f0"

    def _lo(self, channel: str) -> float:
        q, _, role = channel.partition(".")
        line = self.line_of(channel)
        if line not in self.lo:
            cal = STATE.qubit(q)
            if role == "drive":
                self.lo[line] = cal.drive_frequency_hz.value - STATION.drive[q].if_frequency_hz
            else:  # the middle of every readout frequency on the feedline, minus the IF
                ro = STATION.readout["f0"]
                fs = [STATE.qubit(x).readout_frequency_hz.value for x in ro.qubits]
                self.lo[line] = 0.5 * (min(fs) + max(fs)) - ro.if_frequency_hz
        return self.lo[line]

    def _freq(self, channel: str) -> float:
        q, _, role = channel.partition(".")
        cal = STATE.qubit(q)
        default = (
            cal.drive_frequency_hz.value if role == "drive" else cal.readout_frequency_hz.value
        )
        return self.freq.get(channel, default)

    def play(self, channel: str, pulse: PulseModel) -> None:
        start = self.clock.get(channel, 0)
        if_hz = self._freq(channel) - self._lo(channel)
        ph = self.phase.get(channel, 0.0)
        self.plays.append(Expected(self.line_of(channel), channel, start, pulse, ph, if_hz))
        self.clock[channel] = start + round(pulse.duration_s / DT)

    def barrier(self, chans: tuple[str, ...]) -> None:
        chans = chans or tuple(self.clock)
        t = max((self.clock.get(c, 0) for c in chans), default=0)
        for c in chans:
            self.clock[c] = t

    def run(self, ops: tuple[Any, ...]) -> int:
        for op in ops:
            if isinstance(op, Play):
                self.play(op.channel, op.pulse)
            elif isinstance(op, Delay):
                self.clock[op.channel] = self.clock.get(op.channel, 0) + round(op.duration_s / DT)
            elif isinstance(op, Barrier):
                self.barrier(op.channels)
            elif isinstance(op, ShiftPhase):
                self.phase[op.channel] = self.phase.get(op.channel, 0.0) + op.phase_rad
            elif isinstance(op, SetFrequency):
                self.freq[op.channel] = op.frequency_hz
            elif isinstance(op, Measure):
                q = op.qubit
                self.barrier((f"{q}.drive", f"{q}.readout", f"{q}.acquire"))
                cal = STATE.qubit(q)
                ro = Constant(
                    amplitude_v=cal.readout_amplitude_v.value,
                    duration_s=cal.readout_duration_s.value,
                )
                self.play(f"{q}.readout", ro)
                start = self.clock.get(f"{q}.acquire", 0)
                self.windows.append((q, start, ro_n := round(ro.duration_s / DT)))
                self.clock[f"{q}.acquire"] = start + ro_n
        return max(self.clock.values(), default=0)


def compiled_entries(c: CompiledExperiment) -> dict[str, tuple[Any, np.ndarray]]:
    """line name → (AwgProgram, entries)."""
    return {ln.name: (awg, ln.entries) for awg in c.awgs for ln in awg.lines}


def experiment(ops: tuple[Any, ...], scheduling: str = "asap") -> Experiment:
    return Experiment(name="random", instructions=ops, shots=1, scheduling=scheduling)


def direct_line(model: Model, line: str, total: int) -> np.ndarray:
    z = np.zeros(total, dtype=np.complex128)
    for p in model.plays:
        if p.line != line:
            continue
        t = (p.start + np.arange(p.n) + 0.5) * DT
        z[p.start : p.start + p.n] += (
            sample_pulse(p.pulse, p.n, DT)
            * np.exp(1j * p.frame_phase)
            * np.exp(-2j * math.pi * p.if_hz * t)
        )
    return z


def assert_no_overlap(entries: np.ndarray, lengths: list[int], what: str) -> None:
    """Entries of one logical channel (grouped by IF on a shared line) never overlap."""
    for f in np.unique(entries["frequency"]):
        sel = entries[entries["frequency"] == f]
        order = np.argsort(sel["start"], kind="stable")
        starts = sel["start"][order]
        ends = starts + np.array([lengths[w] for w in sel["waveform"][order]])
        assert np.all(starts[1:] >= ends[:-1]), (what, f, starts, ends)
        assert np.all(starts >= 0), (what, starts)


# -- invariants -------------------------------------------------------------------------------
@SETTINGS
@given(programs())
def test_schedule_phases_dedup_and_render_match_the_model(ops: tuple[Any, ...]) -> None:
    c = compile_experiment(experiment(ops), STATION, STATE)
    model = Model()
    total = model.run(ops)
    lines = compiled_entries(c)
    awg0 = c.awgs[0]
    lengths = [w.size for w in awg0.waveforms]

    # total duration = the latest channel end (clocks include trailing delays)
    for awg in c.awgs:
        assert awg.step_samples.tolist() == [total]
    for _, (_, entries) in lines.items():
        ends = entries["start"] + np.array([lengths[w] for w in entries["waveform"]])
        assert ends.max() <= total

    # every play is where the model puts it, with the model's frame phase and IF
    for line in {p.line for p in model.plays} | set(lines):
        _, entries = lines[line]
        exp = sorted((p for p in model.plays if p.line == line), key=lambda p: (p.start, p.if_hz))
        got = sorted(entries.tolist(), key=lambda e: (e[1], e[5]))
        assert len(got) == len(exp), line
        for e, p in zip(got, exp, strict=True):
            step, start, wf, amp, phase, f_if = e
            assert (step, start, lengths[wf]) == (0, p.start, p.n), (line, e, p)
            assert f_if == pytest.approx(p.if_hz, abs=1e-3)
            # phase bookkeeping: Σ shift_phase + the pulse's own phase, modulo 2π
            assert abs(wrap(phase - p.frame_phase - p.pulse.phase_rad)) < 1e-9, (line, e, p)
            assert amp == p.pulse.amplitude_v
        assert_no_overlap(entries, lengths, line)

    # acquisition windows
    dems = [d for dig in c.digitizers for d in dig.demodulators]
    assert sorted((d.start_samples, d.length_samples) for d in dems) == sorted(
        (s, n) for _, s, n in model.windows
    )

    # deduplication: no more shapes than plays + measures, none twice
    n_plays = sum(isinstance(op, Play) for op in ops)
    n_meas = sum(isinstance(op, Measure) for op in ops)
    for awg in c.awgs:
        assert len(awg.waveforms) <= n_plays + n_meas
        assert len(set(awg.waveform_names)) == len(awg.waveform_names)

    # render of the compiled program = direct sampling of every pulse
    for awg in c.awgs:
        out = render_step(awg, 0)
        for ln in awg.lines:
            assert ln.channel_q is not None
            z = out[ln.channel_i] + 1j * out[ln.channel_q]
            ref = direct_line(model, ln.name, total)
            assert z.shape == ref.shape
            assert np.max(np.abs(z - ref), initial=0.0) < 1e-9, ln.name


@SETTINGS
@given(programs())
def test_alap_has_the_asap_duration_and_no_overlap(ops: tuple[Any, ...]) -> None:
    asap = compile_experiment(experiment(ops, "asap"), STATION, STATE)
    alap = compile_experiment(experiment(ops, "alap"), STATION, STATE)
    total = int(asap.awgs[0].step_samples[0])
    for a, b in zip(asap.awgs, alap.awgs, strict=True):
        assert a.step_samples.tolist() == b.step_samples.tolist()
        lengths = [w.size for w in b.waveforms]
        for la, lb in zip(a.lines, b.lines, strict=True):
            assert la.name == lb.name and la.entries.size == lb.entries.size
            ends = lb.entries["start"] + np.array([lengths[w] for w in lb.entries["waveform"]])
            assert np.all(ends <= total), lb.name
            assert_no_overlap(lb.entries, lengths, lb.name)
            # same pulses, same frames: only the start times may move
            key = ("waveform", "amplitude", "phase", "frequency")
            sa = sorted(la.entries[list(key)].tolist())
            sb = sorted(lb.entries[list(key)].tolist())
            assert sa == sb, lb.name
    assert alap.frame_phases == asap.frame_phases


def test_alap_pushes_a_short_branch_to_the_end() -> None:
    g = Gaussian(amplitude_v=0.1, duration_s=40e-9, sigma_s=10e-9)
    ops = (
        Play(channel="q0.drive", pulse=g),
        Play(channel="q0.drive", pulse=g),
        Play(channel="q1.drive", pulse=g),
        Barrier(channels=("q0.drive", "q1.drive")),
    )
    c = compile_experiment(experiment(ops, "alap"), STATION, STATE)
    lines = compiled_entries(c)
    assert lines["drive:q1"][1]["start"].tolist() == [40]
    assert lines["drive:q0"][1]["start"].tolist() == [0, 40]


def test_mixer_correction_inverts_the_labs_mixer() -> None:
    """render (pre-distorted for the line's mixer) → the lab's mix = the ideal envelope."""
    imperfect = MixerConfig(
        gain_imbalance=0.07, phase_error_rad=-0.12, offset_i_v=0.013, offset_q_v=-0.021
    )
    drive = STATION.drive["q0"].replace(mixer=imperfect, correction=imperfect)
    station = STATION.replace(drive={**STATION.drive, "q0": drive})
    pulse = Drag(amplitude_v=0.2, duration_s=40e-9, sigma_s=10e-9, beta_s=1e-9, phase_rad=0.4)
    ops = (ShiftPhase(channel="q0.drive", phase_rad=1.1), Play(channel="q0.drive", pulse=pulse))
    c = compile_experiment(experiment(ops), station, STATE)
    out = render_step(c.awgs[0], 0)
    z = mix(out[drive.channel_i], out[drive.channel_q], imperfect, 0.0)
    model = Model()
    model.run(ops)
    assert np.max(np.abs(z - direct_line(model, "drive:q0", 40))) < 1e-12


# -- frames ------------------------------------------------------------------------------------
def test_a_million_virtual_z_do_not_drift() -> None:
    b = Builder("rz", STATION, STATE, steps=1, shots=1, repetition_time_s=1e-4)
    theta = 0.1234567
    n = 10**6
    for _ in range(n):
        b.shift_phase("q0.drive", theta)
    two_pi = Fraction(TWO_PI)  # the float 2π the builder wraps with; |2π − float| < 3e-16
    exact = Fraction(theta) * n
    exact -= round(exact / two_pi) * two_pi
    assert abs(wrap(b.phase["q0.drive"] - float(exact))) < 1e-6
    assert -math.pi <= b.phase["q0.drive"] <= math.pi


def test_ten_thousand_rz_in_a_circuit_leave_the_exact_frame() -> None:
    qc = QuantumCircuit(1)
    angles = np.random.default_rng(3).uniform(-math.pi, math.pi, 10_000)
    for a in angles:
        qc.rz(float(a), 0)
    qc.x(0)
    c = compile_circuit(qc, STATION, STATE)
    expected = -math.fsum(float(a) for a in angles)
    entry = compiled_entries(c)["drive:q0"][1][0]
    assert abs(wrap(float(entry["phase"]) - expected)) < 1e-9
    assert abs(wrap(c.frame_phases["q0.drive"] - expected)) < 1e-9


# -- bad input ---------------------------------------------------------------------------------
ACCEPTABLE = (QnekoError, ValidationError)


def test_unknown_opaque_gate_is_a_compilation_error() -> None:
    qc = QuantumCircuit(2)
    qc.x(0)
    qc.append(Gate("mystery", 1, []), [1])
    with pytest.raises(CompilationError, match="mystery") as err:
        compile_circuit(qc, STATION, STATE)
    assert err.value.instruction == "mystery"
    assert err.value.channel == "q1"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: compile_circuit(QuantumCircuit(3), STATION, STATE), CompilationError),
        (
            lambda: compile_circuit(_x_on(1), STATION, STATE, qubits=["q0", "q7"]),
            ConfigError,
        ),
        (
            lambda: compile_experiment(
                experiment(
                    (Play(channel="q2.drive", pulse=Constant(amplitude_v=0.1, duration_s=8e-9)),)
                ),
                STATION,
                STATE,
            ),
            CompilationError,
        ),
        (
            lambda: compile_experiment(
                experiment((Measure(qubit="q5", name="m"),)), STATION, STATE
            ),
            CompilationError,
        ),
    ],
    ids=["circuit wider than chip", "unknown qubit name", "pulse on q2", "measure q5"],
)
def test_qubit_out_of_range(make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


def _x_on(q: int) -> QuantumCircuit:
    qc = QuantumCircuit(q + 1)
    qc.x(q)
    return qc


VALID_QASM = """OPENQASM 3.0;
include "stdgates.inc";
bit[2] c;
qubit[2] q;
rz(0.5) q[0];
sx q[0];
x q[1];
barrier q[0], q[1];
delay[20ns] q[1];
sx q[1];
rz(-1.25) q[1];
c[0] = measure q[0];
c[1] = measure q[1];
"""

_TOKENS = [
    "rz(",
    ")",
    "(",
    ";",
    "q[",
    "]",
    "[",
    "qubit",
    "bit",
    "measure",
    "=",
    "->",
    "x",
    "sx",
    "h",
    "cx",
    "cz",
    "ccx",
    "delay[",
    "ns]",
    "dt]",
    "s]",
    "barrier",
    ",",
    "q[7]",
    "q[-1]",
    "c[9]",
    "1e400",
    "-1e400",
    "0/0",
    "-5",
    "pi",
    "nan",
    "inf",
    "1e-30",
    "2.5",
    "gate g a { x a; }",
    "g q[0];",
    "input float t;",
    "rz(t) q[0];",
    "reset q[0];",
    "if (c[0]) x q[1];",
    "\n",
    " ",
    "OPENQASM 3.0;",
    "OPENQASM 2.0;",
    'include "stdgates.inc";',
    '"',
    "{",
    "}",
    "//",
    "/*",
    "for int i in [0:3] { x q[0]; }",
    "while (true) { }",
    "U(1,2,3) q[0];",
    "\x00",
    "é",
]


@st.composite
def mangled_qasm(draw: st.DrawFn) -> str:
    text = VALID_QASM
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        how = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        tok = draw(st.sampled_from(_TOKENS) | st.text(max_size=4))
        if how == "delete":
            text = text[:i] + text[j:]
        elif how == "insert":
            text = text[:i] + tok + text[i:]
        elif how == "replace":
            text = text[:i] + tok + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(mangled_qasm())
def test_mangled_openqasm3_gives_a_clear_error_or_programs(text: str) -> None:
    try:
        c = compile_circuit(text, STATION, STATE, shots=1)
    except ACCEPTABLE:
        return
    for awg in c.awgs:
        for ln in awg.lines:
            assert np.isfinite(ln.entries["phase"]).all()
            assert np.all(ln.entries["start"] >= 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "OPENQASM 3.0;\nqubit[1] q;\nfoo q[0];",
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nrz(0/0) q[0];',
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nx q[3];',
        'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float t;\nqubit[1] q;\nrz(t) q[0];',
    ],
    ids=["empty", "undefined gate", "0/0", "index", "unbound input"],
)
def test_bad_openqasm3_is_a_compilation_error(text: str) -> None:
    with pytest.raises(QnekoError):
        compile_circuit(text, STATION, STATE)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_amplitudes_and_phases_are_rejected_by_the_models(value: float) -> None:
    with pytest.raises(ValidationError):
        Gaussian(amplitude_v=value, duration_s=40e-9, sigma_s=10e-9)
    with pytest.raises(ValidationError):
        Constant(amplitude_v=0.1, duration_s=40e-9, phase_rad=value)
    with pytest.raises(ValidationError):
        ShiftPhase(channel="q0.drive", phase_rad=value)
    with pytest.raises(ValidationError):
        Sweep(parameter="amplitude_v", instruction=0, values=(0.1, value))
    with pytest.raises(ValidationError):
        Arbitrary(amplitude_v=1.0, duration_s=2e-9, samples=((0.1, 0.0), (value, 0.0)))


def test_negative_durations_are_rejected_by_the_models() -> None:
    with pytest.raises(ValidationError):
        Delay(channel="q0.drive", duration_s=-1e-9)
    with pytest.raises(ValidationError):
        Constant(amplitude_v=0.1, duration_s=-4e-9)
    with pytest.raises(ValidationError):
        GaussianSquare(amplitude_v=0.1, duration_s=40e-9, sigma_s=5e-9, width_s=-1e-9)
