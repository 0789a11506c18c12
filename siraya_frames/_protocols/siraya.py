"""Siraya's batch API, read tolerantly: the default protocol.

Siraya's three page families disagree (wrapped or flat objects, several status
vocabularies, results in the GET body, inline or at a ``result_url``); ``_shapes.py`` reads
them all. Requests go inline as ``{"requests": [{custom_id, params}]}``; auth is a Bearer key.

Examples
--------
>>> SirayaProtocol().create_url("https://llm.siraya.pro/v1")
'https://llm.siraya.pro/v1/batches'
"""

from __future__ import annotations

from typing import Any, ClassVar

from siraya_frames import _config
from siraya_frames._protocols._base import WireProtocol
from siraya_frames._protocols.anthropic import ANTHROPIC_VERSION
from siraya_frames._shapes import BatchState, parse_batch_object, parse_get_body

__all__ = ["SirayaProtocol"]


class SirayaProtocol(WireProtocol):
    """``POST /batches`` with inline requests; ``GET /batches/{id}`` may carry the results."""

    name: ClassVar[str] = "siraya"
    default_base_url: ClassVar[str] = _config.DEFAULT_BASE_URL
    env_api_key: ClassVar[str] = _config.ENV_API_KEY
    env_base_url: ClassVar[str] = _config.ENV_BASE_URL
    max_requests: ClassVar[int] = _config.DEFAULT_MAX_REQUESTS
    max_bytes: ClassVar[int] = _config.DEFAULT_MAX_BYTES
    honours_idempotency_key: ClassVar[bool] = True
    rate_limit: ClassVar[float] = 120.0
    """Siraya documents no limit for its batch endpoints: two a second is a conservative
    guess (a 429 still pauses every call); raise it with ``rate_limit=``."""

    def sync_auth_headers(self, api_key: str) -> dict[str, str]:
        """Siraya's Anthropic-compatible ``POST /v1/messages`` takes ``x-api-key``."""
        return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}

    def parse_batch(self, obj: dict[str, Any], *, batch_id: str | None) -> BatchState:
        return parse_batch_object(obj, batch_id=batch_id)

    def parse_get_body(self, body: bytes, *, batch_id: str) -> BatchState:
        return parse_get_body(body, batch_id=batch_id)
