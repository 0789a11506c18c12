"""Measure a run against a gold column: accuracy, coverage, per-label scores, confusion.

Pure Polars (no I/O, no scikit-learn). Two kinds of run:

* **Labels** (``run(labels=...)``): :func:`evaluate` compares the ``label`` column with a
  truth column, row by row. Definitions, all over the rows whose truth is not null (rows
  with a null truth are left out and counted in ``excluded``):

  - ``accuracy``: predicted label == truth, over all those rows; a row with no label
    (null: the answer was not exactly one label, or the request failed) counts as wrong;
  - ``coverage``: the share of rows that got a label, the abstain label excepted;
  - ``accuracy_labelled``: the accuracy over the covered rows only (what you get when
    you keep only the rows the model committed to);
  - ``per_label``: for each label (the abstain label too), ``precision`` = correct /
    predicted as it, ``recall`` = correct / truly it (``support``), ``f1`` their harmonic
    mean; null where a denominator is 0 (f1 is 0 when precision and recall both are);
  - ``confusion``: square: one row per label (abstain included; then any other truth
    value), one column per label in the same order, and a ``(no label)`` column for the
    rows with no label. Its counts add up to ``n``.

* **Extraction** (``run(schema=...)``): ``evaluate(out, truth={"name": "gold_name"})`` (or
  a truth frame, row-aligned, named like the fields) gives, per field, the exact-match
  ``accuracy`` (a null prediction is wrong; rows with a null truth are left out) and the
  share of those rows whose answer ``parsed`` (``parse_error`` null).

Examples
--------
>>> import polars as pl
>>> out = pl.DataFrame({"gold": ["pos", "pos", "neg", "neg"],
...                     "label": ["pos", None, "neg", "pos"]})
>>> ev = evaluate(out, truth="gold")
>>> ev.accuracy, ev.coverage, ev.accuracy_labelled
(0.5, 0.75, 0.6666666666666666)
>>> ev.confusion.rows()
[('pos', 1, 0, 1), ('neg', 1, 1, 0)]
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from siraya_frames._errors import ColumnNotFoundError, InputError
from siraya_frames._extract import PARSE_ERROR_COLUMN
from siraya_frames._labels import LABEL_COLUMN, LABEL_ERROR_COLUMN

__all__ = ["NO_LABEL", "ExtractionEvaluation", "LabelEvaluation", "evaluate", "label_column"]

NO_LABEL = "(no label)"
"""The confusion column (and agreement category) of rows that got no label."""
TRUTH = "truth"
"""The first column of the confusion frame: the truth value of each row of counts."""
_P, _T = "__pred", "__truth"


def label_column(frame: pl.DataFrame, label: str | None = None) -> str:
    """The label column of a run's frame: ``label``, else the one ``<prefix>label`` that
    has its ``<prefix>label_error`` beside it.

    Raises
    ------
    ColumnNotFoundError
        When there is none, or several; the message names the fix (``label=``).

    Examples
    --------
    >>> label_column(pl.DataFrame({"llm_label": ["a"], "llm_label_error": [None]}))
    'llm_label'
    """
    if label is not None:
        _need(frame, label, "label")
        return label
    if LABEL_COLUMN in frame.columns:
        return LABEL_COLUMN
    found = [
        c
        for c in frame.columns
        if c.endswith(LABEL_COLUMN) and c.removesuffix(LABEL_COLUMN) + LABEL_ERROR_COLUMN in frame
    ]
    if len(found) == 1:
        return found[0]
    which = f"several ({', '.join(found)})" if found else "none"
    raise ColumnNotFoundError(
        f"no single label column found ({which}) among {frame.columns}; pass label='...'"
    )


def _need(frame: pl.DataFrame, column: str, what: str) -> None:
    if column not in frame.columns:
        raise ColumnNotFoundError(
            f"{what} column {column!r} not found; columns are: {', '.join(frame.columns)}"
        )


def _ratio(num: int | float, den: int | float) -> float | None:
    return num / den if den else None


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True, eq=False)
class LabelEvaluation:
    """How a label column compares with the truth (see the module for each definition)."""

    n: int
    """Rows with a truth (the denominator of ``accuracy`` and ``coverage``)."""
    excluded: int
    """Rows left out because their truth is null."""
    accuracy: float | None
    coverage: float | None
    accuracy_labelled: float | None
    per_label: pl.DataFrame = field(repr=False)
    confusion: pl.DataFrame = field(repr=False)
    abstain: str | None = None

    @property
    def macro_f1(self) -> float | None:
        """The mean F1 over the labels that occur in the truth (support > 0)."""
        scored = self.per_label.filter(pl.col("support") > 0)["f1"].fill_null(0.0)
        return float(scored.mean()) if scored.len() else None  # type: ignore[arg-type]

    def _headline(self) -> str:
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1%}"

        left = f"; {self.excluded:,} rows with no truth left out" if self.excluded else ""
        return (
            f"{self.n:,} rows: accuracy {pct(self.accuracy)}, coverage {pct(self.coverage)}, "
            f"accuracy on labelled rows {pct(self.accuracy_labelled)}{left}"
        )

    def __str__(self) -> str:
        return f"{self._headline()}\n{self.per_label}\n{self.confusion}"

    def _repr_html_(self) -> str:
        return (
            f"<p>{html.escape(self._headline())}</p>"
            f"{self.per_label._repr_html_()}{self.confusion._repr_html_()}"
        )


def _label_order(pred: pl.Series, truth: pl.Series, labels: Sequence[str] | None) -> list[str]:
    """The labels in order: ``labels``, else the Enum's categories, else first seen."""
    if labels is not None:
        order = list(labels)
    elif isinstance(pred.dtype, pl.Enum):
        order = pred.dtype.categories.to_list()
    else:
        order = []
    seen = pl.concat([pred.cast(pl.String), truth.cast(pl.String)]).drop_nulls()
    return order + [v for v in seen.unique(maintain_order=True).to_list() if v not in order]


