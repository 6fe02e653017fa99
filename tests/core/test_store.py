"""The versioned calibration store: commits, history, diff, rollback, errors, kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qneko_hw.config.calibration import CalibrationState, CalValue, CzCalibration, QubitCalibration
from qneko_hw.errors import QnekoError, StoreError
from qneko_hw.store import Store, calibrated_parameters, default_author


def make_state(n: int = 2, pi: float = 0.2) -> CalibrationState:
    return CalibrationState(
        qubits={
            f"q{i}": QubitCalibration(
                drive_frequency_hz=CalValue.design(5e9 + i * 1e8),
                pi_amplitude_v=CalValue.design(pi),
                pi_half_amplitude_v=CalValue.design(pi / 2),
                readout_frequency_hz=CalValue.design(7e9 + i * 5e7),
            )
            for i in range(n)
        }
    )


def measured(state: CalibrationState, qubit: str, a: float, run: str) -> CalibrationState:
    return state.with_qubit(
        qubit,
        pi_amplitude_v=CalValue.measured(a, 1e-4, run),
        pi_half_amplitude_v=CalValue.measured(a / 2, 5e-5, run),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cal.db", create=True) as s:
        yield s


def test_constructor_does_no_io(tmp_path: Path) -> None:
    s = Store(tmp_path / "sub" / "cal.db", create=True)
    assert not (tmp_path / "sub").exists()
    assert "closed" in repr(s)
    with s:
        assert (tmp_path / "sub" / "cal.db").exists()
        assert "open" in repr(s)
    assert "closed" in repr(s)
    s.close()  # idempotent


def test_commit_current_get_history(store: Store) -> None:
    assert store.current() is None and store.current_version() is None
    assert store.history() == []
    s0 = make_state()
    v1 = store.commit(s0, "design values", author="alice@lab")
    s1 = measured(s0, "q0", 0.21, "run-a")
    v2 = store.commit(s1, "rabi q0 run-a", author="rabi")
    assert (v1, v2) == (1, 2)
    cur = store.current()
    assert cur is not None and cur.version == 2
    assert cur.qubits["q0"].pi_amplitude_v == s1.qubits["q0"].pi_amplitude_v
    assert store.get(1).qubits["q0"].pi_amplitude_v.value == 0.2
    assert store.get(1).version == 1
    hist = store.history()
    assert [h.version for h in hist] == [2, 1]
    assert [h.parent for h in hist] == [1, None]
    assert hist[0].author == "rabi" and hist[0].message == "rabi q0 run-a"
    assert hist[1].author == "alice@lab"
    assert hist[0].created.tzinfo is not None
    assert store.info(2) == hist[0]
    # per-parameter rows hold value and uncertainty
    rows = {(q, p): (v, u) for q, p, v, u in store.parameter_rows(2)}
    assert rows["q0", "pi_amplitude_v"] == (0.21, 1e-4)
    assert rows["q1", "pi_amplitude_v"] == (0.2, None)
    assert len(rows) == len(calibrated_parameters(s1))


def test_default_author_is_user_at_host(store: Store) -> None:
    store.commit(make_state(), "x")
    assert store.history()[0].author == default_author()
    assert "@" in default_author()


def test_same_content_same_hash(store: Store) -> None:
    s = make_state()
    store.commit(s, "a")
    store.commit(s.model_copy(update={"version": 41}), "b")
    h = store.history()
    assert h[0].sha256 == h[1].sha256


def test_diff(store: Store) -> None:
    s0 = make_state()
    store.commit(s0, "design")
    s1 = measured(s0, "q1", 0.19, "run-b")
    s1 = s1.model_copy(
        update={
            "cz": {
                "q0-q1": CzCalibration(
                    flux_qubit="q0",
                    amplitude_v=CalValue.design(0.1),
                    duration_s=CalValue(value=6e-8),
                )
            }
        }
    )
    store.commit(s1, "rabi q1")
    changes = store.diff(1, 2)
    keys = [(c.qubit, c.parameter) for c in changes]
    assert ("q1", "pi_amplitude_v") in keys and ("q1", "pi_half_amplitude_v") in keys
    assert ("q0-q1", "amplitude_v") in keys
    assert all(c.qubit != "q0" for c in changes)
    pi = next(c for c in changes if c.parameter == "pi_amplitude_v")
    assert pi.old is not None and pi.old.value == 0.2 and pi.old.uncertainty is None
    assert pi.new is not None and pi.new.value == 0.19 and pi.new.uncertainty == 1e-4
    cz = next(c for c in changes if c.qubit == "q0-q1" and c.parameter == "amplitude_v")
    assert cz.old is None and cz.new is not None
    assert store.diff(2, 2) == []
    back = store.diff(2, 1)
    assert next(c for c in back if c.parameter == "pi_amplitude_v").new == pi.old


def test_rollback_writes_new_version(store: Store) -> None:
    s0 = make_state()
    store.commit(s0, "design")
    store.commit(measured(s0, "q0", 0.3, "bad-run"), "rabi q0 bad-run")
    v3 = store.rollback(1, author="bob@lab")
    assert v3 == 3 and store.current_version() == 3
    info = store.info(3)
    assert info.parent == 2 and "rollback to version 1" in info.message
    assert info.author == "bob@lab"
    assert store.diff(1, 3) == []
    assert store.get(2).qubits["q0"].pi_amplitude_v.value == 0.3  # history kept
    assert info.sha256 == store.info(1).sha256


def test_versions_are_immutable(store: Store, tmp_path: Path) -> None:
    store.commit(make_state(), "design")
    store.close()
    conn = sqlite3.connect(tmp_path / "cal.db")
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        conn.execute("UPDATE versions SET message = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        conn.execute("DELETE FROM parameters")
    conn.close()


def test_export_json_roundtrip(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="empty"):
        store.export_json()
    s0 = make_state()
    store.commit(s0, "design")
    store.commit(measured(s0, "q0", 0.25, "r"), "rabi")
    out = tmp_path / "x.json"
    out.write_text(store.export_json())
    loaded = CalibrationState.load(out)
    assert loaded.version == 2 and loaded.qubits["q0"].pi_amplitude_v.value == 0.25
    assert json.loads(store.export_json(1))["version"] == 1


def test_unknown_version_names_path_and_version(store: Store) -> None:
    store.commit(make_state(), "design")
    for call in (store.get, store.info, store.rollback, lambda v: store.diff(1, v)):
        with pytest.raises(StoreError) as err:
            call(7)
        assert err.value.version == 7 and err.value.path == str(store.path)
        assert "version 7" in str(err.value) and str(store.path) in str(err.value)
        assert "1..1" in str(err.value)
    assert isinstance(err.value, QnekoError)


def test_missing_db_is_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    with pytest.raises(StoreError, match="no calibration store") as err:
        Store.open(path)
    assert err.value.path == str(path) and str(path) in str(err.value)
    assert not path.exists()


def test_corrupt_db_is_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite at all " * 200)
    with pytest.raises(StoreError, match="not a readable calibration store") as err:
        Store.open(path, create=True)
    assert str(path) in str(err.value)


def test_foreign_sqlite_is_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a calibration store"):
        Store.open(path)


def test_corrupt_state_row_names_version(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    with Store(path, create=True) as s:
        s.commit(make_state(), "design")
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER versions_no_update")
    conn.execute("UPDATE versions SET state_json = '{\"qubits\": 3}'")
    conn.commit()
    conn.close()
    with Store(path) as s, pytest.raises(StoreError, match="corrupt") as err:
        s.current()
    assert err.value.version == 1


def test_two_stores_on_one_file_chain_parents(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    with Store(path, create=True) as a, Store(path) as b:
        a.commit(make_state(), "one")
        b.commit(make_state(pi=0.3), "two")
        a.commit(make_state(pi=0.4), "three")
        assert [h.parent for h in b.history()] == [2, 1, None]
        assert b.current_version() == 3


# --- crash safety: kill -9 mid-commit --------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sqlite3, sys, time
    from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
    from qneko_hw.store import Store

    class PausingStore(Store):
        # pauses inside the commit's transaction, after the parameter rows are written
        def _write_parameters(self, conn, version, state):
            super()._write_parameters(conn, version, state)
            if os.environ.get("PAUSE_IN_COMMIT") and version > 1:
                print("in-transaction", flush=True)
                time.sleep(60)

    def big(pi):
        q = QubitCalibration(
            drive_frequency_hz=CalValue.measured(5e9, 1e3, "r"),
            pi_amplitude_v=CalValue.measured(pi, 1e-4, "r"),
            pi_half_amplitude_v=CalValue.measured(pi / 2, 5e-5, "r"),
            readout_frequency_hz=CalValue.measured(7e9, 1e4, "r"),
        )
        return CalibrationState(qubits={f"q{i}": q for i in range(int(sys.argv[2]))})

    with PausingStore(sys.argv[1], create=True) as store:
        if store.current_version() is None:
            store.commit(big(0.1), "base")
        # empty the WAL: whatever it holds at the pause was written by the open transaction
        probe = sqlite3.connect(sys.argv[1])
        probe.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        probe.close()
        print("ready", store.current_version(), flush=True)
        k = 0
        while True:
            k += 1
            v = store.commit(big(0.1 + k * 1e-3), f"loop {k}")
            print("committed", v, flush=True)
    """
)


