"""Collect: one outcome per submitted ``custom_id``, from the results saved in a job.

Each batch's saved results are parsed (``read_results``, batches in parallel threads) and
matched to the ids that batch was sent with; ids without a line get the outcome their batch
implies (a failed batch: errored; expired: expired; cancelled or never sent: canceled; still
running: pending; else missing). When an id was sent in several rounds, a success wins, else
the latest round. Pure but for reading files.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pyarrow as pa

from siraya_frames import _results_cache as results_cache
from siraya_frames._display import plural
from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, ids_are_unique
from siraya_frames._reuse import with_reused
from siraya_frames._shapes import BatchStatus
from siraya_frames._store import BatchRecord, JobState, JobStore
from siraya_frames._wait import is_finished
from siraya_frames._warn import warn_user

logger = logging.getLogger("siraya_frames")

__all__ = [
    "NON_RETRYABLE_ERRORS",
    "collect_answers",
    "collect_results",
    "outcome_totals",
    "retryable",
]


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
        "results_unavailable",
    }
)
"""Errored outcomes that resending unchanged cannot fix (or that may already be paid)."""


_FILL_BY_BATCH = {
    BatchStatus.FAILED.value: ("errored", "batch_failed"),
    BatchStatus.EXPIRED.value: ("expired", None),
    BatchStatus.CANCELLED.value: ("canceled", None),
    "not_submitted": ("canceled", None),
}


def _batch_frame(store: JobStore, rec: BatchRecord) -> tuple[pl.DataFrame, pl.Series]:
    """The ids sent in one batch with their saved results (null where none), and the ids of
    result lines that name no id of that batch."""
    ids = results_cache.batch_ids(store, rec)
    frame = ids.with_columns(
        batch_id=pl.lit(rec.batch_id, pl.String),
        _round=pl.lit(rec.round),
        _batch_status=pl.lit(rec.status),
        _batch_error=pl.lit(rec.error, pl.String),
        _results_error=pl.lit(_unavailable(rec), pl.String),
        _finished=pl.lit(is_finished(rec)),
    )
    if rec.results_file:
        parsed, stray = results_cache.load(store, rec, ids)  # parsed once, when saved
    else:
        parsed, stray = pl.DataFrame(schema=RESULT_SCHEMA), pl.Series("custom_id", [], pl.String)
    return frame.join(parsed, on="custom_id", how="left", maintain_order="left"), stray


def _unavailable(rec: BatchRecord) -> str | None:
    """The message of ids whose batch ended but whose results could not be fetched."""
    if rec.results_file is not None or not rec.results_error:
        return None
    return (
        f"the results of batch {rec.batch_id} could not be fetched ({rec.results_error}); "
        "this request may have been answered and paid, so it is not resent. Wait on the job "
        "again to fetch them again"
    )


def _batch_frames(store: JobStore, state: JobState) -> tuple[pl.DataFrame, pl.Series]:
    """:func:`_batch_frame` of every batch, the result files parsed in parallel threads
    (pyarrow and Polars release the GIL; each file holds one batch, mostly small)."""
    workers = min(len(state.batches), max(1, pa.cpu_count()))
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda rec: _batch_frame(store, rec), state.batches))
    frames, strays = zip(*done, strict=True)
    return pl.concat(frames), pl.concat(strays)


def _fill_unanswered(joined: pl.DataFrame) -> pl.DataFrame:
    status = pl.col("_batch_status")
    # A batch still running: its ids are pending, never "missing" (which retry_failed resends).
    fill_status = pl.when(pl.col("_finished")).then(pl.lit("missing")).otherwise(pl.lit("pending"))
    fill_type = pl.lit(None, pl.String)
    for batch_status, (result, err_type) in _FILL_BY_BATCH.items():
        fill_status = pl.when(status == batch_status).then(pl.lit(result)).otherwise(fill_status)
        fill_type = pl.when(status == batch_status).then(pl.lit(err_type)).otherwise(fill_type)
    unavailable = pl.col("_results_error").is_not_null()
    fill_status = pl.when(unavailable).then(pl.lit("errored")).otherwise(fill_status)
    fill_type = pl.when(unavailable).then(pl.lit("results_unavailable")).otherwise(fill_type)
    fill_message: pl.Expr = pl.when(status == "failed").then(pl.col("_batch_error"))
    fill_message = pl.when(unavailable).then(pl.col("_results_error")).otherwise(fill_message)
    unanswered = pl.col("result_status").is_null()
    return joined.with_columns(
        result_status=pl.when(unanswered).then(fill_status).otherwise("result_status"),
        error_type=pl.when(unanswered).then(fill_type).otherwise("error_type"),
        error_message=pl.when(unanswered).then(fill_message).otherwise("error_message"),
    )


def _warn_unsubmitted(stray: pl.Series) -> None:
    if stray.len():
        msg = (
            f"{plural(stray.len(), 'result line')} had a custom_id never submitted in that "
            f"batch (first: {stray[0]!r}); they were dropped"
        )
        warn_user(msg, ResultsWarning)


def _best_per_id(frame: pl.DataFrame) -> pl.DataFrame:
    """One outcome per custom_id: a success wins, else the latest round's outcome."""
    if ids_are_unique(frame["custom_id"]):  # each id sent once: nothing to choose
        return frame
    rank = pl.when(pl.col("result_status") == "succeeded").then(0).otherwise(1)
    return (
        frame.with_columns(_rank=rank)
        .sort(["_rank", "_round"], descending=[False, True], maintain_order=True)
        .unique("custom_id", keep="first", maintain_order=True)
    )


