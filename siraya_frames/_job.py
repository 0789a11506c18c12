"""Jobs: submit requests once, follow the batches, collect every row's outcome.

A :class:`Job` is a directory (see ``_store.py``). Before each create, the intent is saved
with a deterministic ``Idempotency-Key``; after it, the batch id. So a crash at any point can
be resumed from any process with :meth:`Job.open`, and a create whose answer was lost is
resent with the same key: the service returns the batch it already made instead of billing a
second one. The lifecycle decisions are generators (see ``_polling.py``) driven by a sync or
an async client.

Examples
--------
>>> import polars as pl, tempfile, siraya_frames as sf
>>> from siraya_frames.emulator import Emulator
>>> df = pl.DataFrame({"text": ["good", "bad", "good"]})
>>> requests = sf.build_requests(df, prompt="{text}", model="m", max_tokens=8)
>>> with Emulator() as emu, sf.SirayaClient("k", emu.base_url) as client:
...     job = sf.submit(requests, client=client, job_dir=tempfile.mkdtemp())
...     out = job.wait(progress=False).results()
>>> out.height, sorted(out["response_text"].to_list())
(2, ['bad', 'good'])
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import xxhash

from siraya_frames import _config
from siraya_frames._client import AsyncSirayaClient, SirayaClient
from siraya_frames._errors import (
    APIStatusError,
    JobError,
    SirayaError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from siraya_frames._plan import BatchPayload, plan_batches, unique_requests
from siraya_frames._polling import Call, PollSchedule, Sleep, Steps, adrive, drive
from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, read_results
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._store import BatchRecord, JobState, JobStore, atomic_write, utc_now

logger = logging.getLogger("siraya_frames")

__all__ = ["NON_RETRYABLE_ERRORS", "Job", "JobStatus", "submit"]

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

_FINISHED = {s.value for s in BatchStatus if s.is_terminal} | {"not_submitted"}
_MAX_RESULT_FETCHES = 3


# --------------------------------------------------------------------------- planning


def _job_id(ids: pl.Series, base_url: str) -> str:
    digest = xxhash.xxh3_64(base_url.encode() + b"\n")
    digest.update("\n".join(ids.to_list()).encode())
    return digest.hexdigest()


def _default_job_dir(job_id: str) -> Path:
    return Path(_config.resolve_job_root()) / f"job-{job_id}"


def _plan_round(
    store: JobStore, state: JobState, requests: pl.DataFrame, round_no: int
) -> dict[str, BatchPayload]:
    """Record intents for ``requests`` (custom_id, params_json); return the bodies by key."""
    payloads = plan_batches(requests, max_requests=state.max_requests, max_bytes=state.max_bytes)
    bodies = {}
    for payload in payloads:
        key = f"r{round_no}-b{payload.index:04d}"
        store.write_ids(key, list(payload.custom_ids))
        state.batches.append(
            BatchRecord(
                key=key,
                round=round_no,
                idempotency_key=f"sf-{state.job_id}-{key}",
                n_requests=payload.n_requests,
                planned_at=utc_now(),
            )
        )
        bodies[key] = payload
    store.save(state)
    return bodies


def _next_round(state: JobState) -> int:
    return 1 + max((b.round for b in state.batches), default=-1)


# --------------------------------------------------------------------------- lifecycle steps


def _body_for(store: JobStore, rec: BatchRecord, bodies: dict[str, BatchPayload]) -> bytes:
    if rec.key in bodies:
        return bodies[rec.key].body
    ids = pl.DataFrame({"custom_id": store.read_ids(rec.key)})
    requests = ids.join(store.read_requests(), on="custom_id", how="left", maintain_order="left")
    (payload,) = plan_batches(requests, max_requests=len(ids) + 1, max_bytes=sys.maxsize)
    return payload.body


def _apply(rec: BatchRecord, state: BatchState) -> None:
    """Fold what the service said about a batch into its record."""
    if state.status is not BatchStatus.UNKNOWN or rec.status == "planned":
        rec.status = state.status.value
    rec.raw_status = state.raw_status or rec.raw_status
    if state.done is not None:
        rec.done = state.done
    if state.failed is not None:
        rec.failed = state.failed
    rec.expires_at = state.expires_at or rec.expires_at
    rec.result_url = state.result_url or rec.result_url
    rec.error = state.error or rec.error


def _submit_steps(store: JobStore, state: JobState, bodies: dict[str, BatchPayload]) -> Steps:
    """Create every batch whose intent is recorded but whose id is not."""
    for rec in state.batches:
        if rec.status != "planned":
            continue
        body = _body_for(store, rec, bodies)
        logger.info("creating batch %s (%d requests)", rec.key, rec.n_requests)
        answer = yield Call("create_batch", (body,), {"idempotency_key": rec.idempotency_key})
        if not answer.batch_id:
            raise UnexpectedResponseError(f"the create of batch {rec.key} returned no batch id")
        rec.batch_id = answer.batch_id
        rec.submitted_at = utc_now()
        _apply(rec, answer)
        store.save(state)


def _result_lines(path: Path) -> int:
    with path.open("rb") as fh:
        head = fh.read(1)
        if head in (b"{",) and b'"results"' in fh.read(4096):
            return -1  # an inline JSON document: counted when parsed
        fh.seek(0)
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _take_results(store: JobStore, rec: BatchRecord, answer: BatchState) -> None:
    """Accept saved results, or ask for them again when fewer lines came than requests."""
    rec.result_fetches += 1
    path = Path(answer.results_path or store.results_path(rec.key))
    if answer.results is not None:
        atomic_write(path, answer.results)
    lines = _result_lines(path)
    if 0 <= lines < rec.n_requests and rec.result_fetches < _MAX_RESULT_FETCHES:
        logger.warning(
            "batch %s: %d result lines for %d requests; fetching again",
            rec.batch_id,
            lines,
            rec.n_requests,
        )
        return
    rec.results_file = str(path.relative_to(store.path))
    rec.finished_at = rec.finished_at or utc_now()
    if rec.status not in _FINISHED:
        rec.status = BatchStatus.COMPLETED.value


def _poll_one(store: JobStore, rec: BatchRecord) -> Steps:
    sink = store.results_path(rec.key)
    answer = yield Call("get_batch", (rec.batch_id,), {"results_path": sink})
    _apply(rec, answer)
    if answer.has_results:
        _take_results(store, rec, answer)
        return
    if not answer.status.is_terminal:
        return
    if rec.result_url and rec.result_fetches < _MAX_RESULT_FETCHES:
        got = yield Call("fetch_results", (rec.result_url, sink), {"batch_id": rec.batch_id})
        _take_results(store, rec, got)
        return
    rec.result_fetches += 1
    if answer.status is not BatchStatus.COMPLETED or rec.result_fetches >= _MAX_RESULT_FETCHES:
        rec.finished_at = rec.finished_at or utc_now()
        rec.result_fetches = _MAX_RESULT_FETCHES


def _is_finished(rec: BatchRecord) -> bool:
    if rec.status == "not_submitted":
        return True
    return rec.status in _FINISHED and (
        rec.results_file is not None or rec.result_fetches >= _MAX_RESULT_FETCHES
    )


def _poll_steps(store: JobStore, state: JobState) -> Steps:
    """Poll every unfinished batch once, saving what comes back."""
    for rec in state.batches:
        if rec.batch_id and not _is_finished(rec):
            yield from _poll_one(store, rec)
            store.save(state)


def _wait_steps(
    store: JobStore,
    state: JobState,
    schedule: PollSchedule,
    report: Callable[[JobState], None],
    deadline: float | None,
    clock: Callable[[], float] = time.time,
) -> Steps:
    yield from _submit_steps(store, state, {})
    n_polls, seen = 0, {}
    while True:
        yield from _poll_steps(store, state)
        report(state)
        if all(_is_finished(r) for r in state.batches):
            return state
        now = clock()
        if deadline is not None and now >= deadline:
            raise WaitTimeoutError(
                f"the job in {str(store.path)!r} is not finished yet; its batches keep running. "
                f"Wait again later with siraya_frames.Job.open({str(store.path)!r}).wait()"
            )
        expiries = [r.expires_at for r in state.batches if r.expires_at and not _is_finished(r)]
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


def _eta(seen: dict[str, tuple[float, int]], state: JobState, now: float) -> float | None:
    """Seconds until the first unfinished batch should end, from its progress so far."""
    etas = []
    for rec in state.batches:
        if not rec.batch_id or _is_finished(rec):
            continue
        since, done_then = seen.setdefault(rec.key, (now, rec.done))
        if rec.done > done_then and now > since:
            rate = (rec.done - done_then) / (now - since)
            etas.append(max(rec.n_requests - rec.done, 0) / rate)
    return min(etas) if etas else None


def _cancel_steps(store: JobStore, state: JobState) -> Steps:
    for rec in state.batches:
        if rec.status == "planned":
            rec.status = "not_submitted"
            rec.finished_at = utc_now()
        elif rec.batch_id and rec.status not in _FINISHED:
            try:
                answer = yield Call("cancel_batch", (rec.batch_id,))
            except APIStatusError as exc:
                if exc.status_code != 409:
                    raise
                continue  # it ended meanwhile: the next poll collects its results
            _apply(rec, answer)
        store.save(state)


# --------------------------------------------------------------------------- status and results


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: per batch, and in total.

    Attributes
    ----------
    batches : pl.DataFrame
        One row per batch: key, batch_id, status, requests, done, failed, submitted_at,
        finished_at.
    total, done, failed : int
        Requests in the job, finished (succeeded or not), and not succeeded.
    finished : bool
        True when every batch has ended and its results are saved.
    """

    path: str
    batches: pl.DataFrame
    total: int
    done: int
    failed: int
    finished: bool

    def __repr__(self) -> str:
        state = "finished" if self.finished else "running"
        return (
            f"<JobStatus {self.path!r}: {state}, {self.done}/{self.total} requests done, "
            f"{self.failed} not succeeded, {self.batches.height} batches>"
        )


