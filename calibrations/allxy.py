"""AllXY: 21 pairs of π and π/2 rotations about X and Y, measured against the ideal staircase.

build → one circuit per pair (native gates: ``x``, ``sx``; a rotation about Y is the same
pulse between ``rz(−π/2)`` and ``rz(π/2)``; the identity is an idle of one gate duration),
then measure; one program, one sweep step per pair.
analyze → P(|1⟩) per pair from the shots classified with the qubit's discriminator; the
readout's own errors are taken out with the pairs whose ideal outcome is certain (the first
five end in |0⟩, the last four in |1⟩): ``p̃ = (p − p₀)/(p₁ − p₀)``; the figure of merit
``deviation`` is the RMS distance of ``p̃`` from the ideal staircase (0 ×5, ½ ×12, 1 ×4).
Its noise floor ``noise`` is what shot noise alone would give. Signatures:
``amplitude_error`` (mean of ½ − p̃ over xX, Xx, yY, Yy: π/2 then π rotate by 3π/2 ideally,
so the signature is positive when π pulses over-rotate relative to π/2 pulses) and ``phase_error``
(p̃ of yx minus p̃ of xy: a phase error between the X and Y axes, e.g. from DRAG).
update → nothing changes (a check): the state is returned; a bad run raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qneko_hw.analysis import Fit, Quality
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.discrimination import classify
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult

__all__ = ["ALLXY_PAIRS", "IDEAL", "AllXY"]

#: The 21 pairs (first gate, second gate): X/Y π, x/y π/2, I idle.
ALLXY_PAIRS: tuple[str, ...] = (
    "II", "XX", "YY", "XY", "YX",
    "xI", "yI", "xy", "yx", "xY", "yX", "Xy", "Yx", "xX", "Xx", "yY", "Yy",
    "XI", "YI", "xx", "yy",
)  # fmt: skip
#: Ideal P(|1⟩) of each pair.
IDEAL: tuple[float, ...] = (0.0,) * 5 + (0.5,) * 12 + (1.0,) * 4
# a π/2 and a π about the same axis: 3π/2 in all, P = ½ − ½·sin(excess rotation)
_AMPLITUDE_PAIRS = ("xX", "Xx", "yY", "Yy")


def _append(qc: Any, gate: str, duration_s: float) -> None:
    if gate == "I":
        qc.delay(duration_s, 0, unit="s")
        return
    name = "x" if gate in "XY" else "sx"
    if gate in "Yy":
        qc.rz(-math.pi / 2, 0)
        getattr(qc, name)(0)
        qc.rz(math.pi / 2, 0)
    else:
        getattr(qc, name)(0)


@dataclass(frozen=True)
class AllXY:
    """AllXY check of the single-qubit gates.

    Attributes:
        shots: shots per pair; repetition_time_s: time between shots (s);
        tolerance: deviation (dimensionless) above the noise floor still called good.
    """

    shots: int = 500
    repetition_time_s: float = 200e-6
    tolerance: float = 0.02
    name: str = "allxy"
    built: dict[str, QubitCalibration] = field(default_factory=dict, compare=False, repr=False)

    def build(self, qubit: str, state: CalibrationState, station: Station) -> list[Any]:
        """The 21 AllXY circuits on ``qubit`` (circuit qubit 0), each ending in a measure."""
        from qiskit import QuantumCircuit

        cal = state.qubit(qubit)
        if cal.iq_angle_rad is None or cal.threshold is None:
            raise CalibrationError(
                f"{qubit}: AllXY needs a discriminator (run discrimination first)",
                qubit=qubit,
                routine=self.name,
            )
        if qubit not in station.drive:
            raise CalibrationError(f"{qubit} has no drive line", qubit=qubit, routine=self.name)
        self.built[qubit] = cal
        circuits = []
        for pair in ALLXY_PAIRS:
            qc = QuantumCircuit(1, 1, name=pair)
            for gate in pair:
                _append(qc, gate, cal.pulse_duration_s.value)
            qc.measure(0, 0)
            circuits.append(qc)
        return circuits

    def analyze(
        self, qubit: str, result: ExecutionResult, readout: QubitCalibration | None = None
    ) -> Fit:
        """Deviation from the staircase; ``readout``: the discriminator (default: built)."""
        shots = result.shots.get("c0")
        cal = readout if readout is not None else self.built.get(qubit)
        if shots is None or cal is None or cal.iq_angle_rad is None or cal.threshold is None:
            return Fit.failed(
                self.name, qubit, "no shots c0 or no discriminator to classify them with"
            )
        if shots.shape[0] != len(ALLXY_PAIRS):
            return Fit.failed(self.name, qubit, f"expected 21 pairs, got {shots.shape[0]}")
        ones = classify(shots, cal.iq_angle_rad.value, cal.threshold.value)
        n = ones.shape[1]
        p = ones.mean(axis=1).astype(np.float64)
        ideal = np.asarray(IDEAL)
        p0, p1 = float(p[:5].mean()), float(p[-4:].mean())
        contrast = p1 - p0
        if contrast < 0.5:
            return Fit.failed(
                self.name, qubit, f"no contrast between |0⟩ and |1⟩ pairs: {contrast:.2f}"
            )
        corrected = (p - p0) / contrast
        deviation = float(np.sqrt(np.mean((corrected - ideal) ** 2)))
        raw = float(np.sqrt(np.mean((p - ideal) ** 2)))
        # shot noise alone: binomial variance of each point, scaled by the correction
        q = np.clip(p, 0.5 / n, 1 - 0.5 / n)
        noise = float(np.sqrt(np.mean(q * (1 - q) / n)) / contrast)
        index = {pair: k for k, pair in enumerate(ALLXY_PAIRS)}
        amp = float(np.mean([0.5 - corrected[index[k]] for k in _AMPLITUDE_PAIRS]))
        # x then y and y then x end on opposite sides of the equator for a phase error
        phase = float(corrected[index["yx"]] - corrected[index["xy"]])
        quality: Quality
        if deviation <= 2 * noise + self.tolerance:
            quality, msg = "good", f"deviation {deviation:.3f} (noise {noise:.3f})"
        else:
            quality = "poor"
            msg = (
                f"deviation {deviation:.3f} above noise {noise:.3f}: "
                f"amplitude signature {amp:+.3f}, phase signature {phase:+.3f}"
            )
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={
                "deviation": deviation,
                "raw_deviation": raw,
                "noise": noise,
                "p_ground": p0,
                "p_excited": p1,
                "amplitude_error": amp,
                "phase_error": phase,
            },
            uncertainties={"deviation": noise, "amplitude_error": noise, "phase_error": noise},
            quality=quality,
            r_squared=0.0,
            message=msg,
            x=tuple(float(k) for k in range(len(ALLXY_PAIRS))),
            y=tuple(float(v) for v in corrected),
            y_fit=IDEAL,
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """A check calibrates nothing: the state unchanged; a bad run raises."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: AllXY unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        return state
