"""Calibration state: the current best value of every calibrated parameter, per qubit.

Every value carries its uncertainty, when it was set and by which run; a value that only
comes from the chip's design (never measured) has ``run_id=None``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import Field

from qneko_hw.config.base import Frozen, model_from_data
from qneko_hw.errors import ConfigError

__all__ = ["CalValue", "CalibrationState", "CzCalibration", "QubitCalibration"]


class CalValue(Frozen):
    """One calibrated number.

    Attributes:
        value: the value, in the SI unit of its field.
        uncertainty: one standard deviation, same unit; ``None`` when unknown.
        updated: UTC time it was set.
        run_id: the run that produced it, ``None`` for a design value.
    """

    value: float
    uncertainty: Annotated[float, Field(ge=0)] | None = None
    updated: datetime | None = None
    run_id: str | None = None

    @classmethod
    def design(cls, value: float) -> CalValue:
        """A value taken from the design, not measured."""
        return cls(value=value)

    @classmethod
    def measured(cls, value: float, uncertainty: float | None, run_id: str) -> CalValue:
        """A measured value, stamped with the current UTC time.

        A fitter that could not estimate the uncertainty (NaN or infinite, as when the
        covariance of a fit is singular) gives an unknown uncertainty (``None``).
        """
        if uncertainty is not None and not math.isfinite(uncertainty):
            uncertainty = None
        return cls(value=value, uncertainty=uncertainty, updated=datetime.now(UTC), run_id=run_id)


class QubitCalibration(Frozen):
    """Calibrated parameters of one qubit (SI units; amplitudes in volts at the AWG output).

    Attributes:
        drive_frequency_hz: frequency of single-qubit gate pulses (Hz).
        pi_amplitude_v: peak amplitude of the π pulse (V at the AWG output).
        pi_half_amplitude_v: peak amplitude of the π/2 pulse (V).
        pulse_duration_s: duration of single-qubit gate pulses (s).
        pulse_sigma_s: Gaussian σ of single-qubit gate pulses (s).
        drag_beta_s: DRAG coefficient β (s): Q = β·dI/dt.
        readout_frequency_hz: readout tone frequency (Hz).
        readout_amplitude_v: readout pulse amplitude (V at the AWG output).
        readout_duration_s: readout pulse and integration duration (s).
        integration_weights: complex weights per sample as [re, im] pairs, or empty for a box.
        threshold: discrimination threshold on the rotated I axis (V), if calibrated.
        iq_angle_rad: rotation bringing the |0⟩–|1⟩ axis onto I (rad), if calibrated.
        t1_s, t2_s: measured coherence times (s): T1 and T2* (Ramsey).
        t2_echo_s: Hahn-echo coherence time T2E (s), if measured.
        bias_voltage_v: DC flux-bias voltage (V) at the qubit's operating point, for a qubit
            with a bias line; the compiler sets its DC source to it.
        assignment_fidelity: single-shot assignment fidelity ``1 − ½·[P(1|0) + P(0|1)]``
            of ``threshold``/``iq_angle_rad`` (dimensionless), if measured.
        error_per_clifford: average error per single-qubit Clifford from randomized
            benchmarking (dimensionless), if measured.
        anharmonicity_hz: α = f12 − f01 (Hz, negative for a transmon): the design's, then
            measured by e–f spectroscopy.
    """

    drive_frequency_hz: CalValue
    pi_amplitude_v: CalValue
    pi_half_amplitude_v: CalValue
    pulse_duration_s: CalValue = CalValue(value=40e-9)
    pulse_sigma_s: CalValue = CalValue(value=10e-9)
    drag_beta_s: CalValue = CalValue(value=0.0)
    readout_frequency_hz: CalValue
    readout_amplitude_v: CalValue = CalValue(value=0.1)
    readout_duration_s: CalValue = CalValue(value=2e-6)
    integration_weights: tuple[tuple[float, float], ...] = ()
    threshold: CalValue | None = None
    iq_angle_rad: CalValue | None = None
    t1_s: CalValue | None = None
    t2_s: CalValue | None = None
    t2_echo_s: CalValue | None = None
    assignment_fidelity: CalValue | None = None
    bias_voltage_v: CalValue | None = None
    error_per_clifford: CalValue | None = None
    anharmonicity_hz: CalValue | None = None


class CzCalibration(Frozen):
    """A CZ gate between two qubits: a flux pulse on one of them plus virtual-Z corrections.

    Attributes:
        flux_qubit: the qubit whose flux line carries the pulse.
        amplitude_v: flux pulse amplitude (V at the AWG output).
        duration_s: flux pulse duration (s).
        phase_a_rad, phase_b_rad: single-qubit phase corrections (rad) of the pair's first
            and second qubit, applied as frame changes after the pulse.
    """

    flux_qubit: str
    amplitude_v: CalValue
    duration_s: CalValue
    phase_a_rad: CalValue = CalValue(value=0.0)
    phase_b_rad: CalValue = CalValue(value=0.0)


class CalibrationState(Frozen):
    """The calibration state of a chip on a station.

    Attributes:
        qubits: one :class:`QubitCalibration` per qubit.
        cz: CZ gates by pair name ``"qa-qb"``.
    """

    version: int = 0
    qubits: dict[str, QubitCalibration]
    cz: dict[str, CzCalibration] = Field(default_factory=dict)

    def cz_for(self, a: str, b: str) -> tuple[CzCalibration, bool] | None:
        """The CZ calibration of the pair and whether it is stored as ``b-a``; or ``None``."""
        if f"{a}-{b}" in self.cz:
            return self.cz[f"{a}-{b}"], False
        if f"{b}-{a}" in self.cz:
            return self.cz[f"{b}-{a}"], True
        return None

    def qubit(self, name: str) -> QubitCalibration:
        """The calibration of ``name``; a missing qubit raises :class:`ConfigError`."""
        try:
            return self.qubits[name]
        except KeyError:
            known = ", ".join(sorted(self.qubits))
            raise ConfigError(f"no calibration for qubit '{name}' (known: {known})") from None

    def with_qubit(self, name: str, **changes: CalValue | None) -> CalibrationState:
        """A new state (version + 1) with fields of qubit ``name`` replaced."""
        q = self.qubit(name).model_copy(update=changes)
        q = QubitCalibration.model_validate(q.model_dump())
        return self.model_copy(
            update={"version": self.version + 1, "qubits": {**self.qubits, name: q}}
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) of the whole state."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2)

    def save(self, path: str | Path) -> None:
        """Write the state as JSON atomically (write a temporary file, then rename)."""
        p = Path(path)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(p)

    @classmethod
    def load(cls, path: str | Path) -> CalibrationState:
        """Read a state written by :meth:`save`."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read calibration state: {exc}", source=str(p)) from None
        return model_from_data(cls, data, source=str(p))
