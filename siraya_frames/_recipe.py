"""What a job remembers so that its answers can become ``run``'s frame and file again.

``run`` passes a :class:`Recipe` to ``submit``: the prompt, the labels (and ``abstain``) or
the extraction schema, the column ``prefix``, the ``output`` path and the model. It is saved
in the job's settings (``job.sqlite3``, JSON, never a key) together with the input rows the
output needs (the user's columns and ``custom_id``, without ``params``) as
``inputs.parquet`` in the job directory, before any batch is created. So
``Job.open(path).output()`` or ``siraya-frames wait JOB`` rebuilds exactly ``run``'s frame
in a fresh process. A re-run of ``run`` rewrites neither when nothing changed (a hash of the
rows is kept with the recipe).

Examples
--------
>>> import polars as pl
>>> recipe = Recipe(prompt="{t}", labels=["a", "b"], schema={"n": pl.Int32}, prefix="x_")
>>> Recipe.from_json(recipe.to_json()) == recipe
True
"""

from __future__ import annotations

import base64
import io
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import xxhash

from siraya_frames._store import JobStore, writing

logger = logging.getLogger("siraya_frames")

__all__ = ["INPUTS_FILE", "Recipe", "remember", "resume_hint"]

INPUTS_FILE = "inputs.parquet"
"""The input rows of a ``run`` (its columns and ``custom_id``), in the job directory."""


def _encode_schema(schema: dict[str, pl.DataType] | None) -> str | None:
    """A Polars schema as text: the Arrow IPC of an empty frame (keeps Enum categories)."""
    if schema is None:
        return None
    buffer = io.BytesIO()
    pl.DataFrame(schema=schema).write_ipc(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _decode_schema(text: str | None) -> dict[str, pl.DataType] | None:
    if text is None:
        return None
    return dict(pl.read_ipc(io.BytesIO(base64.b64decode(text))).schema)


@dataclass(frozen=True)
class Recipe:
    """How ``run`` turns a job's answers into its frame and file."""

    prompt: str | None = None
    labels: list[str] | dict[str, str] | None = None
    abstain: str | None = None
    schema: dict[str, pl.DataType] | None = None
    prefix: str = ""
    output: str | None = None
    model: str | None = None
    """The model of every request, when one name (prices the summary without the requests)."""
    inputs_hash: str | None = field(default=None, compare=False)
    inputs: pl.DataFrame | None = field(default=None, compare=False, repr=False)
    """The rows to save as ``inputs.parquet`` (not part of the saved recipe)."""

    def to_json(self) -> dict[str, Any]:
        """The recipe as JSON-able data (what the job's settings hold)."""
        labels = dict(self.labels) if isinstance(self.labels, dict) else self.labels
        return {
            "prompt": self.prompt,
            "labels": list(labels) if isinstance(labels, list | tuple) else labels,
            "abstain": self.abstain,
            "schema": _encode_schema(self.schema),
            "prefix": self.prefix,
            "output": self.output,
            "model": self.model,
            "inputs_hash": self.inputs_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recipe:
        """The recipe :meth:`to_json` gave."""
        return cls(**{**data, "schema": _decode_schema(data.get("schema"))})


def _rows_hash(frame: pl.DataFrame) -> str:
    """A hash of the rows and the schema (equal frames, equal hashes)."""
    digest = xxhash.xxh3_128(repr(frame.schema).encode())
    hashes = frame.hash_rows(seed=0).to_arrow()  # UInt64, no nulls; numpy is not a dependency
    if isinstance(hashes, pa.ChunkedArray):
        hashes = hashes.combine_chunks()
    width = hashes.type.byte_width
    start = hashes.offset * width
    digest.update(memoryview(hashes.buffers()[1])[start : start + len(hashes) * width])
    return digest.hexdigest()


def _write_inputs(store: JobStore, frame: pl.DataFrame) -> None:
    """Save the input rows atomically (a temporary file, then a rename)."""
    target = store.path / INPUTS_FILE
    with writing(target):
        fd, tmp = tempfile.mkstemp(dir=store.path, prefix=f".{INPUTS_FILE}.", suffix=".tmp")
        os.close(fd)
        try:
            frame.lazy().sink_parquet(tmp, engine="streaming")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def remember(store: JobStore, recipe: Recipe | None) -> None:
    """Save ``recipe`` and its input rows in the job (hold the job's lock); a recipe and
    rows equal to the saved ones are not written again."""
    if recipe is None:
        return
    state = store.load()
    saved = state.recipe
    inputs = recipe.inputs
    if inputs is not None:
        digest = _rows_hash(inputs)
        recipe = replace(recipe, inputs_hash=digest)
        if not (saved and saved.get("inputs_hash") == digest and inputs_path(store).is_file()):
            _write_inputs(store, inputs)
    if saved != recipe.to_json():
        state.recipe = recipe.to_json()
        store.save_job(state)


def load_recipe(store: JobStore) -> Recipe | None:
    """The job's recipe, or None for a job made by ``submit`` or an older version."""
    saved = store.load().recipe
    return Recipe.from_json(saved) if saved else None


def inputs_path(store: JobStore) -> Path:
    """Where the job keeps the input rows of its ``run``."""
    return store.path / INPUTS_FILE


def resume_hint(path: Path, *, recipe: bool = False) -> str:
    """What to run to resume the job in ``path``: with a ``recipe``, what also writes
    ``run``'s output file.

    Examples
    --------
    >>> print(resume_hint(Path("jobs/j"), recipe=True))  # doctest: +NORMALIZE_WHITESPACE
    The job is saved in 'jobs/j'; nothing already accepted will be sent again. Resume with
    siraya_frames.Job.open('jobs/j').output() (the frame and file run() would have given)
    or `siraya-frames wait jobs/j`.
    """
    call = ".output() (the frame and file run() would have given)" if recipe else ".wait()"
    return (
        f"The job is saved in {str(path)!r}; nothing already accepted will be sent again. "
        f"Resume with siraya_frames.Job.open({str(path)!r}){call} "
        f"or `siraya-frames wait {path}`."
    )
