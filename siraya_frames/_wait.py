"""Wait: poll every unfinished batch, save results as they come, cancel on request.

A batch is finished when it has ended and its results are saved (or it ended without any).
Results arrive in the GET body (JSONL or an inline document) or at a ``result_url``; a
download with fewer lines than requests is fetched again. Between rounds the wait sleeps as
``PollSchedule`` says, waking right after the predicted end when request counts move.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from siraya_frames import _results_cache as results_cache
from siraya_frames._config import DEFAULT_MAX_CONCURRENCY
from siraya_frames._errors import (
    APIStatusError,
    APITimeoutError,
    SirayaError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from siraya_frames._plan import BatchPayload
from siraya_frames._polling import Call, PollSchedule, Sleep, Steps, side_by_side
from siraya_frames._protocols import get_protocol
from siraya_frames._rounds import by_predicted_end, eta_of, list_round
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._store import BatchRecord, JobState, JobStore, atomic_write, utc_now
from siraya_frames._submit import apply_state, creates_width, submit_steps

logger = logging.getLogger("siraya_frames")

__all__ = ["FINISHED", "already_ended", "cancel_steps", "is_finished", "poll_steps", "wait_steps"]


FINISHED = {s.value for s in BatchStatus if s.is_terminal} | {"not_submitted"}


MAX_RESULT_FETCHES = 3


def _result_lines(path: Path) -> int:
    """Lines of a saved results file (a last line without its newline counts), or -1 for
    an inline JSON document, counted when parsed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> _ = path.write_bytes(b'{"a":1}\\n{"b":2}')
    >>> _result_lines(path)
    2
    """
    with path.open("rb") as fh:
        head = fh.read(1)
        if head in (b"{",) and b'"results"' in fh.read(4096):
            return -1
        fh.seek(0)
        lines, last = 0, b"\n"
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
        return lines + (last != b"\n")


def _take_results(store: JobStore, rec: BatchRecord, answer: BatchState) -> None:
    """Accept saved results, or ask for them again when fewer lines came than requests."""
    rec.result_fetches += 1
    path = Path(answer.results_path or store.results_path(rec.key))
    if answer.results is not None:
        atomic_write(path, answer.results)
    lines = _result_lines(path)
    if 0 <= lines < rec.n_requests and rec.result_fetches < MAX_RESULT_FETCHES:
        logger.warning(
            "batch %s: %d result lines for %d requests; fetching again",
            rec.batch_id,
            lines,
            rec.n_requests,
        )
        return
    rec.results_file = str(path.relative_to(store.path))
    rec.finished_at = rec.finished_at or utc_now()
    if rec.status not in FINISHED:
        rec.status = BatchStatus.COMPLETED.value
    rec.outcomes = _parse_once(store, rec)


def _parse_once(store: JobStore, rec: BatchRecord) -> dict[str, int] | None:
    """Parse the results just saved into their cache; return the outcomes counted (None when
    they cannot be read: ``results()`` then reports why)."""
    try:
        parsed, _ = results_cache.build(store, rec, results_cache.batch_ids(store, rec))
    except SirayaError as exc:
        logger.warning("batch %s: its saved results could not be read: %s", rec.batch_id, exc)
        return None
    return results_cache.count_outcomes(parsed)


RESULT_BYTES_PER_REQUEST = 32 << 10
"""Bytes of a result line beyond its answer (ids, usage, envelope), generously."""
RESULT_BYTES_PER_TOKEN = 32
"""Bytes one output token may take in a result line: ~4 characters, each up to a 6-byte
JSON escape, plus room; thinking is counted in ``max_tokens`` too."""
DEFAULT_JOB_MAX_TOKENS = 32_768
"""Assumed for a job that recorded no ``max_tokens`` (made before it was recorded)."""


def result_cap(state: JobState, rec: BatchRecord) -> int:
    """The most one download of ``rec``'s results may bring (decoded): the user's
    ``max_result_bytes``, else a generous bound from its requests and ``max_tokens``.

    Examples
    --------
    >>> from siraya_frames._store import JobState, BatchRecord
    >>> state = JobState(job_id="j", base_url="u", max_requests=9, max_bytes=9, max_tokens=100)
    >>> result_cap(state, BatchRecord(key="k", round=0, idempotency_key="i", n_requests=10))
    1408256
    """
    if state.max_result_bytes:
        return state.max_result_bytes
    per_token = RESULT_BYTES_PER_TOKEN * (state.max_tokens or DEFAULT_JOB_MAX_TOKENS)
    return (1 << 20) + rec.n_requests * (RESULT_BYTES_PER_REQUEST + per_token)


def _left(deadline: float | None, clock: Callable[[], float]) -> dict[str, float]:
    """The ``timeout`` of a call made with ``deadline`` (the wait's own) in force."""
    return {} if deadline is None else {"timeout": max(deadline - clock(), 1.0)}


def _results_failed(rec: BatchRecord, exc: SirayaError) -> None:
    """A download that could not be taken: counted; after the last try the batch is
    finished with ``results_error`` (its ids are never resent automatically)."""
    rec.result_fetches += 1
    rec.results_error = str(exc)
    logger.warning("batch %s: its results could not be fetched (try %d of %d): %s",
                   rec.batch_id, rec.result_fetches, MAX_RESULT_FETCHES, exc)  # fmt: skip
    if rec.result_fetches >= MAX_RESULT_FETCHES:
        rec.finished_at = rec.finished_at or utc_now()


def _poll_one(
    store: JobStore,
    state: JobState,
    rec: BatchRecord,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
) -> Steps:
    """GET one batch's state, then take what it says (results, a download)."""
    sink = store.results_path(rec.key)
    limits = {"max_bytes": result_cap(state, rec), **_left(deadline, clock)}
    try:
        answer = yield Call("get_batch", (rec.batch_id,), {"results_path": sink, **limits})
    except UnexpectedResponseError as exc:
        if rec.status not in FINISHED:
            raise  # a status answer we cannot read: the wait reports it
        _results_failed(rec, exc)
        return
    yield from _take_state(store, state, rec, answer, deadline, clock)


def _take_state(
    store: JobStore,
    state: JobState,
    rec: BatchRecord,
    answer: BatchState,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
) -> Steps:
    """Fold a batch's state (from its GET or a list page) into ``rec``; download its results
    when it has ended."""
    apply_state(rec, answer)
    if answer.has_results:
        _take_results(store, rec, answer)
        return
    if not answer.status.is_terminal:
        return
    urls = rec.result_urls or ([rec.result_url] if rec.result_url else [])
    if urls and rec.result_fetches < MAX_RESULT_FETCHES:
        where = urls[0] if len(urls) == 1 else urls
        limits = {"max_bytes": result_cap(state, rec), **_left(deadline, clock)}
        sink = store.results_path(rec.key)
        try:
            got = yield Call("fetch_results", (where, sink), {"batch_id": rec.batch_id, **limits})
        except (UnexpectedResponseError, APIStatusError) as exc:
            _results_failed(rec, exc)
            return
        rec.results_error = None
        _take_results(store, rec, got)
        return
    rec.result_fetches += 1
    if answer.status is not BatchStatus.COMPLETED or rec.result_fetches >= MAX_RESULT_FETCHES:
        rec.finished_at = rec.finished_at or utc_now()
        rec.result_fetches = MAX_RESULT_FETCHES


def is_finished(rec: BatchRecord) -> bool:
    if rec.status == "not_submitted":
        return True
    return rec.status in FINISHED and (
        rec.results_file is not None or rec.result_fetches >= MAX_RESULT_FETCHES
    )


def poll_steps(
    store: JobStore,
    state: JobState,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
    *,
    width: int = DEFAULT_MAX_CONCURRENCY,
    seen: dict[str, tuple[float, int]] | None = None,
) -> Steps:
    """Poll every unfinished batch once, ``width`` calls at a time, saving what comes back.

    Batches predicted to end soonest go first (``seen``: where each was first seen, for its
    rate). Where the protocol lists batches for polling, their states are read from list
    pages first; a batch the pages did not show is polled with a GET.
    """
    todo = [rec for rec in state.batches if rec.batch_id and not is_finished(rec)]
    todo = by_predicted_end(todo, {} if seen is None else seen, clock())
    wire = get_protocol(state.protocol)
    if wire.lists_for_polling and len(todo) > 1:
        listed = yield from list_round(todo, wire.list_page_size)
        todo = _take_running(store, state, todo, listed)
    else:
        listed = {}
    yield from side_by_side(
        (_poll_saved(store, state, rec, listed.get(rec.batch_id or ""), deadline, clock)
         for rec in todo),
        width=width,
    )  # fmt: skip


def _take_running(
    store: JobStore, state: JobState, todo: list[BatchRecord], listed: dict[str, BatchState]
) -> list[BatchRecord]:
    """Fold in the listed states of batches still running, saved in one transaction (their
    progress guards no call); return the batches left to poll or download."""
    left, changed = [], []
    for rec in todo:
        answer = listed.get(rec.batch_id or "")
        if answer is None or answer.status.is_terminal or answer.has_results:
            left.append(rec)
            continue
        before = dataclasses.replace(rec)
        apply_state(rec, answer)
        if rec != before:
            changed.append(rec)
    if changed:
        store.save_job(state, batches=changed)
    return left


def _poll_saved(
    store: JobStore,
    state: JobState,
    rec: BatchRecord,
    listed: BatchState | None,
    deadline: float | None,
    clock: Callable[[], float],
) -> Steps:
    """Poll one batch (or take its listed state), and save it (if anything changed)."""
    if listed is None:
        yield from _poll_one(store, state, rec, deadline, clock)
    else:
        yield from _take_state(store, state, rec, listed, deadline, clock)
    store.save_batch(rec)


def _refetch_unavailable(state: JobState) -> None:
    """Give batches whose results could not be fetched new tries (a new ``wait``)."""
    for rec in state.batches:
        if rec.results_error and rec.results_file is None:
            rec.result_fetches, rec.finished_at = 0, None


def wait_steps(
    store: JobStore,
    state: JobState,
    schedule: PollSchedule,
    report: Callable[[JobState], None],
    deadline: float | None,
    clock: Callable[[], float] = time.time,
    *,
    width: int = DEFAULT_MAX_CONCURRENCY,
    bodies: dict[str, BatchPayload] | None = None,
) -> Steps:
    """Create the batches not created yet (``bodies``: those already built, by key), a wave
    at a time, with a poll round of the batches already created whenever the schedule's
    back-off says one is due (a predicted end does not hurry it: the creates come first);
    then poll until every batch is finished."""
    _refetch_unavailable(state)
    n_polls, seen, due = 0, dict[str, tuple[float, int]](), None
    planned = [rec for rec in state.batches if rec.status == "planned"]
    wave = creates_width(state, width)
    for first in range(0, len(planned), wave):
        only = planned[first : first + wave]
        yield from submit_steps(store, state, bodies or {}, width=width, only=only)
        now = clock()
        due = now + schedule.delay(0, now=now) if due is None else due
        more = first + wave < len(planned)
        if more and now >= due and (deadline is None or now < deadline):
            yield from _round(store, state, report, deadline, clock, width, seen)
            n_polls, now = n_polls + 1, clock()  # backing off, no ETA: creates come first
            due = now + schedule.delay(n_polls, now=now)
    while True:
        yield from _round(store, state, report, deadline, clock, width, seen)
        if all(is_finished(r) for r in state.batches):
            return state
        now = clock()
        if deadline is not None and now >= deadline:
            raise _not_finished(store)
        expiries = [r.expires_at for r in state.batches if r.expires_at and not is_finished(r)]
        yield Sleep(
            schedule.delay(
                n_polls,
                now=now,
                expires_at=min(expiries) + 1.0 if expiries else None,
                deadline=deadline,
                eta=_eta(seen, state, now),
            )
        )
        n_polls += 1


def _round(
    store: JobStore, state: JobState, report: Callable[[JobState], None],
    deadline: float | None, clock: Callable[[], float], width: int,
    seen: dict[str, tuple[float, int]],
) -> Steps:  # fmt: skip
    """One poll round of the created, unfinished batches; then the progress reported."""
    try:
        yield from poll_steps(store, state, deadline, clock, width=width, seen=seen)
    except APITimeoutError as exc:
        if deadline is None or clock() < deadline:
            raise
        raise _not_finished(store) from exc
    report(state)


def _not_finished(store: JobStore) -> WaitTimeoutError:
    return WaitTimeoutError(
        f"the job in {str(store.path)!r} is not finished yet; its batches keep running. "
        f"Wait again later with siraya_frames.Job.open({str(store.path)!r}).wait()"
    )


def _eta(seen: dict[str, tuple[float, int]], state: JobState, now: float) -> float | None:
    """Seconds until the first unfinished batch should end, from its progress so far."""
    etas = [
        eta_of(rec, seen, now)
        for rec in state.batches
        if rec.batch_id and rec.status not in FINISHED  # one ended is fetched, not awaited
    ]
    known = [eta for eta in etas if eta is not None]
    return min(known) if known else None


_ENDED = re.compile(
    r"already (been )?(ended|completed|finished|cancell?ed|expired|failed)|has ended"
    r"|cannot cancel a batch with status '?(completed|failed|expired|cancell?ed)",
    re.I,
)


def already_ended(exc: APIStatusError) -> bool:
    """True when a cancel failed because the batch had ended: a 409, or a 400 saying so.

    Examples
    --------
    >>> from siraya_frames._errors import error_for_status
    >>> already_ended(error_for_status(400)("Batch batch_x has already ended", status_code=400))
    True
    >>> already_ended(error_for_status(400)("bad batch id", status_code=400))
    False
    """
    if exc.status_code == 409:
        return True
    return exc.status_code == 400 and bool(_ENDED.search(str(exc)))


def cancel_steps(store: JobStore, state: JobState) -> Steps:
    for rec in state.batches:
        if rec.status == "planned":
            rec.status = "not_submitted"
            rec.finished_at = utc_now()
        elif rec.batch_id and rec.status not in FINISHED:
            try:
                answer = yield Call("cancel_batch", (rec.batch_id,))
            except APIStatusError as exc:
                if not already_ended(exc):
                    raise
                continue  # it ended meanwhile: the next poll collects its results
            apply_state(rec, answer)
        store.save_batch(rec)
