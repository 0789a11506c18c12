"""``build_requests``: a frame becomes ``custom_id`` + ``params`` columns, at Polars speed.

The ``params`` struct holds only the Messages parameters that were set, in this fixed order
(the quickstart's, with the two free-form JSON parameters last)::

    model, max_tokens, messages, metadata, stop_sequences, system,
    temperature, top_k, top_p, thinking, tool_choice, tools

``tools`` and ``tool_choice`` are arbitrary JSON (each tool carries its own JSON schema), which a
Polars struct cannot hold faithfully (a list of structs unifies their fields, adding nulls), so
the struct holds them as canonical JSON text (sorted keys, no spaces) and :func:`params_json`
splices that text into the wire JSON unchanged. Every other field is a native Polars value;
dicts (``metadata``, literal or a struct column, and ``thinking``) are stored with their keys
sorted, and numbers in one dtype (``temperature=1`` is ``1.0``), so equal requests encode
equally whichever way they were given.

Per-row values: any ``pl.Expr`` is evaluated per row (``pl.col("max_tok")``,
``pl.col("n") * 8``); a plain value, strings included, is a literal for every row.

:func:`params_json` is the canonical wire JSON: ``struct.json_encode()`` of those fields in
that order, without nulls (an unset or per-row-null optional parameter is left out, never sent
as ``null``). ``custom_id`` is ``id_prefix + xxh3_128(those UTF-8 bytes)`` in lowercase hex,
so the same request gets the same id in every run, process and machine.

Examples
--------
>>> import json
>>> import polars as pl
>>> df = pl.DataFrame({"review": ["Great!", "Awful.", "Great!"]})
>>> out = build_requests(df, prompt="Sentiment of: {review}", model="openai/gpt-4o-mini",
...                      max_tokens=5)
>>> out["custom_id"].n_unique(), out.columns
(2, ['review', 'custom_id', 'params'])
>>> json.loads(out.select(params_json(pl.col("params"))).item(0, 0))["messages"]
[{'role': 'user', 'content': 'Sentiment of: Great!'}]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from siraya_frames import _template, _validate
from siraya_frames._errors import ColumnNotFoundError, InputError, ParameterError
from siraya_frames._frames import to_polars
from siraya_frames._params_json import (
    RAW_JSON_FIELDS,
    custom_ids,
    encode_params,
    is_plain,
    params_json,
    select_in_parallel,
)
from siraya_frames._template import OnNull

__all__ = [  # the encoding names are _params_json.py's, imported from here elsewhere
    "FIELD_ORDER",
    "ID_PATTERN",
    "RAW_JSON_FIELDS",
    "build_requests",
    "custom_ids",
    "encode_params",
    "is_plain",
    "params_json",
    "select_in_parallel",
]

FIELD_ORDER = (
    "model",
    "max_tokens",
    "messages",
    "metadata",
    "stop_sequences",
    "system",
    "temperature",
    "top_k",
    "top_p",
    "thinking",
    "tool_choice",
    "tools",
)
"""The order of the keys in the params struct and in the wire JSON."""
ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
"""What the batch API accepts as a ``custom_id``."""

_PREFIX_PATTERN = r"[a-zA-Z0-9_-]{0,16}"
_TMP = "__siraya_frames_"
_OUTPUT = ("custom_id", "params")
_ROW = f"{_TMP}row"
_LITERAL_DTYPES: dict[str, pl.DataType] = {
    "model": pl.String(),
    "max_tokens": pl.Int64(),
    "temperature": pl.Float64(),
    "top_p": pl.Float64(),
    "top_k": pl.Int64(),
    "stop_sequences": pl.List(pl.String),
    "system": pl.String(),
    "tool_choice": pl.String(),
    "tools": pl.String(),
}
_USER_MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})


def build_requests(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    prompt: str | None = None,
    messages: str | None = None,
    system: str | pl.Expr | None = None,
    model: str | pl.Expr,
    max_tokens: int | pl.Expr,
    temperature: float | pl.Expr | None = None,
    top_p: float | pl.Expr | None = None,
    top_k: int | pl.Expr | None = None,
    stop_sequences: Sequence[str] | pl.Expr | None = None,
    metadata: Mapping[str, str] | pl.Expr | None = None,
    thinking: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: Mapping[str, Any] | str | None = None,
    dedupe: bool = True,
    on_null: OnNull = "error",
    id_prefix: str = "sf",
) -> pl.DataFrame | pl.LazyFrame:
    """Add a ``custom_id`` and a ``params`` column of Messages parameters to every row.

    Parameters
    ----------
    df
        The rows to label (a pandas or pyarrow frame is converted). A ``LazyFrame`` gives a
        ``LazyFrame``: column names and literal parameters are checked now, checks that need
        the data run at collect time.
    prompt
        A template over columns, e.g. ``"Classify: {review} (title: {title})"``; ``{{`` and
        ``}}`` are literal braces. It becomes ``[{"role": "user", "content": <rendered>}]``.
    messages
        Instead of ``prompt``: the name of a ``list[struct{role, content}]`` column holding
        whole conversations (roles ``user`` / ``assistant``).
    system
        A literal, a template (a string with ``{column}`` placeholders) or a ``pl.Expr``.
    model, max_tokens, temperature, top_p, top_k, stop_sequences, metadata
        A literal, or a ``pl.Expr`` (e.g. ``pl.col("max_tok")``) for a per-row value; a plain
        string is always a literal. A per-row null of an optional parameter leaves it unset
        for that row.
    thinking, tools, tool_choice
        Literals only. ``None`` (the default, also for ``tool_choice``) means unset.
    dedupe
        ``True``: identical requests share one ``custom_id`` (one answer, fanned out to every
        row). ``False``: the k-th repeat (k >= 1) of a request gets ``<id>-<k>``.
    on_null
        A null in a column used by ``prompt``, ``system`` or ``messages``: ``"error"``
        (:class:`NullValueError`), ``"skip"`` (row kept, null ``custom_id`` and ``params``)
        or ``"empty"`` (rendered as ``""``; not allowed with ``messages``).
    id_prefix
        Up to 16 characters of ``[a-zA-Z0-9_-]`` put before the 32 hex digits of the hash.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        The input rows, in order, plus ``custom_id`` (String) and ``params`` (Struct).

    Raises
    ------
    ColumnNotFoundError, NullValueError, ParameterError, InputError

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"text": ["hi", "yo"], "budget": [16, 32]})
    >>> out = build_requests(df, prompt="Translate: {text}", model="openai/gpt-4o-mini",
    ...                      max_tokens=pl.col("budget"), temperature=0)
    >>> out.select(pl.col("params").struct.field("max_tokens", "temperature")).rows()
    [(16, 0.0), (32, 0.0)]
    >>> out["custom_id"].str.len_chars().to_list()
    [34, 34]
    """
    spec = {
        "prompt": prompt,
        "messages": messages,
        "system": system,
        "model": model,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "stop_sequences": stop_sequences,
        "metadata": metadata,
        "thinking": thinking,
        "tools": tools,
        "tool_choice": tool_choice,
        "dedupe": dedupe,
        "on_null": on_null,
        "id_prefix": id_prefix,
    }
    df = to_polars(df, what="build_requests")[0]  # pandas, pyarrow: converted once, here
    if isinstance(df, pl.LazyFrame):
        return _build_lazy(df, spec)
    return _build_eager(df, spec)


def _build_lazy(lf: pl.LazyFrame, spec: dict[str, Any]) -> pl.LazyFrame:
    """Check names and literals now (on an empty frame); build the rows at collect time.

    Every row is built on its own, so the plan streams: Polars' streaming engine builds the
    frame a piece at a time (each piece knows its first row, for the error messages). With
    ``dedupe=False`` the k-th repeat of a request is counted over all rows, so the frame is
    built whole.
    """
    empty = pl.DataFrame(schema=lf.collect_schema())
    schema = _build_eager(empty, spec).schema
    if not spec["dedupe"]:
        return lf.map_batches(lambda df: _build_eager(df, spec), schema=schema)

    def piece(df: pl.DataFrame) -> pl.DataFrame:
        offset = int(df[_ROW][0]) if df.height else 0
        return _build_eager(df.drop(_ROW), spec, offset=offset)

    return lf.with_row_index(_ROW).map_batches(piece, schema=schema, streamable=True)


def _build_eager(df: pl.DataFrame, spec: dict[str, Any], offset: int = 0) -> pl.DataFrame:
    _check_arguments(df, spec)
    on_null = spec["on_null"]
    exprs, used = _message_exprs(df.schema, spec)
    params, columns = _param_exprs(df, spec, exprs)
    skip = on_null == "skip" and used
    every_row = pl.repeat(True, pl.len())  # frame-high: a prompt with no {column} fans out
    keep = pl.all_horizontal([pl.col(c).is_not_null() for c in used]) if skip else every_row
    if on_null == "error":
        _validate.check_nulls(df, used, what="prompt, system or messages", offset=offset)
    work = select_in_parallel(
        df, *(e.alias(k) for k, e in exprs.items()), keep.alias(f"{_TMP}keep")
    )
    keep_col = pl.col(f"{_TMP}keep")
    _validate.check_column_values(work, columns, keep_col, offset=offset)
    if spec["messages"] is not None:
        _validate.check_message_values(work, f"{_TMP}messages", keep_col, offset=offset)
    fields = [_field_expr(name, value, exprs) for name, value in params]
    struct = pl.when(keep_col).then(pl.struct(fields)).alias("params")
    params_series = work.select(struct).to_series()
    ids = custom_ids(params_series, dedupe=spec["dedupe"], prefix=spec["id_prefix"])
    return df.with_columns(ids, params_series)


def _field_expr(name: str, value: Any, exprs: dict[str, pl.Expr]) -> pl.Expr:
    """The params struct field: a work column, or a literal of its canonical dtype."""
    if f"{_TMP}{name}" in exprs:
        return pl.col(f"{_TMP}{name}").alias(name)
    return pl.lit(value, dtype=_LITERAL_DTYPES.get(name)).alias(name)


def _check_arguments(df: pl.DataFrame, spec: dict[str, Any]) -> None:
    taken = [c for c in _OUTPUT if c in df.columns]
    if taken:
        raise InputError(
            f"the frame already has column(s) {', '.join(map(repr, taken))}, which "
            "build_requests adds; rename them first, e.g. df.rename({'custom_id': 'my_id'})"
        )
    _validate.check_on_null(spec["on_null"])
    if (spec["prompt"] is None) == (spec["messages"] is None):
        raise ParameterError("pass exactly one of prompt= (a template) or messages= (a column)")
    prefix = spec["id_prefix"]
    if not isinstance(prefix, str) or not re.fullmatch(_PREFIX_PATTERN, prefix):
        raise _validate.parameter_error("id_prefix", "up to 16 characters of [a-zA-Z0-9_-]", prefix)


def _message_exprs(schema: pl.Schema, spec: dict[str, Any]) -> tuple[dict[str, pl.Expr], list[str]]:
    """Return the work expressions for messages (and a templated system) and the columns used."""
    on_null = spec["on_null"]
    if spec["prompt"] is not None:
        exprs = {f"{_TMP}messages": _prompt_messages(spec["prompt"], schema, on_null)}
        used = _template.template_columns(spec["prompt"])
    else:
        exprs = {f"{_TMP}messages": _column_messages(spec["messages"], schema, on_null)}
        used = [spec["messages"]]
    system = spec["system"]
    if isinstance(system, str) and _template.is_template(system):
        rendered = _template.render_template(system, schema, on_null=on_null, what="system")
        exprs[f"{_TMP}system"] = rendered
        used += [c for c in _template.template_columns(system) if c not in used]
    return exprs, used


def _prompt_messages(prompt: Any, schema: pl.Schema, on_null: OnNull) -> pl.Expr:
    if not isinstance(prompt, str):
        raise _validate.parameter_error(
            "prompt", "a template string such as 'Classify: {review}'", prompt
        )
    content = _template.render_template(prompt, schema, on_null=on_null, what="prompt")
    return pl.concat_list(pl.struct(pl.lit("user").alias("role"), content.alias("content")))


def _column_messages(name: Any, schema: pl.Schema, on_null: OnNull) -> pl.Expr:
    if not isinstance(name, str):
        raise _validate.parameter_error(
            "messages", "the name of a list[struct{role, content}] column", name
        )
    _template.check_columns([name], schema, what="messages argument")
    _validate.check_messages_dtype(name, schema[name])
    if on_null == "empty":
        raise ParameterError(
            "on_null='empty' does not apply to a messages column; use 'error' or 'skip'"
        )
    if schema[name] == pl.List(_USER_MESSAGE):
        return pl.col(name)
    role, content = (pl.element().struct.field(f).cast(pl.String) for f in ("role", "content"))
    return pl.col(name).list.eval(pl.struct(role, content))


def _param_exprs(
    df: pl.DataFrame, spec: dict[str, Any], exprs: dict[str, pl.Expr]
) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """Check every parameter; add column-valued ones to ``exprs``.

    Returns the (name, canonical literal) pairs in wire order and the work column of each
    column-valued parameter (literal values are unused for those).
    """
    column_values = {k: v for k, v in spec.items() if isinstance(v, pl.Expr)}
    dtypes = _expr_dtypes(df, column_values)
    params: list[tuple[str, Any]] = []
    columns: dict[str, str] = {}
    for name in FIELD_ORDER:
        value = spec.get(name)
        key = f"{_TMP}{name}"
        if name == "messages" or key in exprs:
            params.append((name, None))
        elif isinstance(value, pl.Expr):
            target = _validate.column_target_dtype(name, dtypes[name])
            exprs[key] = _sorted_struct(value.cast(target), target)
            columns[name] = key
            params.append((name, None))
        elif value is not None:
            literal = _validate.canonical_literal(name, value)
            params.append((name, _template.unescape(literal) if name == "system" else literal))
        elif name in ("model", "max_tokens"):
            raise ParameterError(f"{name} is required; got None")
    return params, columns


def _sorted_struct(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A struct column (metadata) with its fields in sorted order, as literal dicts have."""
    names = [f.name for f in dtype.fields] if isinstance(dtype, pl.Struct) else []
    if names == sorted(names):
        return value
    fields = [value.struct.field(name) for name in sorted(names)]  # field(*names) keeps order
    return pl.when(value.is_not_null()).then(pl.struct(fields))


def _expr_dtypes(df: pl.DataFrame, exprs: dict[str, pl.Expr]) -> dict[str, pl.DataType]:
    """Resolve the dtype of each column-valued parameter without evaluating it."""
    if not exprs:
        return {}
    try:
        return dict(df.lazy().select(e.alias(k) for k, e in exprs.items()).collect_schema())
    except pl.exceptions.ColumnNotFoundError as exc:
        names = ", ".join(df.columns) or "(none)"
        raise ColumnNotFoundError(
            f"a parameter expression names a missing column ({exc}); columns are: {names}"
        ) from exc
