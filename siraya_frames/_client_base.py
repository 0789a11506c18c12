"""What :class:`~siraya_frames.SirayaClient` and its async twin share: settings, the call
descriptions (:class:`~siraya_frames._http.HttpCall` values) and the reading of answers
through the client's wire protocol. No I/O but moving finished downloads into place.

Examples
--------
>>> _Base("k", None, protocol="openai", timeout=1.0, retry=None, allow_insecure_http=None).base_url
'https://api.openai.com/v1'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from siraya_frames import _config
from siraya_frames._http import (
    HttpCall,
    RetryPolicy,
    headers_for,
    part_path,
    status_error,
)
from siraya_frames._protocols import WireProtocol, get_protocol, resolve_url
from siraya_frames._protocols._base import decode_object
from siraya_frames._shapes import BatchState, BatchStatus, looks_like_jsonl_results

logger = logging.getLogger("siraya_frames")

_HEAD_BYTES = 65536
_SERVICE = {"siraya": "Siraya", "anthropic": "Anthropic", "openai": "OpenAI"}

BatchList = tuple[list[BatchState], str | None]


def _as_bytes(body: bytes | str | dict[str, Any]) -> bytes:
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False).encode()
    return body.encode() if isinstance(body, str) else body


def _multipart(payload: bytes, filename: str) -> tuple[bytes, str]:
    """The ``POST /files`` form body (``purpose=batch``, ``file=<name>.jsonl``) and its type."""
    files = {"file": (filename, payload, "application/jsonl")}
    request = httpx.Request(
        "POST", "http://upload.invalid/", data={"purpose": "batch"}, files=files
    )
    return request.read(), request.headers["content-type"]


class _Base:
    """What the sync and async clients share: settings, URLs and the call descriptions."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        *,
        protocol: str | WireProtocol | None,
        timeout: float,
        retry: RetryPolicy | None,
        allow_insecure_http: bool | None,
    ) -> None:
        self.wire = get_protocol(protocol or _config.resolve_protocol(None))
        self._api_key = _config.resolve_api_key(
            api_key, env_var=self.wire.env_api_key, service=_SERVICE[self.wire.name]
        )
        self.base_url = _config.resolve_base_url(
            base_url,
            allow_insecure_http=allow_insecure_http,
            env_var=self.wire.env_base_url,
            default=self.wire.default_base_url,
        )
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    @property
    def protocol(self) -> str:
        """The wire protocol's name: ``siraya``, ``anthropic`` or ``openai``."""
        return self.wire.name

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, protocol={self.protocol!r}, "
            "api_key=<redacted>)"
        )

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

    # ---- call descriptions
    def _create_call(
        self,
        body: bytes,
        idempotency_key: str | None,
        input_file_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> HttpCall:
        wire_body = self.wire.create_body(
            body, input_file_id=input_file_id, metadata=metadata or {}
        )
        url = self.wire.create_url(self.base_url)
        honoured = self.wire.honours_idempotency_key
        return HttpCall(
            "POST", url, body=wire_body, idempotency_key=idempotency_key, key_honoured=honoured
        )

    def _get_call(self, batch_id: str, sink: str | os.PathLike[str] | None) -> HttpCall:
        url = self.wire.batch_url(self.base_url, batch_id)
        return HttpCall("GET", url, batch_id=batch_id, sink=Path(sink) if sink else None)

    def _cancel_call(self, batch_id: str) -> HttpCall:
        return HttpCall("POST", self.wire.cancel_url(self.base_url, batch_id), batch_id=batch_id)

    def _list_call(self, after: str | None) -> HttpCall:
        return HttpCall("GET", self.wire.list_url(self.base_url, after), kind="list")

    def _upload_call(self, payload: bytes, filename: str, key: str | None) -> HttpCall:
        body, content_type = _multipart(payload, filename)
        url = self.wire.upload_url(self.base_url)
        return HttpCall(
            "POST", url, body=body, content_type=content_type, idempotency_key=key, kind="file"
        )

    def _fetch_call(self, url: str, batch_id: str | None, sink: str | os.PathLike[str]) -> HttpCall:
        url = resolve_url(self.base_url, url)
        # The API key goes only to the configured service's origin, never to a file host.
        authed = self._same_origin(url)
        return HttpCall(
            "GET", url, batch_id=batch_id, authed=authed, sink=Path(sink), raw_file=True
        )

    def _request(self, call: HttpCall) -> tuple[str, str, dict[str, str], bytes | None]:
        headers = headers_for(call, self.wire.auth_headers(self._api_key))
        return call.method, call.url, headers, call.body

    # ---- answers
    def _error(self, call: HttpCall, response: httpx.Response, body: bytes) -> Exception:
        detail = self.wire.error_detail(body)
        return status_error(call, response, detail, self._api_key, self.wire.env_api_key)

    def _interpret(self, call: HttpCall, body: bytes) -> Any:
        """Turn a successful answer (or a saved file) into what the call asked for."""
        if call.kind == "list":
            return self.wire.parse_list(body)
        if call.kind == "file":
            return self.wire.parse_file(body)
        if call.method == "GET":
            state = self.wire.parse_get_body(body, batch_id=call.batch_id or "")
        else:
            obj = decode_object(
                body, what=f"POST {urlsplit(call.url).path}", batch_id=call.batch_id
            )
            state = self.wire.parse_batch(obj, batch_id=call.batch_id)
        return self._resolved(state)

    def _resolved(self, state: BatchState) -> BatchState:
        """``state`` with its result URLs made absolute (a relative URL is the service's)."""
        if not state.result_urls and not state.result_url:
            return state
        urls = tuple(
            resolve_url(self.base_url, u) for u in state.result_urls or (state.result_url,)
        )
        return replace(state, result_url=urls[0], result_urls=urls)

    def _settle_sink(self, call: HttpCall, part: Path) -> BatchState:
        """Decide what a streamed body was: keep it as the results file, or parse the status."""
        assert call.sink is not None
        with part.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
        if call.raw_file or looks_like_jsonl_results(head):
            os.replace(part, call.sink)
            return BatchState(call.batch_id, BatchStatus.COMPLETED, results_path=str(call.sink))
        state = self._interpret(call, part.read_bytes())
        if state.results is not None:
            os.replace(part, call.sink)
            return replace(state, results=None, results_path=str(call.sink))
        part.unlink()
        return state


def _join_parts(parts: Sequence[Path], sink: Path, batch_id: str | None) -> BatchState:
    """Concatenate downloaded result files (each ending in a newline) into ``sink``."""
    tmp = part_path(sink.with_name(sink.name + ".all"))
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out)
            if part.stat().st_size and not _ends_with_newline(part):
                out.write(b"\n")
    os.replace(tmp, sink)
    for part in parts:
        part.unlink(missing_ok=True)
    return BatchState(batch_id, BatchStatus.COMPLETED, results_path=str(sink))


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _urls(url: str | Sequence[str]) -> list[str]:
    return [url] if isinstance(url, str) else list(url)


def _piece(sink: Path, i: int) -> Path:
    return sink.with_name(f".{sink.name}.{i}.download")
