"""The unique requests of a frame, and lazy frames collected with bounded memory.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"custom_id": ["a", "a"], "params_json": ['{"n":1}', '{"n":1}']})
>>> unique_requests(frame).height
1
"""

from __future__ import annotations

import polars as pl

from siraya_frames._build import ID_PATTERN, encode_params
from siraya_frames._errors import InputError

__all__ = ["collect_requests", "collect_streaming", "unique_requests"]


def unique_requests(requests: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Return the unique non-null requests: ``custom_id``, ``params_json``, first-seen order.

    ``requests`` is a :func:`build_requests` frame (``custom_id`` + ``params``) or a frame of
    ``custom_id`` + ``params_json`` (String), such as a job's ``requests.parquet``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"custom_id": ["b", None, "a", "b"],
    ...                       "params_json": ['{"n":2}', None, '{"n":1}', '{"n":2}']})
    >>> unique_requests(frame).rows()
    [('b', '{"n":2}'), ('a', '{"n":1}')]
    """
    unique = _unique_rows(requests)
    if "params" in unique.columns:
        unique = unique.with_columns(encode_params(unique["params"]).alias("params_json"))
    return unique.select("custom_id", "params_json")


def _unique_rows(requests: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """``row`` (first row of each id), ``custom_id`` and ``params`` or ``params_json``."""
    frame = collect_requests(requests)
    if not isinstance(frame, pl.DataFrame) or "custom_id" not in frame.columns:
        raise InputError(
            "expected a frame from build_requests (custom_id + params) or with custom_id + "
            "params_json columns"
        )
    source = "params_json" if "params_json" in frame.columns else "params"
    if source not in frame.columns:
        raise InputError("the requests frame has neither a 'params' nor a 'params_json' column")
    unique = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), "custom_id", source
    ).filter(pl.col("custom_id").is_not_null() & pl.col("custom_id").is_first_distinct())
    _check_ids(unique, source)
    return unique


def _check_ids(unique: pl.DataFrame, source: str) -> None:
    bad = unique.filter(~pl.col("custom_id").str.contains(ID_PATTERN))
    if bad.height:
        raise InputError(
            f"custom_id {bad['custom_id'][0]!r} (row {bad['row'][0]}) does not match "
            f"{ID_PATTERN}; {bad.height} ids are invalid"
        )
    if unique[source].null_count():
        row = unique.filter(pl.col(source).is_null())["row"][0]
        raise InputError(f"row {row} has a custom_id but null {source}")


def collect_streaming(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """``frame`` itself, or a LazyFrame collected with Polars' streaming engine (in bounded
    pieces where its plan allows, rather than all of its input at once).

    Examples
    --------
    >>> collect_streaming(pl.LazyFrame({"a": [1, 2]}).select(pl.col("a") * 2))["a"].to_list()
    [2, 4]
    """
    return frame.collect(engine="streaming") if isinstance(frame, pl.LazyFrame) else frame


def collect_requests(requests: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The request columns (``custom_id``, ``params`` / ``params_json``) of ``requests``; a
    LazyFrame is collected streaming with only those, so its input columns are not held.

    Examples
    --------
    >>> lazy = pl.LazyFrame({"text": ["x"], "custom_id": ["a"], "params_json": ["{}"]})
    >>> collect_requests(lazy).columns
    ['custom_id', 'params_json']
    """
    if isinstance(requests, pl.LazyFrame):
        names = requests.collect_schema().names()
        wanted = [c for c in ("custom_id", "params", "params_json") if c in names]
        requests = requests.select(wanted) if "custom_id" in wanted else requests
    return collect_streaming(requests)