def _per_label(pairs: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    rows = []
    for name in order:
        support = int((pairs[_T] == name).sum())
        predicted = int((pairs[_P] == name).fill_null(False).sum())
        correct = int(((pairs[_P] == name) & (pairs[_T] == name)).fill_null(False).sum())
        precision, recall = _ratio(correct, predicted), _ratio(correct, support)
        f1 = None
        if precision is not None and recall is not None:
            f1 = _ratio(2 * precision * recall, precision + recall) or 0.0
        rows.append((name, precision, recall, f1, support))
    schema = {"label": pl.String, "precision": pl.Float64, "recall": pl.Float64,
              "f1": pl.Float64, "support": pl.Int64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def _confusion(pairs: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    truths = order
    columns: dict[str, Any] = {TRUTH: truths}
    for name in [*order, NO_LABEL]:
        hit = pairs[_P].is_null() if name == NO_LABEL else (pairs[_P] == name).fill_null(False)
        columns[name] = [int((hit & (pairs[_T] == t)).sum()) for t in truths]
    schema = {TRUTH: pl.String, **{k: pl.Int64 for k in columns if k != TRUTH}}
    return pl.DataFrame(columns, schema=schema)


def _evaluate_labels(
    out: pl.DataFrame,
    truth: str,
    label: str | None,
    labels: Sequence[str] | None,
    abstain: str | None,
) -> LabelEvaluation:
    _need(out, truth, "truth")
    column = label_column(out, label)
    pred, gold = out[column], out[truth]
    order = _label_order(pred, gold, labels)
    pairs = pl.DataFrame({_P: pred.cast(pl.String), _T: gold.cast(pl.String)})
    kept = pairs.filter(pl.col(_T).is_not_null())
    n = kept.height
    correct = int((kept[_P] == kept[_T]).fill_null(False).sum())
    covered = kept.filter(pl.col(_P).is_not_null() & (pl.col(_P) != (abstain or "")))
    covered_correct = int((covered[_P] == covered[_T]).sum())
    return LabelEvaluation(
        n=n,
        excluded=pairs.height - n,
        accuracy=_ratio(correct, n),
        coverage=_ratio(covered.height, n),
        accuracy_labelled=_ratio(covered_correct, covered.height),
        per_label=_per_label(kept, order),
        confusion=_confusion(kept, order),
        abstain=abstain,
    )


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True, eq=False)
class ExtractionEvaluation:
    """How extracted fields compare with the truth, field by field."""

    n: int
    """Rows of the run."""
    parsed: float | None
    """The share of rows whose answer parsed (``parse_error`` null, an answer present)."""
    per_field: pl.DataFrame = field(repr=False)
    """``field``, ``n`` (rows with a truth), ``correct``, ``accuracy``, ``parsed``."""

    def __str__(self) -> str:
        share = "n/a" if self.parsed is None else f"{self.parsed:.1%}"
        return f"{self.n:,} rows, {share} parsed\n{self.per_field}"

    def _repr_html_(self) -> str:
        share = "n/a" if self.parsed is None else f"{self.parsed:.1%}"
        return f"<p>{self.n:,} rows, {share} parsed</p>{self.per_field._repr_html_()}"


def _parsed_mask(out: pl.DataFrame, prefix: str) -> pl.Series:
    error = f"{prefix}{PARSE_ERROR_COLUMN}"
    _need(out, error, "parse_error")
    mask = out[error].is_null()
    if f"{prefix}response_text" in out.columns:
        mask = mask & out[f"{prefix}response_text"].is_not_null()
    return mask


def _truth_pairs(out: pl.DataFrame, truth: Mapping[str, str] | pl.DataFrame) -> list[tuple]:
    """(field, predicted Series, truth Series) for each field given a truth."""
    if isinstance(truth, pl.DataFrame):
        if truth.height != out.height:
            raise InputError(
                f"the truth frame has {truth.height} rows and the run {out.height}; give one "
                "truth row per row of the run, in the same order"
            )
        return [(name, out[name], truth[name]) for name in truth.columns if _field(out, name)]
    return [(name, out[name], out[gold]) for name, gold in truth.items() if _field(out, name, gold)]


def _field(out: pl.DataFrame, name: str, gold: str | None = None) -> bool:
    _need(out, name, "field")
    if gold is not None:
        _need(out, gold, "truth")
    return True


def _matches(name: str, pred: pl.Series, gold: pl.Series) -> pl.Series:
    try:
        gold = gold.cast(pred.dtype)
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"the truth of field {name!r} ({gold.dtype}) cannot be read as {pred.dtype}: "
            f"{exc}; give a truth column of the field's type"
        ) from None
    return (pred == gold).fill_null(False)


def _evaluate_fields(
    out: pl.DataFrame, truth: Mapping[str, str] | pl.DataFrame, prefix: str
) -> ExtractionEvaluation:
    parsed = _parsed_mask(out, prefix)
    rows = []
    for name, pred, gold in _truth_pairs(out, truth):
        known = gold.is_not_null()
        hits = _matches(name, pred, gold).filter(known)
        n = int(known.sum())
        rows.append((name, n, int(hits.sum()), _ratio(int(hits.sum()), n),
                     _ratio(int(parsed.filter(known).sum()), n)))  # fmt: skip
    schema = {"field": pl.String, "n": pl.Int64, "correct": pl.Int64,
              "accuracy": pl.Float64, "parsed": pl.Float64}  # fmt: skip
    per_field = pl.DataFrame(rows, schema=schema, orient="row")
    return ExtractionEvaluation(out.height, _ratio(int(parsed.sum()), out.height), per_field)


# --------------------------------------------------------------------------- entry point


def evaluate(
    out: pl.DataFrame,
    truth: str | Mapping[str, str] | pl.DataFrame = "gold",
    *,
    label: str | None = None,
    labels: Sequence[str] | None = None,
    abstain: str | None = None,
    prefix: str = "",
) -> LabelEvaluation | ExtractionEvaluation:
    """Compare a run's answers with the truth.

    Parameters
    ----------
    out
        The frame :func:`run` returned (labels or extraction).
    truth
        Labels: the name of the truth column of ``out`` (default ``"gold"``). Extraction:
        a dict ``field -> truth column of out``, or a frame of truth columns named like the
        fields, one row per row of ``out``.
    label
        The label column (default: ``label``, or the one ``<prefix>label``).
    labels
        The label order of the tables (default: the label column's ``Enum`` order, then any
        other value in order of appearance).
    abstain
        The abstain label of the run: its rows count as not covered.
    prefix
        Extraction: the ``prefix`` the run's columns were given (for ``parse_error``).

    Returns
    -------
    LabelEvaluation or ExtractionEvaluation
        See the module for every definition.

    Raises
    ------
    ColumnNotFoundError
        When a named column is not in ``out``.

    Examples
    --------
    >>> out = pl.DataFrame({"gold": ["a", "b", None], "label": ["a", "a", "b"]})
    >>> ev = evaluate(out, "gold")
    >>> ev.n, ev.excluded, ev.accuracy
    (2, 1, 0.5)
    >>> ev.per_label.rows()
    [('a', 0.5, 1.0, 0.6666666666666666, 1), ('b', None, 0.0, None, 1)]
    >>> fields = pl.DataFrame({"year": [1965, None], "parse_error": [None, "bad JSON"],
    ...                        "gold_year": [1965, 1990]})
    >>> evaluate(fields, {"year": "gold_year"}).per_field.rows()
    [('year', 2, 1, 0.5, 0.5)]
    """
    if not isinstance(out, pl.DataFrame):
        raise InputError(f"out must be a polars DataFrame (run's result), got {type(out).__name__}")
    if isinstance(truth, str):
        return _evaluate_labels(out, truth, label, labels, abstain)
    if isinstance(truth, Mapping | pl.DataFrame):
        return _evaluate_fields(out, truth, prefix)
    raise InputError(
        "truth must be a column name (labels), or a dict field -> column or a frame "
        f"(extraction); got {type(truth).__name__}"
    )
