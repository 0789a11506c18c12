"""Reading a JSONL buffer of result lines: pyarrow where it can, Python where it must.

A buffer (a memory-mapped file, as a rule) is cut at newlines into pieces of up to 64 MiB
that threads read in parallel (pyarrow and Polars release the GIL). In each piece the lines
that look like one object each (``{`` ... ``}``) go to pyarrow's JSON reader, with an
explicit schema for the dialect of the first lines, and each line shape's Polars expressions
(:mod:`~siraya_frames._lines_anthropic`, :mod:`~siraya_frames._lines_openai`) normalise what
it read. Only what that reader cannot take (another type for a field, broken JSON, a rare
shape, a tool call) is parsed line by line with :func:`json.loads`: a run that pyarrow
refuses is split in eight until the bad line is found, so one bad line costs a few dozen
lines of Python, not the file.

Examples
--------
>>> frame, rows = read_jsonl(b'{"custom_id": "a", "result": {"type": "expired"}}')
>>> frame.height + len(rows.rows), normalise_line(b'{"custom_id": "a"', "line 1")[0][:2]
(1, ('a', 'errored'))
"""

from __future__ import annotations

import functools
import json
import mmap
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from siraya_frames._lines_anthropic import ANTHROPIC_RESULT, anthropic_row, fast_anthropic
from siraya_frames._lines_common import STR, Rows, empty_frame, row, snippet, valid_id
from siraya_frames._lines_openai import CHAT_FIELDS, fast_openai, openai_row

__all__ = ["Data", "normalise_line", "normalise_object", "read_jsonl"]

_LEAF_LINES = 64
_SPLIT_INTO = 8
_BLOCK_BYTES = 4 << 20  # pyarrow's reader: the least CPU here with 1-4 MiB blocks
_PIECE_BYTES = 64 << 20  # read and normalise this much at a time, to bound the memory
_MIN_PIECE_BYTES = 4 << 20  # but not less: a small input is read in one piece
_POLARS_MAX_BYTES = (1 << 32) - 1  # Polars' row indices are 32-bit
_SAMPLE_LINES = 32  # lines looked at to choose the schema pyarrow reads with
_STRING = rb'"(?:[^"\\\r\n]|\\.)*"'
_TOKEN = re.compile(_STRING + rb"|[{}\[\]]")  # a JSON string, or a bracket
_VALUE = re.compile(rb"\s*:\s*(" + _STRING + rb")")

Data = bytes | mmap.mmap  # a buffer read, or a file mapped


# --------------------------------------------------------------------------- one line, in Python


def normalise_object(obj: object, where: str, raw: object) -> tuple:
    """One parsed line → ``(row or None, problem or None)``."""
    if not isinstance(obj, dict) or not valid_id(obj.get("custom_id")):
        return None, f"{where}: no custom_id: {snippet(raw)}"
    custom_id = obj["custom_id"]
    result = obj.get("result")
    if isinstance(result, dict):
        return anthropic_row(custom_id, result, where, raw)
    return openai_row(custom_id, obj, where, raw)


def _recover_id(raw: bytes) -> str | None:
    """The ``custom_id`` of a line that is not valid JSON, if it can be read off it.

    Only a ``"custom_id": "..."`` member of the outermost object counts, not one nested deeper.
    """
    depth = 0
    for token in _TOKEN.finditer(raw):
        word = token.group()
        if word in (b"{", b"["):
            depth += 1
        elif word in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and word == b'"custom_id"' and (value := _VALUE.match(raw, token.end())):
            try:
                custom_id = json.loads(value.group(1))
            except ValueError:
                return None
            return custom_id if valid_id(custom_id) else None
    return None


def normalise_line(raw: bytes, where: str) -> tuple:
    """One raw line → ``(row or None, problem or None)``."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        problem = f"{where}: invalid JSON ({_reason(exc)}): {snippet(raw)}"
        custom_id = _recover_id(raw)
        if custom_id is None:
            return None, problem
        return row(custom_id, "errored", error=("invalid_json", problem)), problem
    return normalise_object(obj, where, raw)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "msg", None) or type(exc).__name__


# --------------------------------------------------------------------------- many lines, fast

_SCHEMAS = {
    "anthropic": pa.schema({"custom_id": STR, "result": ANTHROPIC_RESULT}),
    "chat": pa.schema({"custom_id": STR, **CHAT_FIELDS}),
    "mixed": pa.schema({"custom_id": STR, "result": ANTHROPIC_RESULT, **CHAT_FIELDS}),
}
"""What pyarrow reads, by dialect: a line with another type for one of these fields, or of
another dialect than the schema's, is read in Python. One dialect's schema alone reads a
fifth faster than both."""


def _parse_options(dialect: str) -> pa_json.ParseOptions:
    return pa_json.ParseOptions(
        explicit_schema=_SCHEMAS[dialect], unexpected_field_behavior="ignore"
    )


def _dialect(data: Data) -> str:
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
        return cls(data, starts, ends, shaped, widest if isinstance(widest, int) else 0)

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
        return fast_openai(frame)
    if "response" not in frame.columns:
        return fast_anthropic(frame)  # a row of another dialect goes to Python
    anthropic = frame["result"].is_not_null()
    count = anthropic.sum()
    if count == frame.height:
        return fast_anthropic(frame)
    if count == 0:
        return fast_openai(frame)
    parts = [fast_anthropic(frame.filter(anthropic)), fast_openai(frame.filter(~anthropic))]
    return pl.concat(parts).sort("_line")


def _slow_rows(lines: _Lines, indices: list[int], rows: Rows, offset: int) -> None:
    for index in sorted(indices):
        found, problem = normalise_line(lines.raw(index), f"line {offset + index + 1}")
        rows.add(found, offset + index, problem)


def _piece_bounds(data: Data, size: int) -> list[tuple[int, int]]:
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
    frame = pl.concat(parsed.frames) if parsed.frames else empty_frame(with_line=True)
    return _Piece(lines, frame, [*parsed.slow, *others])


def _read_pieces(data: Data) -> list[_Piece]:
    """The pieces of ``data``, read in parallel threads (pyarrow and Polars free the GIL)."""
    options = _parse_options(_dialect(data))
    workers = max(1, pa.cpu_count())
    size = min(_PIECE_BYTES, max(_MIN_PIECE_BYTES, len(data) // (2 * workers)))
    views = [memoryview(data)[start:stop] for start, stop in _piece_bounds(data, size)]
    if len(views) == 1 or workers == 1:
        return [_read_piece(view, options, threads=True) for view in views]
    with ThreadPoolExecutor(min(workers, len(views))) as pool:
        return list(pool.map(lambda view: _read_piece(view, options, threads=False), views))


def read_jsonl(data: Data) -> tuple[pl.DataFrame, Rows]:
    """Every line of a JSONL buffer; returns the fast frame and the Python-read rows."""
    frames, rows, offset = [], Rows(), 0
    for piece in _read_pieces(data):
        frames.append(piece.frame.with_columns(pl.col("_line") + offset))
        _slow_rows(piece.lines, piece.slow, rows, offset)
        offset += len(piece.lines) - 1  # a piece ends with a newline, but the last
    fast = pl.concat(frames, rechunk=False) if frames else empty_frame(with_line=True)
    return fast, rows
