"""e–f spectroscopy: the |1⟩ ↔ |2⟩ line, and so the anharmonicity α = f12 − f01.

plan → the calibrated π pulse (|0⟩ → |1⟩), then the drive frame shifted by ``α_guess + o``
(``ShiftFrequency``, the offset ``o`` swept over ``± span_hz`` in ``points`` steps) and a
constant pulse of ``duration_s`` whose amplitude drives the e–f transition at a Rabi
frequency of ``rabi_hz`` (the e–f matrix element is √2 times the g–e one of a transmon, so
the amplitude is that of a g–e Rabi frequency ``rabi_hz/√2`` by the stored π pulse,
capped at the drive AWG's limit), the frame set back to f01 and a second π pulse (|1⟩ → |0⟩;
what the e–f drive moved to |2⟩ stays: the signal is |2⟩ against |0⟩, the larger contrast),
then measure; one program, axes ``frequency_hz`` (the
absolute e–f drive frequency) and ``offset_hz``. ``α_guess`` is the stored anharmonicity
(the design's, fabrication moves it by ±3 %, a few MHz). The setup holds the drive
frequency f01 the run started from, α_guess, the drive amplitude and pulse.
fit → the mean IQ point per frequency projected on its principal axis (|0⟩ and |2⟩ read
differently through χ₂; a |0⟩/|1⟩ threshold may not tell |2⟩ apart), a Lorentzian
(:func:`~qneko_hw.calibrations.qubit_spectroscopy.fit_lorentzian`) places f12; α = f12 − f01
with the σ of the line and of f01 in quadrature. A line outside the sweep, or one at the
g–e frequency's side (α ≥ 0, not a transmon's), is ``bad``.
update → ``anharmonicity_hz``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from qneko_hw.analysis import Results
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy, fit_lorentzian
from qneko_hw.calibrations.readout import excited_population
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.errors import CalibrationError
from qneko_hw.experiment import (
    Experiment,
    Measure,
    Play,
    SetFrequency,
    ShiftFrequency,
    Sweep,
)
from qneko_hw.pulses import Constant

__all__ = ["EfSpectroscopy", "EfSpectroscopySetup"]


class EfSpectroscopySetup(Frozen):
    """What the e–f fit needs besides the shots.

    Attributes:
        start_drive_frequency_hz: f01 (Hz) the run started from (the π pulse's frequency).
        anharmonicity_guess_hz: the stored α (Hz) the sweep was centred on.
        drive_amplitude_v: amplitude (V at the AWG) of the e–f drive. pulse: that drive.
    """

    start_drive_frequency_hz: float
    anharmonicity_guess_hz: float
    drive_amplitude_v: float
    pulse: Constant


class EfSpectroscopy(Routine[EfSpectroscopySetup]):
    """Spectroscopy of the e–f transition after a π pulse: the anharmonicity.

    Attributes:
        points: frequencies; shots: shots per frequency; span_hz: half-width (Hz) of the
        sweep around f01 + α_guess; duration_s: e–f drive length (s); rabi_hz: its e–f
        Rabi frequency (Hz).
    """

    kind: ClassVar[str] = "ef_spectroscopy"
    setup_type: ClassVar[type[EfSpectroscopySetup]] = EfSpectroscopySetup
    updates: ClassVar[tuple[Update, ...]] = (Update("anharmonicity_hz", "anharmonicity_hz"),)

    points: int = 81
    shots: int = 500
    span_hz: float = 10e6
    duration_s: float = 1e-6
    rabi_hz: float = 500e3
    name: str = "ef_spectroscopy"

    def plan(
        self, qubit: str, state: CalibrationState, station: Station
    ) -> Plan[EfSpectroscopySetup]:
        """π pulse, frame shifted to f12 + offset (swept), constant e–f drive, measure.

        Raises:
            CalibrationError: no drive line, or no anharmonicity stored to start from.
        """
        cal = state.qubit(qubit)
        limit = drive_limit_v(station, qubit, self.name)
        if cal.anharmonicity_hz is None:
            raise CalibrationError(
                f"{qubit}: no anharmonicity to start from (the design gives one)",
                qubit=qubit,
                routine=self.name,
            )
        guess = cal.anharmonicity_hz.value
        ge = QubitSpectroscopy(rabi_hz=self.rabi_hz / math.sqrt(2), duration_s=self.duration_s)
        amp = min(ge.drive_amplitude_v(cal, station, qubit), limit)
        pulse = Constant(amplitude_v=amp, duration_s=self.duration_s)
        offsets = np.linspace(-self.span_hz, self.span_hz, self.points)
        drive = f"{qubit}.drive"
        pi = gate_pulse(cal, cal.pi_amplitude_v.value)
        f01 = cal.drive_frequency_hz.value
        experiment = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=drive, pulse=pi),
                ShiftFrequency(channel=drive, frequency_hz=guess),
                Play(channel=drive, pulse=pulse),
                SetFrequency(channel=drive, frequency_hz=f01),
                Play(channel=drive, pulse=pi),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(
                parameter="frequency_hz",
                instruction=1,
                values=tuple(float(guess + o) for o in offsets),
            ),
            shots=self.shots,
        )
        setup = EfSpectroscopySetup(
            start_drive_frequency_hz=f01,
            anharmonicity_guess_hz=guess,
            drive_amplitude_v=amp,
            pulse=pulse,
        )
        axes = [
            Axis.of("frequency_hz", f01 + guess + offsets, "Hz", "e–f drive frequency"),
            Axis.of("offset_hz", offsets, "Hz", "offset from f01 + α_guess"),
        ]
        return Plan.programs(setup, axes, experiment)

    def fit(self, data: Data[EfSpectroscopySetup]) -> Results:
        """f12 (Hz) from a Lorentzian, α = f12 − f01 (Hz)."""
        y, err = excited_population(data.iq(data.qubit), None)
        f = data.axis("frequency_hz")
        line = fit_lorentzian(
            self.name, data.qubit, f, y, err, y_label="projected IQ signal", y_unit="V"
        )
        if line.verdict == "bad":
            return line
        f12 = line.values["qubit_frequency_hz"]
        alpha = f12 - data.setup.start_drive_frequency_hz
        if alpha >= 0:
            return Results.failed(
                self.name,
                data.qubit,
                f"line at f01 {alpha / 1e6:+.1f} MHz: not an e–f line (α must be < 0)",
                figure=line.figure,
            )
        sigma = line.uncertainties.get("qubit_frequency_hz", math.nan)
        values = {**line.values, "f12_hz": f12, "anharmonicity_hz": alpha}
        moved = (alpha - data.setup.anharmonicity_guess_hz) / 1e6
        return line.model_copy(
            update={
                "values": values,
                "uncertainties": {**line.uncertainties, "anharmonicity_hz": sigma},
                "message": f"α = {alpha / 1e6:.3f} MHz ({moved:+.2f} MHz from the guess); "
                + line.message,
            }
        )
