"""Fine amplitude on fabricated devices: π within 0.5 % of the truth from a 2 % error.

Truth: the π amplitude maximising P(|1⟩) of the calibrated gate pulse
(``physics.truth.pi_amplitude``, as the Rabi test uses) and the amplitude giving
P(|1⟩) = ½ (conftest's ``true_pi_half_amplitude``).

The fit's unit tests use synthetic shots of the model with known errors (no lab).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import Bench, true_pi_amplitude, true_pi_half_amplitude
from numpy.typing import NDArray

from qneko_hw.analysis import Results, r_squared
from qneko_hw.calibrations.fine_amplitude import FineAmplitude, FineAmplitudeSetup
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.data import Data, Signal
from qneko_hw.discrimination import Discriminator
from qneko_hw.errors import CalibrationError
from qneko_hw.runfile import read_run


def layout(routine: FineAmplitude) -> tuple[list[float], list[float]]:
    """π/2 and π pulses per step: x train, sx train, |0⟩ references, π references."""
    m_pi = range(1, routine.max_pi_pulses + 1)
    m_sx = range(2, 2 * routine.sx_pairs + 1, 2)
    refs = routine.references
    n_half = [1.0] * len(m_pi) + [m + 1.0 for m in m_sx] + [0.0] * (2 * refs)
    n_pi = [float(m) for m in m_pi] + [0.0] * len(m_sx) + [0.0] * refs + [1.0] * refs
    return n_half, n_pi


def model(
    results: Results, n_half: NDArray[np.float64], n_pi: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``base − amp·e^{−γ·pulses}·cos(θ)`` from the results' values."""
    v = results.values
    theta = n_half * (math.pi / 2 + v["pi_half_error_rad"]) + n_pi * (math.pi + v["pi_error_rad"])
    damp = np.exp(-v["decay_per_pulse"] * (n_half + n_pi))
    return np.asarray(v["baseline"] - v["amplitude"] * damp * np.cos(theta), dtype=np.float64)


def check_figure(results: Results, routine: FineAmplitude) -> None:
    """x is the pulse count, one points series per train, the model at each train's counts,
    and R² that of the plotted points."""
    assert results.figure is not None
    panel = results.figure.panels[0]
    assert (panel.x_label, panel.x_unit, panel.y_label, panel.y_unit) == (
        "pulses in the train",
        "",
        "P(|1⟩)",
        "",
    )
    points = {s.label: s for s in panel.series if s.kind == "points"}
    lines = [s for s in panel.series if s.kind == "line"]
    assert list(points) == ["x train", "sx train", "references"]
    refs = routine.references
    assert points["x train"].x == tuple(1.0 + m for m in range(1, routine.max_pi_pulses + 1))
    assert points["sx train"].x == tuple(m + 1.0 for m in range(2, 2 * routine.sx_pairs + 1, 2))
    assert points["references"].x == (0.0,) * refs + (1.0,) * refs
    x_line, sx_line = lines
    assert (x_line.label, sx_line.label) == ("fit, x train", "fit, sx train")
    # every count of the x train, every count of the sx train (π/2 pairs)
    assert x_line.x == points["x train"].x and sx_line.x == points["sx train"].x
    n_pi = np.arange(1, routine.max_pi_pulses + 1, dtype=np.float64)
    assert np.allclose(x_line.y, model(results, np.ones_like(n_pi), n_pi))
    n_half = np.arange(3, 2 * routine.sx_pairs + 2, 2, dtype=np.float64)
    assert np.allclose(sx_line.y, model(results, n_half, np.zeros_like(n_half)))
    n_half_all, n_pi_all = (np.asarray(v) for v in layout(routine))
    y = np.concatenate([points[k].y for k in ("x train", "sx train", "references")])
    assert results.r_squared == pytest.approx(
        r_squared(y, model(results, n_half_all, n_pi_all)), abs=1e-9
    )
    assert panel.r_squared == results.r_squared


