"""The create flow every dialect shares: the body read under a size bound, an
``Idempotency-Key`` replayed (or refused with another body), the parse off the event loop,
the batch stored, the answer rendered by the dialect.

A mixin of :class:`~siraya_frames.emulator._http.Handlers`, which gives ``rt``, ``store``,
``config``, ``error`` and ``gate``.

Examples
--------
>>> DRAIN_CAP // (1024 * 1024)
64
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from siraya_frames.emulator._asgi import drop_connection
from siraya_frames.emulator._model import Batch
from siraya_frames.emulator._validate import CreateRejected

__all__ = ["DRAIN_CAP", "CreateEndpoints"]

DRAIN_CAP = 64 * 1024 * 1024
"""Bytes of an over-limit body read and discarded so the client can read the 413."""


class CreateEndpoints:
    """``read_body`` and ``create_batch``; the host class gives ``rt``, ``store``, ``config``,
    ``error`` and ``gate``."""

    rt: Any
    store: Any
    config: Any
    error: Any
    gate: Any

    async def read_body(self, request: Request, limit: int | None = None) -> bytearray | Response:
        """Read the body, or answer 413 when it is over ``limit`` (default ``max_bytes``).

        A declared ``Content-Length`` over the limit is refused before the body is read; a
        streamed body stops being kept once it passes the limit (one copy, no chunk list).
        """
        limit = self.config.max_bytes if limit is None else limit
        declared = request.headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > limit
        body = bytearray()
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    too_big = True
                if too_big:
                    if size > limit + DRAIN_CAP:
                        break
                    continue
                body += chunk
        except ClientDisconnect:
            return self.error("The client went away while sending the body.", "timeout", 408)
        if too_big:
            return self.error(
                f"Request body is {max(size, int(declared or 0))} bytes; the limit is {limit} "
                "bytes. Split the batch into smaller ones.",
                "request_too_large",
                413,
            )
        return body

    async def create_batch(
        self,
        request: Request,
        parse: Callable[[bytearray], tuple[list[tuple[str, str, str]], dict[str, Any] | None]],
        render: Callable[[Batch], dict[str, Any]],
        batch_id: Callable[[], str] = lambda: f"batch_{uuid.uuid4()}",
    ) -> Response:
        """The create flow of every dialect: gate, read, replay, parse, store, answer.

        ``parse(body)`` returns ``(requests, meta)`` or raises ``CreateRejected`` (a 400).
        """
        early = self.gate(request, "create")
        if early is not None:
            return early
        body = await self.read_body(request)
        if isinstance(body, Response):
            return body
        key = request.headers.get("idempotency-key") or None
        body_hash = hashlib.sha256(body).hexdigest()
        replay = self._replay(key, body_hash, render)
        if replay is not None:
            return replay
        try:
            requests, meta = await run_in_threadpool(parse, body)
        except CreateRejected as exc:
            self.rt.count("creates_rejected")
            return self.error(exc.message, "invalid_request_error", 400, param=exc.param)
        stored = (requests, len(body), key, body_hash, batch_id(), meta)
        try:
            batch = await run_in_threadpool(self._store_batch, *stored)
        except sqlite3.IntegrityError:
            return self._replay(key, body_hash, render) or self.error(
                "conflicting create", "invalid_request_error", 409
            )
        self.rt.count("creates_accepted")
        self.rt.wake_worker()
        if self.rt.take_drop():
            self.rt.count("dropped_creates")
            await drop_connection(request.scope, flush=False)
        return JSONResponse(render(batch))

    def _replay(
        self, key: str | None, body_hash: str, render: Callable[[Batch], dict[str, Any]]
    ) -> Response | None:
        existing = self.store.by_idempotency_key(key) if key else None
        if existing is None:
            return None
        if existing.body_hash != body_hash:
            return self.error(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a different batch.",
                "invalid_request_error",
                409,
            )
        self.rt.count("creates_replayed")
        return JSONResponse(render(existing))

    def _store_batch(
        self,
        requests: list[tuple[str, str, str]],
        size: int,
        key: str | None,
        body_hash: str,
        batch_id: str,
        meta: dict[str, Any] | None,
    ) -> Batch:
        now = time.time()
        return self.store.create_batch(
            batch_id=batch_id,
            file_id=(meta or {}).get("input_file_id") or f"file-{uuid.uuid4().hex}",
            created_at=now,
            expires_at=now + self.rt.faults.completion_window,
            requests=requests,
            file_bytes=size,
            idempotency_key=key,
            body_hash=body_hash,
            result_token=secrets.token_hex(8),
            meta=json.dumps(meta) if meta else None,
        )
