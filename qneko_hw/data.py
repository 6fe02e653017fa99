"""A routine's data: everything its fit needs, as measured.

:class:`Data` holds the sweep axes along the measured steps (with units and long names),
the measured signals (IQ shots per acquisition, or a VNA trace), the routine's *setup*
(a frozen model of what the routine decided when it planned the measurement: the values it
started from, the discriminator it classifies shots with, the layout of the steps, pulse
shapes) and the provenance (run id, program digest, calibration version). A fit reads
nothing else, so the same :class:`Data` read back from a run file gives the same results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel

from qneko_hw.config.base import Frozen
from qneko_hw.errors import CalibrationError

__all__ = ["Axis", "Data", "Provenance", "Signal"]

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class Axis:
    """Values of one swept quantity, one per measured step.

    Attributes:
        name: identifier with the unit suffix (``amplitude_v``, ``delay_s``, ``pulses``).
        values: one value per step, float64, in ``unit``.
        unit: SI unit (``V``, ``s``, ``Hz``, ``rad``; empty: dimensionless).
        long_name: what it is, for humans and plots.
    """

    name: str
    values: NDArray[np.float64]
    unit: str
    long_name: str

    @classmethod
    def of(cls, name: str, values: ArrayLike, unit: str, long_name: str) -> Axis:
        """An axis from any sequence of numbers."""
        return cls(name, np.asarray(values, dtype=np.float64).reshape(-1), unit, long_name)


@dataclass(frozen=True, eq=False)
class Signal:
    """One measured quantity.

    Attributes:
        values: the array; IQ shots are complex64 of dims ``("step", "shot")`` in V.
        dims: dimension names, the first always ``step``.
        unit: SI unit (empty: dimensionless, e.g. S21).
        long_name: what it is.
    """

    values: NDArray[np.generic]
    dims: tuple[str, ...]
    unit: str
    long_name: str

    @classmethod
    def iq(cls, shots: ArrayLike, acquisition: str) -> Signal:
        """Integrated, demodulated IQ shots (steps, shots) of ``acquisition``, in V."""
        return cls(
            np.ascontiguousarray(shots, dtype=np.complex64),
            ("step", "shot"),
            "V",
            f"IQ shots of acquisition {acquisition} (integrated, demodulated)",
        )


class Provenance(Frozen):
    """Where data came from.

    Attributes:
        run_id: the run. program_digest: sha256 of the compiled programs (or of the
        measurement's settings). calibration_version: store version it was measured with.
        multiplexed_with: other qubits measured in the same programs.
    """

    run_id: str
    program_digest: str
    calibration_version: int
    multiplexed_with: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Data(Generic[S]):
    """A routine's measured data (see the module docstring).

    Attributes:
        routine: the routine's name. qubit: the qubit.
        setup: the routine's setup model (what it planned with).
        axes: sweep axes by name, each one value per step.
        signals: measured signals by name (acquisition names for IQ shots).
        provenance: run, program digest, calibration version.
    """

    routine: str
    qubit: str
    setup: S
    axes: Mapping[str, Axis]
    signals: Mapping[str, Signal]
    provenance: Provenance = field(
        default_factory=lambda: Provenance(run_id="", program_digest="", calibration_version=0)
    )

    @property
    def steps(self) -> int:
        """Number of measured steps."""
        for s in self.signals.values():
            return int(s.values.shape[0])
        for a in self.axes.values():
            return int(a.values.size)
        return 0

    def axis(self, name: str) -> NDArray[np.float64]:
        """Values of axis ``name``; a missing axis raises :class:`CalibrationError`."""
        try:
            return self.axes[name].values
        except KeyError:
            known = ", ".join(self.axes) or "none"
            raise CalibrationError(
                f"{self.routine} data of {self.qubit} has no axis {name} (axes: {known})",
                qubit=self.qubit,
                routine=self.routine,
            ) from None

    def iq(self, name: str) -> NDArray[np.complex64]:
        """IQ shots (steps, shots) of acquisition ``name``; a missing one raises
        :class:`CalibrationError` naming the acquisitions there are."""
        sig = self.signals.get(name)
        if sig is None:
            known = ", ".join(sorted(self.signals)) or "none"
            raise CalibrationError(
                f"no shots for {name} in the {self.routine} data of {self.qubit} "
                f"(acquisitions: {known})",
                qubit=self.qubit,
                routine=self.routine,
            )
        return np.asarray(sig.values, dtype=np.complex64)
