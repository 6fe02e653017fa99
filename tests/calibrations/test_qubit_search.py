"""Qubit search: f01 found over ±300 MHz of its design value, on devices fabricated from the
design (the qubits moved by tens of MHz), and the fit on spectra with known lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qneko_hw.calibrations.qubit_search import QubitSearch, QubitSearchSetup
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy
from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.drivers.station import connect
from qneko_hw.pulses import Constant
from qneko_hw.simulated_instruments.fabrication import fabricate
from qneko_hw.simulated_instruments.lab import SimulatedLab


@pytest.mark.parametrize("seed", [3, 4])
def test_resonators_and_qubits_found_from_design_values_on_fabricated_devices(
    tmp_path: Path, seed: int
) -> None:
    """Resonator search, qubit search, then the narrow spectroscopy, multiplexed as the
    graph runs them, on a 2-qubit design's fabricated device: f01 within 50 kHz and f_r
    within 20 kHz (plus its thermal pull) of the device, whatever fabrication moved them
    by."""
    from qneko_hw.calibrations.runner import RoutineOutcome, run_routine_multiplexed

    design = random_chip(2, seed)
    device = fabricate(design, seed)
    station = default_station({"f0": ["q0", "q1"]}, seed=seed)
    state = design_state(design, station)
    with SimulatedLab(device, station) as lab, connect(lab.station) as inst:
        for routine in (ResonatorSpectroscopy(), QubitSearch(), QubitSpectroscopy()):
            got = run_routine_multiplexed(
                routine, ["q0", "q1"], state, lab.station, inst, out_dir=tmp_path
            )
            for q, outcome in got.items():
                assert isinstance(outcome, RoutineOutcome), outcome
                assert outcome.error is None, (routine.name, q, outcome.results.message)
                state = state.model_copy(
                    update={"qubits": {**state.qubits, q: outcome.state.qubit(q)}}
                )
    for q, spec in device.qubits.items():
        cal = state.qubit(q)
        moved = spec.frequency_hz - design.qubits[q].frequency_hz
        assert cal.drive_frequency_hz.value == pytest.approx(spec.frequency_hz, abs=50e3), (
            q,
            moved,
        )
        r = device.resonators[spec.resonator]
        # the |0⟩ resonance, pulled towards |1⟩'s by up to p·2|χ| (thermal population p)
        pull = 2 * spec.thermal_population * abs(r.chi_hz)
        assert cal.readout_frequency_hz.value == pytest.approx(r.frequency_hz, abs=20e3 + pull)


def test_a_measured_drive_frequency_is_not_searched_again() -> None:
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station)
    measured = state.with_qubit(
        "q0", drive_frequency_hz=CalValue.measured(chip.qubits["q0"].frequency_hz, 1e3, "r")
    )
    plan = QubitSearch().plan("q0", measured, station)
    assert plan.steps == 0 and "measured" in plan.measurement.reason  # type: ignore[union-attr]
    plan = QubitSearch().plan("q0", state, station)
    (axis,) = plan.axes
    assert plan.steps == 601 and np.ptp(axis.values) == pytest.approx(600e6)


def _spectrum(lines: list[tuple[float, float]], sign: float = 1.0) -> Data[QubitSearchSetup]:
    """IQ shots of a band with Lorentzian lines (centre Hz, height), ground state at 0."""
    f = 5.0e9 + 1e6 * (np.arange(601) - 300)
    p = np.zeros_like(f)
    for centre, height in lines:
        p += height / (1 + ((f - centre) / 3e6) ** 2)
    rng = np.random.default_rng(0)
    excited = rng.random((f.size, 400)) < p[:, None]
    iq = sign * np.where(excited, 1.0, 0.0) * (1 + 0.5j) + 0.3 * rng.standard_normal((f.size, 400))
    setup = QubitSearchSetup(
        discriminator=None,
        pulse=Constant(amplitude_v=0.1, duration_s=1e-7),
        design_frequency_hz=5e9,
    )
    return Data(
        routine="qubit_search",
        qubit="q0",
        setup=setup,
        axes={"frequency_hz": Axis.of("frequency_hz", f, "Hz", "drive")},
        signals={"q0": Signal.iq(iq, "q0")},
    )


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_f01_is_the_highest_line_and_the_others_are_reported(sign: float) -> None:
    """f01 at +62 MHz and a weaker line (f12, from a thermal population) 230 MHz below:
    the highest-frequency line is f01, whichever way the IQ projection points."""
    results = QubitSearch().analyze(_spectrum([(5.062e9, 0.8), (4.832e9, 0.3)], sign))
    assert results.verdict == "good", results.message
    assert results.values["qubit_frequency_hz"] == pytest.approx(5.062e9, abs=0.3e6)
    assert results.values["lines_found"] == 2
    (other,) = results.vectors["other_lines_hz"]
    assert other == pytest.approx(4.832e9, abs=2e6)
    assert set(results.changes) == {"drive_frequency_hz"}


def test_no_line_in_the_band_is_bad() -> None:
    results = QubitSearch().analyze(_spectrum([]))
    assert results.verdict == "bad" and "no qubit line" in results.message
    assert results.changes == {}
