"""``qneko state`` and the store behind ``qneko calibrate``, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qneko_hw.cli.main import app
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.store import Store

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _state(pi: float) -> CalibrationState:
    q = QubitCalibration(
        drive_frequency_hz=CalValue.design(5.1e9),
        pi_amplitude_v=CalValue.design(pi),
        pi_half_amplitude_v=CalValue.design(pi / 2),
        readout_frequency_hz=CalValue.design(7.2e9),
    )
    return CalibrationState(qubits={"q0": q, "q1": q})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cal.db"
    with Store(path, create=True) as s:
        s0 = _state(0.2)
        s.commit(s0, "design values", author="alice@lab")
        s1 = s0.with_qubit(
            "q1",
            pi_amplitude_v=CalValue.measured(0.1875, 0.0004, "run-42"),
            pi_half_amplitude_v=CalValue.measured(0.09375, 0.0002, "run-42"),
        )
        s.commit(s1, "rabi q1 run-42", author="rabi")
    return path


def invoke(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args), env=WIDE)
    return res.exit_code, res.output


def test_show_current_and_version(db: Path) -> None:
    code, out = invoke("state", "show", "--db", str(db))
    assert code == 0, out
    assert "version 2 (current)" in out and "rabi q1 run-42" in out
    assert "q0" in out and "q1" in out
    assert "0.1875" in out and "0.0004" in out and "run-42" in out
    assert "pi_amplitude_v" in out and "design" in out
    code, out = invoke("state", "show", "--db", str(db), "--version", "1")
    assert code == 0, out
    assert "version 1:" in out and "0.1875" not in out and "alice@lab" in out


def test_diff(db: Path) -> None:
    code, out = invoke("state", "diff", "1", "2", "--db", str(db))
    assert code == 0, out
    assert "2 change(s)" in out
    assert "pi_amplitude_v" in out and "pi_half_amplitude_v" in out
    assert "0.2" in out and "0.1875 ± 0.0004" in out and "run-42" in out
    assert "drive_frequency_hz" not in out
    code, out = invoke("state", "diff", "2", "2", "--db", str(db))
    assert code == 0 and "same values" in out


def test_rollback_then_log(db: Path) -> None:
    code, out = invoke("state", "rollback", "1", "--db", str(db), "--author", "bob@lab")
    assert code == 0, out
    assert "version 3" in out
    with Store(db) as s:
        assert s.current_version() == 3 and s.diff(1, 3) == []
    code, out = invoke("state", "log", "--db", str(db))
    assert code == 0, out
    assert "rollback to version 1" in out and "bob@lab" in out and "alice@lab" in out
    lines = [ln for ln in out.splitlines() if "rollback to version 1" in ln]
    assert "*" in lines[0]  # the current version is marked
    code, out = invoke("state", "log", "--db", str(db), "--limit", "1")
    assert "design values" not in out


def test_export_stdout_and_file(db: Path, tmp_path: Path) -> None:
    code, out = invoke("state", "export", "--json", "--db", str(db))
    assert code == 0, out
    data = json.loads(out)
    assert data["version"] == 2 and data["qubits"]["q1"]["pi_amplitude_v"]["value"] == 0.1875
    target = tmp_path / "v1.json"
    code, out = invoke(
        "state", "export", "--json", "--db", str(db), "-v", "1", "--out", str(target)
    )
    assert code == 0, out
    assert CalibrationState.load(target).qubits["q1"].pi_amplitude_v.value == 0.2


def test_errors_name_path_and_version(db: Path, tmp_path: Path) -> None:
    code, out = invoke("state", "show", "--db", str(db), "--version", "9")
    assert code == 2 and "version 9" in out and "cal.db" in out
    code, out = invoke("state", "diff", "1", "9", "--db", str(db))
    assert code == 2 and "version 9" in out
    code, out = invoke("state", "rollback", "0", "--db", str(db))
    assert code == 2 and "version 0" in out
    missing = tmp_path / "none.db"
    for cmd in (["show"], ["log"], ["export", "--json"]):
        code, out = invoke("state", *cmd, "--db", str(missing))
        assert code == 2 and "no calibration store" in out and "none.db" in out
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    Store.open(empty, create=True).close()
    code, out = invoke("state", "show", "--db", str(empty))
    assert code == 2 and "empty" in out


def test_default_db_is_calibrate_out_folder(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "qneko_out").mkdir()
    db.rename(tmp_path / "qneko_out" / "calibration.db")
    monkeypatch.chdir(tmp_path)
    code, out = invoke("state", "log")
    assert code == 0 and "rabi q1 run-42" in out


def test_calibrate_commits_versions_and_resumes(tmp_path: Path) -> None:
    chip = tmp_path / "chip.yaml"
    runner.invoke(app, ["chip", "new", "--qubits", "1", "--seed", "8", "--out", str(chip)])
    out_dir = tmp_path / "o"
    args = ["calibrate", "--chip", str(chip), "--out", str(out_dir), "--shots", "200"]
    args += ["--target", "rabi"]
    code, out = invoke(*args)
    assert code == 0, out
    db = out_dir / "calibration.db"
    with Store(db) as s:
        hist = s.history()
        last = hist[0].version
        assert hist[-1].version == 1
        assert hist[-1].message == "design values" and "@" in hist[-1].author
        assert hist[0].author == "rabi" and hist[0].message.startswith("rabi q0 ")
        run_id = hist[0].message.split()[-1]
        assert (out_dir / "runs" / f"{run_id}.h5").exists()
        head = s.get(last)
        assert head.qubits["q0"].pi_amplitude_v.run_id == run_id
        assert [(c.qubit, c.parameter) for c in s.diff(last - 1, last)] == [
            ("q0", "pi_amplitude_v"),
            ("q0", "pi_half_amplitude_v"),
        ]
    saved = CalibrationState.load(out_dir / "calibration.json")
    assert saved == head  # the JSON file is still written, with the store's version number

    code, out = invoke(*args)  # a rerun starts from the store: Rabi is fresh, nothing runs
    assert code == 0, out
    with Store(db) as s:
        assert s.current_version() == last


def test_calibrate_imports_existing_json(tmp_path: Path) -> None:
    from qneko_hw.cli.session import start_state

    legacy = tmp_path / "calibration.json"
    _state(0.3).save(legacy)
    with Store(tmp_path / "cal.db", create=True) as s:
        st = start_state(s, legacy, _state(0.1))
        assert st.version == 1 and st.qubits["q0"].pi_amplitude_v.value == 0.3
        assert s.info(1).message == "imported from calibration.json"
        assert start_state(s, legacy, _state(0.1)) == st  # non-empty store: no new version
        assert s.current_version() == 1
