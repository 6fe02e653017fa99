"""SCPI round trip and waveform upload over TCP loopback to the simulated twins.

1. Query round trip: ``N`` queries (``*IDN?`` and ``FREQ?``) to the SG1 twin over TCP
   loopback with pyvisa-py (raw resource, TCP_NODELAY), then through our ``QnekoSG1`` driver
   (lock, connection probe, QCoDeS ``ask``), and the same queries to the pyvisa-sim YAML
   twin (``qneko_hw/drivers/sim/qneko_sg1.yaml``), all in one run. Target: median <= 200 us.
2. Waveform upload: 64 MB of float32 waveforms (64 x 1 MiB) to the AWG4 twin with
   ``QnekoAWG4.upload_waveforms`` (one definite-length block per waveform, error queue read
   after each), wall time from the first byte to the last error check. Target >= 100 MB/s.

Run: ``python benchmarks/bench_scpi.py [--queries 2000] [--append-results]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pyvisa
from qcodes.instrument import Instrument

from qneko_hw.drivers.qneko_awg4 import QnekoAWG4
from qneko_hw.drivers.qneko_sg1 import QnekoSG1
from qneko_hw.drivers.reconnect import prepare_socket
from qneko_hw.simulated_instruments.awg_twin import AwgTwin
from qneko_hw.simulated_instruments.lo_twin import LoTwin
from qneko_hw.simulated_instruments.scpi import ScpiServer

MB = 1e6


def timed_queries(query: object, commands: list[str]) -> list[float]:
    """Per-query wall times (s)."""
    ask = query  # a callable str -> str
    times = []
    for cmd in commands:
        t0 = time.perf_counter_ns()
        ask(cmd)  # type: ignore[operator]
        times.append((time.perf_counter_ns() - t0) * 1e-9)
    return times


def summary(times: list[float]) -> str:
    q = np.percentile(times, [50, 90, 99]) * 1e6
    return f"median {q[0]:.0f} µs, p90 {q[1]:.0f} µs, p99 {q[2]:.0f} µs"


def bench_queries(n: int) -> dict[str, list[float]]:
    commands = ["*IDN?", "FREQ?"] * (n // 2)
    out: dict[str, list[float]] = {}
    with ScpiServer(LoTwin()) as server:
        rm = pyvisa.ResourceManager("@py")
        res = rm.open_resource(server.address, read_termination="\n", write_termination="\n")
        prepare_socket(res)
        timed_queries(res.query, commands[:200])  # warm up
        out["pyvisa-py raw resource"] = timed_queries(res.query, commands)
        res.close()
        drv = QnekoSG1("bench_lo", server.address)
        timed_queries(drv.ask, commands[:200])
        out["QnekoSG1.ask (lock + probe + QCoDeS)"] = timed_queries(drv.ask, commands)
        drv.close()
    with as_file(files("qneko_hw.drivers.sim") / "qneko_sg1.yaml") as path:
        rm_sim = pyvisa.ResourceManager(f"{path}@sim")
        sim = rm_sim.open_resource(
            "TCPIP::127.0.0.1::5025::SOCKET", read_termination="\n", write_termination="\n"
        )
        timed_queries(sim.query, commands[:200])
        out["pyvisa-sim (no TCP)"] = timed_queries(sim.query, commands)
        sim.close()
        rm_sim.close()
    return out


def bench_upload(total_mb: int, per_wave_mib: int = 1, repeats: int = 3) -> list[float]:
    """Seconds per upload of ``total_mb`` MiB of float32 waveforms, ``repeats`` times."""
    samples = per_wave_mib * (1 << 20) // 4
    count = total_mb // per_wave_mib
    rng = np.random.default_rng(0)
    waves = {f"w{k}": rng.uniform(-1, 1, samples).astype(np.float32) for k in range(count)}
    nbytes = sum(w.nbytes for w in waves.values())
    with ScpiServer(AwgTwin()) as server:
        awg = QnekoAWG4("bench_awg", server.address, timeout=60.0)
        awg.upload_waveforms({"warm": waves["w0"]})
        seconds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            awg.upload_waveforms(waves)
            seconds.append(time.perf_counter() - t0)
        awg.close()
    assert nbytes == total_mb * (1 << 20)
    return seconds


def machine() -> str:
    u = platform.uname()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{u.system} {u.release} ({u.version}), {u.machine}, {os.cpu_count()} CPUs "
        f"(load average {load}); Python {platform.python_version()}, "
        f"PyVISA {pyvisa.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--upload-mb", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()
    rounds = [bench_queries(args.queries) for _ in range(args.repeats)]
    seconds = bench_upload(args.upload_mb, repeats=args.repeats)
    nbytes = args.upload_mb * (1 << 20)
    rates = sorted(nbytes / MB / t for t in seconds)
    rate = rates[-1]
    Instrument.close_all()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## bench_scpi ({when})",
        "",
        f"Machine: {machine()}. The machine is shared and loaded: figures vary between runs.",
        "",
        f"Query round trip, {args.queries} queries (`*IDN?`, `FREQ?` alternating) to the SG1 "
        f"twin over TCP loopback, {args.repeats} rounds (target: median ≤ 200 µs); per "
        "round, best round first:",
        "",
    ]
    raws = [statistics.median(r["pyvisa-py raw resource"]) * 1e6 for r in rounds]
    for label in rounds[0]:
        ordered = sorted(rounds, key=lambda r: statistics.median(r[label]))
        lines.append(f"- {label}: " + "; ".join(summary(r[label]) for r in ordered))
    raw = min(raws)
    lines += [
        "",
        f"Waveform upload: {args.upload_mb} MiB of float32 waveforms (1 MiB each) to the AWG4 "
        f"twin with `QnekoAWG4.upload_waveforms` (blocks ≥ 64 KiB sent with `sendall` on the "
        "pyvisa-py session's socket instead of pyvisa-py's 4 KiB chunks), "
        f"{args.repeats} uploads: best {min(seconds):.2f} s = {rate:.0f} MB/s, all "
        + ", ".join(f"{r:.0f}" for r in reversed(rates))
        + f" MB/s (target ≥ 100 MB/s: {'met' if rate >= 100 else '**not met**'} by the best); "
        f"best query median {raw:.0f} µs ({'met' if raw <= 200 else '**not met**'}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append_results:
        path = Path(__file__).with_name("RESULTS.md")
        with path.open("a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
