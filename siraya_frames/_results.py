"""Batch results of every documented shape → one normalised results frame.

A finished batch hands back its answers as JSONL (one object per line) or as one JSON
document with a ``results`` array, and the lines come in several dialects:

* **Anthropic** ``{"custom_id", "result": {"type": "succeeded" | "errored" | "canceled" |
  "expired", "message" | "error"}}``; the error is nested twice
  (``result.error.error.type``), a singly nested one is read too.
* **OpenAI / Azure** ``{"custom_id", "response": {"status_code", "body"}, "error"}``; a
  non-2xx ``status_code`` carries its error in ``response.body.error``; ``response: null``
  with ``error.code == "batch_expired"`` is an expired request.
* **Siraya reference** the same with ``response.status`` instead of ``status_code``.
* **OpenRouter** ``{"custom_id", "response": {"body"}}`` (no status) or
  ``{"custom_id", "error": {"message", "type", "error_type"}}``.

Every one of them becomes a row of :data:`RESULT_SCHEMA`. The choices made:

* ``response_text`` is the concatenation of the ``text`` blocks (Anthropic) or the message
  content (OpenAI; a list of parts is concatenated the same way). ``thinking`` blocks and
  reasoning are left out. An answer with no text but tool calls gives the tool input as
  compact JSON (a JSON array when there are several calls); a refusal gives the refusal text.
* ``stop_reason`` is the provider's raw value (``end_turn`` / ``max_tokens`` for Anthropic,
  ``stop`` / ``length`` for OpenAI): mapping one vocabulary onto the other would lose detail.
* ``error_type`` is the most specific code given: OpenRouter's ``error_type``, then ``type``,
  then ``code``; a non-2xx answer without an error body gives ``http_<status>``.
* Several rows for one ``custom_id`` (a batch retried, a line repeated) keep one: the
  succeeded row if there is one, else the last.
* A line that cannot be read becomes an errored row (``error_type`` ``"invalid_json"`` or
  ``"unrecognized_result"``, the message quoting the start of the line) when its
  ``custom_id`` can be recovered; otherwise it is counted and reported with a
  :class:`ResultsWarning` and a log record, or raised with ``strict=True``.

Reading is vectorised. A file is memory-mapped and cut, at newlines, into pieces of up to
64 MiB that threads read in parallel (pyarrow and Polars release the GIL). In each piece the
lines that look like one object each (``{`` ... ``}``) go to pyarrow's JSON reader, with an
explicit schema for the dialect of the first lines, and Polars expressions normalise what it
read. Only what that reader cannot take (another type for a field, broken JSON, a rare shape,
a tool-only answer) is parsed line by line with :func:`json.loads`: a run that pyarrow
refuses is split in eight until the bad line is found, so one bad line costs a few dozen
lines of Python, not the file. Read and joined, a million Anthropic lines take about a
quarter of the time of a ``json.loads`` loop into pandas and a merge, a third of its CPU,
and about twice the file's size in memory (``benchmarks/bench_results.py``).

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

import functools
import json
import logging
import mmap
import re
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from siraya_frames._errors import InputError, UnexpectedResponseError

__all__ = ["RESULT_SCHEMA", "RESULT_STATUSES", "ResultsWarning", "read_results"]

logger = logging.getLogger("siraya_frames")

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "custom_id": pl.String(),
    "result_status": pl.String(),
    "response_text": pl.String(),
    "stop_reason": pl.String(),
    "model": pl.String(),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "error_type": pl.String(),
    "error_message": pl.String(),
}
"""Columns and dtypes of a normalised results frame, in order."""

RESULT_STATUSES = ("succeeded", "errored", "canceled", "expired")
"""The values of ``result_status`` that :func:`read_results` gives."""

_EXPIRED_CODES = frozenset({"batch_expired", "expired"})
_CANCELED_CODES = frozenset({"batch_cancelled", "batch_canceled", "cancelled", "canceled"})
_SNIPPET = 120
_SHOWN_LOCATIONS = 5
_LEAF_LINES = 64
_SPLIT_INTO = 8
_BLOCK_BYTES = 4 << 20  # pyarrow's reader: the least CPU here with 1-4 MiB blocks
_PIECE_BYTES = 64 << 20  # read and normalise this much at a time, to bound the memory
_MIN_PIECE_BYTES = 4 << 20  # but not less: a small input is read in one piece
_POLARS_MAX_BYTES = (1 << 32) - 1  # Polars' row indices are 32-bit
_BOM = b"\xef\xbb\xbf"
_NON_BLANK = re.compile(rb"\S")
_NON_BLANK_STR = re.compile(r"\S")
_SAMPLE_LINES = 32  # lines looked at to choose the schema pyarrow reads with
_STRING = rb'"(?:[^"\\\r\n]|\\.)*"'
_TOKEN = re.compile(_STRING + rb"|[{}\[\]]")  # a JSON string, or a bracket
_VALUE = re.compile(rb"\s*:\s*(" + _STRING + rb")")


_Data = bytes | mmap.mmap  # a buffer read, or a file mapped


class ResultsWarning(UserWarning):
    """Some results were left out: unreadable lines without a ``custom_id`` (when reading),
    or results whose ``custom_id`` is not in the requests frame (when joining)."""


# ---------------------------------------------------------------------------------------------
# One object, in Python: the reference semantics. The vectorised path must agree with it.


@dataclass
class _Rows:
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


def _text(value: object) -> str | None:
    """A string field as a string: other JSON values as compact JSON, null as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return _clean(value)
    return _clean(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _clean(text: str) -> str:
    """Replace lone surrogates (valid in JSON escapes, not in UTF-8) so Polars takes it."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _int(value: object) -> int | None:
    """A token count: an int64, or None for anything else."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def _valid_id(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return _clean(value) is value


def _row(
    custom_id: str,
    status: str,
    *,
    text: str | None = None,
    stop: str | None = None,
    model: str | None = None,
    tokens: tuple[int | None, int | None] = (None, None),
    error: tuple[str | None, str | None] = (None, None),
) -> tuple[Any, ...]:
    return (custom_id, status, text, stop, model, *tokens, *error)


def _snippet(raw: bytes | str | object) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    elif not isinstance(raw, str):
        raw = _text(raw) or ""
    raw = _clean(raw.strip())
    return raw if len(raw) <= _SNIPPET else raw[:_SNIPPET] + "…"


def _unrecognized(custom_id: str, where: str, raw: object) -> tuple[tuple[Any, ...], str]:
    message = f"{where}: no documented result shape: {_snippet(raw)}"
    return _row(custom_id, "errored", error=("unrecognized_result", message)), message


def _blocks_text(content: object) -> str | None:
    """Anthropic content: the text blocks joined, else the tool input as JSON."""
    if isinstance(content, str):
        return _clean(content)
    if not isinstance(content, list):
        return None
    blocks = [block for block in content if isinstance(block, dict)]
    texts = [
        b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    if texts:
        return _clean("".join(texts))
    tools = [b.get("input") for b in blocks if b.get("type") == "tool_use"]
    return _tools_json(tools)


def _tools_json(inputs: list[object]) -> str | None:
    if not inputs:
        return None
    return _text(inputs[0] if len(inputs) == 1 else inputs)


def _usage(usage: object, first: str, second: str) -> tuple[int | None, int | None]:
    """Token counts from a usage object, ``first``/``second`` names tried before the others."""
    if not isinstance(usage, dict):
        return None, None
    inputs = usage.get(first) if usage.get(first) is not None else usage.get("input_tokens")
    outputs = usage.get(second) if usage.get(second) is not None else usage.get("output_tokens")
    return _int(inputs), _int(outputs)


def _anthropic_message(custom_id: str, message: dict[str, Any]) -> tuple[Any, ...]:
    return _row(
        custom_id,
        "succeeded",
        text=_blocks_text(message.get("content")),
        stop=_text(message.get("stop_reason")),
        model=_text(message.get("model")),
        tokens=_usage(message.get("usage"), "input_tokens", "output_tokens"),
    )


def _anthropic_error(error: object) -> tuple[str | None, str | None]:
    """``result.error``: ``{"type": "error", "error": {type, message}}`` or one level less."""
    if isinstance(error, str):
        return None, _clean(error)
    if not isinstance(error, dict):
        return None, None
    inner = error.get("error")
    source = inner if isinstance(inner, dict) else error
    return _text(source.get("type")), _text(source.get("message"))


def _anthropic(custom_id: str, result: dict[str, Any], where: str, raw: object) -> tuple:
    """Returns ``(row, problem)``; ``problem`` is None for a documented shape."""
    kind = result.get("type")
    message = result.get("message")
    if kind == "succeeded" and isinstance(message, dict):
        return _anthropic_message(custom_id, message), None
    if kind == "errored":
        return _row(custom_id, "errored", error=_anthropic_error(result.get("error"))), None
    if kind in ("canceled", "cancelled"):
        return _row(custom_id, "canceled"), None
    if kind == "expired":
        return _row(custom_id, "expired"), None
    return _unrecognized(custom_id, where, raw)


def _parts_text(content: object) -> str | None:
    """OpenAI message content: a string, or a list of parts whose text is joined."""
    if isinstance(content, str):
        return _clean(content)
    if not isinstance(content, list):
        return None
    texts = [
        part if isinstance(part, str) else part.get("text")
        for part in content
        if isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("text"), str))
    ]
    return _clean("".join(texts)) if texts else None


