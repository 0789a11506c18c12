"""The job directory: atomic writes, readable state, clear errors."""

from __future__ import annotations

import errno
import json
import os

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames._errors import JobError, JobNotFoundError, JobStoreError
from siraya_frames._store import BatchRecord, JobState, JobStore, atomic_write

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_state_round_trips_as_readable_json(tmp_path):
    store = JobStore(tmp_path / "job")
    state = JobState(
        job_id="j1",
        base_url="https://x/v1",
        max_requests=10,
        max_bytes=1000,
        batches=[BatchRecord("r0-b0000", 0, "sf-j1-r0-b0000", 3)],
    )
    store.save(state)
    raw = json.loads((tmp_path / "job" / "job.json").read_text())
    assert raw["batches"][0]["idempotency_key"] == "sf-j1-r0-b0000"
    assert raw["batches"][0]["status"] == "planned"
    assert store.load() == state


def test_missing_and_damaged_jobs_are_clear_errors(tmp_path):
    with pytest.raises(JobNotFoundError, match="no job"):
        JobStore(tmp_path).load()
    (tmp_path / "job.json").write_text("{not json")
    with pytest.raises(JobError, match="damaged"):
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
    store.save(JobState(job_id="j1", base_url="https://x/v1", max_requests=10, max_bytes=1000))
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
    assert (job / "job.json").is_file() and (job / "batches" / "r0-b0000.ids").is_file()


def test_a_full_disk_is_a_clear_error_naming_the_file(tmp_path, monkeypatch):
    store = _saved_job(tmp_path / "job")
    state = store.load()

    def no_space(*args, **kwargs):
        raise ENOSPC

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(JobStoreError) as caught:
        store.save(state)
    assert str(caught.value) == (
        f"could not write {tmp_path / 'job' / 'job.json'}: [Errno 28] No space left on device; "
        "free space (or fix the permissions) and re-run the same call (nothing is lost)"
    )
    assert caught.value.path == str(tmp_path / "job" / "job.json")
    with pytest.raises(JobStoreError, match=r"r0-b0001\.ids: \[Errno 28\]"):
        store.write_ids("r0-b0001", ["b"])
    monkeypatch.setattr(pl.DataFrame, "write_parquet", no_space)
    frame = pl.DataFrame({"custom_id": ["a"], "params_json": ["{}"]})
    with pytest.raises(JobStoreError, match=r"requests\.parquet: \[Errno 28\]"):
        store.write_requests(frame)
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == [
        "batches",
        "job.json",
        "results",
    ]
