"""The job directory: atomic writes, readable state, clear errors."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames._errors import JobError, JobNotFoundError, JobStoreError
from siraya_frames._store import BatchRecord, JobState, JobStore, atomic_write

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _state(n_batches: int = 1) -> JobState:
    return JobState(
        job_id="j1",
        base_url="https://x/v1",
        max_requests=10,
        max_bytes=1000,
        batches=[BatchRecord(f"r0-b{i:04d}", 0, f"sf-j1-r0-b{i:04d}", 3) for i in range(n_batches)],
    )


def _rows(path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_state_round_trips_and_is_readable_with_sqlite(tmp_path):
    store = JobStore(tmp_path / "job")
    state = _state()
    store.save(state)
    db = tmp_path / "job" / "job.sqlite3"
    assert _rows(db, "SELECT key, status, batch_id FROM batches") == [("r0-b0000", "planned", None)]
    (record,) = _rows(db, "SELECT record FROM batches")
    assert json.loads(record[0])["idempotency_key"] == "sf-j1-r0-b0000"
    assert store.load() == state
    assert store.load().to_dict()["batches"][0]["idempotency_key"] == "sf-j1-r0-b0000"


def test_saving_one_batch_changes_its_row_alone(tmp_path):
    store = JobStore(tmp_path / "job")
    state = _state(3)
    store.save(state)
    state.batches[1].batch_id, state.batches[1].status = "batch_1", "in_progress"
    state.batches[2].status = "changed in memory only"
    store.save_batch(state.batches[1])
    saved = store.load()
    assert [(b.batch_id, b.status) for b in saved.batches] == [
        (None, "planned"),
        ("batch_1", "in_progress"),
        (None, "planned"),
    ]
    state.n_requests = 9
    new = BatchRecord("r1-b0000", 1, "sf-j1-r1-b0000", 2)
    state.batches.append(new)
    store.save_job(state, batches=[new])  # settings and a new round, in one transaction
    saved = store.load()
    assert saved.n_requests == 9 and [b.key for b in saved.batches][-1] == "r1-b0000"
    assert saved.batches[2].status == "planned"


def test_missing_and_damaged_jobs_are_clear_errors(tmp_path):
    with pytest.raises(JobNotFoundError, match="no job"):
        JobStore(tmp_path).load()
    (tmp_path / "job.sqlite3").write_bytes(b"not a database, at all" * 100)
    with pytest.raises(JobError, match=r"job\.sqlite3 is damaged"):
        JobStore(tmp_path).load()
    (tmp_path / "job.json").write_text("{not json")
    with pytest.raises(JobError, match=r"job\.json is damaged"):
        JobStore(tmp_path).load()


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write(tmp_path / "a" / "f.txt", b"one")
    atomic_write(tmp_path / "a" / "f.txt", b"two")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["f.txt"]
    assert (tmp_path / "a" / "f.txt").read_bytes() == b"two"


def test_requests_and_ids_round_trip(tmp_path):
    store = JobStore(tmp_path)
    frame = pl.DataFrame({"custom_id": ["a", "b"], "params_json": ['{"x":1}', '{"x":2}']})
    store.write_requests(frame)
    store.write_ids("r0-b0000", ["b", "a"])
    assert store.read_requests().equals(frame)
    assert store.read_ids("r0-b0000") == ["b", "a"]


def _saved_job(path) -> JobStore:
    store = JobStore(path)
    store.save(_state(0))
    store.write_ids("r0-b0000", ["a"])
    store.results_path("r0-b0000").write_text("{}\n")
    return store


def test_opening_a_job_removes_only_its_leftover_temporary_files(tmp_path):
    job = tmp_path / "job"
    _saved_job(job)
    stale = [
        job / ".job.json.k2j4_x.tmp",  # atomic_write, killed before its rename
        job / ".requests.a8b9c0.tmp",
        job / "batches" / ".r0-b0000.ids.zz91.tmp",
        job / "results" / ".r0-b0000.jsonl.4242.part",  # a cut download
    ]
    kept = [
        job / "notes.tmp",  # not one of our names
        job / ".env.part.txt",
        job / "results" / "r0-b0000.jsonl",
        job / "mine" / ".draft.tmp",  # not a folder we write to
        tmp_path / ".outside.tmp",  # not under the job dir
    ]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    sf.Job.open(job)
    assert [p.name for p in stale if p.exists()] == []
    assert [p.name for p in kept if not p.exists()] == []
    assert (job / "job.sqlite3").is_file() and (job / "batches" / "r0-b0000.ids").is_file()


def test_a_full_disk_is_a_clear_error_naming_the_file(tmp_path, monkeypatch):
    store = _saved_job(tmp_path / "job")
    state = store.load()

    def no_space(*args, **kwargs):
        raise ENOSPC

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite3, "connect", full)
    with pytest.raises(JobStoreError) as caught:
        store.save(state)
    assert str(caught.value) == (
        f"could not write {tmp_path / 'job' / 'job.sqlite3'}: database or disk is full; "
        "free space (or fix the permissions) and re-run the same call (nothing is lost)"
    )
    assert caught.value.path == str(tmp_path / "job" / "job.sqlite3")
    with pytest.raises(JobStoreError, match=r"job\.sqlite3: database or disk is full"):
        store.save_batch(BatchRecord("r0-b0000", 0, "k", 1))
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(JobStoreError, match=r"r0-b0001\.ids: \[Errno 28\]"):
        store.write_ids("r0-b0001", ["b"])
    monkeypatch.setattr(pl.DataFrame, "write_parquet", no_space)
    frame = pl.DataFrame({"custom_id": ["a"], "params_json": ["{}"]})
    with pytest.raises(JobStoreError, match=r"requests\.parquet: \[Errno 28\]"):
        store.write_requests(frame)
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == [
        "batches",
        "job.sqlite3",
        "job.sqlite3-journal",  # emptied at each commit (journal_mode=TRUNCATE)
        "results",
    ]


def _old_job_dir(path, state: JobState) -> None:
    """A job directory as siraya-frames wrote it before job.sqlite3: job.json, indented."""
    path.mkdir(parents=True, exist_ok=True)
    old = {**state.to_dict(), "batches": [dict(b) for b in state.to_dict()["batches"]]}
    for batch in old["batches"]:
        del batch["outcomes"]  # a field the old format did not have
    (path / "job.json").write_text(json.dumps(old, indent=2))


def test_an_old_job_json_is_migrated_on_open_once(tmp_path):
    state = _state(2)
    state.batches[0].batch_id, state.batches[0].status = "batch_0", "completed"
    _old_job_dir(tmp_path / "job", state)
    assert JobStore(tmp_path / "job").exists()
    assert JobStore(tmp_path / "job").load() == state
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == [
        ".lock",
        "job.json.migrated",
        "job.sqlite3",
        "job.sqlite3-journal",
    ]
    assert _rows(tmp_path / "job" / "job.sqlite3", "SELECT key, batch_id FROM batches") == [
        ("r0-b0000", "batch_0"),
        ("r0-b0001", None),
    ]
    assert JobStore(tmp_path / "job").load() == state  # from job.sqlite3 now


def test_a_migration_cut_short_is_done_again_on_the_next_open(tmp_path, monkeypatch):
    from pathlib import Path

    state = _state(3)
    _old_job_dir(tmp_path / "job", state)
    real_rename = Path.rename

    def killed(self, target):
        raise KeyboardInterrupt("killed between the import and the rename")

    monkeypatch.setattr(Path, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        JobStore(tmp_path / "job").load()
    assert (tmp_path / "job" / "job.json").is_file()  # imported, not renamed
    monkeypatch.setattr(Path, "rename", real_rename)
    assert JobStore(tmp_path / "job").load() == state
    assert not (tmp_path / "job" / "job.json").exists()
    assert len(JobStore(tmp_path / "job").load().batches) == 3  # imported once, not twice


def test_an_old_job_another_process_holds_is_read_without_migrating(tmp_path):
    state = _state(1)
    _old_job_dir(tmp_path / "job", state)
    holder = JobStore(tmp_path / "job")
    with holder.lock():  # another process waiting on it (flock: another open file)
        assert JobStore(tmp_path / "job").load() == state
        assert (tmp_path / "job" / "job.json").is_file()
    assert JobStore(tmp_path / "job").load() == state
    assert (tmp_path / "job" / "job.json.migrated").is_file()


def test_a_batch_saved_unchanged_costs_no_commit(tmp_path, monkeypatch):
    from siraya_frames import _statedb

    store = JobStore(tmp_path / "job")
    state = _state(2)
    store.save(state)
    commits = []
    real = _statedb._commit
    monkeypatch.setattr(_statedb, "_commit", lambda conn: (commits.append(1), real(conn)))
    store.save_batch(state.batches[0])  # a poll that brought no news
    assert commits == []
    state.batches[0].done = 2
    store.save_batch(state.batches[0])
    store.save_batch(state.batches[0])
    assert commits == [1] and JobStore(tmp_path / "job").load().batches[0].done == 2


def test_a_job_that_cannot_be_opened_for_writing_is_read_read_only(tmp_path, monkeypatch):
    """A read-only directory or file system: the database is opened with ``mode=ro``."""
    store, state = JobStore(tmp_path / "job"), _state(2)
    store.save(state)
    real = sqlite3.connect
    uris = []

    def no_writing(database, *args, **kwargs):
        uris.append(str(database))
        if "mode=rw" in str(database):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", no_writing)
    assert JobStore(tmp_path / "job").load() == state
    assert any(uri.endswith("job.sqlite3?mode=ro") for uri in uris)
