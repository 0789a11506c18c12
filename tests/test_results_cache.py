"""Results parsed once, when saved: the cache, its invalidation, and status from counts."""

from __future__ import annotations

import json

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import _collect, _results_cache
from siraya_frames._store import JobStore
from siraya_frames.emulator import Emulator

FAST = sf.PollSchedule(initial=0.02, factor=1.5, maximum=0.2)
KEY = "sk-siraya-CACHE-5e6f"


def _requests(n: int) -> pl.DataFrame:
    df = pl.DataFrame({"text": [f"cached review {i}" for i in range(n)]})
    return sf.build_requests(df, prompt="{text}", model="openai/gpt-4o-mini-batch", max_tokens=16)


def _waited_job(tmp_path, n: int = 10, **emulator) -> tuple[sf.Job, pl.DataFrame]:
    with Emulator(api_key=KEY, **emulator) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        job = sf.submit(_requests(n), client=client, job_dir=tmp_path / "j", max_requests=4)
        job.wait(progress=False, schedule=FAST)
    return job, job.results()


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the JSONL was parsed again")

    monkeypatch.setattr(_results_cache, "read_results", refuse)


def test_results_and_status_read_no_jsonl_once_saved(tmp_path, monkeypatch):
    job, first = _waited_job(tmp_path)
    cached = sorted(p.name for p in (tmp_path / "j" / "results").glob("*.parquet"))
    assert cached == ["r0-b0000.parquet", "r0-b0001.parquet", "r0-b0002.parquet"]
    _no_parsing(monkeypatch)
    assert job.results().equals(first)
    monkeypatch.setattr(_results_cache, "load", lambda *a: 1 / 0)  # status reads no file at all
    status = job.status(refresh=False)
    assert (status.total, status.done, status.failed, status.finished) == (10, 10, 0, True)


def test_a_changed_jsonl_is_parsed_again(tmp_path):
    job, first = _waited_job(tmp_path)
    path = tmp_path / "j" / "results" / "r0-b0000.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["result"]["message"]["content"][0]["text"] = "fetched again, another answer"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))  # a re-fetch
    again = job.results()
    changed = again.filter(pl.col("custom_id") == lines[0]["custom_id"])
    assert changed["response_text"].item() == "fetched again, another answer"
    assert again.height == first.height


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_a_damaged_or_missing_cache_is_rebuilt_from_the_jsonl(tmp_path, monkeypatch, damage):
    job, first = _waited_job(tmp_path)
    cache = tmp_path / "j" / "results" / "r0-b0001.parquet"
    if damage == "garbage":
        cache.write_bytes(b"PAR1 not really parquet")
    else:
        cache.unlink()
    assert job.results().equals(first)
    _no_parsing(monkeypatch)  # rebuilt: the next collect reads it
    assert job.results().equals(first)


def test_status_counts_match_the_outcomes_of_every_row(tmp_path):
    job, results = _waited_job(tmp_path, n=30, error_rate=0.4, error_type="overloaded_error")
    status = job.status(refresh=False)
    assert _collect.outcome_totals(JobStore(job.path).load()) is not None
    errored = int((results["result_status"] != "succeeded").sum())
    assert 0 < errored < 30
    assert (status.total, status.done, status.failed) == (30, 30, errored)


def test_an_old_job_dir_is_migrated_and_collected_the_same(tmp_path):
    """A job directory written by the job.json versions: no job.sqlite3, no parquet, no
    counts. It is migrated on open; results and status are the same."""
    job, first = _waited_job(tmp_path)
    status = job.status(refresh=False)
    old = JobStore(job.path).load().to_dict()
    for batch in old["batches"]:
        del batch["outcomes"]
    (job.path / "job.json").write_text(json.dumps(old, indent=2))
    (job.path / "job.sqlite3").unlink()
    for cache in (job.path / "results").glob("*.parquet"):
        cache.unlink()
    opened = sf.Job.open(job.path, client=sf.SirayaClient(KEY, "http://127.0.0.1:9/v1"))
    assert (job.path / "job.json.migrated").is_file() and (job.path / "job.sqlite3").is_file()
    again = opened.status(refresh=False)
    assert (again.total, again.done, again.failed) == (status.total, status.done, status.failed)
    assert opened.results().equals(first)
