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

import inspect
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow.parquet as pq
import xxhash

from siraya_frames._ids import update_joined
from siraya_frames._store import utc_now

if TYPE_CHECKING:
    from siraya_frames._job import Job

__all__ = ["PROVENANCE_KEY", "read_provenance", "write_parquet"]

PROVENANCE_KEY = b"siraya_frames"


_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _facts(lazy: pl.LazyFrame, prefix: str) -> dict[str, Any]:
    """Rows, outcomes, token totals and ``params_hash`` of a frame: small queries run one
    after another, streaming, never holding more than the unique ids."""
    names = lazy.collect_schema().names()
    status, has_ids = f"{prefix}result_status", "custom_id" in names
    tokens = [t for t in _TOKEN_COLUMNS if f"{prefix}{t}" in names]
    once = pl.lit(True)  # a shared answer (one custom_id on many rows) counts once
    if has_ids:
        once = pl.col("custom_id").is_not_null() & pl.col("custom_id").is_first_distinct()
    sums = [pl.col(f"{prefix}{t}").filter(once).sum().alias(t) for t in tokens]
    totals = lazy.select(pl.len().alias("rows"), *sums).collect(engine="streaming")
    facts: dict[str, Any] = {"rows": totals["rows"].item(), "outcomes": {}}
    for name in _TOKEN_COLUMNS:
        facts[name] = int(totals[name].item() or 0) if name in tokens else None
    if status in names:
        grouped = lazy.group_by(pl.col(status).fill_null("skipped")).len()
        counts = grouped.collect(engine="streaming").sort(["len", status], descending=[True, False])
        facts["outcomes"] = {str(k): int(v) for k, v in counts.iter_rows()}
    facts["params_hash"] = None
    if has_ids:  # the sorted unique ids are hashes of every request's parameters
        ids = lazy.select(pl.col("custom_id").drop_nulls().unique().sort())
        digest = xxhash.xxh3_128()
        update_joined(digest, ids.collect(engine="streaming").to_series())
        facts["params_hash"] = digest.hexdigest()
    return facts


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
    df: pl.DataFrame | pl.LazyFrame,
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
        **_facts(df.lazy(), prefix),
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
    lazy = df.lazy()
    record = build_provenance(lazy, job=job, prefix=prefix, extra=provenance)
    encoded = json.dumps(record, default=str)  # dates, paths...: written as text
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name the writer creates itself, so the file gets the usual permissions (umask)
    # rather than mkstemp's owner-only ones.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        _sink(lazy, tmp, encoded)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sink(lazy: pl.LazyFrame, path: Path, provenance: str) -> None:
    """Write with Polars' streaming sink (row groups written as they are made), the
    provenance in the file's key-value metadata; through pyarrow where the installed Polars
    has no ``sink_parquet(metadata=)``."""
    key = PROVENANCE_KEY.decode()
    if "metadata" in inspect.signature(pl.LazyFrame.sink_parquet).parameters:
        lazy.sink_parquet(path, metadata={key: provenance}, engine="streaming")
        return
    table = lazy.collect(engine="streaming").to_arrow()
    metadata = {**(table.schema.metadata or {}), PROVENANCE_KEY: provenance.encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read back the provenance that :func:`write_parquet` stored; ``{}`` when there is none.

    A ``.csv``, ``.jsonl`` / ``.ndjson`` or ``.arrow`` / ``.ipc`` output has it in
    ``<output>.provenance.json`` beside it: that file is read.
    """
    from siraya_frames._output import OUTPUT_FORMATS, provenance_path  # it imports this module

    if OUTPUT_FORMATS.get(Path(path).suffix.lower(), "parquet") != "parquet":
        sidecar = provenance_path(path)
        return json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    metadata = pq.read_metadata(path).metadata or {}  # the file's key-value metadata
    raw = metadata.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}
