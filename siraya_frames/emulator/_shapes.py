"""Wire formats: what each dialect and result format looks like on the wire.

Pure functions from stored records (`Batch`, `ResultRow`) to JSON-ready dicts.

Dialects (chosen at start):

* ``quickstart`` (Siraya quickstart page): create answers ``{"batch": {OpenAI batch object},
  "batch_id", "file", "file_id", "task_id", "task_status"}``; GET answers the flat batch
  object until the batch ends, then the results as JSONL. As on the page, ``request_counts``
  shows ``total: 0`` while ``validating``.
* ``reference`` (Siraya API reference pages): flat ``{"id", "object", "status", ...}`` with
  statuses pending / processing / completed / failed / cancelled (an expired batch shows
  ``failed``); an ended GET has the results inline under ``results``. Cancel ends the batch
  at once (the page says the answer is ``cancelled``).
* ``infron`` (Infron / OneRouter): create as ``quickstart``; GET and cancel answer a flat
  task object with upper-case statuses NOT_START, RUNNING (also while cancelling),
  PROCESSING (finalizing), SUCCESS, CANCELLED, EXPIRED, and, once ended, a ``result_url``.

Result line formats (``quickstart`` GET and the infron result file): ``anthropic``
(``{"custom_id", "result": {"type": ...}}``) or ``openai``
(``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``).

Examples
--------
>>> error_envelope("Invalid API Key", "invalid_request_error", 401)
{'error': {'message': 'Invalid API Key', 'type': 'invalid_request_error', 'param': None, 'code': 401}}
"""  # noqa: E501

from __future__ import annotations

import hashlib
import math
from typing import Any

from siraya_frames.emulator._model import (
    CANCELED,
    CANCELLED,
    CANCELLING,
    COMPLETED,
    ERRORED,
    EXPIRED,
    EXPIRED_RESULT,
    FINALIZING,
    IN_PROGRESS,
    SUCCEEDED,
    VALIDATING,
    Batch,
    ResultRow,
)

COMPLETION_WINDOW_LABEL = "24h"