@pytest.fixture
def start() -> Iterator[Callable[[Path, int, bool], subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def _start(db: Path, n_qubits: int, pause: bool) -> subprocess.Popen[str]:
        env = {**os.environ, "PAUSE_IN_COMMIT": "1" if pause else ""}
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), str(n_qubits)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=db.parent,
        )
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:  # a failed test leaves no child behind
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None and not proc.stdout.closed:
            proc.communicate()


def _check_intact(db: Path, expected_min: int, n_qubits: int) -> int:
    with Store(db) as s:
        assert s.integrity_check() == "ok"
        v = s.current_version()
        assert v is not None and v >= expected_min
        state = s.current()
        assert state is not None and len(state.qubits) == n_qubits
        rows = s.parameter_rows(v)
        assert len(rows) == len(calibrated_parameters(state))
        assert s.history()[0].version == v  # nothing beyond the head
    return v


def _kill(proc: subprocess.Popen[str]) -> str:
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return out


def test_kill_9_while_paused_inside_commit_keeps_previous_version(
    tmp_path: Path, start: Callable[[Path, int, bool], subprocess.Popen[str]]
) -> None:
    db = tmp_path / "cal.db"
    n = 2000  # ~3 MB of JSON and ~28k rows: more than SQLite's page cache, so it spills
    proc = start(db, n, True)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["ready", "1"]
    assert proc.stdout.readline().strip() == "in-transaction"
    wal = db.with_name(db.name + "-wal")
    assert wal.stat().st_size > 1_000_000  # uncommitted frames of version 2 on disk
    _kill(proc)
    assert _check_intact(db, 1, n) == 1
    with Store(db) as s:
        assert [h.version for h in s.history()] == [1]
        s.commit(make_state(), "after the crash")  # the store still takes commits
        assert s.current_version() == 2 and s.info(2).parent == 1


def test_kill_9_at_random_points(
    tmp_path: Path, start: Callable[[Path, int, bool], subprocess.Popen[str]]
) -> None:
    rng = random.Random(1234)
    db = tmp_path / "cal.db"
    n = 1000
    last_seen = 1
    for _ in range(4):
        proc = start(db, n, False)
        assert proc.stdout is not None
        assert proc.stdout.readline().split()[0] == "ready"
        time.sleep(rng.uniform(0.0, 0.5))
        out = _kill(proc)
        done = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]
        if done:
            last_seen = max(last_seen, *done)
        v = _check_intact(db, last_seen, n)
        assert v in (last_seen, last_seen + 1)  # at most the one whose print was cut off
        last_seen = v
