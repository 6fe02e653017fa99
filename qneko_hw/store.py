"""Versioned calibration store on SQLite.

Every :meth:`Store.commit` writes an immutable *version*: the full
:class:`~qneko_hw.config.calibration.CalibrationState` as canonical JSON, one row per
calibrated parameter (qubit, parameter, value, uncertainty, run id, time it was set), a
message, who or what committed it (``user@host`` or a routine's name), the time, and the
parent version (the current one when the commit started). A *head* row points at the
current version. Nothing is ever updated or deleted: triggers refuse it, and
:meth:`Store.rollback` writes a new version equal to an old one.

Crash safety: the database runs in WAL mode with ``synchronous=FULL``, and a commit is one
``BEGIN IMMEDIATE … COMMIT`` transaction (version row, parameter rows, head pointer). A
process killed mid-commit leaves no commit frame in the WAL, so the next open sees the
previous version, whole.

Schema (``meta.schema`` = ``qneko-store/1``)::

    versions(version PK, parent, created, author, message, state_json, sha256)
    parameters(version, qubit, parameter, value, uncertainty, run_id, updated)
    head(id = 1, version)

``qubit`` is a qubit name, or a CZ pair name (``"q0-q1"``) for CZ parameters.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from qneko_hw.errors import StoreError

if TYPE_CHECKING:
    from qneko_hw.config.calibration import CalibrationState, CalValue

__all__ = [
    "DEFAULT_DB_NAME",
    "ParameterChange",
    "Store",
    "VersionInfo",
    "calibrated_parameters",
    "default_author",
]

log = logging.getLogger(__name__)

#: File name of the store inside an output folder of ``qneko calibrate``.
DEFAULT_DB_NAME = "calibration.db"

SCHEMA = "qneko-store/1"
BUSY_TIMEOUT_MS = 10_000

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY,
    parent INTEGER REFERENCES versions(version),
    created TEXT NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    state_json TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parameters (
    version INTEGER NOT NULL REFERENCES versions(version),
    qubit TEXT NOT NULL,
    parameter TEXT NOT NULL,
    value REAL NOT NULL,
    uncertainty REAL,
    run_id TEXT,
    updated TEXT,
    PRIMARY KEY (version, qubit, parameter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL REFERENCES versions(version)
);
CREATE TRIGGER IF NOT EXISTS versions_no_update BEFORE UPDATE ON versions
    BEGIN SELECT RAISE(ABORT, 'calibration versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS versions_no_delete BEFORE DELETE ON versions
    BEGIN SELECT RAISE(ABORT, 'calibration versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS parameters_no_update BEFORE UPDATE ON parameters
    BEGIN SELECT RAISE(ABORT, 'calibration versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS parameters_no_delete BEFORE DELETE ON parameters
    BEGIN SELECT RAISE(ABORT, 'calibration versions are immutable'); END;
"""


