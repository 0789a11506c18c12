"""Messages-style params → OpenAI Chat Completions batch lines, fast and exact.

Each request line of an OpenAI batch file is
``{"custom_id","method":"POST","url":"/v1/chat/completions","body":{...}}``. The body is our
Messages params translated field by field:

=================  =================================================================
Messages           Chat Completions
=================  =================================================================
``system``         a first message ``{"role": "system", "content": ...}``
``messages``       the same messages (text content blocks are valid content parts)
``max_tokens``     ``max_completion_tokens`` (``max_tokens`` is deprecated by OpenAI and
                   refused by its reasoning models; vLLM and Azure accept both)
``stop_sequences`` ``stop`` (at most 4)
``tools``          ``[{"type": "function", "function": {name, description, parameters}}]``
``tool_choice``    ``auto`` / ``required`` / ``none`` / ``{"type": "function", ...}``
``metadata``, ``temperature``, ``top_p``: unchanged
=================  =================================================================

``top_k``, ``thinking`` and non-text content blocks have no equivalent: a
:class:`~siraya_frames.ParameterError` names the parameter and the ``custom_id`` before
anything is sent. The common case (plain text messages, no tools) is translated by Polars
expressions; other rows are translated in Python, row by row, to exactly the same bytes.

Examples
--------
>>> import json
>>> import polars as pl
>>> params = '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]'
>>> unique = pl.DataFrame({"custom_id": ["a"], "params_json": [params + ',"system":"be brief"}']})
>>> line = json.loads(chat_lines(unique).item())
>>> line["method"], line["url"], line["body"]["max_completion_tokens"]
('POST', '/v1/chat/completions', 5)
>>> line["body"]["messages"]
[{'role': 'system', 'content': 'be brief'}, {'role': 'user', 'content': 'hi'}]
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from siraya_frames._build import _json_expr, select_in_parallel
from siraya_frames._errors import ParameterError

__all__ = ["CHAT_URL", "chat_body", "chat_lines"]

CHAT_URL = "/v1/chat/completions"
MAX_STOP = 4
_LINE_HEAD = '","method":"POST","url":"' + CHAT_URL + '","body":'
_PASS = ("metadata", "temperature", "top_p")
_KNOWN = {"model", "max_tokens", "messages", "system", "stop_sequences", "tools", "tool_choice"}
_NO_EQUIVALENT = {
    "top_k": "drop top_k (Chat Completions has no top-k sampling)",
    "thinking": "drop thinking, or use a reasoning model with reasoning_effort on that service",
}
_SLOW_MARKERS = ['"tools":', '"tool_choice":', '"content":[', '"system":[', '"metadata":']
"""Rows whose JSON holds one of these go the Python way (tools, content blocks, metadata)."""
_FAST_DTYPE = pl.Struct(
    {
        "model": pl.String,
        "max_tokens": pl.Int64,
        "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
        "stop_sequences": pl.List(pl.String),
        "system": pl.String,
        "temperature": pl.Float64,
        "top_k": pl.Int64,
        "top_p": pl.Float64,
    }
)
"""The plain params the Polars path translates, in the canonical key order."""


def _fail(name: str, custom_id: str, fix: str) -> ParameterError:
    return ParameterError(
        f"parameter {name!r} of request {custom_id!r} has no equivalent in the OpenAI Chat "
        f"Completions batch protocol; {fix}, or use protocol='anthropic' or 'siraya'"
    )


def _tool(tool: dict[str, Any], custom_id: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or "name" not in tool or tool.get("type") not in (None, "custom"):
        raise _fail("tools", custom_id, "only custom tools {name, description, input_schema} map")
    function = {"name": tool["name"]}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    function["parameters"] = tool.get("input_schema", {"type": "object", "properties": {}})
    return {"type": "function", "function": function}


def _tool_choice(choice: Any, custom_id: str) -> Any:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("auto", "none"):
        return kind
    if kind == "any":
        return "required"
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _fail("tool_choice", custom_id, "use {'type': 'auto' | 'any' | 'tool', 'name': ...}")


def _content(content: Any, custom_id: str) -> Any:
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "text":
                kind = block.get("type") if isinstance(block, dict) else type(block).__name__
                raise _fail("messages", custom_id, f"a {kind!r} content block cannot be sent")
    return content


def chat_body(params: dict[str, Any], *, custom_id: str) -> dict[str, Any]:
    """Translate one Messages params dict into a Chat Completions body.

    Raises
    ------
    ParameterError
        For a parameter with no equivalent (``top_k``, ``thinking``, more than 4 stop
        sequences, a non-text content block), naming it, the ``custom_id`` and the fix.

    Examples
    --------
    >>> body = chat_body({"model": "m", "max_tokens": 3, "messages": [],
    ...     "stop_sequences": ["x"], "tool_choice": {"type": "any"}}, custom_id="a")
    >>> body["max_completion_tokens"], body["stop"], body["tool_choice"]
    (3, ['x'], 'required')
    >>> try:
    ...     chat_body({"model": "m", "max_tokens": 3, "messages": [], "top_k": 5}, custom_id="a")
    ... except ParameterError as exc:
    ...     print(str(exc)[:39])
    parameter 'top_k' of request 'a' has no
    """
    for name, fix in _NO_EQUIVALENT.items():
        if params.get(name) is not None:
            raise _fail(name, custom_id, fix)
    unknown = sorted(set(params) - _KNOWN - set(_PASS) - set(_NO_EQUIVALENT))
    if unknown:
        raise _fail(unknown[0], custom_id, f"remove {unknown[0]!r}")
    messages = [{**m, "content": _content(m.get("content"), custom_id)} for m in params["messages"]]
    if params.get("system") is not None:
        messages.insert(0, {"role": "system", "content": _content(params["system"], custom_id)})
    body: dict[str, Any] = {"model": params["model"], "messages": messages}
    body["max_completion_tokens"] = params["max_tokens"]
    if params.get("metadata") is not None:
        body["metadata"] = params["metadata"]
    stop = params.get("stop_sequences")
    if stop is not None:
        if len(stop) > MAX_STOP:
            raise _fail("stop_sequences", custom_id, f"keep at most {MAX_STOP} stop sequences")
        body["stop"] = stop
    for name in ("temperature", "top_p"):
        if params.get(name) is not None:
            body[name] = params[name]
    if params.get("tool_choice") is not None:
        body["tool_choice"] = _tool_choice(params["tool_choice"], custom_id)
    if params.get("tools") is not None:
        body["tools"] = [_tool(t, custom_id) for t in params["tools"]]
    return body


def _python_line(custom_id: str, params_json: str) -> str:
    body = chat_body(json.loads(params_json), custom_id=custom_id)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return '{"custom_id":"' + custom_id + _LINE_HEAD + text + "}"


def _fast_exprs() -> tuple[pl.Expr, pl.Expr]:
    """(the line of a plain row, whether the fast path reproduces that row exactly)."""
    p = pl.col("params_json").str.json_decode(_FAST_DTYPE)
    field = p.struct.field
    # Re-encoded in the canonical key order of _build.FIELD_ORDER, a row must come back
    # byte for byte: else it held something the fast path would drop, and goes the slow way.
    keys = list(_FAST_DTYPE.to_schema())
    exact = _json_expr(pl.struct(*[field(n) for n in keys]), keys, keys[1:])
    system = pl.struct(pl.lit("system").alias("role"), field("system").alias("content"))
    messages = (
        pl.when(field("system").is_not_null())
        .then(pl.concat_list(system, field("messages")))
        .otherwise(field("messages"))
    )
    out = ["model", "messages", "max_completion_tokens", "stop", "temperature", "top_p"]
    body = pl.struct(
        field("model"),
        messages.alias("messages"),
        field("max_tokens").alias("max_completion_tokens"),
        field("stop_sequences").alias("stop"),
        field("temperature"),
        field("top_p"),
    )
    line = pl.concat_str(
        pl.lit('{"custom_id":"'),
        "custom_id",
        pl.lit(_LINE_HEAD),
        _json_expr(body, out, out[3:]),
        pl.lit("}"),
    )
    ok = (
        (exact == pl.col("params_json"))
        & field("top_k").is_null()
        & (field("stop_sequences").list.len().fill_null(0) <= MAX_STOP)
    )
    return line, ok


def _slow_rows(unique: pl.DataFrame) -> pl.Series:
    """True for rows the Polars path must not translate (they go the Python way)."""
    text = pl.col("params_json")
    marked = pl.any_horizontal(text.str.contains(m, literal=True) for m in _SLOW_MARKERS)
    return unique.select(marked).to_series()


def chat_lines(unique: pl.DataFrame) -> pl.Series:
    """One OpenAI batch line per unique request (``custom_id`` + ``params_json``).

    Raises
    ------
    ParameterError
        For the first request with a parameter that has no Chat Completions equivalent.
    """
    if "params_json" not in unique.columns:
        from siraya_frames._build import encode_params

        unique = unique.with_columns(encode_params(unique["params"]).alias("params_json"))
    unique = unique.select("custom_id", "params_json")
    slow = _slow_rows(unique)
    fast = unique.filter(~slow)
    line, ok = _fast_exprs()
    done = select_in_parallel(fast, line.alias("line"), ok.alias("ok"))
    lines = pl.Series("line", [None] * unique.height, pl.String)
    fast_index = slow.not_().arg_true()
    lines = lines.scatter(fast_index.filter(done["ok"]), done["line"].filter(done["ok"]))
    rest = lines.is_null().arg_true()
    if rest.len():
        ids, texts = unique["custom_id"].gather(rest), unique["params_json"].gather(rest)
        python = [_python_line(i, t) for i, t in zip(ids, texts, strict=True)]
        lines = lines.scatter(rest, pl.Series(python, dtype=pl.String))
    return lines
