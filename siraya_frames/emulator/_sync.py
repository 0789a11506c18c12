"""The synchronous endpoints: one request, answered now, by the same backends and faults.

* ``POST /v1/messages`` (the Siraya dialects and ``anthropic``): Messages params in, an
  Anthropic ``message`` out. Auth: ``x-api-key`` or ``Authorization: Bearer`` (Siraya's
  Anthropic-compatible endpoint documents ``x-api-key``; the SDK 2.x sends Bearer); the
  ``anthropic`` dialect also requires ``anthropic-version``.
* ``POST /v1/chat/completions`` (``openai``): a Chat Completions body in, a
  ``chat.completion`` out; ``Authorization: Bearer``.

Each passes the dialect's gate (auth, then the HTTP faults: ``fail_next_calls``,
``http_error_rate`` with ``Retry-After`` on 429/503, restricted by ``http_error_endpoints``
to ``messages`` / ``chat_completions``), then the batch path's per-request checks (bad params:
400 ``invalid_request_error``), the ``error_rate`` draw (500 with ``error_type``), then the
backend. A backend error becomes the matching HTTP error in the dialect's envelope.

Examples
--------
>>> from siraya_frames.emulator import Emulator
>>> import httpx
>>> with Emulator() as emu:
...     answer = httpx.post(emu.base_url + "/messages", json={"model": "m", "max_tokens": 5,
...                         "messages": [{"role": "user", "content": "hello"}]})
>>> answer.json()["content"][0]["text"], answer.json()["usage"]["service_tier"]
('hello', 'standard')
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siraya_frames.emulator import _anthropic, _openai_shapes
from siraya_frames.emulator._asgi import ENDPOINT
from siraya_frames.emulator._http import Handlers, bearer_token, same_key
from siraya_frames.emulator._model import COMPLETED, SUCCEEDED, Batch, Outcome, ResultRow
from siraya_frames.emulator._params import anthropic_problem, openai_problem
from siraya_frames.emulator._shapes import HTTP_STATUS_OF_ERROR

__all__ = ["sync_routes"]


def _answered(model: str, now: float) -> Batch:
    """A one-request stand-in batch, so the batch shapes render a synchronous answer."""
    return Batch(
        seq=0, id=f"sync_{uuid.uuid4().hex}", status=COMPLETED, created_at=now, expires_at=now,
        in_progress_at=now, finalizing_at=now, completed_at=now, cancelling_at=None,
        cancelled_at=None, expired_at=None, total=1, completed=1, failed=0, input_tokens=0,
        output_tokens=0, file_id="", file_bytes=0, idempotency_key=None, body_hash="",
        result_token="", model=model,
    )  # fmt: skip


def _row(model: str, outcome: Outcome, now: float) -> ResultRow:
    extra = json.dumps(outcome.extra) if outcome.extra else None
    return ResultRow(
        idx=0, custom_id="sync", model=model, kind=outcome.kind, text=outcome.text,
        stop_reason=outcome.stop_reason, input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens, error_type=outcome.error_type,
        error_message=outcome.error_message, processed_at=now, extra_json=extra,
    )  # fmt: skip


def _message(model: str, outcome: Outcome) -> dict[str, Any]:
    now = time.time()
    message = _anthropic.message(_answered(model, now), _row(model, outcome, now))
    message["usage"]["service_tier"] = "standard"
    return message


def _chat_completion(model: str, outcome: Outcome) -> dict[str, Any]:
    now = time.time()
    return _openai_shapes.chat_completion(_answered(model, now), _row(model, outcome, now))


class _Sync:
    """One synchronous endpoint of a dialect's handlers."""

    def __init__(self, handlers: Handlers, endpoint: str) -> None:
        self.h = handlers
        self.endpoint = endpoint
        self.chat = endpoint == "chat_completions"
        self.check = openai_problem if self.chat else anthropic_problem
        self.render = _chat_completion if self.chat else _message

    def _gate(self, request: Request) -> Response | None:
        h = self.h
        request.scope[ENDPOINT] = self.endpoint  # the call log names it, even when refused
        if self.chat or h.config.dialect == "anthropic" or not h.config.api_key:
            return h.gate(request, self.endpoint)
        sent = request.headers.get("x-api-key") or bearer_token(request)  # Siraya dialects
        if not same_key(sent, h.config.api_key):
            h.rt.count("auth_failures")
            message = "invalid x-api-key" if sent else "x-api-key header is required"
            return h.error(message, "authentication_error", 401)
        return h.gate(request, self.endpoint, auth=False)

    async def handle(self, request: Request) -> Response:
        early = self._gate(request)
        if early is not None:
            return early
        body = await self.h.read_body(request)
        if isinstance(body, Response):
            return body
        try:
            params = json.loads(body)
        except ValueError:
            return self._error("the body is not JSON", "invalid_request_error")
        if not isinstance(params, dict):
            return self._error("the body must be a JSON object", "invalid_request_error")
        problem = self.check(params) or (
            "stream: the emulator answers without streaming" if params.get("stream") else None
        )
        if problem is not None:
            return self._error(problem, "invalid_request_error", param=problem.split(":")[0])
        outcome = await self._answer(params, hashlib.sha256(body).hexdigest())
        if outcome.kind != SUCCEEDED:
            return self._error(outcome.error_message or "", outcome.error_type or "api_error")
        self.h.rt.count("sync_answered")
        return JSONResponse(self.render(str(params["model"]), outcome))

    async def _answer(self, params: dict[str, Any], digest: str) -> Outcome:
        rt = self.h.rt
        faults = rt.faults
        if rt.should_error(0, digest, faults):
            return Outcome.errored(faults.error_type, f"Injected {faults.error_type} "
                                   "(emulator fault injection).")  # fmt: skip
        if rt.backend is None:
            return Outcome.errored("api_error", "the emulator has no backend running")
        try:
            answers = await run_in_threadpool(rt.backend.complete, [(f"sync-{digest}", params)])
        except Exception as exc:  # a backend failure is the answer's, not the server's
            return Outcome.errored("api_error", f"the backend failed: {exc}")
        return answers[0]

    def _error(self, message: str, error_type: str, *, param: str | None = None) -> Response:
        status = HTTP_STATUS_OF_ERROR.get(error_type, 500)
        return self.h.error(message, error_type, status, param=param)


def sync_routes(handlers: Handlers) -> list[Route]:
    """The synchronous route of the handlers' dialect."""
    if handlers.config.dialect == "openai":
        return [Route("/v1/chat/completions", _Sync(handlers, "chat_completions").handle,
                      methods=["POST"])]  # fmt: skip
    return [Route("/v1/messages", _Sync(handlers, "messages").handle, methods=["POST"])]
