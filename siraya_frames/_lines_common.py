"""What every result-line shape shares: the results schema, the row builder, text cleaning.

A row is a tuple in the order of :data:`RESULT_SCHEMA`; :func:`row` builds it by name. The
``canceled`` / ``expired`` vocabularies are here because every shape may use them, under
``code``, ``type`` or ``error_type``.

Examples
--------
>>> row("r1", "succeeded", text="Hi", tokens=(3, 1, None, None))[:4]
('r1', 'succeeded', 'Hi', None)
>>> end_status("batch_cancelled"), end_status("batch_expired"), end_status("server_error")
('canceled', 'expired', None)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "custom_id": pl.String(),
    "result_status": pl.String(),
    "response_text": pl.String(),
    "tool_calls": pl.String(),
    "stop_reason": pl.String(),
    "model": pl.String(),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "cache_read_input_tokens": pl.Int64(),
    "cache_creation_input_tokens": pl.Int64(),
    "error_type": pl.String(),
    "error_message": pl.String(),
}
"""Columns and dtypes of a normalised results frame, in order."""

RESULT_STATUSES = ("succeeded", "errored", "canceled", "expired")
"""The values of ``result_status`` that :func:`~siraya_frames.read_results` gives."""

EXPIRED_CODES = frozenset({"batch_expired", "expired", "request_expired"})
CANCELED_CODES = frozenset(
    {
        "batch_cancelled",
        "batch_canceled",
        "cancelled",
        "canceled",
        "request_cancelled",
        "request_canceled",
    }
)
_SNIPPET = 120

Tokens = tuple[int | None, int | None, int | None, int | None]
"""``(input, output, cache read, cache creation)`` token counts."""
NO_TOKENS: Tokens = (None, None, None, None)


@dataclass
class Rows:
    """Rows read in Python, with their line numbers, plus the unreadable locations."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, why), malformed lines
    lost: list[int] = field(default_factory=list)  # lines with no recoverable custom_id

    def add(self, row: tuple[Any, ...] | None, line: int, problem: str | None) -> None:
        if problem is not None:
            self.bad.append((line, problem))
        if row is None:
            self.lost.append(line)
        else:
            self.rows.append(row)
            self.lines.append(line)


def end_status(code: object) -> str | None:
    """``canceled`` / ``expired`` when ``code`` is in their vocabulary, else None."""
    if not isinstance(code, str):
        return None
    if code in EXPIRED_CODES:
        return "expired"
    if code in CANCELED_CODES:
        return "canceled"
    return None


def end_status_expr(code: pl.Expr) -> pl.Expr:
    """:func:`end_status` as a Polars expression (null where it gives None)."""
    return (
        pl.when(code.is_in(list(EXPIRED_CODES)))
        .then(pl.lit("expired"))
        .when(code.is_in(list(CANCELED_CODES)))
        .then(pl.lit("canceled"))
    )


def text(value: object) -> str | None:
    """A string field as a string: other JSON values as compact JSON, null as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return clean(value)
    return clean(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def clean(value: str) -> str:
    """Replace lone surrogates (valid in JSON escapes, not in UTF-8) so Polars takes it."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def to_int(value: object) -> int | None:
    """A token count: an int64, or None for anything else."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def valid_id(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return clean(value) is value


def row(
    custom_id: str,
    status: str,
    *,
    text: str | None = None,
    tools: str | None = None,
    stop: str | None = None,
    model: str | None = None,
    tokens: Tokens = NO_TOKENS,
    error: tuple[str | None, str | None] = (None, None),
) -> tuple[Any, ...]:
    """One row, in the order of :data:`RESULT_SCHEMA`."""
    return (custom_id, status, text, tools, stop, model, *tokens, *error)


def snippet(raw: bytes | str | object) -> str:
    """The start of a line or value, for a message."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    elif not isinstance(raw, str):
        raw = text(raw) or ""
    raw = clean(raw.strip())
    return raw if len(raw) <= _SNIPPET else raw[:_SNIPPET] + "…"


def unrecognized(custom_id: str, where: str, raw: object) -> tuple[tuple[Any, ...], str]:
    message = f"{where}: no documented result shape: {snippet(raw)}"
    return row(custom_id, "errored", error=("unrecognized_result", message)), message


def tool_calls_json(calls: list[dict[str, Any]]) -> str | None:
    """The tool calls as a JSON list of ``{"name", "input"[, "id"]}``; None when there are none."""
    return text(calls) if calls else None


def tool_only_text(calls: list[dict[str, Any]]) -> str | None:
    """``response_text`` of an answer with tool calls and no text: the input(s) as JSON."""
    inputs = [call["input"] for call in calls]
    if not inputs:
        return None
    return text(inputs[0] if len(inputs) == 1 else inputs)


def struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct(list(fields.items()))


STR, INT = pa.string(), pa.int64()


def valid_id_expr() -> pl.Expr:
    custom_id = pl.col("custom_id")
    return custom_id.is_not_null() & (custom_id != "")


def empty_frame(*, with_line: bool = False) -> pl.DataFrame:
    """A frame of :data:`RESULT_SCHEMA` with no rows (plus ``_line``, the line index)."""
    schema = dict(RESULT_SCHEMA)
    if with_line:
        schema["_line"] = pl.Int64()
    return pl.DataFrame(schema=schema)
