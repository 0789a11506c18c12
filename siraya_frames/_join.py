"""Results back onto the original rows: same rows, same order, answers alongside.

The requests frame (``build_requests``) holds the input rows, their ``custom_id`` (null for a
row skipped at build time) and the ``params`` sent. :func:`join_results` keeps the input
columns and ``custom_id``, drops ``params`` (it is in the job directory, and a user wants
their columns plus the answers), and adds one column per answer field. The choices made:

* a ``custom_id`` shared by several rows (identical requests were sent once) fans its answer
  out to every one of them;
* a row skipped at build time gets ``result_status = "skipped"`` and nulls;
* a row whose ``custom_id`` has no result gets ``result_status = "missing"``;
* a result whose ``custom_id`` is not in the requests is dropped, with a warning giving the
  count;
* several results for one ``custom_id`` keep one: the succeeded one, else the last.

Examples
--------
>>> import polars as pl
>>> requests = pl.DataFrame({"review": ["good", "bad"], "custom_id": ["a", "b"]})
>>> results = pl.DataFrame({"custom_id": ["a"], "result_status": ["succeeded"],
...                         "response_text": ["positive"]})
>>> join_results(requests, results).select("review", "response_text", "result_status").rows()
[('good', 'positive', 'succeeded'), ('bad', None, 'missing')]
"""

from __future__ import annotations

import logging
import warnings

import polars as pl

from siraya_frames._errors import ColumnNotFoundError, InputError
from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, keep_best

__all__ = ["ANSWER_COLUMNS", "join_results"]

logger = logging.getLogger("siraya_frames")

