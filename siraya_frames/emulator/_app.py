"""The HTTP layer: a Starlette app over the shared `Runtime`.

API (``Authorization: Bearer <key>`` when the emulator has a key):

* ``POST /v1/batches``: create (``Idempotency-Key`` honoured);
* ``GET /v1/batches/{id}``: status, or the results once the batch ended (per dialect);
* ``POST /v1/batches/{id}/cancel``;
* ``GET /files/results/{id}.jsonl?sig=...``: infron result file, no auth (a signed URL).

Admin (same auth as the API; never hit by HTTP faults):

* ``GET|POST /_emulator/faults``: read or change fault settings (JSON object of fields);
* ``GET /_emulator/stats``: counters;
* ``GET /_emulator/batches/{id}``: the internal (OpenAI-style) batch object, any dialect;
* ``POST /_emulator/batches/{id}/expire``: expire a batch now.

Examples
--------
>>> import os, tempfile
>>> from siraya_frames.emulator._config import EmulatorConfig
>>> from siraya_frames.emulator._store import Store
>>> from siraya_frames.emulator._runtime import Runtime
>>> app = build_app(Runtime(EmulatorConfig(), Store(os.path.join(tempfile.mkdtemp(), "s"))))
>>> callable(app)
True
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siraya_frames._errors import ConfigurationError
from siraya_frames.emulator import _shapes
from siraya_frames.emulator._model import (
    CANCELED,
    CANCELLED,
    CANCELLING,
    EXPIRED,
    EXPIRED_RESULT,
    FINALIZING,
    IN_PROGRESS,
    VALIDATING,
    Batch,
)
from siraya_frames.emulator._runtime import Runtime
from siraya_frames.emulator._validate import CreateRejected, parse_create_body

RAW_SEND = "siraya_emulator.raw_send"
DROPPED = "siraya_emulator.dropped"
LOG_NOW = "siraya_emulator.log_now"
"""Scope key of the server's own ``send``, through which a connection can be dropped."""
JSONL_MEDIA_TYPE = "application/jsonl"
PAGE = 5_000
"""Result lines read and rendered per step of a download."""
DRAIN_CAP = 64 * 1024 * 1024
"""Bytes of an over-limit body read and discarded so the client can read the 413."""
_FAULT_TYPES = {429: "rate_limit_error", 500: "api_error", 503: "service_unavailable"}
_FAULT_MESSAGES = {
    429: "Rate limit reached (injected by the emulator); retry after {retry_after} s.",
    500: "Internal server error (injected by the emulator).",
    503: "No available model provider for the requested model (injected by the emulator).",
}


dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON, UTF-8 kept as is."""


def envelope_response(
    message: str, error_type: str, status: int, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return Siraya's error envelope with HTTP ``status``."""
    return JSONResponse(
        _shapes.error_envelope(message, error_type, status), status_code=status, headers=headers
    )


