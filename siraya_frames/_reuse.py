"""Reuse by ``run``: the answers a preview already got are not sent (nor paid) again.

Reuse is decided once, when a job is created: the stored successful answers to some of its
requests (``_answers.py``, same service) are copied into ``<job_dir>/reused.parquet``
before the job's state is written, and only the other requests are planned and sent. The
job id still derives from the full set of requests, so re-running the same call finds the
same job; on re-attach the job's own record holds (reuse is never decided again against a
store that may have changed, which could change what is sent). ``collect_results`` adds the
recorded rows to the job's own.

Examples
--------
>>> import tempfile
>>> job = tempfile.mkdtemp()
>>> unique = pl.DataFrame({"custom_id": ["a", "b"], "params_json": ["{}", "{}"]})
>>> without_reused(job, unique)["custom_id"].to_list()  # nothing recorded: all are sent
['a', 'b']
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import polars as pl

from siraya_frames._answers import lookup_answers, service_id
from siraya_frames._lines_common import RESULT_SCHEMA
from siraya_frames._store import atomic_write, writing

logger = logging.getLogger("siraya_frames")

__all__ = [
    "REUSED_FILE",
    "decide_reuse",
    "n_reused",
    "with_reused",
    "with_reused_totals",
    "without_reused",
]

REUSED_FILE = "reused.parquet"
"""The job's record of the answers it took from the answer store (results rows)."""
_COLUMNS = {**RESULT_SCHEMA, "batch_id": pl.String()}


def _path(job_dir: str | os.PathLike[str]) -> Path:
    return Path(job_dir) / REUSED_FILE


def _recorded(job_dir: str | os.PathLike[str]) -> pl.DataFrame | None:
    path = _path(job_dir)
    return pl.read_parquet(path) if path.is_file() else None


def decide_reuse(
    job_dir: str | os.PathLike[str],
    unique: pl.DataFrame,
    client: Any,
    *,
    reuse: bool = True,
    answers_dir: str | os.PathLike[str] | None = None,
) -> pl.DataFrame:
    """For a new job: record the stored answers to ``unique`` in the job; return the rest.

    Call it before the job's state is written (a crash before that starts the job afresh).
    """
    if not reuse:
        return unique
    service = service_id(client.protocol, client.base_url)
    found = lookup_answers(unique["custom_id"], service=service, answers_dir=answers_dir)
    if found.is_empty():
        return unique
    buffer = io.BytesIO()
    found.with_columns(batch_id=pl.lit(None, pl.String)).write_parquet(buffer)
    with writing(_path(job_dir)):
        atomic_write(_path(job_dir), buffer.getvalue())
    rest = unique.join(found.select("custom_id"), on="custom_id", how="anti")
    logger.info(
        "reused %d earlier answers (preview) from the answer store; sending the other %d requests",
        found.height,
        rest.height,
    )
    return rest


def without_reused(job_dir: str | os.PathLike[str], unique: pl.DataFrame) -> pl.DataFrame:
    """``unique`` without the requests the job answered from the store."""
    recorded = _recorded(job_dir)
    if recorded is None:
        return unique
    return unique.join(recorded.select("custom_id"), on="custom_id", how="anti")


def with_reused(job_dir: str | os.PathLike[str], results: pl.DataFrame) -> pl.DataFrame:
    """The job's results plus the rows it took from the answer store."""
    recorded = _recorded(job_dir)
    if recorded is None or recorded.is_empty():
        return results
    return pl.concat([results, recorded.select(*_COLUMNS).cast(_COLUMNS)])  # type: ignore[arg-type]


def with_reused_totals(
    job_dir: str | os.PathLike[str], totals: tuple[int, int, int]
) -> tuple[int, int, int]:
    """``(total, done, failed)`` of the job's batches plus its answers taken from the store
    (each one done and succeeded), as :func:`with_reused` counts its results.

    Examples
    --------
    >>> import tempfile
    >>> with_reused_totals(tempfile.mkdtemp(), (5, 2, 1))
    (5, 2, 1)
    """
    reused = n_reused(job_dir)
    return totals[0] + reused, totals[1] + reused, totals[2]


def n_reused(job_dir: str | os.PathLike[str]) -> int:
    """How many of the job's requests were answered from the answer store."""
    recorded = _recorded(job_dir)
    return 0 if recorded is None else recorded.height
