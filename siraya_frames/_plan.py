"""Unique requests become ``POST /v1/batches`` bodies under both limits; or a JSONL file.

A body is ``{"requests":[<line>,<line>,...]}`` where each line is
``{"custom_id":"<id>","params":<params_json>}``. Lines are made and joined by Polars (no
``json.dumps`` per row) and split greedily, in order of first appearance, so that no body has
more than ``max_requests`` lines or more than ``max_bytes`` bytes (counted on the body itself).

Examples
--------
>>> import json
>>> import polars as pl
>>> from siraya_frames._build import build_requests
>>> df = pl.DataFrame({"q": ["a", "b", "a", "c"]})
>>> reqs = build_requests(df, prompt="{q}", model="openai/gpt-4o-mini", max_tokens=4)
>>> [p.n_requests for p in plan_batches(reqs, max_requests=2)]
[2, 1]
"""

from __future__ import annotations

import bisect
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from siraya_frames._build import encode_params, is_plain, select_in_parallel
from siraya_frames._config import DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS
from siraya_frames._errors import BatchLimitError, ParameterError
from siraya_frames._unique import (  # noqa: F401 (re-exported: the plan's input)
    _unique_rows,
    collect_requests,
    collect_streaming,
    unique_requests,
)
from siraya_frames._validate import is_int

BODY_HEAD = b'{"requests":['
BODY_TAIL = b"]}"
BODY_OVERHEAD = len(BODY_HEAD) + len(BODY_TAIL)
_CHUNK = 20_000
"""Unique requests turned into lines at a time (cache- and memory-friendly)."""


def request_lines(unique: pl.DataFrame) -> pl.Series:
    """``{"custom_id":"<id>","params":<params_json>}`` per unique request (ids need no escape).

    Examples
    --------
    >>> request_lines(pl.DataFrame({"custom_id": ["a"], "params_json": ['{"n":1}']})).item()
    '{"custom_id":"a","params":{"n":1}}'
    """
    if "params_json" not in unique.columns and is_plain(unique["params"]):
        line = pl.struct("custom_id", "params").struct.json_encode()  # one pass, same bytes
        return select_in_parallel(unique, line.alias("line")).to_series()
    if "params_json" not in unique.columns:
        unique = unique.with_columns(encode_params(unique["params"]).alias("params_json"))
    head, middle = pl.lit('{"custom_id":"'), pl.lit('","params":')
    line = pl.concat_str(head, "custom_id", middle, "params_json", pl.lit("}"))
    return unique.select(line.alias("line")).to_series()


@dataclass(frozen=True)
class RequestEncoding:
    """How a protocol makes request lines and frames them into one batch payload.

    ``lines`` turns unique requests (``custom_id``, ``params_json`` or ``params``) into one
    line each; a payload is ``head + sep.join(lines) + tail``.

    Examples
    --------
    >>> JSON_REQUESTS.frame(pl.Series(["{}", "[]"]))
    b'{"requests":[{},[]]}'
    """

    lines: Callable[[pl.DataFrame], pl.Series]
    head: bytes = BODY_HEAD
    sep: str = ","
    tail: bytes = BODY_TAIL
    sizes: Callable[[pl.DataFrame], pl.Series] | None = None
    """Each line's bytes plus a separator, without making the lines (when it can)."""

    def line_sizes(self, unique: pl.DataFrame) -> pl.Series:
        """Bytes each unique request adds to a payload (its line and a separator).

        Counted from ``params_json`` when the encoding knows its lines' framing; otherwise
        the lines are made a chunk at a time and only their lengths kept.
        """
        if self.sizes is not None:
            return self.sizes(unique)
        parts = [
            self.lines(unique.slice(i, _CHUNK)).str.len_bytes().cast(pl.Int64) + 1
            for i in range(0, unique.height, _CHUNK)
        ]
        return pl.concat(parts) if parts else pl.Series("line", [], dtype=pl.Int64)

    @property
    def overhead(self) -> int:
        """Bytes of a payload besides its lines and the separators between them."""
        return len(self.head) + len(self.tail)

    def frame(self, lines: pl.Series) -> bytes:
        """The payload of ``lines``, joined by Polars and copied once into bytes."""
        return _body(lines, self)


_LINE_FRAMING = len('{"custom_id":"","params":}') + 1  # and a comma


def json_line_sizes(unique: pl.DataFrame) -> pl.Series:
    """Bytes of each :func:`request_lines` line and its comma, from ``params_json`` lengths
    (encoded here only when the frame holds ``params``), without making the lines.

    Examples
    --------
    >>> json_line_sizes(pl.DataFrame({"custom_id": ["a"], "params_json": ["{}"]})).to_list()
    [30]
    """
    if "params_json" in unique.columns:
        json = unique["params_json"].str.len_bytes()
    else:  # encoded a chunk at a time, only the lengths kept
        step = _CHUNK * max(1, pl.thread_pool_size())
        parts = range(0, unique.height, step)
        lengths = [encode_params(unique["params"].slice(i, step)).str.len_bytes() for i in parts]
        json = pl.concat(lengths) if lengths else pl.Series(dtype=pl.UInt32)
    ids = unique["custom_id"].str.len_bytes()
    return (json.cast(pl.Int64) + ids.cast(pl.Int64) + _LINE_FRAMING).rename("line")


