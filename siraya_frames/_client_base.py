"""What :class:`~siraya_frames.SirayaClient` and its async twin share: settings, the call
descriptions (:class:`~siraya_frames._http.HttpCall` values) and the reading of answers
through the client's wire protocol. No I/O but moving finished downloads into place (the
files of a download are ``_downloads.py``'s).

Examples
--------
>>> _Base("k", None, protocol="openai", timeout=1.0, retry=None, allow_insecure_http=None).base_url
'https://api.openai.com/v1'
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from siraya_frames import _config
from siraya_frames._downloads import HEAD_BYTES, _inline_document, _not_results
from siraya_frames._errors import (
    ConfigurationError,
    SirayaError,
    UnexpectedResponseError,
)
from siraya_frames._guards import (
    DEFAULT_MAX_JSON_BYTES,
    ByteBudget,
    Deadline,
    check_batch_id,
    redact,
)
from siraya_frames._http import (
    HttpCall,
    RetryPolicy,
    headers_for,
    status_error,
)
from siraya_frames._protocols import WireProtocol, get_protocol, resolve_url
from siraya_frames._protocols._base import decode_object
from siraya_frames._ratelimit import RateLimiter
from siraya_frames._shapes import BatchState, BatchStatus, looks_like_jsonl_results

logger = logging.getLogger("siraya_frames")

MAX_REDIRECTS = 5
_HEAD_LINES = 16
"""Lines of a download looked at for a result line (a bad first line must not hide them)."""
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


def resolve_key(wire: WireProtocol, api_key: str | None = None) -> str:
    """The API key of ``wire``'s service: the argument, else its environment variable.

    Raises
    ------
    ConfigurationError
        When neither is set; the message names both fixes.
    """
    return _config.resolve_api_key(api_key, env_var=wire.env_api_key, service=_SERVICE[wire.name])


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
        download_timeout: float = _config.DEFAULT_DOWNLOAD_TIMEOUT,
        max_concurrency: int | None = None,
        rate_limit: float | RateLimiter | None = None,
    ) -> None:
        self.wire = get_protocol(protocol or _config.resolve_protocol(None))
        self._api_key = resolve_key(self.wire, api_key)
        self.base_url = _config.resolve_base_url(
            base_url,
            allow_insecure_http=allow_insecure_http,
            env_var=self.wire.env_base_url,
            default=self.wire.default_base_url,
        )
        self._insecure_ok = urlsplit(self.base_url).scheme == "http" or bool(
            _config.allow_insecure(allow_insecure_http)
        )
        self.timeout = timeout
        self.download_timeout = download_timeout
        self.retry = retry or RetryPolicy()
        self.max_concurrency = _config.resolve_max_concurrency(max_concurrency)
        self.limiter = self._limiter(rate_limit)

    def _limiter(self, rate_limit: float | RateLimiter | None) -> RateLimiter | None:
        """The client's one requests-per-minute budget (None: no limit)."""
        if isinstance(rate_limit, RateLimiter):
            return rate_limit
        per_minute = _config.resolve_rate_limit(
            rate_limit, default=self.wire.rate_limit, base_url=self.base_url
        )
        return RateLimiter(per_minute) if per_minute else None

    def _throttle(self, exc: SirayaError) -> None:
        """A 429 or ``Retry-After`` on this call pauses every call of the client."""
        if self.limiter is not None:
            self.limiter.throttle(exc)

    @property
    def protocol(self) -> str:
        """The wire protocol's name: ``siraya``, ``anthropic`` or ``openai``."""
        return self.wire.name

    def __repr__(self) -> str:
        wire = getattr(self, "wire", None)
        protocol = getattr(wire, "name", None)
        base_url = getattr(self, "base_url", None)
        name = type(self).__name__
        return f"{name}(base_url={base_url!r}, protocol={protocol!r}, api_key=<redacted>)"

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

    def _get_call(
        self,
        batch_id: str,
        sink: str | os.PathLike[str] | None,
        max_bytes: int | None = None,
        seconds: float | None = None,
    ) -> HttpCall:
        url = self.wire.batch_url(self.base_url, batch_id)
        path = Path(sink) if sink else None
        return HttpCall(
            "GET", url, batch_id=batch_id, sink=path, max_bytes=max_bytes, seconds=seconds
        )

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

    def _fetch_call(
        self,
        url: str,
        batch_id: str | None,
        sink: str | os.PathLike[str],
        max_bytes: int | None = None,
        seconds: float | None = None,
    ) -> HttpCall:
        url = self._checked_url(resolve_url(self.base_url, url), batch_id)
        # The API key goes only to the configured service's origin, never to a file host.
        return HttpCall(
            "GET",
            url,
            batch_id=batch_id,
            authed=self._same_origin(url),
            sink=Path(sink),
            raw_file=True,
            max_bytes=max_bytes,
            seconds=seconds,
        )

    def _checked_url(self, url: str, batch_id: str | None) -> str:
        """``url`` if results may be fetched from it: http(s), and no plain http from https."""
        scheme = urlsplit(url).scheme
        if scheme == "https" or (scheme == "http" and self._insecure_ok):
            return url
        if scheme == "http" and _config.is_loopback(urlsplit(url).hostname):
            return url
        raise ConfigurationError(
            f"batch {batch_id}: the results are at {redact(url, self._api_key)!r}, which is not "
            "https while the service is; they would travel unencrypted. Pass "
            "allow_insecure_http=True (or set SIRAYA_ALLOW_INSECURE_HTTP=1) to fetch them anyway"
        )

    def _scrubbed(self, exc: SirayaError) -> SirayaError:
        """``exc`` with the API key redacted from its message (a server may echo it in any
        answer, and parsers quote answers)."""
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (redact(exc.args[0], self._api_key), *exc.args[1:])
        if isinstance(getattr(exc, "message", None), str):
            exc.message = redact(exc.message, self._api_key)  # type: ignore[attr-defined]
        return exc

    # ---- one attempt: deadline, size, redirects
    def _deadline(self, call: HttpCall) -> Deadline:
        seconds = self.download_timeout if call.sink is not None else self.timeout
        if call.seconds is not None:
            seconds = min(seconds, call.seconds)
        what = f"{call.method} {urlsplit(call.url).path}"
        return Deadline(seconds, what=what, batch_id=call.batch_id)

    def _budget(self, call: HttpCall, deadline: Deadline) -> ByteBudget:
        if call.sink is None:
            what, limit = f"the answer to {deadline.what}", DEFAULT_MAX_JSON_BYTES
            hint = "this is not an answer a batch API gives; check base_url and protocol"
        else:
            limit = call.max_bytes or _config.DEFAULT_MAX_RESULT_BYTES
            what = f"the results download of batch {call.batch_id}"
            hint = (
                "if the results really are that large, raise max_result_bytes= (run, "
                "submit) or --max-result-bytes (siraya-frames run)"
            )
        return ByteBudget(limit, deadline, what=what, hint=hint)

    def _open(self, call: HttpCall, deadline: Deadline) -> dict[str, Any]:
        """The keyword arguments of one ``stream()``: no automatic redirects, and a timeout
        no longer than what is left of the call's deadline."""
        method, url, headers, body = self._request(call)
        logger.debug("%s %s", method, urlsplit(url).path)
        timeout = httpx.Timeout(min(self.timeout, deadline.left()))
        return {"method": method, "url": url, "headers": headers, "content": body,
                "follow_redirects": False, "timeout": timeout}  # fmt: skip

    def _redirect(self, call: HttpCall, response: httpx.Response) -> HttpCall | None:
        """The call to make next when ``response`` redirects a download, else None.

        Only downloads follow redirects (a file host is normal); the key goes along only to
        the service's own origin, and never from https down to plain http.
        """
        if not response.is_redirect:
            return None
        where = response.headers.get("location", "")
        if call.sink is None or not where:
            raise UnexpectedResponseError(
                f"{call.method} {urlsplit(call.url).path} answered {response.status_code} "
                f"(a redirect to {redact(where, self._api_key)!r}); check base_url",
                batch_id=call.batch_id,
            )
        if call.hops >= MAX_REDIRECTS:
            raise UnexpectedResponseError(
                f"the results of batch {call.batch_id} were redirected more than "
                f"{MAX_REDIRECTS} times; last to {redact(where, self._api_key)!r}",
                batch_id=call.batch_id,
            )
        url = self._checked_url(urljoin(call.url, where), call.batch_id)
        return replace(call, url=url, authed=self._same_origin(url), hops=call.hops + 1)

    def _request(self, call: HttpCall) -> tuple[str, str, dict[str, str], bytes | None]:
        auth = self.wire.sync_auth_headers if call.kind == "sync" else self.wire.auth_headers
        headers = headers_for(call, auth(self._api_key))
        return call.method, call.url, headers, call.body

    # ---- answers
    def _error(self, call: HttpCall, response: httpx.Response, body: bytes) -> Exception:
        detail = self.wire.error_detail(body)
        return status_error(
            call, response, detail, self._api_key, self.wire.env_api_key, self.base_url
        )

    def _interpret(self, call: HttpCall, body: bytes) -> Any:
        """Turn a successful answer (or a saved file) into what the call asked for."""
        if call.kind == "list":
            states, after = self.wire.parse_list(body)
            return [self._readable(state) for state in states], after
        if call.kind == "sync":
            return body
        if call.kind == "file":
            return check_batch_id(self.wire.parse_file(body), what="file id")
        if call.kind == "models":
            return self.wire.parse_models(body)
        if call.method == "GET":
            state = self.wire.parse_get_body(body, batch_id=call.batch_id or "")
        else:
            obj = decode_object(
                body, what=f"POST {urlsplit(call.url).path}", batch_id=call.batch_id
            )
            state = self.wire.parse_batch(obj, batch_id=call.batch_id)
            if call.batch_id is None:  # a create: the id is used in every later URL
                check_batch_id(state.batch_id)
        return self._readable(state)

    def _readable(self, state: BatchState) -> BatchState:
        """``state`` with the key redacted from its error and its result URLs absolute."""
        if state.error:
            state = replace(state, error=redact(state.error, self._api_key))
        return self._resolved(state)

    def _resolved(self, state: BatchState) -> BatchState:
        """``state`` with its result URLs made absolute (a relative URL is the service's)."""
        given = state.result_urls or ((state.result_url,) if state.result_url else ())
        if not given:
            return state
        urls = tuple(resolve_url(self.base_url, u) for u in given)
        return replace(state, result_url=urls[0], result_urls=urls)

    def _settle_sink(self, call: HttpCall, part: Path) -> BatchState:
        """Decide what a streamed body was: keep it as the results file, or parse the status.

        A download that is empty, or holds no result line near its start (an HTML sign-in
        page, an empty redirect), is never taken for results.
        """
        assert call.sink is not None
        try:
            with part.open("rb") as fh:
                head = fh.read(HEAD_BYTES)
            if looks_like_jsonl_results(head) or (call.raw_file and _inline_document(head)):
                os.replace(part, call.sink)
                return BatchState(call.batch_id, BatchStatus.COMPLETED, results_path=str(call.sink))
            if call.raw_file:
                raise _not_results(call, head, self._api_key)
            state = self._interpret(call, part.read_bytes())
            if state.results is not None:
                os.replace(part, call.sink)
                return replace(state, results=None, results_path=str(call.sink))
            return state
        finally:
            part.unlink(missing_ok=True)
