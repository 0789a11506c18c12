"""HTTP clients for the Siraya batch API: :class:`SirayaClient` and :class:`AsyncSirayaClient`.

Both share everything but the line that performs I/O: a call is described by a :class:`_Call`
value, its response is judged by pure functions, and the retry policy is one tenacity value.
The API key is sent only to the configured base URL's origin and never appears in a repr,
a log line or an exception.

Examples
--------
>>> client = SirayaClient(api_key="sk-secret", base_url="http://127.0.0.1:9/v1")
>>> "sk-secret" in repr(client)
False
>>> client.close()
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
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
from siraya_frames._shapes import (
    BatchState,
    BatchStatus,
    looks_like_jsonl_results,
    parse_batch_object,
    parse_get_body,
)

logger = logging.getLogger("siraya_frames")

__all__ = ["AsyncSirayaClient", "RetryPolicy", "SirayaClient", "is_transient"]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
"""Statuses retried with backoff. 400, 401, 402, 403, 404, 413 and 422 never are."""
_REJECTED_UNSENT = frozenset({408, 429, 502, 503, 504, 529})
"""Statuses that say a create was not accepted: safe to retry even without an idempotency key."""
_HEAD_BYTES = 65536
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
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), self.cap)
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
        backoff = tenacity.wait_exponential(multiplier=self.initial_wait, max=self.max_wait)
        backoff = backoff + tenacity.wait_random(0, self.initial_wait)
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
        extra = {"sleep": self.sleep} if self.sleep is not None else {}
        return tenacity.Retrying(**self._kwargs(idempotent), **extra)

    def async_retrying(self, *, idempotent: bool = True) -> tenacity.AsyncRetrying:
        """Return the tenacity controller for one async call."""
        extra = {"sleep": self.async_sleep} if self.async_sleep is not None else {}
        return tenacity.AsyncRetrying(**self._kwargs(idempotent), **extra)


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    # INFO: a retry that succeeds needs no attention; one that does not raises a typed error.
    logger.info("attempt %d failed (%s); retrying in %.1fs", state.attempt_number, exc, wait)


# --------------------------------------------------------------------------- calls, pure


@dataclass(frozen=True)
class _Call:
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

    @property
    def idempotent(self) -> bool:
        return self.method == "GET" or self.idempotency_key is not None or "/cancel" in self.url


def _headers(call: _Call, api_key: str) -> dict[str, str]:
    headers = {"User-Agent": f"siraya-frames/{_VERSION}", "Accept": "application/json"}
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    if call.idempotency_key:
        headers["Idempotency-Key"] = call.idempotency_key
    if call.authed:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def _error_detail(body: bytes) -> tuple[str, str | None]:
    """Return (message, error type) from any error envelope, or the raw text."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500] or "(empty body)", None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        message = err.get("message") or json.dumps(err)[:500]
        return str(message), err.get("type") if isinstance(err.get("type"), str) else None
    if isinstance(err, str) and err:
        return err, None
    return json.dumps(obj)[:500], None


def _redact(text: str, api_key: str) -> str:
    return text.replace(api_key, "<redacted>") if api_key else text


def _status_error(call: _Call, response: httpx.Response, body: bytes, key: str) -> APIStatusError:
    message, error_type = _error_detail(body)
    hint = _HINTS.get(response.status_code, "")
    cls = error_for_status(response.status_code)
    return cls(
        _redact(f"{call.method} {urlsplit(call.url).path}: {message}{hint}", key),
        status_code=response.status_code,
        batch_id=call.batch_id,
        error_type=error_type,
        retry_after=_retry_after(response.headers),
    )


_HINTS = {
    401: " (check SIRAYA_API_KEY or the api_key argument)",
    402: " (top up the account balance, then resume the job: nothing already paid is resent)",
    413: " (lower max_bytes / max_requests so each batch body is smaller)",
}


def _connection_error(call: _Call, exc: httpx.HTTPError) -> APIConnectionError:
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    err = cls(
        f"{call.method} {urlsplit(call.url).path}: {type(exc).__name__}: {exc}",
        batch_id=call.batch_id,
    )
    err.request_unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return err