JSON_REQUESTS = RequestEncoding(request_lines, sizes=json_line_sizes)
"""The ``{"requests":[{"custom_id","params"},...]}`` body of Siraya and Anthropic."""


@dataclass(frozen=True, eq=False)
class BatchPayload:
    """One planned ``POST /v1/batches`` body: what it holds, its size and its hash.

    The body itself is not kept: :attr:`body` builds it again from the batch's rows each
    time it is read (the same bytes every time), so a plan of many batches holds the
    requests once, not every body at once.

    Attributes
    ----------
    index
        Position of this batch in the plan, from 0.
    rows
        The batch's unique requests (``custom_id`` and ``params`` or ``params_json``), a
        slice of the planned frame.
    encoding
        How the body is made from ``rows``.
    n_requests, n_bytes
        ``len(custom_ids)`` and ``len(body)``.
    sha256
        Hex SHA-256 of ``body``, computed when planned.
    """

    index: int
    rows: pl.DataFrame = field(repr=False)
    encoding: RequestEncoding = field(repr=False)
    n_requests: int
    n_bytes: int
    sha256: str

    @property
    def custom_ids(self) -> tuple[str, ...]:
        """The ids in the body, in order."""
        return tuple(self.rows["custom_id"].to_list())

    @property
    def body(self) -> bytes:
        """The complete body, UTF-8 bytes, built now (not cached)."""
        return self.encoding.frame(self.encoding.lines(self.rows))


def plan_batches(
    requests: pl.DataFrame | pl.LazyFrame,
    *,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    encoding: RequestEncoding | None = None,
) -> list[BatchPayload]:
    """Split the unique requests into batch bodies under both limits.

    Parameters
    ----------
    requests
        A :func:`build_requests` frame, or ``custom_id`` + ``params_json`` columns.
    max_requests, max_bytes
        Upper bounds per body: number of requests, and bytes of the whole body.
    encoding
        How lines are made and framed (default: the ``{"requests":[...]}`` JSON body of
        Siraya and Anthropic; the OpenAI protocol gives a JSONL file of chat bodies).

    Raises
    ------
    BatchLimitError
        When one request alone makes a body over ``max_bytes``.

    Examples
    --------
    >>> import json
    >>> import polars as pl
    >>> from siraya_frames._build import build_requests
    >>> reqs = build_requests(pl.DataFrame({"q": ["hi"]}), prompt="{q}", model="m",
    ...                       max_tokens=2)
    >>> [payload] = plan_batches(reqs)
    >>> json.loads(payload.body)["requests"][0]["params"]["messages"]
    [{'role': 'user', 'content': 'hi'}]
    >>> payload.n_bytes == len(payload.body)
    True
    """
    encoding = encoding or JSON_REQUESTS
    _check_limits(max_requests, max_bytes, encoding.overhead)
    unique = _unique_rows(requests)
    packer = _Packer(max_requests, max_bytes, encoding, unique)
    chunk = _CHUNK * max(1, pl.thread_pool_size())  # a small chunk per thread: hot caches
    for start in range(0, unique.height, chunk):
        part = unique.slice(start, chunk)
        lines = encoding.lines(part)
        sizes = lines.str.len_bytes().cast(pl.Int64) + 1
        _check_single_size(part, sizes, max_bytes, encoding.overhead)
        packer.add(lines, sizes)
    packer.flush()
    return packer.payloads


@dataclass
class _Packer:
    """Greedy packing of request lines, fed chunk by chunk, into bodies under both limits.

    Each body is framed once, hashed and dropped: a payload keeps its rows (a slice of
    ``unique``), its size and its hash, never its bytes.
    """

    max_requests: int
    max_bytes: int
    encoding: RequestEncoding
    unique: pl.DataFrame
    payloads: list[BatchPayload] = field(default_factory=list)
    pieces: list[pl.Series] = field(default_factory=list)
    start: int = 0  # row of ``unique`` where the pending body starts
    count: int = 0  # its lines so far
    size: int = 0  # bytes of the pending lines, a comma after each

    def add(self, lines: pl.Series, sizes: pl.Series) -> None:
        cum, pos = [0, *sizes.cum_sum().to_list()], 0
        while pos < len(lines):
            room = (
                self.max_bytes - self.encoding.overhead + 1 - self.size,
                self.max_requests - self.count,
            )
            end = _fit(cum, pos, *room)
            self.pieces.append(lines.slice(pos, end - pos))
            self.count += end - pos
            self.size += cum[end] - cum[pos]
            if end < len(lines):
                self.flush()
            pos = end

    def flush(self) -> None:
        if not self.count:
            return
        body = self.encoding.frame(pl.concat(self.pieces, rechunk=False))
        rows = self.unique.slice(self.start, self.count)
        digest = hashlib.sha256(body).hexdigest()
        index = len(self.payloads)
        payload = BatchPayload(index, rows, self.encoding, self.count, len(body), digest)
        self.payloads.append(payload)
        self.start += self.count
        self.pieces, self.count, self.size = [], 0, 0


