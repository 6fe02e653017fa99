"""Qubit search: find f01 from its design value over a wide band, for the narrow spectroscopy.

Fabrication moves untuned fixed-frequency transmons by σ ≈ 50–80 MHz from their design
(see :mod:`qneko_hw.simulated_instruments.fabrication` for the numbers and sources), far
outside the ±10 MHz of :class:`~qneko_hw.calibrations.qubit_spectroscopy.QubitSpectroscopy`.

plan → a drive frequency never measured (a design value) is searched for: a short constant
pulse (``duration_s``, at a Rabi frequency ``rabi_hz`` from the stored π amplitude so that
it is about a π pulse on resonance: ``rabi_hz·duration_s = ½``) swept over
``f_design ± span_hz`` in ``step_hz`` steps, one program; the short pulse power-broadens
the line to a few MHz (FWHM ≈ 1.6·rabi_hz), so a 1 MHz grid cannot step over it, and the
two-photon f02/2 line stays invisible (its rate √2·Ω²/|α| is ~100 kHz at Ω = 5 MHz). A
drive frequency that was measured: nothing to search (a "not applicable" run).
fit → the excited population (the IQ shots projected on their principal axis: no
discriminator yet; oriented so that the largest excursion from the median, the line, is
upwards: across a wide band most steps are the ground state) per frequency; lines are the
local maxima ``6 σ`` above the median baseline (σ from the median absolute deviation) and
above a third of the highest; f01 is
the *highest-frequency* line (a thermally excited qubit shows f12 = f01 + α, α < 0, below
it), refined by a Lorentzian fit within ``window_hz`` of it; the others are reported.
update → ``drive_frequency_hz``; the narrow spectroscopy then measures it precisely.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Results
from qneko_hw.calibrations.gates import drive_limit_v
from qneko_hw.calibrations.qubit_spectroscopy import (
    QubitSpectroscopy,
    drive_sweep,
    fit_lorentzian,
)
from qneko_hw.calibrations.readout import excited_population, population_label
from qneko_hw.calibrations.routine import Plan, Routine, Skip, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.plot.figures import Figure, Series, fit_panel
from qneko_hw.pulses import Constant

__all__ = ["QubitSearch", "QubitSearchSetup", "find_lines"]


def find_lines(y: NDArray[np.float64], *, min_separation: int) -> list[int]:
    """Indices of the lines of a wide spectrum ``y``: local maxima 6 σ above the median
    (σ = 1.4826·MAD) and above a third of the highest, ``min_separation`` points apart."""
    from scipy.signal import find_peaks

    base = float(np.median(y))
    sigma = 1.4826 * float(np.median(np.abs(y - base))) or float(np.std(y)) or 1e-30
    height = base + max(6 * sigma, (float(y.max()) - base) / 3)
    peaks, _ = find_peaks(y, height=height, distance=max(1, min_separation))
    return [int(k) for k in peaks]


class QubitSearchSetup(Frozen):
    """What the search's fit needs besides the shots: the discriminator (None: the IQ
    projection), the drive pulse, and the design frequency (Hz) the band was centred on."""

    discriminator: Discriminator | None
    pulse: Constant
    design_frequency_hz: float


class QubitSearch(Routine[QubitSearchSetup]):
    """Wide search for the qubit transition (see the module docstring).

    Attributes:
        span_hz: half-width (Hz) of the band around the design frequency; step_hz: grid
        step (Hz); shots: per frequency; duration_s: drive pulse length (s); rabi_hz:
        its Rabi frequency (Hz); window_hz: half-width (Hz) of the Lorentzian fit window.
    """

    kind: ClassVar[str] = "qubit_search"
    setup_type: ClassVar[type[QubitSearchSetup]] = QubitSearchSetup
    updates: ClassVar[tuple[Update, ...]] = (Update("qubit_frequency_hz", "drive_frequency_hz"),)

    span_hz: float = 300e6
    step_hz: float = 1e6
    shots: int = 200
    duration_s: float = 100e-9
    rabi_hz: float = 5e6
    window_hz: float = 15e6
    name: str = "qubit_search"

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[QubitSearchSetup]:
        """The swept short drive (Hz), then measure; nothing if f01 was measured."""
        cal = state.qubit(qubit)
        limit = drive_limit_v(station, qubit, self.name)
        shaping = QubitSpectroscopy(rabi_hz=self.rabi_hz, duration_s=self.duration_s)
        pulse = Constant(
            amplitude_v=min(shaping.drive_amplitude_v(cal, station, qubit), limit),
            duration_s=self.duration_s,
        )
        f0 = cal.drive_frequency_hz.value
        setup = QubitSearchSetup(
            discriminator=Discriminator.of(cal), pulse=pulse, design_frequency_hz=f0
        )
        if cal.drive_frequency_hz.run_id is not None:
            return Plan(setup, (), Skip("the drive frequency was measured: nothing to search"))
        n = 2 * round(self.span_hz / self.step_hz) + 1
        freqs = np.asarray(f0 + self.step_hz * (np.arange(n) - (n - 1) / 2), dtype=np.float64)
        experiment = drive_sweep(f"{self.name}_{qubit}", qubit, pulse, freqs, self.shots)
        axis = Axis.of("frequency_hz", freqs, "Hz", "frame frequency of the drive")
        return Plan.programs(setup, [axis], experiment)

    def fit(self, data: Data[QubitSearchSetup]) -> Results:
        """f01 (Hz): the highest-frequency line of the band, fitted in a window."""
        disc = data.setup.discriminator
        y, err = excited_population(data.iq(data.qubit), disc)
        if disc is None:  # the projection's sign: the line rises out of the baseline
            base = float(np.median(y))
            y = y if y.max() - base >= base - y.min() else 2 * base - y
        f = data.axis("frequency_hz")
        label, unit = population_label(disc)
        step = float(np.median(np.diff(f))) if f.size > 1 else 1.0
        lines = find_lines(y, min_separation=max(1, round(2 * self.rabi_hz / step)))
        overview = fit_panel(
            f, y, err, None, x_label="drive frequency (search)", x_unit="Hz", y_label=label,
            y_unit=unit,
        )  # fmt: skip
        if not lines:
            return Results.failed(
                self.name,
                data.qubit,
                f"no qubit line within ±{self.span_hz / 1e6:.0f} MHz of the design "
                f"{data.setup.design_frequency_hz / 1e9:.6f} GHz",
                Figure(panels=(overview,)),
            )
        chosen = max(lines, key=lambda k: f[k])
        window = np.abs(f - f[chosen]) <= self.window_hz
        res = fit_lorentzian(
            self.name, data.qubit, f[window], y[window], err[window], y_label=label, y_unit=unit
        )
        others = [float(f[k]) for k in lines if k != chosen]
        moved = (f[chosen] - data.setup.design_frequency_hz) / 1e6
        note = f"{len(lines)} line(s); f01 is the highest, {moved:+.1f} MHz from the design"
        if others:
            note += "; others at " + ", ".join(f"{x / 1e9:.6f} GHz" for x in others)
        marks = [Series(kind="vline", x=(float(f[chosen]),), label="f01", color="C2")]
        if others:
            marks.append(Series(kind="vline", x=tuple(others), label="other lines", color="C1"))
        overview = overview.model_copy(update={"series": (*overview.series, *marks)})
        fitted = res.figure.panels if res.figure is not None else ()
        if res.verdict == "good" and not math.isclose(
            res.values["qubit_frequency_hz"], float(f[chosen]), abs_tol=self.window_hz
        ):
            res = Results.failed(self.name, data.qubit, "the line fit left its window")
        return res.model_copy(
            update={
                "message": f"{res.message}; {note}",
                "values": {**res.values, "lines_found": float(len(lines))},
                "vectors": {"other_lines_hz": tuple(others)},
                "figure": Figure(panels=(overview, *fitted)),
            }
        )
