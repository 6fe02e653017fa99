"""Accuracy of a tune-up from design values on fabricated devices, against their truth.

The devices of ``tests/calibrations/test_acceptance.py`` (five devices of four designs),
each tuned up by ``qneko calibrate --chip DESIGN --device DEVICE`` from design values; every
stored value is compared with the device (and, for the amplitudes, DRAG β, the readout and
RB, with what the device allows, computed numerically by the test helpers). Per device the
worst qubit of each quantity, and the wall time of the tune-up.

    python benchmarks/bench_acceptance.py [--write]
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

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "calibrations"))

from bench_tuneup import replace_section  # noqa: E402
from conftest import (  # noqa: E402  (the test helpers: truth computed from the device)
    best_assignment_fidelity,
    phase_error_free_beta,
    true_pi_amplitude,
    true_pi_half_amplitude,
)
from test_acceptance import DEVICES  # noqa: E402  (the devices of the acceptance tests)

from qneko_hw.calibrations.rb import PULSES_PER_CLIFFORD, coherence_error  # noqa: E402
from qneko_hw.cli.session import builtin_station  # noqa: E402
from qneko_hw.config.calibration import CalibrationState  # noqa: E402
from qneko_hw.simulated_instruments.fabrication import fabricate  # noqa: E402

QNEKO = str(Path(sys.executable).parent / "qneko")


def measure(name: str, tmp: Path) -> str:
    """One table row: the worst qubit of each quantity for device ``name``."""
    make, seed = DEVICES[name]
    design = make()
    device = fabricate(design, seed)
    for file, chip in (("design.yaml", design), ("device.yaml", device)):
        (tmp / file).write_text(yaml.safe_dump(chip.model_dump(mode="json"), sort_keys=False))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [QNEKO, "calibrate", "--chip", str(tmp / "design.yaml"), "--device",
         str(tmp / "device.yaml"), "--out", str(tmp / "out")],
        capture_output=True, text=True, check=False, cwd=tmp,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    state = CalibrationState.model_validate_json((tmp / "out" / "calibration.json").read_text())
    station = builtin_station(design)
    worst: dict[str, float] = {}

    def note(key: str, value: float) -> None:
        worst[key] = max(worst.get(key, 0.0), value)

    shifts = []
    for q, truth in device.qubits.items():
        cal = state.qubit(q)
        shifts.append(abs(truth.frequency_hz - design.qubits[q].frequency_hz))
        note("f01 kHz", abs(cal.drive_frequency_hz.value - truth.frequency_hz) / 1e3)
        if cal.anharmonicity_hz is not None:
            note("α MHz", abs(cal.anharmonicity_hz.value - truth.anharmonicity_hz) / 1e6)
        pi = true_pi_amplitude(device, station, q, cal)
        half = true_pi_half_amplitude(device, station, q, cal)
        note("π %", 100 * abs(cal.pi_amplitude_v.value / pi - 1))
        note("π/2 %", 100 * abs(cal.pi_half_amplitude_v.value / half - 1))
        beta = phase_error_free_beta(device, station, cal, q)
        note("β %", 100 * abs(cal.drag_beta_s.value / beta - 1))
        for key, value, want in (
            ("T1 %", cal.t1_s, truth.t1_s),
            ("T2* %", cal.t2_s, truth.t2_s),
            ("T2E %", cal.t2_echo_s, truth.t2_s),
        ):
            note(key, 100 * abs(value.value / want - 1) if value is not None else 100.0)
        if cal.assignment_fidelity is not None:
            best, _ = best_assignment_fidelity(device, station, state, q)
            note("F below best %", 100 * max(0.0, best - cal.assignment_fidelity.value))
        epc = cal.error_per_clifford
        if epc is not None:
            limit = coherence_error(
                PULSES_PER_CLIFFORD * cal.pulse_duration_s.value, truth.t1_s, truth.t2_s
            )
            note("EPC / limit", epc.value / limit)
    cols = ["f01 kHz", "α MHz", "π %", "π/2 %", "β %", "T1 %", "T2* %", "T2E %",
            "F below best %", "EPC / limit"]  # fmt: skip
    cells = " | ".join(f"{worst.get(c, float('nan')):.3g}" for c in cols)
    t1 = ", ".join(f"{device.qubits[q].t1_s * 1e6:.0f}" for q in device.qubits)
    return (
        f"| {name} | {len(device.qubits)} | {max(shifts) / 1e6:.0f} | {t1} | {cells} | "
        f"{wall:.0f} s, exit {proc.returncode} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows = []
    for name in DEVICES:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(measure(name, Path(tmp)))
            print(rows[-1], flush=True)
    load = os.getloadavg()
    text = "\n".join(
        [
            f"## bench_acceptance ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (load average at the "
            f"end {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}); Python "
            f"{platform.python_version()}.",
            "",
            "`qneko calibrate` from design values on the fabricated devices of the acceptance "
            "tests; per device the *worst* qubit of each error against the device's truth "
            "(π, π/2: closed-system rotation of the calibrated pulse; β: the numerically "
            "phase-error-free β; F: the best threshold assignment the device allows with "
            "the chosen readout; EPC: the T1/T2 coherence limit). Targets: f01 ≤ 50 kHz, "
            "α ≤ 1 MHz, π and π/2 ≤ 0.5 %, β ≤ 10 %, T1/T2*/T2E ≤ 10 %, F ≤ 1 % below "
            "the best, EPC in (0.8, 1.2]× the limit.",
            "",
            "| device | qubits | max shift from design (MHz) | T1 (µs) | f01 kHz | α MHz "
            "| π % | π/2 % | β % | T1 % | T2* % | T2E % | F below best % | EPC / limit "
            "| tune-up |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
        ]
    )
    print(text)
    if args.write:
        replace_section(HERE / "RESULTS.md", "bench_acceptance", text)


if __name__ == "__main__":
    main()
