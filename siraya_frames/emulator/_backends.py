"""Where the emulator's answers come from.

* `EchoBackend` (default) answers each request with the text of its last user message,
  verbatim. It is **synthetic**: tokens are counted as whitespace-separated words (input: the
  system prompt plus every message; output: the answer), and an answer longer than
  ``max_tokens`` words is cut to its first ``max_tokens`` words (joined by single spaces) with
  ``stop_reason="max_tokens"``. ``stop_sequences`` and sampling parameters are ignored.
* `OpenAICompatibleBackend` forwards each request to a real ``/chat/completions`` endpoint
  (e.g. Ollama at ``http://127.0.0.1:11434/v1``), a few at a time.
* `ResponderBackend` calls a Python function ``responder(params, *, custom_id)`` that returns
  the answer text, a dict ``{"text": ..., "stop_reason"?, "input_tokens"?, "output_tokens"?,
  "thinking"?, "tool_calls"?, "cache_creation_input_tokens"?, "cache_read_input_tokens"?}``,
  or ``{"error": {"type": ..., "message": ...}}`` for an errored result. ``tool_calls`` is a
  list of ``{"name": str, "input": dict, "id"?: str}`` (the stop reason then defaults to
  ``tool_use``; ``text`` may be left out). An exception raised by the responder becomes an
  ``api_error`` result.

On the ``anthropic`` and ``openai`` dialects (``EchoBackend(thinking=True)``), a request with
``params.thinking = {"type": "enabled", ...}`` or a ``reasoning_effort`` gets an echo answer with a thinking text, ``THINKING_TEMPLATE`` filled in, whose
words count as output tokens.

Examples
--------
>>> params = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "a b c"}]}
>>> EchoBackend().answer(params, "id-1")
Outcome(kind='succeeded', text='a b', stop_reason='max_tokens', input_tokens=3, output_tokens=2, error_type=None, error_message=None)
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx

from siraya_frames.emulator._config import EmulatorConfig
from siraya_frames.emulator._model import Outcome


class Backend(Protocol):
    """Turns requests into outcomes."""

    def complete(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Outcome]:
        """Answer ``(custom_id, params)`` pairs, in order."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


def content_text(content: Any) -> str:
    """Return the text of a message ``content`` (a string or a list of text blocks).

    Text blocks are joined with newlines; blocks of other types are skipped.

    Examples
    --------
    >>> content_text([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    'a\\nb'
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text", "") for b in content if isinstance(b, dict)]
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def last_user_text(params: dict[str, Any]) -> str:
    """Return the text of the last ``user`` message of Messages params ("" when none)."""
    for message in reversed(params.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def count_words(text: str) -> int:
    """The synthetic token count: whitespace-separated words.

    Examples
    --------
    >>> count_words("  one two\\nthree ")
    3
    """
    return len(text.split())


def prompt_tokens(params: dict[str, Any]) -> int:
    """Synthetic input tokens: words of the system prompt and of every message."""
    total = count_words(content_text(params.get("system")))
    for message in params.get("messages") or []:
        if isinstance(message, dict):
            total += count_words(content_text(message.get("content")))
    return total


THINKING_TEMPLATE = "The last user message has {words} words; the answer repeats them."
"""The echo backend's thinking text when the request asks for thinking."""


def wants_thinking(params: dict[str, Any]) -> bool:
    """Whether a request asks for thinking (Anthropic ``thinking``, OpenAI ``reasoning_effort``).

    Examples
    --------
    >>> wants_thinking({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    True
    >>> wants_thinking({"reasoning_effort": "low"}), wants_thinking({})
    (True, False)
    """
    thinking = params.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return True
    return params.get("reasoning_effort") not in (None, "none")


def echo_outcome(params: dict[str, Any], *, thinking: bool = False) -> Outcome:
    """Return the echo answer of one request (with thinking when asked for and ``thinking``)."""
    text = last_user_text(params)
    outcome = synthetic_outcome(params, text)
    if not (thinking and wants_thinking(params)):
        return outcome
    thought = THINKING_TEMPLATE.format(words=count_words(text))
    return dataclasses.replace(
        outcome,
        output_tokens=outcome.output_tokens + count_words(thought),
        extra={"thinking": thought},
    )


