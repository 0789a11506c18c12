"""The answer store: every answer a preview got, kept by service and ``custom_id``.

A later :func:`~siraya_frames.preview` or :func:`~siraya_frames.run` of the same request on
the same service reuses a stored success instead of sending (and paying for) it again;
errors are never reused. Layout::

    <answers_dir>/<service>/part-<time>-<random>.parquet

``answers_dir`` is ``<job root>/answers`` by default (``SIRAYA_ANSWERS_DIR`` overrides it);
``service`` is a hash of the protocol and the base URL (never the key). Each part holds
:data:`~siraya_frames._lines_common.RESULT_SCHEMA` rows plus ``answered_at``; parts are only
added (never rewritten), each written to a temporary file and renamed, so a crash leaves no
torn part.

Examples
--------
>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> service = service_id("siraya", "http://127.0.0.1:8000/v1")
>>> rows = pl.DataFrame({"custom_id": ["a", "b"], "result_status": ["succeeded", "errored"],
...                      "response_text": ["yes", None]})
>>> _ = save_answers(rows, service=service, answers_dir=root)
>>> lookup_answers(pl.Series(["a", "b", "c"]), service=service, answers_dir=root).rows()
[('a', 'succeeded', 'yes', None, None, None, None, None, None, None, None, None)]
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import time
from pathlib import Path

import polars as pl
import xxhash

from siraya_frames import _config
from siraya_frames._lines_common import RESULT_SCHEMA
from siraya_frames._store import atomic_write, writing

__all__ = ["lookup_answers", "save_answers", "service_id"]

logger = logging.getLogger("siraya_frames")

ANSWERED_AT = "answered_at"


def service_id(protocol: str, base_url: str) -> str:
    """The store's name for a service: a hash of its protocol and base URL.

    Examples
    --------
    >>> service_id("siraya", "https://llm.siraya.pro/v1") == service_id("openai",
    ...     "https://llm.siraya.pro/v1")
    False
    """
    return xxhash.xxh3_64(f"{protocol}\n{base_url.rstrip('/')}".encode()).hexdigest()


def _folder(service: str, answers_dir: str | os.PathLike[str] | None) -> Path:
    return Path(_config.resolve_answers_dir(answers_dir)) / service


def _normalised(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with every RESULT_SCHEMA column (absent ones null) and ``answered_at``."""
    now = pl.lit(time.time(), pl.Float64).alias(ANSWERED_AT)
    return rows.select(
        *(
            pl.col(name).cast(dtype) if name in rows.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in RESULT_SCHEMA.items()
        ),
        now,
    )


def save_answers(
    rows: pl.DataFrame, *, service: str, answers_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """Add ``rows`` (results rows) to the store as one new part; return its path.

    Nothing is written for no rows. A write that fails raises
    :class:`~siraya_frames.errors.JobStoreError` naming the file.
    """
    if rows.is_empty():
        return None
    name = f"part-{time.time_ns():020d}-{secrets.token_hex(4)}.parquet"
    path = _folder(service, answers_dir) / name
    buffer = io.BytesIO()
    _normalised(rows).write_parquet(buffer)
    with writing(path):
        atomic_write(path, buffer.getvalue())
    return path


def lookup_answers(
    ids: pl.Series, *, service: str, answers_dir: str | os.PathLike[str] | None = None
) -> pl.DataFrame:
    """The stored successful answers to ``ids`` (the latest of each), as results rows.

    Returns an empty :data:`RESULT_SCHEMA` frame when the store holds none of them.
    """
    parts = sorted(_folder(service, answers_dir).glob("part-*.parquet"))
    if not parts or ids.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    wanted = ids.drop_nulls().unique()
    try:
        return _found(parts, wanted)
    except (pl.exceptions.PolarsError, OSError):  # a torn or foreign part: read the others
        good = [part for part in parts if _readable(part)]
        logger.warning(
            "the answer store has unreadable files, skipped (their answers are sent again if "
            "asked for); delete them: %s",
            ", ".join(os.fspath(part) for part in parts if part not in good),
        )
        return _found(good, wanted) if good else pl.DataFrame(schema=RESULT_SCHEMA)


def _readable(part: Path) -> bool:
    try:
        columns = pl.read_parquet_schema(part)
    except (pl.exceptions.PolarsError, OSError):
        return False
    return {*RESULT_SCHEMA, ANSWERED_AT} <= set(columns)


def _found(parts: list[Path], wanted: pl.Series) -> pl.DataFrame:
    """The latest successful answer to each of ``wanted`` in ``parts``."""
    found = (
        pl.scan_parquet(parts)
        .filter(pl.col("custom_id").is_in(wanted.implode()))
        .filter(pl.col("result_status") == "succeeded")
        .sort(ANSWERED_AT)
        .unique("custom_id", keep="last")
        .select(*RESULT_SCHEMA)
        .collect()
    )
    return found
