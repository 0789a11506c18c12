"""The ``anthropic`` dialect: Anthropic's Message Batches API, wire shapes and routes.

Routes (``x-api-key: <key>`` when the emulator has a key, or ``Authorization: Bearer <key>``,
which is what the official SDK 2.x sends for ``api_key``; an ``anthropic-version`` header is
required, as the SDK sends it). An SDK's base URL is the root, `Emulator.url`:

* ``POST /v1/messages/batches``: create from ``{"requests": [{custom_id, params}]}``;
* ``GET /v1/messages/batches``: list, newest first (``limit`` 1-1000, default 20;
  ``after_id``, ``before_id``);
* ``GET /v1/messages/batches/{id}``: the ``message_batch`` object;
* ``POST /v1/messages/batches/{id}/cancel``;
* ``GET /v1/messages/batches/{id}/results``: JSONL result lines (``results_url``);
* ``DELETE /v1/messages/batches/{id}``: only once ended (else 400).

Choices where the docs are silent: cancel of an ended batch and delete of an unended one
answer 400 ``invalid_request_error``; results of an unended batch answer 404.

Examples
--------
>>> rfc3339(0.5)
'1970-01-01T00:00:00.500000Z'
>>> error_body("boom", "api_error", "req_1")
{'type': 'error', 'error': {'type': 'api_error', 'message': 'boom'}, 'request_id': 'req_1'}
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siraya_frames.emulator._http import DownloadSpec, Handlers, bearer_token, dumps, same_key
from siraya_frames.emulator._model import (
    CANCELED,
    CANCELLING,
    ERRORED,
    EXPIRED_RESULT,
    FINALIZING,
    IN_PROGRESS,
    SUCCEEDED,
    VALIDATING,
    Batch,
    ResultRow,
)
from siraya_frames.emulator._shapes import line_id, stable_hex
from siraya_frames.emulator._validate import parse_create_body

JSONL_MEDIA_TYPE = "application/x-jsonl"
LIST_DEFAULT, LIST_MAX = 20, 1000
PROCESSING_STATUS = {
    VALIDATING: "in_progress",
    IN_PROGRESS: "in_progress",
    FINALIZING: "in_progress",
    CANCELLING: "canceling",
}


def _line_id(b: Batch, idx: int) -> str:
    return line_id(b.id.replace("msgbatch_", "batch_", 1), idx)


def rfc3339(ts: float | None) -> str | None:
    """Return a unix time as an RFC 3339 UTC string (None stays None)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def error_body(message: str, error_type: str, request_id: str | None = None) -> dict[str, Any]:
    """Return Anthropic's error envelope."""
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def message_batch(b: Batch, counts: dict[str, int], results_url: str) -> dict[str, Any]:
    """Return the ``message_batch`` object (``counts`` by result kind, once ended)."""
    ended = b.finished
    tally = {
        "processing": 0 if ended else b.total,
        "succeeded": counts.get(SUCCEEDED, 0) if ended else 0,
        "errored": counts.get(ERRORED, 0) if ended else 0,
        "canceled": counts.get(CANCELED, 0) if ended else 0,
        "expired": counts.get(EXPIRED_RESULT, 0) if ended else 0,
    }
    return {
        "id": b.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else PROCESSING_STATUS[b.status],
        "request_counts": tally,
        "ended_at": rfc3339(b.finished_at),
        "created_at": rfc3339(b.created_at),
        "expires_at": rfc3339(b.expires_at),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(b.cancelling_at),
        "results_url": results_url if ended else None,
    }


def content_blocks(b: Batch, r: ResultRow) -> list[dict[str, Any]]:
    """Return a succeeded message's ``content``: thinking, then text, then tool_use blocks."""
    extra = r.extra
    blocks: list[dict[str, Any]] = []
    if extra.get("thinking"):
        signature = stable_hex(b.id, r.idx, extra["thinking"], size=32)
        blocks.append({"type": "thinking", "thinking": extra["thinking"], "signature": signature})
    calls = extra.get("tool_calls") or []
    if r.text or not calls:
        blocks.append({"type": "text", "text": r.text or "", "citations": None})
    for i, call in enumerate(calls):
        call_id = call.get("id") or f"toolu_{stable_hex(b.id, r.idx, i)}"
        blocks.append(
            {"type": "tool_use", "id": call_id, "name": call["name"], "input": call["input"]}
        )
    return blocks