def synthetic_outcome(params: dict[str, Any], text: str) -> Outcome:
    """Return a succeeded outcome for ``text``, cut to ``max_tokens`` words if longer."""
    words = text.split()
    limit = params.get("max_tokens", params.get("max_completion_tokens"))
    if isinstance(limit, int) and len(words) > limit:
        return Outcome.succeeded(
            " ".join(words[:limit]),
            input_tokens=prompt_tokens(params),
            output_tokens=limit,
            stop_reason="max_tokens",
        )
    return Outcome.succeeded(text, input_tokens=prompt_tokens(params), output_tokens=len(words))


class EchoBackend:
    """Answers with the last user message (see the module docstring).

    Parameters
    ----------
    thinking
        Add a thinking text when a request asks for thinking (the Siraya dialects do not).
    """

    def __init__(self, *, thinking: bool = False) -> None:
        self._thinking = thinking

    def answer(self, params: dict[str, Any], custom_id: str) -> Outcome:
        """Return the echo outcome of one request."""
        return echo_outcome(params, thinking=self._thinking)

    def complete(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Outcome]:
        """Answer every ``(custom_id, params)`` pair."""
        return [self.answer(params, cid) for cid, params in items]

    def close(self) -> None:
        """Nothing to release."""


class ResponderBackend:
    """Answers with ``responder(params, custom_id=custom_id)``.

    Parameters
    ----------
    responder
        Returns a string (the answer), a dict with ``text`` (and optionally ``stop_reason``,
        ``input_tokens``, ``output_tokens``), or ``{"error": {"type", "message"}}``.
    """

    def __init__(self, responder: Callable[..., Any]) -> None:
        self._responder = responder

    def answer(self, params: dict[str, Any], custom_id: str) -> Outcome:
        """Return the responder's outcome for one request."""
        try:
            reply = self._responder(params, custom_id=custom_id)
        except Exception as exc:
            return Outcome.errored("api_error", f"responder raised {type(exc).__name__}: {exc}")
        return outcome_from_reply(params, reply)

    def complete(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Outcome]:
        """Answer every ``(custom_id, params)`` pair."""
        return [self.answer(params, cid) for cid, params in items]

    def close(self) -> None:
        """Nothing to release."""


def outcome_from_reply(params: dict[str, Any], reply: Any) -> Outcome:
    """Turn a responder's return value into an outcome.

    Examples
    --------
    >>> outcome_from_reply({}, {"error": {"type": "overloaded_error", "message": "busy"}}).kind
    'errored'
    """
    if isinstance(reply, str):
        return synthetic_outcome(params, reply)
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        error = reply["error"]
        return Outcome.errored(
            str(error.get("type", "api_error")), str(error.get("message", "error"))
        )
    if isinstance(reply, dict) and (isinstance(reply.get("text"), str) or "tool_calls" in reply):
        return _rich_outcome(params, reply)
    return Outcome.errored(
        "api_error", f"responder returned {type(reply).__name__}; expected str or dict"
    )


_EXTRA_INTS = ("cache_creation_input_tokens", "cache_read_input_tokens")


def _rich_outcome(params: dict[str, Any], reply: dict[str, Any]) -> Outcome:
    text = reply.get("text") or ""
    calls = reply.get("tool_calls") or []
    thinking = reply.get("thinking")
    if not isinstance(calls, list) or not all(_is_tool_call(c) for c in calls):
        return Outcome.errored(
            "api_error",
            'responder returned bad "tool_calls"; expected a list of '
            '{"name": str, "input": dict, "id"?: str}',
        )
    if thinking is not None and not isinstance(thinking, str):
        return Outcome.errored("api_error", 'responder returned a non-string "thinking"')
    extra: dict[str, Any] = {k: int(reply[k]) for k in _EXTRA_INTS if k in reply}
    if thinking:
        extra["thinking"] = thinking
    if calls:
        extra["tool_calls"] = [{k: c[k] for k in ("id", "name", "input") if k in c} for c in calls]
    words = count_words(text) + count_words(thinking or "")
    words += sum(count_words(json.dumps(c["input"])) for c in calls)
    return Outcome.succeeded(
        text,
        input_tokens=int(reply.get("input_tokens", prompt_tokens(params))),
        output_tokens=int(reply.get("output_tokens", words)),
        stop_reason=str(reply.get("stop_reason", "tool_use" if calls else "end_turn")),
        extra=extra,
    )


