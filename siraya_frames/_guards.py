"""Bounds on everything a server sends: sizes, deadlines, JSON depth, ids, secrets.

A server can drip bytes, stream for ever, inflate a gzip bomb, nest JSON a million deep, send
ids full of ``../`` and NUL, or echo the API key back. This module holds the pure checks the
HTTP layer applies to every answer, so that each becomes a typed result or a
:class:`~siraya_frames.errors.SirayaError`, never a raw exception, a hang or a full disk.

Examples
--------
>>> path_segment("../../admin/x")
'..%2F..%2Fadmin%2Fx'
>>> redact("use a new key", "k")
'use a new key'
>>> redact("bad key sk-123 here", "sk-123")
'bad key <redacted> here'
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
import unicodedata
from typing import Any
from urllib.parse import quote

from siraya_frames._errors import APITimeoutError, InputError, UnexpectedResponseError

__all__ = [
    "DEFAULT_MAX_JSON_BYTES",
    "MAX_BATCH_ID_CHARS",
    "ByteBudget",
    "Deadline",
    "check_batch_id",
    "count_of",
    "finite_seconds",
    "loads",
    "path_segment",
    "redact",
    "retry_after_seconds",
]

DEFAULT_MAX_JSON_BYTES = 32 << 20
"""Decoded bytes of one JSON answer (create, status, cancel, list) read into memory: 32 MiB."""
MAX_BATCH_ID_CHARS = 256
"""The longest batch or file id accepted from a server (real ones are under 64)."""
_REDACTED = "<redacted>"
_WORD = r"[A-Za-z0-9_\-]"
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format, surrogate, private and unassigned characters, and line separators."""


def redact(text: str, secret: str | None) -> str:
    """Replace ``secret`` in ``text`` where it stands as a whole token.

    A short key must not mangle words: with key ``k``, "use a new key" stays as it is.

    Examples
    --------
    >>> redact("key=abc123;", "abc123")
    'key=<redacted>;'
    >>> redact("xabc123", "abc123")
    'xabc123'
    """
    if not secret or secret not in text:
        return text
    pattern = rf"(?<!{_WORD}){re.escape(secret)}(?!{_WORD})"
    return re.sub(pattern, _REDACTED, text)


