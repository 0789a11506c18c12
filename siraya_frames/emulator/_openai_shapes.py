"""The ``openai`` dialect's wire shapes, and the check of an uploaded batch input file.

Pure functions from stored records to JSON-ready dicts: the ``file`` and ``batch`` objects,
the ``chat.completion`` body (tool calls, reasoning and cached tokens included), and the lines
of the output file (succeeded requests) and of the error file (the rest). Per-request HTTP
failures are error-file lines with a ``response`` (status 4xx/5xx and an error body); only
requests that were never sent, expired (``batch_expired``) or left when the batch was
cancelled (``batch_cancelled``, the emulator's choice), get a top-level ``error`` and
``response: null``.

Examples
--------
>>> line = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}'
>>> requests, errors = check_input_file(line, endpoint="/v1/chat/completions", max_requests=9)
>>> requests[0][0], requests[0][2], errors
('a', 'm', [])
>>> check_input_file(b"not json", endpoint="/v1/chat/completions", max_requests=9)[1][0]["code"]
'invalid_json_line'
"""

from __future__ import annotations

import io
import json
from typing import Any

from siraya_frames.emulator._backends import count_words
from siraya_frames.emulator._files import StoredFile
from siraya_frames.emulator._model import (
    CANCELED,
    ERRORED,
    EXPIRED_RESULT,
    SUCCEEDED,
    VALIDATING,
    Batch,
    ResultRow,
)
from siraya_frames.emulator._shapes import HTTP_STATUS_OF_ERROR, line_id, stable_hex
from siraya_frames.emulator._validate import CUSTOM_ID_PATTERN