def _interpret(call: _Call, body: bytes) -> BatchState:
    """Turn a successful response body (or a saved file) into a :class:`BatchState`."""
    if call.method == "POST":
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"{call.method} {urlsplit(call.url).path}: the answer was not JSON: {body[:200]!r}",
                batch_id=call.batch_id,
            ) from exc
        return parse_batch_object(obj, batch_id=call.batch_id)
    return parse_get_body(body, batch_id=call.batch_id or "")


def _settle_sink(call: _Call, part: Path) -> BatchState:
    """Decide what a streamed body was: keep it as the results file, or parse the status."""
    assert call.sink is not None
    with part.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if call.raw_file or looks_like_jsonl_results(head):
        os.replace(part, call.sink)
        return BatchState(call.batch_id, BatchStatus.COMPLETED, results_path=str(call.sink))
    state = _interpret(call, part.read_bytes())
    if state.results is not None:
        os.replace(part, call.sink)
        return _with_path(state, call.sink)
    part.unlink()
    return state


def _with_path(state: BatchState, path: Path) -> BatchState:
    return replace(state, results=None, results_path=str(path))


def _part_path(sink: Path) -> Path:
    return sink.with_name(f".{sink.name}.{os.getpid()}.part")


# --------------------------------------------------------------------------- the clients


