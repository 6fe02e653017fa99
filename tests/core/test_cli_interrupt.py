"""Ctrl-C on a real ``qneko calibrate`` process: the terminal sends SIGINT to the whole
process group (the command, the simulated lab's solver processes, the report's plot
worker); the run stops after the current routine, keeps what it committed, exits 130,
and a rerun resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


def _calibrate(out: Path) -> list[str]:
    qneko = Path(sys.executable).parent / "qneko"
    return [str(qneko), "calibrate", "--out", str(out), "--qubits", "q0,q1", "--target", "ramsey"]


def test_ctrl_c_keeps_the_commits_and_a_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = subprocess.Popen(
        _calibrate(out),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as under a terminal
    )
    try:
        deadline = time.monotonic() + 180
        while not (out / "calibration.json").exists():  # written at the first commit
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no commit within 180 s"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output
    assert "interrupted" in output and "again with the same --out to resume" in output
    state = json.loads((out / "calibration.json").read_text())
    committed = [q for q in ("q0", "q1") if state["qubits"][q]["readout_frequency_hz"]["run_id"]]
    assert committed, output  # what finished before Ctrl-C is kept
    assert (out / "report.html").exists()

    rerun = subprocess.run(
        _calibrate(out), cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    fresh = re.search(r"(\d+) nodes fresh in the store", rerun.stdout)
    assert fresh is not None and int(fresh.group(1)) >= len(committed), rerun.stdout
    final = json.loads((out / "calibration.json").read_text())
    for q in ("q0", "q1"):
        assert final["qubits"][q]["drive_frequency_hz"]["run_id"] is not None
