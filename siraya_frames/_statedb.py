"""The job's state on disk: ``job.sqlite3``, one row of settings and one row per batch.

Saving one batch is one ``INSERT ... ON CONFLICT DO UPDATE`` of its row in one transaction,
so an event costs the same at 20 batches and at 20,000 (the whole-state ``job.json`` it
replaces was rewritten after every event). SQLite's rollback journal
(``journal_mode=TRUNCATE``: a commit empties ``job.sqlite3-journal`` instead of deleting it,
no directory change) with
``synchronous=FULL``: a commit returns once the change is on disk, and a process killed at any
point leaves a journal that the next connection rolls back, so a save is all or nothing
(see ``docs/ARCHITECTURE.md`` for the choice). Reads open the file read-write when they can
(which rolls back a hot journal) and ``mode=ro`` otherwise (a read-only directory).

Tables (``sqlite3 job.sqlite3 'select key, status, batch_id, done from batches'``):

``job``
    ``format``, ``settings`` (JSON: everything of :class:`JobState` but its batches).
``batches``
    ``seq`` (planning order), ``key``, ``round``, ``status``, ``batch_id``, ``n_requests``,
    ``done``, ``failed``, ``results_file``, ``error`` (copies for people and queries) and
    ``record`` (JSON: the whole :class:`BatchRecord`, what is read back).

Examples
--------
>>> import tempfile, pathlib
>>> db = pathlib.Path(tempfile.mkdtemp()) / "job.sqlite3"
>>> state = JobState(job_id="j", base_url="u", max_requests=9, max_bytes=9)
>>> write(db, state, [BatchRecord("r0-b0000", 0, "k", 3)])
>>> [b.key for b in read(db).batches]
['r0-b0000']
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from siraya_frames._errors import JobError, JobStoreError
from siraya_frames._state import (
    JOB_FORMAT,
    BatchRecord,
    JobState,
    decode_batch,
    decode_settings,
    encode_batch,
    encode_settings,
)

__all__ = ["BUSY_TIMEOUT", "has_job", "read", "settle", "write"]

BUSY_TIMEOUT = 60.0
"""Seconds a connection waits for another one's transaction (a status read during a save)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " format TEXT NOT NULL, settings TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " round INTEGER NOT NULL, status TEXT NOT NULL, batch_id TEXT, n_requests INTEGER NOT NULL,"
    " done INTEGER NOT NULL, failed INTEGER NOT NULL, results_file TEXT, error TEXT,"
    " record TEXT NOT NULL)",
)
_UPSERT_JOB = (
    "INSERT INTO job (id, format, settings) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET"
    " format = excluded.format, settings = excluded.settings"
)
_COLUMNS = (
    "key",
    "round",
    "status",
    "batch_id",
    "n_requests",
    "done",
    "failed",
    "results_file",
    "error",
)
_UPSERT_BATCH = (
    f"INSERT INTO batches ({', '.join(_COLUMNS)}, record)"
    f" VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
    " ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_COLUMNS[1:], "record"))
)


def _row(rec: BatchRecord) -> tuple[object, ...]:
    return (*(getattr(rec, c) for c in _COLUMNS), encode_batch(rec))


def _commit(conn: sqlite3.Connection) -> None:
    """Commit (a separate function: the kill tests stop a process right before it)."""
    conn.execute("COMMIT")


def _failed_write(path: Path, exc: sqlite3.Error) -> JobStoreError:
    return JobStoreError(
        f"could not write {path}: {exc}; free space (or fix the permissions) and re-run the "
        "same call (nothing is lost)",
        path=str(path),
    )


def write(
    path: Path,
    state: JobState | None,
    batches: Iterable[BatchRecord],
    *,
    replace: bool = False,
) -> None:
    """In one transaction: the settings of ``state`` (unless None) and each of ``batches``
    (inserted, or updated in place by key); with ``replace``, only those batches remain."""
    try:
        with contextlib.closing(
            sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        ) as conn:
            conn.execute("PRAGMA journal_mode = TRUNCATE")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for ddl in _SCHEMA:
                    conn.execute(ddl)
                if replace:
                    conn.execute("DELETE FROM batches")
                if state is not None:
                    conn.execute(_UPSERT_JOB, (state.format, encode_settings(state)))
                conn.executemany(_UPSERT_BATCH, map(_row, batches))
                _commit(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    except sqlite3.Error as exc:
        raise _failed_write(path, exc) from exc


def settle(path: Path) -> bool:
    """Remove the journal a killed writer left, by a write that changes nothing (SQLite
    rolls a hot journal back first; a journal that never became hot is dropped). Return
    True when there was one. Call it holding the job's lock."""
    journal = path.with_name(f"{path.name}-journal")
    if not (path.is_file() and journal.is_file() and journal.stat().st_size):
        return False
    try:
        with contextlib.closing(
            sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        ) as conn:
            conn.execute("BEGIN IMMEDIATE")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise _failed_write(path, exc) from exc
    return True


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for reading: read-write if possible (a hot journal left by a killed
    process is rolled back), else read-only (``mode=ro``, a read-only directory)."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=BUSY_TIMEOUT)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    with contextlib.closing(conn):
        yield conn


def has_job(path: Path) -> bool:
    """True when ``path`` holds a saved job (its settings row was committed)."""
    if not path.is_file():
        return False
    try:
        with _reading(path) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            return "job" in tables and conn.execute("SELECT 1 FROM job").fetchone() is not None
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from exc


def _damaged(path: Path, exc: Exception) -> JobError:
    return JobError(
        f"{path} is damaged and cannot be read: {exc}; restore it from a backup, or submit "
        "into another job_dir"
    )


def read(path: Path) -> JobState:
    """The job saved in ``path`` (its settings and every batch, in planning order)."""
    try:
        with _reading(path) as conn:
            (fmt, settings), *_ = conn.execute("SELECT format, settings FROM job").fetchall()
            records = conn.execute("SELECT record FROM batches ORDER BY seq").fetchall()
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise _damaged(path, exc) from exc
    if fmt != JOB_FORMAT:
        raise JobError(f"{path} has format {fmt!r}; expected {JOB_FORMAT}")
    try:
        data = decode_settings(settings)
        state = JobState.from_dict({**data, "batches": []})
        state.batches = [decode_batch(r) for (r,) in records]
    except (ValueError, TypeError) as exc:
        raise _damaged(path, exc) from exc
    return state