def _in_request_order(best: pl.DataFrame, store: JobStore) -> pl.DataFrame:
    """``best`` in the order of the job's requests (a one-round job already is)."""
    order = store.read_requests(columns=["custom_id"])["custom_id"]
    if best["custom_id"].equals(order):
        return best
    ranks = order.to_frame().with_row_index("_order")
    return best.join(ranks, on="custom_id", how="left").sort("_order")


def collect_results(store: JobStore, state: JobState) -> pl.DataFrame:
    """One outcome per id: the job's own, plus the answers it took from the answer store."""
    return with_reused(store.path, _own_results(store, state))


def _own_results(store: JobStore, state: JobState) -> pl.DataFrame:
    if not state.batches:
        return pl.DataFrame(schema={**RESULT_SCHEMA, "batch_id": pl.String})
    joined, stray = _batch_frames(store, state)
    _warn_unsubmitted(stray)
    best = _best_per_id(_fill_unanswered(joined))
    return _in_request_order(best, store).select(*RESULT_SCHEMA, "batch_id")


def _batch_answers(store: JobStore, rec: BatchRecord) -> tuple[pl.DataFrame, pl.Series]:
    """One batch's outcome per id, its round, and the ids of its stray lines."""
    frame, stray = _batch_frame(store, rec)
    return _fill_unanswered(frame).select(*RESULT_SCHEMA, "batch_id", "_round"), stray


def collect_answers(store: JobStore, state: JobState) -> pl.DataFrame:
    """:func:`collect_results` in no set order, bounded per batch: each batch's ids, results
    and filled outcomes are made on their own (in threads), and the pieces are put together
    without a copy; only a job with several rounds is then reduced to one outcome per id
    (a success wins, else the latest round). For ``run``'s join, which keeps the rows' order.
    """
    return with_reused(store.path, _own_answers(store, state))  # + answers taken from the store


def _own_answers(store: JobStore, state: JobState) -> pl.DataFrame:
    if not state.batches:
        return pl.DataFrame(schema={**RESULT_SCHEMA, "batch_id": pl.String})
    workers = min(len(state.batches), max(1, pa.cpu_count()))
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda rec: _batch_answers(store, rec), state.batches))
    frames, strays = zip(*done, strict=True)
    _warn_unsubmitted(pl.concat(strays))
    answers = pl.concat(frames, rechunk=False)
    if any(rec.round for rec in state.batches):  # an id sent in several rounds
        answers = _best_per_id(answers)
    return answers.drop("_round")


def _unanswered_outcome(rec: BatchRecord) -> str:
    """What the ids of ``rec`` without a result line get (as in ``_fill_unanswered``)."""
    if rec.results_file is None and rec.results_error:
        return "errored"
    if rec.status in _FILL_BY_BATCH:
        return _FILL_BY_BATCH[rec.status][0]
    return "missing" if is_finished(rec) else "pending"


def outcome_totals(state: JobState) -> tuple[int, int, int] | None:
    """``(total, done, failed)`` as :func:`collect_results` would count them, from the
    outcomes each batch counted when its results were saved: no file is read.

    None when that is not enough: an id sent in more than one batch (a retry round: its best
    outcome needs the rows), or saved results not counted (a job saved by an older version).

    Examples
    --------
    >>> from siraya_frames._store import BatchRecord, JobState
    >>> ended = BatchRecord("r0-b0000", 0, "k0", 3, status="completed", results_file="r.jsonl",
    ...                     outcomes={"succeeded": 2})
    >>> running = BatchRecord("r0-b0001", 0, "k1", 4, status="in_progress")
    >>> state = JobState("j", "u", 9, 9, n_requests=7, batches=[ended, running])
    >>> outcome_totals(state)  # 2 succeeded, 1 missing, 4 pending
    (7, 3, 1)
    >>> running.done, running.failed = 3, 1  # the service's counts of the running batch
    >>> outcome_totals(state)
    (7, 6, 2)
    """
    if sum(rec.n_requests for rec in state.batches) != state.n_requests:
        return None
    counts: Counter[str] = Counter()
    for rec in state.batches:
        answered = {} if rec.results_file is None else rec.outcomes
        if answered is None:
            return None
        counts.update(answered)
        counts[_unanswered_outcome(rec)] += rec.n_requests - sum(answered.values())
    # a batch still running: what the service counts as done (and failed) so far, the
    # figures its row in the batch table shows, not yet collected
    running = [r for r in state.batches if r.results_file is None and not is_finished(r)]
    counted = sum(min(max(r.done, 0), r.n_requests) for r in running)
    counted_failed = sum(min(max(r.failed, 0), r.n_requests) for r in running)
    done = state.n_requests - counts["pending"]
    failed = done - counts["succeeded"] + counted_failed
    return state.n_requests, done + counted, failed


def retryable(include_canceled: bool, include_invalid: bool) -> pl.Expr:
    status = pl.col("result_status")
    errored_ok = ~pl.col("error_type").is_in(list(NON_RETRYABLE_ERRORS)).fill_null(False)
    if include_invalid:
        errored_ok = pl.lit(True)
    expr = status.is_in(["expired", "missing"]) | ((status == "errored") & errored_ok)
    if include_canceled:
        expr = expr | (status == "canceled")
    return expr
