"""Frames at the edge: pandas, pyarrow or Polars in, converted once; the same kind out.

Everything inside siraya_frames works on Polars. A public entry point (``run``,
``estimate``, ``build_requests``) calls :func:`to_polars` once on what it was given and, for a
frame it returns, :func:`like_input` to give back the kind the user passed: pandas in,
pandas out (with the original index), a pyarrow Table in, a Table out.

pandas stays optional: it is never imported here. An object is a pandas DataFrame only if
pandas is already imported (it has to be, for the user to have made one).

Examples
--------
>>> import polars as pl, pyarrow as pa
>>> frame, kind = to_polars(pa.table({"x": [1, 2]}))
>>> kind.name, frame.height
('arrow', 2)
>>> like_input(frame.with_columns(y=pl.col("x") * 2), kind).column_names
['x', 'y']
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import polars as pl

from siraya_frames._errors import InputError

if TYPE_CHECKING:  # pandas is optional: named for type checkers and editors only
    import pandas as pd
    import pyarrow as pa

    FrameLike: TypeAlias = (
        pl.DataFrame | pl.LazyFrame | pd.DataFrame | pa.Table | pa.RecordBatch
        | pa.RecordBatchReader
    )  # fmt: skip
    """What ``run``, ``estimate`` and ``build_requests`` accept."""
    FrameOut: TypeAlias = pl.DataFrame | pd.DataFrame | pa.Table
    """What ``run`` gives back: the kind it was given (a LazyFrame gives a DataFrame)."""

__all__ = ["FrameKind", "FrameLike", "FrameOut", "like_input", "read_table", "to_polars"]

Kind = Literal["polars", "lazy", "pandas", "arrow"]

ACCEPTED = (
    "a polars DataFrame or LazyFrame, a pandas DataFrame, a pyarrow Table, RecordBatch or "
    "RecordBatchReader (or any object with __arrow_c_stream__)"
)
"""What :func:`to_polars` accepts, as its error message says."""


@dataclass(frozen=True)
class FrameKind:
    """The kind of frame a user gave, and what is needed to give the same kind back.

    ``index`` is a pandas frame's index (restored on the way out); ``None`` otherwise.
    """

    name: Kind
    index: Any = None


def _pandas_frame_type() -> type | None:
    pandas = sys.modules.get("pandas")
    return getattr(pandas, "DataFrame", None)


def _is_arrow(obj: Any) -> bool:
    module = type(obj).__module__
    return module.startswith("pyarrow") or hasattr(obj, "__arrow_c_stream__")


def to_polars(df: Any, *, what: str = "run") -> tuple[pl.DataFrame | pl.LazyFrame, FrameKind]:
    """Return ``df`` as Polars (converted once, zero-copy where Arrow allows) and its kind.

    Parameters
    ----------
    df
        A Polars DataFrame or LazyFrame (returned as is), a pandas DataFrame
        (``pl.from_pandas``; its index is kept aside, not made a column), a pyarrow Table,
        RecordBatch or RecordBatchReader, or any Arrow stream (``pl.from_arrow`` /
        ``pl.DataFrame``).
    what
        The function being called, for the error message.

    Raises
    ------
    InputError
        For anything else (a dict, a list...), naming its type and what is accepted.

    Examples
    --------
    >>> to_polars({"x": [1]})
    Traceback (most recent call last):
    ...
    siraya_frames._errors.InputError: run() takes a frame of rows: ...; got a dict. ...
    """
    if isinstance(df, pl.LazyFrame):
        return df, FrameKind("lazy")
    if isinstance(df, pl.DataFrame):
        return df, FrameKind("polars")
    pandas_frame = _pandas_frame_type()
    if pandas_frame is not None and isinstance(df, pandas_frame):
        return _from_pandas(df, what), FrameKind("pandas", index=getattr(df, "index", None))
    if _is_arrow(df):
        return _from_arrow(df, what), FrameKind("arrow")
    hint = " Wrap it first: pl.DataFrame(your_dict)." if isinstance(df, dict | list) else ""
    got = type(df).__name__
    raise InputError(f"{what}() takes a frame of rows: {ACCEPTED}; got a {got}.{hint}")


def _from_pandas(df: Any, what: str) -> pl.DataFrame:
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise InputError(
            f"{what}() needs text column names; this pandas frame has {bad[:5]!r}. Rename "
            "them first, e.g. df.columns = df.columns.map(str)"
        )
    try:
        return pl.from_pandas(df)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise InputError(
            f"{what}() could not convert this pandas frame to Polars ({exc}); convert the "
            "column named there (e.g. df[col].astype(str)) and call again"
        ) from exc


def _from_arrow(df: Any, what: str) -> pl.DataFrame:
    try:
        if type(df).__module__.startswith("pyarrow"):
            out = pl.from_arrow(df)
            return out if isinstance(out, pl.DataFrame) else out.to_frame()
        return pl.DataFrame(df)  # an Arrow C stream (duckdb, ...)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise InputError(
            f"{what}() could not read this {type(df).__name__} as a table ({exc}); give a "
            f"pyarrow Table or {ACCEPTED}"
        ) from exc


def like_input(out: pl.DataFrame, kind: FrameKind) -> Any:
    """Return ``out`` as the kind of frame the user gave (``kind`` from :func:`to_polars`).

    A pandas frame gets its original index back (``run`` keeps every row, in order); a
    pyarrow input (Table, batch or reader) gets a Table; Polars, eager or lazy, gets a
    Polars DataFrame.

    Examples
    --------
    >>> import polars as pl
    >>> like_input(pl.DataFrame({"x": [1]}), FrameKind("lazy")).shape
    (1, 1)
    """
    if kind.name == "pandas":
        pdf = out.to_pandas()
        if kind.index is not None and len(kind.index) == len(pdf):
            pdf.index = kind.index
        return pdf
    if kind.name == "arrow":
        return out.to_arrow()
    return out


_READERS: dict[str, Any] = {
    ".parquet": pl.read_parquet,
    ".csv": pl.read_csv,
    ".tsv": lambda path: pl.read_csv(path, separator="\t"),
    ".jsonl": pl.read_ndjson,
    ".ndjson": pl.read_ndjson,
}
_COMPRESSED = (".gz", ".zst")
"""Compressions Polars reads itself, after .csv, .tsv, .jsonl or .ndjson."""


def read_table(path: str) -> pl.DataFrame:
    """Read a .parquet, .csv, .tsv, .jsonl or .ndjson file (the command line's input); the
    text ones may be compressed (``.csv.gz``, ``.tsv.zst``...).

    Examples
    --------
    >>> read_table("rows.xlsx")
    Traceback (most recent call last):
    ...
    siraya_frames._errors.InputError: rows.xlsx: unknown file type '.xlsx'; use ...
    """
    suffixes = [x.lower() for x in Path(path).suffixes[-2:]]
    if len(suffixes) == 2 and suffixes[1] in _COMPRESSED and suffixes[0] != ".parquet":
        suffixes = suffixes[:1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in _READERS:
        raise InputError(
            f"{path}: unknown file type {suffix!r}; use .parquet, .csv, .tsv, .jsonl or "
            ".ndjson (the text ones may be compressed: .csv.gz, .csv.zst)"
        )
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        return _READERS[suffix](path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {suffix} ({exc})") from exc
