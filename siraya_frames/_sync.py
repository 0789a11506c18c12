"""Answers now: each unique request sent to the service's synchronous endpoint.

The I/O edge of :func:`~siraya_frames.preview`. Each request is one
:class:`~siraya_frames._http.HttpCall` of kind ``sync`` made through the client's own
machinery (its retry policy honouring ``Retry-After``, its rate limiter that a 429 pauses,
its bounds on size, time, depth and redirects, the key kept out of every message), at most
``max_concurrency`` at once. The endpoint, body and reading of the answer come from the
client's wire protocol: ``POST /messages`` (Siraya, Anthropic), ``POST /chat/completions``
(OpenAI). Every body is built before anything is sent, so a parameter with no equivalent is
refused before any spend.

An HTTP error answer to one request becomes that request's errored row; only a refused key
(401, 403) raises, and then no further request is sent.

Examples
--------
>>> import polars as pl
>>> from siraya_frames import SirayaClient
>>> from siraya_frames.emulator import Emulator
>>> unique = pl.DataFrame({"custom_id": ["a"], "params_json": [
...     '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}']})
>>> with Emulator() as emu, SirayaClient("k", emu.base_url) as client:
...     answer_now(client, unique).select("custom_id", "result_status", "response_text").row(0)
('a', 'succeeded', 'hi')
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

from siraya_frames._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    PermissionDeniedError,
)
from siraya_frames._guards import redact
from siraya_frames._http import HttpCall
from siraya_frames._lines_common import RESULT_SCHEMA, row

__all__ = ["answer_now"]


def _calls(client: Any, unique: pl.DataFrame) -> list[tuple[str, HttpCall]]:
    """One ``sync`` call per request, every body built before any is sent."""
    wire, url = client.wire, client.wire.sync_url(client.base_url)
    pairs = zip(unique["custom_id"], unique["params_json"], strict=True)
    return [
        (cid, HttpCall("POST", url, body=wire.sync_body(params, custom_id=cid), kind="sync"))
        for cid, params in pairs
    ]


def _error_row(custom_id: str, exc: APIError) -> tuple[Any, ...]:
    """The errored row of a call that failed after its retries (the message is redacted)."""
    if isinstance(exc, APIStatusError):
        kind = exc.error_type or f"http_{exc.status_code}"
    elif isinstance(exc, APITimeoutError):
        kind = "timeout"
    elif isinstance(exc, APIConnectionError):
        kind = "connection_error"
    else:
        kind = "unrecognized_result"
    return row(custom_id, "errored", error=(kind, str(exc)))


class _Sender:
    """Sends calls from threads; after a refused key, sends nothing more."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.refused = threading.Event()

    def __call__(self, item: tuple[str, HttpCall]) -> tuple[Any, ...] | None:
        custom_id, call = item
        if self.refused.is_set():
            return None
        try:
            body = self.client._call(call)
        except (AuthenticationError, PermissionDeniedError):
            self.refused.set()
            raise
        except APIError as exc:
            return _error_row(custom_id, exc)
        found = self.client.wire.parse_sync(body, custom_id=custom_id)
        if found[-1] is not None:  # an unrecognized answer quotes it: keep the key out
            found = (*found[:-1], redact(found[-1], self.client._api_key))
        return found


def answer_now(
    client: Any, unique: pl.DataFrame, *, max_concurrency: int | None = None
) -> pl.DataFrame:
    """Answer each request of ``unique`` (``custom_id``, ``params_json``) synchronously.

    Parameters
    ----------
    client
        A :class:`~siraya_frames.SirayaClient`.
    unique
        One row per request, as :func:`~siraya_frames._unique.unique_requests` gives.
    max_concurrency
        Requests in flight at once; default the client's ``max_concurrency``.

    Returns
    -------
    pl.DataFrame
        One :data:`~siraya_frames._lines_common.RESULT_SCHEMA` row per request, in order.

    Raises
    ------
    AuthenticationError, PermissionDeniedError
        The key was refused (401, 403): nothing more is sent.
    ParameterError
        A request cannot be expressed in the protocol (before anything is sent).
    """
    calls = _calls(client, unique)
    if not calls:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    width = max(1, min(max_concurrency or client.max_concurrency, len(calls)))
    sender = _Sender(client)
    with ThreadPoolExecutor(width, thread_name_prefix="siraya-preview") as pool:
        try:
            rows = list(pool.map(sender, calls))
        except BaseException:
            sender.refused.set()  # the calls not started yet send nothing
            raise
    return pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row")
