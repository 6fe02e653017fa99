"""Cost of a long delay sweep: a sequencer that repeats entries against one sample per ns.

On the built-in simulated lab (the device fabricated from the built-in design), a T1 sweep
of q0 (π pulse, delay, measurement; 31 delays from 0 to ``--span``, 1 ms by default; 200
shots) is compiled and run end to end (render, upload over SCPI, trigger, the lab's physics,
fetch), twice:

- *entries*: as the stack runs it — the QNeko AWG4 repeats sequence entries, so an idle is
  one block of 256 samples played many times, and the lab evolves through it in closed form;
- *samples*: the same program rendered one waveform per channel and step (what an AWG
  without that sequencer needs), split into programs that fit the AWG memory.

Beside them, a one-step program of one 40 ns π pulse and the measurement: the issue asks
that a T1 sweep to 1 ms cost about what a 40 ns pulse costs. Figures: uploaded samples and
wall time (median of ``--repeat``).

    python benchmarks/bench_long_sweeps.py [--span 1e-3] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tuneup import machine_line, replace_section  # noqa: E402

from qneko_hw.cli.session import FABRICATION_SEED, builtin_chip, builtin_station  # noqa: E402
from qneko_hw.compiler import compile_experiment, render_awg  # noqa: E402
from qneko_hw.compiler.programs import CompiledExperiment  # noqa: E402
from qneko_hw.config.initial import design_state  # noqa: E402
from qneko_hw.drivers.station import connect  # noqa: E402
from qneko_hw.executor import execute  # noqa: E402
from qneko_hw.experiment import Delay, Experiment, Measure, Play, Sweep  # noqa: E402
from qneko_hw.pulses import Drag  # noqa: E402
from qneko_hw.simulated_instruments.fabrication import fabricate  # noqa: E402
from qneko_hw.simulated_instruments.lab import SimulatedLab  # noqa: E402

POINTS = 31
SHOTS = 200
#: samples per program when rendered sample by sample (a quarter of the AWG4's memory)
DENSE_BUDGET = 4_000_000


def _experiment(state: Any, delays: tuple[float, ...]) -> Experiment:
    cal = state.qubit("q0")
    pi = Drag(
        amplitude_v=cal.pi_amplitude_v.value,
        duration_s=cal.pulse_duration_s.value,
        sigma_s=cal.pulse_sigma_s.value,
        beta_s=cal.drag_beta_s.value,
    )
    instructions: tuple[Any, ...] = (Play(channel="q0.drive", pulse=pi),)
    if len(delays) > 1:
        instructions += (Delay(channel="q0.drive", duration_s=0.0),)
    return Experiment(
        name="t1_long",
        instructions=(*instructions, Measure(qubit="q0", name="q0")),
        sweep=Sweep(parameter="duration_s", instruction=1, values=delays)
        if len(delays) > 1
        else None,
        shots=SHOTS,
        repetition_time_s=max(200e-6, 6 * delays[-1]),
    )


def _dense(compiled: CompiledExperiment) -> CompiledExperiment:
    awgs = tuple(dataclasses.replace(a, repeat_entries=False) for a in compiled.awgs)
    return dataclasses.replace(compiled, awgs=awgs)


def _uploaded(compiled: CompiledExperiment) -> int:
    return sum(sum(w.size for w in render_awg(a)[0].values()) for a in compiled.awgs)


def _programs(state: Any, station: Any, delays: tuple[float, ...], dense: bool) -> list[Any]:
    if not dense:
        return [compile_experiment(_experiment(state, delays), station, state)]
    out, group = [], []
    for d in delays:  # steps of a program are as long as its longest delay
        if group and (len(group) + 1) * (d * 1e9 + 3000) > DENSE_BUDGET:
            out.append(_dense(compile_experiment(_experiment(state, tuple(group)), station, state)))
            group = []
        group.append(d)
    out.append(_dense(compile_experiment(_experiment(state, tuple(group)), station, state)))
    return out


def measure(span_s: float, repeat: int) -> dict[str, tuple[float, int, int]]:
    """case → (median wall time (s), uploaded samples, programs)."""
    chip = builtin_chip()
    station = builtin_station(chip)
    state = design_state(chip, station)
    delays = tuple(float(x) for x in np.round(np.linspace(0, span_s, POINTS) * 1e9) * 1e-9)
    cases = {
        "entries": lambda: _programs(state, station, delays, dense=False),
        "samples": lambda: _programs(state, station, delays, dense=True),
        "pulse": lambda: [compile_experiment(_experiment(state, (0.0,)), station, state)],
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    sizes: dict[str, tuple[int, int]] = {}
    lab = SimulatedLab(fabricate(chip, FABRICATION_SEED), station, workers=0)
    with lab, connect(lab.station) as instruments:
        for _ in range(repeat):
            for case, build in cases.items():
                t0 = time.perf_counter()
                programs = build()
                for prog in programs:
                    execute(prog, instruments)
                times[case].append(time.perf_counter() - t0)
                sizes[case] = (sum(_uploaded(p) for p in programs), len(programs))
    return {k: (statistics.median(v), *sizes[k]) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--span", type=float, default=1e-3, help="longest delay (s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    res = measure(args.span, args.repeat)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    e, s, p = res["entries"], res["samples"], res["pulse"]
    lines = [
        f"## bench_long_sweeps ({stamp})",
        "",
        machine_line(),
        "",
        f"T1 sweep of q0 on the built-in simulated lab, {POINTS} delays to "
        f"{args.span * 1e6:g} µs, {SHOTS} shots, compiled and run end to end (render, SCPI "
        f"upload, trigger, the lab's physics, fetch); median of {args.repeat}.",
        "",
        f"- entries (the AWG4's sequencer repeats a 256-sample block through each idle; the "
        f"lab evolves it in closed form): {e[0]:.2f} s, {e[1]:,} samples uploaded, "
        f"{e[2]} program",
        f"- samples (one waveform per channel and step, split to fit the memory): "
        f"{s[0]:.2f} s, {s[1]:,} samples uploaded, {s[2]} program(s) — "
        f"{s[0] / e[0]:.1f}× the time, {s[1] / max(e[1], 1):.0f}× the memory",
        f"- one 40 ns π pulse and the measurement, one step: {p[0]:.2f} s, {p[1]:,} samples; "
        f"the 31-step sweep to {args.span * 1e3:g} ms costs {e[0] / p[0]:.1f}× that, "
        f"{e[0] / p[0] / POINTS:.2f}× per step",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(HERE / "RESULTS.md", "bench_long_sweeps", text)


if __name__ == "__main__":
    main()
