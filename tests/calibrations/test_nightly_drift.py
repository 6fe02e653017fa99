"""The nightly run catches drift: ``qneko calibrate --nightly --device drifted.yaml`` on a
finished folder finds and fixes a drift of f01 (+200 kHz, −200 kHz), of T1 (−30 %) and of a
readout resonator (−500 kHz), recalibrates what depends on them, and on an unchanged
device commits nothing.

Everything runs as a user would: ``qneko chip fabricate``, ``qneko calibrate`` (design
values only), ``qneko chip drift`` and ``qneko calibrate --nightly``; the device files are
the truth the answers are checked against.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qneko_hw.cli.main import app
from qneko_hw.config import Chip
from qneko_hw.config.calibration import CalibrationState
from qneko_hw.store import Store

runner = CliRunner()
QUBITS = "q0,q1,q2"


def _invoke(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def _authors_since(db: Path, version: int) -> list[tuple[str, str]]:
    """(routine, qubit) of every commit after ``version``."""
    with Store(db) as store:
        return sorted(
            (v.author, v.message.split()[1]) for v in store.history() if v.version > version
        )


def _state(out: Path) -> CalibrationState:
    return CalibrationState.model_validate_json((out / "calibration.json").read_text())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A device of the built-in design, tuned up from design values: (device, out dir)."""
    tmp = tmp_path_factory.mktemp("nightly")
    device, out = tmp / "device.yaml", tmp / "out"
    _invoke("chip", "fabricate", "--seed", "1", "--out", str(device))
    _invoke("calibrate", "--device", str(device), "--qubits", QUBITS, "--out", str(out))
    return device, out


def test_nightly_on_an_unchanged_device_commits_nothing(tuned: tuple[Path, Path]) -> None:
    device, out = tuned
    before = _state(out).version
    text = _invoke(
        "calibrate", "--nightly", "--device", str(device), "--qubits", QUBITS, "--out", str(out)
    )
    assert "0 calibrations" in text, text
    assert _state(out).version == before
    assert _authors_since(out / "calibration.db", before) == []


def test_nightly_finds_and_fixes_drift_and_recalibrates_downstream(
    tuned: tuple[Path, Path], tmp_path: Path
) -> None:
    device, base = tuned
    out = tmp_path / "out"
    out.mkdir()
    for name in ("calibration.db", "calibration.json"):
        (out / name).write_bytes((base / name).read_bytes())
    steps = [
        ("q0", "--f01", "200e3"),
        ("q1", "--f01", "-200e3"),
        ("q2", "--t1", "0.7"),
        ("q2", "--readout", "-500e3"),
    ]
    current = device
    for k, (qubit, option, value) in enumerate(steps):
        nxt = tmp_path / f"drift{k}.yaml"
        _invoke("chip", "drift", "--device", str(current), "--qubits", qubit, option, value,
                "--out", str(nxt))  # fmt: skip
        current = nxt
    old_dev, new_dev = Chip.load(device), Chip.load(current)
    old = _state(out)
    _invoke(
        "calibrate", "--nightly", "--device", str(current), "--qubits", QUBITS, "--out", str(out)
    )
    new = _state(out)
    commits = _authors_since(out / "calibration.db", old.version)
    # what drifted was recalibrated ...
    for found in [("ramsey", "q0"), ("ramsey", "q1"), ("t1", "q2"),
                  ("resonator_spectroscopy", "q2")]:  # fmt: skip
        assert found in commits, commits
    # ... and what depends on a new frequency: T2* (its own Ramsey, committed) and RB
    # (measured again; committed when it moved or is more precise)
    assert {("t2_star", "q0"), ("t2_star", "q1")} <= set(commits)
    (record,) = (out / "reports").glob("*-nightly-*.json")
    ran = {tuple(r.split("-")[1:3]) for r in json.loads(record.read_text())["runs"]}
    assert {("rb", "q0"), ("rb", "q1")} <= ran, ran
    # nothing of the qubits' other values was touched without cause
    assert ("t1", "q0") not in commits and ("ramsey", "q2") not in commits
    for q in ("q0", "q1"):
        f = new.qubit(q).drive_frequency_hz.value
        assert f == pytest.approx(new_dev.qubits[q].frequency_hz, abs=20e3), q
        assert abs(f - old.qubit(q).drive_frequency_hz.value) > 150e3, q
    t1 = new.qubit("q2").t1_s
    assert t1 is not None
    assert t1.value == pytest.approx(new_dev.qubits["q2"].t1_s, rel=0.1)
    moved = new.qubit("q2").readout_frequency_hz.value - old.qubit("q2").readout_frequency_hz.value
    res = new_dev.qubits["q2"].resonator
    truth = new_dev.resonators[res].frequency_hz - old_dev.resonators[res].frequency_hz
    assert moved == pytest.approx(truth, abs=80e3), (moved, truth)
