"""Shots per second to disk: our streaming ``RunWriter`` against QCoDeS's ``DataSaver``.

Ours: complex64 IQ shots appended to an HDF5 run file (SWMR, chunked, resizable), timed from
opening the writer to the final rename, fsync included. QCoDeS: a fresh SQLite database
(``initialise_or_create_database_at``), a ``Measurement`` with a ``step`` setpoint and an
``iq`` parameter of ``paramtype="array"`` holding one step's complex shots per
``add_result`` call (its fastest path for shots), timed from entering ``measurement.run()``
to its exit. Both read their data back afterwards to check the count.

Two geometries, each compared in the same process:

- blocks: steps of ``--shots`` shots; ours appends ``--block-steps`` steps per call, QCoDeS
  one step per call; the same ``--same-total`` shots for both. Ours is also timed on
  ``--shots-total`` shots (10^8 by default).
- per step: steps of 1000 shots, one step per call for both; ours writes ``--per-step-total``
  shots, QCoDeS ``--qcodes-per-step-total`` (fewer: it takes minutes otherwise). QCoDeS's
  rate falls as its dataset grows, so the scaled-down figure favours QCoDeS.

Each figure is the best of ``--repeats`` runs (the 10^8 run: one). Run with ``--write`` to
append a section to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import qcodes

from qneko_hw.runfile import RunWriter

PER_STEP_SHOTS = 1000


def _block(steps: int, shots: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(steps, shots)) + 1j * rng.normal(size=(steps, shots))).astype(
        np.complex64
    )


def bench_ours(tmp: Path, total: int, shots: int, block_steps: int) -> float:
    """Shots/s for ``total`` shots appended in blocks of ``block_steps`` × ``shots``."""
    steps = total // shots
    block = _block(block_steps, shots)
    path = tmp / f"ours-{shots}-{block_steps}.h5"
    t0 = time.perf_counter()
    with RunWriter(
        path,
        acquisitions={"q0": shots},
        sweep_parameter="amplitude_v",
        sweep_values=np.linspace(0.0, 1.0, steps),
        context={"run_id": "bench"},
    ) as writer:
        for _ in range(steps // block_steps):
            writer.append("q0", block)
    elapsed = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        assert f["shots/q0"].shape == (steps // block_steps * block_steps, shots)
    path.unlink()
    return steps // block_steps * block_steps * shots / elapsed


def bench_qcodes(tmp: Path, total: int, shots: int) -> float:
    """Shots/s for ``total`` shots through ``DataSaver.add_result``, one step per call."""
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_by_id,
        load_or_create_experiment,
    )

    tmp.mkdir(parents=True, exist_ok=True)
    initialise_or_create_database_at(tmp / "qcodes.db")
    exp = load_or_create_experiment("bench", sample_name="sim")
    meas = Measurement(exp=exp, name="shots")
    meas.register_custom_parameter("step", unit="V", paramtype="numeric")
    meas.register_custom_parameter("iq", unit="V", setpoints=("step",), paramtype="array")
    steps = total // shots
    block = _block(1, shots)[0]
    t0 = time.perf_counter()
    with meas.run() as saver:
        for i in range(steps):
            saver.add_result(("step", float(i)), ("iq", block))
        run_id = saver.run_id
    elapsed = time.perf_counter() - t0
    data = load_by_id(run_id).get_parameter_data("iq")["iq"]["iq"]
    assert np.asarray(data).size == steps * shots, np.asarray(data).shape
    return steps * shots / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots-total", type=int, default=10**8, help="ours, large blocks")
    parser.add_argument("--same-total", type=int, default=10**7, help="both, blocks")
    parser.add_argument("--shots", type=int, default=50_000, help="shots per step (blocks)")
    parser.add_argument("--block-steps", type=int, default=20, help="steps per append")
    parser.add_argument("--per-step-total", type=int, default=10**7, help="ours, per step")
    parser.add_argument("--qcodes-per-step-total", type=int, default=10**6)
    parser.add_argument("--repeats", type=int, default=3, help="best of, except the 10^8 run")
    parser.add_argument("--write", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    rep = range(args.repeats)

    with tempfile.TemporaryDirectory(prefix="bench_runfile_") as d:
        tmp = Path(d)
        bench_ours(tmp, 10**6, 10_000, 10)  # warm-up
        ours_big = bench_ours(tmp, args.shots_total, args.shots, args.block_steps)
        ours_block = max(
            bench_ours(tmp, args.same_total, args.shots, args.block_steps) for _ in rep
        )
        ours_step = max(bench_ours(tmp, args.per_step_total, PER_STEP_SHOTS, 1) for _ in rep)
        theirs_block = max(bench_qcodes(tmp / f"a{i}", args.same_total, args.shots) for i in rep)
        theirs_step = max(
            bench_qcodes(tmp / f"b{i}", args.qcodes_per_step_total, PER_STEP_SHOTS) for i in rep
        )

    ratio_block = ours_block / theirs_block
    ratio_step = ours_step / theirs_step
    m = 1e6
    table = (
        "| geometry | shots (ours / QCoDeS) | ours (M shots/s) | QCoDeS (M shots/s) | ratio |\n"
        "|---|---|---|---|---|\n"
        f"| blocks: {args.block_steps}×{args.shots} per append (ours), "
        f"1×{args.shots} per add_result | {args.shots_total:.0e} / — "
        f"| {ours_big / m:.1f} | — | — |\n"
        f"| blocks, same shots for both | {args.same_total:.0e} / {args.same_total:.0e} "
        f"| {ours_block / m:.1f} | {theirs_block / m:.3f} | {ratio_block:.0f}× |\n"
        f"| per step: 1×{PER_STEP_SHOTS} per call, both "
        f"| {args.per_step_total:.0e} / {args.qcodes_per_step_total:.0e} "
        f"| {ours_step / m:.1f} | {theirs_step / m:.3f} | {ratio_step:.0f}× |\n"
    )
    speed_ok = min(ours_big, ours_block, ours_step) >= 1e7
    ratio_ok = min(ratio_block, ratio_step) >= 100
    verdict = (
        f"- ≥ 10 M shots/s: {'met' if speed_ok else '**not met**'}; "
        f"≥ 100× QCoDeS: {'met' if ratio_ok else '**not met**'} "
        f"({ratio_block:.0f}× blocks, {ratio_step:.0f}× per step)\n"
    )
    table += "\n" + verdict
    print(table)
    if args.write:
        path = Path(__file__).with_name("RESULTS.md")
        uname = platform.uname()
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## bench_runfile ({stamp})\n\n"
            f"Machine: {uname.system} {uname.release} {uname.version} {uname.machine}, "
            f"{os.cpu_count()} CPUs; Python {platform.python_version()}, "
            f"numpy {np.__version__}, h5py {h5py.version.version} "
            f"(HDF5 {h5py.version.hdf5_version}), QCoDeS {qcodes.__version__}. Files in "
            f"{tempfile.gettempdir()}; ours timed with fsync and rename, QCoDeS with its "
            f"SQLite commits (WAL); best of {args.repeats} except the 10^8 run; "
            f"targets ≥ 10 M shots/s and ≥ 100× QCoDeS. Load average at the end "
            f"{os.getloadavg()[0]:.1f} (other jobs share the machine).\n\n"
            f"{table}"
        )
        with path.open("a", encoding="utf-8") as fh:
            fh.write(section)


if __name__ == "__main__":
    main()
