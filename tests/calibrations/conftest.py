"""Shared set-up of the single-qubit routine tests: a fabricated device in a simulated lab.

The routines start from the chip's *design* values (or from truth for the prerequisites a
test does not exercise); the simulated lab runs a device fabricated from the design
(:func:`nearby_device`) whose frequencies, Rabi rates and coherence differ from it. Truth
(chip parameters, ``physics``) is used here and in the tests
only, to set prerequisites and to check answers, never by a routine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from numpy.typing import NDArray

from qneko_hw.calibrations import run_routine
from qneko_hw.calibrations.analyze import reanalyze
from qneko_hw.calibrations.gates import gate_pulse
from qneko_hw.calibrations.routine import Routine
from qneko_hw.calibrations.runner import RoutineOutcome
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.pulses import PulseModel, sample_pulse
from qneko_hw.simulated_instruments.fabrication import Spread, fabricate
from qneko_hw.simulated_instruments.lab import SimulatedLab, resonator_params, transmon_params
from qneko_hw.simulated_instruments.physics import readout as ro
from qneko_hw.simulated_instruments.physics import transmon
from qneko_hw.simulated_instruments.physics.truth import pi_amplitude

DT = 1e-9
#: Chips of the routine tests: (seed of the ``random_chip`` design, fabrication seed of
#: the device the lab runs). The seeds were picked so that q0 and q1 sit 2.5–6 MHz from
#: their design frequency and their Rabi rates 4–9 % from the design's, both signs.
CHIPS = [(11, 183), (12, 133)]

#: The spread of a device whose routine tests start near the answer: the narrow routines
#: (±10 MHz sweeps) are tested here, after the searches the acceptance tests run on full
#: fabrication spread (``test_acceptance``). Coherence 8–20 µs keeps delay sweeps short.
NEARBY = Spread(
    qubit_frequency_sigma_hz=3e6,
    resonator_sigma_hz=0.5e6,
    kappa_fraction=0.1,
    chi_fraction=0.1,
    rabi_fraction=0.1,
    t1_range_s=(8e-6, 20e-6),
    t2_ratio=(0.5, 1.0),
    thermal_range=(0.0, 0.02),
    dead_probability=0.0,
)


def nearby_device(design: Chip, seed: int) -> Chip:
    """The device the lab runs: ``design`` fabricated with the :data:`NEARBY` spread."""
    return fabricate(design, seed, NEARBY)


def chip_envelope(station: Station, qubit: str, pulse: PulseModel) -> NDArray[np.complex128]:
    """Envelope at the chip (V per V of amplitude) of a drive pulse at the line's IF."""
    line = station.drive[qubit]
    n = round(pulse.duration_s / DT)
    t = (np.arange(n) + 0.5) * DT
    unit = pulse.model_copy(update={"amplitude_v": 1.0})
    env = sample_pulse(unit, n, DT)
    return np.asarray(
        env * np.exp(-2j * np.pi * line.if_frequency_hz * t) * 10 ** (-line.attenuation_db / 20),
        dtype=np.complex128,
    )


def true_pi_amplitude(chip: Chip, station: Station, qubit: str, cal: QubitCalibration) -> float:
    """π amplitude (V at the AWG) of the calibrated gate pulse on resonance, from truth."""
    env = chip_envelope(station, qubit, gate_pulse(cal, 1.0))
    f_q = chip.qubits[qubit].frequency_hz
    f_lo = f_q - station.drive[qubit].if_frequency_hz
    return float(pi_amplitude(transmon_params(chip, qubit), env, DT, f_q, f_lo))


def true_pi_half_amplitude(
    chip: Chip, station: Station, qubit: str, cal: QubitCalibration
) -> float:
    """Amplitude (V at the AWG) at which the gate pulse gives P(|1⟩) = ½ without decay."""
    params = transmon_params(chip, qubit)
    env = chip_envelope(station, qubit, gate_pulse(cal, 1.0))
    f_lo = params.frequency_hz - station.drive[qubit].if_frequency_hz
    ground = np.diag([1.0, 0.0, 0.0]).astype(np.complex128)

    def p1(a: float) -> float:
        rho = transmon.evolve(params, a * env[None, :], DT, f_lo, dissipation=False, rho0=ground)
        return float(transmon.populations(rho)[0, 1]) - 0.5

    a_pi = true_pi_amplitude(chip, station, qubit, cal)
    return float(scipy.optimize.brentq(p1, 0.3 * a_pi, 0.7 * a_pi, xtol=1e-12))


