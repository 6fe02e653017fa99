"""Resonator spectroscopy through a VNA: sweep S21 around the readout frequency, fit the dip.

A VNA measures the feedline's transmission directly; it has nothing to compile. Its
measurement is a :class:`~qneko_hw.calibrations.routine.VnaSweep`, which the runner hands to
the station's VNA (any driver filling the :class:`~qneko_hw.roles.VNA` role); the trace goes
into the run file as the signal ``s21`` against the axis ``frequency_hz``, like any other
data.

plan → one linear sweep of ``span_hz`` in ``points`` points centred on the current
``readout_frequency_hz`` (the design value before any calibration), on the station's
first VNA; a station without a VNA: the routine does not apply (nothing is measured).
fit → S21 optionally corrected for a known electrical delay τ (``S21·e^{2πi·f·τ}``); the
complex S21 of a notch-type (hanger) resonator, ``S21(f) = c + a/(1 + 2i·h·(f − f_r)/κ)``
(c: off-resonant transmission, a = −c·κ/κ_ext·e^{iφ}, κ: FWHM linewidth in Hz, h = ±1 the
sense of rotation), is fitted by least squares on the real and imaginary parts (the fit of
the digitizer routine, :func:`~qneko_hw.calibrations.resonator_spectroscopy.fit_resonance`).
The trace noise per quadrature, for the weights, is estimated from the second differences
of the trace.
update → ``readout_frequency_hz`` = f_r, the fitted dip. This is the convention of the
digitizer routine (:class:`~qneko_hw.calibrations.resonator_spectroscopy.ResonatorSpectroscopy`
sets the |0⟩ resonance): readout optimization then moves it to where |0⟩ and |1⟩ separate
best. With the qubit thermal the dip is that of the |0⟩ resonance, pulled by at most
p_th·2χ towards the |1⟩ resonance.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results
from qneko_hw.calibrations.resonator_spectroscopy import resonance_results
from qneko_hw.calibrations.routine import Plan, Routine, Skip, Update, VnaSweep
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.errors import CalibrationError
from qneko_hw.instruments import models_with_role

__all__ = ["ResonatorSpectroscopyVna", "VnaSetup", "station_vna", "trace_noise"]


def trace_noise(z: NDArray[np.complex128]) -> float:
    """White noise per quadrature of a smooth complex trace, from its second differences
    (each has variance 6σ² per quadrature)."""
    if z.size < 3:
        return 0.0
    d2 = z[2:] - 2 * z[1:-1] + z[:-2]
    return float(math.sqrt(float(np.mean(np.abs(d2) ** 2)) / 12.0))


def station_vna(station: Station) -> str | None:
    """The name of the station's first VNA, or None."""
    vnas = set(models_with_role("vna"))
    return next((n for n, c in station.instruments.items() if c.model in vnas), None)


class VnaSetup(Frozen):
    """Which VNA swept."""

    instrument: str


class ResonatorSpectroscopyVna(Routine[VnaSetup]):
    """Readout-resonator spectroscopy with a VNA.

    Attributes:
        span_hz: full width of the sweep (Hz), centred on the current readout frequency.
        points: frequencies of the sweep.
        electrical_delay_s: known electrical delay τ (s) of the line, removed before the
            fit (0: none).
    """

    kind: ClassVar[str] = "resonator_spectroscopy_vna"
    setup_type: ClassVar[type[VnaSetup]] = VnaSetup
    updates: ClassVar[tuple[Update, ...]] = (
        Update("resonator_frequency_hz", "readout_frequency_hz"),
    )
    multiplex: ClassVar[bool] = False

    span_hz: float = 10e6
    points: int = 401
    electrical_delay_s: float = 0.0
    name: str = "resonator_spectroscopy_vna"

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[VnaSetup]:
        """A linear VNA sweep around ``qubit``'s readout frequency (Hz)."""
        if station.feedline_of(qubit) is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        vna = station_vna(station)
        if vna is None:
            return Plan(VnaSetup(instrument=""), (), Skip("no VNA in the station"))
        centre = state.qubit(qubit).readout_frequency_hz.value
        start, stop = centre - self.span_hz / 2, centre + self.span_hz / 2
        axis = Axis.of("frequency_hz", np.linspace(start, stop, self.points), "Hz", "VNA frequency")
        return Plan(VnaSetup(instrument=vna), (axis,), VnaSweep(vna, start, stop, self.points))

    def fit(self, data: Data[VnaSetup]) -> Results:
        """Resonance frequency and linewidth (Hz) from the S21 trace."""
        f = data.axis("frequency_hz")
        sig = data.signals.get("s21")
        if sig is None:
            return Results.failed(self.name, data.qubit, "no S21 trace in the data")
        s21 = np.asarray(sig.values, dtype=np.complex128)
        z = s21 * np.exp(2j * np.pi * f * self.electrical_delay_s) if f.shape == s21.shape else s21
        noise = max(trace_noise(z), 1e-12 * float(np.abs(z).max(initial=1.0)))
        return resonance_results(
            self.name,
            data.qubit,
            f,
            z,
            np.full(f.size, noise),
            noise=noise,
            unit="",
            label="S21",
            depth_key="depth",
        )
