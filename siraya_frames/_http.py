"""The HTTP mechanics shared by both clients: the retry policy, one call as a value, and
the mapping of failures to the exception tree. No protocol knowledge lives here: the auth
headers, error envelopes and URLs come from a :mod:`siraya_frames._protocols` module.

Examples
--------
>>> from siraya_frames._errors import RateLimitError
>>> is_transient(RateLimitError("slow down", status_code=429))
True
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from siraya_frames import _config
from siraya_frames._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    UnexpectedResponseError,
    error_for_status,
)
from siraya_frames._guards import finite_seconds, loads, redact, retry_after_seconds

logger = logging.getLogger("siraya_frames")

__all__ = ["HttpCall", "RetryPolicy", "is_transient"]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
"""Statuses retried with backoff. 400, 401, 402, 403, 404, 413 and 422 never are."""
_REJECTED_UNSENT = frozenset({408, 429, 502, 503, 504, 529})
"""Statuses that say a create was not accepted: safe to retry even without an idempotency key."""
_VERSION = "0.1.0"


# --------------------------------------------------------------------------- retry policy


def is_transient(exc: BaseException, *, idempotent: bool = True) -> bool:
    """Tell whether a failed call may be retried.

    Parameters
    ----------
    exc
        The error the attempt raised.
    idempotent
        False for a create without an idempotency key: then only failures that prove the
        service did not accept it (no connection made, 429, 503...) are retried.

    Examples
    --------
    >>> from siraya_frames._errors import RateLimitError, NotFoundError
    >>> is_transient(RateLimitError("slow down", status_code=429))
    True
    >>> is_transient(NotFoundError("no such batch", status_code=404))
    False
    """
    if isinstance(exc, APIStatusError):
        allowed = RETRYABLE_STATUSES if idempotent else _REJECTED_UNSENT
        return exc.status_code in allowed
    if isinstance(exc, APIConnectionError):
        return idempotent or bool(getattr(exc, "request_unsent", False))
    return False


class _WaitRetryAfter(tenacity.wait.wait_base):
    """Wait what the server's ``Retry-After`` asks (capped), else the fallback backoff."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = finite_seconds(getattr(exc, "retry_after", None))
        if retry_after is not None:
            return min(retry_after, self.cap)
        return self.fallback(retry_state)


@dataclass(frozen=True)
class RetryPolicy:
    """How HTTP calls are retried: a value you can replace.

    Parameters
    ----------
    max_attempts
        Attempts of one call, the first included.
    max_seconds
        Total time one call may spend retrying.
    initial_wait, max_wait
        Bounds of the jittered exponential backoff, in seconds.
    max_retry_after
        The longest ``Retry-After`` honoured.
    sleep
        Replaces ``time.sleep`` in the sync client (tests pass ``list.append``).
    async_sleep
        Replaces ``asyncio.sleep`` in the async client.

    Examples
    --------
    >>> waits = []
    >>> policy = RetryPolicy(max_attempts=3, sleep=waits.append)
    >>> policy.max_attempts
    3
    """

    max_attempts: int = _config.DEFAULT_MAX_ATTEMPTS
    max_seconds: float = _config.DEFAULT_MAX_RETRY_SECONDS
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], Any] | None = None
    async_sleep: Callable[[float], Any] | None = None

    def _kwargs(self, idempotent: bool) -> dict[str, Any]:
        backoff: tenacity.wait.wait_base = tenacity.wait_exponential(
            multiplier=self.initial_wait, max=self.max_wait
        ) + tenacity.wait_random(0, self.initial_wait)
        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_after_delay(self.max_seconds),
            "wait": _WaitRetryAfter(backoff, self.max_retry_after),
            "retry": tenacity.retry_if_exception(lambda e: is_transient(e, idempotent=idempotent)),
            "reraise": True,
            "before_sleep": _log_retry,
        }

    def retrying(self, *, idempotent: bool = True) -> tenacity.Retrying:
        """Return the tenacity controller for one sync call."""
        extra: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
        return tenacity.Retrying(**self._kwargs(idempotent), **extra)

    def async_retrying(self, *, idempotent: bool = True) -> tenacity.AsyncRetrying:
        """Return the tenacity controller for one async call."""
        extra: dict[str, Any] = {"sleep": self.async_sleep} if self.async_sleep is not None else {}
        return tenacity.AsyncRetrying(**self._kwargs(idempotent), **extra)


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    # INFO: a retry that succeeds needs no attention; one that does not raises a typed error.
    logger.info("attempt %d failed (%s); retrying in %.1fs", state.attempt_number, exc, wait)


# --------------------------------------------------------------------------- calls, pure


