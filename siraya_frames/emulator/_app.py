"""The HTTP layer: a Starlette app over the shared `Runtime`, one handler class per protocol.

Siraya dialects (``quickstart``, ``reference``, ``infron``; ``Authorization: Bearer <key>``
when the emulator has a key):

* ``POST /v1/batches``: create (``Idempotency-Key`` honoured);
* ``GET /v1/batches/{id}``: status, or the results once the batch ended (per dialect);
* ``POST /v1/batches/{id}/cancel``;
* ``GET /files/results/{id}.jsonl?sig=...``: infron result file, no auth (a signed URL);
* ``POST /v1/messages``: one request answered now, Anthropic-shaped (``_sync``; also on the
  ``anthropic`` dialect; the ``openai`` dialect has ``POST /v1/chat/completions``).

The ``anthropic`` dialect's routes are in ``_anthropic``, the ``openai`` dialect's in
``_openai``.

Every dialect also has ``GET /files/redirected/{id}/{which}?sig=...``, the other origin a
download is sent to by the ``redirect_results`` fault (refuses a call that carries a key).

Admin, every dialect (same auth as the API; closed on a non-loopback host without a key;
never hit by HTTP faults):

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

import hmac
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from siraya_frames.emulator import _shapes
from siraya_frames.emulator._asgi import Outermost
from siraya_frames.emulator._http import JSONL_MEDIA_TYPE, DownloadSpec, Handlers, dumps
from siraya_frames.emulator._model import (
    CANCELED,
    CANCELLED,
    CANCELLING,
    FINALIZING,
    IN_PROGRESS,
    VALIDATING,
    Batch,
)
from siraya_frames.emulator._runtime import Runtime
from siraya_frames.emulator._sync import sync_routes
from siraya_frames.emulator._validate import parse_create_body


class SirayaHandlers(Handlers):
    """The endpoints of the three Siraya dialects."""

    def api_routes(self) -> list[Route]:
        """``/v1/batches`` create, get, cancel, and the infron result file."""
        return [
            Route("/v1/batches", self.create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self.get_batch, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
            Route("/files/results/{name}", self.result_file, methods=["GET"]),
        ]

    def _parse(self, body: bytes | bytearray) -> tuple[list[tuple[str, str, str]], None]:
        return parse_create_body(body, max_requests=self.config.max_requests), None

    def _render(self, batch: Batch) -> dict[str, Any]:
        return _shapes.create_response(self.config.dialect, batch)

    async def create(self, request: Request) -> Response:
        """``POST /v1/batches``."""
        return await self.create_batch(request, self._parse, self._render)

    async def get_batch(self, request: Request) -> Response:
        """``GET /v1/batches/{batch_id}``."""
        batch = self.gated_batch(request, "get")
        if isinstance(batch, Response):
            return batch
        dialect = self.config.dialect
        if dialect == "infron" or not batch.finished:
            url = self._result_url(request, batch)
            return JSONResponse(_shapes.status_response(dialect, batch, url))
        if dialect == "reference":
            return StreamingResponse(self._reference_doc(batch), media_type="application/json")
        return self.jsonl_response(request, batch)

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batches/{batch_id}/cancel``."""
        gated = self.gated_batch(request, "cancel")
        if isinstance(gated, Response):
            return gated
        now = time.time()
        self.store.set_status(
            gated.seq, CANCELLING, now, only_from={VALIDATING, IN_PROGRESS, FINALIZING}
        )
        if self.config.dialect == "reference":
            self.store.close_pending(gated.seq, CANCELED, CANCELLED, now)
        self.rt.wake_worker()
        batch = self.store.get(gated.id)
        assert batch is not None
        if batch.status not in (CANCELLING, CANCELLED):
            status = _shapes.status_response(self.config.dialect, batch)["status"]
            return self.error(
                f"Batch {batch.id} has already ended with status {status!r}; only an "
                "unfinished batch can be cancelled.",
                "invalid_request_error",
                409,
            )
        url = self._result_url(request, batch)
        return JSONResponse(_shapes.status_response(self.config.dialect, batch, url))

    async def result_file(self, request: Request) -> Response:
        """``GET /files/results/{batch_id}.jsonl?sig=...`` (no auth: a signed URL)."""
        early = self.gate(request, "result_file", auth=False)
        if early is not None:
            return early
        name = request.path_params["name"]
        batch = self.store.get(name.removesuffix(".jsonl"))
        if batch is None or not batch.finished or not name.endswith(".jsonl"):
            return self.error("No such result file.", "not_found_error", 404)
        signature = request.query_params.get("sig", "")
        if not hmac.compare_digest(signature.encode(), batch.result_token.encode()):
            return self.error(
                "The result URL signature is missing or wrong; use result_url as given.",
                "permission_error",
                403,
            )
        return self.jsonl_response(request, batch)

    def _result_url(self, request: Request, batch: Batch) -> str:
        host = self.config.result_host or request.url.hostname or self.config.host
        port = f":{request.url.port}" if request.url.port else ""
        return (
            f"{request.url.scheme}://{host}{port}/files/results/{batch.id}.jsonl"
            f"?sig={batch.result_token}"
        )

    def download_spec(self, batch: Batch, which: str) -> DownloadSpec | None:
        """The one download of a batch, ``all``: its JSONL result lines."""
        if which != "all":
            return None
        return self._line_renderer(batch), None, JSONL_MEDIA_TYPE

    def _line_renderer(self, batch: Batch) -> Callable[[Any], str]:
        fmt = self.config.results_format
        return lambda row: dumps(_shapes.result_line(fmt, batch, row)) + "\n"

    async def _reference_doc(self, batch: Batch) -> AsyncIterator[str]:
        head = dumps(_shapes.reference_object(batch))
        yield head[:-1] + ',"results":['
        first = True
        render = lambda row: dumps(_shapes.reference_result(batch, row))  # noqa: E731
        async for lines in self.pages(batch, render):
            yield ("" if first else ",") + ",".join(lines)
            first = False
        yield "]}"


def _handlers(runtime: Runtime) -> Handlers:
    dialect = runtime.config.dialect
    if dialect == "anthropic":
        from siraya_frames.emulator._anthropic import AnthropicHandlers

        return AnthropicHandlers(runtime)
    if dialect == "openai":
        from siraya_frames.emulator._openai import OpenAIHandlers

        return OpenAIHandlers(runtime)
    return SirayaHandlers(runtime)


def build_app(runtime: Runtime) -> ASGIApp:
    """Return the emulator's ASGI app for ``runtime`` (routes of its dialect).

    The app also works in-process with ``httpx.AsyncClient(transport=httpx.ASGITransport(
    app))`` (a worker must run for batches to progress; ``Emulator`` starts one).
    """
    handlers = _handlers(runtime)

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = f"{request.method} {request.url.path}: {exc.detail}"
        headers = dict(exc.headers) if exc.headers is not None else None
        return handlers.error(message, error_type, exc.status_code, headers=headers)

    routes = [*sync_routes(handlers), *handlers.routes()]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_exception})
    return Outermost(app, runtime)
