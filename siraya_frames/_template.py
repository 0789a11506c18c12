"""Prompt templates over columns: ``"Classify: {review} (title: {title})"``.

A template is literal text with ``{column}`` placeholders; ``{{`` and ``}}`` stand for literal
braces. It is parsed once in Python and rendered by Polars (``pl.concat_str`` of literal pieces
and ``pl.col(name).cast(pl.String)``), so no Python code runs per row.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"review": ["Great!"], "stars": [5]})
>>> df.select(render_template("{review} ({stars}/5) {{ok}}", df.schema)).item()
'Great! (5/5) {ok}'
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import polars as pl

from siraya_frames._display import article
from siraya_frames._errors import ColumnNotFoundError, InputError

OnNull = Literal["error", "skip", "empty"]

_TEXT_KINDS = (pl.String, pl.Categorical, pl.Enum)
_UNRENDERABLE = (pl.List, pl.Array, pl.Struct, pl.Binary, pl.Object)


@dataclass(frozen=True)
class Placeholder:
    """A ``{name}`` placeholder of a template, at character ``position``."""

    name: str
    position: int


def parse_template(template: str) -> list[str | Placeholder]:
    """Split a template into literal strings and :class:`Placeholder` s.

    Raises
    ------
    InputError
        On an unbalanced ``{`` or ``}`` or an empty ``{}``; the message names the position.

    Examples
    --------
    >>> parse_template("Hi {name}, {{literal}}")
    ['Hi ', Placeholder(name='name', position=3), ', {literal}']
    """
    _check_encodable(template)
    pieces: list[str | Placeholder] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if template.startswith(("{{", "}}"), i):
            text.append(char)
            i += 2
        elif char == "{":
            end = _closing_brace(template, i)
            if text:
                pieces.append("".join(text))
                text = []
            pieces.append(Placeholder(template[i + 1 : end], i))
            i = end + 1
        elif char == "}":
            raise InputError(_brace_message(template, i, "single '}' with no opening '{'"))
        else:
            text.append(char)
            i += 1
    if text:
        pieces.append("".join(text))
    return pieces


def _check_encodable(template: str) -> None:
    try:
        template.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"template has a character that is not valid Unicode text ({exc.object[exc.start]!r}"
            f" at position {exc.start}, a lone surrogate); fix the text before building"
        ) from exc


def _closing_brace(template: str, start: int) -> int:
    """Return the index of the ``}`` closing the placeholder opened at ``start``."""
    end = template.find("}", start + 1)
    inner_open = template.find("{", start + 1)
    if end == -1 or (inner_open != -1 and inner_open < end):
        raise InputError(_brace_message(template, start, "'{' that is never closed"))
    if end == start + 1:
        raise InputError(_brace_message(template, start, "empty placeholder '{}'"))
    return end


def _brace_message(template: str, position: int, problem: str) -> str:
    excerpt = template[max(0, position - 20) : position + 20]
    return (
        f"template has {article(problem)} at position {position} (near {excerpt!r}); write '{{{{' "
        "and '}}' for literal braces, or '{column}' to insert a column. "
        f"{_escape_hint(template, None, position)}"
    )


_PLAIN_NAME = re.compile(r"[^\s\"':{}](?:[^\"':{}]*[^\s\"':{}])?")
"""What a ``{name}`` placeholder looks like when no column list says otherwise: no quote,
colon or brace, no space at either end (``{"label": 1}`` is JSON, not a column)."""
_HINT_WIDTH = 80


def escape_braces(template: str, columns: Collection[str] | None = None) -> str:
    """Return ``template`` with every literal brace doubled, keeping its ``{column}`` s.

    A ``{name}`` stays a placeholder when ``name`` is one of ``columns`` (or, without
    ``columns``, when it looks like a column name rather than JSON); ``{{`` stays, and so
    does a ``}}`` that closes one (another ``}}`` is two literal braces, as in JSON).
    Used to show the fix when a prompt holds JSON.

    Examples
    --------
    >>> print(escape_braces('Label {review} as {"label": "pos"}', ["review"]))
    Label {review} as {{"label": "pos"}}
    >>> print(escape_braces('{"a": {"b": 1}} {{ok}} {x}'))
    {{"a": {{"b": 1}}}} {{ok}} {x}
    """
    out: list[str] = []
    i, n, opened = 0, len(template), 0  # opened: '{{' not yet closed by a '}}'
    while i < n:
        if template.startswith("{{", i) or (opened and template.startswith("}}", i)):
            opened += 1 if template[i] == "{" else -1
            out.append(template[i : i + 2])
            i += 2
            continue
        match = re.match(r"\{([^{}]*)\}", template[i:]) if template[i] == "{" else None
        if match and _is_column(match.group(1), columns):
            out.append(match.group(0))
            i += match.end()
            continue
        out.append(template[i] * 2 if template[i] in "{}" else template[i])
        i += 1
    return "".join(out)


def _is_column(name: str, columns: Collection[str] | None) -> bool:
    return name in columns if columns is not None else bool(_PLAIN_NAME.fullmatch(name))


def _escape_hint(template: str, columns: Collection[str] | None, position: int) -> str:
    """``If the braces are literal text (JSON), double them: '...'``, around ``position``."""
    fixed = escape_braces(template, columns)
    if len(fixed) > _HINT_WIDTH:  # the escaped text grows: centre on the first change
        pairs = enumerate(zip(template, fixed, strict=False))
        first = next((k for k, (a, b) in pairs if a != b), position)
        start = max(0, first - _HINT_WIDTH // 4)
        fixed = ("..." if start else "") + fixed[start : start + _HINT_WIDTH] + "..."
    return f"If the braces are literal text (JSON), double them: {fixed!r}"


def template_columns(template: str) -> list[str]:
    """Return the distinct column names a template refers to, in order of appearance.

    Examples
    --------
    >>> template_columns("{a} and {b} and {a}")
    ['a', 'b']
    """
    names = [p.name for p in parse_template(template) if isinstance(p, Placeholder)]
    return list(dict.fromkeys(names))


def is_template(text: str) -> bool:
    """Tell whether a string has at least one ``{column}`` placeholder.

    Examples
    --------
    >>> is_template("Be brief."), is_template("Answer in {lang}."), is_template("{{x}}")
    (False, True, False)
    """
    return any(isinstance(p, Placeholder) for p in parse_template(text))


def unescape(text: str) -> str:
    """Return the literal text of a template without placeholders (``{{`` becomes ``{``).

    Examples
    --------
    >>> unescape("Reply as JSON: {{...}}")
    'Reply as JSON: {...}'
    """
    return "".join(p for p in parse_template(text) if isinstance(p, str))


def check_columns(
    names: list[str],
    schema: pl.Schema | dict,
    *,
    what: str = "template",
    template: str | None = None,
) -> None:
    """Raise :class:`ColumnNotFoundError` naming the first missing column and listing all.

    With the ``template`` the names came from, a name that looks like JSON rather than a
    column (``{"label": "pos"}``) gets the template with its literal braces doubled.

    Examples
    --------
    >>> check_columns(["review"], {"id": pl.Int64, "text": pl.String})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ColumnNotFoundError: column 'review' not found ...; columns are: id, text
    """
    for name in names:
        if name not in schema:
            listed = ", ".join(schema) or "(none)"
            hint = (
                f"; {_escape_hint(template, list(schema), 0)}"
                if template is not None and not _PLAIN_NAME.fullmatch(name)
                else ""
            )
            raise ColumnNotFoundError(
                f"column {name!r} not found (used in the {what}); columns are: {listed}{hint}"
            )


def text_expr(name: str, dtype: pl.DataType, *, on_null: OnNull = "error") -> pl.Expr:
    """Return ``pl.col(name)`` as text (String), with nulls as ``""`` when ``on_null="empty"``.

    Examples
    --------
    >>> df = pl.DataFrame({"n": [1, None]})
    >>> df.select(text_expr("n", pl.Int64, on_null="empty")).to_series().to_list()
    ['1', '']
    """
    if isinstance(dtype, _UNRENDERABLE) or dtype in _UNRENDERABLE:
        raise InputError(
            f"column {name!r} has dtype {dtype}, which a template cannot render as text; "
            f"add a String column (e.g. pl.col({name!r}).cast(...) or a json_encode) first"
        )
    expr = pl.col(name) if dtype == pl.String else pl.col(name).cast(pl.String)
    return expr.fill_null("") if on_null == "empty" else expr


def render_template(
    template: str, schema: pl.Schema | dict, *, on_null: OnNull = "error", what: str = "template"
) -> pl.Expr:
    """Return a String expression rendering ``template`` for every row.

    A row with a null in a placeholder column renders as null, unless ``on_null="empty"``.

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["x", None]})
    >>> df.select(render_template("<{a}>", df.schema)).to_series().to_list()
    ['<x>', None]
    """
    pieces = parse_template(template)
    names = [p.name for p in pieces if isinstance(p, Placeholder)]
    check_columns(names, schema, what=what, template=template)
    exprs = [
        text_expr(p.name, schema[p.name], on_null=on_null)
        if isinstance(p, Placeholder)
        else pl.lit(p, dtype=pl.String)
        for p in pieces
    ]
    if not exprs:
        return pl.lit("", dtype=pl.String)
    return pl.concat_str(exprs) if len(exprs) > 1 else exprs[0]