INFRON_STATUS = {
    VALIDATING: "NOT_START",
    IN_PROGRESS: "RUNNING",
    CANCELLING: "RUNNING",
    FINALIZING: "PROCESSING",
    COMPLETED: "SUCCESS",
    CANCELLED: "CANCELLED",
    EXPIRED: "EXPIRED",
}
REFERENCE_STATUS = {
    VALIDATING: "pending",
    IN_PROGRESS: "processing",
    CANCELLING: "processing",
    FINALIZING: "processing",
    COMPLETED: "completed",
    CANCELLED: "cancelled",
    EXPIRED: "failed",
}
HTTP_STATUS_OF_ERROR = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_UNSENT = {
    CANCELED: ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    EXPIRED_RESULT: (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
}


def error_envelope(
    message: str, error_type: str, status: int, param: str | None = None
) -> dict[str, Any]:
    """Return Siraya's error body ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": status}}


def stable_hex(*parts: object, size: int = 12) -> str:
    """Return a deterministic hex id of ``2 * size`` characters for ``parts``.

    Examples
    --------
    >>> stable_hex("a", 1) == stable_hex("a", 1), len(stable_hex("a", size=4))
    (True, 8)
    """
    data = "\x1f".join(str(p) for p in parts).encode()
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def line_id(batch_id: str, idx: int) -> str:
    """Return a cheap deterministic 24-hex-digit id for request ``idx`` of a batch.

    Examples
    --------
    >>> line_id("batch_0a1b2c3d-0000-0000-0000-000000000000", 255)
    '0a1b2c3d00000000000000ff'
    """
    return f"{batch_id.removeprefix('batch_').replace('-', '')[:16]}{idx:08x}"


def _ts(value: float | None) -> int | None:
    return None if value is None else int(value)


# -- batch objects ---------------------------------------------------------------------------


def batch_object(b: Batch) -> dict[str, Any]:
    """Return the OpenAI-style batch object of the quickstart dialect."""
    total = 0 if b.status == VALIDATING else b.total
    return {
        "cancelled_at": _ts(b.cancelled_at),
        "cancelling_at": _ts(b.cancelling_at),
        "completed_at": _ts(b.completed_at),
        "completion_window": COMPLETION_WINDOW_LABEL,
        "created_at": int(b.created_at),
        "endpoint": "",
        "error_file_id": "",
        "errors": None,
        "expired_at": _ts(b.expired_at),
        "expires_at": int(b.expires_at),
        "failed_at": None,
        "finalizing_at": _ts(b.finalizing_at),
        "id": b.id,
        "in_progress_at": _ts(b.in_progress_at),
        "input_file_id": b.file_id,
        "metadata": None,
        "object": "batch",
        "output_file_id": f"file-{stable_hex(b.id, 'output', size=16)}" if b.finished else "",
        "request_counts": {"completed": b.completed, "failed": b.failed, "total": total},
        "status": b.status,
    }


def file_object(b: Batch) -> dict[str, Any]:
    """Return the input file object of a quickstart create answer."""
    return {
        "bytes": b.file_bytes,
        "created_at": int(b.created_at),
        "filename": "batch.jsonl",
        "id": b.file_id,
        "object": "file",
        "purpose": "batch",
        "status": "processed",
    }


def quickstart_create(b: Batch) -> dict[str, Any]:
    """Return the wrapped create answer of the quickstart page."""
    return {
        "batch": batch_object(b),
        "batch_id": b.id,
        "file": file_object(b),
        "file_id": b.file_id,
        "task_id": b.task_id,
        "task_status": INFRON_STATUS[b.status],
    }


def reference_object(b: Batch) -> dict[str, Any]:
    """Return the flat batch object of the API reference pages (without results)."""
    return {
        "id": b.id,
        "object": "batch",
        "status": REFERENCE_STATUS[b.status],
        "created_at": int(b.created_at),
        "expires_at": int(b.expires_at),
        "cancelled_at": _ts(b.cancelled_at),
        "completed_at": _ts(b.completed_at),
        "request_counts": {"completed": b.completed, "failed": b.failed, "total": b.total},
    }


def infron_status(b: Batch, result_url: str) -> dict[str, Any]:
    """Return Infron's flat task object; ``result_url`` is "" until the batch ends."""
    done = b.completed + b.failed
    return {
        "batch_id": b.id,
        "completed_count": b.completed,
        "completion_tokens": b.output_tokens,
        "error": "",
        "fail_reason": "",
        "failed_count": b.failed,
        "fees": "0.000000000",
        "finish_time": _ts(b.finished_at) or 0,
        "model": b.model,
        "progress": f"{math.floor(100 * done / b.total) if b.total else 0}%",
        "prompt_tokens": b.input_tokens,
        "result_url": result_url if b.finished else "",
        "start_time": _ts(b.in_progress_at) or 0,
        "status": INFRON_STATUS[b.status],
        "submit_time": int(b.created_at),
        "task_id": b.task_id,
        "total_requests": b.total,
        "total_tokens": b.input_tokens + b.output_tokens,
    }


def create_response(dialect: str, b: Batch) -> dict[str, Any]:
    """Return the create answer of a dialect."""
    if dialect == "reference":
        return reference_object(b)
    return quickstart_create(b)


def status_response(dialect: str, b: Batch, result_url: str = "") -> dict[str, Any]:
    """Return the status object of a dialect (GET of an unfinished batch, and cancel)."""
    if dialect == "reference":
        return reference_object(b)
    if dialect == "infron":
        return infron_status(b, result_url)
    return batch_object(b)


# -- result lines ----------------------------------------------------------------------------


def chat_completion(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return the chat.completion body of a succeeded request."""
    return {
        "id": f"chatcmpl-{line_id(b.id, r.idx)}",
        "object": "chat.completion",
        "created": int(r.processed_at or b.created_at),
        "model": r.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": r.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "length" if r.stop_reason == "max_tokens" else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": r.input_tokens,
            "completion_tokens": r.output_tokens,
            "total_tokens": r.input_tokens + r.output_tokens,
        },
    }


def anthropic_line(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return an Anthropic Message Batches result line."""
    if r.kind == SUCCEEDED:
        message = {
            "id": f"msg_{line_id(b.id, r.idx)}",
            "type": "message",
            "role": "assistant",
            "model": r.model,
            "content": [{"type": "text", "text": r.text}],
            "stop_reason": r.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens},
        }
        return {"custom_id": r.custom_id, "result": {"type": "succeeded", "message": message}}
    if r.kind == ERRORED:
        error = {
            "type": "error",
            "error": {"type": r.error_type, "message": r.error_message},
            "request_id": f"req_{line_id(b.id, r.idx)}",
        }
        return {"custom_id": r.custom_id, "result": {"type": "errored", "error": error}}
    return {"custom_id": r.custom_id, "result": {"type": r.kind}}


def openai_line(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return an OpenAI batch output line (``error`` set for anything but success)."""
    line: dict[str, Any] = {"id": f"batch_req_{line_id(b.id, r.idx)}"}
    line["custom_id"] = r.custom_id
    if r.kind == SUCCEEDED:
        line["response"] = {
            "status_code": 200,
            "request_id": line_id(b.id, r.idx),
            "body": chat_completion(b, r),
        }
        line["error"] = None
        return line
    code, message = _unsent_or_error(r)
    line["response"] = None
    line["error"] = {"code": code, "message": message}
    return line


def reference_result(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return one item of the reference dialect's inline ``results``."""
    if r.kind == SUCCEEDED:
        response = {"status": 200, "body": chat_completion(b, r)}
        return {"custom_id": r.custom_id, "response": response}
    code, message = _unsent_or_error(r)
    if r.kind != ERRORED:
        error = {"type": code, "message": message}
        return {"custom_id": r.custom_id, "response": None, "error": error}
    status = HTTP_STATUS_OF_ERROR.get(code, 500)
    body = error_envelope(message, code, status)
    return {
        "custom_id": r.custom_id,
        "response": {"status": status, "body": body},
        "error": {"type": code, "message": message, "code": status},
    }


def _unsent_or_error(r: ResultRow) -> tuple[str, str]:
    if r.kind in _UNSENT:
        return _UNSENT[r.kind]
    return r.error_type or "api_error", r.error_message or ""


def result_line(results_format: str, b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return the result line of ``r`` in ``results_format`` (``anthropic`` or ``openai``)."""
    if results_format == "openai":
        return openai_line(b, r)
    return anthropic_line(b, r)