def drag_axis_z(
    chip: Chip, station: Station, cal: QubitCalibration, qubit: str, beta_s: float
) -> float:
    """z-component of the rotation axis of ``cal``'s π pulse with DRAG coefficient
    ``beta_s`` (s) on ``chip``: the closed-system propagator of the pulse as the chip sees it
    (AWG envelope with IF, attenuation), moved to the qubit's frame, restricted to
    {|0⟩, |1⟩} at unit determinant; zero at the phase-error-free β."""
    cal = cal.model_copy(update={"drag_beta_s": CalValue.design(beta_s)})
    line = station.drive[qubit]
    params = transmon_params(chip, qubit)
    env = cal.pi_amplitude_v.value * chip_envelope(station, qubit, gate_pulse(cal, 1.0))
    f_lo = cal.drive_frequency_hz.value - line.if_frequency_hz
    u = transmon.unitary(params, env[None, :], DT, f_lo)[0]
    frame = np.exp(2j * np.pi * line.if_frequency_hz * np.arange(params.levels) * env.size * DT)
    u2 = (frame[:, None] * u)[:2, :2]
    u2 = u2 / np.sqrt(np.linalg.det(u2))
    half = np.arccos(np.clip(np.real(np.trace(u2)) / 2, -1, 1))
    return float(np.imag(u2[1, 1] - u2[0, 0]) / (2 * np.sin(half)))


def phase_error_free_beta(chip: Chip, station: Station, cal: QubitCalibration, qubit: str) -> float:
    """The DRAG β (s) that zeroes the phase error of ``cal``'s π pulse on ``chip``."""
    return float(
        scipy.optimize.brentq(
            lambda b: drag_axis_z(chip, station, cal, qubit, b), -0.5e-9, 2e-9, xtol=1e-14
        )
    )


def truth_state(chip: Chip, station: Station, state: CalibrationState) -> CalibrationState:
    """``state`` with the drive frequency and π, π/2 amplitudes of every qubit from truth."""
    for q in state.qubits:
        cal = state.qubit(q)
        state = state.with_qubit(
            q,
            drive_frequency_hz=CalValue.design(chip.qubits[q].frequency_hz),
            pi_amplitude_v=CalValue.design(true_pi_amplitude(chip, station, q, cal)),
            pi_half_amplitude_v=CalValue.design(true_pi_half_amplitude(chip, station, q, cal)),
        )
    return state


def best_assignment_fidelity(
    chip: Chip, station: Station, state: CalibrationState, qubit: str
) -> tuple[float, float]:
    """Best threshold assignment fidelity on this chip, and the decay-free bound.

    The first number is what the ideal threshold achieves on the preparations of the
    discrimination routine as the lab makes them: |0⟩ is the thermal state (P(|1⟩) =
    p_th), |1⟩ is the state after the calibrated π pulse with T1/T2 (Lindblad, thermal
    start), and excited shots may decay during the readout (one jump, time from
    Exp(T1/n)). Noise-free integrated values come from ``physics.readout.integrate_shots``
    (200 000 shots per level), projected on the |0⟩–|1⟩ axis; the white noise of the
    feedline (Gaussian, σ per quadrature) is convolved analytically and the threshold
    scanned. The second number is ``assignment_fidelity_truth``: the same readout with
    neither decay nor thermal population, an upper bound.
    """
    cal = state.qubit(qubit)
    params = transmon_params(chip, qubit)
    res = resonator_params(chip, qubit)
    feed = station.feedline_of(qubit)
    assert feed is not None
    line = station.readout[feed]
    n = round(cal.readout_duration_s.value / DT)
    # the feedline's LO is centred on the readout frequencies of all its qubits (as the
    # compiler places it), so this qubit's IF is its offset from there, not the line's IF
    on_line = [q for q in line.qubits if q in state.qubits] or [qubit]
    freqs = [state.qubit(q).readout_frequency_hz.value for q in on_line]
    f_lo = 0.5 * (min(freqs) + max(freqs)) - line.if_frequency_hz
    f_if = cal.readout_frequency_hz.value - f_lo
    k = np.arange(n)
    env = (
        cal.readout_amplitude_v.value
        * np.exp(-2j * np.pi * f_if * k * DT)
        * 10 ** (-line.attenuation_db / 20)
    ).astype(np.complex128)
    kw: dict[str, Any] = {
        "weights": np.ones(n, dtype=np.complex128),
        "start_sample": 0,
        "length_samples": n,
        "demod_frequency_hz": f_if,
    }
    noise_density = max(
        resonator_params(chip, q).noise_v_per_sqrt_hz
        for q, spec in chip.qubits.items()
        if chip.resonators[spec.resonator].feedline == feed
    )
    res = ro.ResonatorParams(
        frequency_hz=res.frequency_hz,
        kappa_hz=res.kappa_hz,
        chi_hz=res.chi_hz,
        drive_per_v=res.drive_per_v,
        output_gain_v=res.output_gain_v,
        noise_v_per_sqrt_hz=noise_density,
    )
    bound = ro.assignment_fidelity_truth(params, res, env, DT, f_lo, **kw)
    means = ro.mean_integrated(params, res, env, DT, f_lo, **kw)
    axis = (means[1] - means[0]) / abs(means[1] - means[0])
    sigma = ro.integration_noise_std_v(noise_density, n * DT)
    rng = np.random.default_rng(0)
    per_level = 200_000
    values = []
    for level in range(params.levels):
        shots = ro.integrate_shots(
            rng,
            params,
            res,
            env,
            DT,
            frame_frequency_hz=f_lo,
            level_samples=np.full(per_level, level),
            add_noise=False,
            **kw,
        )
        values.append(np.real((shots - means[0]) * np.conj(axis)))
    # populations of the two preparations at the start of the readout
    pi_env = cal.pi_amplitude_v.value * chip_envelope(station, qubit, gate_pulse(cal, 1.0))
    f_d = cal.drive_frequency_hz.value
    drive_lo = f_d - station.drive[qubit].if_frequency_hz
    excited = transmon.populations(transmon.evolve(params, pi_env[None, :], DT, drive_lo))[0]
    ground = np.diag(transmon.thermal_state(params)).real
    thresholds = np.linspace(-0.5, 1.5, 2001) * abs(means[1] - means[0])

    def p_above(pops: NDArray[np.float64]) -> NDArray[np.float64]:
        total = np.zeros_like(thresholds)
        for level, p in enumerate(pops):
            if p <= 0:
                continue
            # the distribution of noise-free values, as 1000 equally likely quantiles
            points = np.quantile(values[level], (np.arange(1000) + 0.5) / 1000)
            z = (points[None, :] - thresholds[:, None]) / (math.sqrt(2) * sigma)
            total += p * (0.5 * scipy.special.erfc(-z)).mean(axis=1)
        return total

    fid = 1.0 - 0.5 * (p_above(ground) + 1.0 - p_above(excited))
    return float(fid.max()), float(bound)


