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
from typing import Any

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
REQUIRED_PARAMS = ("model", "messages", "max_tokens")


class CreateRejected(Exception):
    """The create body is invalid; ``message`` says why, ``param`` where."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def parse_create_body(
    body: bytes, *, max_requests: int, check_params: bool = True
) -> list[tuple[str, str, str]]:
    """Check a create body; return ``(custom_id, params_json, model)`` per request.

    With ``check_params=False`` (the ``anthropic`` dialect) only the shape is checked here:
    each ``params`` must be an object; its fields are checked per request later (``_params``).

    Raises
    ------
    CreateRejected
        For a body that is not JSON, has no non-empty ``requests`` list, has more than
        ``max_requests`` requests, or holds an invalid request.
    """
    requests = _requests_list(body)
    if len(requests) > max_requests:
        raise CreateRejected(
            f"the batch has {len(requests)} requests; at most {max_requests} are allowed per "
            "batch. Split it into several batches.",
            "requests",
        )
    seen: dict[str, int] = {}
    parsed = []
    for index, item in enumerate(requests):
        custom_id, params = _check_request(index, item, seen, check_params)
        seen[custom_id] = index
        model = params.get("model")
        parsed.append((custom_id, _ENCODE(params), model if isinstance(model, str) else ""))
    return parsed


def _requests_list(body: bytes) -> list[Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CreateRejected(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
        raise CreateRejected(
            'the body must be a JSON object with a "requests" list, e.g. '
            '{"requests": [{"custom_id": "r1", "params": {...}}]}',
            "requests",
        )
    if not data["requests"]:
        raise CreateRejected('"requests" is empty; a batch needs at least one request', "requests")
    return data["requests"]


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
