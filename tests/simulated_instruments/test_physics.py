"""Tests of the transmon and readout physics against QuTiP and closed-form results."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
from numpy.typing import NDArray

from qneko_hw.errors import ConfigError
from qneko_hw.simulated_instruments.physics import (
    PropagatorCache,
    ResonatorParams,
    TransmonParams,
    apply_superoperator,
    assignment_fidelity_truth,
    drive_per_v_for_photons,
    evolve,
    integrate_shots,
    level_shifts_hz,
    mean_integrated,
    populations,
    thermal_state,
    unitary,
)
from qneko_hw.simulated_instruments.physics.truth import pi_amplitude

DT = 1e-9
FQ = 5.0e9
K = 50e6  # Hz/V
QUTIP_OPTIONS = {"atol": 1e-10, "rtol": 1e-10, "nsteps": 10**6}


def _qubit(**kw: float) -> TransmonParams:
    base: dict[str, float] = {
        "frequency_hz": FQ,
        "anharmonicity_hz": -250e6,
        "t1_s": 30e-6,
        "t2_s": 20e-6,
        "rabi_rate_hz_per_v": K,
        "thermal_population": 0.0,
        "levels": 3,
    }
    base.update(kw)
    return TransmonParams(
        frequency_hz=base["frequency_hz"],
        anharmonicity_hz=base["anharmonicity_hz"],
        t1_s=base["t1_s"],
        t2_s=base["t2_s"],
        rabi_rate_hz_per_v=base["rabi_rate_hz_per_v"],
        thermal_population=base["thermal_population"],
        levels=int(base["levels"]),
    )


def _gauss(n: int, sigma: float) -> NDArray[np.float64]:
    t = (np.arange(n) + 0.5) * DT
    return np.exp(-((t - n * DT / 2) ** 2) / (2 * sigma**2))


def _dgauss(n: int, sigma: float) -> NDArray[np.float64]:
    t = (np.arange(n) + 0.5) * DT
    return -(t - n * DT / 2) / sigma**2 * _gauss(n, sigma)


def _if(n: int, f_if: float) -> NDArray[np.complex128]:
    """A tone at f_frame + f_if (the model's sign convention)."""
    return np.exp(-2j * np.pi * f_if * np.arange(n) * DT)


def _pi_scale(shape: NDArray[np.complexfloating] | NDArray[np.floating]) -> float:
    """Area estimate of the π amplitude for a shape."""
    return 1.0 / (2.0 * K * float(np.sum(np.abs(shape))) * DT)


def qutip_reference(
    params: TransmonParams,
    envelope: NDArray[np.complex128],
    frame_hz: float,
    rho0: NDArray[np.complex128],
) -> NDArray[np.complex128]:
    """mesolve, stepping the piecewise-constant Hamiltonian run by run (exact pieces)."""
    d = params.levels
    a = qutip.destroy(d)
    n = a.dag() * a
    h0 = (
        2
        * np.pi
        * ((params.frequency_hz - frame_hz) * n + params.anharmonicity_hz / 2 * n * (n - 1))
    )
    # PHYSICS.md: Γ↓ + Γ↑ = 1/T1, Γ↑/Γ↓ = p/(1 − p); thermal excitation on 0 → 1
    p = params.thermal_population
    c_ops = [math.sqrt((1 - p) / params.t1_s) * a]
    if p > 0:
        c_ops.append(math.sqrt(p / params.t1_s) * qutip.basis(d, 1) * qutip.basis(d, 0).dag())
    if params.gamma_phi_per_s > 0:
        c_ops.append(math.sqrt(2 * params.gamma_phi_per_s) * n)
    rho = qutip.Qobj(rho0)
    i = 0
    while i < envelope.size:
        j = i
        while j < envelope.size and envelope[j] == envelope[i]:
            j += 1
        z = complex(envelope[i])
        h = h0 + np.pi * params.rabi_rate_hz_per_v * (z * a.dag() + np.conj(z) * a)
        rho = qutip.mesolve(
            h, rho, [0.0, (j - i) * DT], c_ops=c_ops, options=QUTIP_OPTIONS
        ).final_state
        i = j
    return np.asarray(rho.full(), dtype=np.complex128)


def _cases() -> list[tuple[str, TransmonParams, NDArray[np.complex128], float]]:
    g40 = _gauss(40, 10e-9)
    a40 = _pi_scale(g40)
    square = np.ones(20)
    flat = np.concatenate([_gauss(20, 5e-9)[:10], np.ones(60), _gauss(20, 5e-9)[10:]])
    fast = _qubit(t1_s=1e-6, t2_s=1e-6)
    return [
        ("resonant gaussian", _qubit(), a40 * g40 + 0j, FQ),
        ("detuned gaussian", _qubit(), a40 * g40 + 0j, FQ - 7e6),
        (
            "drag",
            _qubit(),
            a40 * (g40 + 1j / (2 * np.pi * 250e6) * _dgauss(40, 10e-9)),
            FQ,
        ),
        ("square", _qubit(), 0.5 * _pi_scale(square) * square + 0j, FQ),
        ("if modulated, lo 100 MHz below", _qubit(), a40 * g40 * _if(40, 100e6), FQ - 100e6),
        (
            "long pulse with decay",
            fast,
            0.3 * _pi_scale(_gauss(200, 40e-9)) * _gauss(200, 40e-9) * _if(200, 100e6),
            FQ - 100e6,
        ),
        ("long flat top, t1=t2=1us", fast, _pi_scale(flat) * flat * np.exp(0.4j), FQ),
        ("thermal initial state", _qubit(thermal_population=0.08), a40 * g40 + 0j, FQ),
        (
            "4 levels, strong",
            _qubit(levels=4, t1_s=2e-6, t2_s=1.5e-6),
            2 * a40 * g40 * _if(40, 30e6),
            FQ - 30e6,
        ),
        ("2 levels", _qubit(levels=2), a40 * g40 + 0j, FQ),
        ("pure t1", _qubit(t1_s=1e-6, t2_s=2e-6), a40 * g40 + 0j, FQ),
        (
            "pulse then 3 us delay",
            _qubit(t1_s=5e-6, t2_s=4e-6),
            np.concatenate([0.5 * a40 * g40, np.zeros(3000)]) + 0j,
            FQ - 2e6,
        ),
    ]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_evolve_matches_qutip(
    case: tuple[str, TransmonParams, NDArray[np.complex128], float],
) -> None:
    _, params, envelope, frame = case
    rho0 = thermal_state(params)
    ours = evolve(params, envelope[None, :], DT, frame)[0]
    ref = qutip_reference(params, envelope, frame, rho0)
    assert np.max(np.abs(populations(ours) - populations(ref))) < 1e-6
    assert np.max(np.abs(ours - ref)) < 2e-6
    assert abs(np.trace(ours) - 1) < 1e-12


def test_closed_system_matches_qutip_sesolve_free() -> None:
    params = _qubit(levels=4)
    env = 0.8 * _pi_scale(_gauss(30, 6e-9)) * _gauss(30, 6e-9) * _if(30, 40e6)
    ours = evolve(params, env[None], DT, FQ - 40e6, dissipation=False)[0]
    u = unitary(params, env[None], DT, FQ - 40e6)[0]
    assert np.allclose(u @ u.conj().T, np.eye(4), atol=1e-12)
    ref = qutip_reference(
        _qubit(levels=4, t1_s=math.inf, t2_s=math.inf), env, FQ - 40e6, thermal_state(params)
    )
    assert np.max(np.abs(ours - ref)) < 1e-7


def _bloch(rho: NDArray[np.complex128]) -> NDArray[np.float64]:
    q = rho[:2, :2]
    x = np.array([[0, 1], [1, 0]])
    y = np.array([[0, -1j], [1j, 0]])
    z = np.array([[1, 0], [0, -1]])
    return np.real([np.trace(q @ x), np.trace(q @ y), np.trace(q @ z)])


@pytest.mark.parametrize("phi", [0.0, np.pi / 2, 2.0, -0.7])
def test_axis_convention(phi: float) -> None:
    """z = A·e^{iφ} rotates about (cos φ, sin φ, 0): R(π/2)|0> has Bloch (sin φ, −cos φ, 0)."""
    params = _qubit(levels=2)
    n = 20
    amplitude = 1.0 / (4 * K * n * DT)  # π/2
    env = np.full((1, n), amplitude * np.exp(1j * phi))
    rho = evolve(params, env, DT, FQ, dissipation=False)[0]
    assert np.allclose(_bloch(rho), [np.sin(phi), -np.cos(phi), 0.0], atol=1e-12)


def test_rabi_formula() -> None:
    params = _qubit(levels=2)
    amplitude = 0.013
    lengths = np.arange(1, 60, 7)
    env = np.zeros((lengths.size, lengths.max()), dtype=np.complex128)
    for i, m in enumerate(lengths):
        env[i, -m:] = amplitude  # leading zeros are free evolution at resonance
    p1 = populations(evolve(params, env, DT, FQ, dissipation=False))[:, 1]
    assert np.allclose(p1, np.sin(np.pi * K * amplitude * lengths * DT) ** 2, atol=1e-12)


def test_if_sign_convention_is_resonant() -> None:
    """A tone exp(−i2π f_if t) drives a qubit at f_frame + f_if; the opposite sign does not."""
    params = _qubit(levels=2)
    n = 40
    amplitude = 1.0 / (2 * K * n * DT)
    good = evolve(params, amplitude * _if(n, 80e6)[None], DT, FQ - 80e6, dissipation=False)
    bad = evolve(params, amplitude * _if(n, -80e6)[None], DT, FQ - 80e6, dissipation=False)
    assert populations(good)[0, 1] > 0.99
    assert populations(bad)[0, 1] < 0.05


def test_leakage_and_drag() -> None:
    params = _qubit(t1_s=math.inf, t2_s=math.inf)
    n, sigma = 8, 1.5e-9
    gauss = _gauss(n, sigma) / _gauss(n, sigma).max()
    a_plain = pi_amplitude(params, gauss, DT, FQ, FQ)
    leak_plain = populations(evolve(params, a_plain * gauss[None], DT, FQ, dissipation=False))[0, 2]
    beta = -1.0 / (2 * np.pi * params.anharmonicity_hz)
    drag = gauss + 1j * beta * _dgauss(n, sigma) / _gauss(n, sigma).max()
    drag = drag / np.abs(drag).max()
    a_drag = pi_amplitude(params, drag, DT, FQ, FQ)
    leak_drag = populations(evolve(params, a_drag * drag[None], DT, FQ, dissipation=False))[0, 2]
    assert leak_plain > 1e-3
    assert leak_drag < leak_plain / 20


def test_ac_stark_shift() -> None:
    """A strong tone 100 MHz above the qubit pushes its 0-1 line down by ~Ω²/2·(1/(Δ−α) − 1/Δ)."""
    params = _qubit(t1_s=math.inf, t2_s=math.inf)
    ramp, flat = 200, 2000
    n = 2 * ramp + flat
    stark_rabi = 20e6  # k·A of the strong tone (Hz)
    delta = 100e6
    window = np.concatenate(
        [
            np.sin(np.linspace(0, np.pi / 2, ramp)) ** 2,
            np.ones(flat),
            np.cos(np.linspace(0, np.pi / 2, ramp)) ** 2,
        ]
    )
    strong = stark_rabi / K * window * _if(n, delta)
    probe_box = np.zeros(n)
    probe_box[ramp : ramp + flat] = 1.0
    probe_amp = 1.0 / (2 * K * flat * DT)
    detunings = np.linspace(-3e6, 1e6, 81)
    env = strong[None] + probe_amp * probe_box[None] * np.exp(
        -2j * np.pi * detunings[:, None] * np.arange(n) * DT
    )
    p1 = populations(evolve(params, env, DT, FQ, dissipation=False))[:, 1]
    i = int(np.argmax(p1))
    y0, y1, y2 = p1[i - 1], p1[i], p1[i + 1]
    peak = detunings[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (detunings[1] - detunings[0])
    alpha = params.anharmonicity_hz
    expected = stark_rabi**2 / 2 * (1 / (delta - alpha) - 1 / delta)
    assert expected < -1e6
    assert peak == pytest.approx(expected, rel=0.15)
    # without the strong tone the line is at zero detuning
    p1_bare = populations(evolve(params, env - strong[None], DT, FQ, dissipation=False))[:, 1]
    assert abs(detunings[int(np.argmax(p1_bare))]) <= 0.05e6


def test_batched_equals_per_point() -> None:
    params = _qubit(t1_s=3e-6, t2_s=2e-6, thermal_population=0.03)
    g = _gauss(40, 10e-9)
    env = np.linspace(0, 2, 7)[:, None] * _pi_scale(g) * g * _if(40, 20e6)
    env = np.concatenate([env, np.zeros((7, 500)), env], axis=1)
    batched = evolve(params, env, DT, FQ - 20e6)
    single = np.stack([evolve(params, env[i : i + 1], DT, FQ - 20e6)[0] for i in range(7)])
    assert np.max(np.abs(batched - single)) < 1e-13


def test_long_delay_closed_form() -> None:
    """X/2 then a 300 µs delay: P1 and |ρ01| decay with T1 and T2 (compressed free evolution)."""
    params = _qubit(t1_s=100e-6, t2_s=80e-6, levels=2)
    g = _gauss(20, 5e-9)
    pulse = 0.5 * _pi_scale(g) * g
    delays = np.array([0, 1000, 50_000, 300_000])
    env = np.zeros((delays.size, 20 + delays.max()), dtype=np.complex128)
    for i, m in enumerate(delays):
        env[i, delays.max() - m : delays.max() - m + 20] = pulse
    rho = evolve(params, env, DT, FQ)
    p1 = populations(rho)[:, 1]
    coh = np.abs(rho[:, 0, 1])
    assert np.allclose(p1 / p1[0], np.exp(-delays * DT / params.t1_s), rtol=1e-9, atol=1e-12)
    assert np.allclose(coh / coh[0], np.exp(-delays * DT / params.t2_s), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [0.02, 0.05])
def test_a_qubit_at_rest_stays_thermal_and_relaxes_towards_it(p: float) -> None:
    """Upward thermal rate Γ↑ = p/T1 beside Γ↓ = (1 − p)/T1: a thermal qubit left idle
    for 1.4 ms (a multiplexed partner's longest wait) keeps its thermal population; one
    started in |1⟩ relaxes towards p at the rate 1/T1, as QuTiP's mesolve of the same
    Lindblad equation says."""
    params = _qubit(t1_s=40e-6, t2_s=30e-6, thermal_population=p)
    rest = thermal_state(params)
    assert populations(rest).tolist() == [1 - p, p, 0.0]
    idle = evolve(params, np.zeros((1, 1_400_000)), DT, FQ, rho0=rest)
    assert np.abs(populations(idle)[0] - populations(rest)).max() < 1e-9
    one = np.diag([0.0, 1.0, 0.0]).astype(np.complex128)
    n = 60_000  # 60 µs = 1.5·T1
    ours = populations(evolve(params, np.zeros((1, n)), DT, FQ, rho0=one))[0]
    ref = qutip_reference(params, np.zeros(n, dtype=np.complex128), FQ, one)
    assert np.abs(ours - np.real(np.diag(ref))).max() < 1e-6
    # the qubit's own T1: P1(t) = p + (1 − p)·e^{−t/T1} exactly, nothing leaks to |2⟩
    expected = p + (1 - p) * math.exp(-n * DT / params.t1_s)
    assert ours[1] == pytest.approx(expected, abs=1e-7) and ours[2] == pytest.approx(0, abs=1e-12)


def test_propagator_cache() -> None:
    params = _qubit(t1_s=5e-6, t2_s=5e-6)
    g = _gauss(24, 6e-9)
    env = _pi_scale(g) * g * _if(24, 50e6)
    cache = PropagatorCache(maxsize=2)
    s1 = cache.superoperator(params, env, DT, FQ - 50e6)
    s2 = cache.superoperator(params, env.copy(), DT, FQ - 50e6)
    assert s1 is s2
    assert (cache.hits, cache.misses) == (1, 1)
    rho = apply_superoperator(s1, thermal_state(params)[None])[0]
    assert np.allclose(rho, evolve(params, env[None], DT, FQ - 50e6)[0], atol=1e-13)
    cache.superoperator(params, 2 * env, DT, FQ - 50e6)
    cache.superoperator(params, 3 * env, DT, FQ - 50e6)
    assert len(cache) == 2


def test_pi_amplitude_square() -> None:
    params = _qubit(levels=2)
    shape = np.ones(50)
    assert pi_amplitude(params, shape, DT, FQ, FQ) == pytest.approx(1 / (2 * K * 50 * DT), rel=1e-6)


def test_bad_params() -> None:
    with pytest.raises(ConfigError, match="t2_s"):
        _qubit(t1_s=10e-6, t2_s=25e-6)
    with pytest.raises(ConfigError):
        _qubit(thermal_population=1.5)
    with pytest.raises(ConfigError):
        ResonatorParams(frequency_hz=7e9, kappa_hz=-1.0, chi_hz=-0.5e6)


# --- readout -------------------------------------------------------------------------

FR = 7.0e9


def _resonator(**kw: float) -> ResonatorParams:
    return ResonatorParams(frequency_hz=FR, kappa_hz=2e6, chi_hz=-0.5e6, **kw)


def test_level_shifts() -> None:
    shifts = level_shifts_hz(_qubit(levels=4), _resonator())
    assert shifts[0] == 0.0
    assert shifts[1] == pytest.approx(-1e6)
    # qubit below the resonator: higher levels pull the resonator further down
    assert shifts[2] < shifts[1] < 0


def test_readout_steady_state_separation() -> None:
    qubit = _qubit()
    res = _resonator()
    n = 4000
    f_if = 50e6
    f_ro = FR - 0.5e6  # between the |0> and |1> lines
    amp = 0.01
    env = amp * _if(n, f_if)
    lo = f_ro - f_if
    start, length = 2000, 2000  # ring-up is over (1/πκ ≈ 0.16 µs)
    points = mean_integrated(
        qubit,
        res,
        env,
        DT,
        lo,
        weights=np.ones(length),
        start_sample=start,
        length_samples=length,
        demod_frequency_hz=f_if,
    )
    eps = 2 * np.pi * res.drive_per_v * amp
    gain = res.output_gain_v * math.sqrt(2 * np.pi * res.kappa_hz)
    shifts = level_shifts_hz(qubit, res)
    # zero-order hold of the drive and sample-averaging of the field: sinc² at the IF
    zoh = np.sinc(f_if * DT) ** 2
    ss = zoh * gain * eps / (np.pi * res.kappa_hz + 2j * np.pi * (FR + shifts - f_ro))
    assert np.allclose(points, ss, rtol=1e-5)
    assert abs(points[0] - points[1]) == pytest.approx(abs(ss[0] - ss[1]), rel=1e-5)
    # resonant photon number at 10 mV is the documented ~10 photons for κ/2π = 2 MHz
    env0 = np.full(n, 0.01 + 0j)  # no IF: LO at the resonator
    p0 = mean_integrated(
        qubit,
        res,
        env0,
        DT,
        FR,
        weights=np.ones(length),
        start_sample=start,
        length_samples=length,
        demod_frequency_hz=0.0,
    )[0]
    assert abs(p0 / gain) ** 2 == pytest.approx(10.0, rel=1e-6)
    assert drive_per_v_for_photons(2e6, 10.0, 0.01) == pytest.approx(res.drive_per_v)


def _readout_setup() -> tuple[ResonatorParams, NDArray[np.complex128], float, float]:
    res = _resonator()
    n = 2000
    f_if = 50e6
    env = 0.01 * _if(n, f_if)
    return res, env, FR - 0.5e6 - f_if, f_if


def test_shots_noise_scaling_and_means() -> None:
    qubit = _qubit(t1_s=math.inf, t2_s=math.inf)
    res, env, lo, f_if = _readout_setup()
    rng = np.random.default_rng(1)
    levels = np.repeat([0, 1], 50_000)
    stds = []
    for length in (500, 2000):
        shots = integrate_shots(
            rng,
            qubit,
            res,
            env,
            DT,
            frame_frequency_hz=lo,
            level_samples=levels,
            weights=np.ones(length),
            start_sample=2000 - length,
            length_samples=length,
            demod_frequency_hz=f_if,
        )
        means = mean_integrated(
            qubit,
            res,
            env,
            DT,
            lo,
            weights=np.ones(length),
            start_sample=2000 - length,
            length_samples=length,
            demod_frequency_hz=f_if,
        )
        s0 = shots[:50_000]
        expected_std = res.noise_v_per_sqrt_hz / math.sqrt(length * DT)
        assert np.std(s0.real) == pytest.approx(expected_std, rel=0.02)
        assert np.std(s0.imag) == pytest.approx(expected_std, rel=0.02)
        assert abs(np.mean(s0) - means[0]) < 5 * expected_std / math.sqrt(50_000)
        stds.append(np.std(s0.real))
    assert stds[0] / stds[1] == pytest.approx(2.0, rel=0.03)
    noiseless = integrate_shots(
        rng,
        qubit,
        res,
        env,
        DT,
        frame_frequency_hz=lo,
        level_samples=levels,
        weights=np.ones(2000),
        start_sample=0,
        length_samples=2000,
        demod_frequency_hz=f_if,
        add_noise=False,
    )
    assert np.ptp(noiseless[:50_000]) == 0.0


def test_decay_during_readout_moves_shots_to_ground() -> None:
    res, env, lo, f_if = _readout_setup()
    kwargs = {
        "frame_frequency_hz": lo,
        "weights": np.ones(1500),
        "start_sample": 500,
        "length_samples": 1500,
        "demod_frequency_hz": f_if,
        "add_noise": False,
    }
    levels = np.ones(100_000, dtype=int)
    stable = integrate_shots(
        np.random.default_rng(2),
        _qubit(t1_s=1.0, t2_s=1.0),
        res,
        env,
        DT,
        level_samples=levels,
        **kwargs,
    )
    means = mean_integrated(
        _qubit(),
        res,
        env,
        DT,
        lo,
        weights=np.ones(1500),
        start_sample=500,
        length_samples=1500,
        demod_frequency_hz=f_if,
    )
    fast = _qubit(t1_s=0.3e-6, t2_s=0.3e-6)
    decayed = integrate_shots(
        np.random.default_rng(2), fast, res, env, DT, level_samples=levels, **kwargs
    )
    d0 = np.abs(decayed - means[0])
    d1 = np.abs(decayed - means[1])
    assert np.mean(np.abs(stable - means[1])) < 1e-3 * abs(means[0] - means[1])
    # P(no jump before the window starts) = exp(−0.5 µs / 0.3 µs) ≈ 0.19
    assert np.mean(d0 < d1) > 0.75
    # a jump long before the window puts the shot on the |0> point
    early = np.mean(d0 < 0.05 * abs(means[0] - means[1]))
    assert 1 - math.exp(-0.25 / 0.3) < early < 1 - math.exp(-0.5 / 0.3) + 0.01


def test_jump_table_matches_direct_integration() -> None:
    """The tabulated value of a 2 -> 1 jump at sample j equals a step-by-step solution."""
    from qneko_hw.simulated_instruments.physics.readout import _all_fields, _jump_tables

    qubit = _qubit()
    res = _resonator()
    n, f_if, lo = 600, 30e6, FR - 1e6 - 30e6
    env = 0.01 * _if(n, f_if) * np.linspace(0.5, 1.0, n)
    w = np.exp(1j * np.linspace(0, 1, n))
    g = np.zeros(n, dtype=np.complex128)
    g[100:500] = w[100:500] * np.exp(2j * np.pi * f_if * DT * np.arange(100, 500)) / 400
    table = _jump_tables(qubit, res, envelope=env, dt_s=DT, frame_frequency_hz=lo, g=g)
    lams = np.pi * res.kappa_hz + 2j * np.pi * (FR + level_shifts_hz(qubit, res) - lo)
    gain = res.output_gain_v * math.sqrt(2 * np.pi * res.kappa_hz)
    eps = 2 * np.pi * res.drive_per_v * env
    for m, j in [(2, 0), (2, 250), (1, 37), (1, 499), (2, 600)]:
        alpha = 0j
        total = 0j
        for k in range(n):
            lam = lams[m] if k < j else lams[m - 1]
            e = np.exp(-lam * DT)
            src = eps[k] / lam
            avg = src + (alpha - src) * (1 - e) / (lam * DT)
            total += g[k] * gain * avg
            alpha = src + (alpha - src) * e
        assert table[m, j] == pytest.approx(total, rel=1e-10)
    _, averages, _, _ = _all_fields(qubit, res, env, DT, lo)
    assert table[0, 0] == pytest.approx(gain * averages[0] @ g, rel=1e-12)


def test_assignment_fidelity_truth_matches_shots() -> None:
    qubit = _qubit(t1_s=math.inf, t2_s=math.inf)
    res, env, lo, f_if = _readout_setup()
    length = 1000
    kw = {
        "weights": np.ones(length),
        "start_sample": 1000,
        "length_samples": length,
        "demod_frequency_hz": f_if,
    }
    fid = assignment_fidelity_truth(qubit, res, env, DT, lo, **kw)
    means = mean_integrated(qubit, res, env, DT, lo, **kw)
    rng = np.random.default_rng(3)
    levels = np.repeat([0, 1], 100_000)
    shots = integrate_shots(
        rng, qubit, res, env, DT, frame_frequency_hz=lo, level_samples=levels, **kw
    )
    axis = (means[1] - means[0]) / abs(means[1] - means[0])
    proj = np.real((shots - (means[0] + means[1]) / 2) * np.conj(axis))
    measured = 1 - 0.5 * (np.mean(proj[:100_000] > 0) + np.mean(proj[100_000:] < 0))
    assert 0.6 < fid < 0.9999
    assert measured == pytest.approx(fid, abs=0.005)
