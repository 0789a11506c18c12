"""Local checks of every request parameter, before any spend.

Literal parameters are checked in Python and returned in canonical form (``temperature=1``
becomes ``1.0``, dict keys sorted), so that equal requests encode to equal JSON. Column-valued
parameters (a ``pl.Expr``) are checked vectorised; the error counts the bad rows and names the
first one. Every error is a :class:`~siraya_frames.errors.ParameterError` naming the parameter.

Examples
--------
>>> canonical_literal("temperature", 1)
1.0
>>> canonical_literal("top_p", 1.5)
Traceback (most recent call last):
...
siraya_frames._errors.ParameterError: top_p must be a number in (0, 1]; got 1.5
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, TypeGuard

import polars as pl

from siraya_frames._errors import NullValueError, ParameterError

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

COLUMN_PARAMS = (
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "system",
)
"""Parameters that may be given per row as a ``pl.Expr``; the others are literal only."""


def parameter_error(name: str, rule: str, value: Any) -> ParameterError:
    """The error for a parameter that breaks a rule: ``"<name> must be <rule>; got <value>"``."""
    return ParameterError(f"{name} must be {rule}; got {value!r}")


def is_int(value: Any) -> TypeGuard[int]:
    """Tell whether a value is an integer and not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _model(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise parameter_error("model", "a non-empty model name such as 'openai/gpt-4o-mini'", value)
    return value


_INT64_MAX = 2**63 - 1
"""The largest integer a parameter may be: Polars holds them as Int64."""


def _is_positive_int(value: Any) -> bool:
    return is_int(value) and 1 <= value <= _INT64_MAX


def _positive_int(name: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not _is_positive_int(value):
            raise parameter_error(name, "an integer from 1 to 2**63 - 1", value)
        return int(value)

    return check


def _temperature(value: Any) -> float:
    if not _is_number(value) or not 0 <= value <= 2:
        raise parameter_error("temperature", "a number in [0, 2]", value)
    return float(value)


def _top_p(value: Any) -> float:
    if not _is_number(value) or not 0 < value <= 1:
        raise parameter_error("top_p", "a number in (0, 1]", value)
    return float(value)


def _stop_sequences(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise parameter_error("stop_sequences", "a list of strings", value)
    if not all(isinstance(s, str) for s in value):
        raise parameter_error("stop_sequences", "a list of strings", value)
    return list(value)


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise parameter_error("metadata", "a dict of str -> str", value)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise parameter_error("metadata", "a dict of str -> str", value)
    return dict(sorted(value.items()))


def _thinking(value: Any) -> dict[str, Any]:
    rule = '{"type": "enabled", "budget_tokens": <int from 1 to 2**63 - 1>} or {"type": "disabled"}'
    if not isinstance(value, Mapping) or value.get("type") not in ("enabled", "disabled"):
        raise parameter_error("thinking", rule, value)
    if set(value) - {"type", "budget_tokens"}:
        raise parameter_error("thinking", rule, value)
    budget = value.get("budget_tokens")
    if value["type"] == "enabled" and not _is_positive_int(budget):
        raise parameter_error("thinking", rule, value)
    if value["type"] == "disabled" and budget is not None:
        raise parameter_error("thinking", rule, value)
    return dict(sorted(value.items()))


def _json_text(name: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                          allow_nan=False)  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise parameter_error(
            name, "JSON-serialisable (str, numbers, bools, None, lists, dicts)", value
        ) from exc


def _tools(value: Any) -> str:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise parameter_error("tools", "a list of dicts", value)
    if not all(isinstance(tool, Mapping) for tool in value):
        raise parameter_error("tools", "a list of dicts", value)
    return _json_text("tools", list(value))


def _tool_choice(value: Any) -> str:
    if not isinstance(value, Mapping | str):
        raise parameter_error("tool_choice", 'a dict such as {"type": "auto"} or a string', value)
    return _json_text("tool_choice", value)


def _system(value: Any) -> str:
    if not isinstance(value, str):
        raise parameter_error(
            "system", "a string (literal or '{column}' template) or a pl.Expr", value
        )
    return value


_LITERAL_CHECKS: dict[str, Callable[[Any], Any]] = {
    "model": _model,
    "max_tokens": _positive_int("max_tokens"),
    "temperature": _temperature,
    "top_p": _top_p,
    "top_k": _positive_int("top_k"),
    "stop_sequences": _stop_sequences,
    "metadata": _metadata,
    "thinking": _thinking,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "system": _system,
}


def canonical_literal(name: str, value: Any) -> Any:
    """Check a literal parameter and return its canonical form.

    ``tools`` and ``tool_choice`` come back as canonical JSON text (sorted keys), because
    their shapes are arbitrary JSON that a Polars struct cannot hold faithfully.

    Examples
    --------
    >>> canonical_literal("thinking", {"type": "enabled", "budget_tokens": 1024})
    {'budget_tokens': 1024, 'type': 'enabled'}
    >>> canonical_literal("tools", [{"name": "f", "input_schema": {"type": "object"}}])
    '[{"input_schema":{"type":"object"},"name":"f"}]'
    """
    canonical = _LITERAL_CHECKS[name](value)
    text = canonical if isinstance(canonical, str) else json.dumps(canonical, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise parameter_error(name, "valid Unicode text (no lone surrogates)", value) from exc
    return canonical


# ---- column-valued parameters ------------------------------------------------------------

_TEXT = (pl.String, pl.Categorical, pl.Enum)


def _integer(dtype: pl.DataType) -> bool:
    return dtype.is_integer()


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _text(dtype: PolarsDataType) -> bool:
    return isinstance(dtype, _TEXT)


def _string_list(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.String | pl.Null)


def _string_struct(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Struct) and all(f.dtype == pl.String for f in dtype.fields)


# name -> (dtype test, expected dtype in words, target dtype or None to keep)
_COLUMN_DTYPES: dict[str, tuple[Callable[[pl.DataType], bool], str, pl.DataType | None]] = {
    "model": (_text, "String", pl.String()),
    "max_tokens": (_integer, "an integer dtype", pl.Int64()),
    "temperature": (_numeric, "a numeric dtype", pl.Float64()),
    "top_p": (_numeric, "a numeric dtype", pl.Float64()),
    "top_k": (_integer, "an integer dtype", pl.Int64()),
    "stop_sequences": (_string_list, "List(String)", pl.List(pl.String)),
    "metadata": (_string_struct, "Struct of String fields", None),
    "system": (_text, "String", pl.String()),
}


def column_target_dtype(name: str, dtype: pl.DataType) -> pl.DataType:
    """Check the dtype of a column-valued parameter; return the dtype it is cast to.

    Examples
    --------
    >>> column_target_dtype("max_tokens", pl.Int32)
    Int64
    >>> column_target_dtype("max_tokens", pl.Float64)
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ParameterError: max_tokens column must have an integer dtype; got Float64
    """
    if name not in _COLUMN_DTYPES:
        allowed = ", ".join(COLUMN_PARAMS)
        raise ParameterError(
            f"{name} cannot be given per row (a pl.Expr); pass a literal value. Parameters "
            f"that can be per row: {allowed}"
        )
    test, words, target = _COLUMN_DTYPES[name]
    if not (test(dtype) or isinstance(dtype, pl.Null)):  # all-null: unset in every row
        raise ParameterError(f"{name} column must have {words}; got {dtype}")
    return target or dtype


def _rule_bad_rows(name: str, value: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, str]:
    """Return (expression true on bad rows, the rule in words) for a column parameter."""
    if name == "model":
        return value.is_null() | (value.str.strip_chars() == ""), "a non-empty model name"
    if name == "max_tokens":
        return value.is_null() | (value < 1), "an integer >= 1 (not null)"
    if name == "temperature":
        return value.is_not_null() & ~value.is_between(0, 2), "a number in [0, 2]"
    if name == "top_p":
        return value.is_not_null() & ~((value > 0) & (value <= 1)), "a number in (0, 1]"
    if name == "top_k":
        return value.is_not_null() & (value < 1), "an integer >= 1"
    if name == "stop_sequences":
        has_null = value.list.drop_nulls().list.len() != value.list.len()
        return value.is_not_null() & has_null, "a list of strings without nulls"
    if name == "metadata" and isinstance(dtype, pl.Struct) and dtype.fields:
        nulls = pl.any_horizontal([value.struct.field(f.name).is_null() for f in dtype.fields])
        return value.is_not_null() & nulls, "a dict of str -> str without null values"
    return pl.lit(False), ""


def check_column_values(
    frame: pl.DataFrame,
    columns: Mapping[str, str],
    keep: pl.Expr | None = None,
    *,
    offset: int = 0,
) -> None:
    """Check column-valued parameters already cast into ``frame``.

    ``columns`` maps each parameter name to its column in ``frame``; rows where ``keep`` is
    false (skipped rows) are not checked. ``offset``: the row number of ``frame``'s first
    row (a piece of a streamed frame).

    Examples
    --------
    >>> df = pl.DataFrame({"mt": [5, 0, -1]})
    >>> check_column_values(df, {"max_tokens": "mt"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ParameterError: max_tokens must be ...; 2 rows are not (first at row 1)
    """
    checks = {}
    for name, column in columns.items():
        bad, rule = _rule_bad_rows(name, pl.col(column), frame.schema[column])
        if rule:
            checks[name] = (bad if keep is None else bad & keep, rule)
    if not checks:
        return
    counts = frame.select(_count_and_first(bad, name) for name, (bad, _) in checks.items())
    for name, (_, rule) in checks.items():
        n_bad, first = counts[name].item()
        if n_bad:
            raise ParameterError(
                f"{name} must be {rule} in every row; {n_bad} rows are not (first at row "
                f"{first + offset})"
            )


def _count_and_first(bad: pl.Expr, name: str) -> pl.Expr:
    bad = bad.fill_null(False)
    return pl.concat_list(bad.sum().cast(pl.Int64), bad.arg_true().first().cast(pl.Int64)).alias(
        name
    )


def check_nulls(
    frame: pl.DataFrame, columns: Sequence[str], *, what: str = "template", offset: int = 0
) -> None:
    """Raise :class:`NullValueError` for the first of ``columns`` holding nulls
    (``offset``: the row number of ``frame``'s first row).

    Examples
    --------
    >>> check_nulls(pl.DataFrame({"review": ["ok", None, None]}), ["review"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.NullValueError: column 'review' (...) has 2 null rows (first at row 1)...
    """
    if not columns:
        return
    stats = frame.select(_count_and_first(pl.col(c).is_null(), c) for c in columns)
    for column in columns:
        n_null, first = stats[column].item()
        if n_null:
            raise NullValueError(
                f"column {column!r} (used in the {what}) has {n_null} null rows (first at row "
                f"{first + offset}); fill them, or pass on_null='skip' (no request for those "
                "rows) or on_null='empty' (render as '')"
            )


def check_messages_dtype(name: str, dtype: pl.DataType) -> None:
    """Check that a ``messages=`` column is ``list[struct{role, content}]`` of text.

    Examples
    --------
    >>> check_messages_dtype("chat", pl.String)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ParameterError: messages column 'chat' must have dtype ...; got String
    """
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    ok = isinstance(inner, pl.Struct)
    fields = {f.name: f.dtype for f in inner.fields} if isinstance(inner, pl.Struct) else {}
    if not ok or set(fields) != {"role", "content"} or not all(map(_text, fields.values())):
        expected = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
        raise ParameterError(f"messages column {name!r} must have dtype {expected}; got {dtype}")


def check_message_values(
    frame: pl.DataFrame, column: str, keep: pl.Expr | None = None, *, offset: int = 0
) -> None:
    """Check that every message has a role (user/assistant) and a non-null content
    (``offset``: the row number of ``frame``'s first row).

    Examples
    --------
    >>> df = pl.DataFrame({"m": [[{"role": "user", "content": "hi"}], []]})
    >>> check_message_values(df, "m")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ParameterError: messages column 'm' must hold ... (first at row 1)
    """
    msgs = pl.col(column)
    roles = msgs.list.eval(pl.element().struct.field("role").is_in(["user", "assistant"]))
    contents = msgs.list.eval(pl.element().struct.field("content").is_not_null())
    ok = roles.list.all() & contents.list.all() & (msgs.list.len() > 0)
    bad = ~ok.fill_null(True) if keep is None else ~ok.fill_null(True) & keep
    n_bad, first = frame.select(_count_and_first(bad, "x")).item()
    if n_bad:
        raise ParameterError(
            f"messages column {column!r} must hold a non-empty list of {{role: 'user' | "
            f"'assistant', content: not null}} in every row; {n_bad} rows do not (first at "
            f"row {first + offset})"
        )


def check_on_null(on_null: Any) -> None:
    """Check the ``on_null`` argument.

    Examples
    --------
    >>> check_on_null("drop")
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ParameterError: on_null must be 'error', 'skip' or 'empty'; got 'drop'
    """
    if on_null not in ("error", "skip", "empty"):
        raise parameter_error("on_null", "'error', 'skip' or 'empty'", on_null)


def is_finite_number(value: Any) -> bool:
    """Tell whether a value is a real, finite, non-bool number (used for prices)."""
    return _is_number(value) and math.isfinite(value)
