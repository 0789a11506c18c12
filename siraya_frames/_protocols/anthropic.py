"""Anthropic Message Batches: ``/messages/batches``, ``x-api-key``, results at ``results_url``.

The create body is the same ``{"requests": [{custom_id, params}]}`` Siraya takes. The batch
object has ``processing_status`` (``in_progress``, ``canceling``, ``ended``), per-outcome
``request_counts`` and RFC 3339 timestamps; its results are a JSONL stream at
``results_url`` (same origin, so the key is sent), given only once the batch has ended.
Anthropic documents no idempotency key and message batches carry no metadata, so a create
whose answer was lost cannot be found again (see the README, "Other services").

Examples
--------
>>> state = AnthropicProtocol().parse_batch({"id": "msgbatch_1", "type": "message_batch",
...     "processing_status": "ended", "request_counts": {"processing": 0, "succeeded": 2,
...     "errored": 1, "canceled": 0, "expired": 0}, "expires_at": "2024-09-25T18:37:24Z",
...     "results_url": "/v1/messages/batches/msgbatch_1/results"}, batch_id=None)
>>> state.status.value, state.total, state.done, state.failed, state.expires_at
('completed', 3, 3, 1, 1727289444.0)
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlencode

from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._guards import count_of
from siraya_frames._protocols._base import WireProtocol
from siraya_frames._shapes import BatchState, BatchStatus, parse_timestamp

__all__ = ["AnthropicProtocol"]

ANTHROPIC_VERSION = "2023-06-01"
_STATUS = {
    "in_progress": BatchStatus.IN_PROGRESS,
    "canceling": BatchStatus.CANCELLING,
    "ended": BatchStatus.COMPLETED,
}


def _count(counts: dict[str, Any], key: str) -> int:
    value = counts.get(key)
    return (count_of(value) or 0) if isinstance(value, int) else 0


class AnthropicProtocol(WireProtocol):
    """Anthropic's Message Batches API (``anthropic-version: 2023-06-01``)."""

    name: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com/v1"
    env_api_key: ClassVar[str] = "ANTHROPIC_API_KEY"
    env_base_url: ClassVar[str] = "ANTHROPIC_BASE_URL"
    max_requests: ClassVar[int] = 100_000
    max_bytes: ClassVar[int] = 256_000_000
    batches_path: ClassVar[str] = "/messages/batches"
    lists_for_polling: ClassVar[bool] = True
    list_page_size: ClassVar[int] = 1000
    rate_limit: ClassVar[float] = 50.0
    """Tier 1's limit on the Message Batches API (50 requests a minute, all batch endpoints
    together): the lowest tier, so a new account is never throttled. Raise it with
    ``rate_limit=`` (tier 2 allows 1,000)."""

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}

    def list_url(self, base_url: str, after: str | None) -> str:
        query = {"limit": self.list_page_size, **({"after_id": after} if after else {})}
        return f"{base_url}{self.batches_path}?{urlencode(query)}"

    def models_url(self, base_url: str, after: str | None) -> str:
        query = {"limit": self.list_page_size, **({"after_id": after} if after else {})}
        return f"{base_url}/models?{urlencode(query)}"

    def parse_batch(self, obj: dict[str, Any], *, batch_id: str | None) -> BatchState:
        raw = obj.get("processing_status")
        if not isinstance(raw, str):
            raise UnexpectedResponseError(
                f"the message batch has no processing_status: {json.dumps(obj)[:300]}",
                batch_id=batch_id,
            )
        raw_counts = obj.get("request_counts")
        counts: dict[str, Any] = raw_counts if isinstance(raw_counts, dict) else {}
        failed = sum(_count(counts, k) for k in ("errored", "canceled", "expired"))
        done = _count(counts, "succeeded") + failed
        url = obj.get("results_url")
        urls = (url,) if isinstance(url, str) and url else ()
        return BatchState(
            batch_id=obj["id"] if isinstance(obj.get("id"), str) else batch_id,
            status=_STATUS.get(raw, BatchStatus.UNKNOWN),
            raw_status=raw,
            total=done + _count(counts, "processing") if counts else None,
            done=done if counts else None,
            failed=failed if counts else None,
            expires_at=parse_timestamp(obj.get("expires_at")),
            result_url=urls[0] if urls else None,
            result_urls=urls,
        )
