"""Batch results of every documented shape → one normalised results frame.

A finished batch hands back its answers as JSONL (one object per line) or as one JSON
document with a ``results`` array. Lines are read by *line shape*, each in its own module
with its Arrow fast path beside its Python fallback:

* **Anthropic** ``{"custom_id", "result": {"type", "message" | "error"}}``
  (:mod:`~siraya_frames._lines_anthropic`);
* **OpenAI / Azure / Siraya reference / OpenRouter / vLLM** ``{"custom_id", "response",
  "error"}``, ``response`` being ``{"status_code" | "status", "body"}``, ``{"body"}`` or
  (vLLM's older ``run_batch``) the bare chat.completion (:mod:`~siraya_frames._lines_openai`).

:mod:`~siraya_frames._jsonl_reader` cuts and reads the file; this module takes every kind of
source and makes the frame. Every line becomes a row of :data:`RESULT_SCHEMA`:

==============================  ==============================================================
``custom_id``                   the request's id
``result_status``               ``succeeded``, ``errored``, ``canceled`` or ``expired``
``response_text``               the text blocks / message content joined (no thinking, no
                                reasoning); for a tool-ONLY answer, the tool input as compact
                                JSON (a list for several calls), which labels and extraction
                                read; a refusal gives the refusal text
``tool_calls``                  JSON text, a list of ``{"name", "input", "id"}`` (``id`` where
                                the provider gives one; OpenAI's ``arguments`` decoded into
                                ``input``, kept as the raw string when not JSON); null when
                                there are none
``stop_reason``                 the provider's raw value (``end_turn``, ``stop``...)
``model``                       the model that answered
``input_tokens``                the input tokens billed at the base input rate: NOT counting
                                cache reads or writes (Anthropic's ``input_tokens``; OpenAI's
                                ``prompt_tokens - prompt_tokens_details.cached_tokens``)
``output_tokens``               the output tokens
``cache_read_input_tokens``     input tokens read from the prompt cache (Anthropic's field,
                                OpenAI's ``cached_tokens``); null when not reported
``cache_creation_input_tokens`` input tokens written to the cache (Anthropic); null for
                                OpenAI, which bills no cache write
``error_type``                  the most specific code given: ``error_type``, then ``type``,
                                then ``code``; ``http_<status>`` for a non-2xx answer without
                                an error body
``error_message``               the server's message
==============================  ==============================================================

* A request is ``canceled`` / ``expired`` when the line says so in any shape: Anthropic's
  ``result.type``, or an error's ``code``, ``type`` or ``error_type`` in the vocabularies
  ``batch_expired``, ``expired``, ``request_expired`` / ``batch_cancelled``,
  ``batch_canceled``, ``cancelled``, ``canceled``, ``request_cancelled``,
  ``request_canceled``.
* Several rows for one ``custom_id`` (a batch retried, a line repeated) keep one: the
  succeeded row if there is one, else the last.
* A line that cannot be read becomes an errored row (``error_type`` ``"invalid_json"`` or
  ``"unrecognized_result"``, the message quoting the start of the line) when its
  ``custom_id`` can be recovered; otherwise it is counted and reported with a
  :class:`ResultsWarning` and a log record, or raised with ``strict=True``.

Reading is vectorised (see :mod:`~siraya_frames._jsonl_reader`): read and joined, a million
Anthropic lines take about a quarter of the time of a ``json.loads`` loop into pandas and a
merge, a third of its CPU, and about twice the file's size in memory
(``benchmarks/bench_results.py``).

Examples
--------
>>> line = (
...     '{"custom_id": "r1", "result": {"type": "succeeded", "message": {"model": "m",'
...     ' "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",'
...     ' "usage": {"input_tokens": 3, "output_tokens": 1}}}}'
... )
>>> read_results(line + "\\n").select("custom_id", "result_status", "response_text").row(0)
('r1', 'succeeded', 'Hi')
"""

from __future__ import annotations

import json
import logging
import mmap
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, cast

import polars as pl

from siraya_frames._errors import InputError, UnexpectedResponseError
from siraya_frames._jsonl_reader import Data, normalise_line, normalise_object, read_jsonl
from siraya_frames._lines_common import (
    RESULT_SCHEMA,
    RESULT_STATUSES,
    Rows,
    empty_frame,
    snippet,
)
from siraya_frames._warn import warn_user

__all__ = [
    "RESULT_SCHEMA",
    "RESULT_STATUSES",
    "ResultsWarning",
    "ids_are_unique",
    "keep_best",
    "read_results",
]

logger = logging.getLogger("siraya_frames")

