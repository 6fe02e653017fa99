"""Amplitude Rabi sweep: our batched Lindblad solver against QuTiP ``mesolve``.

101 amplitudes, 3 levels, 40 ns Gaussian (σ = 10 ns) at 1 ns samples, resonant,
T1 = 30 µs, T2 = 20 µs. QuTiP solves each point with one ``mesolve`` call over a
piecewise-constant (``order=0``) coefficient array, same tolerances as the tests; it is
timed on a subset of points and scaled to 101. Run with ``--write`` to append the result to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import qutip

from qneko_hw.simulated_instruments.physics import TransmonParams, evolve, populations

DT = 1e-9
N_SAMPLES = 40
POINTS = 101
QUTIP_SUBSET = 10
OPTIONS = {"atol": 1e-10, "rtol": 1e-10, "nsteps": 10**6}


def _setup() -> tuple[TransmonParams, np.ndarray]:
    params = TransmonParams(
        frequency_hz=5.0e9,
        anharmonicity_hz=-250e6,
        t1_s=30e-6,
        t2_s=20e-6,
        rabi_rate_hz_per_v=50e6,
        thermal_population=0.0,
        levels=3,
    )
    t = (np.arange(N_SAMPLES) + 0.5) * DT
    gauss = np.exp(-((t - N_SAMPLES * DT / 2) ** 2) / (2 * (10e-9) ** 2))
    pi_amp = 1.0 / (2 * params.rabi_rate_hz_per_v * gauss.sum() * DT)
    amplitudes = np.linspace(0.0, 2.0 * pi_amp, POINTS)  # 0 .. 2π rotation
    return params, (amplitudes[:, None] * gauss[None, :]).astype(np.complex128)


def _qutip_point(params: TransmonParams, envelope: np.ndarray) -> np.ndarray:
    d = params.levels
    a = qutip.destroy(d)
    n = a.dag() * a
    h0 = 2 * np.pi * (params.anharmonicity_hz / 2) * n * (n - 1)  # resonant frame
    c_ops = [
        math.sqrt(params.gamma_1_per_s) * a,
        math.sqrt(2 * params.gamma_phi_per_s) * n,
    ]
    tlist = np.arange(envelope.size + 1) * DT
    values = np.append(envelope, envelope[-1])
    k = params.rabi_rate_hz_per_v
    h = [
        h0,
        [np.pi * k * a.dag(), qutip.coefficient(values, tlist=tlist, order=0)],
        [np.pi * k * a, qutip.coefficient(np.conj(values), tlist=tlist, order=0)],
    ]
    result = qutip.mesolve(
        h, qutip.fock_dm(d, 0), [0.0, envelope.size * DT], c_ops=c_ops, options=OPTIONS
    )
    return np.asarray(result.final_state.full())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    params, envelopes = _setup()
    evolve(params, envelopes, DT, params.frequency_hz)  # warm-up
    ours_s = math.inf
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rho = evolve(params, envelopes, DT, params.frequency_hz)
        ours_s = min(ours_s, time.perf_counter() - t0)

    subset = np.linspace(0, POINTS - 1, QUTIP_SUBSET).round().astype(int)
    _qutip_point(params, envelopes[1])  # warm-up (coefficient compilation)
    t0 = time.perf_counter()
    ref = np.stack([_qutip_point(params, envelopes[i]) for i in subset])
    qutip_subset_s = time.perf_counter() - t0
    qutip_s = qutip_subset_s * POINTS / QUTIP_SUBSET
    max_diff = float(np.max(np.abs(populations(rho[subset]) - populations(ref))))
    ratio = qutip_s / ours_s

    machine = f"{platform.processor() or platform.machine()}, {platform.system()} "
    machine += f"{platform.release()}, {os.cpu_count()} CPUs"
    line = (
        f"| Rabi sweep 101 pts, 3 levels, 40 ns Gaussian, T1=30 µs T2=20 µs "
        f"| ours {ours_s * 1e3:.1f} ms | QuTiP {qutip_s * 1e3:.0f} ms "
        f"({QUTIP_SUBSET} points timed, ×{POINTS / QUTIP_SUBSET:.1f}) "
        f"| ratio {ratio:.0f}× | max ΔP {max_diff:.1e} |"
    )
    print(line)
    if max_diff >= 1e-6:
        print(f"WARNING: population difference {max_diff:.2e} >= 1e-6")
    if args.write:
        path = Path(__file__).with_name("RESULTS.md")
        header = "" if path.exists() else "# Benchmark results\n"
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"{header}\n## bench_physics_vs_qutip ({stamp})\n\n"
            f"Machine: {machine}, {platform.uname().version}; "
            f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"QuTiP {qutip.__version__}.\n\n"
            f"- ours (`evolve`, best of {args.repeats}): {ours_s * 1e3:.2f} ms\n"
            f"- QuTiP `mesolve` (order-0 coefficients, atol=rtol=1e-10): {qutip_s:.3f} s "
            f"({QUTIP_SUBSET} of {POINTS} points timed, scaled ×{POINTS / QUTIP_SUBSET:.1f})\n"
            f"- ratio: {ratio:.0f}× (target ≥ 20×)\n"
            f"- max population difference on the timed points: {max_diff:.1e} (< 1e-6)\n\n"
            f"{line}\n"
        )
        with path.open("a", encoding="utf-8") as fh:
            fh.write(section)


if __name__ == "__main__":
    main()
