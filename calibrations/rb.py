"""Single-qubit randomized benchmarking: standard RB and interleaved RB of the X gate.

plan → random sequences of single-qubit Cliffords (qiskit-experiments' 24-element table,
each synthesized once to the native ``rz``/``sx``/``x`` with Qiskit's transpiler), closed
by the inverting Clifford and a measurement; one circuit per (sample, length), all in one
program (one sweep step each). Interleaved RB adds, for every reference sequence, the
same sequence with an ``x`` after each Clifford (its inverse accounts for them). Then
``references`` circuits each of |0⟩ (measure only) and |1⟩ (``x``, measure): they measure
the decay's asymptote. The axes give every circuit's ``clifford_length`` (random
Cliffords, the inverse not counted; 0 for the references), its ``sample``, whether it is
``interleaved`` (0/1) and its ``reference`` role (0: a sequence, 1: |0⟩, 2: |1⟩); the
setup holds the qubit's discriminator (RB needs one), the seed and the lengths.

Lengths (``lengths`` None, the default): from the error a Clifford would have from T1 and
T2 alone (the stored T1 and T2*, else 2·T1), ``r = (3 − e^{−t/T1} − 2·e^{−t/T2})/6`` for
the mean Clifford duration ``t`` (5/6 of a gate pulse: the native Cliffords average 5/6
pulses), the longest ``m = 1/(2r)`` (clipped to 20 … 2000) so the survival decays by about
e⁻¹ whatever the qubit, and (1, 0.1, 0.3, 0.6, 1)·m; without a stored T1, ``DEFAULT_LENGTHS``.

fit → classify each shot with the setup's discriminator, hand the per-shot memory to
qiskit-experiments' ``RBAnalysis`` / ``InterleavedRBAnalysis`` (survival probability of
``"0"``, no error-per-gate split) with the asymptote ``b`` fixed to the measured one: the
survival of the fully depolarised state, ``b = ½·[P(0 | |0⟩) + P(0 | |1⟩)]`` (readout
errors included). A free asymptote makes the error per Clifford of a long-lived qubit
uncertain by 15–165 % (its decay is not complete within the lengths); with b fixed, its σ
comes from the fit plus the uncertainty of b (a second fit at b + σ_b). The sequences of one
length are averaged weighted by their shots with binomial errors (``average_method=
"shots_weighted"``: the analysis's default takes their spread as the error, zero when they
happen to agree, and that one point then pins the fit); the fit's σ is scaled by √χ²_red
when above 1, so the spread of random sequences beyond shot noise is in it. The results: the
error per Clifford ``epc`` (and for interleaved RB the X gate's error ``epc_x`` with its
systematic bounds), the decay ``a·α^m + b`` (``a``, ``alpha``, ``b``; interleaved:
``a·(α·α_c)^m + b`` too). R² is that of the fitted decay against the mean survival per
length, the quantity plotted: the figure shows the survival of every sequence, the mean per
length with its standard error, the fitted decay on a dense grid of m (interleaved: both
curves) and the measured asymptote. With ``references = 0`` the asymptote is fitted.
update → ``error_per_clifford`` (standard RB; interleaved RB stores nothing).

The sequences do not go through the transpiler as a whole (it would merge the gates); they
are native already, so the compiler lowers them gate by gate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results, Verdict, dense, r_squared
from qneko_hw.calibrations.gates import drive_limit_v
from qneko_hw.calibrations.readout import binomial_error, require_discriminator
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.plot.figures import Figure, Panel, Series

__all__ = [
    "DEFAULT_LENGTHS",
    "PULSES_PER_CLIFFORD",
    "InterleavedRB",
    "RBSetup",
    "RandomizedBenchmarking",
    "coherence_error",
    "native_clifford",
    "rb_lengths",
]

#: Lengths when nothing tells the qubit's coherence (errors of a few 1e-4 per Clifford).
DEFAULT_LENGTHS: tuple[int, ...] = (1, 150, 400, 800, 1400)
#: Gate pulses per native single-qubit Clifford, on average (``rz`` is virtual).
PULSES_PER_CLIFFORD = 5 / 6


def coherence_error(duration_s: float, t1_s: float, t2_s: float) -> float:
    """Average gate error of T1 (s) and T2 (s) alone over ``duration_s`` (s):
    ``(3 − e^{−t/T1} − 2·e^{−t/T2})/6``."""
    return (3 - math.exp(-duration_s / t1_s) - 2 * math.exp(-duration_s / t2_s)) / 6


def rb_lengths(cal: QubitCalibration) -> tuple[int, ...]:
    """Clifford lengths suited to ``cal``'s qubit (see the module docstring)."""
    if cal.t1_s is None:
        return DEFAULT_LENGTHS
    t1 = cal.t1_s.value
    t2 = cal.t2_s.value if cal.t2_s is not None else 2 * t1
    r = coherence_error(PULSES_PER_CLIFFORD * cal.pulse_duration_s.value, t1, min(t2, 2 * t1))
    longest = int(min(max(round(0.5 / max(r, 1e-9)), 20), 2000))
    return tuple(sorted({1, *(max(2, round(f * longest)) for f in (0.1, 0.3, 0.6, 1.0))}))