def _bad_char(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return repr(char)
    return None


def check_batch_id(value: object, *, what: str = "batch id") -> str:
    """Return ``value`` if it can name a batch (or file) in a URL path; raise otherwise.

    Raises
    ------
    UnexpectedResponseError
        For an empty, over-long or non-string id, or one holding control, format or space
        or line-separator characters (NUL, CR/LF, a right-to-left override...).

    Examples
    --------
    >>> check_batch_id("msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d")
    'msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d'
    >>> check_batch_id("a\\x00b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.UnexpectedResponseError: the service gave a batch id that ...
    """
    problem = None
    if not isinstance(value, str) or not value:
        problem = f"it is {value!r}"
    elif len(value) > MAX_BATCH_ID_CHARS:
        problem = f"it is {len(value):,} characters long (at most {MAX_BATCH_ID_CHARS})"
    elif bad := _bad_char(value):
        problem = f"it holds the character {bad}"
    if problem is None:
        return value  # type: ignore[return-value]
    raise UnexpectedResponseError(
        f"the service gave a {what} that cannot be used: {problem}; nothing is sent with it. "
        "Check that base_url and protocol point at the batch API you mean"
    )


def path_segment(value: str, *, what: str = "batch id") -> str:
    """``value`` checked and percent-encoded as exactly one URL path segment.

    Examples
    --------
    >>> path_segment("a b?c#d")
    'a%20b%3Fc%23d'
    """
    try:
        checked = check_batch_id(value, what=what)
    except UnexpectedResponseError as exc:
        raise InputError(str(exc).replace("the service gave", "got")) from None
    return quote(checked, safe="")


def loads(body: bytes | str, *, what: str, batch_id: str | None = None) -> Any:
    """``json.loads`` whose every failure is an :class:`UnexpectedResponseError`.

    Nesting deeper than the interpreter's recursion limit, numbers such as ``1e999``
    (read as infinity, then refused where a count is expected) and invalid UTF-8 are all
    reported, with the start of the body, never raised raw.

    Examples
    --------
    >>> loads(b'{"a": 1}', what="the status answer")
    {'a': 1}
    >>> loads(b"[" * 100000, what="the status answer")
    Traceback (most recent call last):
    ...
    siraya_frames._errors.UnexpectedResponseError: the status answer is nested too deep ...
    """
    try:
        return json.loads(body)
    except RecursionError:
        reason = "is nested too deep to be JSON from a batch API"
    except (ValueError, UnicodeDecodeError) as exc:
        reason = f"is not JSON ({getattr(exc, 'msg', type(exc).__name__)})"
    head = body[:200] if isinstance(body, bytes | str) else b""
    raise UnexpectedResponseError(f"{what} {reason}: {head!r}", batch_id=batch_id)


def finite_seconds(value: object) -> float | None:
    """A number of seconds as a finite float >= 0, else None (``nan``, ``inf``, text...).

    Examples
    --------
    >>> finite_seconds("7"), finite_seconds("nan"), finite_seconds(-3), finite_seconds("soon")
    (7.0, None, 0.0, None)
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return max(number, 0.0) if math.isfinite(number) else None


def count_of(value: object) -> int | None:
    """A request count: an integer >= 0 (or a whole, finite float or numeric text), else None.

    Examples
    --------
    >>> count_of(3), count_of("4"), count_of(5.0), count_of(1e999), count_of(-1), count_of(True)
    (3, 4, 5, None, None, None)
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a ``Retry-After`` / ``retry-after-ms`` header asks for; None if unreadable.

    Examples
    --------
    >>> retry_after_seconds({"retry-after": "soon"}) is None
    True
    >>> retry_after_seconds({"retry-after-ms": "1500"})
    1.5
    """
    millis = finite_seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = finite_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return finite_seconds(when.timestamp() - time.time())


class Deadline:
    """A total time budget for one call: connect, send, every read and redirect included.

    Examples
    --------
    >>> deadline = Deadline(5.0, what="GET /v1/batches/b")
    >>> 0 < deadline.left() <= 5.0
    True
    """

    def __init__(self, seconds: float, *, what: str, batch_id: str | None = None) -> None:
        self.seconds = seconds
        self.what = what
        self.batch_id = batch_id
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises :class:`APITimeoutError` once none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise APITimeoutError(
                f"{self.what}: no complete answer within {self.seconds:g} s (the total deadline "
                "of one call); raise timeout= if the service is just slow",
                batch_id=self.batch_id,
            )
        return left


class ByteBudget:
    """Bytes one answer may still bring, and its deadline: each chunk is counted as it comes.

    Examples
    --------
    >>> budget = ByteBudget(3, Deadline(9, what="x"), what="the download", hint="raise it")
    >>> budget.take(b"ab")
    b'ab'
    >>> budget.take(b"cd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.UnexpectedResponseError: the download is larger than 3 bytes ...
    """

    def __init__(self, max_bytes: int, deadline: Deadline, *, what: str, hint: str) -> None:
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.what = what
        self.hint = hint
        self.total = 0

    def take(self, chunk: bytes) -> bytes:
        """Count ``chunk``; raise once the total is over the cap or the deadline has passed."""
        self.total += len(chunk)
        if self.total > self.max_bytes:
            raise UnexpectedResponseError(
                f"{self.what} is larger than {_size(self.max_bytes)} (decoded), the most "
                f"allowed; {self.hint}",
                batch_id=self.deadline.batch_id,
            )
        self.deadline.left()
        return chunk


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):,.0f} MiB"
    return f"{n:,} bytes"
