"""Wall time of a tune-up from nothing to RB: one qubit, then all four of the built-in lab.

Runs ``qneko calibrate`` (default graph, built-in simulated 4-qubit lab: the built-in design,
the device fabricated from it that the lab runs, the routines starting from the design
values) in fresh output folders and times the whole command: one qubit, four qubits
multiplexed (the default) and four qubits ``--sequential``. Issue target: one qubit
≤ 90 s; four qubits ≤ 2× one.

    python benchmarks/bench_tuneup.py [--repeat N] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(qubits: str | None, *extra: str) -> tuple[float, int]:
    """(wall time in s, exit code) of one ``qneko calibrate`` in a fresh folder."""
    with tempfile.TemporaryDirectory() as tmp:
        qneko = str(Path(sys.executable).parent / "qneko")
        cmd = [qneko, "calibrate", "--out", tmp, *extra]
        if qubits:
            cmd += ["--qubits", qubits]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
    return elapsed, proc.returncode


def machine_line() -> str:
    """The ``Machine: ...`` line of a RESULTS section: platform, CPUs, load now, Python."""
    load = os.getloadavg()
    return (
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (load average at the end "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}); Python {platform.python_version()}."
    )


def replace_section(path: Path, title: str, text: str) -> None:
    """Replace the section starting with ``## <title>`` (up to the next ``## ``), or append."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"^## {re.escape(title)}.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _m: text.rstrip() + "\n\n", old, count=1)
    if new == old:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    path.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--repeat", type=int, default=2, help="runs per case (median)")
    args = parser.parse_args()
    cases = {
        "one": ("q0",),
        "four": (None,),
        "four_sequential": (None, "--sequential"),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    codes: dict[str, list[int]] = {k: [] for k in cases}
    for _ in range(args.repeat):  # interleaved, so load changes hit every case alike
        for key, (qubits, *extra) in cases.items():
            t, rc = run(qubits, *extra)
            times[key].append(t)
            codes[key].append(rc)
            print(f"{key}: {t:.1f} s (exit {rc})", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ok = {k: all(c == 0 for c in v) for k, v in codes.items()}
    ratio = med["four"] / med["one"]
    lines = [
        f"## bench_tuneup ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        machine_line(),
        "",
        "`qneko calibrate` on the built-in simulated 4-qubit lab (one feedline; the lab runs "
        "the device fabricated from the built-in design, the routines start from the design "
        "values, qubits 17–35 MHz away), default graph "
        "from nothing to RB, fresh output folder, whole command timed (interpreter start, lab "
        f"start-up and report included); median of {args.repeat} interleaved runs each.",
        "",
        f"- one qubit (`--qubits q0`): {med['one']:.1f} s "
        f"({', '.join(f'{t:.1f}' for t in times['one'])}), exit 0: {ok['one']} — target ≤ 90 s: "
        f"{'met' if med['one'] <= 90 and ok['one'] else 'not met'}",
        f"- four qubits, multiplexed (default): {med['four']:.1f} s "
        f"({', '.join(f'{t:.1f}' for t in times['four'])}), exit 0: {ok['four']}; "
        f"four / one = {ratio:.2f} — target ≤ 2: "
        f"{'met' if ratio <= 2 and ok['four'] else 'not met'}",
        f"- four qubits, `--sequential` (one qubit at a time, for reference): "
        f"{med['four_sequential']:.1f} s; four / one = {med['four_sequential'] / med['one']:.2f}",
        "- multiplexed: qubits waiting for the same node run as one program (drives in "
        "parallel, readouts frequency-multiplexed on the feedline); delay sweeps too long for "
        "the AWG memory when merged fall back to one qubit at a time",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(HERE / "RESULTS.md", "bench_tuneup", text)


if __name__ == "__main__":
    main()
