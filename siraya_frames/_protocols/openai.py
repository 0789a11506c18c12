"""OpenAI's file-based Batch API (also Azure OpenAI, Groq, Together, vLLM...).

The requests are a JSONL file of Chat Completions bodies (see ``_chat.py``), uploaded with
``POST /files`` (``purpose=batch``); ``POST /batches`` then names that file, the endpoint,
the 24 h window and our metadata. The batch object has OpenAI's statuses, unix-second
timestamps and ``request_counts{total, completed, failed}``; its results are two files,
``output_file_id`` and ``error_file_id`` (either may be null), read from
``/files/{id}/content``. The job's key is saved in the batch metadata, so a create whose
answer was lost is found again on the list endpoint instead of being sent twice.

Examples
--------
>>> state = OpenAIProtocol().parse_batch({"id": "batch_1", "object": "batch",
...     "status": "completed", "request_counts": {"total": 3, "completed": 2, "failed": 1},
...     "output_file_id": "file-out", "error_file_id": "file-err", "expires_at": 1700000000,
...     "input_file_id": "file-in", "metadata": {"siraya_frames_key": "k"}}, batch_id=None)
>>> state.status.value, state.total, state.done, state.failed, state.result_urls
('completed', 3, 3, 1, ('files/file-out/content', 'files/file-err/content'))
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import quote

from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._guards import check_batch_id, count_of
from siraya_frames._plan import RequestEncoding
from siraya_frames._protocols._base import WireProtocol
from siraya_frames._protocols._chat import CHAT_URL, chat_body, chat_lines
from siraya_frames._shapes import BatchState, BatchStatus, parse_timestamp

__all__ = ["OpenAIProtocol"]

JSONL = RequestEncoding(chat_lines, head=b"", sep="\n", tail=b"\n")
"""A JSONL file, one Chat Completions request line each."""
_STATUS = {
    "validating": BatchStatus.PENDING,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.FINALIZING,
    "completed": BatchStatus.COMPLETED,
    "failed": BatchStatus.FAILED,
    "expired": BatchStatus.EXPIRED,
    "cancelling": BatchStatus.CANCELLING,
    "cancelled": BatchStatus.CANCELLED,
}


def _int(value: object) -> int | None:
    return count_of(value) if isinstance(value, int) else None


def _errors(obj: dict[str, Any]) -> str | None:
    errors = obj.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    if not isinstance(data, list) or not data:
        return None
    parts = []
    for err in data[:5]:
        if isinstance(err, dict):
            line = f" (line {err['line']})" if err.get("line") is not None else ""
            parts.append(f"{err.get('code') or 'error'}{line}: {err.get('message') or ''}")
    return "; ".join(parts) or json.dumps(data)[:500]


class OpenAIProtocol(WireProtocol):
    """OpenAI's Batch API: upload a JSONL file, create, poll, read two result files."""

    name: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    env_api_key: ClassVar[str] = "OPENAI_API_KEY"
    env_base_url: ClassVar[str] = "OPENAI_BASE_URL"
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200_000_000
    encoding: ClassVar[RequestEncoding] = JSONL
    uploads_file: ClassVar[bool] = True
    finds_lost_creates: ClassVar[bool] = True
    lists_for_polling: ClassVar[bool] = True
    sync_path: ClassVar[str] = "/chat/completions"
    rate_limit: ClassVar[float] = 300.0
    """OpenAI documents no separate limit for the batch and file endpoints; 300 a minute
    stays under the lowest paid tier's 500 requests a minute shared with other use, and
    still polls 2,000 batches in under a minute with list rounds (100 a page)."""

    def create_body(
        self, payload: bytes, *, input_file_id: str | None, metadata: dict[str, str]
    ) -> bytes:
        if not input_file_id:
            raise UnexpectedResponseError(
                "an OpenAI batch is created from an uploaded file, and none was given"
            )
        body = {
            "input_file_id": input_file_id,
            "endpoint": CHAT_URL,
            "completion_window": "24h",
            "metadata": metadata,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def sync_body(self, params_json: str, *, custom_id: str) -> bytes:
        """The Chat Completions body of the request (as its batch line's ``body``)."""
        body = chat_body(json.loads(params_json), custom_id=custom_id)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def parse_batch(self, obj: dict[str, Any], *, batch_id: str | None) -> BatchState:
        raw = obj.get("status")
        if not isinstance(raw, str):
            raise UnexpectedResponseError(
                f"the batch object has no status: {json.dumps(obj)[:300]}", batch_id=batch_id
            )
        raw_counts = obj.get("request_counts")
        counts: dict[str, Any] = raw_counts if isinstance(raw_counts, dict) else {}
        completed, failed = _int(counts.get("completed")), _int(counts.get("failed"))
        done = (completed or 0) + (failed or 0) if counts else None
        files = [obj.get(k) for k in ("output_file_id", "error_file_id")]
        urls = tuple(
            f"files/{quote(check_batch_id(f, what='file id'), safe='')}/content"
            for f in files
            if isinstance(f, str) and f
        )
        status = _STATUS.get(raw, BatchStatus.UNKNOWN)
        metadata = obj.get("metadata")
        return BatchState(
            batch_id=obj["id"] if isinstance(obj.get("id"), str) else batch_id,
            status=status,
            raw_status=raw,
            total=_int(counts.get("total")),
            done=done,
            failed=failed,
            expires_at=parse_timestamp(obj.get("expires_at")),
            result_url=urls[0] if urls else None,
            result_urls=urls,
            error=_errors(obj) if status is BatchStatus.FAILED else None,
            input_file_id=file_id if isinstance(file_id := obj.get("input_file_id"), str) else None,
            metadata=metadata if isinstance(metadata, dict) else None,
        )
