"""Single-qubit randomized benchmarking: standard RB and interleaved RB of the X gate.

build → random sequences of single-qubit Cliffords (qiskit-experiments' 24-element table,
each synthesized once to the native ``rz``/``sx``/``x`` with Qiskit's transpiler), closed
by the inverting Clifford and a measurement; one circuit per (sample, length), all in one
program (one sweep step each). Interleaved RB adds, for every reference sequence, the
same sequence with an ``x`` after each Clifford (its inverse accounts for them).
analyze → classify each shot with the qubit's discriminator (``iq_angle_rad``,
``threshold``), hand the per-shot memory to qiskit-experiments' ``RBAnalysis`` /
``InterleavedRBAnalysis`` (survival probability of ``"0"``, no error-per-gate split) and
report the error per Clifford ``epc`` (and for interleaved RB the X gate's error
``epc_x`` with its systematic bounds).
update → nothing is calibrated: benchmarks report, the state is returned unchanged.

The sequences do not go through the transpiler as a whole (it would merge the gates); they
are native already, so the compiler lowers them gate by gate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.discrimination import classify
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult

__all__ = ["InterleavedRB", "RandomizedBenchmarking", "native_clifford"]


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


@dataclass(frozen=True)
class RandomizedBenchmarking:
    """Standard single-qubit RB.

    Attributes:
        lengths: numbers of random Cliffords per sequence (the inverse not counted); the
            longest should bring the survival well down its decay (≈ 1/(2·EPC) Cliffords;
            the defaults suit errors of a few 1e-4 per Clifford).
        samples: random sequences per length; shots: shots per sequence;
        seed: seed of the sequence generator (same seed, same sequences).
        repetition_time_s: time between shots (s).
    """

    lengths: tuple[int, ...] = (1, 150, 400, 800, 1400)
    samples: int = 3
    shots: int = 1000
    seed: int = 1
    repetition_time_s: float = 200e-6
    name: str = "rb"
    built: dict[str, QubitCalibration] = field(default_factory=dict, compare=False, repr=False)

    def _interleaved(self) -> bool:
        return False

    def build(self, qubit: str, state: CalibrationState, station: Station) -> list[Any]:
        """Circuits (one sweep step each): for each sample, each length; reference first."""
        cal = state.qubit(qubit)
        if cal.iq_angle_rad is None or cal.threshold is None:
            raise CalibrationError(
                f"{qubit}: RB needs a discriminator (run discrimination first)",
                qubit=qubit,
                routine=self.name,
            )
        if qubit not in station.drive:
            raise CalibrationError(f"{qubit} has no drive line", qubit=qubit, routine=self.name)
        self.built[qubit] = cal
        rng = np.random.default_rng(self.seed)
        circuits = []
        sequences = [
            (int(length), rng.integers(0, 24, size=int(length)))
            for _ in range(self.samples)
            for length in self.lengths
        ]
        variants = (False, True) if self._interleaved() else (False,)
        for inter in variants:
            for length, seq in sequences:
                meta = {"xval": length, "group": "Clifford", "interleaved": inter}
                circuits.append(_circuit(seq.tolist(), inter, meta))
        return circuits

    def _metadata(self) -> list[dict[str, Any]]:
        variants = (False, True) if self._interleaved() else (False,)
        return [
            {"xval": int(length), "group": "Clifford", "interleaved": inter}
            for inter in variants
            for _ in range(self.samples)
            for length in self.lengths
        ]

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """Error per Clifford from the survival probability of |0⟩ versus length.

        ``readout``: the calibration the shots were measured with (its discriminator);
        by default the one recorded when this routine built the circuits.
        """
        shots = result.shots.get("c0")
        if shots is None:
            return Fit.failed(self.name, qubit, "no acquisition c0 in the result")
        cal = readout if readout is not None else self.built.get(qubit)
        if cal is None or cal.iq_angle_rad is None or cal.threshold is None:
            return Fit.failed(self.name, qubit, "no discriminator to classify the shots with")
        ones = classify(shots, cal.iq_angle_rad.value, cal.threshold.value)
        meta = self._metadata()
        if ones.shape[0] != len(meta):
            return Fit.failed(
                self.name, qubit, f"expected {len(meta)} sequences, got {ones.shape[0]}"
            )
        data = _experiment_data(ones, meta)
        try:
            return self._fit(qubit, data, ones, meta)
        except Exception as exc:  # qiskit-experiments raises several unrelated types
            return Fit.failed(self.name, qubit, f"RB analysis failed: {exc}")

    def _fit(
        self, qubit: str, data: Any, ones: np.ndarray[Any, Any], meta: list[dict[str, Any]]
    ) -> Fit:
        from qiskit_experiments.library.randomized_benchmarking import RBAnalysis

        analysis = RBAnalysis()
        analysis.set_options(outcome="0", gate_error_ratio=None, plot=False)
        analysis.run(data, replace_results=True).block_for_results()
        results = _results(data)
        epc, d_epc = _nominal(results["EPC"]["value"])
        alpha, d_alpha = _nominal(results["alpha"]["value"])
        values = {"epc": epc, "alpha": alpha}
        unc = {"epc": d_epc, "alpha": d_alpha}
        for key in ("a", "b"):
            if key in results:
                values[key], unc[key] = _nominal(results[key]["value"])
        quality = _quality(results["EPC"]["quality"], epc, d_epc)
        return self._finish(
            qubit,
            values=values,
            unc=unc,
            quality=quality,
            ones=ones,
            meta=meta,
            msg=f"EPC = {epc:.2e}",
        )

    def _finish(
        self,
        qubit: str,
        *,
        values: dict[str, float],
        unc: dict[str, float],
        quality: Quality,
        ones: np.ndarray[Any, Any],
        meta: list[dict[str, Any]],
        msg: str,
    ) -> Fit:
        x = tuple(float(m["xval"]) for m in meta)
        y = tuple(float(v) for v in 1.0 - ones.mean(axis=1))
        return Fit(
            routine=self.name,
            qubit=qubit,
            values=values,
            uncertainties={k: (v if math.isfinite(v) else 0.0) for k, v in unc.items()},
            quality=quality,
            r_squared=0.0,
            message=msg,
            x=x,
            y=y,
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """Benchmarks calibrate nothing: the state unchanged; a bad fit raises."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: {self.name} unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        return state


