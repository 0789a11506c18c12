"""Pictures of an evaluation: a confusion-matrix heatmap and a label-distribution chart.

Drawn with Polars' ``DataFrame.plot`` (Altair), which is the optional ``plot`` extra
(``pip install "siraya-frames[plot]"``); Altair is imported only when a chart is asked
for. Each function returns an ``altair.Chart``: displayed as is in a notebook, saved with
``chart.save("chart.html")``.

Examples
--------
>>> import polars as pl
>>> from siraya_frames._evaluate import evaluate
>>> out = pl.DataFrame({"gold": ["a", "b", "b"], "label": ["a", "b", None]})
>>> chart = plot_confusion(evaluate(out, "gold"))
>>> chart.mark.type
'rect'
>>> plot_labels(out, truth="gold").data.rows()
[('a', 'run', 1), ('b', 'run', 1), ('(no label)', 'run', 1), ('a', 'truth', 1), ('b', 'truth', 2)]
"""

from __future__ import annotations

from typing import Any

import polars as pl

from siraya_frames._errors import ConfigurationError, InputError
from siraya_frames._evaluate import NO_LABEL, TRUTH, LabelEvaluation, label_column

__all__ = ["plot_confusion", "plot_labels"]


def _altair() -> Any:
    """The ``altair`` module, or a clear error naming the extra to install."""
    try:
        import altair
    except ImportError:
        raise ConfigurationError(
            'the charts need Altair, the "plot" extra: pip install "siraya-frames[plot]" '
            '(or pip install "altair>=5")'
        ) from None
    return altair


def plot_confusion(evaluation: LabelEvaluation, *, title: str | None = None) -> Any:
    """A heatmap of the confusion matrix: truth down, predicted across, count as colour.

    The ``(no label)`` column counts the rows that got no label; the abstain label has
    its own column.

    Parameters
    ----------
    evaluation
        What :func:`evaluate` returned for a label run.
    title
        The chart's title (default: the accuracy and coverage).

    Returns
    -------
    altair.Chart
        Its data: ``truth``, ``predicted``, ``count`` (one row per cell).

    Raises
    ------
    ConfigurationError
        When Altair is not installed (the message names ``siraya-frames[plot]``).

    Examples
    --------
    >>> from siraya_frames._evaluate import evaluate
    >>> ev = evaluate(pl.DataFrame({"gold": ["a", "b"], "label": ["a", "a"]}), "gold")
    >>> plot_confusion(ev).data.rows()[:2]
    [('a', 'a', 1), ('b', 'a', 1)]
    """
    alt = _altair()
    if not isinstance(evaluation, LabelEvaluation):
        raise InputError(
            "plot_confusion takes the result of evaluate(...) on a label run, got "
            f"{type(evaluation).__name__}"
        )
    confusion = evaluation.confusion
    predicted = [c for c in confusion.columns if c != TRUTH]
    cells = confusion.unpivot(
        index=TRUTH, on=predicted, variable_name="predicted", value_name="count"
    )
    accuracy = "n/a" if evaluation.accuracy is None else f"{evaluation.accuracy:.1%}"
    coverage = "n/a" if evaluation.coverage is None else f"{evaluation.coverage:.1%}"
    chart = cells.plot.rect(
        x=alt.X("predicted:N", sort=predicted, title="predicted"),
        y=alt.Y(f"{TRUTH}:N", sort=confusion[TRUTH].to_list(), title="truth"),
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")),
        tooltip=[TRUTH, "predicted", "count"],
    )
    return chart.properties(title=title or f"accuracy {accuracy}, coverage {coverage}")


def plot_labels(
    out: pl.DataFrame,
    *,
    label: str | None = None,
    truth: str | None = None,
    title: str = "labels",
) -> Any:
    """A bar chart of how many rows got each label (``(no label)`` included), beside the
    truth's counts when ``truth`` names a column.

    Parameters
    ----------
    out
        The frame a label run returned.
    label
        The label column (default: ``label``, or the one ``<prefix>label``).
    truth
        A truth column to show beside the run (e.g. ``"gold"``).
    title
        The chart's title.

    Returns
    -------
    altair.Chart
        Its data: ``label``, ``source`` (``run`` or ``truth``), ``count``.

    Examples
    --------
    >>> plot_labels(pl.DataFrame({"label": ["x", "x", None]})).data.rows()
    [('x', 'run', 2), ('(no label)', 'run', 1)]
    """
    alt = _altair()
    column = label_column(out, label)
    counts = [_counts(out[column], "run")]
    if truth is not None:
        if truth not in out.columns:
            raise InputError(f"truth column {truth!r} not found; columns are: {out.columns}")
        counts.append(_counts(out[truth], "truth"))
    data = pl.concat(counts)
    order = data["label"].unique(maintain_order=True).to_list()
    chart = data.plot.bar(
        x=alt.X("label:N", sort=order, title="label"),
        y=alt.Y("count:Q", title="rows"),
        color="source:N",
        xOffset="source:N",
        tooltip=["label", "source", "count"],
    )
    return chart.properties(title=title)


def _counts(values: pl.Series, source: str) -> pl.DataFrame:
    """``label``, ``source``, ``count``: in the Enum's order (else first seen), nulls last."""
    text = values.cast(pl.String).fill_null(NO_LABEL).rename("label")
    order = values.dtype.categories.to_list() if isinstance(values.dtype, pl.Enum) else []
    seen = text.unique(maintain_order=True).to_list()
    names = [n for n in order if n in seen] + [n for n in seen if n not in order]
    names = [n for n in names if n != NO_LABEL] + ([NO_LABEL] if NO_LABEL in seen else [])
    counts = text.value_counts(name="count")
    frame = pl.DataFrame({"label": names}).join(counts, on="label", how="left")
    return frame.select("label", pl.lit(source).alias("source"), pl.col("count").cast(pl.Int64))