def _status_of(store: JobStore, state: JobState) -> JobStatus:
    rows = [
        {
            "key": r.key,
            "batch_id": r.batch_id,
            "status": r.status,
            "requests": r.n_requests,
            "done": r.n_requests if _is_finished(r) else r.done,
            "failed": r.failed,
            "submitted_at": r.submitted_at,
            "finished_at": r.finished_at,
        }
        for r in state.batches
    ]
    schema = {
        "key": pl.String,
        "batch_id": pl.String,
        "status": pl.String,
        "requests": pl.Int64,
        "done": pl.Int64,
        "failed": pl.Int64,
        "submitted_at": pl.String,
        "finished_at": pl.String,
    }
    frame = pl.DataFrame(rows, schema=schema)
    latest = {r.key: r for r in state.batches}
    return JobStatus(
        path=str(store.path),
        batches=frame,
        total=state.n_requests,
        done=min(int(frame["done"].sum()), state.n_requests) if rows else 0,
        failed=int(frame["failed"].sum()) if rows else 0,
        finished=all(_is_finished(r) for r in latest.values()),
    )


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
    fill_status = pl.lit("missing")
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


def _results_of(store: JobStore, state: JobState) -> pl.DataFrame:
    submitted = _submitted_frame(store, state)
    collected = _collected_frame(store, state)
    _warn_unsubmitted(collected, submitted)
    joined = submitted.join(collected, on=["custom_id", "_key"], how="left", maintain_order="left")
    best = _best_per_id(_fill_unanswered(joined))
    order = store.read_requests().select("custom_id").with_row_index("_order")
    ordered = best.join(order, on="custom_id", how="left").sort("_order")
    return ordered.select(*RESULT_SCHEMA, "batch_id")