ENDPOINTS = ("/v1/chat/completions",)
OUTPUT_PREFIX = "file-output-"
ERROR_PREFIX = "file-errors-"
_UNSENT = {
    CANCELED: ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    EXPIRED_RESULT: (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
}
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """Return OpenAI's error envelope."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _ts(value: float | None) -> int | None:
    return None if value is None else int(value)


def file_object(f: StoredFile) -> dict[str, Any]:
    """Return the ``file`` object of an uploaded or generated file."""
    return {
        "id": f.id,
        "object": "file",
        "bytes": f.bytes,
        "created_at": int(f.created_at),
        "filename": f.filename,
        "purpose": f.purpose,
        "status": "processed",
    }


def output_ids(b: Batch, counts: dict[str, int]) -> tuple[str | None, str | None]:
    """Return the output and error file ids of a finished batch (None when empty)."""
    if not b.finished:
        return None, None
    hex_id = b.id.removeprefix("batch_")
    ok = counts.get(SUCCEEDED, 0)
    rest = sum(counts.values()) - ok
    return (OUTPUT_PREFIX + hex_id if ok else None, ERROR_PREFIX + hex_id if rest else None)


def batch_object(b: Batch, counts: dict[str, int]) -> dict[str, Any]:
    """Return the OpenAI ``batch`` object (``counts`` by result kind, once finished)."""
    meta = b.meta
    output_file_id, error_file_id = output_ids(b, counts)
    errors = meta.get("errors")
    return {
        "id": b.id,
        "object": "batch",
        "endpoint": meta.get("endpoint", ENDPOINTS[0]),
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": b.file_id,
        "completion_window": "24h",
        "status": b.status,
        "output_file_id": output_file_id,
        "error_file_id": error_file_id,
        "created_at": int(b.created_at),
        "in_progress_at": _ts(b.in_progress_at),
        "expires_at": int(b.expires_at),
        "finalizing_at": _ts(b.finalizing_at),
        "completed_at": _ts(b.completed_at),
        "failed_at": _ts(b.failed_at),
        "expired_at": _ts(b.expired_at),
        "cancelling_at": _ts(b.cancelling_at),
        "cancelled_at": _ts(b.cancelled_at),
        "request_counts": {
            "total": 0 if b.status == VALIDATING else b.total,
            "completed": b.completed,
            "failed": b.failed,
        },
        "metadata": meta.get("metadata"),
    }


def _tool_calls(b: Batch, r: ResultRow) -> list[dict[str, Any]]:
    return [
        {
            "id": call.get("id") or f"call_{stable_hex(b.id, r.idx, i)}",
            "type": "function",
            "function": {"name": call["name"], "arguments": _ENCODE(call["input"])},
        }
        for i, call in enumerate(r.extra.get("tool_calls") or [])
    ]


def chat_completion(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return the ``chat.completion`` body of a succeeded request."""
    calls = _tool_calls(b, r)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": r.text if r.text or not calls else None,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    finish = "tool_calls" if calls else "length" if r.stop_reason == "max_tokens" else "stop"
    cached = int(r.extra.get("cache_read_input_tokens", 0))
    reasoning = count_words(r.extra.get("thinking") or "")
    return {
        "id": f"chatcmpl-{line_id(b.id, r.idx)}",
        "object": "chat.completion",
        "created": int(r.processed_at or b.created_at),
        "model": r.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": r.input_tokens,
            "completion_tokens": r.output_tokens,
            "total_tokens": r.input_tokens + r.output_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "system_fingerprint": None,
    }


def result_line(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return the output-file line (succeeded) or error-file line (anything else) of ``r``."""
    line: dict[str, Any] = {"id": f"batch_req_{line_id(b.id, r.idx)}", "custom_id": r.custom_id}
    request_id = f"req_{line_id(b.id, r.idx)}"
    if r.kind == SUCCEEDED:
        body = chat_completion(b, r)
        line["response"] = {"status_code": 200, "request_id": request_id, "body": body}
        line["error"] = None
    elif r.kind == ERRORED:
        error_type = r.error_type or "api_error"
        param = (r.error_message or "").split(":")[0] or None
        param = param if error_type == "invalid_request_error" else None
        body = error_body(r.error_message or "", error_type, param)
        status = HTTP_STATUS_OF_ERROR.get(error_type, 500)
        line["response"] = {"status_code": status, "request_id": request_id, "body": body}
        line["error"] = None
    else:
        code, message = _UNSENT.get(r.kind or "", ("batch_failed", "This request was not run."))
        line["response"] = None
        line["error"] = {"code": code, "message": message}
    return line


# -- input file ------------------------------------------------------------------------------


def check_input_file(
    content: bytes, *, endpoint: str, max_requests: int
) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]]]:
    """Check a batch input file; return ``(custom_id, body_json, model)`` per line and the
    validation errors (``{code, line, message, param}``; any error fails the batch)."""
    requests: list[tuple[str, str, str]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    lines = (line for line in io.BytesIO(content) if line.strip())
    number = 0
    for number, raw in enumerate(lines, start=1):
        if number > max_requests:
            message = (
                f"The batch has at least {number} requests; at most {max_requests} are allowed."
            )
            return [], [_problem("too_many_requests", None, message, None)]
        item, problem = _check_line(raw, number, endpoint, seen)
        if problem is not None:
            errors.append(problem)
            continue
        seen.add(item["custom_id"])
        model = item["body"].get("model")
        requests.append(
            (item["custom_id"], _ENCODE(item["body"]), model if isinstance(model, str) else "")
        )
    if number == 0:
        errors.append(_problem("empty_file", None, "The input file has no requests.", None))
    return ([] if errors else requests), errors


def _problem(code: str, line: int | None, message: str, param: str | None) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": param}


def _check_line(
    raw: bytes, number: int, endpoint: str, seen: set[str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    try:
        item = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}, _problem("invalid_json_line", number, "This line is not valid JSON.", None)
    if not isinstance(item, dict):
        return {}, _problem("invalid_request", number, "Each line must be a JSON object.", None)
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.match(custom_id):
        message = "custom_id must be 1 to 64 letters, digits, '-' or '_'."
        return {}, _problem("invalid_custom_id", number, message, "custom_id")
    if custom_id in seen:
        message = f"The custom_id {custom_id!r} is used by an earlier line; they must be unique."
        return {}, _problem("duplicate_custom_id", number, message, "custom_id")
    if item.get("method") != "POST":
        return {}, _problem("invalid_method", number, 'method must be "POST".', "method")
    if item.get("url") != endpoint:
        message = f"url must be the batch endpoint {endpoint!r}, got {item.get('url')!r}."
        return {}, _problem("mismatched_endpoint", number, message, "url")
    if not isinstance(item.get("body"), dict):
        return {}, _problem("invalid_body", number, "body must be a JSON object.", "body")
    return item, None
