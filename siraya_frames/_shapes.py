"""Every documented shape of a batch response, normalised to one :class:`BatchState`.

Siraya's pages disagree with each other: the create response is wrapped (``{"batch": {...},
"batch_id": ...}``) or flat (``{"id": ..., "status": "pending"}``); statuses come from several
vocabularies (OpenAI's, Siraya's reference, Infron's upper-case task statuses, Anthropic's
``processing_status``); a finished GET holds JSONL, an inline ``results`` array or a
``result_url``. This module is pure: bytes and dicts in, dataclasses out.

Examples
--------
>>> state = parse_batch_object({"batch": {"id": "batch_1", "status": "validating"}})
>>> state.batch_id, state.status
('batch_1', <BatchStatus.PENDING: 'pending'>)
>>> normalize_status("SUCCESS")
<BatchStatus.COMPLETED: 'completed'>
"""

from __future__ import annotations

import enum
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._guards import count_of, loads

logger = logging.getLogger("siraya_frames")

__all__ = [
    "BatchState",
    "BatchStatus",
    "batch_id_of",
    "normalize_status",
    "parse_batch_object",
    "parse_get_body",
    "parse_timestamp",
]


class BatchStatus(enum.StrEnum):
    """One status vocabulary for every dialect.

    Terminal statuses are ``completed``, ``failed``, ``expired`` and ``cancelled``.
    ``unknown`` is a status no documented dialect has: it is logged and polled again.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True when the batch will not change any more."""
        return self in _TERMINAL


_TERMINAL = {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}

_VOCABULARY: dict[str, BatchStatus] = {
    **dict.fromkeys(
        ["validating", "pending", "not_start", "queued", "submitted", "created"],
        BatchStatus.PENDING,
    ),
    **dict.fromkeys(
        ["in_progress", "processing", "running", "progress", "started"], BatchStatus.IN_PROGRESS
    ),
    "finalizing": BatchStatus.FINALIZING,
    **dict.fromkeys(["cancelling", "canceling", "cancellation_requested"], BatchStatus.CANCELLING),
    **dict.fromkeys(["completed", "success", "succeeded", "ended", "done"], BatchStatus.COMPLETED),
    **dict.fromkeys(["failed", "failure", "error"], BatchStatus.FAILED),
    **dict.fromkeys(["expired", "timeout_exceeded"], BatchStatus.EXPIRED),
    **dict.fromkeys(["cancelled", "canceled"], BatchStatus.CANCELLED),
}


def normalize_status(raw: object) -> BatchStatus:
    """Map a status from any documented vocabulary to :class:`BatchStatus`.

    Examples
    --------
    >>> [normalize_status(s).value for s in ("NOT_START", "processing", "ended", "canceled")]
    ['pending', 'in_progress', 'completed', 'cancelled']
    >>> normalize_status("teleporting")
    <BatchStatus.UNKNOWN: 'unknown'>
    """
    if not isinstance(raw, str):
        return BatchStatus.UNKNOWN
    return _VOCABULARY.get(raw.strip().lower(), BatchStatus.UNKNOWN)


