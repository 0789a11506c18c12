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

from siraya_frames._build import encode_params, select_in_parallel
from siraya_frames._display import article
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
_SLOW_MARKERS = [
    '"tools":',
    '"tool_choice":',
    '"metadata":',
    '"top_k":',
    '"thinking":',
    '"content":[',
    '"content":{',
    '"system":[',
    '"system":{',
    '"messages":[]',
]
"""Rows whose JSON holds one of these go the Python way (tools, blocks, metadata, errors)."""
_FAST_KEYS = [
    '"model":',
    '"max_tokens":',
    '"messages":',
    '"role":',
    '"content":',
    '"stop_sequences":',
    '"system":',
    '"temperature":',
    '"top_p":',
]
"""The only keys of a row the Polars path translates: as quoted tokens, colon included."""
_STRING = r'"(?:[^"\\]|\\.)*"'
_KEY_END = r'(?:^|[^\\])(?:\\\\)*":'
"""An unescaped quote followed by a colon: the end of a key (never inside a JSON string)."""


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
                raise _fail(
                    "messages", custom_id, f"{article(repr(kind))} content block cannot be sent"
                )
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
    body: dict[str, Any] = {}
    for name, value in params.items():  # the keys keep their order (as the Polars path)
        if value is None or name == "system":
            continue
        translate = _TRANSLATE.get(name)
        if translate is None:
            body[name] = value
        else:
            key, translated = translate(value, params, custom_id)
            body[key] = translated
    return body


def _messages(value: Any, params: dict[str, Any], custom_id: str) -> tuple[str, Any]:
    messages = [{**m, "content": _content(m.get("content"), custom_id)} for m in value]
    if params.get("system") is not None:
        messages.insert(0, {"role": "system", "content": _content(params["system"], custom_id)})
    return "messages", messages


def _stop(value: Any, params: dict[str, Any], custom_id: str) -> tuple[str, Any]:
    if len(value) > MAX_STOP:
        raise _fail("stop_sequences", custom_id, f"keep at most {MAX_STOP} stop sequences")
    return "stop", value


_TRANSLATE = {
    "messages": _messages,
    "max_tokens": lambda value, params, custom_id: ("max_completion_tokens", value),
    "stop_sequences": _stop,
    "tool_choice": lambda value, params, custom_id: ("tool_choice", _tool_choice(value, custom_id)),
    "tools": lambda value, params, custom_id: ("tools", [_tool(t, custom_id) for t in value]),
}


def _python_line(custom_id: str, params_json: str) -> str:
    body = chat_body(json.loads(params_json), custom_id=custom_id)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return '{"custom_id":"' + custom_id + _LINE_HEAD + text + "}"


def _fast_exprs() -> tuple[pl.Expr, pl.Expr]:
    """(the line of a plain row, whether the Polars path may translate it).

    A plain row is canonical JSON (``_build.FIELD_ORDER``) whose keys are all in
    ``_FAST_KEYS``: quotes inside its strings are escaped, so each key token is found only
    where it is a key, and the translation is three renames and one move done on the text,
    no decode. The result is the bytes :func:`chat_body` gives (the keys keep their order).
    """
    text = pl.col("params_json")
    system = text.str.extract(f',"system":({_STRING})', 1)
    renamed = text.str.replace('"max_tokens":', '"max_completion_tokens":', literal=True)
    renamed = renamed.str.replace('"stop_sequences":', '"stop":', literal=True)
    head = '"messages":['
    moved = pl.concat_str(pl.lit(head + '{"role":"system","content":'), system, pl.lit("},"))
    without = renamed.str.replace(f',"system":{_STRING}', "")
    body = (
        pl.when(system.is_not_null())
        .then(without.str.replace(head, moved, literal=True))
        .otherwise(renamed)
    )
    line = pl.concat_str(
        pl.lit('{"custom_id":"'), "custom_id", pl.lit(_LINE_HEAD), body, pl.lit("}")
    )
    stops = text.str.extract(f'"stop_sequences":(\\[(?:{_STRING},?)*\\])', 1)
    n_stops = stops.str.count_matches(_STRING).fill_null(0)
    marked = pl.any_horizontal(text.str.contains(m, literal=True) for m in _SLOW_MARKERS)
    unknown = text.str.replace_many(_FAST_KEYS, [""] * len(_FAST_KEYS)).str.contains(_KEY_END)
    return line, ~marked & ~unknown & (n_stops <= MAX_STOP)


def chat_lines(unique: pl.DataFrame) -> pl.Series:
    """One OpenAI batch line per unique request (``custom_id`` + ``params_json``).

    Raises
    ------
    ParameterError
        For the first request with a parameter that has no Chat Completions equivalent.
    """
    if "params_json" not in unique.columns:
        unique = unique.with_columns(encode_params(unique["params"]).alias("params_json"))
    line, ok = _fast_exprs()
    done = select_in_parallel(unique, line.alias("line"), ok.alias("ok"))
    lines = done["line"].set(~done["ok"], None) if not done["ok"].all() else done["line"]
    rest = (~done["ok"]).arg_true()
    if rest.len():
        ids, texts = unique["custom_id"].gather(rest), unique["params_json"].gather(rest)
        python = [_python_line(i, t) for i, t in zip(ids, texts, strict=True)]
        lines = lines.scatter(rest, pl.Series(python, dtype=pl.String))
    return lines.rename("line")
