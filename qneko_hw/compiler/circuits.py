"""Circuits in: Qiskit ``QuantumCircuit`` or OpenQASM 3 text, lowered through the calibration table.

Native gates: ``rz`` (virtual: the drive frame of the qubit shifts by −θ, Qiskit's
convention), ``sx`` and ``x`` (DRAG pulses with the calibrated π/2 and π amplitudes), ``cz``
(the pair's calibrated flux pulse plus virtual-Z corrections), ``measure`` (calibrated readout
pulse and acquisition named ``c<clbit>``), ``delay``, ``barrier`` and ``reset`` (by waiting
five T1). Any other gate is transpiled to these with Qiskit's transpiler against a
:class:`~qiskit.transpiler.Target` built from the calibration state; a gate that cannot be
gets a :class:`~qneko_hw.errors.CompilationError` naming it and its qubits.

Circuit qubit ``i`` is the ``i``-th qubit of the calibration state (or of ``qubits``).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from qneko_hw.compiler.builder import Builder
from qneko_hw.compiler.programs import CompiledExperiment
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.errors import CompilationError
from qneko_hw.pulses import Constant, Drag

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

__all__ = ["NATIVE_GATES", "build_target", "compile_circuit", "load_circuit"]

NATIVE_GATES = frozenset({"rz", "sx", "x", "cz", "measure", "delay", "barrier", "reset"})
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ps": 1e-12}
_DEFAULT_RESET_WAIT_S = 250e-6


def load_circuit(source: QuantumCircuit | str) -> QuantumCircuit:
    """A QuantumCircuit from itself or from OpenQASM 3 text (errors name line and column)."""
    if not isinstance(source, str):
        return source
    from qiskit import qasm3

    try:
        return qasm3.loads(source)
    except Exception as exc:  # the loader raises several unrelated types
        raise CompilationError(f"malformed OpenQASM 3: {exc}", instruction="qasm3") from None


def build_target(state: CalibrationState, qubits: Sequence[str], dt_s: float = 1e-9) -> Any:
    """A Qiskit ``Target`` of the native gates on ``qubits`` with calibrated durations (s)."""
    from qiskit.circuit import Delay, Measure, Parameter, Reset
    from qiskit.circuit.library import CZGate, RZGate, SXGate, XGate
    from qiskit.transpiler import InstructionProperties, Target

    target = Target(num_qubits=len(qubits), dt=dt_s)
    theta = Parameter("θ")
    single = {(i,): InstructionProperties(duration=0.0) for i in range(len(qubits))}
    target.add_instruction(RZGate(theta), single)
    gate = {
        (i,): InstructionProperties(duration=state.qubit(q).pulse_duration_s.value)
        for i, q in enumerate(qubits)
    }
    target.add_instruction(SXGate(), gate)
    target.add_instruction(XGate(), dict(gate))
    pairs = {}
    for i, a in enumerate(qubits):
        for j, b in enumerate(qubits):
            hit = state.cz_for(a, b)
            if i != j and hit is not None:
                pairs[(i, j)] = InstructionProperties(duration=hit[0].duration_s.value)
    if pairs:
        target.add_instruction(CZGate(), pairs)
    meas = {
        (i,): InstructionProperties(duration=state.qubit(q).readout_duration_s.value)
        for i, q in enumerate(qubits)
    }
    target.add_instruction(Measure(), meas)
    target.add_instruction(Delay(Parameter("t")), {(i,): None for i in range(len(qubits))})
    target.add_instruction(Reset(), {(i,): None for i in range(len(qubits))})
    return target


def _to_native(
    circuit: QuantumCircuit, state: CalibrationState, qubits: Sequence[str]
) -> QuantumCircuit:
    if not set(circuit.count_ops()) - NATIVE_GATES:
        return circuit
    foreign = [ci for ci in circuit.data if ci.name not in NATIVE_GATES]
    from qiskit import transpile

    try:
        return transpile(
            circuit,
            target=build_target(state, qubits),
            initial_layout=list(range(circuit.num_qubits)),
            optimization_level=1,
            seed_transpiler=0,
        )
    except Exception as exc:
        ci = foreign[0]
        where = ", ".join(qubits[circuit.find_bit(q).index] for q in ci.qubits)
        raise CompilationError(
            f"gate '{ci.operation.name}' on {where} is not native and cannot be transpiled "
            f"to {sorted(NATIVE_GATES)}: {exc}",
            instruction=ci.operation.name,
            channel=where,
        ) from None


class _Lowering:
    """Gate-by-gate lowering into a :class:`Builder`; per-qubit templates made once."""

    def __init__(
        self, b: Builder, state: CalibrationState, station: Station, qubits: Sequence[str]
    ) -> None:
        self.b = b
        self.state = state
        self.station = station
        self.qubits = list(qubits)
        self.drive = [f"{q}.drive" for q in qubits]
        self.gate: list[tuple[int, int, float, float] | None] = []
        for q in qubits:
            cal = state.qubit(q)
            if q not in station.drive:
                self.gate.append(None)
                continue
            pulse = Drag(
                amplitude_v=cal.pi_amplitude_v.value,
                duration_s=cal.pulse_duration_s.value,
                sigma_s=cal.pulse_sigma_s.value,
                beta_s=cal.drag_beta_s.value,
            )
            wf, n = b.shape_index(pulse, f"x on {q}")
            self.gate.append((wf, n, cal.pi_amplitude_v.value, cal.pi_half_amplitude_v.value))
        self.readout: dict[int, tuple[int, int, float]] = {}
        self._chans: dict[int, tuple[str, ...]] = {}
        self.cz: dict[
            tuple[int, int], tuple[tuple[str, ...], str, int, int, float, float, float]
        ] = {}

    def _gate(self, i: int, name: str) -> tuple[int, int, float, float]:
        g = self.gate[i]
        if g is None:
            raise CompilationError(
                f"{name} on {self.qubits[i]}: the qubit has no drive line",
                instruction=name,
                channel=self.qubits[i],
            )
        return g

    def _channels(self, i: int) -> tuple[str, ...]:
        chans = self._chans.get(i)
        if chans is None:
            q = self.qubits[i]
            names = [f"{q}.drive", f"{q}.readout", f"{q}.acquire"]
            if q in self.station.flux:
                names.append(f"{q}.flux")
            chans = self._chans[i] = tuple(names)
        return chans

    def _readout(self, i: int) -> tuple[int, int, float]:
        r = self.readout.get(i)
        if r is None:
            q = self.qubits[i]
            cal = self.state.qubit(q)
            pulse = Constant(
                amplitude_v=cal.readout_amplitude_v.value, duration_s=cal.readout_duration_s.value
            )
            wf, n = self.b.shape_index(pulse, f"measure {q}")
            r = (wf, n, pulse.amplitude_v)
            self.readout[i] = r
        return r

    def run(self, circuit: QuantumCircuit) -> None:
        b = self.b
        qindex = {bit: k for k, bit in enumerate(circuit.qubits)}
        cindex = {bit: k for k, bit in enumerate(circuit.clbits)}
        names: dict[int, int] = {}
        data = circuit.data
        prev_measure = False
        for pos, ci in enumerate(data):
            name = ci.name
            if name == "rz":
                b.shift_phase(self.drive[qindex[ci.qubits[0]]], -float(ci.params[0]))
                prev_measure = False
            elif name in ("x", "sx"):
                i = qindex[ci.qubits[0]]
                wf, n, pi, half = self._gate(i, name)
                b.play(self.drive[i], wf, n, pi if name == "x" else half, 0.0, what=name)
                prev_measure = False
            elif name == "measure":
                if not prev_measure:
                    group: list[str] = []
                    for nxt in data[pos:]:
                        if nxt.name != "measure":
                            break
                        group.extend(self._channels(qindex[nxt.qubits[0]]))
                    b.barrier(tuple(group))
                prev_measure = True
                i = qindex[ci.qubits[0]]
                c = cindex[ci.clbits[0]]
                k = names.get(c, 0)
                names[c] = k + 1
                wf, n, amp = self._readout(i)
                q = self.qubits[i]
                b.channel(f"{q}.readout")
                b.measure(q, f"c{c}" if k == 0 else f"c{c}_{k}", (wf, n), amp)
            elif name == "cz":
                self._cz(qindex[ci.qubits[0]], qindex[ci.qubits[1]])
                prev_measure = False
            elif name == "barrier":
                chans: list[str] = []
                for bit in ci.qubits:
                    chans.extend(self._channels(qindex[bit]))
                b.barrier(tuple(chans))
                prev_measure = False
            elif name == "delay":
                i = qindex[ci.qubits[0]]
                b.delay(self.drive[i], self._delay_samples(ci.operation))
                prev_measure = False
            elif name == "reset":
                i = qindex[ci.qubits[0]]
                b.barrier(self._channels(i))
                t1 = self.state.qubit(self.qubits[i]).t1_s
                wait = 5 * t1.value if t1 is not None else _DEFAULT_RESET_WAIT_S
                b.delay(self.drive[i], max(1, round(wait / b.dt)))
                b.barrier(self._channels(i))
                prev_measure = False
            else:
                where = ", ".join(self.qubits[qindex[q]] for q in ci.qubits)
                raise CompilationError(
                    f"gate '{name}' on {where} is not native", instruction=name, channel=where
                )

    def _delay_samples(self, op: Any) -> int:
        unit = op.unit
        duration = op.params[0] if op.params else op.duration
        if unit == "dt":
            return int(duration)
        if unit not in _TIME_UNITS:
            raise CompilationError(f"delay in unknown unit '{unit}'", instruction="delay")
        return self.b.samples(float(duration) * _TIME_UNITS[unit], "delay")

    def _cz_template(
        self, i: int, j: int
    ) -> tuple[tuple[str, ...], str, int, int, float, float, float]:
        """(channels, flux channel, waveform, samples, amplitude, phase i, phase j) of a pair."""
        a, c = self.qubits[i], self.qubits[j]
        hit = self.state.cz_for(a, c)
        if hit is None:
            raise CompilationError(
                f"cz on {a}, {c} has no calibration", instruction="cz", channel=f"{a},{c}"
            )
        cal, swapped = hit
        flux = f"{cal.flux_qubit}.flux"
        # the pair's drive and flux channels; readout channels follow their drive at measure
        chans = tuple(
            dict.fromkeys(
                c
                for c in (*self._channels(i), *self._channels(j), flux)
                if c.endswith((".drive", ".flux"))
            )
        )
        pulse = Constant(amplitude_v=cal.amplitude_v.value, duration_s=cal.duration_s.value)
        wf, n = self.b.shape_index(pulse, "cz")
        pa, pb = cal.phase_a_rad.value, cal.phase_b_rad.value
        if swapped:
            pa, pb = pb, pa
        return chans, flux, wf, n, pulse.amplitude_v, pa, pb

    def _cz(self, i: int, j: int) -> None:
        tpl = self.cz.get((i, j))
        if tpl is None:
            tpl = self.cz[(i, j)] = self._cz_template(i, j)
        chans, flux, wf, n, amp, pa, pb = tpl
        b = self.b
        b.barrier(chans)
        b.play(flux, wf, n, amp, 0.0, what="cz")
        b.barrier(chans)
        b.shift_phase(self.drive[i], -pa)
        b.shift_phase(self.drive[j], -pb)


def _prepare(circ: QuantumCircuit, state: CalibrationState, names: Sequence[str]) -> QuantumCircuit:
    if circ.num_qubits > len(names):
        raise CompilationError(
            f"the circuit uses {circ.num_qubits} qubits; "
            f"the chip has {len(names)} ({', '.join(names)})",
            instruction="circuit",
            limit=len(names),
            value=circ.num_qubits,
        )
    for q in names[: circ.num_qubits]:
        state.qubit(q)
    return _to_native(circ, state, names)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: lowering allocates many small, acyclic objects."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compile_circuit(
    circuit: QuantumCircuit | str | Sequence[QuantumCircuit | str],
    station: Station,
    state: CalibrationState,
    *,
    shots: int = 1000,
    repetition_time_s: float = 200e-6,
    scheduling: str = "asap",
    qubits: Sequence[str] | None = None,
    sweep: Mapping[Any, Sequence[float]] | None = None,
    name: str = "circuit",
) -> CompiledExperiment:
    """Compile a circuit (or OpenQASM 3 text) to per-instrument programs; no I/O.

    Args:
        circuit: one circuit, or a list of circuits played one per sweep step (RB
            sequences, AllXY...); their clbits name the acquisitions, so they must agree.
        sweep: circuit ``Parameter`` → values (all of equal length): one sweep step per
            value, bound and compiled inside this call (single circuit only).

    Raises:
        CompilationError: malformed OpenQASM 3, a gate that is not native and cannot be
            transpiled, a qubit the chip does not have, an unbound parameter, or a limit.
    """
    if not 1 <= shots <= 10_000_000:
        raise CompilationError(f"shots must be 1 ... 10^7, got {shots}", value=shots)
    if not (math.isfinite(repetition_time_s) and 0 < repetition_time_s <= 10.0):
        raise CompilationError(
            f"repetition_time_s must be in (0, 10] s, got {repetition_time_s!r}",
            value=repetition_time_s,
        )
    names = list(qubits) if qubits is not None else list(state.qubits)
    if isinstance(circuit, str) or not isinstance(circuit, Sequence):
        circuits = [circuit]
    else:
        circuits = list(circuit)
        if not circuits:
            raise CompilationError("an empty list of circuits", instruction="circuit")
        if sweep:
            raise CompilationError("a list of circuits cannot also have a parameter sweep")
    natives = [_prepare(load_circuit(c), state, names) for c in circuits]
    if len(natives) > 1:
        b = Builder(
            name,
            station,
            state,
            steps=len(natives),
            shots=shots,
            repetition_time_s=repetition_time_s,
            scheduling=scheduling,
        )
        lowering = _Lowering(b, state, station, names)
        for step, native in enumerate(natives):
            if step:
                b.begin_step(step)
            if native.parameters:
                raise CompilationError(
                    f"circuit {step} has unbound parameters: "
                    f"{sorted(p.name for p in native.parameters)}",
                    instruction="parameters",
                )
            with _no_gc():
                lowering.run(native)
        return b.finish("circuit", np.arange(len(natives), dtype=np.float64))
    circ = natives[0]
    sweep = dict(sweep or {})
    lengths = {len(v) for v in sweep.values()}
    if len(lengths) > 1:
        raise CompilationError("every swept parameter needs the same number of values")
    steps = lengths.pop() if lengths else 1
    unbound = set(circ.parameters) - set(sweep)
    if unbound:
        raise CompilationError(
            f"unbound circuit parameters: {sorted(p.name for p in unbound)}",
            instruction="parameters",
        )
    b = Builder(
        name,
        station,
        state,
        steps=steps,
        shots=shots,
        repetition_time_s=repetition_time_s,
        scheduling=scheduling,
    )
    lowering = _Lowering(b, state, station, names)
    for step in range(steps):
        if step:
            b.begin_step(step)
        bound = (
            circ.assign_parameters({p: float(v[step]) for p, v in sweep.items()}) if sweep else circ
        )
        with _no_gc():
            lowering.run(bound)
    first = next(iter(sweep.values()), [0.0])
    return b.finish("parameter" if sweep else None, np.asarray(first, dtype=np.float64))
