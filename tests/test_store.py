"""The job directory: atomic writes, readable state, clear errors."""

from __future__ import annotations

import json

import polars as pl
import pytest

from siraya_frames._errors import JobError, JobNotFoundError
from siraya_frames._store import BatchRecord, JobState, JobStore, atomic_write


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
