"""The output file: its format follows its name, with the provenance of every answer.

``.parquet`` → Parquet, the provenance in the file's key-value metadata (see ``_parquet.py``);
``.csv`` → CSV, ``.jsonl`` / ``.ndjson`` → JSON lines, ``.arrow`` / ``.ipc`` → Arrow IPC,
each with its provenance in ``<output>.provenance.json`` beside it. Any other suffix is
refused (:func:`check_output`) before anything is sent. CSV holds no nested values: a List or
Struct column (an extraction field) is written as its JSON text. Every format is written with
Polars' streaming sink to a temporary file that then replaces the target, so a crash leaves
the old file.

Examples
--------
>>> import polars as pl, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "out.csv")
>>> df = pl.DataFrame({"text": ["a"], "result_status": ["succeeded"], "tags": [["x", "y"]]})
>>> write_output(df, path, provenance={"note": "demo"})
>>> open(path).read().splitlines()
['text,result_status,tags', 'a,succeeded,"[""x"",""y""]"']
>>> read_output_provenance(path)["note"]
'demo'
>>> check_output("out.xlsx")
Traceback (most recent call last):
...
siraya_frames._errors.InputError: output 'out.xlsx' has an unsupported suffix '.xlsx'; \
name it .parquet, .csv, .jsonl, .ndjson, .arrow or .ipc (the format follows the suffix)
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames._errors import InputError
from siraya_frames._parquet import build_provenance, read_provenance, write_parquet
from siraya_frames._store import atomic_write

if TYPE_CHECKING:
    from siraya_frames._job import Job

__all__ = [
    "OUTPUT_FORMATS",
    "check_output",
    "provenance_path",
    "read_output_provenance",
    "write_output",
]

OUTPUT_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".arrow": "ipc",
    ".ipc": "ipc",
}
"""Output suffix → format written."""


def check_output(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` from its suffix; :class:`InputError` for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        accepted = ", ".join(OUTPUT_FORMATS)
        accepted = accepted.rsplit(", ", 1)[0] + " or " + accepted.rsplit(", ", 1)[1]
        raise InputError(
            f"output {os.fspath(path)!r} has an unsupported suffix {suffix or '(none)'!r}; "
            f"name it {accepted} (the format follows the suffix)"
        )
    return OUTPUT_FORMATS[suffix]


def provenance_path(path: str | os.PathLike[str]) -> Path:
    """Where the provenance of a non-Parquet output goes: ``<output>.provenance.json``."""
    target = Path(path)
    return target.with_name(f"{target.name}.provenance.json")


def _as_text(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """Nested columns (List, Array, Struct) as JSON text, for CSV; nulls stay null."""
    schema = lazy.collect_schema()
    nested = [name for name, dtype in schema.items() if dtype.is_nested()]
    encoded = [
        pl.when(pl.col(name).is_not_null())
        .then(
            pl.struct(pl.col(name).alias("v"))
            .struct.json_encode()
            .str.strip_prefix('{"v":')
            .str.strip_suffix("}")
        )
        .alias(name)
        for name in nested
    ]
    return lazy.with_columns(encoded) if encoded else lazy


def _sink(lazy: pl.LazyFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        _as_text(lazy).sink_csv(path, check_extension=False, engine="streaming")
    elif fmt == "ndjson":
        lazy.sink_ndjson(path, check_extension=False, engine="streaming")
    else:
        lazy.sink_ipc(path, engine="streaming")


def write_output(
    df: pl.DataFrame | pl.LazyFrame,
    path: str | os.PathLike[str],
    *,
    job: Job | None = None,
    prefix: str = "",
    provenance: dict[str, Any] | None = None,
) -> None:
    """Write ``df`` in the format its suffix names, atomically, with its provenance.

    Parameters
    ----------
    df
        Usually the joined, labelled frame of ``run``.
    path
        The file: ``.parquet``, ``.csv``, ``.jsonl`` / ``.ndjson`` or ``.arrow`` / ``.ipc``.
    job, prefix, provenance
        As for :func:`~siraya_frames.write_parquet`: what the provenance records.

    Raises
    ------
    InputError
        For any other suffix (nothing is written).
    """
    fmt = check_output(path)
    if fmt == "parquet":
        write_parquet(df, path, job=job, prefix=prefix, provenance=provenance)
        return
    lazy = df.lazy()
    record = build_provenance(lazy, job=job, prefix=prefix, extra=provenance)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        _sink(lazy, tmp, fmt)
        atomic_write(provenance_path(target), json.dumps(record, default=str).encode())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_output_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance :func:`write_output` stored for ``path``; ``{}`` when there is none."""
    if check_output(path) == "parquet":
        return read_provenance(path)
    sidecar = provenance_path(path)
    return json.loads(sidecar.read_text()) if sidecar.is_file() else {}
