"""The create of one planned batch, on any protocol, never twice.

Order, each step saved in the job's state (``store.save_batch``) before the next is sent:

1. file protocols (OpenAI): ``upload_started_at``, the upload, then ``input_file_id``; a
   resume that finds the id reuses the file instead of uploading again;
2. ``create_sent_at``, then the create (with the job's ``Idempotency-Key`` header and, where
   the protocol has batch metadata, the key in the metadata);
3. the batch id (saved by ``_submit.submit_steps``).

A resume that finds ``create_sent_at`` without a batch id does not know whether the service
accepted the create. Where the protocol can list batches with their metadata (OpenAI) the
batch is looked for first, by its key or its input file; Siraya relies on the
``Idempotency-Key``; Anthropic documents neither, so there the create is sent again (the
README names that window).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from siraya_frames._errors import APIConnectionError, ServerError
from siraya_frames._polling import Call, Steps
from siraya_frames._protocols import get_protocol
from siraya_frames._protocols._base import METADATA_KEY
from siraya_frames._shapes import BatchState
from siraya_frames._store import BatchRecord, JobState, JobStore, utc_now

logger = logging.getLogger("siraya_frames")

__all__ = ["MAX_LIST_PAGES", "create_steps", "find_steps"]

MAX_LIST_PAGES = 10
"""List pages (of 100 batches) searched for a batch whose create answer was lost."""


def _ours(found: BatchState, rec: BatchRecord) -> bool:
    key = (found.metadata or {}).get(METADATA_KEY)
    same_file = rec.input_file_id is not None and found.input_file_id == rec.input_file_id
    return key == rec.idempotency_key or same_file


def find_steps(rec: BatchRecord) -> Steps:
    """Look through recent batches for the one ``rec`` created; return it, or None."""
    after = None
    for _ in range(MAX_LIST_PAGES):
        states, after = yield Call("list_batches", (), {"after": after})
        for found in states:
            if _ours(found, rec):
                return found
        if after is None:
            break
    return None


def _upload_steps(store: JobStore, state: JobState, rec: BatchRecord, payload: bytes) -> Steps:
    rec.upload_started_at = utc_now()
    store.save_batch(rec)
    logger.info("uploading the request file of batch %s (%d bytes)", rec.key, len(payload))
    rec.input_file_id = yield Call(
        "upload_file",
        (payload,),
        {"filename": f"{rec.key}.jsonl", "idempotency_key": f"{rec.idempotency_key}-file"},
    )
    store.save_batch(rec)


def create_steps(
    store: JobStore, state: JobState, rec: BatchRecord, payload: Callable[[], bytes]
) -> Steps:
    """Create the batch of ``rec`` (its planned payload made by ``payload()`` when needed);
    return the service's answer."""
    wire = get_protocol(state.protocol)
    if rec.create_sent_at and wire.finds_lost_creates:
        found = yield from find_steps(rec)
        if found is not None:
            logger.info("batch %s was created before its answer was lost: %s", rec.key, found)
            return found
    elif rec.create_sent_at:
        logger.warning(
            "the create of batch %s may have been sent already (at %s); sending it again "
            "with the same Idempotency-Key",
            rec.key,
            rec.create_sent_at,
        )
    kwargs: dict[str, object] = {"idempotency_key": rec.idempotency_key}
    body = b""
    if wire.uploads_file:
        if rec.input_file_id is None:
            yield from _upload_steps(store, state, rec, payload())
        kwargs.update(input_file_id=rec.input_file_id, metadata={METADATA_KEY: rec.idempotency_key})
    else:
        body = payload()
    rec.create_sent_at = utc_now()
    store.save_batch(rec)
    try:
        return (yield Call("create_batch", (body,), kwargs))
    except (APIConnectionError, ServerError):
        if not wire.finds_lost_creates:
            raise
        found = yield from find_steps(rec)  # the answer was lost: was the batch made?
        if found is None:
            raise
        return found
