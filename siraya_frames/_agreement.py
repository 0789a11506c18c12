"""Compare two runs (two prompts, two models) on the same rows: agreement and Cohen's kappa.

Pure Polars. A row with no label (null) counts as its own category, ``(no label)``: two
runs that both fail on a row agree on it, and a run that fails where the other labels
disagrees with it. Definitions, over the ``n`` rows compared:

* ``rate`` (observed agreement ``p_o``): the share of rows with the same label;
* ``kappa`` (Cohen's): ``(p_o - p_e) / (1 - p_e)``, where ``p_e = sum_k a_k * b_k`` and
  ``a_k``, ``b_k`` are the shares of rows each run put in category ``k``. When
  ``p_e == 1`` (both runs gave one and the same label to every row) kappa is undefined:
  it is ``None`` (``rate`` is then 1);
* ``disagreements``: the rows that differ: ``row`` (the row's position, or the ``on``
  columns), ``a``, ``b`` (the two labels), then the input columns of ``a``.

Examples
--------
>>> import polars as pl
>>> a = pl.DataFrame({"text": ["x", "y", "z", "w"], "label": ["pos", "neg", "pos", None]})
>>> b = a.with_columns(label=pl.Series(["pos", "neg", "neg", None]))
>>> ag = agreement(a, b)
>>> ag.rate, round(ag.kappa, 4)
(0.75, 0.6364)
>>> ag.disagreements.rows()
[(2, 'pos', 'neg', 'z')]
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from siraya_frames._errors import InputError
from siraya_frames._evaluate import NO_LABEL, label_column
from siraya_frames._extract import PARSE_ERROR_COLUMN
from siraya_frames._join import ANSWER_COLUMNS
from siraya_frames._labels import LABEL_ERROR_COLUMN

__all__ = ["Agreement", "agreement"]

_ANSWERS = {*ANSWER_COLUMNS, "custom_id", LABEL_ERROR_COLUMN, PARSE_ERROR_COLUMN}
"""The columns a run adds (before its prefix): not input columns."""


@dataclass(frozen=True, eq=False)
class Agreement:
    """How two runs agree (see the module for each definition)."""

    n: int
    rate: float
    kappa: float | None
    disagreements: pl.DataFrame = field(repr=False)

    def _headline(self) -> str:
        kappa = "undefined (one label everywhere)" if self.kappa is None else f"{self.kappa:.3f}"
        return (
            f"{self.n:,} rows: agreement {self.rate:.1%}, Cohen's kappa {kappa}, "
            f"{self.disagreements.height:,} disagreements"
        )

    def __str__(self) -> str:
        return f"{self._headline()}\n{self.disagreements}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self._headline())}</p>{self.disagreements._repr_html_()}"


def cohen_kappa(a: pl.Series, b: pl.Series) -> tuple[float, float | None]:
    """(observed agreement, Cohen's kappa or None) of two String Series without nulls.

    Examples
    --------
    >>> cohen_kappa(pl.Series(["x", "x"]), pl.Series(["x", "x"]))
    (1.0, None)
    """
    n = a.len()
    observed = float((a == b).sum()) / n
    share_a = a.rename("k").value_counts(name="share_a")
    share_b = b.rename("k").value_counts(name="share_b")
    both = share_a.join(share_b, on="k", how="inner")
    expected = float((both["share_a"] * both["share_b"]).sum()) / (n * n)
    if expected >= 1.0 - 1e-12:
        return observed, None
    return observed, (observed - expected) / (1.0 - expected)


def _input_columns(frame: pl.DataFrame, label: str) -> list[str]:
    prefix = label.removesuffix("label")
    added = {f"{prefix}{c}" for c in _ANSWERS} | {label}
    return [c for c in frame.columns if c not in added]


def _aligned(
    a: pl.DataFrame, b: pl.DataFrame, col_a: str, col_b: str, on: Sequence[str] | None
) -> pl.DataFrame:
    """``row`` (or the ``on`` columns), ``a``, ``b``, then the input columns of ``a``."""
    inputs = [c for c in _input_columns(a, col_a) if c not in (on or ())]
    row = [pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")]
    left = a.select(
        *(on or row),
        pl.col(col_a).cast(pl.String).alias("a"),
        *inputs,
    )
    right = b.select(*(on or []), pl.col(col_b).cast(pl.String).alias("b"))
    if on:
        joined = left.join(right, on=list(on), how="inner", maintain_order="left")
        return joined.select(*on, "a", "b", *inputs)
    if a.height != b.height:
        raise InputError(
            f"the two runs have {a.height} and {b.height} rows; compare runs of the same rows, "
            "or pass on='id' (a column both have) to match rows by key"
        )
    return left.hstack([right["b"]]).select("row", "a", "b", *inputs)


def agreement(
    a: pl.DataFrame,
    b: pl.DataFrame,
    *,
    column: str | None = None,
    on: str | Sequence[str] | None = None,
) -> Agreement:
    """Compare the labels of two runs (or previews) of the same rows.

    Parameters
    ----------
    a, b
        The frames the two runs returned.
    column
        The label column of both (default: ``label``, or each frame's one
        ``<prefix>label``).
    on
        Key column(s) that match the rows of ``a`` and ``b`` (default: by position; the
        two frames must then have the same height).

    Returns
    -------
    Agreement
        ``n``, ``rate``, ``kappa`` and the ``disagreements`` frame (see the module).

    Raises
    ------
    InputError
        When no row is compared, or the heights differ without ``on``.

    Examples
    --------
    >>> a = pl.DataFrame({"id": [1, 2], "label": ["x", "y"]})
    >>> b = pl.DataFrame({"id": [2, 1], "label": ["y", "y"]})
    >>> agreement(a, b, on="id").disagreements.rows()
    [(1, 'x', 'y')]
    """
    keys = [on] if isinstance(on, str) else list(on) if on is not None else None
    col_a, col_b = label_column(a, column), label_column(b, column)
    pairs = _aligned(a, b, col_a, col_b, keys)
    if pairs.is_empty():
        raise InputError("no row to compare: the frames are empty, or no key of `on` matches")
    filled = pairs.with_columns(pl.col("a", "b").fill_null(NO_LABEL))
    rate, kappa = cohen_kappa(filled["a"], filled["b"])
    differ = filled.filter(pl.col("a") != pl.col("b"))
    return Agreement(n=pairs.height, rate=rate, kappa=kappa, disagreements=differ)