@functools.cache
def native_clifford(num: int) -> tuple[tuple[str, float], ...]:
    """Native gates (name, rz angle in rad or 0) of 1-qubit Clifford ``num`` (0 … 23)."""
    from qiskit import transpile
    from qiskit_experiments.library.randomized_benchmarking.clifford_utils import CliffordUtils

    circ = transpile(
        CliffordUtils.clifford_1_qubit_circuit(num),
        basis_gates=["rz", "sx", "x"],
        optimization_level=1,
        seed_transpiler=0,
    )
    return tuple((ci.name, float(ci.params[0]) if ci.name == "rz" else 0.0) for ci in circ.data)


@functools.cache
def _x_number() -> int:
    from qiskit import QuantumCircuit
    from qiskit_experiments.library.randomized_benchmarking.clifford_utils import (
        num_from_1q_circuit,
    )

    qc = QuantumCircuit(1)
    qc.x(0)
    return int(num_from_1q_circuit(qc))


def _circuit(cliffords: Sequence[int], interleave_x: bool, meta: dict[str, Any]) -> Any:
    """One RB circuit: the Cliffords (each followed by ``x`` if asked), the inverse, measure."""
    from qiskit import QuantumCircuit
    from qiskit_experiments.library.randomized_benchmarking.clifford_utils import (
        compose_1q,
        inverse_1q,
    )

    x_num = _x_number()
    qc = QuantumCircuit(1, 1, metadata=meta)
    total = 0
    for c in cliffords:
        for name, angle in native_clifford(int(c)):
            if name == "rz":
                qc.rz(angle, 0)
            else:
                getattr(qc, name)(0)
        total = int(compose_1q(total, int(c)))
        if interleave_x:
            qc.x(0)
            total = int(compose_1q(total, x_num))
    for name, angle in native_clifford(int(inverse_1q(total))):
        if name == "rz":
            qc.rz(angle, 0)
        else:
            getattr(qc, name)(0)
    qc.measure(0, 0)
    return qc


def _nominal(value: Any) -> tuple[float, float]:
    """(value, standard deviation) of a qiskit-experiments result value (ufloat or float)."""
    if hasattr(value, "nominal_value"):
        return float(value.nominal_value), float(value.std_dev)
    return float(value), math.nan


class RBSetup(Frozen):
    """What the RB fit needs besides the shots and the circuits' axes.

    Attributes:
        discriminator: the qubit's discriminator the shots are classified with.
        seed: seed of the sequence generator the circuits were drawn with.
        lengths: numbers of random Cliffords per sequence (the inverse not counted).
        references: circuits each of |0⟩ and |1⟩ that measure the asymptote (0: none).
    """

    discriminator: Discriminator
    seed: int
    lengths: tuple[int, ...]
    references: int = 0


