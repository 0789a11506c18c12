"""Submit: intents first, then creates, so that no batch is ever paid for twice.

For each planned batch the intent (its ids and an ``Idempotency-Key`` derived from the job, the
batch key and a hash of the exact body) is saved in the job directory *before* the create is
sent, and the batch id *after*. A create whose answer was lost is resent with the saved key,
and the service returns the batch it already made; a different body never reuses a key.

A round is planned (and checked against the limits) before anything is written; then its ids
files, then ``requests.parquet`` with any new requests, then the job's state with the intents
and ``n_requests`` (one transaction). The first ``n_requests`` rows of ``requests.parquet``
are planned; rows after them (a run cut short before its intents were saved) are planned
again by the next call. The steps are generators driven by ``_polling.drive`` / ``adrive``.
"""

from __future__ import annotations

import hashlib
import logging
import sys

import polars as pl

from siraya_frames._config import DEFAULT_MAX_CONCURRENCY
from siraya_frames._create import create_steps
from siraya_frames._errors import APIStatusError, IdempotencyConflictError, UnexpectedResponseError
from siraya_frames._plan import BatchPayload, plan_batches
from siraya_frames._polling import Steps, side_by_side
from siraya_frames._protocols import get_protocol
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._store import BatchRecord, JobState, JobStore, utc_now

logger = logging.getLogger("siraya_frames")

__all__ = [
    "apply_state",
    "creates_width",
    "idempotency_key",
    "key_of_digest",
    "next_round",
    "plan_added",
    "plan_round",
    "set_result_cap",
    "submit_steps",
    "unplanned_requests",
]


def idempotency_key(job_id: str, key: str, body: bytes) -> str:
    """The ``Idempotency-Key`` of one create: the job, the batch key and the body's hash.

    Examples
    --------
    >>> idempotency_key("j1", "r0-b0000", b'{"requests":[]}')
    'sf-j1-r0-b0000-502b50c10db13457685b5a8025d8b576'
    >>> a, b = (idempotency_key("j1", "r0-b0000", body) for body in (b"{1}", b"{2}"))
    >>> a == b
    False
    """
    return key_of_digest(job_id, key, hashlib.sha256(body).hexdigest())


def key_of_digest(job_id: str, key: str, sha256: str) -> str:
    """:func:`idempotency_key` from the body's hex SHA-256 (a plan keeps it, not the body).

    Examples
    --------
    >>> body = b'{"requests":[]}'
    >>> key_of_digest("j1", "r0-b0000", hashlib.sha256(body).hexdigest()) == idempotency_key(
    ...     "j1", "r0-b0000", body)
    True
    """
    return f"sf-{job_id}-{key}-{sha256[:32]}"


def _record_intents(
    store: JobStore, state: JobState, payloads: list[BatchPayload], round_no: int
) -> dict[str, BatchPayload]:
    """Write each batch's ids and add its intent to ``state`` (not saved yet).

    The key hashes the body as planned (its SHA-256 was taken then); no body is built here.
    """
    bodies = {}
    for payload in payloads:
        key = f"r{round_no}-b{payload.index:04d}"
        store.write_ids(key, list(payload.custom_ids))
        state.batches.append(
            BatchRecord(
                key=key,
                round=round_no,
                idempotency_key=key_of_digest(state.job_id, key, payload.sha256),
                n_requests=payload.n_requests,
                planned_at=utc_now(),
            )
        )
        bodies[key] = payload
    return bodies


def _plan(state: JobState, requests: pl.DataFrame) -> list[BatchPayload]:
    return plan_batches(
        requests,
        max_requests=state.max_requests,
        max_bytes=state.max_bytes,
        encoding=get_protocol(state.protocol).encoding,
    )


def plan_round(
    store: JobStore, state: JobState, requests: pl.DataFrame, round_no: int
) -> dict[str, BatchPayload]:
    """Record intents for ``requests`` (custom_id, params_json); return the bodies by key."""
    first = len(state.batches)
    bodies = _record_intents(store, state, _plan(state, requests), round_no)
    store.save_job(state, batches=state.batches[first:])  # the round's intents: one transaction
    return bodies


def unplanned_requests(store: JobStore, state: JobState) -> pl.DataFrame:
    """The requests saved in ``requests.parquet`` after its first ``state.n_requests`` rows:
    held, but in no batch, because the run that added them stopped before saving intents."""
    if store.count_requests() <= state.n_requests:
        return pl.DataFrame(schema={"custom_id": pl.String, "params_json": pl.String})
    return store.read_requests().slice(state.n_requests)