def _retryable(include_canceled: bool, include_invalid: bool) -> pl.Expr:
    status = pl.col("result_status")
    errored_ok = ~pl.col("error_type").is_in(list(NON_RETRYABLE_ERRORS)).fill_null(False)
    if include_invalid:
        errored_ok = pl.lit(True)
    expr = status.is_in(["expired", "missing"]) | ((status == "errored") & errored_ok)
    if include_canceled:
        expr = expr | (status == "canceled")
    return expr


# --------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm.auto bar of requests done out of total (Jupyter and terminals)."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="req", dynamic_ncols=True)

    def __call__(self, state: JobState) -> None:
        if self.bar is None:
            return
        done = sum(r.n_requests if _is_finished(r) else r.done for r in state.batches)
        self.bar.n = min(done, self.bar.total)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- the Job


def _resume_hint(path: Path) -> str:
    return (
        f"The job is saved in {str(path)!r}; nothing already accepted will be sent again. "
        f"Resume with siraya_frames.Job.open({str(path)!r}).wait() "
        f"or `siraya-frames wait {path}`."
    )


class Job:
    """A submitted set of requests: its batches, their progress and their results.

    Open an existing job with :meth:`Job.open`; make one with :func:`submit`.
    """

    def __init__(self, path: str | os.PathLike[str], *, client: Any = None) -> None:
        self._store = JobStore(path)
        self._state = self._store.load()
        self._client = client

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, client: Any = None) -> Job:
        """Re-attach to the job saved in ``path``, from any process.

        Parameters
        ----------
        path
            The job directory.
        client
            A :class:`SirayaClient`; by default one is made for the job's base URL with the
            key from ``SIRAYA_API_KEY``.
        """
        return cls(path, client=client)

    @property
    def path(self) -> Path:
        """The job directory."""
        return self._store.path

    @property
    def job_id(self) -> str:
        """A stable id derived from the requests and the service URL."""
        return self._state.job_id

    @property
    def batch_ids(self) -> list[str]:
        """The ids of the batches created so far."""
        return [r.batch_id for r in self._state.batches if r.batch_id]

    @property
    def provenance(self) -> dict[str, Any]:
        """What the job records about how its requests were made (template, models...)."""
        return dict(self._state.provenance)

    def __repr__(self) -> str:
        return f"Job({str(self.path)!r}, batches={len(self._state.batches)})"

    def _sync_client(self) -> SirayaClient:
        if self._client is None:
            self._client = SirayaClient(base_url=self._state.base_url)
        return self._client

    def _run(self, steps: Steps, client: Any = None) -> Any:
        try:
            return drive(steps, client or self._sync_client())
        except SirayaError as exc:
            exc.add_note(_resume_hint(self.path))
            raise

    def submit_pending(self) -> Job:
        """Create the batches whose intent is recorded but whose id is not (after a crash)."""
        self._run(_submit_steps(self._store, self._state, {}))
        return self

    def status(self, *, refresh: bool = True) -> JobStatus:
        """Poll each unfinished batch once (unless ``refresh=False``) and report progress."""
        if refresh:
            self._run(_poll_steps(self._store, self._state))
        return _status_of(self._store, self._state)

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool = True,
        schedule: PollSchedule | None = None,
    ) -> Job:
        """Block until every batch has ended and its results are saved.

        Polling is quick at first and backs off to ``schedule.maximum`` seconds, never
        past a batch's expiry. Ctrl-C stops waiting without cancelling the batches.

        Raises
        ------
        WaitTimeoutError
            When ``timeout`` seconds pass first; the batches keep running.
        """
        bar = _Progress(progress, self._state.n_requests, "siraya batch")
        deadline = time.time() + timeout if timeout is not None else None
        steps = _wait_steps(self._store, self._state, schedule or PollSchedule(), bar, deadline)
        try:
            self._run(steps)
        except KeyboardInterrupt:
            logger.warning("stopped waiting. %s", _resume_hint(self.path))
            print(f"\nStopped waiting; the batches keep running. {_resume_hint(self.path)}")
            raise
        finally:
            bar.close()
        return self

    async def wait_async(
        self,
        client: AsyncSirayaClient | None = None,
        *,
        timeout: float | None = None,
        progress: bool = True,
        schedule: PollSchedule | None = None,
    ) -> Job:
        """The awaitable :meth:`wait`, with an :class:`AsyncSirayaClient`."""
        client = client or AsyncSirayaClient(base_url=self._state.base_url)
        bar = _Progress(progress, self._state.n_requests, "siraya batch")
        deadline = time.time() + timeout if timeout is not None else None
        steps = _wait_steps(self._store, self._state, schedule or PollSchedule(), bar, deadline)
        try:
            await adrive(steps, client)
        except SirayaError as exc:
            exc.add_note(_resume_hint(self.path))
            raise
        finally:
            bar.close()
        return self

    def cancel(self) -> JobStatus:
        """Cancel every unfinished batch; finished results stay collectable with :meth:`wait`."""
        self._run(_cancel_steps(self._store, self._state))
        return _status_of(self._store, self._state)

    def results(self) -> pl.DataFrame:
        """One row per submitted ``custom_id`` with its outcome.

        Columns: ``custom_id``, ``result_status`` (succeeded, errored, canceled, expired or
        missing), ``response_text``, ``stop_reason``, ``model``, ``input_tokens``,
        ``output_tokens``, ``error_type``, ``error_message``, ``batch_id``.
        """
        return _results_of(self._store, self._state)

    def retry_failed(
        self,
        *,
        include_canceled: bool = False,
        include_invalid: bool = False,
        max_rounds: int = 1,
        wait: bool = True,
        progress: bool = True,
    ) -> Job:
        """Resubmit only the outcomes a resend can fix, in at most ``max_rounds`` rounds.

        Retried: errored with a transient error type, expired, missing; canceled when
        ``include_canceled``; invalid-request errors only when ``include_invalid``. The new
        results merge into this job: a success from any round wins.
        """
        for _ in range(max_rounds):
            ids = self.results().filter(_retryable(include_canceled, include_invalid))
            if ids.is_empty():
                break
            requests = ids.select("custom_id").join(
                self._store.read_requests(), on="custom_id", how="left", maintain_order="left"
            )
            bodies = _plan_round(self._store, self._state, requests, _next_round(self._state))
            self._run(_submit_steps(self._store, self._state, bodies))
            if not wait:
                break
            self.wait(progress=progress)
        return self

    def add_requests(self, requests: pl.DataFrame) -> int:
        """Plan and submit the requests this job does not hold yet; return how many."""
        held = self._store.read_requests()
        new = requests.join(held.select("custom_id"), on="custom_id", how="anti")
        if new.is_empty():
            return 0
        self._store.write_requests(pl.concat([held, new]))
        self._state.n_requests += new.height
        bodies = _plan_round(self._store, self._state, new, _next_round(self._state))
        self._run(_submit_steps(self._store, self._state, bodies))
        return new.height


