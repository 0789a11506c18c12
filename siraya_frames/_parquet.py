"""Parquet output with provenance: how every answer in the file was obtained.

The provenance is JSON under the key ``siraya_frames`` of the Parquet key-value metadata:
library version, models, prompt template, the wire ``protocol``, ``params_hash`` (one hash
of every request's parameters: the same requests give the same hash), batch ids, submitted
and finished times, outcome counts, token totals (input without the cache, output, cache
read, cache write) and the cost at the batch price. It never holds the API key (the job
never knows it).

Examples
--------
>>> import polars as pl, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "out.parquet")
>>> df = pl.DataFrame({"text": ["a"], "result_status": ["succeeded"]})
>>> write_parquet(df, path, provenance={"note": "demo"})
>>> read_provenance(path)["outcomes"], read_provenance(path)["note"]
({'succeeded': 1}, 'demo')
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow.parquet as pq
import xxhash

from siraya_frames._store import utc_now

if TYPE_CHECKING:
    from siraya_frames._job import Job

__all__ = ["PROVENANCE_KEY", "read_provenance", "write_parquet"]

PROVENANCE_KEY = b"siraya_frames"


def _outcomes(df: pl.DataFrame, column: str) -> dict[str, int]:
    if column not in df.columns:
        return {}
    counts = df.get_column(column).fill_null("skipped").value_counts(sort=True)
    return {str(k): int(v) for k, v in counts.iter_rows()}


def _token_total(df: pl.DataFrame, column: str) -> int | None:
    """Tokens used: a shared answer (one custom_id on many rows) counts once."""
    if column not in df.columns:
        return None
    if "custom_id" in df.columns:
        df = df.drop_nulls("custom_id").unique("custom_id", keep="first")
    return int(df.get_column(column).sum())


def _params_hash(df: pl.DataFrame) -> str | None:
    """One hash of every request's parameters: the sorted unique ids are hashes of them."""
    if "custom_id" not in df.columns:
        return None
    ids = df.get_column("custom_id").drop_nulls().unique().sort()
    return xxhash.xxh3_128_hexdigest("\n".join(ids.to_list()).encode())


def _job_facts(job: Job) -> dict[str, Any]:
    batches = job.batches  # from the saved state: no results are read again
    return {
        **job.provenance,
        "job_id": job.job_id,
        "protocol": job.protocol,
        "batch_ids": job.batch_ids,
        "submitted_at": batches["submitted_at"].drop_nulls().min(),
        "finished_at": batches["finished_at"].drop_nulls().max(),
        "unique_requests": job.n_requests,
    }


def build_provenance(
    df: pl.DataFrame,
    *,
    job: Job | None = None,
    prefix: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the provenance record of a joined frame (pure but for reading the job)."""
    from siraya_frames import __version__

    record: dict[str, Any] = {
        "library": "siraya-frames",
        "version": __version__,
        "written_at": utc_now(),
        "rows": df.height,
        "outcomes": _outcomes(df, f"{prefix}result_status"),
        "input_tokens": _token_total(df, f"{prefix}input_tokens"),
        "output_tokens": _token_total(df, f"{prefix}output_tokens"),
        "cache_read_input_tokens": _token_total(df, f"{prefix}cache_read_input_tokens"),
        "cache_creation_input_tokens": _token_total(df, f"{prefix}cache_creation_input_tokens"),
        "params_hash": _params_hash(df),
    }
    if job is not None:
        record.update(_job_facts(job))
    record.update(extra or {})
    return record


def write_parquet(
    df: pl.DataFrame | pl.LazyFrame,
    path: str | os.PathLike[str],
    *,
    job: Job | None = None,
    prefix: str = "",
    provenance: dict[str, Any] | None = None,
) -> None:
    """Write ``df`` to Parquet atomically, with provenance in the file's metadata.

    Parameters
    ----------
    df
        Usually the output of :func:`join_results`.
    path
        The Parquet file to write (replaced atomically: a crash leaves the old file).
    job
        The job the answers came from: its batch ids, times, models and template are
        recorded.
    prefix
        The ``prefix`` given to :func:`join_results`, to find the outcome columns.
    provenance
        Extra facts to record; values JSON cannot hold (dates, paths) are written as text.
    """
    frame = df.collect() if isinstance(df, pl.LazyFrame) else df
    record = build_provenance(frame, job=job, prefix=prefix, extra=provenance)
    encoded = json.dumps(record, default=str).encode()  # dates, paths...: written as text
    table = frame.to_arrow()
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), PROVENANCE_KEY: encoded}
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name the writer creates itself, so the file gets the usual permissions (umask)
    # rather than mkstemp's owner-only ones.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read back the provenance that :func:`write_parquet` stored; ``{}`` when there is none."""
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}