_SHOWN_LOCATIONS = 5
_BOM = b"\xef\xbb\xbf"
_NON_BLANK = re.compile(rb"\S")
_NON_BLANK_STR = re.compile(r"\S")


class ResultsWarning(UserWarning):
    """Some results were left out: unreadable lines without a ``custom_id`` (when reading),
    or results whose ``custom_id`` is not in the requests frame (when joining)."""


def _rows_frame(rows: Rows) -> pl.DataFrame:
    frame = pl.DataFrame(rows.rows, schema=RESULT_SCHEMA, orient="row")
    return frame.with_columns(pl.Series("_line", rows.lines, dtype=pl.Int64))


def _read_items(items: Sequence[object], noun: str) -> tuple[pl.DataFrame, Rows]:
    """Already-parsed results (dicts), or raw lines (str / bytes) in a list."""
    rows = Rows()
    for index, item in enumerate(items):
        where = f"{noun} {index + 1}"
        if isinstance(item, str):
            item = item.encode("utf-8", "surrogatepass")
        if isinstance(item, bytes | bytearray | memoryview):
            found, problem = normalise_line(bytes(item), where)
        else:
            found, problem = normalise_object(item, where, item)
        rows.add(found, index, problem)
    return empty_frame(with_line=True), rows


def _document_items(doc: Mapping[str, Any]) -> Sequence[object] | None:
    """The ``results`` list of an inline document; None when ``doc`` is a single line.

    A batch object (with an ``id`` or a ``status``) whose ``results`` is not a list yet is
    refused: its batch has not ended.
    """
    results = doc.get("results")
    if isinstance(results, list) and "custom_id" not in doc:
        return results
    if "results" in doc and "custom_id" not in doc and ("id" in doc or "status" in doc):
        raise UnexpectedResponseError(
            f"the document has no 'results' list (results={snippet(results)!s}, status="
            f"{doc.get('status')!r}); results come once the batch has ended",
            batch_id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        )
    return None


def _read_bytes(data: Data) -> tuple[pl.DataFrame, Rows, str]:
    """JSONL, or one JSON document (an inline ``results`` array, or a list of lines)."""
    if data[:3] == _BOM:
        data = data[3:]
    start = _NON_BLANK.search(data)
    if start is None:
        return empty_frame(with_line=True), Rows(), "line"
    head = data[start.start() : start.start() + 1]
    if head == b"[" or (head == b"{" and not _first_line_is_a_result(data, start.start())):
        try:
            doc = json.loads(data if isinstance(data, bytes) else data[:])
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, list):
            return (*_read_items(doc, "item"), "item")
        if isinstance(doc, dict) and (items := _document_items(doc)) is not None:
            return (*_read_items(items, "item"), "item")
    return (*read_jsonl(data), "line")


def _first_line_is_a_result(data: Data, start: int) -> bool:
    end = data.find(b"\n", start)
    try:
        first = json.loads(data[start : None if end < 0 else end])
    except (ValueError, RecursionError):
        return False
    return isinstance(first, dict) and "results" not in first


def _map(path: Path) -> Data:
    """A file's bytes, memory-mapped: no copy (a third of the time of reading them)."""
    with path.open("rb") as file:
        try:
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # an empty file, or one that cannot be mapped
            return file.read()


def _source_path(source: object) -> Path | None:
    """The file ``source`` names, or None when it is content (see :func:`read_results`)."""
    if isinstance(source, PathLike):
        return Path(source)
    if not isinstance(source, str):
        return None
    start = _NON_BLANK_STR.search(source)
    if start is None or "\n" in source or source[start.start()] in "{[":
        return None
    return Path(source)


def _source_data(source: str | bytes | bytearray | memoryview | PathLike[str]) -> Data:
    if isinstance(source, bytes):
        return source
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    path = _source_path(source)
    if path is not None:
        return _map(path)
    return cast(str, source).encode("utf-8", "surrogatepass")  # content, not a path


def _read_any(source: object) -> tuple[pl.DataFrame, Rows, str]:
    if isinstance(source, Mapping):
        items = _document_items(source)
        return (*_read_items([source] if items is None else items, "item"), "item")
    if isinstance(source, list | tuple):
        return (*_read_items(source, "item"), "item")
    if isinstance(source, str | bytes | bytearray | memoryview | PathLike):
        return _read_bytes(_source_data(source))
    raise InputError(
        f"cannot read results from a {type(source).__name__}; pass a path, the JSONL or JSON "
        "content (str or bytes), a parsed document with a 'results' list, or a list of lines"
    )