def _new_job(
    store: JobStore,
    unique: pl.DataFrame,
    job_id: str,
    base_url: str,
    limits: tuple[int, int],
    provenance: dict[str, Any],
) -> tuple[JobState, dict[str, BatchPayload]]:
    state = JobState(
        job_id=job_id,
        base_url=base_url,
        max_requests=limits[0],
        max_bytes=limits[1],
        n_requests=unique.height,
        provenance=provenance,
    )
    store.write_requests(unique)
    return state, _plan_round(store, state, unique, 0)


def submit(
    requests: pl.DataFrame | pl.LazyFrame,
    *,
    client: SirayaClient | None = None,
    job_dir: str | os.PathLike[str] | None = None,
    max_requests: int = _config.DEFAULT_MAX_REQUESTS,
    max_bytes: int = _config.DEFAULT_MAX_BYTES,
    provenance: dict[str, Any] | None = None,
) -> Job:
    """Send each unique request once, split into batches, and return the :class:`Job`.

    Re-running the same call re-attaches to the same job (the default ``job_dir`` is derived
    from the requests and the service URL) and sends only requests the job does not hold.

    Parameters
    ----------
    requests
        The output of :func:`build_requests` (or a frame of ``custom_id``, ``params_json``).
    client
        A :class:`SirayaClient`; by default one from ``SIRAYA_API_KEY`` / ``SIRAYA_BASE_URL``.
    job_dir
        Where the job lives; default ``./.siraya_frames/job-<id>``.
    max_requests, max_bytes
        Per-batch limits for the planner.
    provenance
        Extra facts to record in the job and, later, in the Parquet metadata.
    """
    client = client or SirayaClient()
    unique = unique_requests(requests)
    if unique.is_empty():
        raise JobError("there are no requests to submit (every row was skipped or empty)")
    job_id = _job_id(unique["custom_id"], client.base_url)
    store = JobStore(job_dir if job_dir is not None else _default_job_dir(job_id))
    if store.exists():
        return _reattach(store, unique, client)
    state, bodies = _new_job(
        store, unique, job_id, client.base_url, (max_requests, max_bytes), provenance or {}
    )
    job = Job(store.path, client=client)
    job._state = state
    job._run(_submit_steps(store, state, bodies))
    return job


def _reattach(store: JobStore, unique: pl.DataFrame, client: SirayaClient) -> Job:
    job = Job(store.path, client=client)
    if job._state.base_url != client.base_url:
        raise JobError(
            f"the job in {str(store.path)!r} was submitted to {job._state.base_url}, but the "
            f"client points at {client.base_url}; pass a client for that service, or another "
            "job_dir"
        )
    logger.info("re-attaching to the job in %s", store.path)
    job.submit_pending()
    added = job.add_requests(unique)
    if added:
        logger.info("submitted %d requests the job did not hold yet", added)
    return job


def iter_jobs(root: str | os.PathLike[str] | None = None) -> Iterable[Path]:
    """The job directories under ``root`` (default ``./.siraya_frames``)."""
    base = Path(root or _config.resolve_job_root())
    return sorted(p.parent for p in base.glob("*/job.json"))