@pytest.mark.parametrize("error", [1.02, 0.98])
def test_pi_amplitude_within_half_a_percent(bench: Bench, error: float) -> None:
    state = bench.discriminated_state("q0")
    cal = state.qubit("q0")
    a_pi = true_pi_amplitude(bench.truth, bench.station, "q0", cal)
    a_half = true_pi_half_amplitude(bench.truth, bench.station, "q0", cal)
    start = state.with_qubit(
        "q0",
        pi_amplitude_v=CalValue.design(a_pi * error),
        pi_half_amplitude_v=CalValue.design(a_half * (2 - error)),
    )
    routine = FineAmplitude()
    outcome = bench.run(routine, "q0", start)
    results = outcome.results
    assert results.verdict == "good", results.message
    found = outcome.state.qubit("q0")
    assert found.pi_amplitude_v.value == pytest.approx(a_pi, rel=0.005), (results.values, a_pi)
    assert found.pi_half_amplitude_v.value == pytest.approx(a_half, rel=0.005), (
        results.values,
        a_half,
    )
    assert found.pi_amplitude_v.uncertainty is not None
    assert found.pi_amplitude_v.uncertainty < 0.003 * a_pi
    assert found.pi_amplitude_v.run_id == outcome.run_id

    run = read_run(outcome.run_file)
    n_half, n_pi = layout(routine)
    assert list(run.axes) == ["pi_half_pulses", "pi_pulses", "pulses"]
    assert all(a.unit == "" for a in run.axes.values())
    assert run.axes["pi_half_pulses"].values.tolist() == n_half
    assert run.axes["pi_pulses"].values.tolist() == n_pi
    assert run.axes["pulses"].values.tolist() == [h + p for h, p in zip(n_half, n_pi, strict=True)]
    assert run.signals["q0"].values.shape == (len(n_half), routine.shots)
    setup = FineAmplitudeSetup.model_validate_json(run.routine["setup"])
    assert setup.start_pi_amplitude_v == a_pi * error
    assert setup.start_pi_half_amplitude_v == a_half * (2 - error)
    assert setup.discriminator == Discriminator.of(cal)
    check_figure(results, routine)


def test_without_discriminator_refuses_to_plan(bench: Bench) -> None:
    """Nothing is measured (no run file) and the error names the qubit and the routine."""
    state = bench.truth_state()
    with pytest.raises(CalibrationError, match="discriminator") as info:
        bench.run_unchecked(FineAmplitude(shots=50), "q0", state)
    assert info.value.qubit == "q0" and info.value.routine == "fine_amplitude"
    assert not list(bench.out_dir.glob("runs/*fine_amplitude*"))


# --- the fit alone, on synthetic shots ------------------------------------------------


def synthetic_data(
    routine: FineAmplitude, eps: float, eps_half: float, *, seed: int = 0
) -> tuple[Data[FineAmplitudeSetup], CalibrationState]:
    """The plan of ``routine`` on a design state with a discriminator, with shots of the
    model (errors ``eps``, ``eps_half`` in rad, contrast 0.46, decay 0.002 per pulse)."""
    chip = random_chip(1, 3)
    station = default_station({"f0": ["q0"]})
    state = design_state(chip, station).with_qubit(
        "q0", iq_angle_rad=CalValue.design(0.0), threshold=CalValue.design(0.0)
    )
    plan = routine.plan("q0", state, station)
    axes = {a.name: a for a in plan.axes}
    n_half, n_pi = axes["pi_half_pulses"].values, axes["pi_pulses"].values
    theta = n_half * (math.pi / 2 + eps_half) + n_pi * (math.pi + eps)
    p = 0.5 - 0.46 * np.exp(-0.002 * (n_half + n_pi)) * np.cos(theta)
    rng = np.random.default_rng(seed)
    ones = rng.random((p.size, routine.shots)) < p[:, None]
    shots = np.where(ones, 1.0, -1.0) + 0.2 * rng.standard_normal(ones.shape)
    data = Data(
        routine=routine.name,
        qubit="q0",
        setup=plan.setup,
        axes=axes,
        signals={"q0": Signal.iq(shots, "q0")},
    )
    return data, state


def test_fit_recovers_the_errors() -> None:
    routine = FineAmplitude(shots=2000)
    data, state = synthetic_data(routine, 0.03, -0.02)
    cal = state.qubit("q0")
    assert data.setup.start_pi_amplitude_v == cal.pi_amplitude_v.value
    results = routine.analyze(data)
    assert results.verdict == "good", results.message
    v = results.values
    assert v["pi_error_rad"] == pytest.approx(0.03, abs=0.003)
    assert v["pi_half_error_rad"] == pytest.approx(-0.02, abs=0.003)
    assert v["pi_amplitude_v"] == pytest.approx(
        cal.pi_amplitude_v.value * math.pi / (math.pi + v["pi_error_rad"])
    )
    assert set(results.changes) == {"pi_amplitude_v", "pi_half_amplitude_v"}
    assert results.changes["pi_amplitude_v"].uncertainty == results.uncertainties["pi_amplitude_v"]
    check_figure(results, routine)


def test_fit_of_a_mismatched_layout_is_bad() -> None:
    routine = FineAmplitude(shots=100)
    data, _ = synthetic_data(routine, 0.0, 0.0)
    short = Data(
        routine=data.routine,
        qubit=data.qubit,
        setup=data.setup,
        axes=data.axes,
        signals={"q0": Signal.iq(data.iq("q0")[:-1], "q0")},
    )
    results = routine.analyze(short)
    assert results.verdict == "bad" and "measured steps" in results.message
    assert results.changes == {}