@dataclass(frozen=True)
class InterleavedRB(RandomizedBenchmarking):
    """Interleaved RB of the ``x`` gate: reference and interleaved sequences in one program.

    Fit values: ``epc`` (reference), ``epc_x`` (the X gate's error) and its systematic
    bounds ``epc_x_low``/``epc_x_high``.
    """

    lengths: tuple[int, ...] = (1, 100, 250, 500)
    name: str = "irb"

    def _interleaved(self) -> bool:
        return True

    def _fit(
        self, qubit: str, data: Any, ones: np.ndarray[Any, Any], meta: list[dict[str, Any]]
    ) -> Fit:
        from qiskit_experiments.library.randomized_benchmarking import InterleavedRBAnalysis

        analysis = InterleavedRBAnalysis()
        analysis.set_options(outcome="0", gate_error_ratio=None, plot=False)
        analysis.run(data, replace_results=True).block_for_results()
        results = _results(data, extra=("EPC_systematic_bounds",))
        alpha, d_alpha = _nominal(results["alpha"]["value"])
        alpha_c, d_alpha_c = _nominal(results["alpha_c"]["value"])
        epc_x, d_epc_x = _nominal(results["EPC"]["value"])
        low, high = results["EPC"]["EPC_systematic_bounds"]
        # reference error per Clifford for one qubit: (1 − α)/2
        values = {
            "epc": (1.0 - alpha) / 2.0,
            "alpha": alpha,
            "alpha_c": alpha_c,
            "epc_x": epc_x,
            "epc_x_low": float(low),
            "epc_x_high": float(high),
        }
        unc = {"epc": d_alpha / 2.0, "alpha": d_alpha, "alpha_c": d_alpha_c, "epc_x": d_epc_x}
        quality = _quality(results["EPC"]["quality"], values["epc"], unc["epc"])
        msg = f"EPC = {values['epc']:.2e}, X error = {epc_x:.2e}"
        return self._finish(
            qubit, values=values, unc=unc, quality=quality, ones=ones, meta=meta, msg=msg
        )


def _quality(verdict: Any, epc: float, d_epc: float) -> Quality:
    if not (math.isfinite(epc) and 0.0 <= epc < 0.5):
        return "bad"
    if str(verdict) != "good" or not math.isfinite(d_epc) or d_epc > max(epc, 1e-4):
        return "poor"
    return "good"


def _experiment_data(ones: np.ndarray[Any, Any], meta: list[dict[str, Any]]) -> Any:
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
