"""Create-time validation of a ``POST /v1/batches`` body.

A body is accepted whole or refused whole (nothing is stored); the message names the first
offending request by index and ``custom_id``.

Examples
--------
>>> body = b'{"requests":[{"custom_id":"a","params":{"model":"m","max_tokens":5,"messages":[]}}]}'
>>> parse_create_body(body, max_requests=10)[0][0]
'a'
>>> try:
...     parse_create_body(b'{"requests":[{"custom_id":"a b","params":{}}]}', max_requests=10)
... except CreateRejected as exc:
...     print(exc.message)
requests[0] (custom_id 'a b'): custom_id must be 1 to 64 letters, digits, '-' or '_'
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from typing import Any

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SHAPE = (
    'the body must be a JSON object with a "requests" list, e.g. '
    '{"requests": [{"custom_id": "r1", "params": {...}}]}'
)
CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}\Z")  # \Z: "$" would allow a last "\n"
REQUIRED_PARAMS = ("model", "messages", "max_tokens")


class CreateRejected(Exception):
    """The create body is invalid; ``message`` says why, ``param`` where."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def parse_create_body(
    body: bytes | bytearray, *, max_requests: int, check_params: bool = True
) -> list[tuple[str, str, str]]:
    """Check a create body; return ``(custom_id, params_json, model)`` per request.

    The ``requests`` list is read one item at a time, so the memory used is the body, its
    text, and the requests kept (never every item parsed at once), and a body with more
    than ``max_requests`` items is refused at item ``max_requests + 1``.

    With ``check_params=False`` (the ``anthropic`` dialect) only the shape is checked here:
    each ``params`` must be an object; its fields are checked per request later (``_params``).

    Raises
    ------
    CreateRejected
        For a body that is not JSON (or nests too deep), has no non-empty ``requests``
        list, has more than ``max_requests`` requests, or holds an invalid request.
    """
    seen: dict[str, int] = {}
    parsed = []
    for index, item in enumerate(_request_items(decode_text(body), max_requests)):
        custom_id, params = _check_request(index, item, seen, check_params)
        seen[custom_id] = index
        model = params.get("model")
        parsed.append((custom_id, _ENCODE(params), model if isinstance(model, str) else ""))
    if not parsed:
        raise CreateRejected('"requests" is empty; a batch needs at least one request', "requests")
    return parsed


def decode_text(body: bytes | bytearray) -> str:
    """Return the body as text, or raise ``CreateRejected`` for bytes that are not UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CreateRejected(f"the request body is not valid JSON: {exc}") from None


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads`` where invalid or too deeply nested JSON raises ``CreateRejected``.

    Examples
    --------
    >>> try:
    ...     loads("[" * 100_000)
    ... except CreateRejected as exc:
    ...     print(exc.message)
    the request body is not valid JSON: it nests too deeply
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise CreateRejected("the request body is not valid JSON: it nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CreateRejected(f"the request body is not valid JSON: {exc}") from None


def _decode_at(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise CreateRejected("the request body is not valid JSON: it nests too deeply") from None
    except ValueError as exc:
        raise CreateRejected(f"the request body is not valid JSON: {exc}") from None


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def _expect(text: str, pos: int, allowed: str) -> str:
    found = text[pos : pos + 1]
    if not found or found not in allowed:
        shown = repr(found) if found else "the end"
        raise CreateRejected(
            f"the request body is not valid JSON: expected one of {allowed!r} at char {pos}, "
            f"found {shown}"
        )
    return found


def _request_items(text: str, max_requests: int) -> Iterator[Any]:
    """Yield the items of the top-level ``requests`` list, one at a time."""
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        _decode_at(text, pos)  # a JSON error if it is not JSON at all
        raise CreateRejected(_SHAPE, "requests")
    pos, found = _skip(text, pos + 1), False
    if text[pos : pos + 1] == "}":
        pos += 1
    else:
        while True:
            key, pos = _decode_at(text, pos)
            pos = _skip(text, pos)
            _expect(text, pos, ":")
            pos = _skip(text, pos + 1)
            if key == "requests" and not found and text[pos : pos + 1] == "[":
                found = True
                pos = yield from _list_items(text, pos, max_requests)
            else:
                _, pos = _decode_at(text, pos)
            pos = _skip(text, pos)
            if _expect(text, pos, ",}") == "}":
                pos += 1
                break
            pos = _skip(text, pos + 1)
    if _skip(text, pos) != len(text):
        raise CreateRejected(f"the request body is not valid JSON: extra data at char {pos}")
    if not found:
        raise CreateRejected(_SHAPE, "requests")


def _list_items(text: str, pos: int, max_requests: int) -> Generator[Any, None, int]:
    pos, count = _skip(text, pos + 1), 0
    if text[pos : pos + 1] == "]":
        return pos + 1
    while True:
        item, pos = _decode_at(text, pos)
        count += 1
        if count > max_requests:
            raise CreateRejected(
                f"the batch has at least {count} requests; at most {max_requests} are allowed "
                "per batch. Split it into several batches.",
                "requests",
            )
        yield item
        pos = _skip(text, pos)
        if _expect(text, pos, ",]") == "]":
            return pos + 1
        pos = _skip(text, pos + 1)


def _check_request(
    index: int, item: Any, seen: dict[str, int], check_params: bool
) -> tuple[str, dict[str, Any]]:
    where = f"requests[{index}]"
    if not isinstance(item, dict):
        raise CreateRejected(f"{where} must be an object with custom_id and params", where)
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str):
        raise CreateRejected(f"{where}: custom_id is missing (or not a string)", where)
    where = f"{where} (custom_id {_short(custom_id)})"
    if not CUSTOM_ID_PATTERN.match(custom_id):
        raise CreateRejected(
            f"{where}: custom_id must be 1 to 64 letters, digits, '-' or '_'",
            f"requests[{index}].custom_id",
        )
    if custom_id in seen:
        raise CreateRejected(
            f"{where}: duplicate custom_id, already used by requests[{seen[custom_id]}]; "
            "custom_ids must be unique within a batch",
            f"requests[{index}].custom_id",
        )
    params = item.get("params")
    if not isinstance(params, dict):
        raise CreateRejected(f"{where}: params is missing (or not an object)", where)
    if check_params:
        _check_params(index, where, params)
    return custom_id, params


def _check_params(index: int, where: str, params: dict[str, Any]) -> None:
    for name in REQUIRED_PARAMS:
        if name not in params:
            raise CreateRejected(
                f"{where}: params.{name} is required", f"requests[{index}].params.{name}"
            )
    if not isinstance(params["model"], str) or not params["model"]:
        raise CreateRejected(
            f"{where}: params.model must be a non-empty string", f"requests[{index}].params.model"
        )
    if not isinstance(params["messages"], list):
        raise CreateRejected(
            f"{where}: params.messages must be a list", f"requests[{index}].params.messages"
        )
    max_tokens = params["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise CreateRejected(
            f"{where}: params.max_tokens must be an integer >= 1, got {max_tokens!r}",
            f"requests[{index}].params.max_tokens",
        )


def _short(custom_id: str) -> str:
    return repr(custom_id if len(custom_id) <= 80 else custom_id[:77] + "...")
