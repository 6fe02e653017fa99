"""Analysis: IQ projection and the Rabi fit on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from qneko_hw.analysis import fit_rabi, project_iq


def synthetic_shots(
    amps: np.ndarray, a_pi: float, shots: int, noise: float, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p1 = np.sin(np.pi * amps / (2 * a_pi)) ** 2
    g, e = 1.0 + 0.5j, -0.3 + 1.1j
    excited = rng.random((amps.size, shots)) < p1[:, None]
    iq = np.where(excited, e, g)
    return iq + noise * (rng.normal(size=iq.shape) + 1j * rng.normal(size=iq.shape))


@pytest.mark.parametrize(("a_pi", "seed"), [(0.31, 1), (0.12, 2), (0.45, 3)])
def test_rabi_fit_recovers_pi_amplitude(a_pi: float, seed: int) -> None:
    amps = np.linspace(0, 2.4 * a_pi, 61)
    signal, err = project_iq(synthetic_shots(amps, a_pi, 2000, 0.4, seed))
    fit = fit_rabi("rabi", "q0", amps, signal, err)
    assert fit.verdict == "good"
    got, unc = fit.values["pi_amplitude_v"], fit.uncertainties["pi_amplitude_v"]
    assert abs(got - a_pi) < 4 * unc
    assert unc < 0.01 * a_pi


def test_projection_sign_rises_from_ground() -> None:
    amps = np.linspace(0, 0.3, 31)
    signal, _ = project_iq(synthetic_shots(amps, 0.3, 500, 0.1, 5))
    assert signal[-1] > signal[0]


def test_noise_only_is_not_good() -> None:
    rng = np.random.default_rng(0)
    amps = np.linspace(0, 1, 41)
    shots = rng.normal(size=(41, 200)) + 1j * rng.normal(size=(41, 200))
    signal, err = project_iq(shots)
    assert fit_rabi("rabi", "q0", amps, signal, err).verdict == "bad"


def test_flat_signal_is_bad() -> None:
    amps = np.linspace(0, 1, 41)
    fit = fit_rabi("rabi", "q0", amps, np.zeros(41), np.ones(41))
    assert fit.verdict == "bad" and not fit.values


def test_agrees_with_qiskit_experiments_oscillation_analysis() -> None:
    """Oracle: qiskit-experiments' OscillationAnalysis on the same (counts) data."""
    from qiskit_experiments.curve_analysis import OscillationAnalysis
    from qiskit_experiments.framework import ExperimentData

    a_pi, shots = 0.27, 4000
    amps = np.linspace(0, 2.4 * a_pi, 41)
    rng = np.random.default_rng(9)
    p1 = np.sin(np.pi * amps / (2 * a_pi)) ** 2
    ones = rng.binomial(shots, p1)
    data = ExperimentData()
    data.add_data(
        [
            {
                "counts": {"1": int(k), "0": int(shots - k)},
                "metadata": {"xval": float(a)},
                "shots": shots,
            }
            for a, k in zip(amps, ones, strict=True)
        ]
    )
    analysis = OscillationAnalysis()
    analysis.set_options(outcome="1", result_parameters=["freq"])
    result = analysis.run(data).block_for_results()
    freq = result.analysis_results("freq", dataframe=True).iloc[0]["value"].nominal_value
    theirs = 1 / (2 * freq)
    ours = fit_rabi(
        "rabi",
        "q0",
        amps,
        (ones / shots).astype(float),
        np.sqrt(np.maximum(p1 * (1 - p1), 1e-4) / shots),
    ).values["pi_amplitude_v"]
    assert ours == pytest.approx(theirs, rel=0.01)
    assert ours == pytest.approx(a_pi, rel=0.02)