def message(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return the Messages API ``message`` of a succeeded request, with cache usage."""
    extra = r.extra
    write = int(extra.get("cache_creation_input_tokens", 0))
    read = int(extra.get("cache_read_input_tokens", 0))
    usage = {
        "input_tokens": max(r.input_tokens - write - read, 0),
        "output_tokens": r.output_tokens,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
        "service_tier": "batch",
    }
    return {
        "id": f"msg_{_line_id(b, r.idx)}",
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content_blocks(b, r),
        "stop_reason": r.stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def result_line(b: Batch, r: ResultRow) -> dict[str, Any]:
    """Return one line of the results file."""
    if r.kind == SUCCEEDED:
        return {"custom_id": r.custom_id, "result": {"type": "succeeded", "message": message(b, r)}}
    if r.kind == ERRORED:
        error = error_body(r.error_message or "", r.error_type or "api_error")
        error["request_id"] = f"req_{_line_id(b, r.idx)}"
        return {"custom_id": r.custom_id, "result": {"type": "errored", "error": error}}
    return {"custom_id": r.custom_id, "result": {"type": r.kind}}


class AnthropicHandlers(Handlers):
    """The Message Batches endpoints."""

    fault_types: ClassVar[dict[int, str]] = {
        429: "rate_limit_error",
        500: "api_error",
        503: "api_error",
        529: "overloaded_error",
    }

    def api_routes(self) -> list[Route]:
        """The routes listed in the module docstring."""
        base = "/v1/messages/batches"
        return [
            Route(base, self.create, methods=["POST"]),
            Route(base, self.list_batches, methods=["GET"]),
            Route(base + "/{batch_id}", self.retrieve, methods=["GET"]),
            Route(base + "/{batch_id}", self.delete, methods=["DELETE"]),
            Route(base + "/{batch_id}/cancel", self.cancel, methods=["POST"]),
            Route(base + "/{batch_id}/results", self.results, methods=["GET"]),
        ]

    def error(
        self,
        message: str,
        error_type: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> Response:
        """Anthropic's envelope, with a ``request-id`` header."""
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        headers = {**(headers or {}), "request-id": request_id}
        body = error_body(message, error_type, request_id)
        return JSONResponse(body, status_code=status, headers=headers)

    def authenticate(self, request: Request, key: str) -> Response | None:
        """``x-api-key: <key>`` or ``Authorization: Bearer <key>`` (what SDK 2.x sends)."""
        sent = request.headers.get("x-api-key")
        if sent is None:
            sent = bearer_token(request)
        if same_key(sent, key):
            return None
        message = "invalid x-api-key" if sent else "x-api-key header is required"
        return self.error(message, "authentication_error", 401)

    def gate(self, request: Request, endpoint: str, *, auth: bool = True) -> Response | None:
        """Auth, the ``anthropic-version`` header, then an injected fault."""
        early = super().gate(request, endpoint, auth=auth)
        if early is None and not request.headers.get("anthropic-version"):
            return self.error("anthropic-version: header is required", "invalid_request_error", 400)
        return early

    # -- objects -----------------------------------------------------------------------------

    def _object(self, request: Request, b: Batch) -> dict[str, Any]:
        counts = self.store.kind_counts(b.seq) if b.finished else {}
        url = str(request.url_for("results", batch_id=b.id)) if b.finished else ""
        return message_batch(b, counts, url)

    def _parse(self, body: bytes | bytearray) -> tuple[list[tuple[str, str, str]], None]:
        requests = parse_create_body(
            body, max_requests=self.config.max_requests, check_params=False
        )
        return requests, None

    # -- endpoints ---------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /v1/messages/batches``."""
        return await self.create_batch(
            request,
            self._parse,
            lambda b: self._object(request, b),
            batch_id=lambda: f"msgbatch_{uuid.uuid4().hex}",
        )

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/messages/batches/{batch_id}``."""
        batch = self.gated_batch(request, "get")
        if isinstance(batch, Response):
            return batch
        return JSONResponse(self._object(request, batch))

    async def list_batches(self, request: Request) -> Response:
        """``GET /v1/messages/batches``."""
        early = self.gate(request, "list")
        if early is not None:
            return early
        query = request.query_params
        raw = query.get("limit", str(LIST_DEFAULT))
        if not raw.isdigit() or not 1 <= int(raw) <= LIST_MAX:
            return self.error(
                f"limit: must be an integer from 1 to {LIST_MAX}, got {raw!r}",
                "invalid_request_error",
                400,
            )
        batches, more = self.store.page(
            limit=int(raw), after=query.get("after_id"), before=query.get("before_id")
        )
        data = [self._object(request, b) for b in batches]
        return JSONResponse(
            {
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/messages/batches/{batch_id}/cancel``."""
        batch = self.gated_batch(request, "cancel")
        if isinstance(batch, Response):
            return batch
        current = self.start_cancel(batch)
        if current is None:
            return self.error(
                f"Batch {batch.id} has already ended; only a batch in progress can be canceled.",
                "invalid_request_error",
                400,
            )
        return JSONResponse(self._object(request, current))

    async def delete(self, request: Request) -> Response:
        """``DELETE /v1/messages/batches/{batch_id}``."""
        batch = self.gated_batch(request, "delete")
        if isinstance(batch, Response):
            return batch
        if not batch.finished:
            return self.error(
                f"Batch {batch.id} is still processing; Message Batches can only be deleted "
                "once they've finished processing. Cancel it first.",
                "invalid_request_error",
                400,
            )
        self.store.delete(batch.seq)
        return JSONResponse({"id": batch.id, "type": "message_batch_deleted"})

    async def results(self, request: Request) -> Response:
        """``GET /v1/messages/batches/{batch_id}/results``."""
        batch = self.gated_batch(request, "result_file")
        if isinstance(batch, Response):
            return batch
        if not batch.finished:
            return self.error(
                f"Batch {batch.id} has not ended yet; its results are available once "
                "processing_status is 'ended'.",
                "not_found_error",
                404,
            )
        return self.jsonl_response(request, batch)

    def download_spec(self, batch: Batch, which: str) -> DownloadSpec | None:
        """The one download of a batch, ``all``: its JSONL result lines."""
        if which != "all":
            return None
        render = lambda row: dumps(result_line(batch, row)) + "\n"  # noqa: E731
        return render, None, JSONL_MEDIA_TYPE