def plan_added(
    store: JobStore, state: JobState, held: pl.DataFrame, new: pl.DataFrame
) -> dict[str, BatchPayload]:
    """Plan, as one new round, the ``held`` requests not planned yet and the ``new`` ones.

    ``held`` is the job's ``requests.parquet`` (empty for a new job), ``new`` the requests
    it does not hold. Nothing is written until the round is planned (a
    :class:`BatchLimitError` leaves the job as it was); the state is saved last.
    """
    pending = pl.concat([held.slice(state.n_requests), new.select(held.columns)])
    if pending.is_empty():
        return {}
    payloads = _plan(state, pending)
    first = len(state.batches)
    bodies = _record_intents(store, state, payloads, next_round(state))
    state.max_tokens = max(state.max_tokens or 0, largest_max_tokens(pending)) or None
    if new.height:
        store.write_requests(pl.concat([held, new.select(held.columns)]))
    state.n_requests = held.height + new.height
    store.save_job(state, batches=state.batches[first:])
    return bodies


def largest_max_tokens(requests: pl.DataFrame) -> int:
    """The largest ``max_tokens`` in ``requests.params_json`` (0 when none is readable).

    Examples
    --------
    >>> largest_max_tokens(pl.DataFrame({"params_json": ['{"max_tokens":5}', '{"x":1}']}))
    5
    """
    found = requests["params_json"].str.extract(r'"max_tokens":(\d{1,18})[,}]').cast(pl.Int64)
    largest = found.max()
    return largest if isinstance(largest, int) else 0


def next_round(state: JobState) -> int:
    return 1 + max((b.round for b in state.batches), default=-1)


def _body_for(
    store: JobStore, rec: BatchRecord, bodies: dict[str, BatchPayload], protocol: str = "siraya"
) -> bytes:
    """The body of ``rec``, built now from its planned rows (taken out of ``bodies``, so that
    only the batch being sent has a body), or, after a restart, the same body rebuilt from
    the saved ids and requests."""
    if rec.key in bodies:
        return bodies.pop(rec.key).body
    ids = pl.DataFrame({"custom_id": store.read_ids(rec.key)})
    requests = ids.join(store.read_requests(), on="custom_id", how="left", maintain_order="left")
    encoding = get_protocol(protocol).encoding
    (payload,) = plan_batches(
        requests, max_requests=len(ids) + 1, max_bytes=sys.maxsize, encoding=encoding
    )
    return payload.body


def _conflict(store: JobStore, rec: BatchRecord, exc: APIStatusError) -> IdempotencyConflictError:
    return IdempotencyConflictError(
        f"the service refused the create of batch {rec.key} of the job in "
        f"{str(store.path)!r}: its Idempotency-Key {rec.idempotency_key!r} was already used "
        f"with a different body ({exc.message}). Nothing was sent twice. Submit into another "
        "job_dir (or delete this one) so that the requests get new keys",
        status_code=409,
        error_type=exc.error_type,
    )


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


def submit_steps(
    store: JobStore,
    state: JobState,
    bodies: dict[str, BatchPayload],
    *,
    width: int = DEFAULT_MAX_CONCURRENCY,
    only: list[BatchRecord] | None = None,
) -> Steps:
    """Create every batch whose intent is recorded but whose id is not (of ``only``, when
    given), ``width`` at a time (one at a time where a lost create cannot be recovered: see
    ``_recovers_lost_creates``).

    Each create saves its own batch (intent before the call, id right after its answer), so
    one failing create loses none of the ids the others in flight got; its error is raised
    once they are saved.
    """
    planned = (rec for rec in (state.batches if only is None else only) if rec.status == "planned")
    creates = (_create_one(store, state, rec, bodies) for rec in planned)
    yield from side_by_side(creates, width=creates_width(state, width))


def creates_width(state: JobState, width: int) -> int:
    """Creates in flight at once: ``width``, or 1 where a lost create cannot be recovered."""
    return width if _recovers_lost_creates(state) else 1


def _recovers_lost_creates(state: JobState) -> bool:
    """Whether a create whose answer a kill lost can be recovered without buying the batch
    twice (the service honours the Idempotency-Key, or the list finds the batch). Where it
    cannot (Anthropic documents neither), creates go one at a time: a kill then leaves at
    most one create in doubt, not one per call in flight."""
    wire = get_protocol(state.protocol)
    return wire.honours_idempotency_key or wire.finds_lost_creates


def _create_one(
    store: JobStore, state: JobState, rec: BatchRecord, bodies: dict[str, BatchPayload]
) -> Steps:
    logger.info("creating batch %s (%d requests)", rec.key, rec.n_requests)
    try:
        answer = yield from create_steps(
            store, state, rec, lambda: _body_for(store, rec, bodies, state.protocol)
        )
    except APIStatusError as exc:
        if exc.status_code == 409:
            raise _conflict(store, rec, exc) from exc
        raise
    if not answer.batch_id:
        raise UnexpectedResponseError(f"the create of batch {rec.key} returned no batch id")
    rec.batch_id = answer.batch_id
    rec.submitted_at = utc_now()
    apply_state(rec, answer)
    store.save_batch(rec)


def set_result_cap(store: JobStore, state: JobState, cap: int) -> Steps:
    """Record a new cap on results downloads (a step with no call)."""
    state.max_result_bytes = cap
    store.save_job(state)
    yield from ()