def _tool_calls_text(message: dict[str, Any]) -> str | None:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return None
    inputs: list[object] = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        try:
            inputs.append(json.loads(arguments) if isinstance(arguments, str) else arguments)
        except ValueError:
            inputs.append(arguments)
    return _tools_json(inputs)


def _chat_text(message: dict[str, Any]) -> str | None:
    text = _parts_text(message.get("content"))
    if text is None:
        text = _tool_calls_text(message)
    if text is None and isinstance(message.get("refusal"), str):
        text = _clean(message["refusal"])
    return text


def _chat_completion(custom_id: str, body: dict[str, Any]) -> tuple[Any, ...] | None:
    """A chat.completion body (or an Anthropic message body); None if it is neither."""
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message")
        return _row(
            custom_id,
            "succeeded",
            text=_chat_text(message) if isinstance(message, dict) else None,
            stop=_text(choice.get("finish_reason")),
            model=_text(body.get("model")),
            tokens=_usage(body.get("usage"), "prompt_tokens", "completion_tokens"),
        )
    if isinstance(body.get("content"), list) and "error" not in body:
        return _anthropic_message(custom_id, body)
    return None


def _error_row(custom_id: str, error: dict[str, Any]) -> tuple[Any, ...]:
    """An OpenAI / OpenRouter / Siraya error object (``code``, ``type``, ``error_type``)."""
    code = _text(error.get("code"))
    kind = next(
        (_text(error[key]) for key in ("error_type", "type", "code") if error.get(key) is not None),
        None,
    )
    message = _text(error.get("message"))
    if code in _EXPIRED_CODES:
        return _row(custom_id, "expired", error=(code, message))
    if code in _CANCELED_CODES:
        return _row(custom_id, "canceled", error=(code, message))
    return _row(custom_id, "errored", error=(kind, message))


