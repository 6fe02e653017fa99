"""Readout physics: the punch-out of the resonator at strong drive, the drive-tone analysis
that sets its photon number, and multi-window integration (``integrate_shots_windows``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from qneko_hw.errors import ConfigError
from qneko_hw.simulated_instruments.physics import readout as ro
from qneko_hw.simulated_instruments.physics.transmon import TransmonParams

DT = 1e-9
FQ = 5.0e9
FR = 7.0e9
ALPHA = -250e6
CHI = -0.5e6
KAPPA = 2e6


def _qubit(levels: int = 3, t1_s: float = 30e-6) -> TransmonParams:
    return TransmonParams(
        frequency_hz=FQ,
        anharmonicity_hz=ALPHA,
        t1_s=t1_s,
        t2_s=min(20e-6, 2 * t1_s),
        rabi_rate_hz_per_v=50e6,
        thermal_population=0.0,
        levels=levels,
    )


def _res(chi_hz: float = CHI) -> ro.ResonatorParams:
    return ro.ResonatorParams(frequency_hz=FR, kappa_hz=KAPPA, chi_hz=chi_hz)


def _tone(n: int, amplitude_v: float, if_hz: float, phase: float = 0.0) -> NDArray[np.complex128]:
    t = np.arange(n) * DT
    return np.asarray(amplitude_v * np.exp(-2j * np.pi * if_hz * t + 1j * phase), np.complex128)


def _amplitude_for(res: ro.ResonatorParams, photons: float) -> float:
    """Envelope amplitude (V) holding ``photons`` on resonance: n̄ = (2·d·A/κ)²."""
    return math.sqrt(photons) * res.kappa_hz / (2 * res.drive_per_v)


def test_critical_photon_number_and_bare_frequency_from_the_transmon_formula() -> None:
    q, res = _qubit(), _res()
    d0, d1 = FQ - FR, FQ + ALPHA - FR
    g2 = CHI / (1 / d0 - 1 / d1)
    assert ro.coupling_g2_hz2(q, res) == pytest.approx(g2, rel=1e-12)
    assert ro.critical_photon_number(q, res) == pytest.approx(d0**2 / (4 * g2), rel=1e-12)
    assert ro.lamb_shift_hz(q, res) == pytest.approx(g2 / d0, rel=1e-12)
    # qubit below the resonator: the bare resonator lies below the dressed |0> line
    assert ro.bare_frequency_hz(q, res) == pytest.approx(FR + g2 / d0, rel=1e-15)
    assert ro.bare_frequency_hz(q, res) < FR
    uncoupled = _res(chi_hz=0.0)
    assert ro.critical_photon_number(q, uncoupled) == math.inf
    assert ro.bare_frequency_hz(q, uncoupled) == FR
    np.testing.assert_array_equal(ro.level_frequencies_hz(q, uncoupled, 1e6), np.full(q.levels, FR))
    with pytest.raises(ConfigError):
        ro.coupling_g2_hz2(q, _res(chi_hz=+0.5e6))


def test_pull_factor_knee() -> None:
    assert ro.pull_factor(0.0, 100.0) == 1.0
    assert ro.pull_factor(4.0, 100.0) == 1.0  # x^12 below the float resolution
    assert 1 - ro.pull_factor(100.0 / 3, 100.0) < 2e-7
    assert ro.pull_factor(100.0, 100.0) == pytest.approx(2 ** (-1 / 12), rel=1e-12)
    for x in (3.0, 10.0, 1e3, 1e40):
        assert ro.pull_factor(x * 100.0, 100.0) == pytest.approx(1 / x, rel=1e-5)
    assert ro.pull_factor(1e9, math.inf) == 1.0


def test_level_frequencies_low_power_identical_high_power_bare() -> None:
    q, res = _qubit(levels=4), _res()
    low = FR + ro.level_shifts_hz(q, res)
    n_crit = ro.critical_photon_number(q, res)
    f_bare = ro.bare_frequency_hz(q, res)
    np.testing.assert_array_equal(ro.level_frequencies_hz(q, res), low)
    np.testing.assert_array_equal(ro.level_frequencies_hz(q, res, 0.04 * n_crit), low)
    pull = np.abs(low - f_bare)
    assert np.all(np.abs(ro.level_frequencies_hz(q, res, n_crit / 3) - low) < 2e-7 * pull)
    # at n_crit the knee has started; far above it every level sits near f_bare
    at_crit = ro.level_frequencies_hz(q, res, n_crit)
    np.testing.assert_allclose(at_crit - f_bare, (low - f_bare) * 2 ** (-1 / 12), rtol=1e-9)
    high = ro.level_frequencies_hz(q, res, 100 * n_crit)
    np.testing.assert_allclose(high - f_bare, (low - f_bare) / 100, rtol=1e-5)
    # the |0>/|1> contrast collapses with it
    assert abs(high[1] - high[0]) < abs(low[1] - low[0]) / 50


def test_drive_tone_single_and_multiplexed() -> None:
    q, res = _qubit(), _res()
    lo = FR - 60e6
    # a constant tone 0.3 MHz off the resonator, off the FFT grid, after a delay
    env = np.asarray(
        np.concatenate((np.zeros(40), _tone(1731, 0.012, 60.3e6 - 123.4, 0.7), np.zeros(9))),
        np.complex128,
    )
    f, a = ro.drive_tone(q, res, env, DT, lo)
    assert f == pytest.approx(lo + 60.3e6 - 123.4, abs=5.0)
    assert a == pytest.approx(0.012, rel=1e-6)
    assert ro.resonant_photons(q, res, env, DT, lo) == pytest.approx(
        (2 * res.drive_per_v * 0.012 / KAPPA) ** 2, rel=1e-6
    )
    # two resonators 80 MHz apart on one feedline, each read by its own tone
    other = ro.ResonatorParams(frequency_hz=FR + 80e6, kappa_hz=KAPPA, chi_hz=CHI)
    env2 = _tone(2000, 0.01, 60e6 - 0.4e6) + _tone(2000, 0.03, 140e6 - 0.2e6)
    f0, a0 = ro.drive_tone(q, res, env2, DT, lo)
    f1, a1 = ro.drive_tone(q, other, env2, DT, lo)
    assert f0 == pytest.approx(FR - 0.4e6, abs=100.0) and a0 == pytest.approx(0.01, rel=2e-3)
    assert f1 == pytest.approx(FR + 80e6 - 0.2e6, abs=100.0)
    assert a1 == pytest.approx(0.03, rel=2e-3)
    assert ro.drive_tone(q, res, np.zeros(100, np.complex128), DT, lo) == (0.0, 0.0)


def test_steady_state_follows_the_punched_out_resonance() -> None:
    """A long constant tone: the integrated field is the steady state of a resonator at
    f_n(n̄) with n̄ from the tone's amplitude — at low power f_r + S_n, at high power near
    f_bare, where a drive at f_bare then holds about the resonant photon number."""
    q, res = _qubit(), _res()
    n_crit = ro.critical_photon_number(q, res)
    f_bare = ro.bare_frequency_hz(q, res)
    gain = res.output_gain_v * math.sqrt(2 * np.pi * KAPPA)
    n, f_if = 4000, 50e6
    zoh = np.sinc(f_if * DT) ** 2
    kw: dict[str, Any] = {
        "weights": np.ones(2000),
        "start_sample": 2000,
        "length_samples": 2000,
        "demod_frequency_hz": f_if,
    }
    for photons, f_drive in ((0.1 * n_crit, FR), (0.1 * n_crit, f_bare), (400 * n_crit, f_bare)):
        amp = _amplitude_for(res, photons)
        lo = f_drive - f_if
        points = ro.mean_integrated(q, res, _tone(n, amp, f_if), DT, lo, **kw)
        eps = 2 * np.pi * res.drive_per_v * amp
        f_n = ro.level_frequencies_hz(q, res, photons)
        ss = zoh * gain * eps / (np.pi * KAPPA + 2j * np.pi * (f_n - f_drive))
        np.testing.assert_allclose(points, ss, rtol=1e-5)
    # punched out: a drive at the bare frequency is (almost) resonant, for every level
    held = np.abs(points / (zoh * gain)) ** 2
    assert np.all(held > 0.9 * 400 * n_crit)
    low = ro.mean_integrated(
        q, res, _tone(n, _amplitude_for(res, 0.1 * n_crit), f_if), DT, f_bare - f_if, **kw
    )
    # at low power the dressed |0> and |1> lines stay put, far from a drive at f_bare
    assert np.all(np.abs(low[:2] / (zoh * gain)) ** 2 < 0.1 * 0.1 * n_crit)


def _windows(n: int) -> list[ro.ReadoutWindow]:
    w = np.exp(1j * np.linspace(0, 2, n)) * np.linspace(0.5, 1.5, n)
    return [
        ro.ReadoutWindow(np.ones(1500, np.complex128), 500, 1500, 50e6),
        ro.ReadoutWindow(w.astype(np.complex128), 200, 1000, 50e6),  # (N,) weights
        ro.ReadoutWindow(np.ones(800, np.complex128), 0, 800, 130e6),
        ro.ReadoutWindow(w[:1999].astype(np.complex128), 1, 1999, -20e6),
    ]


@pytest.mark.parametrize(("add_noise", "decay"), [(False, True), (True, True), (True, False)])
def test_integrate_shots_windows_matches_integrate_shots(add_noise: bool, decay: bool) -> None:
    """Same values and random draws as one integrate_shots call per window.

    The windows share each shot's jump time (one draw), then draw their noise in order. So
    without noise every column equals integrate_shots from the same generator state; with
    noise the first column does, and without decay column k equals integrate_shots from the
    state after the noise of windows 0 … k−1.
    """
    q = _qubit(t1_s=1.5e-6)
    res = _res()
    n = 2000
    env = _tone(n, 0.01, 50e6 - 0.5e6) + _tone(n, 0.02, 130e6)
    lo = FR - 50e6
    levels = np.repeat([0, 1, 2], 400)
    windows = _windows(n)
    kw: dict[str, Any] = {
        "frame_frequency_hz": lo,
        "level_samples": levels,
        "add_noise": add_noise,
        "decay": decay,
    }
    both = ro.integrate_shots_windows(
        np.random.default_rng(5), q, res, env, DT, windows=windows, **kw
    )
    assert both.shape == (levels.size, len(windows)) and both.dtype == np.complex128
    for k, win in enumerate(windows):
        if add_noise and decay and k > 0:
            continue  # the jump draws and the noise draws interleave differently
        rng = np.random.default_rng(5)
        if add_noise:
            ro.integrate_shots_windows(rng, q, res, env, DT, windows=windows[:k], **kw)
        one = ro.integrate_shots(
            rng,
            q,
            res,
            env,
            DT,
            weights=win.weights,
            start_sample=win.start_sample,
            length_samples=win.length_samples,
            demod_frequency_hz=win.demod_frequency_hz,
            **kw,
        )
        np.testing.assert_array_equal(both[:, k], one)
    if add_noise and decay:
        # every column keeps the noise of its window: spread of the decay-free |0> shots
        for k, win in enumerate(windows):
            w = np.asarray(win.weights)
            if w.size == n:
                w = w[win.start_sample : win.start_sample + win.length_samples]
            std = ro.integration_noise_std_v(res.noise_v_per_sqrt_hz, win.length_samples * DT, w)
            assert np.std(both[:400, k].real) == pytest.approx(std, rel=0.15)


def test_windows_as_tuples_and_noise_free_means() -> None:
    q, res = _qubit(), _res()
    n = 2000
    env = _tone(n, 0.01, 50e6 - 0.5e6) + _tone(n, 0.02, 130e6)
    lo = FR - 50e6
    levels = np.repeat([0, 1, 2], 10)
    windows = _windows(n)
    rng = np.random.default_rng(9)
    calm = ro.integrate_shots_windows(
        rng,
        q,
        res,
        env,
        DT,
        frame_frequency_hz=lo,
        level_samples=levels,
        windows=[
            (w.weights, w.start_sample, w.length_samples, w.demod_frequency_hz) for w in windows
        ],
        add_noise=False,
        decay=False,
    )
    assert rng.random() == np.random.default_rng(9).random()  # nothing drawn
    means = np.stack(
        [
            ro.mean_integrated(
                q,
                res,
                env,
                DT,
                lo,
                weights=w.weights,
                start_sample=w.start_sample,
                length_samples=w.length_samples,
                demod_frequency_hz=w.demod_frequency_hz,
            )
            for w in windows
        ],
        axis=1,
    )
    np.testing.assert_allclose(calm, means[levels], rtol=1e-9, atol=1e-12 * np.abs(means).max())


def test_windows_share_the_jump_time_of_a_shot() -> None:
    q = _qubit(t1_s=0.5e-6)
    res = _res()
    env = _tone(2000, 0.01, 50e6 - 0.5e6)
    win = ro.ReadoutWindow(np.ones(1000, np.complex128), 1000, 1000, 50e6)
    shots = ro.integrate_shots_windows(
        np.random.default_rng(1),
        q,
        res,
        env,
        DT,
        frame_frequency_hz=FR - 50e6,
        level_samples=np.ones(2000, dtype=int),
        windows=[win, win],
        add_noise=False,
    )
    np.testing.assert_array_equal(shots[:, 0], shots[:, 1])
    assert np.ptp(np.abs(shots[:, 0])) > 0  # the jump times differ between shots
    empty = ro.integrate_shots_windows(
        np.random.default_rng(1),
        q,
        res,
        env,
        DT,
        frame_frequency_hz=FR - 50e6,
        level_samples=np.ones(3, dtype=int),
        windows=[],
    )
    assert empty.shape == (3, 0)
    with pytest.raises(ValueError, match="not inside"):
        ro.integrate_shots_windows(
            np.random.default_rng(1),
            q,
            res,
            env,
            DT,
            frame_frequency_hz=FR - 50e6,
            level_samples=np.ones(3, dtype=int),
            windows=[ro.ReadoutWindow(np.ones(10, np.complex128), 1995, 10, 0.0)],
        )