class RandomizedBenchmarking(Routine[RBSetup]):
    """Standard single-qubit RB.

    Attributes:
        lengths: numbers of random Cliffords per sequence (the inverse not counted); None:
            chosen from the stored T1 and T2 (module docstring).
        samples: random sequences per length; shots: shots per sequence;
        seed: seed of the sequence generator (same seed, same sequences).
        references: circuits each of |0⟩ and |1⟩ measuring the decay's asymptote, which
            the fit then holds fixed (0: the asymptote is fitted).
        repetition_time_s: time between shots (s).
    """

    kind: ClassVar[str] = "rb"
    setup_type: ClassVar[type[RBSetup]] = RBSetup
    updates: ClassVar[tuple[Update, ...]] = (Update("epc", "error_per_clifford"),)
    #: Whether every reference sequence is also played with an ``x`` after each Clifford.
    interleaved: ClassVar[bool] = False

    lengths: tuple[int, ...] | None = None
    samples: int = 3
    references: int = 2
    shots: int = 1000
    seed: int = 1
    repetition_time_s: float = 200e-6
    name: str = "rb"

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[RBSetup]:
        """Circuits (one sweep step each): for each sample, each length; reference first.

        Raises:
            CalibrationError: the qubit has no discriminator or no drive line.
        """
        disc = require_discriminator(state, qubit, self.name)
        drive_limit_v(station, qubit, self.name)
        chosen = self.lengths if self.lengths is not None else rb_lengths(state.qubit(qubit))
        rng = np.random.default_rng(self.seed)
        sequences = [
            (sample, int(length), rng.integers(0, 24, size=int(length)))
            for sample in range(self.samples)
            for length in chosen
        ]
        variants = (False, True) if self.interleaved else (False,)
        circuits = []
        lengths: list[int] = []
        samples: list[int] = []
        flags: list[int] = []
        for inter in variants:
            for sample, length, seq in sequences:
                meta = {"xval": length, "group": "Clifford", "interleaved": inter}
                circuits.append(_circuit(seq.tolist(), inter, meta))
                lengths.append(length)
                samples.append(sample)
                flags.append(int(inter))
        roles = [0] * len(circuits)
        for k in range(self.references):
            for role, gates in ((1, ()), (2, ("x",))):
                circuits.append(_reference_circuit(gates))
                lengths.append(0)
                samples.append(k)
                flags.append(0)
                roles.append(role)
        axes = [
            Axis.of(
                "clifford_length",
                lengths,
                "",
                "random Cliffords per sequence (inverse not counted)",
            ),
            Axis.of("sample", samples, "", "random sequence of its length (index)"),
            Axis.of("interleaved", flags, "", "1: an x after every Clifford (interleaved RB)"),
            Axis.of(
                "reference", roles, "", "0: an RB sequence; asymptote references: 1 |0⟩, 2 |1⟩"
            ),
        ]
        setup = RBSetup(
            discriminator=disc, seed=self.seed, lengths=chosen, references=self.references
        )
        return Plan.circuits(
            setup, axes, circuits, shots=self.shots, repetition_time_s=self.repetition_time_s
        )

    def fit(self, data: Data[RBSetup]) -> Results:
        """Error per Clifford from the survival probability of |0⟩ versus length."""
        shots = data.iq("c0")
        lengths = data.axis("clifford_length")
        flags = data.axis("interleaved")
        roles = data.axes["reference"].values if "reference" in data.axes else np.zeros(0)
        if not (lengths.size == flags.size == shots.shape[0]) or roles.size not in (
            0,
            lengths.size,
        ):
            return Results.failed(
                self.name,
                data.qubit,
                f"{lengths.size} sequences in the axes, {shots.shape[0]} measured",
            )
        classified = data.setup.discriminator.classify(shots)
        asymptote = _asymptote(classified, roles) if roles.size else None
        keep = roles == 0 if roles.size else np.ones(lengths.size, dtype=bool)
        ones, lengths, flags = classified[keep], lengths[keep], flags[keep]
        inter = flags != 0
        meta = [
            {"xval": int(m), "group": "Clifford", "interleaved": bool(f)}
            for m, f in zip(lengths, inter, strict=True)
        ]
        survival = 1.0 - ones.mean(axis=1).astype(np.float64)
        curves = _curves(lengths, inter, survival, ones.shape[1])
        try:
            return self._analyze(data.qubit, ones, meta, curves, asymptote)
        except Exception as exc:  # qiskit-experiments raises several unrelated types
            return Results.failed(
                self.name,
                data.qubit,
                f"RB analysis failed: {exc}",
                _figure(curves, None, None, ""),
            )

    def _run(
        self, ones: NDArray[np.bool_], meta: list[dict[str, Any]], b: float | None
    ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[float, float]]]:
        """One qiskit-experiments analysis of the sequences (asymptote ``b`` fixed if
        given): its results and fit parameters."""
        from qiskit_experiments.library.randomized_benchmarking import (
            InterleavedRBAnalysis,
            RBAnalysis,
        )

        analysis = InterleavedRBAnalysis() if self.interleaved else RBAnalysis()
        # The sequences of one length are averaged weighted by their shots, with the
        # binomial errors propagated: the default ("sample") takes the spread of the
        # sequences as the error, which is zero when they happen to agree (all length-1
        # sequences of a long-lived qubit read the same counts), and one point of zero
        # error pins the weighted fit (seen: EPC 1.3e-3 for a true 1e-4, reduced χ² 8000).
        analysis.set_options(
            outcome="0", gate_error_ratio=None, plot=False, average_method="shots_weighted"
        )
        if b is not None:
            analysis.set_options(fixed_parameters={"b": b})
        exp_data = _experiment_data(ones, meta)
        analysis.run(exp_data, replace_results=True).block_for_results()
        extra = ("EPC_systematic_bounds",) if self.interleaved else ()
        return _results(exp_data, extra=extra), _fit_parameters(exp_data)

    def _fitted(
        self,
        ones: NDArray[np.bool_],
        meta: list[dict[str, Any]],
        asymptote: tuple[float, float] | None,
        key: str,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[float, float]], float]:
        """The analysis (b fixed to the measured asymptote if any) and the extra σ of the
        result ``key`` that the asymptote's uncertainty gives (a second fit at b + σ_b)."""
        if asymptote is None:
            results, params = self._run(ones, meta, None)
            return results, params, 0.0
        b, sigma_b = asymptote
        results, params = self._run(ones, meta, b)
        params = {**params, "b": (b, sigma_b)}
        if sigma_b <= 0:
            return results, params, 0.0
        shifted, _ = self._run(ones, meta, b + sigma_b)
        here, there = _nominal(results[key]["value"])[0], _nominal(shifted[key]["value"])[0]
        return results, params, abs(there - here)

    def _analyze(
        self,
        qubit: str,
        ones: NDArray[np.bool_],
        meta: list[dict[str, Any]],
        curves: list[_Curve],
        asymptote: tuple[float, float] | None,
    ) -> Results:
        results, params, from_b = self._fitted(ones, meta, asymptote, "EPC")
        epc, d_epc = _nominal(results["EPC"]["value"])
        scale = _birge(params)
        d_epc = math.hypot(d_epc * scale, from_b)
        alpha, d_alpha = _nominal(results["alpha"]["value"])
        d_alpha *= scale
        values = {"epc": epc, "alpha": alpha}
        unc = {"epc": d_epc, "alpha": d_alpha}
        for key in ("a", "b"):
            values[key], unc[key] = params[key]
        verdict = _verdict(results["EPC"]["quality"], epc, d_epc)
        note = f"EPC = {epc:.2e} ± {d_epc:.1e}"
        return self._finish(
            qubit,
            values=values,
            unc=unc,
            verdict=verdict,
            curves=curves,
            msg=f"EPC = {epc:.2e} ± {d_epc:.1e}",
            note=note,
            asymptote=asymptote,
        )

    def _finish(
        self,
        qubit: str,
        *,
        values: dict[str, float],
        unc: dict[str, float],
        verdict: Verdict,
        curves: list[_Curve],
        msg: str,
        note: str,
        asymptote: tuple[float, float] | None,
    ) -> Results:
        """Results with the R² of the decays against the mean survival per length."""
        decay_keys = ("a", "b", "alpha", "alpha_c") if self.interleaved else ("a", "b", "alpha")
        if not all(math.isfinite(values[k]) for k in decay_keys):
            return Results.failed(
                self.name, qubit, f"RB decay not fitted ({msg})", _figure(curves, None, None, "")
            )
        models = [_decay(values, c.interleaved) for c in curves]
        means = np.concatenate([c.mean for c in curves])
        fitted = np.concatenate([m(c.lengths) for m, c in zip(models, curves, strict=True)])
        r2 = r_squared(means, fitted)
        return Results(
            routine=self.name,
            qubit=qubit,
            verdict=verdict,
            message=msg,
            values=values,
            uncertainties={k: (v if math.isfinite(v) else 0.0) for k, v in unc.items()},
            r_squared=r2,
            figure=_figure(curves, models, r2, note, asymptote),
        )