def _status(response: dict[str, Any]) -> int | None:
    """The HTTP status of a response: None when absent, -1 when not a number."""
    value = response.get("status_code")
    if value is None:
        value = response.get("status")
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    number = _int(value)
    return -1 if number is None else number


def _body(response: dict[str, Any]) -> object:
    body = response.get("body")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _openai(custom_id: str, obj: dict[str, Any], where: str, raw: object) -> tuple:
    """The OpenAI / Azure / Siraya / OpenRouter line; returns ``(row, problem)``."""
    response, error = obj.get("response"), obj.get("error")
    if isinstance(response, dict):
        status, body = _status(response), _body(response)
        ok = status is None or 200 <= status < 300
        if ok and isinstance(body, dict) and (row := _chat_completion(custom_id, body)):
            return row, None
        if isinstance(error, dict):
            return _error_row(custom_id, error), None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return _error_row(custom_id, body["error"]), None
        if status is not None and status >= 0 and not ok:
            message = _snippet(body) if body is not None else None
            return _row(custom_id, "errored", error=(f"http_{status}", message)), None
        return _unrecognized(custom_id, where, raw)
    if isinstance(error, dict):
        return _error_row(custom_id, error), None
    return _unrecognized(custom_id, where, raw)


def _normalise_object(obj: object, where: str, raw: object) -> tuple:
    """One parsed line → ``(row or None, problem or None)``."""
    if not isinstance(obj, dict) or not _valid_id(obj.get("custom_id")):
        return None, f"{where}: no custom_id: {_snippet(raw)}"
    custom_id = obj["custom_id"]
    result = obj.get("result")
    if isinstance(result, dict):
        return _anthropic(custom_id, result, where, raw)
    return _openai(custom_id, obj, where, raw)


