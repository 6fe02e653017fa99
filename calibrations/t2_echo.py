"""Hahn echo: sx, τ/2, x, τ/2, sx; qiskit-experiments' ``T2HahnAnalysis`` on classified shots.

plan → sx, a delay τ/2, the π pulse, a second delay τ/2 and sx, then measure; both halves
are one channel sweep of the delays' duration, τ from 0 to ``span_factor`` × the expected
T2E (the stored T2E, else T2*, else 2·T1, the bound T2 ≤ 2·T1, else ``t2_guess_s``; capped
at ``max_span_s``), spaced as T1's delays (:mod:`~qneko_hw.calibrations.t1`: geometric by
default, split into programs that fit the AWG memory). With the geometric spacing the
statistical error of T2E is 2.2–3.6 % with the default 17 delays × 6000 shots for span/T2E
between 3 and 400 (the echo's baseline near ½ makes it larger than T1's), so the loose
2·T1 bound is a fine prior, and with nothing stored the 800 µs span resolves T2E from
2 to 200 µs. The qubit's discriminator (required), the span and the expected T2E go into
the setup; the axes are ``delay_s``, the total free time τ = 2·(τ/2), and
``half_delay_s``, each half.
fit → shots thresholded with the setup's discriminator, per-shot memory fitted by
``T2HahnAnalysis`` (``amp·exp(−τ/T2E) + base`` against the total free time τ). That
analysis fits P(|0⟩) (its data processor's outcome is ``"0"``: the echo returns the qubit
to |0⟩ at τ = 0); the figure shows P(|1⟩), so the model drawn and R² are of
P(|1⟩) = 1 − P(|0⟩), the same quantity as the points (see
:func:`~qneko_hw.calibrations.t1.fit_decay`);
update → ``t2_echo_s``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from qneko_hw.analysis import Results
from qneko_hw.calibrations.gates import (
    drive_limit_v,
    drive_sample_period_s,
    gate_pulse,
    idle_is_free,
)
from qneko_hw.calibrations.readout import require_discriminator
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.calibrations.t1 import (
    PROGRAM_COST_SAMPLES,
    PROGRAM_SAMPLES,
    Spacing,
    delay_programs,
    fit_decay,
    spaced_delays,
    split_sweep,
)
from qneko_hw.config.base import Frozen
from qneko_hw.config.calibration import CalibrationState, QubitCalibration
from qneko_hw.config.station import Station
from qneko_hw.data import Axis, Data
from qneko_hw.discrimination import Discriminator
from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep

__all__ = ["T2Echo", "T2EchoSetup"]


class T2EchoSetup(Frozen):
    """What the echo fit needs besides the shots.

    Attributes:
        discriminator: what the shots are classified with.
        span_s: the longest total free time (s).
        expected_t2_s: the T2E (s) the span was chosen for (module docstring).
    """

    discriminator: Discriminator
    span_s: float
    expected_t2_s: float


class T2Echo(Routine[T2EchoSetup]):
    """Hahn-echo coherence time T2E.

    Attributes:
        points, shots: delays and shots per delay; span_factor: longest total free time in
        units of the expected T2E; t2_guess_s: expected T2E (s) with nothing stored;
        max_span_s: cap on the longest total free time (s); spacing: ``geometric`` or
        ``linear`` free times.
    """

    kind: ClassVar[str] = "t2_echo"
    setup_type: ClassVar[type[T2EchoSetup]] = T2EchoSetup
    updates: ClassVar[tuple[Update, ...]] = (Update("t2_echo_s", "t2_echo_s"),)

    points: int = 17
    shots: int = 6000
    span_factor: float = 4.0
    t2_guess_s: float = 200e-6
    max_span_s: float = 1.6e-3
    spacing: Spacing = "geometric"
    name: str = "t2_echo"

    def expected_s(self, cal: QubitCalibration) -> float:
        """The T2E (s) expected for ``cal``'s qubit (see the module docstring)."""
        known = cal.t2_echo_s or cal.t2_s
        if known is not None:
            return known.value
        if cal.t1_s is not None:
            return 2.0 * cal.t1_s.value
        return self.t2_guess_s

    def plan(self, qubit: str, state: CalibrationState, station: Station) -> Plan[T2EchoSetup]:
        """sx, delay τ/2, x, delay τ/2 (both swept, s), sx, measure; one program per delay
        group.

        Raises:
            CalibrationError: the qubit has no drive line or no discriminator.
        """
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        disc = require_discriminator(state, qubit, self.name)
        expected = self.expected_s(cal)
        span = min(self.span_factor * expected, self.max_span_s)
        drive = f"{qubit}.drive"
        sx = gate_pulse(cal, cal.pi_half_amplitude_v.value)
        halves = spaced_delays(station, qubit, span / 2, self.points, self.spacing)
        half_max = round(self.max_span_s / 2 / drive_sample_period_s(station, qubit, self.name))
        # both halves play in every step: a program's longest step is twice its longest half
        groups = (
            [range(self.points)]
            if idle_is_free(station, qubit)
            else delay_programs(
                self.points, self.spacing, half_max, PROGRAM_SAMPLES // 2, PROGRAM_COST_SAMPLES // 2
            )
        )
        exp = Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=drive, pulse=sx),
                Delay(channel=drive, duration_s=0.0),
                Play(channel=drive, pulse=gate_pulse(cal, cal.pi_amplitude_v.value)),
                Delay(channel=drive, duration_s=0.0),
                Play(channel=drive, pulse=sx),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(parameter="duration_s", channel=drive, values=halves),
            shots=self.shots,
            repetition_time_s=max(200e-6, span + 5 * expected),
        )
        half = np.asarray(halves, dtype=np.float64)
        axes = [
            Axis.of("delay_s", 2.0 * half, "s", "total free time τ of the echo (2 × τ/2)"),
            Axis.of("half_delay_s", half, "s", "free time τ/2 on each side of the π pulse"),
        ]
        setup = T2EchoSetup(discriminator=disc, span_s=span, expected_t2_s=expected)
        return Plan.programs(setup, axes, *split_sweep(exp, halves, groups))

    def fit(self, data: Data[T2EchoSetup]) -> Results:
        """T2E (s) from the thresholded shots against the total free time (s)."""
        outcomes = data.setup.discriminator.classify(data.iq(data.qubit))
        return fit_decay(
            self.name,
            data.qubit,
            data.axis("delay_s"),
            outcomes,
            kind="T2",
            key="t2_echo_s",
            x_label="total free time τ",
        )
