"""AllXY: 21 pairs of π and π/2 rotations about X and Y, measured against the ideal staircase.

plan → one circuit per pair (native gates: ``x``, ``sx``; a rotation about Y is the same
pulse between ``rz(−π/2)`` and ``rz(π/2)``; the identity is an idle of one gate duration),
then measure; one program, one sweep step per pair. The qubit's discriminator goes into
the setup (AllXY needs one).
fit → P(|1⟩) per pair from the classified shots; the readout's own errors are taken out
with the pairs whose ideal outcome is certain (the first five end in |0⟩, the last four in
|1⟩): ``p̃ = (p − p₀)/(p₁ − p₀)``; the figure of merit ``deviation`` is the RMS distance of
``p̃`` from the ideal staircase (0 ×5, ½ ×12, 1 ×4). Its noise floor ``noise`` is what shot
noise alone would give. Signatures: ``amplitude_error`` (mean of ½ − p̃ over xX, Xx, yY,
Yy: π/2 then π rotate by 3π/2 ideally, so the signature is positive when π pulses
over-rotate relative to π/2 pulses) and ``phase_error`` (p̃ of yx minus p̃ of xy: a phase
error between the X and Y axes, e.g. from DRAG).
update → nothing changes (a check): ``poor`` above the noise floor, ``bad`` without contrast.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from qneko_hw.analysis import Results, Verdict
from qneko_hw.calibrations.gates import drive_limit_v
from qneko_hw.calibrations.readout import require_discriminator
from qneko_hw.calibrations.routine import Plan, Routine
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.plot.figures import Figure, Panel, Series

__all__ = ["ALLXY_PAIRS", "IDEAL", "AllXY", "AllXYSetup"]

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


class AllXYSetup(Frozen):
    """The discriminator the shots are classified with."""

    discriminator: Discriminator


class AllXY(Routine[AllXYSetup]):
    """AllXY check of the single-qubit gates.

    Attributes:
        shots: shots per pair; repetition_time_s: time between shots (s);
        tolerance: deviation (dimensionless) above the noise floor still called good.
    """

    kind: ClassVar[str] = "allxy"
    setup_type: ClassVar[type[AllXYSetup]] = AllXYSetup

    shots: int = 500
    repetition_time_s: float = 200e-6
    tolerance: float = 0.02
    name: str = "allxy"

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[AllXYSetup]:
        """The 21 AllXY circuits on ``qubit`` (circuit qubit 0), each ending in a measure."""
        from qiskit import QuantumCircuit

        disc = require_discriminator(state, qubit, self.name)
        drive_limit_v(station, qubit, self.name)
        cal = state.qubit(qubit)
        circuits = []
        for pair in ALLXY_PAIRS:
            qc = QuantumCircuit(1, 1, name=pair)
            for gate in pair:
                _append(qc, gate, cal.pulse_duration_s.value)
            qc.measure(0, 0)
            circuits.append(qc)
        axis = Axis.of("pair", range(len(ALLXY_PAIRS)), "", "AllXY pair (index into ALLXY_PAIRS)")
        return Plan.circuits(
            AllXYSetup(discriminator=disc),
            [axis],
            circuits,
            shots=self.shots,
            repetition_time_s=self.repetition_time_s,
        )

    def fit(self, data: Data[AllXYSetup]) -> Results:
        """Deviation from the staircase of the readout-corrected P(|1⟩)."""
        shots = data.iq("c0")
        if shots.shape[0] != len(ALLXY_PAIRS):
            return Results.failed(self.name, data.qubit, f"expected 21 pairs, got {shots.shape[0]}")
        ones = data.setup.discriminator.classify(shots)
        n = ones.shape[1]
        p = ones.mean(axis=1).astype(np.float64)
        ideal = np.asarray(IDEAL)
        p0, p1 = float(p[:5].mean()), float(p[-4:].mean())
        contrast = p1 - p0
        if contrast < 0.5:
            return Results.failed(
                self.name, data.qubit, f"no contrast between |0⟩ and |1⟩ pairs: {contrast:.2f}"
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
        verdict: Verdict
        if deviation <= 2 * noise + self.tolerance:
            verdict, msg = "good", f"deviation {deviation:.3f} (noise {noise:.3f})"
        else:
            verdict = "poor"
            msg = (
                f"deviation {deviation:.3f} above noise {noise:.3f}: "
                f"amplitude signature {amp:+.3f}, phase signature {phase:+.3f}"
            )
        x = np.arange(len(ALLXY_PAIRS), dtype=np.float64)
        err = np.sqrt(q * (1 - q) / n) / contrast
        figure = Figure(
            panels=(
                Panel(
                    x_label="AllXY pair index (II … yy)",
                    y_label="P(|1⟩), readout corrected",
                    series=(
                        Series.points(x, corrected, err),
                        Series(kind="points", x=tuple(x), y=IDEAL, label="ideal", color="C3"),
                    ),
                    note=f"deviation {deviation:.3f} (noise {noise:.3f})",
                ),
            )
        )
        return Results(
            routine=self.name,
            qubit=data.qubit,
            verdict=verdict,
            message=msg,
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
            figure=figure,
        )
