"""Collect: one outcome per submitted ``custom_id``, from the results saved in a job.

Each batch's saved results are parsed (``read_results``) and matched to the ids that batch
was sent with; ids without a line get the outcome their batch implies (a failed batch:
errored; expired: expired; cancelled or never sent: canceled; still running: pending; else
missing). When an id was
sent in several rounds, a success wins, else the latest round. Pure but for reading files.
"""

from __future__ import annotations

import logging
import warnings

import polars as pl

from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, read_results
from siraya_frames._shapes import BatchStatus
from siraya_frames._store import JobState, JobStore
from siraya_frames._wait import is_finished

logger = logging.getLogger("siraya_frames")

__all__ = ["NON_RETRYABLE_ERRORS", "collect_results", "retryable"]


NON_RETRYABLE_ERRORS = frozenset(
    {
        "invalid_request_error",
        "invalid_request",
        "not_found_error",
        "permission_error",
        "permission_denied_error",
        "authentication_error",
        "content_policy_violation",
        "context_length_exceeded",
        "unprocessable_entity_error",
        "unrecognized_result",
        "invalid_json",
    }
)
"""Errored outcomes that resending unchanged cannot fix (or that may already be paid)."""


_FILL_BY_BATCH = {
    BatchStatus.FAILED.value: ("errored", "batch_failed"),
    BatchStatus.EXPIRED.value: ("expired", None),
    BatchStatus.CANCELLED.value: ("canceled", None),
    "not_submitted": ("canceled", None),
}


def _submitted_frame(store: JobStore, state: JobState) -> pl.DataFrame:
    frames = [
        pl.DataFrame({"custom_id": store.read_ids(r.key)}).with_columns(
            batch_id=pl.lit(r.batch_id, pl.String),
            _key=pl.lit(r.key),
            _round=pl.lit(r.round),
            _batch_status=pl.lit(r.status),
            _batch_error=pl.lit(r.error, pl.String),
            _finished=pl.lit(is_finished(r)),
        )
        for r in state.batches
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema={"custom_id": pl.String})


def _collected_frame(store: JobStore, state: JobState) -> pl.DataFrame:
    frames = []
    for rec in state.batches:
        if rec.results_file:
            parsed = read_results(store.path / rec.results_file)
            frames.append(parsed.with_columns(_key=pl.lit(rec.key)))
    if not frames:
        return pl.DataFrame(schema={**RESULT_SCHEMA, "_key": pl.String})
    return pl.concat(frames)


def _fill_unanswered(joined: pl.DataFrame) -> pl.DataFrame:
    status = pl.col("_batch_status")
    # A batch still running: its ids are pending, never "missing" (which retry_failed resends).
    fill_status = pl.when(pl.col("_finished")).then(pl.lit("missing")).otherwise(pl.lit("pending"))
    fill_type = pl.lit(None, pl.String)
    for batch_status, (result, err_type) in _FILL_BY_BATCH.items():
        fill_status = pl.when(status == batch_status).then(pl.lit(result)).otherwise(fill_status)
        fill_type = pl.when(status == batch_status).then(pl.lit(err_type)).otherwise(fill_type)
    unanswered = pl.col("result_status").is_null()
    return joined.with_columns(
        result_status=pl.when(unanswered).then(fill_status).otherwise("result_status"),
        error_type=pl.when(unanswered).then(fill_type).otherwise("error_type"),
        error_message=pl.when(unanswered & (status == "failed"))
        .then(pl.col("_batch_error"))
        .otherwise("error_message"),
    )


def _warn_unsubmitted(collected: pl.DataFrame, submitted: pl.DataFrame) -> None:
    stray = collected.join(submitted, on=["custom_id", "_key"], how="anti")
    if stray.height:
        msg = (
            f"{stray.height} result line(s) name custom_ids that were never submitted in that "
            f"batch (first: {stray['custom_id'][0]!r}); they were dropped"
        )
        logger.warning(msg)
        warnings.warn(msg, ResultsWarning, stacklevel=4)


def _best_per_id(frame: pl.DataFrame) -> pl.DataFrame:
    """One outcome per custom_id: a success wins, else the latest round's outcome."""
    rank = pl.when(pl.col("result_status") == "succeeded").then(0).otherwise(1)
    return (
        frame.with_columns(_rank=rank)
        .sort(["_rank", "_round"], descending=[False, True], maintain_order=True)
        .unique("custom_id", keep="first", maintain_order=True)
    )


def collect_results(store: JobStore, state: JobState) -> pl.DataFrame:
    submitted = _submitted_frame(store, state)
    collected = _collected_frame(store, state)
    _warn_unsubmitted(collected, submitted)
    joined = submitted.join(collected, on=["custom_id", "_key"], how="left", maintain_order="left")
    best = _best_per_id(_fill_unanswered(joined))
    order = store.read_requests().select("custom_id").with_row_index("_order")
    ordered = best.join(order, on="custom_id", how="left").sort("_order")
    return ordered.select(*RESULT_SCHEMA, "batch_id")


def retryable(include_canceled: bool, include_invalid: bool) -> pl.Expr:
    status = pl.col("result_status")
    errored_ok = ~pl.col("error_type").is_in(list(NON_RETRYABLE_ERRORS)).fill_null(False)
    if include_invalid:
        errored_ok = pl.lit(True)
    expr = status.is_in(["expired", "missing"]) | ((status == "errored") & errored_ok)
    if include_canceled:
        expr = expr | (status == "canceled")
    return expr
