"""Anthropic result lines ``{"custom_id", "result": {...}}``: Python fallback and Arrow fast path.

``result.type`` is ``succeeded`` (with a ``message``), ``errored`` (with an ``error``, nested
twice as ``result.error.error``; a singly nested one is read too), ``canceled`` or
``expired``. An Anthropic ``message`` also comes inside an OpenAI-shaped line (OpenRouter's
``/v1/messages`` endpoint), read by :func:`message_row` too.

* ``response_text`` joins the ``text`` blocks; ``thinking`` blocks are left out. An answer
  with ``tool_use`` blocks and no text gives the tool input as JSON (a list for several).
* ``tool_calls`` lists the ``tool_use`` blocks as ``{"name", "input", "id"}``, text or not.
* ``input_tokens`` is ``usage.input_tokens`` as given (Anthropic already leaves the cache
  out); ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` as given.

The fast path reads the lines of one text block and no tool use; the others go to Python.

Examples
--------
>>> result = {"type": "succeeded", "message": {"content": [{"type": "text", "text": "Hi"}],
...           "usage": {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": 9}}}
>>> anthropic_row("r1", result, "line 1", result)[0][:3]
('r1', 'succeeded', 'Hi')
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

from siraya_frames._lines_common import (
    INT,
    STR,
    Tokens,
    clean,
    end_status,
    end_status_expr,
    row,
    struct,
    text,
    to_int,
    tool_calls_json,
    tool_only_text,
    unrecognized,
    valid_id_expr,
)

__all__ = ["ANTHROPIC_RESULT", "anthropic_row", "fast_anthropic", "message_row"]


def _blocks(content: object) -> tuple[str | None, str | None]:
    """``(response_text, tool_calls)`` of a message's content."""
    if isinstance(content, str):
        return clean(content), None
    if not isinstance(content, list):
        return None, None
    blocks = [block for block in content if isinstance(block, dict)]
    texts = [
        b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    calls = [_call(b) for b in blocks if b.get("type") == "tool_use"]
    joined = clean("".join(texts)) if texts else tool_only_text(calls)
    return joined, tool_calls_json(calls)


def _call(block: dict[str, Any]) -> dict[str, Any]:
    call = {"name": block.get("name"), "input": block.get("input")}
    if block.get("id") is not None:
        call["id"] = block["id"]
    return call


def _tokens(usage: object) -> Tokens:
    if not isinstance(usage, dict):
        return None, None, None, None
    return (
        to_int(usage.get("input_tokens")),
        to_int(usage.get("output_tokens")),
        to_int(usage.get("cache_read_input_tokens")),
        to_int(usage.get("cache_creation_input_tokens")),
    )


def message_row(custom_id: str, message: dict[str, Any]) -> tuple[Any, ...]:
    """The succeeded row of an Anthropic ``message`` object."""
    answer, tools = _blocks(message.get("content"))
    return row(
        custom_id,
        "succeeded",
        text=answer,
        tools=tools,
        stop=text(message.get("stop_reason")),
        model=text(message.get("model")),
        tokens=_tokens(message.get("usage")),
    )


def _error(error: object) -> tuple[str | None, str | None]:
    """``result.error``: ``{"type": "error", "error": {type, message}}`` or one level less."""
    if isinstance(error, str):
        return None, clean(error)
    if not isinstance(error, dict):
        return None, None
    inner = error.get("error")
    source = inner if isinstance(inner, dict) else error
    return text(source.get("type")), text(source.get("message"))


def anthropic_row(custom_id: str, result: dict[str, Any], where: str, raw: object) -> tuple:
    """``(row, problem)`` of a ``result`` object; ``problem`` is None for a documented shape."""
    kind = result.get("type")
    message = result.get("message")
    if kind == "succeeded" and isinstance(message, dict):
        return message_row(custom_id, message), None
    if kind == "errored":
        error = _error(result.get("error"))
        return row(custom_id, end_status(error[0]) or "errored", error=error), None
    if (status := end_status(kind)) is not None:
        return row(custom_id, status), None
    return unrecognized(custom_id, where, raw)


# --------------------------------------------------------------------------- fast path

_ERROR = struct(type=STR, message=STR)
ANTHROPIC_RESULT = struct(
    type=STR,
    message=struct(
        model=STR,
        stop_reason=STR,
        content=pa.list_(struct(type=STR, text=STR)),
        usage=struct(
            input_tokens=INT,
            output_tokens=INT,
            cache_read_input_tokens=INT,
            cache_creation_input_tokens=INT,
        ),
    ),
    error=struct(type=STR, message=STR, error=_ERROR),
)
"""What pyarrow reads of ``result``."""


def _text_and_tools(frame: pl.DataFrame, content: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The joined text blocks (null when none), and whether there is a tool use block.

    Answers of one text block each (the rule when labelling) take a shortcut.
    """
    first = content.list.first().struct.field("type")
    simple = frame.select(((content.list.len() == 1) & (first == "text")) | content.is_null())
    if simple.to_series().all():
        return content.list.first().struct.field("text"), pl.lit(False)
    block = pl.element()
    kinds = block.struct.field("type")
    texts = content.list.eval(
        block.filter((kinds == "text") & block.struct.field("text").is_not_null()).struct.field(
            "text"
        )
    )
    tools = content.list.eval(kinds == "tool_use").list.any().fill_null(False)
    return pl.when(texts.list.len() > 0).then(texts.list.join("")), tools


def fast_anthropic(frame: pl.DataFrame) -> pl.DataFrame:
    """``{"custom_id", "result": {...}}`` rows, as :func:`anthropic_row` reads them."""
    result = pl.col("result")
    kind, message = result.struct.field("type"), result.struct.field("message")
    error = result.struct.field("error")
    error = pl.when(error.struct.field("error").is_not_null()).then(error.struct.field("error"))
    error = error.otherwise(result.struct.field("error"))
    usage = message.struct.field("usage")
    succeeded, errored = kind == "succeeded", kind == "errored"
    answer, tools = _text_and_tools(frame, message.struct.field("content"))
    status = (
        pl.when(succeeded)
        .then(kind)
        .when(errored)
        .then(pl.coalesce(end_status_expr(error.struct.field("type")), pl.lit("errored")))
        .otherwise(end_status_expr(kind))
    )
    ok = status.is_not_null() & (~succeeded | (message.is_not_null() & answer.is_not_null()))

    def when_ok(value: pl.Expr, name: str) -> pl.Expr:
        return pl.when(succeeded).then(value).alias(name)

    return frame.select(
        pl.col("custom_id"),
        status.alias("result_status"),
        when_ok(answer, "response_text"),
        pl.lit(None, pl.String).alias("tool_calls"),
        when_ok(message.struct.field("stop_reason"), "stop_reason"),
        when_ok(message.struct.field("model"), "model"),
        *(
            when_ok(usage.struct.field(name), name)
            for name in (
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            )
        ),
        pl.when(errored).then(error.struct.field("type")).alias("error_type"),
        pl.when(errored).then(error.struct.field("message")).alias("error_message"),
        pl.col("_line"),
        (valid_id_expr() & ok & ~tools).fill_null(False).alias("_ok"),
    )