@dataclass(frozen=True)
class HttpCall:
    """One HTTP call to make, described as a value."""

    method: str
    url: str
    batch_id: str | None = None
    body: bytes | None = None
    idempotency_key: str | None = None
    authed: bool = True
    sink: Path | None = None
    raw_file: bool = False
    """True for a results-file download: the body is saved as it is."""
    content_type: str = "application/json"
    kind: str = "batch"
    """What the answer is: ``batch`` (a batch object), ``list``, ``file`` or ``sync`` (one
    request answered now: the body is returned as it is, and a resend is safe)."""
    key_honoured: bool = True
    """False where the service ignores ``Idempotency-Key``: then a POST whose outcome is
    uncertain is not retried (the lifecycle looks for the batch instead)."""
    max_bytes: int | None = None
    """The most a download to ``sink`` may bring (decoded); None: the client's default."""
    hops: int = 0
    """Redirects followed so far to reach ``url``."""
    seconds: float | None = None
    """A shorter deadline for this call than the client's (a wait that must end sooner)."""

    @property
    def idempotent(self) -> bool:
        keyed = self.idempotency_key is not None and self.key_honoured
        return self.method == "GET" or keyed or "/cancel" in self.url or self.kind == "sync"


def headers_for(call: HttpCall, auth: dict[str, str]) -> dict[str, str]:
    """The headers of ``call``; ``auth`` (the protocol's auth headers) only when authed."""
    headers = {"User-Agent": f"siraya-frames/{_VERSION}", "Accept": "application/json"}
    if call.body is not None:
        headers["Content-Type"] = call.content_type
    if call.idempotency_key:
        headers["Idempotency-Key"] = call.idempotency_key
    if call.authed:
        headers.update(auth)
    return headers


def error_detail(body: bytes) -> tuple[str, str | None]:
    """Return (message, error type) from an error envelope, or the raw text.

    Covers Anthropic's ``{"type":"error","error":{"type","message"}}``, OpenAI's
    ``{"error":{"message","type","param","code"}}`` and Siraya's ``{"error": "..."}``.

    Examples
    --------
    >>> error_detail(b'{"type":"error","error":{"type":"not_found_error","message":"no"}}')
    ('no', 'not_found_error')
    >>> error_detail(b'{"error":{"message":"bad","type":"invalid_request_error","code":null}}')
    ('bad', 'invalid_request_error')
    """
    try:
        obj = loads(body, what="the error answer")
    except UnexpectedResponseError:
        return body.decode("utf-8", "replace").strip()[:500] or "(empty body)", None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        message = err.get("message") or json.dumps(err)[:500]
        return str(message), err.get("type") if isinstance(err.get("type"), str) else None
    if isinstance(err, str) and err:
        return err, None
    return json.dumps(obj)[:500], None


def status_error(
    call: HttpCall,
    response: httpx.Response,
    detail: tuple[str, str | None],
    key: str,
    key_env: str = _config.ENV_API_KEY,
    base_url: str = "",
) -> APIStatusError:
    """The typed error of an HTTP error answer, with the server's message and a hint."""
    message, error_type = detail
    hints = {**_HINTS, 401: f" (check {key_env} or the api_key argument)"}
    hints[404] = base_url_hint(base_url) if base_url else ""
    cls = error_for_status(response.status_code)
    where = f"{call.method} {urlsplit(call.url).path}"
    said = message if message.startswith(where) else f"{where}: {message}"  # once, not twice
    return cls(
        redact(said, key) + hints.get(response.status_code, ""),
        status_code=response.status_code,
        batch_id=call.batch_id,
        error_type=error_type,
        retry_after=retry_after_seconds(response.headers),
    )


def base_url_hint(base_url: str) -> str:
    """What a 404 adds when the base URL lacks the ``/v1`` every API path starts with.

    Examples
    --------
    >>> base_url_hint("http://127.0.0.1:8000")
    ' (did you mean http://127.0.0.1:8000/v1? the API paths start with /v1)'
    >>> base_url_hint("https://llm.siraya.pro/v1")
    ''
    """
    if urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        return ""
    return f" (did you mean {base_url.rstrip('/')}/v1? the API paths start with /v1)"


_HINTS = {
    402: " (top up the account balance, then resume the job: nothing already paid is resent)",
    413: " (lower max_bytes / max_requests so each batch body is smaller)",
}


def connection_error(call: HttpCall, exc: httpx.HTTPError, key: str = "") -> APIConnectionError:
    """The typed error of a transport failure (``request_unsent`` when no connection was made)."""
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    err = cls(
        redact(f"{call.method} {urlsplit(call.url).path}: {type(exc).__name__}: {exc}", key),
        batch_id=call.batch_id,
    )
    err.request_unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return err


def part_path(sink: Path) -> Path:
    """The temporary file a download to ``sink`` is streamed into."""
    return sink.with_name(f".{sink.name}.{os.getpid()}.part")
