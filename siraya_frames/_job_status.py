"""A saved job's :class:`JobStatus`: its batches as a frame and its request totals.

Read from the job's state (and, after a retry round, its results); no call is made.
"""

from __future__ import annotations

import polars as pl

from siraya_frames._collect import collect_results, outcome_totals
from siraya_frames._reuse import with_reused_totals
from siraya_frames._status import JobStatus
from siraya_frames._store import JobState, JobStore
from siraya_frames._wait import is_finished

__all__ = ["batches_frame", "status_of"]


_BATCH_SCHEMA = {
    "key": pl.String,
    "batch_id": pl.String,
    "status": pl.String,
    "requests": pl.Int64,
    "done": pl.Int64,
    "failed": pl.Int64,
    "submitted_at": pl.String,
    "finished_at": pl.String,
    "results_file": pl.String,
    "error": pl.String,
}


def batches_frame(state: JobState) -> pl.DataFrame:
    """One row per batch, from the saved state alone (no results are read)."""
    rows = [
        {
            "key": r.key,
            "batch_id": r.batch_id,
            "status": r.status,
            "requests": r.n_requests,
            "done": r.n_requests if is_finished(r) else r.done,
            "failed": r.failed,
            "submitted_at": r.submitted_at,
            "finished_at": r.finished_at,
            "results_file": r.results_file,
            "error": r.error or r.results_error,
        }
        for r in state.batches
    ]
    return pl.DataFrame(rows, schema=_BATCH_SCHEMA)


def _totals(store: JobStore, state: JobState) -> tuple[int, int, int]:
    """Requests in total, done and not succeeded: from the counts saved per batch, else
    from every id's outcome (after a retry round)."""
    totals = outcome_totals(state)
    if totals is not None:
        return with_reused_totals(store.path, totals)  # + the answers taken from the store
    outcomes = collect_results(store, state)["result_status"]  # one per id, best round
    pending = int((outcomes == "pending").sum())
    failed = int((~outcomes.is_in(["succeeded", "pending"])).sum())
    return outcomes.len(), outcomes.len() - pending, failed


def status_of(store: JobStore, state: JobState) -> JobStatus:
    total, done, failed = _totals(store, state)
    return JobStatus(
        path=str(store.path),
        batches=batches_frame(state),
        total=total,
        done=done,
        failed=failed,
        finished=all(is_finished(r) for r in state.batches),
    )