async def drop_connection(scope: Scope, *, flush: bool) -> None:
    """Close the client connection now, with no (further) answer.

    ``flush`` sends what was already written first (a cut stream); otherwise the connection
    is aborted (a dropped create). Outside uvicorn (e.g. ``httpx.ASGITransport``), raises
    ``httpx.RemoteProtocolError``, which is what a client would have seen.
    """
    scope[DROPPED] = True
    log_now = scope.get(LOG_NOW)
    if log_now is not None:
        log_now(None)
    cycle = getattr(scope.get(RAW_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise httpx.RemoteProtocolError("connection dropped by the emulator (fault injection)")
    if flush:
        transport.close()
    else:
        transport.abort()
    for _ in range(400):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.005)


class _Handlers:
    """The endpoints, bound to one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.config = runtime.config

    # -- gates -------------------------------------------------------------------------------

    def _auth(self, request: Request) -> Response | None:
        key = self.config.api_key
        if not key:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode()):
            return None
        self.rt.count("auth_failures")
        message = (
            "Invalid API Key"
            if header
            else "Missing API key: send the header 'Authorization: Bearer <your API key>'."
        )
        return envelope_response(
            message, "invalid_request_error", 401, headers={"WWW-Authenticate": "Bearer"}
        )

    def _gate(self, request: Request, endpoint: str, *, auth: bool = True) -> Response | None:
        request.scope["siraya_emulator.endpoint"] = endpoint
        denied = self._auth(request) if auth else None
        if denied is not None:
            return denied
        status = self.rt.take_http_fault(endpoint)
        if status is None:
            return None
        self.rt.count("http_faults")
        return self._fault_response(status)

    def _fault_response(self, status: int) -> Response:
        retry_after = str(math.ceil(self.rt.faults.retry_after))
        headers = {"Retry-After": retry_after} if status in (429, 503) else None
        message = _FAULT_MESSAGES.get(status, "HTTP {status} (injected by the emulator).")
        error_type = _FAULT_TYPES.get(status, "api_error" if status >= 500 else "invalid_request")
        text = message.format(retry_after=retry_after, status=status)
        return envelope_response(text, error_type, status, headers=headers)

    def _admin_gate(self, request: Request) -> Response | None:
        request.scope["siraya_emulator.endpoint"] = "admin"
        return self._auth(request)

    def _admin_batch(self, request: Request) -> Batch | Response:
        """The batch of ``/_emulator/batches/{batch_id}...``, or the answer that stops the call
        (auth failure, unknown batch)."""
        denied = self._admin_gate(request)
        return denied if denied is not None else self._batch_or_404(request.path_params["batch_id"])

    def _gated_batch(self, request: Request, endpoint: str) -> Batch | Response:
        """The batch of ``/v1/batches/{batch_id}...``, or the answer that stops the call
        (auth failure, injected fault, unknown batch)."""
        early = self._gate(request, endpoint)
        return early if early is not None else self._batch_or_404(request.path_params["batch_id"])

    def _batch_or_404(self, batch_id: str) -> Batch | Response:
        batch = self.store.get(batch_id)
        if batch is None:
            return envelope_response(
                f"Batch {batch_id!r} not found. Check the id returned when it was created.",
                "not_found_error",
                404,
            )
        return batch

    # -- create ------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /v1/batches``."""
        early = self._gate(request, "create")
        if early is not None:
            return early
        body = await self._read_body(request)
        if isinstance(body, Response):
            return body
        key = request.headers.get("idempotency-key") or None
        body_hash = hashlib.sha256(body).hexdigest()
        replay = self._replay(key, body_hash)
        if replay is not None:
            return replay
        try:
            requests = await run_in_threadpool(
                parse_create_body, body, max_requests=self.config.max_requests
            )
        except CreateRejected as exc:
            self.rt.count("creates_rejected")
            return JSONResponse(
                _shapes.error_envelope(exc.message, "invalid_request_error", 400, exc.param),
                status_code=400,
            )
        try:
            batch = await run_in_threadpool(self._store_batch, requests, len(body), key, body_hash)
        except sqlite3.IntegrityError:
            return self._replay(key, body_hash) or envelope_response(
                "conflicting create", "invalid_request_error", 409
            )
        self.rt.count("creates_accepted")
        self.rt.wake_worker()
        if self.rt.take_drop():
            self.rt.count("dropped_creates")
            await drop_connection(request.scope, flush=False)
        return JSONResponse(_shapes.create_response(self.config.dialect, batch))

    def _replay(self, key: str | None, body_hash: str) -> Response | None:
        existing = self.store.by_idempotency_key(key) if key else None
        if existing is None:
            return None
        if existing.body_hash != body_hash:
            return envelope_response(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a different batch.",
                "invalid_request_error",
                409,
            )
        self.rt.count("creates_replayed")
        return JSONResponse(_shapes.create_response(self.config.dialect, existing))

    def _store_batch(
        self, requests: list[tuple[str, str, str]], size: int, key: str | None, body_hash: str
    ) -> Batch:
        now = time.time()
        return self.store.create_batch(
            batch_id=f"batch_{uuid.uuid4()}",
            file_id=f"file-{uuid.uuid4().hex}",
            created_at=now,
            expires_at=now + self.rt.faults.completion_window,
            requests=requests,
            file_bytes=size,
            idempotency_key=key,
            body_hash=body_hash,
            result_token=secrets.token_hex(8),
        )

    async def _read_body(self, request: Request) -> bytes | Response:
        limit = self.config.max_bytes
        declared = request.headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > limit
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                too_big = True
            if too_big:
                if size > limit + DRAIN_CAP:
                    break
                continue
            chunks.append(chunk)
        if too_big:
            return envelope_response(
                f"Request body is {max(size, int(declared or 0))} bytes; the limit is {limit} "
                "bytes. Split the batch into smaller ones.",
                "request_too_large",
                413,
            )
        return b"".join(chunks)

    # -- get, cancel, result file ------------------------------------------------------------

    async def get_batch(self, request: Request) -> Response:
        """``GET /v1/batches/{batch_id}``."""
        batch = self._gated_batch(request, "get")
        if isinstance(batch, Response):
            return batch
        dialect = self.config.dialect
        if dialect == "infron" or not batch.finished:
            url = self._result_url(request, batch)
            return JSONResponse(_shapes.status_response(dialect, batch, url))
        if dialect == "reference":
            return StreamingResponse(self._reference_doc(batch), media_type="application/json")
        return self._jsonl_response(request, batch)

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batches/{batch_id}/cancel``."""
        batch = self._gated_batch(request, "cancel")
        if isinstance(batch, Response):
            return batch
        now = time.time()
        self.store.set_status(
            batch.seq, CANCELLING, now, only_from={VALIDATING, IN_PROGRESS, FINALIZING}
        )
        if self.config.dialect == "reference":
            self.store.close_pending(batch.seq, CANCELED, CANCELLED, now)
        self.rt.wake_worker()
        batch = self.store.get(batch.id)
        assert batch is not None
        if batch.status not in (CANCELLING, CANCELLED):
            status = _shapes.status_response(self.config.dialect, batch)["status"]
            return envelope_response(
                f"Batch {batch.id} has already ended with status {status!r}; only an "
                "unfinished batch can be cancelled.",
                "invalid_request_error",
                409,
            )
        url = self._result_url(request, batch)
        return JSONResponse(_shapes.status_response(self.config.dialect, batch, url))

    async def result_file(self, request: Request) -> Response:
        """``GET /files/results/{batch_id}.jsonl?sig=...`` (no auth: a signed URL)."""
        early = self._gate(request, "result_file", auth=False)
        if early is not None:
            return early
        name = request.path_params["name"]
        batch = self.store.get(name.removesuffix(".jsonl"))
        if batch is None or not batch.finished or not name.endswith(".jsonl"):
            return envelope_response("No such result file.", "not_found_error", 404)
        signature = request.query_params.get("sig", "")
        if not hmac.compare_digest(signature.encode(), batch.result_token.encode()):
            return envelope_response(
                "The result URL signature is missing or wrong; use result_url as given.",
                "permission_error",
                403,
            )
        return self._jsonl_response(request, batch)

    def _result_url(self, request: Request, batch: Batch) -> str:
        host = self.config.result_host or request.url.hostname or self.config.host
        port = f":{request.url.port}" if request.url.port else ""
        return (
            f"{request.url.scheme}://{host}{port}/files/results/{batch.id}.jsonl"
            f"?sig={batch.result_token}"
        )

    def _jsonl_response(self, request: Request, batch: Batch) -> Response:
        cut = self.rt.take_cut()
        if cut is not None:
            self.rt.count("cut_downloads")
        render = self._line_renderer(batch)
        chunks = self._result_chunks(request.scope, batch, render, cut)
        return StreamingResponse(chunks, media_type=JSONL_MEDIA_TYPE)

    def _line_renderer(self, batch: Batch) -> Callable[[Any], str]:
        fmt = self.config.results_format
        return lambda row: dumps(_shapes.result_line(fmt, batch, row)) + "\n"

    async def _pages(self, batch: Batch, render: Callable[[Any], str]) -> AsyncIterator[list[str]]:
        after = -1
        while True:
            page = await run_in_threadpool(self._render_page, batch, after, render)
            if not page[1]:
                return
            after, lines = page
            yield lines

    def _render_page(
        self, batch: Batch, after: int, render: Callable[[Any], str]
    ) -> tuple[int, list[str]]:
        rows = self.store.results(batch.seq, after, PAGE)
        if not rows:
            return after, []
        return rows[-1][0], [render(row) for _, row in rows]

    async def _result_chunks(
        self, scope: Scope, batch: Batch, render: Callable[[Any], str], cut: int | None
    ) -> AsyncIterator[str]:
        sent = 0
        async for lines in self._pages(batch, render):
            if cut is not None and sent + len(lines) >= cut:
                if cut > sent:
                    yield "".join(lines[: cut - sent])
                await drop_connection(scope, flush=True)
                return
            sent += len(lines)
            yield "".join(lines)

    async def _reference_doc(self, batch: Batch) -> AsyncIterator[str]:
        head = dumps(_shapes.reference_object(batch))
        yield head[:-1] + ',"results":['
        first = True
        render = lambda row: dumps(_shapes.reference_result(batch, row))  # noqa: E731
        async for lines in self._pages(batch, render):
            yield ("" if first else ",") + ",".join(lines)
            first = False
        yield "]}"

    # -- admin -------------------------------------------------------------------------------

    async def faults(self, request: Request) -> Response:
        """``GET|POST /_emulator/faults``."""
        denied = self._admin_gate(request)
        if denied is not None:
            return denied
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ConfigurationError("the body must be a JSON object of fault settings")
                self.rt.set_faults(**changes)
            except (ValueError, ConfigurationError, TypeError) as exc:
                return envelope_response(str(exc), "invalid_request_error", 400)
        return JSONResponse(self.rt.faults.to_dict())

    async def stats(self, request: Request) -> Response:
        """``GET /_emulator/stats``."""
        denied = self._admin_gate(request)
        return denied or JSONResponse(self.rt.stats())

    async def admin_batch(self, request: Request) -> Response:
        """``GET /_emulator/batches/{batch_id}``: the internal view, whatever the dialect."""
        batch = self._admin_batch(request)
        if isinstance(batch, Response):
            return batch
        return JSONResponse(_shapes.batch_object(batch) | {"total": batch.total})

    async def expire(self, request: Request) -> Response:
        """``POST /_emulator/batches/{batch_id}/expire``: unprocessed requests end expired."""
        batch = self._admin_batch(request)
        if isinstance(batch, Response):
            return batch
        if not self.store.close_pending(batch.seq, EXPIRED_RESULT, EXPIRED, time.time()):
            return envelope_response(
                f"Batch {batch.id} has already ended ({batch.status}).",
                "invalid_request_error",
                409,
            )
        self.rt.wake_worker()
        expired = self.store.get(batch.id)
        assert expired is not None
        return JSONResponse(_shapes.batch_object(expired))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return envelope_response(message, error_type, exc.status_code, headers=exc.headers)


class _Outermost:
    """Keeps the server's ``send`` in the scope and logs each call."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[RAW_SEND] = send
        logged: list[bool] = []

        def log(status: int | None) -> None:
            if logged:
                return
            logged.append(True)
            headers = dict(scope.get("headers") or [])
            self.runtime.log_call(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "endpoint": scope.get("siraya_emulator.endpoint", "other"),
                    "status": None if scope.get(DROPPED) else status,
                    "authorization": b"authorization" in headers,
                    "host": headers.get(b"host", b"").decode("latin-1"),
                }
            )

        scope[LOG_NOW] = log

        async def send_and_log(message: Message) -> None:
            if message["type"] == "http.response.start":
                log(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_log)
        finally:
            log(None)


def build_app(runtime: Runtime) -> ASGIApp:
    """Return the emulator's ASGI app for ``runtime``.

    The app also works in-process with ``httpx.AsyncClient(transport=httpx.ASGITransport(
    app))`` (a worker must run for batches to progress; ``Emulator`` starts one).
    """
    h = _Handlers(runtime)
    routes = [
        Route("/v1/batches", h.create, methods=["POST"]),
        Route("/v1/batches/{batch_id}", h.get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", h.cancel, methods=["POST"]),
        Route("/files/results/{name}", h.result_file, methods=["GET"]),
        Route("/_emulator/faults", h.faults, methods=["GET", "POST"]),
        Route("/_emulator/stats", h.stats, methods=["GET"]),
        Route("/_emulator/batches/{batch_id}", h.admin_batch, methods=["GET"]),
        Route("/_emulator/batches/{batch_id}/expire", h.expire, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})
    return _Outermost(app, runtime)