_ANSWER_ORDER = ("response_text", "tool_calls", "result_status", "stop_reason", "input_tokens",
                 "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                 "error_type", "error_message")  # fmt: skip
ANSWER_COLUMNS: dict[str, pl.DataType] = {
    **{name: RESULT_SCHEMA[name] for name in _ANSWER_ORDER},
    "batch_id": pl.String(),
}
"""The columns :func:`join_results` adds (before ``prefix``), in order."""

_DROPPED = ("params",)
_ROW = "__siraya_row"
_KEY = "__siraya_key"
_ANSWER_ID = "__siraya_answer_id"


def _collect(frame: pl.DataFrame | pl.LazyFrame, name: str) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame.collect(engine="streaming")
    if isinstance(frame, pl.DataFrame):
        return frame
    raise InputError(f"{name} must be a Polars DataFrame or LazyFrame, not {type(frame).__name__}")


def _check_columns(frame: pl.DataFrame, needed: list[str], name: str) -> None:
    for column in needed:
        if column not in frame.columns:
            raise ColumnNotFoundError(
                f"column {column!r} not found in {name}; columns are: {', '.join(frame.columns)}"
            )


def _answers(results: pl.DataFrame) -> pl.DataFrame:
    """The results as one row per ``custom_id`` with exactly the answer columns."""
    _check_columns(results, ["custom_id", "result_status"], "results")
    columns = [
        pl.col(name).cast(dtype) if name in results.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in {"custom_id": pl.String(), **ANSWER_COLUMNS}.items()
    ]
    answers = results.select(columns)
    if answers["custom_id"].null_count():
        answers = answers.filter(pl.col("custom_id").is_not_null())
    return keep_best(answers.with_row_index(_ROW), _ROW).drop(_ROW)


def _output_names(requests: pl.DataFrame, prefix: str) -> dict[str, str]:
    names = {name: f"{prefix}{name}" for name in ANSWER_COLUMNS}
    taken = set(requests.columns) - set(_DROPPED)
    for name in names.values():
        if name in taken:
            raise InputError(
                f"the requests frame already has a column {name!r}; pass prefix= (for "
                f'example prefix="llm_") to name the answer columns apart'
            )
    return names


def _warn_unknown(unknown: int) -> None:
    if unknown:
        message = (
            f"{unknown} result(s) have a custom_id that is not in the requests frame; "
            "they were dropped (results of another frame or job?)"
        )
        logger.warning("%s", message)
        warnings.warn(message, ResultsWarning, stacklevel=3)


def _key(column: str) -> pl.Expr:
    """A 64-bit hash of the id as the join key: several times faster than the strings."""
    return pl.when(pl.col(column).is_not_null()).then(pl.col(column).hash()).alias(_KEY)


def _left_join(frame: pl.DataFrame, answers: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``frame`` with its answers, in its order; and how many answers found no row.

    The join is on a hash of the id, then checked on the id itself: a row whose hash
    matched another id's (a collision) gets no answer. If two answers' hashes collide, the
    strings are joined instead.
    """
    answers = answers.with_columns(_key("custom_id")).with_row_index(_ROW)
    if answers[_KEY].n_unique() < answers.height:
        joined = frame.join(answers.drop(_KEY), on="custom_id", how="left", maintain_order="left")
    else:
        answers = answers.rename({"custom_id": _ANSWER_ID})
        joined = frame.with_columns(_key("custom_id"))
        joined = joined.join(answers, on=_KEY, how="left", maintain_order="left").drop(_KEY)
        wrong = pl.col(_ANSWER_ID) != pl.col("custom_id")
        if joined.select(wrong.any()).item():
            columns = [c for c in answers.columns if c != _KEY]
            joined = joined.with_columns(pl.when(~wrong).then(pl.col(columns)).name.keep())
        joined = joined.drop(_ANSWER_ID)
    matched = joined[_ROW].drop_nulls().n_unique()
    return joined.drop(_ROW), answers.height - matched


def join_results(
    requests: pl.DataFrame | pl.LazyFrame,
    results: pl.DataFrame | pl.LazyFrame,
    *,
    prefix: str = "",
) -> pl.DataFrame:
    """Put each result next to the row (or rows) it answers, keeping order and height.

    Parameters
    ----------
    requests
        The frame ``build_requests`` gave: the input rows, ``custom_id`` (String, null for a
        skipped row) and ``params``. A LazyFrame is collected.
    results
        A normalised results frame (:data:`~siraya_frames._results.RESULT_SCHEMA`, as
        :func:`~siraya_frames._results.read_results` gives), optionally with ``batch_id``
        and with ``result_status = "missing"`` rows. Only ``custom_id`` and
        ``result_status`` are required; other absent answer columns are null.
    prefix
        Put before the name of every added column (``prefix="llm_"`` gives
        ``llm_response_text``...), to keep them apart from the input columns.

    Returns
    -------
    polars.DataFrame
        The requests rows in their order, without ``params``, plus ``response_text``,
        ``tool_calls``, ``result_status``, ``stop_reason``, ``input_tokens``,
        ``output_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``,
        ``error_type``, ``error_message`` and ``batch_id`` (each with ``prefix``).
        ``result_status`` is ``"skipped"`` for a row with a null ``custom_id`` and
        ``"missing"`` for one whose id has no result.

    Raises
    ------
    ColumnNotFoundError
        If ``requests`` has no ``custom_id`` or ``results`` no ``custom_id`` /
        ``result_status``.
    InputError
        If an added column would take the name of an input column; the message says to pass
        ``prefix=``.

    Warns
    -----
    ResultsWarning
        When results whose ``custom_id`` is not in ``requests`` were dropped.

    Examples
    --------
    >>> import polars as pl
    >>> requests = pl.DataFrame(
    ...     {"text": ["hi", "hi", None], "custom_id": ["a", "a", None], "params": [{}, {}, None]}
    ... )
    >>> results = pl.DataFrame(
    ...     {"custom_id": ["a"], "result_status": ["succeeded"], "response_text": ["hello"]}
    ... )
    >>> joined = join_results(requests, results, prefix="llm_")
    >>> joined.select("text", "llm_response_text", "llm_result_status").rows()
    [('hi', 'hello', 'succeeded'), ('hi', 'hello', 'succeeded'), (None, None, 'skipped')]
    """
    frame = _collect(requests, "requests")
    _check_columns(frame, ["custom_id"], "requests")
    names = _output_names(frame, prefix)
    answers = _answers(_collect(results, "results"))
    frame = frame.drop(_DROPPED, strict=False).with_columns(pl.col("custom_id").cast(pl.String))
    joined, unknown = _left_join(frame, answers.rename(names))
    _warn_unknown(unknown)
    status = names["result_status"]
    return joined.with_columns(
        pl.when(pl.col("custom_id").is_null())
        .then(pl.lit("skipped"))
        .otherwise(pl.col(status).fill_null("missing"))
        .alias(status)
    )
