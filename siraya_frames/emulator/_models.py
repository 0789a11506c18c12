"""``GET /v1/models``: the emulator's list of models, in each dialect's shape (a mixin of
``Handlers``).

The list is ``EmulatorConfig.models`` (``Emulator(models=[...])``, ``serve --models a,b``).
By default it is empty: the emulator answers every model, so it lists none, and a client
checks no name against it. Shapes:

* Siraya dialects (quickstart, reference, infron): ``{data: [{id, object, created,
  owned_by}]}``;
* ``openai``: ``{object: "list", data: [{id, object: "model", created, owned_by}]}``;
* ``anthropic``: ``{data: [{id, display_name, created_at, lifecycle, type}], has_more,
  first_id, last_id}``, paged by ``limit`` (1 to 1,000, default 20), ``after_id`` and
  ``before_id``.

Examples
--------
>>> models_body("openai", ("m-1",), {})["data"][0]["id"]
'm-1'
>>> page = models_body("anthropic", ("a", "b", "c"), {"limit": "2"})
>>> [m["id"] for m in page["data"]], page["has_more"], page["last_id"]
(['a', 'b'], True, 'b')
>>> models_body("anthropic", ("a", "b", "c"), {"after_id": "b"})["data"][0]["id"]
'c'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from siraya_frames.emulator._asgi import ENDPOINT

CREATED = 1_700_000_000
"""The ``created`` time of every listed model (unix seconds)."""
CREATED_AT = "2023-11-14T22:13:20Z"
OWNED_BY = "siraya-emulator"
ANTHROPIC_DEFAULT_LIMIT = 20
ANTHROPIC_MAX_LIMIT = 1000


class BadPage(ValueError):
    """A page parameter out of range (answered 400)."""


def _openai_model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": OWNED_BY}


def _anthropic_model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": CREATED_AT,
            "lifecycle": "active"}  # fmt: skip


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", str(ANTHROPIC_DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= ANTHROPIC_MAX_LIMIT:
        raise BadPage(f"limit: give a whole number from 1 to {ANTHROPIC_MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _anthropic_page(models: Sequence[str], query: Mapping[str, str]) -> dict[str, Any]:
    limit = _limit(query)
    names = list(models)
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None:
        start = names.index(after) + 1 if after in names else len(names)
        chosen, more = names[start : start + limit], start + limit < len(names)
    elif before is not None:
        end = names.index(before) if before in names else 0
        chosen, more = names[max(0, end - limit) : end], end - limit > 0
    else:
        chosen, more = names[:limit], limit < len(names)
    data = [_anthropic_model(n) for n in chosen]
    first, last = (chosen[0], chosen[-1]) if chosen else (None, None)
    return {"data": data, "has_more": more, "first_id": first, "last_id": last}


def models_body(dialect: str, models: Sequence[str], query: Mapping[str, str]) -> dict[str, Any]:
    """The answer to ``GET /v1/models`` in ``dialect``'s shape (see the module)."""
    if dialect == "anthropic":
        return _anthropic_page(models, query)
    data = [_openai_model(n) for n in models]
    return {"object": "list", "data": data} if dialect == "openai" else {"data": data}


class ModelEndpoints:
    """``GET /v1/models``; the host class gives ``config``, ``error`` and ``_auth``."""

    config: Any
    error: Any
    _auth: Any

    async def list_models(self, request: Request) -> Response:
        """``GET /v1/models`` (the API key when the emulator has one; no faults)."""
        request.scope[ENDPOINT] = "models"
        denied = self._auth(request)
        if denied is not None:
            return denied
        try:
            body = models_body(self.config.dialect, self.config.models or (), request.query_params)
        except BadPage as exc:
            return self.error(str(exc), "invalid_request_error", 400)
        return JSONResponse(body)
