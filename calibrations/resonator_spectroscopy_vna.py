"""Resonator spectroscopy through a VNA: sweep S21 around the readout frequency, fit the dip.

A VNA measures the feedline's transmission directly; it has nothing to compile, so this
routine does not go through ``build``/``compile``/``execute``. Its API is
:meth:`ResonatorSpectroscopyVna.measure` (``(qubit, state, station, vna) -> Fit``, with
``vna`` any object filling the :class:`~qneko_hw.drivers.roles.VNA` role) followed by the
usual :meth:`~ResonatorSpectroscopyVna.update`.

measure → one linear sweep of ``span_hz`` in ``points`` points centred on the current
``readout_frequency_hz`` (the design value before any calibration, f_r + χ of the design),
optionally corrected for a known electrical delay τ (``S21·e^{2πi·f·τ}``).
analyze → the complex S21 of a notch-type (hanger) resonator,
``S21(f) = c + a/(1 + 2i·h·(f − f_r)/κ)`` (c: off-resonant transmission, a = −c·κ/κ_ext·e^{iφ},
κ: FWHM linewidth in Hz, h = ±1 the sense of rotation), is fitted by least squares on the
real and imaginary parts (the fit of the digitizer routine,
:func:`~qneko_hw.calibrations.resonator_spectroscopy.fit_resonance`). The trace noise per
quadrature, for the weights, is estimated from the second differences of the trace.
update → ``readout_frequency_hz`` = f_r, the fitted dip. This is the convention of the
digitizer routine (:class:`~qneko_hw.calibrations.resonator_spectroscopy.ResonatorSpectroscopy`
sets the |0⟩ resonance; the design state's f_r + χ is not kept): readout optimization then
moves it to where |0⟩ and |1⟩ separate best. With the qubit thermal the dip is that of the
|0⟩ resonance, pulled by at most p_th·2χ towards the |1⟩ resonance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Fit
from qneko_hw.calibrations.graph import NotApplicable, idle_experiment
from qneko_hw.calibrations.resonator_spectroscopy import (
    fit_resonance,
    resonance_fit,
    set_readout_frequency,
)
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.drivers.roles import VNA
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment

__all__ = ["VNA_MODELS", "ResonatorSpectroscopyVna", "ResonatorSpectroscopyVnaNode", "trace_noise"]

#: Instrument models of the station that are VNAs.
VNA_MODELS = frozenset({"rs_znb20"})


def trace_noise(z: NDArray[np.complex128]) -> float:
    """White noise per quadrature of a smooth complex trace, from its second differences
    (each has variance 6σ² per quadrature)."""
    if z.size < 3:
        return 0.0
    d2 = z[2:] - 2 * z[1:-1] + z[:-2]
    return float(math.sqrt(float(np.mean(np.abs(d2) ** 2)) / 12.0))


@dataclass(frozen=True)
class ResonatorSpectroscopyVna:
    """Readout-resonator spectroscopy with a VNA.

    Attributes:
        span_hz: full width of the sweep (Hz), centred on the current readout frequency.
        points: frequencies of the sweep.
        electrical_delay_s: known electrical delay τ (s) of the line, removed before the
            fit (0: none).
    """

    span_hz: float = 10e6
    points: int = 401
    electrical_delay_s: float = 0.0
    name: str = "resonator_spectroscopy_vna"

    def measure(self, qubit: str, state: CalibrationState, station: Station, vna: VNA) -> Fit:
        """Sweep the VNA around ``qubit``'s readout frequency and fit the resonance."""
        if station.feedline_of(qubit) is None:
            raise CalibrationError(f"{qubit} has no readout line", qubit=qubit, routine=self.name)
        centre = state.qubit(qubit).readout_frequency_hz.value
        f, s = vna.sweep(centre - self.span_hz / 2, centre + self.span_hz / 2, self.points)
        return self.analyze(qubit, np.asarray(f, dtype=np.float64), np.asarray(s))

    def analyze(self, qubit: str, f: NDArray[np.float64], s21: NDArray[np.complex128]) -> Fit:
        """Resonance frequency and linewidth (Hz) from one S21 trace (frequencies in Hz)."""
        if f.size < 7 or f.shape != s21.shape:
            return Fit.failed(self.name, qubit, "fewer than 7 frequencies measured")
        z = np.asarray(s21, dtype=np.complex128) * np.exp(2j * np.pi * f * self.electrical_delay_s)
        noise = max(trace_noise(z), 1e-12 * float(np.abs(z).max(initial=1.0)))
        try:
            p, s, r2 = fit_resonance(f, z, np.full(f.size, noise))
        except (ValueError, RuntimeError) as exc:
            return Fit.failed(self.name, qubit, f"fit failed: {exc}")
        a, c = complex(p[2], p[3]), complex(p[4], p[5])
        depth = abs(a) / abs(c) if abs(c) > 0 else math.inf
        return resonance_fit(
            self.name, qubit, f, z, fitted=(p, s, r2), noise=noise, depth={"depth": depth}
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with the readout frequency at the fitted resonance; a bad fit raises."""
        return set_readout_frequency(state, fit, run_id, self.name, "VNA resonator spectroscopy")


@dataclass(frozen=True)
class ResonatorSpectroscopyVnaNode:
    """:class:`ResonatorSpectroscopyVna` as a graph routine (build → analyze → update).

    Attributes:
        span_hz, points, electrical_delay_s: as :class:`ResonatorSpectroscopyVna`.
        vna: the VNA's driver; ``None``: the node does not apply (nothing to sweep with).
        multiplex: never run on several qubits at once (the VNA measures by itself).
    """

    span_hz: float = 10e6
    points: int = 401
    electrical_delay_s: float = 0.0
    vna: VNA | None = field(default=None, compare=False, repr=False)
    name: str = "resonator_spectroscopy_vna"
    multiplex: bool = False
    skipped: NotApplicable = field(default_factory=NotApplicable, compare=False, repr=False)
    traces: dict[str, Fit] = field(default_factory=dict, compare=False, repr=False)

    def routine(self) -> ResonatorSpectroscopyVna:
        """The VNA routine with these settings."""
        return ResonatorSpectroscopyVna(
            span_hz=self.span_hz,
            points=self.points,
            electrical_delay_s=self.electrical_delay_s,
            name=self.name,
        )

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Sweep the VNA now (its fit is kept for ``analyze``); the runner gets an idle
        program. Without a VNA driver the node does not apply."""
        if self.vna is None:
            vnas = [n for n, c in station.instruments.items() if c.model in VNA_MODELS]
            reason = (
                f"the station's VNA {vnas[0]} was not handed to the graph (vna=...)"
                if vnas
                else "no VNA in the station"
            )
            return self.skipped.skip(self.name, qubit, reason)
        self.skipped.applies(qubit)
        self.traces[qubit] = self.routine().measure(qubit, state, station, self.vna)
        return idle_experiment(self.name, qubit)

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """The fit of the trace swept by ``build`` (``result`` holds no shots)."""
        skipped = self.skipped.fit(self.name, qubit)
        if skipped is not None:
            return skipped
        fit = self.traces.pop(qubit, None)
        return fit if fit is not None else Fit.failed(self.name, qubit, "no VNA trace taken")

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """The readout frequency at the fitted resonance; unchanged when the node does not
        apply; a bad fit raises CalibrationError."""
        if fit.values.get("applicable") == 0.0:
            return state
        return self.routine().update(state, fit, run_id)
