"""Each batch's results parsed once: ``results/<key>.parquet`` beside ``results/<key>.jsonl``.

When ``wait`` saves a batch's results it parses them once (:func:`build`): the rows of
:data:`RESULT_SCHEMA` for the batch's own ids go to ``results/<key>.parquet`` (written
atomically), with the size and modification time of the JSONL they came from and the ids of
lines that name no id of the batch (kept for the warning) in the file's metadata. ``collect``
reads them (:func:`load`) instead of parsing JSONL again. The JSONL stays the source of truth:
a cache that is missing, unreadable, or made from another version of the JSONL (a re-fetch)
is rebuilt from it; a directory that cannot be written only skips saving the cache.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from siraya_frames._results import RESULT_SCHEMA, read_results
from siraya_frames._store import BatchRecord, JobStore

logger = logging.getLogger("siraya_frames")

__all__ = ["batch_ids", "build", "cache_path", "count_outcomes", "load"]

SOURCE_KEY = b"siraya_frames.source"
"""``<size>:<mtime_ns>`` of the JSONL the cache was parsed from."""
STRAY_KEY = b"siraya_frames.stray"
"""JSON list of the ids of result lines that name no id of the batch."""


def cache_path(store: JobStore, rec: BatchRecord) -> Path:
    """Where the parsed results of ``rec`` are kept."""
    return store.path / "results" / f"{rec.key}.parquet"


def batch_ids(store: JobStore, rec: BatchRecord) -> pl.DataFrame:
    """The ``custom_id`` frame of the ids ``rec`` was sent with."""
    return pl.DataFrame({"custom_id": store.read_ids(rec.key)}, schema={"custom_id": pl.String})


def _signature(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def count_outcomes(parsed: pl.DataFrame) -> dict[str, int]:
    """Result lines per ``result_status``.

    Examples
    --------
    >>> count_outcomes(pl.DataFrame({"result_status": ["succeeded", "errored", "succeeded"]}))
    {'errored': 1, 'succeeded': 2}
    """
    counts = parsed["result_status"].value_counts()
    return dict(sorted(zip(counts["result_status"], counts["count"], strict=True)))


def _parse(source: Path, ids: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    parsed = read_results(source)
    stray = parsed.join(ids, on="custom_id", how="anti")["custom_id"]
    return parsed.join(ids, on="custom_id", how="semi", maintain_order="left"), stray


def _write(target: Path, parsed: pl.DataFrame, stray: pl.Series, signature: str) -> None:
    """Write the cache atomically; a directory that cannot be written only skips it."""
    metadata = {SOURCE_KEY: signature.encode(), STRAY_KEY: json.dumps(stray.to_list()).encode()}
    table = parsed.to_arrow().replace_schema_metadata(metadata)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        logger.debug("not caching %s: %s", target, exc)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        logger.debug("not caching %s: %s", target, exc)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(store: JobStore, rec: BatchRecord, ids: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """Parse the saved results of ``rec`` (restricted to ``ids``, its ``custom_id`` frame),
    save them as its cache, and return them with the ids of stray lines."""
    source = store.path / str(rec.results_file)
    signature = _signature(source)  # before parsing: a JSONL changed meanwhile is re-read
    parsed, stray = _parse(source, ids)
    _write(cache_path(store, rec), parsed, stray, signature)
    return parsed, stray


def load(store: JobStore, rec: BatchRecord, ids: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """The parsed results of ``rec`` from its cache, or :func:`build` them when the cache is
    missing, damaged, or older than the JSONL."""
    try:
        with pq.ParquetFile(cache_path(store, rec)) as cached:  # not read_table: no dataset
            table = cached.read()
        metadata = table.schema.metadata or {}
        if metadata.get(SOURCE_KEY) == _signature(store.path / str(rec.results_file)).encode():
            parsed = pl.DataFrame(table.replace_schema_metadata(None))
            parsed = parsed.cast(pl.Schema(RESULT_SCHEMA))
            stray = pl.Series("custom_id", json.loads(metadata[STRAY_KEY]), pl.String)
            return parsed, stray
    except (OSError, pa.ArrowException, ValueError, KeyError) as exc:
        logger.debug("rebuilding the results cache of batch %s: %s", rec.key, exc)
    return build(store, rec, ids)