@dataclass(frozen=True)
class BatchState:
    """What one response says about one batch.

    Attributes
    ----------
    batch_id : str or None
        The batch id, from ``id``, ``batch_id`` or ``batch.id``.
    status : BatchStatus
        The normalised status; ``raw_status`` keeps the service's word.
    total, done, failed : int or None
        Request counts, when the response has them (``done`` includes ``failed``).
    expires_at : float or None
        Unix time after which the service expires the batch.
    result_url : str or None
        Where the results file lives, for dialects that link to it.
    results : bytes or None
        The results themselves (JSONL, or a JSON document with ``results``) when the
        response carried them.
    error : str or None
        The batch-level error message of a failed batch.
    results_path : str or None
        The file the results were saved to, when the client streamed them to disk.
    result_urls : tuple of str
        Every file that holds results (OpenAI: the output file and the error file), as
        absolute URLs once the client has resolved them; ``result_url`` is the first.
    input_file_id : str or None
        The uploaded input file (file-based protocols).
    metadata : dict or None
        The batch's metadata (file-based protocols), used to find a batch after a lost answer.
    """

    batch_id: str | None
    status: BatchStatus
    raw_status: str | None = None
    total: int | None = None
    done: int | None = None
    failed: int | None = None
    expires_at: float | None = None
    result_url: str | None = None
    results: bytes | None = field(default=None, repr=False)
    error: str | None = None
    results_path: str | None = None
    result_urls: tuple[str, ...] = ()
    input_file_id: str | None = None
    metadata: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def has_results(self) -> bool:
        """True when the results came in this response (in memory or saved to a file)."""
        return self.results is not None or self.results_path is not None


def batch_id_of(obj: dict[str, Any]) -> str | None:
    """Return the batch id of a create or status object, in any documented shape.

    Examples
    --------
    >>> batch_id_of({"batch_id": "b1", "batch": {"id": "b1"}}), batch_id_of({"id": "b2"})
    ('b1', 'b2')
    """
    inner = obj.get("batch")
    candidates = [obj.get("batch_id"), inner.get("id") if isinstance(inner, dict) else None]
    candidates.append(obj.get("id"))
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def _raw_status(obj: dict[str, Any]) -> str | None:
    inner = obj.get("batch")
    if isinstance(inner, dict) and isinstance(inner.get("status"), str):
        return inner["status"]
    for key in ("processing_status", "status", "task_status"):
        if isinstance(obj.get(key), str):
            return obj[key]
    return None


def _inner(obj: dict[str, Any]) -> dict[str, Any]:
    """The batch object itself: Infron-style answers wrap it in ``{"batch": {...}}``."""
    inner = obj.get("batch")
    return inner if isinstance(inner, dict) else obj


