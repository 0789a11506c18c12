"""HTTP clients of the batch APIs: :class:`SirayaClient` and :class:`AsyncSirayaClient`.

Both share everything but the line that performs I/O: a call is described by an
:class:`~siraya_frames._http.HttpCall` value, its answer is read by the client's wire
protocol (``protocol="siraya"``, ``"anthropic"`` or ``"openai"``, see ``_protocols/``), and
the retry policy is one tenacity value (``_http.py``). The API key is sent only to the
configured base URL's origin and never appears in a repr, a log line or an exception.

Examples
--------
>>> client = SirayaClient(api_key="sk-secret", base_url="http://127.0.0.1:9/v1")
>>> "sk-secret" in repr(client)
False
>>> client.close()
>>> SirayaClient("k", protocol="anthropic").base_url
'https://api.anthropic.com/v1'
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from siraya_frames import _config
from siraya_frames._client_base import BatchList, _as_bytes, _Base
from siraya_frames._downloads import _join_parts, _piece, _urls, open_part
from siraya_frames._errors import SirayaError
from siraya_frames._guards import Deadline
from siraya_frames._http import (
    HttpCall,
    RetryPolicy,
    connection_error,
    is_transient,
    part_path,
)
from siraya_frames._models import AsyncModelListing, ModelListing
from siraya_frames._ratelimit import RateLimiter
from siraya_frames._shapes import BatchState

logger = logging.getLogger("siraya_frames")

__all__ = ["AsyncSirayaClient", "RetryPolicy", "SirayaClient", "is_transient"]

_ERROR_BYTES = 65536
"""The most of an error answer read: its message is in the first bytes."""


def _head(chunks: Iterable[bytes], deadline: Deadline) -> bytes:
    """The first ``_ERROR_BYTES`` of an answer, read within the call's deadline."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) >= _ERROR_BYTES or not deadline.left():
            break
    return bytes(out[:_ERROR_BYTES])


async def _ahead(chunks: AsyncIterable[bytes], deadline: Deadline) -> bytes:
    """The awaitable :func:`_head`."""
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) >= _ERROR_BYTES or not deadline.left():
            break
    return bytes(out[:_ERROR_BYTES])