def _is_tool_call(call: Any) -> bool:
    return (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("input"), dict)
        and isinstance(call.get("id", ""), str)
    )


_ERROR_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def chat_completions_body(params: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """Convert Messages params to a chat-completions request body.

    ``system`` becomes a leading system message, ``stop_sequences`` becomes ``stop``; text
    blocks are flattened to strings.

    Examples
    --------
    >>> chat_completions_body({"model": "m", "max_tokens": 5, "system": "be brief",
    ...     "stop_sequences": ["."], "messages": [{"role": "user", "content": "hi"}]})
    {'model': 'm', 'messages': [{'role': 'system', 'content': 'be brief'}, {'role': 'user', 'content': 'hi'}], 'max_tokens': 5, 'stop': ['.']}
    """  # noqa: E501
    messages: list[dict[str, Any]] = []
    if params.get("system"):
        messages.append({"role": "system", "content": content_text(params["system"])})
    for message in params.get("messages") or []:
        messages.append(
            {"role": message.get("role", "user"), "content": content_text(message.get("content"))}
        )
    body: dict[str, Any] = {"model": model or params.get("model"), "messages": messages}
    for key in ("max_tokens", "temperature", "top_p"):
        if params.get(key) is not None:
            body[key] = params[key]
    if params.get("stop_sequences"):
        body["stop"] = list(params["stop_sequences"])
    return body


def outcome_from_chat_response(response: httpx.Response) -> Outcome:
    """Turn a chat-completions HTTP answer (success or error) into an outcome."""
    if response.status_code != 200:
        error_type = _ERROR_TYPE_BY_STATUS.get(response.status_code, "api_error")
        return Outcome.errored(
            error_type, f"upstream HTTP {response.status_code}: {_error_message(response)}"
        )
    try:
        data = response.json()
        choice = data["choices"][0]
        text = content_text(choice["message"].get("content") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Outcome.errored("api_error", "upstream answer is not a chat completion")
    usage = data.get("usage") or {}
    return Outcome.succeeded(
        text,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or count_words(text)),
        stop_reason="max_tokens" if choice.get("finish_reason") == "length" else "end_turn",
    )


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return response.text[:200]


class OpenAICompatibleBackend:
    """Forwards requests to a chat-completions server, ``concurrency`` at a time.

    Parameters
    ----------
    url
        Base URL ending before ``/chat/completions``, e.g. ``http://127.0.0.1:11434/v1``.
    api_key
        Sent as ``Authorization: Bearer``; None sends none.
    model
        Replaces each request's model when set (e.g. a local model name).
    concurrency
        Calls in flight at once.
    timeout
        Seconds for one call.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        concurrency: int = 4,
        timeout: float = 60.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = url.rstrip("/") + "/chat/completions"
        self._model = model
        self._client = httpx.Client(headers=headers, timeout=timeout)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="siraya-emulator-upstream")

    def answer(self, params: dict[str, Any], custom_id: str) -> Outcome:
        """Call the upstream for one request."""
        try:
            response = self._client.post(self._url, json=chat_completions_body(params, self._model))
        except httpx.HTTPError as exc:
            return Outcome.errored("api_error", f"upstream unreachable: {type(exc).__name__}")
        return outcome_from_chat_response(response)

    def complete(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Outcome]:
        """Answer every ``(custom_id, params)`` pair, concurrently."""
        return list(self._pool.map(lambda item: self.answer(item[1], item[0]), items))

    def close(self) -> None:
        """Stop the threads and close the HTTP client."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()


def make_backend(config: EmulatorConfig) -> Backend:
    """Return the backend a config asks for (a responder wins over ``backend``).

    Examples
    --------
    >>> type(make_backend(EmulatorConfig())).__name__
    'EchoBackend'
    """
    if config.responder is not None:
        return ResponderBackend(config.responder)
    if config.backend == "openai-compatible":
        assert config.upstream_url is not None
        return OpenAICompatibleBackend(
            config.upstream_url,
            api_key=config.upstream_api_key,
            model=config.upstream_model,
            concurrency=config.upstream_concurrency,
            timeout=config.upstream_timeout,
        )
    return EchoBackend(thinking=config.dialect in ("anthropic", "openai"))


def loads_params(params_json: str) -> dict[str, Any]:
    """Parse a stored params JSON string."""
    return json.loads(params_json)
