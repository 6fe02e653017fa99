"""Punch-out through the digitizer on two random chips whose readout resonator moved.

The simulated resonator keeps its dispersive shifts below the critical photon number
n_crit = (Δ/2g)² and moves towards its bare frequency f_bare = f_r + g²/Δ above it (see
``simulated_instruments/physics/readout.py``). Checked against the truth computed here from
the chip's parameters: the low-power resonance (f_r, within 20 kHz), the punch-out
amplitude (the photon number it puts in the resonator on resonance, relative to n_crit),
and the resonance at the highest amplitude (near f_bare). The shift detection itself is
also checked on synthetic per-amplitude fits.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import CHIPS, Bench, nearby_device

from qneko_hw.analysis import Results, Verdict
from qneko_hw.calibrations.punch_out import PunchOut
from qneko_hw.config import Chip, Station, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.runfile import read_run
from qneko_hw.simulated_instruments.lab import SimulatedLab, resonator_params, transmon_params
from qneko_hw.simulated_instruments.physics import readout as ro

#: Readout amplitudes (V at the AWG): 3 dB steps over the punch-out of both chips, and the
#: AWG's limit.
AMPLITUDES = (*(0.1 * 2 ** (k / 2) for k in range(5)), 1.0)


def moved(chip: Chip, resonator: str, shift_hz: float) -> Chip:
    res = {k: v.model_dump() for k, v in chip.resonators.items()}
    r = chip.resonators[resonator]
    res[resonator] = r.replace(frequency_hz=r.frequency_hz + shift_hz).model_dump()
    return chip.replace(resonators=res)


def photons_per_critical(chip: Chip, station: Station, qubit: str, amplitude_v: float) -> float:
    """n̄/n_crit for a resonant readout tone of ``amplitude_v`` (V at the AWG), from the chip.

    n̄ = (2·drive_per_v·A_chip/κ)², A_chip = A·10^(−att/20);
    n_crit = Δ_0²/(4g²), g² = χ/(1/Δ_0 − 1/Δ_1), Δ_j = f_q + j·α − f_r.
    """
    q = chip.qubits[qubit]
    r = chip.resonators[q.resonator]
    att = station.readout[station.feedline_of(qubit) or ""].attenuation_db
    photons = (2 * r.drive_per_v * amplitude_v * 10 ** (-att / 20) / r.kappa_hz) ** 2
    d0 = q.frequency_hz - r.frequency_hz
    d1 = d0 + q.anharmonicity_hz
    g2 = r.chi_hz / (1 / d0 - 1 / d1)
    return photons / (d0**2 / (4 * g2))


@pytest.mark.parametrize(("chip", "shift_hz"), [(CHIPS[0], 1.3e6), (CHIPS[1], -2.1e6)])
def test_low_power_resonance_punch_out_amplitude_and_bare_resonance(
    tmp_path: Path, chip: tuple[int, float, float], shift_hz: float
) -> None:
    seed, fab = chip
    design = random_chip(2, seed)
    truth = moved(nearby_device(design, fab), "r0", shift_hz)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    # the span reaches the bare resonance, up to ~7.4 MHz below the starting point here
    routine = PunchOut(amplitudes_v=AMPLITUDES, span_hz=20e6, points=61)
    state = design_state(design, station)
    with SimulatedLab(truth, station) as lab, connect(lab.station) as instruments:
        bench = Bench(design, truth, station, lab, instruments, tmp_path)
        outcome = bench.run(routine, "q0", state)
    fit = outcome.results
    r = truth.resonators["r0"]
    assert fit.verdict == "good", fit.message
    runs = list((tmp_path / "runs").glob("*.h5"))
    assert len(runs) == 1  # every amplitude and frequency in one run
    axes = read_run(runs[0], signals=False).axes
    assert axes["readout_amplitude_v"].values.size == len(AMPLITUDES) * 61
    assert sorted(set(axes["readout_amplitude_v"].values)) == sorted(AMPLITUDES)

    # low power: the dressed |0⟩ resonance
    assert fit.values["resonator_frequency_hz"] == pytest.approx(r.frequency_hz, abs=20e3)
    new = outcome.state.qubit("q0")
    assert new.readout_frequency_hz.value == fit.values["resonator_frequency_hz"]
    assert new.readout_frequency_hz.run_id == outcome.run_id
    # the readout amplitude in use (design 0.1 V) is checked against the punch-out amplitude
    start = state.qubit("q0").readout_amplitude_v.value
    checked = min(start, fit.values["punch_out_amplitude_v"])
    assert new.readout_amplitude_v.value == checked and new.readout_amplitude_v.run_id

    # punch-out amplitude: the grid point below the first shifted one. The 0.25·κ criterion
    # meets the model's knee at n̄/n_crit = 0.88 … 1.12 for |g²/Δ|/κ = 2 … 15 (here ≈ 4),
    # so the reported amplitude A has x(A) < 1.12 ≤ ... and x(√2·A) = 2·x(A) ≥ 0.88:
    # 0.44 ≤ x(A) < 1.12 (a little margin for the fit noise, 5σ ≈ 10 kHz ≪ 0.25·κ).
    assert fit.values["punched_out"] == 1.0, fit.message
    a_po = fit.values["punch_out_amplitude_v"]
    x_po = photons_per_critical(truth, station, "q0", a_po)
    assert 0.4 <= x_po < 1.15, (a_po, x_po)
    # and per amplitude: unshifted at n̄ ≤ n_crit/2, shifted by > κ/4 at n̄ ≥ 1.5·n_crit
    pairs = zip(fit.vectors["amplitudes_v"], fit.vectors["resonance_hz"], strict=True)
    for a, f_a in pairs:
        x = photons_per_critical(truth, station, "q0", a)
        if x <= 0.5:
            assert f_a == pytest.approx(r.frequency_hz, abs=20e3), (a, x)
        if x >= 1.5:
            assert abs(f_a - r.frequency_hz) > r.kappa_hz / 4, (a, x)

    # highest amplitude: near the bare resonator. n̄ ≈ 20 … 26·n_crit there, so the model
    # leaves n_crit/n̄ ≈ 5 % of the Lamb shift g²/Δ (4.6 and 5.7 MHz here).
    q_params, r_params = transmon_params(truth, "q0"), resonator_params(truth, "q0")
    g2 = ro.coupling_g2_hz2(q_params, r_params)
    f_bare = r.frequency_hz + g2 / (truth.qubits["q0"].frequency_hz - r.frequency_hz)
    assert ro.bare_frequency_hz(q_params, r_params) == pytest.approx(f_bare, abs=1.0)
    lamb = abs(r.frequency_hz - f_bare)
    f_high = fit.values["high_power_frequency_hz"]
    assert fit.values["high_power_amplitude_v"] == 1.0
    assert abs(f_high - f_bare) < 0.1 * lamb, (f_high - f_bare, lamb)
    assert fit.values["high_power_shift_hz"] == pytest.approx(f_bare - r.frequency_hz, rel=0.1)
    x_max = photons_per_critical(truth, station, "q0", 1.0)
    n_max = x_max * ro.critical_photon_number(q_params, r_params)
    f_model = float(ro.level_frequencies_hz(q_params, r_params, n_max)[0])
    assert f_high == pytest.approx(f_model, abs=20e3)


def _spec(f_hz: float, verdict: Verdict = "good") -> Results:
    return Results(
        routine="punch_out",
        qubit="q0",
        values={"resonator_frequency_hz": f_hz, "kappa_hz": 1e6},
        uncertainties={"resonator_frequency_hz": 5e3, "kappa_hz": 1e4},
        verdict=verdict,
        r_squared=0.99,
    )


def test_shift_detection_on_synthetic_fits() -> None:
    amps = [0.05, 0.1, 0.2, 0.4]
    base = 7e9
    fits = [_spec(base), _spec(base + 2e4), _spec(base + 6e5), _spec(base + 1e6)]
    fit = PunchOut().conclude("q0", amps, fits, readout_amplitude_v=0.3)
    assert fit.values["punched_out"] == 1.0
    assert fit.values["punch_out_amplitude_v"] == 0.1
    assert fit.values["checked_readout_amplitude_v"] == 0.1  # 0.3 V is above punch-out
    assert fit.values["resonator_frequency_hz"] == base
    assert fit.values["high_power_frequency_hz"] == base + 1e6
    assert fit.values["high_power_shift_hz"] == 1e6
    assert fit.values["high_power_amplitude_v"] == 0.4
    # a bad fit at the lowest amplitude: the next usable one is the low-power resonance
    fits = [_spec(0.0, "bad"), _spec(base), _spec(base + 1e4), _spec(base - 1e4)]
    fit = PunchOut().conclude("q0", amps, fits, readout_amplitude_v=0.3)
    assert fit.values["low_power_amplitude_v"] == 0.1 and fit.values["punched_out"] == 0.0
    assert fit.values["checked_readout_amplitude_v"] == 0.3  # nothing punched out: kept
    assert "no punch-out seen in range" in fit.message
    assert "punch_out_amplitude_v" not in fit.values
    assert PunchOut().conclude("q0", amps[:1], [_spec(0.0, "bad")], 0.1).verdict == "bad"
    assert math.isclose(fit.values["high_power_shift_hz"], -1e4)