class _Base:
    """What the sync and async clients share: settings, URLs and the call descriptions."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        *,
        timeout: float,
        retry: RetryPolicy | None,
        allow_insecure_http: bool | None,
    ) -> None:
        self._api_key = _config.resolve_api_key(api_key)
        self.base_url = _config.resolve_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<redacted>)"

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

    def _create_call(self, body: bytes, idempotency_key: str | None) -> _Call:
        return _Call("POST", f"{self.base_url}/batches", body=body, idempotency_key=idempotency_key)

    def _get_call(self, batch_id: str, sink: str | os.PathLike[str] | None) -> _Call:
        return _Call(
            "GET",
            f"{self.base_url}/batches/{batch_id}",
            batch_id=batch_id,
            sink=Path(sink) if sink is not None else None,
        )

    def _cancel_call(self, batch_id: str) -> _Call:
        return _Call("POST", f"{self.base_url}/batches/{batch_id}/cancel", batch_id=batch_id)

    def _fetch_call(self, url: str, batch_id: str | None, sink: str | os.PathLike[str]) -> _Call:
        # The API key goes only to the configured service's origin, never to a file host.
        return _Call(
            "GET",
            url,
            batch_id=batch_id,
            authed=self._same_origin(url),
            sink=Path(sink),
            raw_file=True,
        )

    def _request(self, call: _Call) -> tuple[str, str, dict[str, str], bytes | None]:
        return call.method, call.url, _headers(call, self._api_key), call.body


def _as_bytes(body: bytes | str | dict[str, Any]) -> bytes:
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False).encode()
    return body.encode() if isinstance(body, str) else body


class SirayaClient(_Base):
    """A synchronous client of Siraya's batch API.

    Parameters
    ----------
    api_key
        Defaults to the ``SIRAYA_API_KEY`` environment variable.
    base_url
        Defaults to ``SIRAYA_BASE_URL``, then ``https://llm.siraya.pro/v1``.
    timeout
        Seconds for each HTTP call.
    retry
        A :class:`RetryPolicy`; transient failures (transport errors, 408, 429, 5xx, 529)
        are retried with jittered backoff honouring ``Retry-After``.
    transport, http_client
        An httpx transport or a whole ``httpx.Client`` to use (tests, proxies, the emulator).
    allow_insecure_http
        Allow plain ``http://`` to a host that is not this machine.

    Examples
    --------
    >>> from siraya_frames.emulator import Emulator
    >>> with Emulator() as emu, SirayaClient("k", emu.base_url) as client:
    ...     state = client.create_batch({"requests": [{"custom_id": "a", "params": {
    ...         "model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}}]})
    ...     state.status.value
    'pending'
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = _config.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        allow_insecure_http: bool | None = None,
    ) -> None:
        super().__init__(
            api_key, base_url, timeout=timeout, retry=retry, allow_insecure_http=allow_insecure_http
        )
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout)

    def create_batch(
        self, body: bytes | str | dict[str, Any], *, idempotency_key: str | None = None
    ) -> BatchState:
        """``POST /v1/batches``; returns the new batch's state (wrapped or flat shape)."""
        return self._call(self._create_call(_as_bytes(body), idempotency_key))

    def get_batch(
        self, batch_id: str, *, results_path: str | os.PathLike[str] | None = None
    ) -> BatchState:
        """``GET /v1/batches/{id}``: the status, or the results once finished.

        With ``results_path`` the body is streamed to disk and results are saved there
        atomically (``state.results_path``); otherwise they are in ``state.results``.
        """
        return self._call(self._get_call(batch_id, results_path))

    def cancel_batch(self, batch_id: str) -> BatchState:
        """``POST /v1/batches/{id}/cancel``."""
        return self._call(self._cancel_call(batch_id))

    def fetch_results(
        self, url: str, results_path: str | os.PathLike[str], *, batch_id: str | None = None
    ) -> BatchState:
        """Download a ``result_url`` to ``results_path`` (no API key unless same origin)."""
        return self._call(self._fetch_call(url, batch_id, results_path))

    def _call(self, call: _Call) -> BatchState:
        for attempt in self.retry.retrying(idempotent=call.idempotent):
            with attempt:
                return self._attempt(call)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, call: _Call) -> BatchState:
        method, url, headers, body = self._request(call)
        logger.debug("%s %s", method, urlsplit(url).path)
        try:
            with self._http.stream(
                method, url, headers=headers, content=body, follow_redirects=not call.authed
            ) as response:
                if response.status_code >= 400:
                    raise _status_error(call, response, response.read(), self._api_key)
                if call.sink is None:
                    return _interpret(call, response.read())
                part = _part_path(call.sink)
                with part.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise _connection_error(call, exc) from exc
        return _settle_sink(call, part)

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __enter__(self) -> SirayaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSirayaClient(_Base):
    """The asynchronous twin of :class:`SirayaClient`: the same calls, awaitable.

    Examples
    --------
    >>> import asyncio
    >>> from siraya_frames.emulator import Emulator
    >>> async def main(url):
    ...     async with AsyncSirayaClient("k", url) as client:
    ...         state = await client.create_batch({"requests": [{"custom_id": "a", "params": {
    ...             "model": "m", "max_tokens": 5,
    ...             "messages": [{"role": "user", "content": "hi"}]}}]})
    ...         return state.status.value
    >>> with Emulator() as emu:
    ...     asyncio.run(main(emu.base_url))
    'pending'
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = _config.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        allow_insecure_http: bool | None = None,
    ) -> None:
        super().__init__(
            api_key, base_url, timeout=timeout, retry=retry, allow_insecure_http=allow_insecure_http
        )
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout)

    async def create_batch(
        self, body: bytes | str | dict[str, Any], *, idempotency_key: str | None = None
    ) -> BatchState:
        """``POST /v1/batches``; see :meth:`SirayaClient.create_batch`."""
        return await self._call(self._create_call(_as_bytes(body), idempotency_key))

    async def get_batch(
        self, batch_id: str, *, results_path: str | os.PathLike[str] | None = None
    ) -> BatchState:
        """``GET /v1/batches/{id}``; see :meth:`SirayaClient.get_batch`."""
        return await self._call(self._get_call(batch_id, results_path))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        """``POST /v1/batches/{id}/cancel``."""
        return await self._call(self._cancel_call(batch_id))

    async def fetch_results(
        self, url: str, results_path: str | os.PathLike[str], *, batch_id: str | None = None
    ) -> BatchState:
        """Download a ``result_url``; see :meth:`SirayaClient.fetch_results`."""
        return await self._call(self._fetch_call(url, batch_id, results_path))

    async def _call(self, call: _Call) -> BatchState:
        async for attempt in self.retry.async_retrying(idempotent=call.idempotent):
            with attempt:
                return await self._attempt(call)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, call: _Call) -> BatchState:
        method, url, headers, body = self._request(call)
        logger.debug("%s %s", method, urlsplit(url).path)
        try:
            async with self._http.stream(
                method, url, headers=headers, content=body, follow_redirects=not call.authed
            ) as response:
                if response.status_code >= 400:
                    raise _status_error(call, response, await response.aread(), self._api_key)
                if call.sink is None:
                    return _interpret(call, await response.aread())
                part = _part_path(call.sink)
                with part.open("wb") as fh:
                    async for chunk in response.aiter_bytes():
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise _connection_error(call, exc) from exc
        return _settle_sink(call, part)

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSirayaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
