"""What every dialect's HTTP layer shares: gates (auth, injected faults), bounded body reads
and idempotent creates (``_creates``), streamed JSONL downloads with their faults (cut, and
the hostile ones of ``_downloads``, including the redirected file host
``/files/redirected/...``), the admin endpoints (``_admin``), and the outermost middleware
(``_asgi``).

Each dialect subclasses `Handlers`, overriding `error` (its error envelope),
`authenticate` (its auth header) and `download_spec` (how its downloads render), and lists
its routes in `api_routes`.

Examples
--------
>>> dumps({"a": "é", "b": [1, 2]})
'{"a":"é","b":[1,2]}'
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Scope

from siraya_frames.emulator import _shapes
from siraya_frames.emulator._admin import AdminEndpoints
from siraya_frames.emulator._asgi import ENDPOINT, drop_connection
from siraya_frames.emulator._creates import CreateEndpoints
from siraya_frames.emulator._downloads import REDIRECT_PATH, drip, endless, redirect_url
from siraya_frames.emulator._model import (
    CANCELLING,
    FINALIZING,
    IN_PROGRESS,
    VALIDATING,
    Batch,
)
from siraya_frames.emulator._models import ModelEndpoints
from siraya_frames.emulator._runtime import Runtime

JSONL_MEDIA_TYPE = "application/jsonl"
PAGE = 5_000
"""Result lines read and rendered per step of a download."""
FAULT_MESSAGES = {
    429: "Rate limit reached (injected by the emulator); retry after {retry_after} s.",
    500: "Internal server error (injected by the emulator).",
    503: "No available model provider for the requested model (injected by the emulator).",
    529: "Overloaded (injected by the emulator).",
}

dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON, UTF-8 kept as is."""

Render = Callable[[Any], str]
"""Turns one stored result row into one line of a download."""
DownloadSpec = tuple[Render, Callable[[Any], bool] | None, str]
"""How to render one download: line renderer, row filter (None: every row), media type."""
REDIRECTED = "siraya_emulator.redirected"
"""Scope key set on a download served by the redirected file host (never redirected again)."""