class InterleavedRB(RandomizedBenchmarking):
    """Interleaved RB of the ``x`` gate: reference and interleaved sequences in one program.

    Result values: ``epc`` (reference), ``epc_x`` (the X gate's error) and its systematic
    bounds ``epc_x_low``/``epc_x_high``, and the decays' ``a``, ``alpha``, ``alpha_c``, ``b``.
    """

    kind: ClassVar[str] = "irb"
    interleaved: ClassVar[bool] = True

    updates: ClassVar[tuple[Update, ...]] = ()

    lengths: tuple[int, ...] | None = (1, 100, 250, 500)
    name: str = "irb"

    def _analyze(
        self,
        qubit: str,
        ones: NDArray[np.bool_],
        meta: list[dict[str, Any]],
        curves: list[_Curve],
        asymptote: tuple[float, float] | None,
    ) -> Results:
        results, params, from_b = self._fitted(ones, meta, asymptote, "EPC")
        scale = _birge(params)
        alpha, d_alpha = _nominal(results["alpha"]["value"])
        alpha_c, d_alpha_c = _nominal(results["alpha_c"]["value"])
        epc_x, d_epc_x = _nominal(results["EPC"]["value"])
        d_alpha, d_alpha_c = d_alpha * scale, d_alpha_c * scale
        d_epc_x = math.hypot(d_epc_x * scale, from_b)
        low, high = results["EPC"]["EPC_systematic_bounds"]
        # reference error per Clifford for one qubit: (1 − α)/2
        values = {
            "epc": (1.0 - alpha) / 2.0,
            "alpha": alpha,
            "alpha_c": alpha_c,
            "epc_x": epc_x,
            "epc_x_low": float(low),
            "epc_x_high": float(high),
            "a": params["a"][0],
            "b": params["b"][0],
        }
        unc = {
            "epc": d_alpha / 2.0,
            "alpha": d_alpha,
            "alpha_c": d_alpha_c,
            "epc_x": d_epc_x,
            "a": params["a"][1],
            "b": params["b"][1],
        }
        verdict = _verdict(results["EPC"]["quality"], values["epc"], unc["epc"])
        msg = f"EPC = {values['epc']:.2e}, X error = {epc_x:.2e}"
        note = (
            f"EPC = {values['epc']:.2e} ± {unc['epc']:.1e}\nX error = {epc_x:.2e} ± {d_epc_x:.1e}"
        )
        return self._finish(
            qubit,
            values=values,
            unc=unc,
            verdict=verdict,
            curves=curves,
            msg=msg,
            note=note,
            asymptote=asymptote,
        )


