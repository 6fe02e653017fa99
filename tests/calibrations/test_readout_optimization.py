"""Readout optimization on a random chip, from a poor start, against the best threshold.

Start: readout 0.8 MHz off the design point, 0.05 V, 1 µs. The chain ReadoutFrequency →
ReadoutPower → IntegrationWeights → Discrimination must end within 1 % of the best
assignment fidelity a threshold reaches on this chip (``best_assignment_fidelity`` of the
conftest: thermal |0⟩, π pulse with decoherence, decay during the readout, box filter) at
the settings it chose and at the best settings of the grid we checked in truth; the
decay-free ``assignment_fidelity_truth`` stays an upper bound. The fits are also checked on
synthetic data (the weights-clearing rule, the matched filter of known traces).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import CHIPS, Bench, best_assignment_fidelity

from qneko_hw.analysis import DENSE_POINTS, Results, r_squared
from qneko_hw.calibrations.discrimination import Discrimination
from qneko_hw.calibrations.readout_optimization import (
    IntegrationWeights,
    IntegrationWeightsSetup,
    ReadoutFrequency,
    ReadoutFrequencySetup,
    ReadoutPower,
    ReadoutPowerSetup,
)
from qneko_hw.config.calibration import CalValue
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.errors import CalibrationError
from qneko_hw.runfile import read_run


def check_frequency_figure(res: Results) -> None:
    """Separation (V) vs frequency (Hz), the parabola through the maximum on a dense grid
    over its three points, R² of that parabola."""
    assert res.figure is not None
    (panel,) = res.figure.panels
    assert (panel.x_unit, panel.y_unit) == ("Hz", "V")
    (points,) = [s for s in panel.series if s.kind == "points"]
    (line,) = [s for s in panel.series if s.kind == "line"]
    (chosen,) = [s for s in panel.series if s.kind == "vline"]
    assert chosen.x == (res.values["readout_frequency_hz"],)
    f, sep = np.asarray(points.x), np.asarray(points.y)
    assert len(points.yerr) == f.size and max(sep) == res.values["separation_v"]
    k = int(np.clip(np.argmax(sep), 1, f.size - 2))
    assert len(line.x) == DENSE_POINTS
    assert (line.x[0], line.x[-1]) == pytest.approx((f[k - 1], f[k + 1]))
    # the plotted line passes through the three points it was fitted to
    assert np.interp(f[k - 1 : k + 2], line.x, line.y) == pytest.approx(
        sep[k - 1 : k + 2], rel=1e-3
    )
    model = np.interp(f[k - 1 : k + 2], line.x, line.y)
    assert res.r_squared == panel.r_squared
    assert res.r_squared == pytest.approx(r_squared(sep[k - 1 : k + 2], model), abs=1e-3)


def check_power_figure(res: Results, amplitudes: list[float], durations: list[float]) -> None:
    """Fidelity vs duration (s), one points series per amplitude, the chosen point."""
    assert res.figure is not None and res.r_squared is None  # nothing fitted
    (panel,) = res.figure.panels
    assert (panel.x_unit, panel.y_unit) == ("s", "")
    per_amp = [s for s in panel.series if s.kind == "points" and not s.label.startswith("chosen")]
    assert [s.label for s in per_amp] == [f"{a:.3g} V" for a in amplitudes]
    assert all(list(s.x) == durations and len(s.yerr) == len(durations) for s in per_amp)
    (chosen,) = [s for s in panel.series if s.label.startswith("chosen")]
    assert chosen.x == (res.values["readout_duration_s"],)
    assert chosen.y == (res.values["fidelity"],)


@pytest.mark.parametrize("bench", [CHIPS[0]], indirect=True, ids=[f"seed{CHIPS[0][0]}"])
def test_optimized_readout_within_one_percent_of_best(bench: Bench) -> None:
    q = "q0"
    state = bench.truth_state()
    cal = state.qubit(q)
    start = state.with_qubit(
        q,
        readout_frequency_hz=CalValue.design(cal.readout_frequency_hz.value + 0.8e6),
        readout_amplitude_v=CalValue.design(0.05),
        readout_duration_s=CalValue.design(1e-6),
    )
    before, _ = best_assignment_fidelity(bench.truth, bench.station, start, q)

    routine = ReadoutFrequency()
    freq = bench.run(routine, q, start)
    assert freq.results.verdict == "good", freq.results.message
    f_r = bench.truth.resonators["r0"].frequency_hz
    chi = bench.truth.resonators["r0"].chi_hz
    # largest separation between the |0⟩ and |1⟩ resonances (f_r and f_r + 2χ)
    assert freq.state.qubit(q).readout_frequency_hz.value == pytest.approx(
        f_r + chi, abs=0.25 * abs(chi)
    )
    run = read_run(freq.run_file)
    f_axis, p_axis = run.axes["frequency_hz"], run.axes["prepared"]
    assert (f_axis.unit, p_axis.unit) == ("Hz", "")
    assert f_axis.values.size == p_axis.values.size == 2 * routine.points
    assert np.array_equal(f_axis.values[0::2], f_axis.values[1::2])
    assert f_axis.values[0::2] == pytest.approx(
        cal.readout_frequency_hz.value
        + 0.8e6
        + np.linspace(-routine.span_hz / 2, routine.span_hz / 2, routine.points)
    )
    assert p_axis.values.tolist() == [0.0, 1.0] * routine.points
    check_frequency_figure(freq.results)

    power = bench.run(ReadoutPower(), q, freq.state)
    chosen = power.state.qubit(q)
    assert power.results.verdict == "good", power.results.message
    assert chosen.readout_amplitude_v.value == power.results.values["readout_amplitude_v"]
    assert chosen.readout_duration_s.value == power.results.values["readout_duration_s"]
    assert power.results.values["clears_weights"] == 0.0  # a box filter: nothing to clear
    run = read_run(power.run_file)
    assert run.axes["readout_amplitude_v"].unit == "V"
    assert run.axes["readout_duration_s"].unit == "s"
    assert run.axes["prepared"].values.tolist() == [0.0, 1.0] * 16
    check_power_figure(power.results, [0.05, 0.1, 0.2, 0.4], [0.5e-6, 1e-6, 2e-6, 3e-6])

    weights = bench.run(IntegrationWeights(), q, power.state)
    wres = weights.results
    assert wres.values["fidelity_matched"] >= wres.values["fidelity_box"] - 0.005, wres.values
    n = round(chosen.readout_duration_s.value / 1e-9)
    w = weights.state.qubit(q).integration_weights
    assert len(w) == n
    flat = wres.vectors["integration_weights"]
    assert w == tuple(zip(flat[0::2], flat[1::2], strict=True))
    z = np.array([complex(*p) for p in w])
    assert np.mean(np.abs(z) ** 2) == pytest.approx(1.0)
    k, per = int(wres.values["windows"]), int(wres.values["samples_per_window"])
    assert k * per == n and np.all(z.reshape(k, per) == z.reshape(k, per)[:, :1])
    assert weights.state.version == power.state.version + 1
    assert read_run(weights.run_file).axes["prepared"].values.tolist() == [0.0, 1.0]
    assert wres.figure is not None and len(wres.figure.panels) == 2
    delta_panel, weights_panel = wres.figure.panels
    assert (delta_panel.x_unit, delta_panel.y_unit) == ("s", "V")
    assert len(delta_panel.series[0].x) == k and max(delta_panel.series[0].x) < 1.1 * n * 1e-9
    assert weights_panel.x_unit == "s"
    assert [len(s.x) for s in weights_panel.series] == [n, n]

    final = bench.run(Discrimination(shots=4000), q, weights.state)
    found = final.results.values["assignment_fidelity"]
    best_chosen, bound = best_assignment_fidelity(bench.truth, bench.station, power.state, q)
    candidates = [best_chosen]
    for amp, dur in ((0.4, 1e-6), (0.4, 3e-6), (0.1, 2e-6)):
        trial = power.state.with_qubit(
            q,
            readout_amplitude_v=CalValue.design(amp),
            readout_duration_s=CalValue.design(dur),
        )
        candidates.append(best_assignment_fidelity(bench.truth, bench.station, trial, q)[0])
    best = max(candidates)
    assert found >= best - 0.01, (found, candidates, before)
    assert found < bound + 0.01
    assert found > before + 0.01  # the poor start was worse

    # weights of the chosen length stay; another readout length clears them
    a, d = chosen.readout_amplitude_v.value, chosen.readout_duration_s.value
    same = bench.run(ReadoutPower(amplitudes_v=(a,), durations_s=(d,)), q, weights.state)
    assert same.results.values["clears_weights"] == 0.0
    assert same.state.qubit(q).integration_weights == w
    other = 2e-6 if d != 2e-6 else 1e-6
    cleared = bench.run(ReadoutPower(amplitudes_v=(a,), durations_s=(other,)), q, weights.state)
    assert cleared.results.values["clears_weights"] == 1.0
    assert cleared.state.qubit(q).readout_duration_s.value == other
    assert cleared.state.qubit(q).integration_weights == ()


def _pairs_data(
    routine: str, setup: Any, axes: list[Axis], shots: dict[str, np.ndarray]
) -> Data[Any]:
    return Data(
        routine=routine,
        qubit="q0",
        setup=setup,
        axes={a.name: a for a in axes},
        signals={n: Signal.iq(s, n) for n, s in shots.items()},
    )


def _prepared(programs: int) -> Axis:
    return Axis.of("prepared", [0, 1] * programs, "", "prepared state")


def _power_data(weights_samples: int, durations_s: list[float]) -> Data[ReadoutPowerSetup]:
    """Two grid points; the longer separates |0⟩ and |1⟩ better."""
    rng = np.random.default_rng(3)
    shots = []
    for k, _ in enumerate(durations_s):
        sep = 2e-3 * (k + 1)
        for centre in (0.0, sep):
            shots.append(centre + rng.normal(0, 1e-3, 1000) + 1j * rng.normal(0, 1e-3, 1000))
    setup = ReadoutPowerSetup(
        start_readout_amplitude_v=0.1,
        start_readout_duration_s=1e-6,
        pi_amplitude_v=0.1,
        weights_samples=weights_samples,
        digitizer_sample_rate_hz=1e9,
    )
    axes = [
        Axis.of("readout_amplitude_v", np.repeat([0.1] * len(durations_s), 2), "V", "a"),
        Axis.of("readout_duration_s", np.repeat(durations_s, 2), "s", "d"),
        _prepared(len(durations_s)),
    ]
    return _pairs_data("readout_power", setup, axes, {"q0": np.array(shots)})


def test_power_clears_weights_of_another_length() -> None:
    routine = ReadoutPower()
    res = routine.analyze(_power_data(1000, [1e-6, 2e-6]))
    assert res.values["readout_duration_s"] == 2e-6
    assert res.values["clears_weights"] == 1.0
    assert res.changes["integration_weights"].samples == ()
    assert set(res.changes) == {"readout_amplitude_v", "readout_duration_s", "integration_weights"}
    kept = routine.analyze(_power_data(2000, [1e-6, 2e-6]))
    assert kept.values["clears_weights"] == 0.0 and "integration_weights" not in kept.changes
    box = routine.analyze(_power_data(0, [1e-6, 2e-6]))
    assert box.values["clears_weights"] == 0.0 and "integration_weights" not in box.changes
    check_power_figure(res, [0.1], [1e-6, 2e-6])


def test_power_with_inconsistent_axes_is_bad() -> None:
    data = _power_data(0, [1e-6, 2e-6])
    axes = dict(data.axes)
    axes["prepared"] = Axis.of("prepared", [0, 0, 1, 1], "", "prepared state")
    res = ReadoutPower().analyze(
        Data(routine=data.routine, qubit="q0", setup=data.setup, axes=axes, signals=data.signals)
    )
    assert res.verdict == "bad" and res.changes == {}


def test_frequency_fit_places_the_maximum_between_points() -> None:
    """Separation |μ₁ − μ₀| a parabola in frequency with its top between two points."""
    freqs = 6e9 + np.linspace(-1e6, 1e6, 9)
    top = 6e9 + 0.1e6
    sep = 5e-3 * (1 - ((freqs - top) / 2e6) ** 2)
    rng = np.random.default_rng(1)
    n = 400
    shots = []
    for s in sep:
        shots.append(rng.normal(0, 2e-4, n) + 1j * rng.normal(0, 2e-4, n))
        shots.append(s + rng.normal(0, 2e-4, n) + 1j * rng.normal(0, 2e-4, n))
    setup = ReadoutFrequencySetup(start_readout_frequency_hz=6e9, pi_amplitude_v=0.1)
    axes = [Axis.of("frequency_hz", np.repeat(freqs, 2), "Hz", "f"), _prepared(freqs.size)]
    res = ReadoutFrequency(points=9, span_hz=2e6).analyze(
        _pairs_data("readout_frequency", setup, axes, {"q0": np.array(shots)})
    )
    assert res.verdict == "good", res.message
    assert res.values["readout_frequency_hz"] == pytest.approx(
        top, abs=0.25 * (freqs[1] - freqs[0])
    )
    assert set(res.changes) == {"readout_frequency_hz"}
    check_frequency_figure(res)
    noise_only = rng.normal(0, 2e-4, (18, n)) + 1j * rng.normal(0, 2e-4, (18, n))
    flat = ReadoutFrequency(points=9).analyze(
        _pairs_data("readout_frequency", setup, axes, {"q0": noise_only})
    )
    assert flat.verdict == "bad" and flat.changes == {}
    short = ReadoutFrequency(points=2).analyze(
        _pairs_data("readout_frequency", setup, [*axes[:1], _prepared(2)], {"q0": np.zeros((4, n))})
    )
    assert short.verdict == "bad"


def test_matched_filter_of_known_traces() -> None:
    """Sub-window differences Δ_k known: weights ∝ conj(Δ_k), rms 1, held over each window."""
    k, per, n = 4, 50, 3000
    delta = np.array([0.2, 1.0, 1.0j, 0.5 + 0.5j]) * 1e-3
    rng = np.random.default_rng(2)
    shots = {}
    for j in range(k):
        ground = rng.normal(0, 3e-4, n) + 1j * rng.normal(0, 3e-4, n)
        excited = delta[j] + rng.normal(0, 3e-4, n) + 1j * rng.normal(0, 3e-4, n)
        shots[f"q0_w{j}"] = np.array([ground, excited])
    setup = IntegrationWeightsSetup(
        windows=k,
        samples_per_window=per,
        digitizer_sample_rate_hz=1e9,
        readout_amplitude_v=0.1,
        readout_duration_s=k * per * 1e-9,
        pi_amplitude_v=0.1,
    )
    data = _pairs_data("integration_weights", setup, [_prepared(1)], shots)
    res = IntegrationWeights(windows=k).analyze(data)
    assert res.verdict == "good", res.message
    flat = np.asarray(res.vectors["integration_weights"])
    z = flat[0::2] + 1j * flat[1::2]
    assert z.size == k * per
    per_window = z.reshape(k, per)[:, 0]
    expected = np.conj(delta) / np.sqrt(np.mean(np.abs(delta) ** 2))
    assert per_window == pytest.approx(expected, abs=0.05)
    assert res.values["fidelity_matched"] > res.values["fidelity_box"]
    assert res.changes["integration_weights"].samples is not None
    assert len(res.changes["integration_weights"].samples) == k * per
    missing = dict(shots)
    del missing["q0_w3"]
    with pytest.raises(CalibrationError, match="no shots for q0_w3"):
        IntegrationWeights(windows=k).analyze(
            _pairs_data("integration_weights", setup, [_prepared(1)], missing)
        )
