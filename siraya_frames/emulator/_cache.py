"""Deterministic prompt caching, so cache usage fields can be non-zero.

* Anthropic rule: the cacheable prefix is every ``system`` block and message content block up
  to and including the last one that carries ``cache_control``. The first request with a
  given (model, prefix) writes it (``cache_creation_input_tokens`` = its words); every later
  request of the same emulator reads it (``cache_read_input_tokens``).
* OpenAI rule: the prefix is the leading run of ``system`` / ``developer`` messages; the first
  request with it is uncached, later ones report it as ``prompt_tokens_details.cached_tokens``
  (OpenAI has no cache-write charge; its 1,024-token minimum is not emulated).

Requests are answered in order within a batch, so the first one of a batch writes and the
rest read. The memory lasts while the emulator runs.

Examples
--------
>>> cache = PromptCache("anthropic")
>>> system = [{"type": "text", "text": "a long shared prefix", "cache_control": {"type": "ephemeral"}}]
>>> params = {"model": "m", "system": system, "messages": [{"role": "user", "content": "x"}]}
>>> cache.usage(params), cache.usage(params)
({'cache_creation_input_tokens': 4, 'cache_read_input_tokens': 0}, {'cache_creation_input_tokens': 0, 'cache_read_input_tokens': 4})
"""  # noqa: E501

from __future__ import annotations

import threading
from typing import Any

from siraya_frames.emulator._backends import content_text, count_words


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def anthropic_prefix(params: dict[str, Any]) -> str:
    """Return the text of the cacheable prefix ("" when no block has ``cache_control``)."""
    blocks = _blocks(params.get("system"))
    for message in params.get("messages") or []:
        if isinstance(message, dict):
            blocks += _blocks(message.get("content"))
    marked = [i for i, b in enumerate(blocks) if b.get("cache_control")]
    if not marked:
        return ""
    return "\n".join(content_text([b]) for b in blocks[: marked[-1] + 1])


def openai_prefix(params: dict[str, Any]) -> str:
    """Return the text of the leading system / developer messages."""
    texts = []
    for message in params.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer"):
            break
        texts.append(content_text(message.get("content")))
    return "\n".join(texts)


class PromptCache:
    """Remembers prefixes seen; `usage` gives the cache fields of one request."""

    def __init__(self, dialect: str) -> None:
        self._openai = dialect == "openai"
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def usage(self, params: dict[str, Any]) -> dict[str, int]:
        """Return ``cache_creation_input_tokens`` and ``cache_read_input_tokens``."""
        prefix = (openai_prefix if self._openai else anthropic_prefix)(params)
        words = count_words(prefix)
        if not words:
            return {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        key = (str(params.get("model")), prefix)
        with self._lock:
            seen = key in self._seen
            self._seen.add(key)
        write = 0 if seen or self._openai else words
        return {
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": words if seen else 0,
        }