def keep_best(frame: pl.DataFrame, order: str) -> pl.DataFrame:
    """One row per ``custom_id``: the succeeded one if any, else the last (by ``order``).

    Examples
    --------
    >>> frame = pl.DataFrame({"custom_id": ["a", "a", "b", "b"], "n": [1, 2, 3, 4],
    ...                       "result_status": ["succeeded", "errored", "errored", "expired"]})
    >>> keep_best(frame, "n").rows()
    [('a', 1, 'succeeded'), ('b', 4, 'expired')]
    """
    if ids_are_unique(frame["custom_id"]):
        return frame
    rank = (pl.col("result_status") == "succeeded").fill_null(False).alias("_rank")
    return (
        frame.with_columns(rank)
        .sort("_rank", order)
        .unique("custom_id", keep="last")
        .sort(order)
        .drop("_rank")
    )


def ids_are_unique(ids: pl.Series) -> bool:
    """Whether no id repeats; a 64-bit hash first (several times faster on long strings)."""
    if ids.hash().n_unique() == len(ids):
        return True
    return ids.n_unique() == len(ids)


def _report(rows: Rows, noun: str, *, strict: bool, path: Path | None) -> None:
    where = f" of {path}" if path is not None else ""
    if strict and rows.bad:
        _, problem = min(rows.bad)
        raise UnexpectedResponseError(
            f"{problem} ({len(rows.bad)} malformed result {noun}(s){where} in all; strict=True)"
        )
    if not rows.lost:
        return
    lost = sorted(rows.lost)
    shown = ", ".join(str(line + 1) for line in lost[:_SHOWN_LOCATIONS])
    more = ", ..." if len(lost) > _SHOWN_LOCATIONS else ""
    message = (
        f"{len(lost)} result {noun}(s) could not be read and had no custom_id; they were "
        f"skipped ({noun}s {shown}{more}{where}); pass strict=True to raise instead"
    )
    warn_user(message, ResultsWarning)


def read_results(
    source: str | bytes | PathLike[str] | Mapping[str, Any] | Sequence[Any],
    *,
    strict: bool = False,
) -> pl.DataFrame:
    """Read batch results of any documented dialect into one normalised frame.

    Parameters
    ----------
    source
        A path (``str`` or :class:`~pathlib.Path`) to a JSONL results file or a JSON document;
        the content itself (``bytes``, or a ``str`` holding JSON); a parsed document with a
        ``results`` list (Siraya's inline results, OpenRouter); or a list of result lines
        (dicts, or raw JSON strings). A ``str`` is content when it holds a newline or starts
        with ``{`` or ``[``, and a path otherwise.
    strict
        Raise :class:`~siraya_frames.errors.UnexpectedResponseError`, naming the first bad
        line, when any line is not a documented result shape. By default such a line becomes
        an errored row (``error_type`` ``"invalid_json"`` or ``"unrecognized_result"``) when
        its ``custom_id`` can be recovered, and is skipped, with a :class:`ResultsWarning`
        and a log record giving the count and the first line numbers, when it cannot.

    Returns
    -------
    polars.DataFrame
        Exactly the columns of :data:`RESULT_SCHEMA`, one row per ``custom_id`` (the succeeded
        row when a custom_id appears more than once, else the last), in the order of the
        lines. ``result_status`` is one of ``succeeded``, ``errored``, ``canceled``,
        ``expired``; ``stop_reason`` is the provider's raw value.

    Raises
    ------
    UnexpectedResponseError
        With ``strict=True``, for a line of no documented shape; always, for a document whose
        ``results`` is there but not a list (a batch that has not ended).
    InputError
        For a ``source`` of another type.

    Warns
    -----
    ResultsWarning
        When lines without a recoverable ``custom_id`` were skipped (not with ``strict``).

    Examples
    --------
    >>> doc = {
    ...     "id": "batch_abc123",
    ...     "status": "completed",
    ...     "results": [
    ...         {
    ...             "custom_id": "request-1",
    ...             "response": {
    ...                 "status": 200,
    ...                 "body": {"choices": [{"message": {"content": "Hello!"}}]},
    ...             },
    ...         },
    ...         {"custom_id": "request-2", "response": None, "error": {"code": "batch_expired"}},
    ...     ],
    ... }
    >>> read_results(doc).select("custom_id", "result_status", "response_text").rows()
    [('request-1', 'succeeded', 'Hello!'), ('request-2', 'expired', None)]
    """
    fast, rows, noun = _read_any(source)
    _report(rows, noun, strict=strict, path=_source_path(source))
    frame = fast
    if rows.rows:
        frame = (
            pl.concat([fast, _rows_frame(rows)]).sort("_line") if fast.height else _rows_frame(rows)
        )
    return keep_best(frame, "_line").drop("_line")