class SirayaClient(ModelListing, _Base):
    """A synchronous client of a batch API: Siraya's, Anthropic's or OpenAI's.

    Parameters
    ----------
    api_key
        Defaults to the protocol's variable: ``SIRAYA_API_KEY``, ``ANTHROPIC_API_KEY`` or
        ``OPENAI_API_KEY``.
    base_url
        Defaults to ``SIRAYA_BASE_URL`` (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``), then
        the protocol's service (``https://llm.siraya.pro/v1`` for Siraya).
    protocol
        ``"siraya"`` (default; or ``SIRAYA_PROTOCOL``), ``"anthropic"`` (Message Batches) or
        ``"openai"`` (the file-based Batch API, also Azure, Groq, Together, vLLM).
    timeout
        Seconds one API call may take in all (connect, send, every read, redirects): a
        server that drips bytes cannot hold a call longer.
    download_timeout
        Seconds one results download may take in all (a stall is still cut after
        ``timeout``).
    retry
        A :class:`RetryPolicy`; transient failures (transport errors, 408, 429, 5xx, 529)
        are retried with jittered backoff honouring ``Retry-After``.
    transport, http_client
        An httpx transport or a whole ``httpx.Client`` to use (tests, proxies, the emulator).
    allow_insecure_http
        Allow plain ``http://`` to a host that is not this machine.
    max_concurrency
        Calls (creates, polls, downloads) a job sends at once (default 4, or
        ``SIRAYA_MAX_CONCURRENCY``).
    rate_limit
        Requests per minute of this client, all calls and threads together (or
        ``SIRAYA_RATE_LIMIT``; 0: no limit; or a :class:`~siraya_frames.RateLimiter`).
        Defaults to the protocol's (Anthropic 50, OpenAI 300, Siraya 120), except for a
        service on this machine. A 429 or ``Retry-After`` on any call pauses them all.

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
        protocol: str | None = None,
        timeout: float = _config.DEFAULT_TIMEOUT,
        download_timeout: float = _config.DEFAULT_DOWNLOAD_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        allow_insecure_http: bool | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | RateLimiter | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            protocol=protocol,
            timeout=timeout,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
            download_timeout=download_timeout,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
        )
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout)

    def create_batch(
        self,
        body: bytes | str | dict[str, Any],
        *,
        idempotency_key: str | None = None,
        input_file_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> BatchState:
        """Create a batch: the planned body (inline protocols) or from an uploaded file."""
        call = self._create_call(_as_bytes(body), idempotency_key, input_file_id, metadata)
        return self._call(call)

    def upload_file(
        self, payload: bytes, *, filename: str = "batch.jsonl", idempotency_key: str | None = None
    ) -> str:
        """Upload a JSONL request file (``POST /files``, ``purpose=batch``); return its id."""
        return self._call(self._upload_call(payload, filename, idempotency_key))

    def get_batch(
        self,
        batch_id: str,
        *,
        results_path: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> BatchState:
        """The batch's state; Siraya may answer with the results themselves.

        With ``results_path`` such results are streamed to disk atomically
        (``state.results_path``), at most ``max_bytes`` of them; otherwise they are in
        ``state.results``. ``timeout`` shortens the call's deadline.
        """
        return self._call(self._get_call(batch_id, results_path, max_bytes, timeout))

    def cancel_batch(self, batch_id: str) -> BatchState:
        """Ask the service to cancel the batch."""
        return self._call(self._cancel_call(batch_id))

    def list_batches(self, *, after: str | None = None) -> BatchList:
        """One page of recent batches, and the cursor of the next page (None at the end)."""
        return self._call(self._list_call(after))

    def fetch_results(
        self,
        url: str | Sequence[str],
        results_path: str | os.PathLike[str],
        *,
        batch_id: str | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> BatchState:
        """Download result file(s) into ``results_path`` (no key unless same origin).

        Redirects are followed (the key only to the service's own origin); each file may
        bring at most ``max_bytes`` (decoded; default ``DEFAULT_MAX_RESULT_BYTES``), within
        the client's ``download_timeout``. An empty file, or one that holds no result line,
        raises :class:`~siraya_frames.errors.UnexpectedResponseError` and is not saved.
        """
        sink, urls = Path(results_path), _urls(url)
        if len(urls) == 1:
            return self._call(self._fetch_call(urls[0], batch_id, sink, max_bytes, timeout))
        parts = [_piece(sink, i) for i in range(len(urls))]
        for u, part in zip(urls, parts, strict=True):
            self._call(self._fetch_call(u, batch_id, part, max_bytes, timeout))
        return _join_parts(parts, sink, batch_id)

    def _call(self, call: HttpCall) -> Any:
        for attempt in self.retry.retrying(idempotent=call.idempotent):
            with attempt:
                if self.limiter is not None:
                    self.limiter.acquire()
                try:
                    return self._attempt(call)
                except SirayaError as exc:
                    self._throttle(exc)
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, call: HttpCall) -> Any:
        deadline = self._deadline(call)
        try:
            while True:
                with self._http.stream(**self._open(call, deadline)) as response:
                    if (hop := self._redirect(call, response)) is not None:
                        call = hop
                        continue
                    budget = self._budget(call, deadline)
                    if response.status_code >= 400:
                        raise self._error(call, response, _head(response.iter_bytes(), deadline))
                    if call.sink is None:
                        body = b"".join(budget.take(c) for c in response.iter_bytes())
                        return self._interpret(call, body)
                    part = part_path(call.sink)
                    with open_part(part) as fh:
                        for chunk in response.iter_bytes():
                            fh.write(budget.take(chunk))
                return self._settle_sink(call, part)
        except httpx.HTTPError as exc:
            raise connection_error(call, exc, self._api_key) from exc
        except SirayaError as exc:
            raise self._scrubbed(exc) from None

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __enter__(self) -> SirayaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSirayaClient(AsyncModelListing, _Base):
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
        protocol: str | None = None,
        timeout: float = _config.DEFAULT_TIMEOUT,
        download_timeout: float = _config.DEFAULT_DOWNLOAD_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        allow_insecure_http: bool | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | RateLimiter | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            protocol=protocol,
            timeout=timeout,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
            download_timeout=download_timeout,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
        )
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout)

    async def create_batch(
        self,
        body: bytes | str | dict[str, Any],
        *,
        idempotency_key: str | None = None,
        input_file_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> BatchState:
        """See :meth:`SirayaClient.create_batch`."""
        call = self._create_call(_as_bytes(body), idempotency_key, input_file_id, metadata)
        return await self._call(call)

    async def upload_file(
        self, payload: bytes, *, filename: str = "batch.jsonl", idempotency_key: str | None = None
    ) -> str:
        """See :meth:`SirayaClient.upload_file`."""
        return await self._call(self._upload_call(payload, filename, idempotency_key))

    async def get_batch(
        self,
        batch_id: str,
        *,
        results_path: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> BatchState:
        """See :meth:`SirayaClient.get_batch`."""
        return await self._call(self._get_call(batch_id, results_path, max_bytes, timeout))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        """See :meth:`SirayaClient.cancel_batch`."""
        return await self._call(self._cancel_call(batch_id))

    async def list_batches(self, *, after: str | None = None) -> BatchList:
        """See :meth:`SirayaClient.list_batches`."""
        return await self._call(self._list_call(after))

    async def fetch_results(
        self,
        url: str | Sequence[str],
        results_path: str | os.PathLike[str],
        *,
        batch_id: str | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> BatchState:
        """See :meth:`SirayaClient.fetch_results`."""
        sink, urls = Path(results_path), _urls(url)
        if len(urls) == 1:
            return await self._call(self._fetch_call(urls[0], batch_id, sink, max_bytes, timeout))
        parts = [_piece(sink, i) for i in range(len(urls))]
        for u, part in zip(urls, parts, strict=True):
            await self._call(self._fetch_call(u, batch_id, part, max_bytes, timeout))
        return _join_parts(parts, sink, batch_id)

    async def _call(self, call: HttpCall) -> Any:
        async for attempt in self.retry.async_retrying(idempotent=call.idempotent):
            with attempt:
                if self.limiter is not None:
                    await self.limiter.aacquire()
                try:
                    return await self._attempt(call)
                except SirayaError as exc:
                    self._throttle(exc)
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, call: HttpCall) -> Any:
        deadline = self._deadline(call)
        try:
            while True:
                async with self._http.stream(**self._open(call, deadline)) as response:
                    if (hop := self._redirect(call, response)) is not None:
                        call = hop
                        continue
                    budget = self._budget(call, deadline)
                    if response.status_code >= 400:
                        head = await _ahead(response.aiter_bytes(), deadline)
                        raise self._error(call, response, head)
                    if call.sink is None:
                        body = [budget.take(c) async for c in response.aiter_bytes()]
                        return self._interpret(call, b"".join(body))
                    part = part_path(call.sink)
                    with open_part(part) as fh:
                        async for chunk in response.aiter_bytes():
                            fh.write(budget.take(chunk))
                return self._settle_sink(call, part)
        except httpx.HTTPError as exc:
            raise connection_error(call, exc, self._api_key) from exc
        except SirayaError as exc:
            raise self._scrubbed(exc) from None

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSirayaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