def default_author() -> str:
    """``user@host`` of this process (``unknown`` for a part that cannot be found)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # pragma: no cover - no USER and no passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown'}"


@dataclass(frozen=True)
class VersionInfo:
    """What is known about one version, without its state.

    Attributes:
        version: the version number (1, 2, ...).
        parent: the version that was current when this one was committed (``None`` for the
            first).
        created: UTC time of the commit.
        author: who or what committed it (``user@host`` or a routine name).
        message: the commit message.
        sha256: hash of the state's canonical JSON without its ``version`` field (equal
            hashes: equal content).
    """

    version: int
    parent: int | None
    created: datetime
    author: str
    message: str
    sha256: str


@dataclass(frozen=True)
class ParameterChange:
    """One parameter that differs between two versions.

    Attributes:
        qubit: the qubit (or CZ pair ``"qa-qb"``).
        parameter: the field name, e.g. ``pi_amplitude_v`` (SI unit in its suffix).
        old, new: the value in the first and in the second version; ``None`` where the
            parameter does not exist in that version.
    """

    qubit: str
    parameter: str
    old: CalValue | None
    new: CalValue | None


def _canonical(state: CalibrationState) -> tuple[str, str]:
    """Compact canonical JSON (sorted keys) of ``state``, and sha256 of it without ``version``.

    The hash covers the content only, so a rollback has the hash of the version it restores.
    """
    data = state.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    data.pop("version", None)
    content = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha256(content.encode()).hexdigest()


def calibrated_parameters(state: CalibrationState) -> dict[tuple[str, str], CalValue]:
    """Every calibrated number of ``state`` by (qubit or CZ pair, parameter name)."""
    from qneko_hw.config.calibration import CalValue

    out: dict[tuple[str, str], CalValue] = {}
    owners: list[tuple[str, Any]] = [*state.qubits.items(), *state.cz.items()]
    for owner, cal in owners:
        for field in type(cal).model_fields:
            v = getattr(cal, field)
            if isinstance(v, CalValue):
                out[owner, field] = v
    return out


class Store:
    """A versioned calibration store in one SQLite file.

    The constructor does no I/O; the database is opened by :meth:`connect` (or by
    ``with Store(path) as store:``, :meth:`Store.open`, or lazily by the first call that
    needs it) and closed by :meth:`close`.

    Args:
        path: the database file.
        create: create the file (and its folder) if it does not exist; otherwise a missing
            file raises :class:`StoreError`.
    """

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        self.create = create
        self._conn: sqlite3.Connection | None = None

    # lifecycle -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> Store:
        """A store on ``path``, connected."""
        return cls(path, create=create).connect()

    def connect(self) -> Self:
        """Open the database (idempotent); check or create its schema."""
        if self._conn is not None:
            return self
        if not self.path.exists():
            if not self.create:
                raise StoreError("no calibration store at this path", path=str(self.path))
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1e3)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open calibration store: {exc}", path=str(self.path)) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._init_schema(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(
                f"not a readable calibration store ({exc})", path=str(self.path)
            ) from None
        except StoreError:
            conn.close()
            raise
        self._conn = conn
        log.debug("opened calibration store %s", self.path)
        return self

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None or row[0] != SCHEMA:
                found = row[0] if row else "none"
                raise StoreError(
                    f"unsupported store schema {found!r} (expected {SCHEMA!r})",
                    path=str(self.path),
                )
            return
        if tables or not self.create:
            raise StoreError(
                "an SQLite file but not a calibration store "
                f"(tables: {', '.join(sorted(tables)) or 'none'})",
                path=str(self.path),
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _DDL.split(";\n"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, {'open' if self._conn else 'closed'})"

    def _db(self) -> sqlite3.Connection:
        self.connect()
        assert self._conn is not None
        return self._conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The connection, with SQLite errors turned into :class:`StoreError`."""
        conn = self._db()
        try:
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"calibration store unreadable: {exc}", path=str(self.path)) from None

    # writing ---------------------------------------------------------------------------

    def commit(self, state: CalibrationState, message: str, author: str | None = None) -> int:
        """Write ``state`` as a new version and make it current; returns its number.

        The version is written in one transaction: either all of it is there afterwards,
        or none of it (and the previous version stays current).

        Args:
            state: the full calibration state (its ``version`` field is ignored; the stored
                state carries the new version number).
            message: what this version is, e.g. ``"rabi q0 <run id>"``.
            author: who or what commits (default: ``user@host`` of this process).
        """
        author = author or default_author()
        created = datetime.now(UTC).isoformat()
        conn = self._db()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT version FROM head WHERE id = 1").fetchone()
                parent: int | None = row[0] if row else None
                (last,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM versions").fetchone()
                version = int(last) + 1
                stored = state.model_copy(update={"version": version})
                self._write_version(
                    conn,
                    version,
                    parent=parent,
                    created=created,
                    author=author,
                    message=message,
                    state=stored,
                )
                self._write_parameters(conn, version, stored)
                conn.execute(
                    "INSERT INTO head (id, version) VALUES (1, ?) "
                    "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                    (version,),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"commit failed: {exc}", path=str(self.path)) from None
        log.info("calibration store %s: version %d (%s) by %s", self.path, version, message, author)
        return version

    def _write_version(
        self,
        conn: sqlite3.Connection,
        version: int,
        *,
        parent: int | None,
        created: str,
        author: str,
        message: str,
        state: CalibrationState,
    ) -> None:
        text, digest = _canonical(state)
        conn.execute(
            "INSERT INTO versions (version, parent, created, author, message, state_json, sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (version, parent, created, author, message, text, digest),
        )

    def _write_parameters(
        self, conn: sqlite3.Connection, version: int, state: CalibrationState
    ) -> None:
        conn.executemany(
            "INSERT INTO parameters VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    version,
                    owner,
                    name,
                    v.value,
                    v.uncertainty,
                    v.run_id,
                    v.updated.isoformat() if v.updated else None,
                )
                for (owner, name), v in calibrated_parameters(state).items()
            ),
        )

    def rollback(self, version: int, author: str | None = None) -> int:
        """Make ``version`` current again by committing a copy of it; returns the new number.

        History is never rewritten: the new version's parent is the version that was
        current, and its message names the version rolled back to.
        """
        state = self.get(version)
        return self.commit(state, f"rollback to version {version}", author)

    # reading ---------------------------------------------------------------------------

    def current_version(self) -> int | None:
        """Number of the current version, ``None`` for an empty store."""
        with self._read() as conn:
            row = conn.execute("SELECT version FROM head WHERE id = 1").fetchone()
        return int(row[0]) if row else None

    def current(self) -> CalibrationState | None:
        """The current state (its ``version`` field is its version number), or ``None``."""
        version = self.current_version()
        return None if version is None else self.get(version)

    def get(self, version: int) -> CalibrationState:
        """The state of ``version``; an unknown version raises :class:`StoreError`."""
        from pydantic import ValidationError

        from qneko_hw.config.calibration import CalibrationState

        with self._read() as conn:
            row = conn.execute(
                "SELECT state_json FROM versions WHERE version = ?", (version,)
            ).fetchone()
        if row is None:
            raise self._unknown(version)
        try:
            return CalibrationState.model_validate_json(row[0])
        except ValidationError as exc:
            raise StoreError(
                f"stored state is corrupt: {exc.error_count()} validation error(s), "
                f"first: {exc.errors()[0]['msg']}",
                path=str(self.path),
                version=version,
            ) from None

    def info(self, version: int) -> VersionInfo:
        """Commit data of ``version``; an unknown version raises :class:`StoreError`."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT version, parent, created, author, message, sha256 FROM versions "
                "WHERE version = ?",
                (version,),
            ).fetchone()
        if row is None:
            raise self._unknown(version)
        return _info(row)

    def history(self) -> list[VersionInfo]:
        """Every version, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT version, parent, created, author, message, sha256 FROM versions "
                "ORDER BY version DESC"
            ).fetchall()
        return [_info(r) for r in rows]

    def parameter_rows(self, version: int) -> list[tuple[str, str, float, float | None]]:
        """The stored (qubit, parameter, value, uncertainty) rows of ``version``, sorted."""
        self.info(version)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT qubit, parameter, value, uncertainty FROM parameters "
                "WHERE version = ? ORDER BY qubit, parameter",
                (version,),
            ).fetchall()
        return [(str(q), str(p), float(v), None if u is None else float(u)) for q, p, v, u in rows]

    def diff(self, a: int, b: int) -> list[ParameterChange]:
        """Parameters whose value, uncertainty or run id differ from version ``a`` to ``b``.

        Sorted by qubit (or CZ pair) and parameter; a parameter present in only one of
        them shows ``None`` on the other side.
        """
        old, new = calibrated_parameters(self.get(a)), calibrated_parameters(self.get(b))
        changes = []
        for key in sorted(old.keys() | new.keys()):
            o, n = old.get(key), new.get(key)
            if o is None or n is None or _differs(o, n):
                changes.append(ParameterChange(key[0], key[1], o, n))
        return changes

    def export_json(self, version: int | None = None) -> str:
        """Canonical JSON of a version's state (default: the current one).

        The result is what :meth:`CalibrationState.save` writes, so
        :meth:`CalibrationState.load` reads it back.
        """
        if version is None:
            version = self.current_version()
            if version is None:
                raise StoreError("the store is empty: nothing to export", path=str(self.path))
        return self.get(version).to_json()

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when the file is sound)."""
        with self._read() as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def _unknown(self, version: int) -> StoreError:
        with self._read() as conn:
            (last,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM versions").fetchone()
        known = f"versions 1..{last}" if last else "the store is empty"
        return StoreError(f"no such version ({known})", path=str(self.path), version=version)


def _differs(o: CalValue, n: CalValue) -> bool:
    return (o.value, o.uncertainty, o.run_id) != (n.value, n.uncertainty, n.run_id)


def _info(row: tuple[Any, ...]) -> VersionInfo:
    version, parent, created, author, message, sha = row
    return VersionInfo(
        version=int(version),
        parent=None if parent is None else int(parent),
        created=datetime.fromisoformat(created),
        author=str(author),
        message=str(message),
        sha256=str(sha),
    )
