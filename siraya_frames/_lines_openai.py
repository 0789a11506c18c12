"""``{"custom_id", "response", "error"}`` lines: Python fallback and Arrow fast path.

The shape of OpenAI's and Azure's batch output (``response: {"status_code", "body"}``),
Siraya's reference (``response.status`` instead of ``status_code``), OpenRouter's result
items (``response: {"body"}`` without status, or an ``error`` with ``error_type``) and vLLM's
older ``run_batch`` output (``response`` is the bare chat.completion).

* ``response_text`` is the message content (a list of parts is joined). A message with tool
  calls and no text (null or empty content) gives the call arguments as JSON (a list for
  several), a refusal gives the refusal text.
* ``tool_calls`` lists ``message.tool_calls`` as ``{"name", "input", "id"}``, ``input`` the
  decoded ``function.arguments`` (the raw string when it is not JSON).
* ``input_tokens`` leaves the cache out, as Anthropic's does: ``prompt_tokens`` (which counts
  the cached tokens) minus ``prompt_tokens_details.cached_tokens``;
  ``cache_read_input_tokens`` is ``cached_tokens``, ``cache_creation_input_tokens`` is null
  (OpenAI bills no cache write: it is not reported).
* An error object is read off ``error`` or, for a non-2xx answer, ``response.body.error``;
  ``canceled`` / ``expired`` when its ``code``, ``type`` or ``error_type`` says so.

Examples
--------
>>> body = {"choices": [{"message": {"content": "Hi"}}],
...         "usage": {"prompt_tokens": 10, "completion_tokens": 1,
...                   "prompt_tokens_details": {"cached_tokens": 4}}}
>>> line = {"custom_id": "r1", "response": {"status_code": 200, "body": body}}
>>> openai_row("r1", line, "line 1", line)[0][:3], openai_row("r1", line, "", line)[0][6:10]
(('r1', 'succeeded', 'Hi'), (6, 1, 4, None))
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import polars as pl
import pyarrow as pa

from siraya_frames._lines_anthropic import message_row
from siraya_frames._lines_common import (
    INT,
    STR,
    Tokens,
    clean,
    end_status,
    row,
    snippet,
    struct,
    text,
    to_int,
    tool_calls_json,
    tool_only_text,
    unrecognized,
    valid_id_expr,
)

__all__ = ["CHAT_FIELDS", "chat_completion_row", "fast_openai", "openai_row"]


def _parts_text(content: object) -> str | None:
    """Message content: a string, or a list of parts whose text is joined."""
    if isinstance(content, str):
        return clean(content)
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        text = part.get("text") if isinstance(part, dict) else part
        if isinstance(text, str):
            texts.append(text)
    return clean("".join(texts)) if texts else None


def _calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return []
    found = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError, RecursionError):
                arguments = json.loads(arguments)
        found.append({"name": function.get("name"), "input": arguments})
        if call.get("id") is not None:
            found[-1]["id"] = call["id"]
    return found


def _message(message: object) -> tuple[str | None, str | None]:
    """``(response_text, tool_calls)`` of a chat message."""
    if not isinstance(message, dict):
        return None, None
    calls = _calls(message)
    answer = _parts_text(message.get("content"))
    if not answer and calls:
        answer = tool_only_text(calls)
    if answer is None and isinstance(message.get("refusal"), str):
        answer = clean(message["refusal"])
    return answer, tool_calls_json(calls)


def _cached(usage: dict[str, Any]) -> int | None:
    for key in ("prompt_tokens_details", "input_tokens_details"):
        details = usage.get(key)
        cached = to_int(details.get("cached_tokens")) if isinstance(details, dict) else None
        if cached is not None:
            return cached
    return None


def _tokens(usage: object) -> Tokens:
    """Input tokens without the cached ones, output, cache read, cache creation (null)."""
    if not isinstance(usage, dict):
        return None, None, None, None
    inputs, outputs = usage.get("prompt_tokens"), usage.get("completion_tokens")
    inputs = to_int(inputs if inputs is not None else usage.get("input_tokens"))
    outputs = to_int(outputs if outputs is not None else usage.get("output_tokens"))
    cached = _cached(usage)
    if inputs is not None and cached is not None:
        inputs = to_int(inputs - cached)
    return inputs, outputs, cached, None


def chat_completion_row(custom_id: str, body: dict[str, Any]) -> tuple[Any, ...] | None:
    """A chat.completion body (or an Anthropic message body); None if it is neither."""
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        answer, tools = _message(choice.get("message"))
        return row(
            custom_id,
            "succeeded",
            text=answer,
            tools=tools,
            stop=text(choice.get("finish_reason")),
            model=text(body.get("model")),
            tokens=_tokens(body.get("usage")),
        )
    if isinstance(body.get("content"), list) and "error" not in body:
        return message_row(custom_id, body)
    return None


def _error_row(custom_id: str, error: dict[str, Any]) -> tuple[Any, ...]:
    """An error object (``code``, ``type``, ``error_type``): canceled, expired or errored."""
    message = text(error.get("message"))
    for key in ("code", "type", "error_type"):
        if (status := end_status(error.get(key))) is not None:
            return row(custom_id, status, error=(text(error[key]), message))
    kind = next(
        (text(error[key]) for key in ("error_type", "type", "code") if error.get(key) is not None),
        None,
    )
    return row(custom_id, "errored", error=(kind, message))


def _status(response: dict[str, Any]) -> int | None:
    """The HTTP status of a response: None when absent, -1 when not a number."""
    value = response.get("status_code")
    if value is None:
        value = response.get("status")
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    number = to_int(value)
    return -1 if number is None else number


def _body(response: dict[str, Any]) -> object:
    """``response.body`` (decoded when it is JSON text), or vLLM's bare chat.completion."""
    body = response.get("body")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    if body is None and isinstance(response.get("choices"), list):
        return response
    return body