def _counts(obj: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """Return (total, done, failed) from any documented counts shape."""
    inner = _inner(obj)
    counts = inner.get("request_counts")
    if isinstance(counts, dict) and "succeeded" in counts:  # Anthropic
        failed = sum(count_of(counts.get(k)) or 0 for k in ("errored", "canceled", "expired"))
        done = (count_of(counts.get("succeeded")) or 0) + failed
        return done + (count_of(counts.get("processing")) or 0), done, failed
    if isinstance(counts, dict):  # OpenAI / OpenRouter / Siraya quickstart
        done = (count_of(counts.get("completed")) or 0) + (count_of(counts.get("failed")) or 0)
        return count_of(counts.get("total")), done, count_of(counts.get("failed"))
    if "total_requests" in obj:  # Infron task object
        failed = count_of(obj.get("failed_count")) or 0
        done = (count_of(obj.get("completed_count")) or 0) + failed
        return count_of(obj.get("total_requests")), done, failed
    return None, None, None


def parse_timestamp(value: object) -> float | None:
    """Unix seconds from unix seconds (int, float or digits) or an RFC 3339 string.

    Examples
    --------
    >>> parse_timestamp("2024-09-25T18:37:24.100435Z")
    1727289444.100435
    >>> parse_timestamp(1727289444), parse_timestamp("2024-09-25T18:37:24+00:00")
    (1727289444.0, 1727289444.0)
    >>> parse_timestamp("soon") is None, parse_timestamp(float("nan")), parse_timestamp("1e999")
    (True, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 64:
            return None
    seconds: float | None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        seconds = _rfc3339(value) if isinstance(value, str) else None
    return seconds if seconds is not None and math.isfinite(seconds) else None


def _rfc3339(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _expires_at(obj: dict[str, Any]) -> float | None:
    return parse_timestamp(_inner(obj).get("expires_at"))


def _batch_error(obj: dict[str, Any]) -> str | None:
    for key in ("fail_reason", "error", "errors"):
        value = obj.get(key)
        if value:
            return value if isinstance(value, str) else json.dumps(value)[:500]
    return None


def parse_batch_object(obj: object, *, batch_id: str | None = None) -> BatchState:
    """Normalise a create, status or cancel response object.

    Parameters
    ----------
    obj
        The decoded JSON object.
    batch_id
        The id asked about, used when the object does not repeat it.

    Raises
    ------
    UnexpectedResponseError
        When ``obj`` is not an object or holds neither a status nor results.

    Examples
    --------
    >>> parse_batch_object({"id": "b1", "status": "cancelled", "cancelled_at": 1}).status.value
    'cancelled'
    """
    if not isinstance(obj, dict):
        raise UnexpectedResponseError(
            f"expected a JSON object describing a batch, got {type(obj).__name__}",
            batch_id=batch_id,
        )
    raw = _raw_status(obj)
    results = obj.get("results")
    status = normalize_status(raw)
    if raw is None and not isinstance(results, list):
        raise UnexpectedResponseError(
            f"the response has no batch status: {json.dumps(obj)[:300]}", batch_id=batch_id
        )
    batch_id = batch_id_of(obj) or batch_id
    if status is BatchStatus.UNKNOWN and raw is not None:
        logger.warning("batch %s has a status no documented dialect has: %r", batch_id, raw)
    total, done, failed = _counts(obj)
    url = obj.get("result_url") or obj.get("results_url")
    return BatchState(
        batch_id=batch_id,
        status=BatchStatus.COMPLETED if raw is None else status,
        raw_status=raw,
        total=total,
        done=done,
        failed=failed,
        expires_at=_expires_at(obj),
        result_url=url if isinstance(url, str) and url else None,
        result_urls=(url,) if isinstance(url, str) and url else (),
        results=json.dumps({"results": results}).encode() if isinstance(results, list) else None,
        error=_batch_error(obj) if status is BatchStatus.FAILED else None,
    )


def _is_result_line(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return b'"custom_id"' in line[:200]
    return isinstance(obj, dict) and "custom_id" in obj


def looks_like_jsonl_results(head: bytes, *, lines: int = 16) -> bool:
    """Tell from the first bytes of a body whether it is a JSONL results stream.

    A results stream has a line that is an object with a ``custom_id`` among its first
    ``lines`` lines (a bad first line must not hide the rest); a status object has none.

    Examples
    --------
    >>> looks_like_jsonl_results(b'{"custom_id": "a", "result": {}}\\n{"custom_id"')
    True
    >>> looks_like_jsonl_results(b'<<garbage>>\\n{"custom_id": "a", "result": {}}\\n')
    True
    >>> looks_like_jsonl_results(b'{"id": "b1", "status": "in_progress"}')
    False
    """
    candidates = (line for line in head.split(b"\n") if line.strip())
    return any(_is_result_line(line) for _, line in zip(range(lines), candidates, strict=False))


def parse_get_body(body: bytes, *, batch_id: str) -> BatchState:
    """Normalise the body of ``GET /v1/batches/{id}``: a status object or the results.

    Examples
    --------
    >>> parse_get_body(b'{"custom_id":"a","result":{"type":"canceled"}}\\n', batch_id="b").status
    <BatchStatus.COMPLETED: 'completed'>
    >>> parse_get_body(b'{"id":"b","status":"processing"}', batch_id="b").status
    <BatchStatus.IN_PROGRESS: 'in_progress'>
    """
    if not body.strip():
        raise UnexpectedResponseError(
            "the batch GET answered with an empty body", batch_id=batch_id
        )
    if looks_like_jsonl_results(body):
        return BatchState(batch_id=batch_id, status=BatchStatus.COMPLETED, results=body)
    what = "the batch GET answer (neither JSON nor JSONL results)"
    obj = loads(body, what=what, batch_id=batch_id)
    return parse_batch_object(obj, batch_id=batch_id)