def envelope_response(
    message: str, error_type: str, status: int, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return Siraya's error envelope with HTTP ``status``."""
    return JSONResponse(
        _shapes.error_envelope(message, error_type, status), status_code=status, headers=headers
    )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def same_key(sent: str | None, key: str) -> bool:
    """``sent`` is ``key`` (compared in constant time)."""
    return sent is not None and hmac.compare_digest(sent.encode(), key.encode())


class Handlers(AdminEndpoints, CreateEndpoints, ModelEndpoints):
    """Endpoints bound to one runtime; the base speaks Siraya's envelope and Bearer auth."""

    fault_types: ClassVar[dict[int, str]] = {
        429: "rate_limit_error",
        500: "api_error",
        503: "service_unavailable",
    }
    """Error type of an injected HTTP fault, by status."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.config = runtime.config

    # -- the wire: overridden per dialect ----------------------------------------------------

    def error(
        self,
        message: str,
        error_type: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> Response:
        """Return this dialect's error answer."""
        body = _shapes.error_envelope(message, error_type, status, param)
        return JSONResponse(body, status_code=status, headers=headers)

    def authenticate(self, request: Request, key: str) -> Response | None:
        """Return None when the call carries ``key``, else the 401 answer."""
        header = request.headers.get("authorization", "")
        if same_key(bearer_token(request), key):
            return None
        message = (
            "Invalid API Key"
            if header
            else "Missing API key: send the header 'Authorization: Bearer <your API key>'."
        )
        return self.error(
            message, "invalid_request_error", 401, headers={"WWW-Authenticate": "Bearer"}
        )

    def api_routes(self) -> list[Route]:
        """The dialect's API routes."""
        raise NotImplementedError

    def routes(self) -> list[Route]:
        """Every route: the API, then the admin endpoints."""
        return [
            *self.api_routes(),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route(REDIRECT_PATH, self.redirected, methods=["GET"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "POST"]),
            Route("/_emulator/stats", self.stats, methods=["GET"]),
            Route("/_emulator/batches/{batch_id}", self.admin_batch, methods=["GET"]),
            Route("/_emulator/batches/{batch_id}/expire", self.expire, methods=["POST"]),
        ]

    # -- gates -------------------------------------------------------------------------------

    def _auth(self, request: Request) -> Response | None:
        key = self.config.api_key
        if not key:
            return None
        denied = self.authenticate(request, key)
        if denied is not None:
            self.rt.count("auth_failures")
        return denied

    def gate(self, request: Request, endpoint: str, *, auth: bool = True) -> Response | None:
        """Auth, then an injected HTTP fault; None lets the call through."""
        request.scope[ENDPOINT] = endpoint
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
        headers = {"Retry-After": retry_after} if status in (429, 503, 529) else None
        message = FAULT_MESSAGES.get(status, "HTTP {status} (injected by the emulator).")
        error_type = self.fault_types.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        text = message.format(retry_after=retry_after, status=status)
        return self.error(text, error_type, status, headers=headers)

    def gated_batch(self, request: Request, endpoint: str) -> Batch | Response:
        """The batch of the path's ``batch_id``, or the answer that stops the call."""
        early = self.gate(request, endpoint)
        return early if early is not None else self.batch_or_404(request.path_params["batch_id"])

    def batch_or_404(self, batch_id: str) -> Batch | Response:
        """The stored batch, or a 404 naming the id."""
        batch = self.store.get(batch_id)
        if batch is None:
            return self.error(
                f"Batch {batch_id!r} not found. Check the id returned when it was created.",
                "not_found_error",
                404,
            )
        return batch

    def start_cancel(self, batch: Batch) -> Batch | None:
        """Move an unfinished batch to ``cancelling``; return it as it is now, or None when
        it had already ended (each dialect answers that in its own words)."""
        unfinished = {VALIDATING, IN_PROGRESS, FINALIZING}
        moved = self.store.set_status(batch.seq, CANCELLING, time.time(), only_from=unfinished)
        if not moved and batch.status != CANCELLING:
            return None
        self.rt.wake_worker()
        current = self.store.get(batch.id)
        assert current is not None
        return current

    # -- downloads ---------------------------------------------------------------------------

    def download_spec(self, batch: Batch, which: str) -> DownloadSpec | None:
        """How to render download ``which`` of ``batch`` (None: there is no such download)."""
        raise NotImplementedError

    def jsonl_response(self, request: Request, batch: Batch, which: str = "all") -> Response:
        """Stream the rendered result lines of download ``which`` of ``batch``.

        The hostile download faults apply here: ``redirect_results``, ``empty_results_times``,
        ``endless_results_times``, ``drip_results_seconds``, then the cut faults.
        """
        spec = self.download_spec(batch, which)
        assert spec is not None
        render, keep, media_type = spec
        faults = self.rt.faults
        if faults.redirect_results and not request.scope.get(REDIRECTED):
            self.rt.count("redirected_downloads")
            path = REDIRECT_PATH.format(batch_id=batch.id, which=which)
            url = request.url
            target = redirect_url(
                scheme=url.scheme, host=url.hostname or "", port=url.port, path=path,
                sig=batch.result_token,
            )  # fmt: skip
            return RedirectResponse(target, status_code=302)
        if self.rt.take_counted("empty_results_times"):
            self.rt.count("empty_downloads")
            return Response(b"", media_type=media_type)
        cut = self.rt.take_cut()
        if cut is not None:
            self.rt.count("cut_downloads")
        chunks = self._result_chunks(request.scope, batch, render, cut, keep)
        if self.rt.take_counted("endless_results_times"):
            self.rt.count("endless_downloads")
            chunks = endless(chunks)
        if faults.drip_results_seconds > 0:
            chunks = drip(chunks, faults.drip_results_seconds)
        return StreamingResponse(chunks, media_type=media_type)

    async def redirected(self, request: Request) -> Response:
        """``GET /files/redirected/{batch_id}/{which}?sig=...``: the other origin's file host.

        Serves the download only to a call WITHOUT credentials: a client that forwarded its
        API key across origins gets a 400 naming the header.
        """
        request.scope[ENDPOINT] = "redirected"
        sent = [name for name in ("authorization", "x-api-key") if name in request.headers]
        if sent:
            self.rt.count("credentials_to_other_origin")
            return self.error(
                f"This file host is another origin and the request carried {sent[0]!r}: a "
                "client must not forward its API key across origins on a redirect.",
                "invalid_request_error",
                400,
            )
        batch = self.store.get(request.path_params["batch_id"])
        which = request.path_params["which"]
        signature = request.query_params.get("sig", "").encode()
        if (
            batch is None
            or not batch.finished
            or self.download_spec(batch, which) is None
            or not hmac.compare_digest(signature, batch.result_token.encode())
        ):
            return self.error("No such result file.", "not_found_error", 404)
        request.scope[REDIRECTED] = True
        return self.jsonl_response(request, batch, which)

    async def pages(
        self, batch: Batch, render: Render, keep: Callable[[Any], bool] | None = None
    ) -> AsyncIterator[list[str]]:
        """Yield the rendered lines of ``batch``, a page at a time, in result order."""
        after = -1
        while True:
            after, lines, more = await run_in_threadpool(
                self._render_page, batch, after, render, keep
            )
            if lines:
                yield lines
            if not more:
                return

    def _render_page(
        self, batch: Batch, after: int, render: Render, keep: Callable[[Any], bool] | None
    ) -> tuple[int, list[str], bool]:
        rows = self.store.results(batch.seq, after, PAGE)
        if not rows:
            return after, [], False
        lines = [render(row) for _, row in rows if keep is None or keep(row)]
        return rows[-1][0], lines, True

    async def _result_chunks(
        self,
        scope: Scope,
        batch: Batch,
        render: Render,
        cut: int | None,
        keep: Callable[[Any], bool] | None,
    ) -> AsyncIterator[str]:
        sent = 0
        async for lines in self.pages(batch, render, keep):
            if cut is not None and sent + len(lines) >= cut:
                if cut > sent:
                    yield "".join(lines[: cut - sent])
                await drop_connection(scope, flush=True)
                return
            sent += len(lines)
            yield "".join(lines)
