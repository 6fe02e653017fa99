"""The nightly run: false-alarm rate on an unchanged lab, drift found, wall time.

1. ``qneko calibrate`` tunes up the built-in 4-qubit lab from design values (timed: the
   full tune-up).
2. ``--nights`` nightly runs (``qneko calibrate --nightly``) on the *unchanged* device, each
   from a copy of the tuned folder and with its own station seed (fresh shot noise): a
   night that commits anything is a false alarm. Issue target: no commit in ≥ 9 of 10.
3. One nightly run on a drifted copy of the device (f01 of q0 +200 kHz, of q1 −200 kHz,
   T1 of q2 −30 %, the readout resonator of q3 −500 kHz): which of those it recalibrated.

The nightly wall time is compared with the full tune-up's in the same run (target: ≤ 25 %).

    python benchmarks/bench_nightly.py [--nights N] [--write]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from bench_tuneup import machine_line, replace_section

HERE = Path(__file__).resolve().parent
QNEKO = str(Path(sys.executable).parent / "qneko")
DRIFTS = [
    ("q0", "--f01", "200e3", ("ramsey", "q0")),
    ("q1", "--f01", "-200e3", ("ramsey", "q1")),
    ("q2", "--t1", "0.7", ("t1", "q2")),
    ("q3", "--readout", "-500e3", ("resonator_spectroscopy", "q3")),
]


def qneko(*args: str, cwd: Path) -> float:
    """Run ``qneko ARGS``; its wall time (s). A non-zero exit raises."""
    t0 = time.perf_counter()
    proc = subprocess.run([QNEKO, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"qneko {' '.join(args)}: exit {proc.returncode}\n{proc.stdout[-3000:]}")
    return time.perf_counter() - t0


def commits_since(folder: Path, version: int) -> list[tuple[str, str]]:
    """(routine, qubit) of every version after ``version`` in ``folder``'s store."""
    from qneko_hw.store import Store

    with Store(folder / "calibration.db") as store:
        return sorted(
            (v.author, v.message.split()[1]) for v in store.history() if v.version > version
        )


def head(folder: Path) -> int:
    from qneko_hw.store import Store

    with Store(folder / "calibration.db") as store:
        return store.current_version() or 0


def station_file(path: Path, seed: int) -> Path:
    """The built-in simulated station with shot-noise seed ``seed``."""
    from qneko_hw.cli.session import builtin_chip, builtin_station

    station = builtin_station(builtin_chip()).model_copy(update={"seed": seed})
    path.write_text(yaml.safe_dump(station.model_dump(mode="json"), sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nights", type=int, default=10, help="nightly runs, unchanged lab")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        device = tmp / "device.yaml"
        qneko("chip", "fabricate", "--seed", "1", "--out", str(device), cwd=tmp)
        tuned = tmp / "tuned"
        st0 = station_file(tmp / "station0.yaml", 0)
        full = qneko("calibrate", "--device", str(device), "--station", str(st0),
                     "--out", str(tuned), cwd=tmp)  # fmt: skip
        base = head(tuned)
        print(f"full tune-up: {full:.1f} s (version {base})", flush=True)
        nights: list[tuple[float, list[tuple[str, str]]]] = []
        for k in range(1, args.nights + 1):
            night = tmp / f"night{k}"
            shutil.copytree(tuned, night)
            st = station_file(tmp / f"station{k}.yaml", 1000 + k)
            t = qneko("calibrate", "--nightly", "--device", str(device), "--station", str(st),
                      "--out", str(night), cwd=tmp)  # fmt: skip
            nights.append((t, commits_since(night, base)))
            print(f"night {k}: {t:.1f} s, commits {nights[-1][1]}", flush=True)
        current = device
        for j, (qubit, option, value, _) in enumerate(DRIFTS):
            nxt = tmp / f"drift{j}.yaml"
            qneko("chip", "drift", "--device", str(current), "--qubits", qubit, option, value,
                  "--out", str(nxt), cwd=tmp)  # fmt: skip
            current = nxt
        drifted = tmp / "drifted"
        shutil.copytree(tuned, drifted)
        st = station_file(tmp / "station_drift.yaml", 999)
        t_drift = qneko("calibrate", "--nightly", "--device", str(current), "--station", str(st),
                        "--out", str(drifted), cwd=tmp)  # fmt: skip
        found = commits_since(drifted, base)
        print(f"drifted: {t_drift:.1f} s, commits {found}", flush=True)
    alarms = sum(1 for _, c in nights if c)
    med = statistics.median(t for t, _ in nights)
    ratio = med / full
    caught = [f"{q} {opt} {val}: {'found' if want in found else 'MISSED'}"
              for q, opt, val, want in DRIFTS]  # fmt: skip
    false_commits = sorted({c for _, cs in nights for c in cs})
    lines = [
        f"## bench_nightly ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        machine_line(),
        "",
        "Built-in 4-qubit lab (the device fabricated from the built-in design with seed 1), "
        "tuned up from design values by `qneko calibrate`, then `qneko calibrate --nightly` "
        "on copies of the tuned folder, each night with its own station seed (fresh shot "
        "noise); whole commands timed.",
        "",
        f"- unchanged device: {args.nights - alarms} of {args.nights} nights made no commit "
        f"(false-alarm rate {alarms / args.nights:.0%}; target: no commit in ≥ 9 of 10: "
        f"{'met' if alarms <= args.nights / 10 else 'not met'})"
        + (f"; the false alarms committed {false_commits}" if false_commits else ""),
        f"- nightly wall time (median): {med:.1f} s against {full:.1f} s for the full tune-up "
        f"= {ratio:.0%} (target ≤ 25 %: {'met' if ratio <= 0.25 else 'not met'})",
        f"- drifted device ({t_drift:.1f} s): " + "; ".join(caught),
        f"- commits of the drifted night: {', '.join(f'{r} {q}' for r, q in found)}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(HERE / "RESULTS.md", "bench_nightly", text)


if __name__ == "__main__":
    main()