@dataclass
class Bench:
    """A running simulated lab on a fabricated device, its design and a connected station."""

    design: Chip
    truth: Chip
    station: Station
    lab: SimulatedLab
    instruments: Any
    out_dir: Path

    def design_state(self) -> CalibrationState:
        return design_state(self.design, self.station)

    def truth_state(self) -> CalibrationState:
        """Design state with frequency and π, π/2 amplitudes from truth."""
        return truth_state(self.truth, self.station, self.design_state())

    def run(self, routine: Routine[Any], qubit: str, state: CalibrationState) -> RoutineOutcome:
        """Run ``routine``; assert that it updated, and that its run file alone re-fits
        to exactly the results it committed."""
        outcome = self.run_unchecked(routine, qubit, state)
        assert outcome.error is None, (outcome.error, outcome.results)
        return outcome

    def run_unchecked(
        self, routine: Routine[Any], qubit: str, state: CalibrationState
    ) -> RoutineOutcome:
        """Run ``routine`` (its update may have refused); the re-fit of its run file
        equals the results it gave."""
        outcome = run_routine(
            routine, qubit, state, self.lab.station, self.instruments, out_dir=self.out_dir
        )
        assert_reanalysis_matches(outcome)
        return outcome

    def discriminated_state(self, qubit: str = "q0") -> CalibrationState:
        """Truth state plus a discriminator measured by the Discrimination routine."""
        from qneko_hw.calibrations.discrimination import Discrimination

        return self.run(Discrimination(shots=2000), qubit, self.truth_state()).state


def assert_reanalysis_matches(outcome: RoutineOutcome) -> None:
    """The run file of ``outcome`` re-fits, from the file alone, to exactly its results."""
    again = reanalyze(outcome.run_file)
    assert again.stored is not None
    assert again.stored.model_dump_json() == outcome.results.model_dump_json()
    assert again.same, (again.results, again.stored)


def _bench(chip: tuple[int, int], tmp_path: Path, workers: int | None) -> Iterator[Bench]:
    seed, fab = chip
    design = random_chip(2, seed)
    truth = nearby_device(design, fab)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    lab = SimulatedLab(truth, station, workers=workers)
    with lab, connect(lab.station) as instruments:
        yield Bench(design, truth, station, lab, instruments, tmp_path)


@pytest.fixture(params=CHIPS, ids=[f"seed{c[0]}" for c in CHIPS])
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bench]:
    """A simulated 2-qubit lab on a device fabricated from a random design."""
    yield from _bench(request.param, tmp_path, None)


@pytest.fixture(params=CHIPS, ids=[f"seed{c[0]}" for c in CHIPS])
def workers_bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bench]:
    """:func:`bench` whose lab solves the two qubits in two worker processes."""
    yield from _bench(request.param, tmp_path, 2)