@dataclass(frozen=True, eq=False)
class _Curve:
    """The survival of one kind of sequence (reference or interleaved): ``x``, ``y`` per
    sequence (Clifford length, survival), and per length the mean with its error."""

    interleaved: bool
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lengths: NDArray[np.float64]
    mean: NDArray[np.float64]
    err: NDArray[np.float64]


def _curves(
    lengths: NDArray[np.float64],
    inter: NDArray[np.bool_],
    survival: NDArray[np.float64],
    shots: int,
) -> list[_Curve]:
    """Reference (and interleaved) survival per sequence and per length.

    The error of a mean is the spread of its sequences over √samples (the sequence-to-
    sequence variation dominates RB's error), floored at the binomial error of all its shots.
    """
    out = []
    for flag in (False, True):
        mask = inter == flag
        if not mask.any():
            continue
        x, y = lengths[mask], survival[mask]
        ms = np.unique(x)
        mean = np.empty_like(ms)
        err = np.empty_like(ms)
        for k, m in enumerate(ms):
            group = y[x == m]
            mean[k] = float(group.mean())
            spread = float(group.std(ddof=1)) / math.sqrt(group.size) if group.size > 1 else 0.0
            floor = float(binomial_error(mean[k : k + 1], shots * group.size)[0])
            err[k] = max(spread, floor)
        out.append(_Curve(flag, x, y, ms, mean, err))
    return out