def openai_row(custom_id: str, obj: dict[str, Any], where: str, raw: object) -> tuple:
    """``(row, problem)`` of a line; ``problem`` is None for a documented shape."""
    response, error = obj.get("response"), obj.get("error")
    if isinstance(response, dict):
        status, body = _status(response), _body(response)
        ok = status is None or 200 <= status < 300
        if ok and isinstance(body, dict) and (found := chat_completion_row(custom_id, body)):
            return found, None
        if isinstance(error, dict):
            return _error_row(custom_id, error), None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return _error_row(custom_id, body["error"]), None
        if status is not None and status >= 0 and not ok:
            message = snippet(body) if body is not None else None
            return row(custom_id, "errored", error=(f"http_{status}", message)), None
        return unrecognized(custom_id, where, raw)
    if isinstance(error, dict):
        return _error_row(custom_id, error), None
    return unrecognized(custom_id, where, raw)


# --------------------------------------------------------------------------- fast path

_DETAILS = struct(cached_tokens=INT)
_CHAT_COMPLETION = {
    "model": STR,
    "choices": pa.list_(
        struct(
            finish_reason=STR,
            message=struct(content=STR, tool_calls=pa.list_(struct(id=STR))),
        )
    ),
    "usage": struct(
        prompt_tokens=INT,
        completion_tokens=INT,
        input_tokens=INT,
        output_tokens=INT,
        prompt_tokens_details=_DETAILS,
        input_tokens_details=_DETAILS,
    ),
}
CHAT_FIELDS = {
    # ``body`` or, in vLLM's older lines, the chat.completion fields on ``response`` itself.
    "response": struct(
        status_code=INT, status=INT, body=struct(**_CHAT_COMPLETION), **_CHAT_COMPLETION
    ),
    # Only whether an error is there: its fields (a code may be a number) are read in Python.
    "error": struct(message=STR),
}
"""What pyarrow reads of these lines."""


def fast_openai(frame: pl.DataFrame) -> pl.DataFrame:
    """Successful chat completions without tool calls; the rest is left to Python."""
    response = pl.col("response")
    body = response.struct.field("body")

    def field(name: str) -> pl.Expr:
        bare = body.is_null()
        return pl.when(bare).then(response.struct.field(name)).otherwise(body.struct.field(name))

    choice = field("choices").list.first()
    message = choice.struct.field("message")
    content = message.struct.field("content")
    usage = field("usage")
    http = pl.coalesce(response.struct.field("status_code"), response.struct.field("status"))
    cached = pl.coalesce(
        usage.struct.field("prompt_tokens_details").struct.field("cached_tokens"),
        usage.struct.field("input_tokens_details").struct.field("cached_tokens"),
    )
    inputs = pl.coalesce(usage.struct.field("prompt_tokens"), usage.struct.field("input_tokens"))
    ok = (
        response.is_not_null()
        & pl.col("error").is_null()
        & (http.is_null() | ((http >= 200) & (http < 300)))
        & content.is_not_null()
        & (message.struct.field("tool_calls").list.len().fill_null(0) == 0)
    )
    return frame.select(
        pl.col("custom_id"),
        pl.lit("succeeded").alias("result_status"),
        content.alias("response_text"),
        pl.lit(None, pl.String).alias("tool_calls"),
        choice.struct.field("finish_reason").alias("stop_reason"),
        field("model").alias("model"),
        (inputs - cached.fill_null(0)).alias("input_tokens"),
        pl.coalesce(
            usage.struct.field("completion_tokens"), usage.struct.field("output_tokens")
        ).alias("output_tokens"),
        cached.alias("cache_read_input_tokens"),
        pl.lit(None, pl.Int64).alias("cache_creation_input_tokens"),
        pl.lit(None, pl.String).alias("error_type"),
        pl.lit(None, pl.String).alias("error_message"),
        pl.col("_line"),
        (valid_id_expr() & ok).fill_null(False).alias("_ok"),
    )
