"""Wall time of a tune-up from nothing to RB: one qubit, then all four of the built-in lab.

Runs ``qneko calibrate`` (default graph, built-in simulated 4-qubit lab) in fresh output
folders and times the whole command. Issue target: one qubit ≤ 90 s; four qubits ≤ 2× one.

    python benchmarks/bench_tuneup.py [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(qubits: str | None) -> tuple[float, int]:
    """(wall time in s, exit code) of one ``qneko calibrate`` in a fresh folder."""
    with tempfile.TemporaryDirectory() as tmp:
        qneko = str(Path(sys.executable).parent / "qneko")
        cmd = [qneko, "calibrate", "--out", tmp]
        if qubits:
            cmd += ["--qubits", qubits]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
    return elapsed, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    one, rc1 = run("q0")
    four, rc4 = run(None)
    ratio = four / one
    load = os.getloadavg()
    lines = [
        f"## bench_tuneup ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (load average at the end "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}); Python {platform.python_version()}.",
        "",
        "`qneko calibrate` on the built-in simulated 4-qubit lab, default graph from nothing "
        "to RB (resonator and qubit spectroscopy, Rabi, discrimination, Ramsey, fine "
        "amplitude, DRAG, T1, T2 echo, RB), fresh output folder, whole command timed "
        "(interpreter start, lab start-up and report included).",
        "",
        f"- one qubit (`--qubits q0`): {one:.1f} s, exit {rc1} — target ≤ 90 s: "
        f"{'met' if one <= 90 and rc1 == 0 else 'not met'}",
        f"- four qubits: {four:.1f} s, exit {rc4}; four / one = {ratio:.2f} — target ≤ 2: "
        f"{'met' if ratio <= 2 and rc4 == 0 else 'not met'}",
        "- qubits are calibrated one routine at a time, interleaved per graph level (no "
        "simultaneous multiplexed runs yet)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