def _recover_id(raw: bytes) -> str | None:
    """The ``custom_id`` of a line that is not valid JSON, if it can be read off it.

    Only a ``"custom_id": "..."`` member of the outermost object counts, not one nested deeper.
    """
    depth = 0
    for token in _TOKEN.finditer(raw):
        text = token.group()
        if text in (b"{", b"["):
            depth += 1
        elif text in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and text == b'"custom_id"' and (value := _VALUE.match(raw, token.end())):
            try:
                custom_id = json.loads(value.group(1))
            except ValueError:
                return None
            return custom_id if _valid_id(custom_id) else None
    return None


def _normalise_line(raw: bytes, where: str) -> tuple:
    """One raw line → ``(row or None, problem or None)``."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        problem = f"{where}: invalid JSON ({_reason(exc)}): {_snippet(raw)}"
        custom_id = _recover_id(raw)
        if custom_id is None:
            return None, problem
        return _row(custom_id, "errored", error=("invalid_json", problem)), problem
    return _normalise_object(obj, where, raw)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "msg", None) or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Many lines, vectorised: pyarrow parses, Polars normalises, Python takes what is left.


def _struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct(list(fields.items()))


_STR, _INT = pa.string(), pa.int64()
_ERROR = _struct(type=_STR, message=_STR)
_ANTHROPIC_RESULT = _struct(
    type=_STR,
    message=_struct(
        model=_STR,
        stop_reason=_STR,
        content=pa.list_(_struct(type=_STR, text=_STR)),
        usage=_struct(input_tokens=_INT, output_tokens=_INT),
    ),
    error=_struct(type=_STR, message=_STR, error=_ERROR),
)
_CHAT_COMPLETION = _struct(
    model=_STR,
    choices=pa.list_(_struct(finish_reason=_STR, message=_struct(content=_STR))),
    usage=_struct(
        prompt_tokens=_INT, completion_tokens=_INT, input_tokens=_INT, output_tokens=_INT
    ),
)
_CHAT_FIELDS = {
    "response": _struct(status_code=_INT, status=_INT, body=_CHAT_COMPLETION),
    # Only whether an error is there: its fields (a code may be a number) are read in Python.
    "error": _struct(message=_STR),
}
_SCHEMAS = {
    "anthropic": pa.schema({"custom_id": _STR, "result": _ANTHROPIC_RESULT}),
    "chat": pa.schema({"custom_id": _STR, **_CHAT_FIELDS}),
    "mixed": pa.schema({"custom_id": _STR, "result": _ANTHROPIC_RESULT, **_CHAT_FIELDS}),
}
"""What pyarrow reads, by dialect: a line with another type for one of these fields, or of
another dialect than the schema's, is read in Python. One dialect's schema alone reads a
fifth faster than both."""


def _parse_options(dialect: str) -> pa_json.ParseOptions:
    return pa_json.ParseOptions(
        explicit_schema=_SCHEMAS[dialect], unexpected_field_behavior="ignore"
    )


def _dialect(data: _Data) -> str:
    """``anthropic``, ``chat`` or ``mixed``, from the first lines."""
    kinds, start, seen = set(), 0, 0
    while seen < _SAMPLE_LINES and start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line, start = data[start:end], end + 1
        if not line.strip():
            continue
        seen += 1
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            kinds.add("anthropic" if isinstance(obj.get("result"), dict) else "chat")
    return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass
class _Lines:
    """A piece of a JSONL buffer cut into lines, without copying it."""

    data: memoryview
    starts: pl.Series
    ends: pl.Series
    shaped: pl.Series  # per line: the first byte is ``{`` and the last ``}``
    widest: int

    @classmethod
    def of(cls, data: memoryview) -> _Lines:
        u8 = pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)])
        cut = _cut_polars if len(data) < _POLARS_MAX_BYTES else _cut_arrow
        starts, ends, first, last, before = cut(u8)
        closing = (last == ord("}")) | ((last == ord("\r")) & (before == ord("}")))
        shaped = ((ends - starts) >= 2) & (first == ord("{")) & closing
        widest = (ends - starts).max()
        return cls(data, starts, ends, shaped, int(widest) if widest is not None else 0)

    def __len__(self) -> int:
        return len(self.starts)

    def raw(self, index: int) -> bytes:
        return bytes(self.data[self.starts[index] : self.ends[index]])

    def span(self, first: int, stop: int) -> memoryview:
        return self.data[self.starts[first] : self.ends[stop - 1]]


def _bounds(newlines: pl.Series, size: int) -> tuple[pl.Series, pl.Series]:
    starts = pl.concat([pl.Series([0], dtype=pl.Int64), newlines + 1])
    ends = pl.concat([newlines, pl.Series([size], dtype=pl.Int64)])
    return starts, ends


def _cut_polars(u8: pa.Array) -> tuple[pl.Series, ...]:
    """Line bounds and the bytes at each end of each line, with Polars (under 4 GiB)."""
    data = pl.Series(u8)
    starts, ends = _bounds((data == ord("\n")).arg_true().cast(pl.Int64), len(data))
    top = max(len(data) - 1, 0)
    if not len(data):
        return starts, ends, *[pl.Series([0], dtype=pl.UInt8)] * 3
    return (
        starts,
        ends,
        *(data.gather(index.clip(0, top)) for index in (starts, ends - 1, ends - 2)),
    )


def _cut_arrow(u8: pa.Array) -> tuple[pl.Series, ...]:
    """The same with pyarrow, whose indices are 64-bit (slower)."""
    newline = pa.scalar(ord("\n"), pa.uint8())
    newlines = pl.Series(pc.indices_nonzero(pc.equal(u8, newline)).cast(pa.int64()))
    starts, ends = _bounds(newlines, len(u8))
    top = len(u8) - 1
    return (
        starts,
        ends,
        *(
            pl.Series(pc.take(u8, index.clip(0, top).to_arrow()))
            for index in (starts, ends - 1, ends - 2)
        ),
    )


@dataclass
class _Parsed:
    """What reading a JSONL buffer gave: normalised fast rows, and the lines left to Python."""

    options: pa_json.ParseOptions
    threads: bool  # let pyarrow use its threads (when the pieces are not read in parallel)
    frames: list[pl.DataFrame] = field(default_factory=list)
    slow: list[int] = field(default_factory=list)  # line indices to read in Python

    def add_table(self, table: pa.Table, line_ids: pl.Series) -> None:
        """Normalise a pyarrow table at once, so that only its result columns stay."""
        frame = _fast_frame(table, line_ids)
        self.frames.append(frame.filter(pl.col("_ok")).drop("_ok"))
        self.slow.extend(frame.filter(~pl.col("_ok"))["_line"].to_list())


def _plan(lines: _Lines) -> tuple[pl.Series, list[tuple[int, int]], list[int]]:
    """The object lines (sorted), the runs between the other lines, and those other lines.

    Only the lines not plainly ``{...}`` (a blank last line, as a rule) are looked at in Python.
    """
    extra: list[int] = []
    others: list[int] = []
    for index in (~lines.shaped).arg_true().to_list():
        stripped = lines.raw(index).strip()
        if stripped.startswith(b"{") and stripped.endswith(b"}"):
            extra.append(index)
        elif stripped:
            others.append(index)
    objects = lines.shaped.arg_true().cast(pl.Int64)
    if extra:
        objects = pl.concat([objects, pl.Series(extra, dtype=pl.Int64)]).sort()
    runs, first = [], 0
    for index in [*others, len(lines)]:
        if index > first:
            runs.append((first, index))
        first = index + 1
    return objects, runs, others


@functools.cache
def _memory_pool() -> pa.MemoryPool:
    """jemalloc where pyarrow has it: here it spends a fifth of mimalloc's system time."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