Decay = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _decay(values: dict[str, float], interleaved: bool) -> Decay:
    """The fitted survival ``a·α^m + b`` (interleaved: ``a·(α·α_c)^m + b``) as a function."""
    a, b = values["a"], values["b"]
    rate = values["alpha"] * (values["alpha_c"] if interleaved else 1.0)

    def model(m: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(a * rate ** np.asarray(m, dtype=np.float64) + b, dtype=np.float64)

    return model


def _figure(
    curves: list[_Curve],
    models: list[Decay] | None,
    r2: float | None,
    note: str,
    asymptote: tuple[float, float] | None = None,
) -> Figure:
    """Survival per sequence, mean per length, with ``models`` the fitted decays on a
    dense grid of m, and the measured asymptote."""
    series: list[Series] = []
    if asymptote is not None:
        series.append(
            Series(kind="hline", y=(asymptote[0],), label="asymptote (measured)", color="0.5")
        )
    for k, c in enumerate(curves):
        kind = "interleaved" if c.interleaved else "reference"
        light, strong = ("C1", "C3") if c.interleaved else ("C0", "C2")
        seq = Series.points(c.x, c.y, label=f"{kind} sequences")
        series.append(seq.model_copy(update={"color": light}))
        mean = Series.points(c.lengths, c.mean, c.err, label=f"{kind} mean")
        series.append(mean.model_copy(update={"color": strong}))
        if models is not None:
            grid = dense(c.lengths)
            series.append(Series.line(grid, models[k](grid), label=f"{kind} fit", color=strong))
    return Figure(
        panels=(
            Panel(
                x_label="Clifford length m",
                x_unit="",
                y_label="P(|0⟩) survival",
                y_unit="",
                series=tuple(series),
                r_squared=r2,
                note=note,
            ),
        )
    )


def _reference_circuit(gates: Sequence[str]) -> Any:
    """|0⟩ (no gates) or |1⟩ (``x``), then measure: an asymptote reference."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(1, 1)
    for g in gates:
        getattr(qc, g)(0)
    qc.measure(0, 0)
    return qc


def _asymptote(ones: NDArray[np.bool_], roles: NDArray[np.float64]) -> tuple[float, float] | None:
    """``b = ½·[P(0 | |0⟩) + P(0 | |1⟩)]`` and its σ from the reference circuits (role 1:
    |0⟩, 2: |1⟩); None without references."""
    ref0, ref1 = ones[roles == 1], ones[roles == 2]
    if not (ref0.size and ref1.size):
        return None
    s0, s1 = 1.0 - float(ref0.mean()), 1.0 - float(ref1.mean())
    var = s0 * (1 - s0) / ref0.size + s1 * (1 - s1) / ref1.size
    return 0.5 * (s0 + s1), 0.5 * math.sqrt(max(var, 0.25 / (ref0.size + ref1.size) ** 2))


def _verdict(quality: Any, epc: float, d_epc: float) -> Verdict:
    """``bad`` without a physical EPC; ``good`` when its σ (scaled by √χ²_red) is at most
    20 % of it (or 2e-5), else ``poor``. The analysis's own quality flag is not used: it
    asks χ²_red < 3 of shot noise alone, which the spread of random sequences exceeds on
    any qubit measured with enough shots."""
    del quality
    if not (math.isfinite(epc) and 0.0 <= epc < 0.5):
        return "bad"
    if not math.isfinite(d_epc) or d_epc > max(0.2 * epc, 2e-5):
        return "poor"
    return "good"


def _experiment_data(ones: NDArray[np.bool_], meta: list[dict[str, Any]]) -> Any:
    """ExperimentData with per-shot memory of one qubit, one entry per sequence."""
    from qiskit_experiments.framework import ExperimentData

    data = ExperimentData()
    data.metadata["physical_qubits"] = [0]
    data.metadata["meas_level"] = 2
    data.add_data(
        [
            {
                "counts": {"1": int(row.sum()), "0": int(row.size - row.sum())},
                "memory": ["1" if bit else "0" for bit in row],
                "shots": int(row.size),
                "meas_level": 2,
                "metadata": m,
            }
            for row, m in zip(ones, meta, strict=True)
        ]
    )
    return data


def _results(data: Any, extra: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """name → {value, quality, extra columns} of the analysis results of ``data``."""
    frame = data.analysis_results(dataframe=True)
    out: dict[str, dict[str, Any]] = {}
    for _, row in frame.iterrows():
        entry = {"value": row["value"], "quality": row["quality"]}
        for key in extra:
            if key in row.index and row[key] is not None:
                entry[key] = row[key]
        out[str(row["name"])] = entry
    return out


def _fit_parameters(data: Any) -> dict[str, tuple[float, float]]:
    """name → (value, σ) of every fitted parameter (the analysis' ``fit_summary``)."""
    summary = data.artifacts("fit_summary").data
    out = {str(k): _nominal(v) for k, v in summary.ufloat_params.items()}
    chi2 = summary.reduced_chisq
    out[_CHI2] = (float(chi2) if chi2 is not None else math.nan, 0.0)
    return out


#: Key of the fit's reduced χ² among the fit parameters.
_CHI2 = "reduced_chisq"


def _birge(params: dict[str, tuple[float, float]]) -> float:
    """Factor on the fit's σ: √χ²_red when above 1 (the sequences scatter more than their
    shot noise: the spread of random sequences), else 1 — an honest σ, not shot noise
    alone."""
    chi2 = params.get(_CHI2, (math.nan, 0.0))[0]
    return math.sqrt(chi2) if math.isfinite(chi2) and chi2 > 1 else 1.0