def _body(lines: pl.Series, encoding: RequestEncoding | None = None) -> bytes:
    """``{"requests":[<line>,<line>,...]}`` (or another framing), joined by Polars and
    copied once into bytes.

    The head goes onto the first line and the tail onto the last, so that the whole body
    is only copied by Polars' join and into the bytes.

    Examples
    --------
    >>> _body(pl.Series(["{}", "[]"]))
    b'{"requests":[{},[]]}'
    """
    head, tail, sep = BODY_HEAD.decode(), BODY_TAIL.decode(), ","
    if encoding is not None:
        head, tail, sep = encoding.head.decode(), encoding.tail.decode(), encoding.sep
    if len(lines) == 1:
        return (head + lines[0] + tail).encode()
    first, last = pl.Series([head + lines[0]]), pl.Series([lines[-1] + tail])
    edged = pl.concat([first, lines.slice(1, len(lines) - 2), last], rechunk=False)
    return edged.str.join(sep).cast(pl.Binary).item()


def _fit(cum: list[int], start: int, room_bytes: int, room_requests: int) -> int:
    """The end of the longest run of lines from ``start`` within both rooms (``cum``: sizes)."""
    end = bisect.bisect_right(cum, cum[start] + room_bytes) - 1
    return min(end, start + room_requests, len(cum) - 1)


def line_sizes(unique: pl.DataFrame) -> pl.Series:
    """Bytes each unique request adds to a body (its line and a comma).

    Examples
    --------
    >>> line_sizes(pl.DataFrame({"custom_id": ["a"], "params_json": ["{}"]})).to_list()
    [30]
    """
    return JSON_REQUESTS.line_sizes(unique)


def _check_limits(max_requests: object, max_bytes: object, overhead: int = BODY_OVERHEAD) -> None:
    if not is_int(max_requests) or max_requests < 1:
        raise ParameterError(f"max_requests must be an integer >= 1; got {max_requests!r}")
    if not is_int(max_bytes) or max_bytes <= overhead:
        raise ParameterError(f"max_bytes must be an integer > {overhead}; got {max_bytes!r}")


def _check_single_size(
    unique: pl.DataFrame, sizes: pl.Series, max_bytes: int, overhead: int = BODY_OVERHEAD
) -> None:
    """Raise BatchLimitError for the first request too big to fit in any body."""
    too_big = (sizes - 1 + overhead) > max_bytes
    if too_big.any():
        i = too_big.arg_true()[0]
        size = sizes[i] - 1 + overhead
        raise BatchLimitError(
            f"request {unique['custom_id'][i]!r} (row {unique['row'][i]}) alone makes a batch "
            f"body of {size:,} bytes, over max_bytes={max_bytes:,}; raise max_bytes (if the "
            "service accepts it) or shorten that row's prompt"
        )


def batch_bounds(sizes: pl.Series, *, max_requests: int, max_bytes: int) -> list[tuple[int, int]]:
    """Greedy ``[start, end)`` row ranges of each batch, from each line's size (comma included).

    Examples
    --------
    >>> batch_bounds(pl.Series([10, 10, 10]), max_requests=2, max_bytes=1000)
    [(0, 2), (2, 3)]
    >>> batch_bounds(pl.Series([10, 10, 10]), max_requests=9, max_bytes=15 + 19)
    [(0, 2), (2, 3)]
    """
    cum = [0, *sizes.cum_sum().to_list()]
    budget = max_bytes - BODY_OVERHEAD + 1  # the last line of a body has no comma
    bounds, start = [], 0
    while start < len(sizes):
        bounds.append((start, _fit(cum, start, budget, max_requests)))
        start = bounds[-1][1]
    return bounds


def write_jsonl(requests: pl.DataFrame | pl.LazyFrame, path: str | os.PathLike[str]) -> int:
    """Write the unique requests as JSONL, one ``{"custom_id", "params"}`` per line.

    Returns the number of lines written.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> import polars as pl
    >>> from siraya_frames._build import build_requests
    >>> reqs = build_requests(pl.DataFrame({"q": ["x", "x"]}), prompt="{q}", model="m",
    ...                       max_tokens=1)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "batch.jsonl"
    >>> write_jsonl(reqs, path)
    1
    >>> json.loads(path.read_text())["params"]["model"]
    'm'
    """
    lines = request_lines(_unique_rows(requests)).to_frame("line")
    lines.write_csv(Path(path), include_header=False, quote_style="never")
    return lines.height