def _read_block(
    lines: _Lines, first: int, stop: int, expected: int, parsed: _Parsed
) -> pa.Table | None:
    """pyarrow's reading of lines ``[first, stop)``, or None if it fails or miscounts."""
    block_size = min(max(_BLOCK_BYTES, 2 * lines.widest + 2), (1 << 31) - 1)
    try:
        table = pa_json.read_json(
            pa.BufferReader(pa.py_buffer(lines.span(first, stop))),
            read_options=pa_json.ReadOptions(block_size=block_size, use_threads=parsed.threads),
            parse_options=parsed.options,
            memory_pool=_memory_pool(),
        )
    except (pa.ArrowException, ValueError):
        return None
    return table if table.num_rows == expected else None


def _read_run(lines: _Lines, objects: pl.Series, run: tuple[int, int], parsed: _Parsed) -> None:
    """Read a run with pyarrow; on failure split it, down to small runs read in Python."""
    pending = [run]
    while pending:
        first, stop = pending.pop()
        low, high = objects.search_sorted(first), objects.search_sorted(stop)
        if high == low:
            continue
        small = high - low <= _LEAF_LINES
        table = None if small else _read_block(lines, first, stop, high - low, parsed)
        if table is not None:
            parsed.add_table(table, objects[low:high])
        elif small or high - low == 1:
            parsed.slow.extend(objects[low:high].to_list())
        else:
            step = -(-(stop - first) // _SPLIT_INTO)
            pending.extend((a, min(a + step, stop)) for a in reversed(range(first, stop, step)))


def _fast_frame(table: pa.Table, line_ids: pl.Series) -> pl.DataFrame:
    """Normalise the pyarrow rows with Polars; ``_ok`` is False where Python must decide.

    Anthropic rows (a ``result`` object) and the others are normalised apart, each with the
    expressions of its dialect only.
    """
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(line_ids.alias("_line"))
    if "result" not in frame.columns:
        return _fast_openai(frame)
    if "response" not in frame.columns:
        return _fast_anthropic(frame)  # a row of another dialect goes to Python
    anthropic = frame["result"].is_not_null()
    count = anthropic.sum()
    if count == frame.height:
        return _fast_anthropic(frame)
    if count == 0:
        return _fast_openai(frame)
    parts = [_fast_anthropic(frame.filter(anthropic)), _fast_openai(frame.filter(~anthropic))]
    return pl.concat(parts).sort("_line")


def _valid_id_expr() -> pl.Expr:
    custom_id = pl.col("custom_id")
    return custom_id.is_not_null() & (custom_id != "")


def _anthropic_text(frame: pl.DataFrame, content: pl.Expr) -> pl.Expr:
    """The joined text blocks (null when there are none); one-block answers take a shortcut."""
    first = content.list.first().struct.field("type")
    simple = frame.select(((content.list.len() == 1) & (first == "text")) | content.is_null())
    if simple.to_series().all():
        return content.list.first().struct.field("text")
    block = pl.element()
    texts = content.list.eval(
        block.filter(
            (block.struct.field("type") == "text") & block.struct.field("text").is_not_null()
        ).struct.field("text")
    )
    return pl.when(texts.list.len() > 0).then(texts.list.join(""))


def _fast_anthropic(frame: pl.DataFrame) -> pl.DataFrame:
    """``{"custom_id", "result": {...}}`` rows, as :func:`_anthropic` reads them."""
    result = pl.col("result")
    kind, message = result.struct.field("type"), result.struct.field("message")
    error = result.struct.field("error")
    error = pl.when(error.struct.field("error").is_not_null()).then(error.struct.field("error"))
    error = error.otherwise(result.struct.field("error"))
    usage = message.struct.field("usage")
    succeeded = kind == "succeeded"
    text = _anthropic_text(frame, message.struct.field("content"))
    status = (
        pl.when(kind.is_in(["canceled", "cancelled"]))
        .then(pl.lit("canceled"))
        .when(kind.is_in(["succeeded", "errored", "expired"]))
        .then(kind)
    )
    ok = status.is_not_null() & (~succeeded | (message.is_not_null() & text.is_not_null()))
    return frame.select(
        pl.col("custom_id"),
        status.alias("result_status"),
        pl.when(succeeded).then(text).alias("response_text"),
        pl.when(succeeded).then(message.struct.field("stop_reason")).alias("stop_reason"),
        pl.when(succeeded).then(message.struct.field("model")).alias("model"),
        pl.when(succeeded).then(usage.struct.field("input_tokens")).alias("input_tokens"),
        pl.when(succeeded).then(usage.struct.field("output_tokens")).alias("output_tokens"),
        pl.when(kind == "errored").then(error.struct.field("type")).alias("error_type"),
        pl.when(kind == "errored").then(error.struct.field("message")).alias("error_message"),
        pl.col("_line"),
        (_valid_id_expr() & ok).fill_null(False).alias("_ok"),
    )


def _fast_openai(frame: pl.DataFrame) -> pl.DataFrame:
    """Successful chat completions (OpenAI, Azure, Siraya, OpenRouter); the rest to Python."""
    response = pl.col("response")
    body = response.struct.field("body")
    choice = body.struct.field("choices").list.first()
    content = choice.struct.field("message").struct.field("content")
    usage = body.struct.field("usage")
    http = pl.coalesce(response.struct.field("status_code"), response.struct.field("status"))
    ok = (
        response.is_not_null()
        & pl.col("error").is_null()
        & (http.is_null() | ((http >= 200) & (http < 300)))
        & content.is_not_null()
    )
    return frame.select(
        pl.col("custom_id"),
        pl.lit("succeeded").alias("result_status"),
        content.alias("response_text"),
        choice.struct.field("finish_reason").alias("stop_reason"),
        body.struct.field("model").alias("model"),
        pl.coalesce(usage.struct.field("prompt_tokens"), usage.struct.field("input_tokens")).alias(
            "input_tokens"
        ),
        pl.coalesce(
            usage.struct.field("completion_tokens"), usage.struct.field("output_tokens")
        ).alias("output_tokens"),
        pl.lit(None, pl.String).alias("error_type"),
        pl.lit(None, pl.String).alias("error_message"),
        pl.col("_line"),
        (_valid_id_expr() & ok).fill_null(False).alias("_ok"),
    )


def _slow_rows(lines: _Lines, indices: list[int], rows: _Rows, offset: int) -> None:
    for index in sorted(indices):
        row, problem = _normalise_line(lines.raw(index), f"line {offset + index + 1}")
        rows.add(row, offset + index, problem)


def _piece_bounds(data: _Data, size: int) -> list[tuple[int, int]]:
    """``data`` cut after a newline every ``size`` bytes or so."""
    bounds, start = [], 0
    while start < len(data):
        newline = data.find(b"\n", start + size)
        stop = len(data) if newline < 0 else newline + 1
        bounds.append((start, stop))
        start = stop
    return bounds


@dataclass
class _Piece:
    lines: _Lines
    frame: pl.DataFrame  # the rows read fast, ``_line`` counted in the piece
    slow: list[int]  # the lines (in the piece) to read in Python


def _read_piece(view: memoryview, options: pa_json.ParseOptions, threads: bool) -> _Piece:
    """Cut a piece into lines, read it fast where possible, and say what is left to Python."""
    lines = _Lines.of(view)
    objects, runs, others = _plan(lines)
    parsed = _Parsed(options, threads)
    for run in runs:
        _read_run(lines, objects, run, parsed)
    frame = pl.concat(parsed.frames) if parsed.frames else _empty_frame(with_line=True)
    return _Piece(lines, frame, [*parsed.slow, *others])


def _read_pieces(data: _Data) -> list[_Piece]:
    """The pieces of ``data``, read in parallel threads (pyarrow and Polars free the GIL)."""
    options = _parse_options(_dialect(data))
    workers = max(1, pa.cpu_count())
    size = min(_PIECE_BYTES, max(_MIN_PIECE_BYTES, len(data) // (2 * workers)))
    views = [memoryview(data)[start:stop] for start, stop in _piece_bounds(data, size)]
    if len(views) == 1 or workers == 1:
        return [_read_piece(view, options, threads=True) for view in views]
    with ThreadPoolExecutor(min(workers, len(views))) as pool:
        return list(pool.map(lambda view: _read_piece(view, options, threads=False), views))


def _read_jsonl(data: _Data) -> tuple[pl.DataFrame, _Rows]:
    """Every line of a JSONL buffer; returns the fast frame and the Python-read rows."""
    frames, rows, offset = [], _Rows(), 0
    for piece in _read_pieces(data):
        frames.append(piece.frame.with_columns(pl.col("_line") + offset))
        _slow_rows(piece.lines, piece.slow, rows, offset)
        offset += len(piece.lines) - 1  # a piece ends with a newline, but the last
    fast = pl.concat(frames, rechunk=False) if frames else _empty_frame(with_line=True)
    return fast, rows


# ---------------------------------------------------------------------------------------------
# Sources, documents, and the frame.


def _empty_frame(*, with_line: bool = False) -> pl.DataFrame:
    schema = dict(RESULT_SCHEMA)
    if with_line:
        schema["_line"] = pl.Int64()
    return pl.DataFrame(schema=schema)


def _rows_frame(rows: _Rows) -> pl.DataFrame:
    frame = pl.DataFrame(rows.rows, schema=RESULT_SCHEMA, orient="row")
    return frame.with_columns(pl.Series("_line", rows.lines, dtype=pl.Int64))


def _read_items(items: Sequence[object], noun: str) -> tuple[pl.DataFrame, _Rows]:
    """Already-parsed results (dicts), or raw lines (str / bytes) in a list."""
    rows = _Rows()
    for index, item in enumerate(items):
        where = f"{noun} {index + 1}"
        if isinstance(item, str):
            item = item.encode("utf-8", "surrogatepass")
        if isinstance(item, bytes | bytearray | memoryview):
            row, problem = _normalise_line(bytes(item), where)
        else:
            row, problem = _normalise_object(item, where, item)
        rows.add(row, index, problem)
    return _empty_frame(with_line=True), rows


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
            f"the document has no 'results' list (results={_snippet(results)!s}, status="
            f"{doc.get('status')!r}); results come once the batch has ended",
            batch_id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        )
    return None


def _read_bytes(data: _Data) -> tuple[pl.DataFrame, _Rows, str]:
    """JSONL, or one JSON document (an inline ``results`` array, or a list of lines)."""
    if data[:3] == _BOM:
        data = data[3:]
    start = _NON_BLANK.search(data)
    if start is None:
        return _empty_frame(with_line=True), _Rows(), "line"
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
    return (*_read_jsonl(data), "line")


def _first_line_is_a_result(data: _Data, start: int) -> bool:
    end = data.find(b"\n", start)
    try:
        first = json.loads(data[start : None if end < 0 else end])
    except (ValueError, RecursionError):
        return False
    return isinstance(first, dict) and "results" not in first


def _map(path: Path) -> _Data:
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


def _source_data(source: str | bytes | bytearray | memoryview | PathLike[str]) -> _Data:
    if isinstance(source, bytes):
        return source
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    path = _source_path(source)
    if path is not None:
        return _map(path)
    return source.encode("utf-8", "surrogatepass")


def _read_any(source: object) -> tuple[pl.DataFrame, _Rows, str]:
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


def _report(rows: _Rows, noun: str, *, strict: bool, path: Path | None) -> None:
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
    logger.warning("%s", message)
    warnings.warn(message, ResultsWarning, stacklevel=3)


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
