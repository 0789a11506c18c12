"""Submit: intents first, then creates, so that no batch is ever paid for twice.

For each planned batch the intent (its ids and a deterministic ``Idempotency-Key``) is saved
in the job directory *before* the create is sent, and the batch id *after*. A create whose
answer was lost is resent with the same key, and the service returns the batch it already
made. The steps are generators driven by ``_polling.drive`` / ``adrive``.
"""

from __future__ import annotations

import logging
import sys

import polars as pl

from siraya_frames._create import create_steps
from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._plan import BatchPayload, plan_batches
from siraya_frames._polling import Steps
from siraya_frames._protocols import get_protocol
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._store import BatchRecord, JobState, JobStore, utc_now

logger = logging.getLogger("siraya_frames")

__all__ = ["apply_state", "next_round", "plan_round", "submit_steps"]


def plan_round(
    store: JobStore, state: JobState, requests: pl.DataFrame, round_no: int
) -> dict[str, BatchPayload]:
    """Record intents for ``requests`` (custom_id, params_json); return the bodies by key."""
    payloads = plan_batches(
        requests,
        max_requests=state.max_requests,
        max_bytes=state.max_bytes,
        encoding=get_protocol(state.protocol).encoding,
    )
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


def next_round(state: JobState) -> int:
    return 1 + max((b.round for b in state.batches), default=-1)


def _body_for(
    store: JobStore, rec: BatchRecord, bodies: dict[str, BatchPayload], protocol: str = "siraya"
) -> bytes:
    """The body planned for ``rec`` (taken out of ``bodies``, so that it is freed once sent),
    or, after a restart, the same body rebuilt from the saved ids and requests."""
    if rec.key in bodies:
        return bodies.pop(rec.key).body
    ids = pl.DataFrame({"custom_id": store.read_ids(rec.key)})
    requests = ids.join(store.read_requests(), on="custom_id", how="left", maintain_order="left")
    encoding = get_protocol(protocol).encoding
    (payload,) = plan_batches(
        requests, max_requests=len(ids) + 1, max_bytes=sys.maxsize, encoding=encoding
    )
    return payload.body


def apply_state(rec: BatchRecord, state: BatchState) -> None:
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
    rec.result_urls = list(state.result_urls) or rec.result_urls
    rec.error = state.error or rec.error


def submit_steps(store: JobStore, state: JobState, bodies: dict[str, BatchPayload]) -> Steps:
    """Create every batch whose intent is recorded but whose id is not."""
    for rec in state.batches:
        if rec.status != "planned":
            continue
        logger.info("creating batch %s (%d requests)", rec.key, rec.n_requests)
        answer = yield from create_steps(
            store, state, rec, lambda rec=rec: _body_for(store, rec, bodies, state.protocol)
        )
        if not answer.batch_id:
            raise UnexpectedResponseError(f"the create of batch {rec.key} returned no batch id")
        rec.batch_id = answer.batch_id
        rec.submitted_at = utc_now()
        apply_state(rec, answer)
        store.save(state)
