"""Labels: the instructions sent with each row, and the answers matched back to one label.

Pure (no I/O). Extraction into typed fields lives in ``_extract.py``.

* **Labels** — ``labels=["positive", "negative"]`` (or ``{label: description}``). The
  instructions list the labels; each answer is normalised (case, whitespace, quotes, markdown
  emphasis, trailing punctuation, a leading ``Label:`` / ``Answer:`` prefix) and must then be
  *exactly* one label. Anything else gives a null ``label`` and a ``label_error`` quoting the
  answer: chatter around a label ("The sentiment is positive.") is never guessed from.
A null answer (a request that errored or is missing) gives nulls and no error: the request's
own error columns already explain it.

Examples
--------
>>> import polars as pl
>>> parse_labels(pl.Series(["**Positive**", "meh"]), ["positive", "negative"]).rows()
[('positive', None), (None, "no label in answer: 'meh'")]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from siraya_frames._errors import InputError

__all__ = ["LABEL_COLUMN", "LABEL_ERROR_COLUMN", "label_instructions", "parse_labels"]

LABEL_COLUMN = "label"
LABEL_ERROR_COLUMN = "label_error"

_SHOWN_CHARS = 200
"""Characters of a raw answer quoted in an error message (longer answers are cut, with …)."""

# --------------------------------------------------------------------------------------------
# Label normalisation (vectorised; the same expression normalises the labels themselves)
# --------------------------------------------------------------------------------------------

_WRAPPERS = "\"'`“”‘’„«»*_~"
"""Quotes (straight, curly, guillemets), backticks and markdown emphasis around an answer."""
_TRAILING = ".,;:!?"
_LEAD_RE = rf"^[\s{re.escape(_WRAPPERS)}]+"
_TRAIL_RE = rf"[\s{re.escape(_WRAPPERS + _TRAILING)}]+$"
_PREFIX_RE = (
    r"(?i)^(?:final\s+answer|answer|label|category|classification|class)"
    rf"[\s*_]*[:=\-–—][\s{re.escape(_WRAPPERS)}]*"
)


def _normalize_expr(text: pl.Expr) -> pl.Expr:
    """Strip what surrounds a label, then fold case and inner whitespace."""
    stripped = text.str.replace_all(f"{_LEAD_RE}|{_TRAIL_RE}", "")
    return stripped.str.replace(_PREFIX_RE, "").str.replace_all(r"\s+", " ").str.to_lowercase()


def _normalize_texts(texts: Sequence[str]) -> list[str]:
    series = pl.Series(values=list(texts), dtype=pl.String)
    return series.to_frame("t").select(_normalize_expr(pl.col("t"))).to_series().to_list()


# --------------------------------------------------------------------------------------------
# The label set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LabelSet:
    """Validated labels: the allowed values in ``Enum`` order (abstain last)."""

    labels: tuple[str, ...]
    normalized: tuple[str, ...]
    descriptions: tuple[str | None, ...]
    abstain: str | None

    @property
    def dtype(self) -> pl.Enum:
        return pl.Enum(list(self.labels))


def _label_items(labels: Any) -> list[tuple[str, str | None]]:
    """``labels`` as (label, description) pairs, types checked."""
    if isinstance(labels, str) or not isinstance(labels, Sequence | Mapping):
        raise InputError(
            f"labels must be a list of strings or a dict label -> description, "
            f"got {type(labels).__name__}: {labels!r}"
        )
    items: list[tuple[str, str | None]] = (
        list(labels.items()) if isinstance(labels, Mapping) else [(x, None) for x in labels]
    )
    if not items:
        raise InputError("labels is empty; pass at least one label, e.g. ['yes', 'no']")
    for label, description in items:
        if not isinstance(label, str):
            raise InputError(f"label {label!r} is not a string")
        if description is not None and not isinstance(description, str):
            raise InputError(f"description of label {label!r} is not a string: {description!r}")
    return items


def _check_label_text(label: str, normalized: str, what: str) -> None:
    if not normalized:
        raise InputError(f"{what} {label!r} is empty once normalised; use a word")
    if "\n" in label or "\r" in label:
        raise InputError(f"{what} {label!r} spans several lines; use a single line")


def _label_set(labels: Any, abstain: str | None) -> _LabelSet:
    """Validate ``labels`` and ``abstain``; raise :class:`InputError` naming the culprit."""
    items = _label_items(labels)
    if abstain is not None:
        if not isinstance(abstain, str):
            raise InputError(f"abstain must be a string or None, got {abstain!r}")
        items.append((abstain, None))
    names = [label for label, _ in items]
    normalized = _normalize_texts(names)
    seen: dict[str, str] = {}
    for index, (label, norm) in enumerate(zip(names, normalized, strict=True)):
        what = "abstain label" if abstain is not None and index == len(names) - 1 else "label"
        _check_label_text(label, norm, what)
        if norm in seen:
            raise InputError(
                f"{what} {label!r} duplicates label {seen[norm]!r} (both read as {norm!r} "
                "once case, spaces, quotes and punctuation are ignored); make them distinct"
            )
        seen[norm] = label
    return _LabelSet(
        labels=tuple(names),
        normalized=tuple(normalized),
        descriptions=tuple(description for _, description in items),
        abstain=abstain,
    )


# --------------------------------------------------------------------------------------------
# Labels: instructions and parsing
# --------------------------------------------------------------------------------------------


def label_instructions(
    labels: Sequence[str] | Mapping[str, str], *, abstain: str | None = None
) -> str:
    """Return the instructions that make a model answer with exactly one label.

    Parameters
    ----------
    labels
        The allowed labels, or a dict ``label -> description``.
    abstain
        An extra label the model answers when none applies (e.g. ``"unknown"``).

    Returns
    -------
    str
        Deterministic text, to append to the user's prompt or to send as the system prompt.

    Raises
    ------
    InputError
        When a label is empty, spans lines, or equals another once normalised.

    Examples
    --------
    >>> print(label_instructions({"spam": "unsolicited ads", "ham": "anything else"}))
    Answer with exactly one of these labels:
    - spam: unsolicited ads
    - ham: anything else
    Reply with the label only, written exactly as above: no other words, no explanation.
    """
    spec = _label_set(labels, abstain)
    lines = ["Answer with exactly one of these labels:"]
    for label, description in zip(spec.labels, spec.descriptions, strict=True):
        if label == spec.abstain:
            continue
        text = " ".join(description.split()) if description else ""
        lines.append(f"- {label}: {text}" if text else f"- {label}")
    if spec.abstain is not None:
        lines.append(f"If none applies, answer {spec.abstain}.")
    lines.append(
        "Reply with the label only, written exactly as above: no other words, no explanation."
    )
    return "\n".join(lines)


def _word_pattern(normalized_label: str) -> str:
    """A regex finding the label as whole words in a normalised answer (``_`` separates words,
    as in ``_positive_``); valid for both Python's ``re`` and Polars' Rust engine."""
    return rf"(?:^|[\W_]){re.escape(normalized_label)}(?:[\W_]|$)"


def _longer_labels(spec: _LabelSet) -> list[list[int]]:
    """Per label, the other labels that contain it as whole words ("pos" in "very pos")."""
    return [
        [
            j
            for j, other in enumerate(spec.normalized)
            if j != i and re.search(_word_pattern(label), other)
        ]
        for i, label in enumerate(spec.normalized)
    ]


def _found_columns(frame: pl.DataFrame, spec: _LabelSet) -> pl.DataFrame:
    """Per label, a Boolean column: the normalised answer mentions it as whole words, outside
    any longer label that contains it ("positive" is not mentioned by "very positive")."""
    norm = pl.col("norm")
    columns = []
    for i, (label, longer) in enumerate(zip(spec.normalized, _longer_labels(spec), strict=True)):
        text = norm
        if longer:
            others = sorted((spec.normalized[j] for j in longer), key=len, reverse=True)
            text = norm.str.replace_all("|".join(re.escape(o) for o in others), " \x00 ")
        columns.append(text.str.contains(_word_pattern(label)).alias(f"found_{i}"))
    return frame.select(columns)


def _quoted(raw: pl.Expr) -> pl.Expr:
    """``'raw answer'``, cut at :data:`_SHOWN_CHARS` characters."""
    cut = pl.when(raw.str.len_chars() > _SHOWN_CHARS).then(pl.lit("…")).otherwise(pl.lit(""))
    return pl.concat_str([pl.lit("'"), raw.str.slice(0, _SHOWN_CHARS), cut, pl.lit("'")])


def _reason(found: list[pl.Expr], spec: _LabelSet) -> pl.Expr:
    """Why an answer is not a label: empty, no label, text around one, several."""
    count = pl.sum_horizontal([f.cast(pl.UInt32) for f in found])
    which = pl.coalesce(
        [pl.when(f).then(pl.lit(label)) for f, label in zip(found, spec.labels, strict=True)]
    )
    several = (
        pl.when(count == 2)
        .then(pl.lit("two"))
        .when(count == 3)
        .then(pl.lit("three"))
        .otherwise(count.cast(pl.String))
    )
    return (
        pl.when(pl.col("norm") == "")
        .then(pl.lit("empty answer"))
        .when(count == 0)
        .then(pl.lit("no label in answer"))
        .when(count == 1)
        .then(pl.format("text around label '{}' in answer", which))
        .otherwise(pl.format("{} labels in answer", several))
    )


def _label_errors(failed: pl.DataFrame, spec: _LabelSet) -> pl.Series:
    """The ``label_error`` of each answer that is not a label (columns ``raw``, ``norm``)."""
    found = _found_columns(failed, spec)
    frame = failed.hstack(found)
    found_cols = [pl.col(name) for name in found.columns]
    message = pl.format("{}: {}", _reason(found_cols, spec), _quoted(pl.col("raw")))
    return frame.select(message.alias(LABEL_ERROR_COLUMN)).to_series()


def _answers_series(answers: Any) -> pl.Series:
    """The answers as a String Series (an all-null Series of any dtype is accepted)."""
    if isinstance(answers, pl.Series):
        if answers.dtype == pl.String:
            return answers
        if answers.dtype == pl.Null:
            return answers.cast(pl.String)
        raise InputError(f"answers must be a String Series, got dtype {answers.dtype}")
    if isinstance(answers, str) or not isinstance(answers, Sequence):
        raise InputError(
            "answers must be a polars String Series or a list of str/None, "
            f"got {type(answers).__name__}"
        )
    bad = next((a for a in answers if a is not None and not isinstance(a, str)), None)
    if bad is not None:
        raise InputError(f"answers must be str or None, got {type(bad).__name__}: {bad!r}")
    return pl.Series("answer", list(answers), dtype=pl.String)


def parse_labels(
    answers: pl.Series | Sequence[str | None],
    labels: Sequence[str] | Mapping[str, str],
    *,
    abstain: str | None = None,
) -> pl.DataFrame:
    """Match each answer to exactly one label.

    An answer is normalised first: case, surrounding and repeated whitespace, straight and
    curly quotes, backticks, markdown emphasis (``**x**``, ``_x_``), trailing ``.,;:!?``, and
    a leading ``Label:`` / ``label -`` / ``Answer:`` / ``Category:`` prefix. What remains must
    equal one label (normalised the same way). Otherwise ``label`` is null and
    ``label_error`` says why and quotes the answer: ``"empty answer: ''"``,
    ``"no label in answer: '...'"``, ``"text around label 'positive' in answer: '...'"``
    (chatter is never guessed from), ``"two labels in answer: '...'"``.

    Parameters
    ----------
    answers
        The model's answers (a String Series, or a list of str / None). A null answer (a
        request that errored or is missing) gives a null label and a null error.
    labels
        The allowed labels, or a dict ``label -> description``.
    abstain
        An extra allowed label, for "none applies" (see :func:`label_instructions`).

    Returns
    -------
    pl.DataFrame
        ``label`` (``pl.Enum([*labels, abstain])``) and ``label_error`` (String), one row per
        answer, in order.

    Raises
    ------
    InputError
        When the labels are invalid or the answers are not strings.

    Examples
    --------
    >>> out = parse_labels(["  'Negative'. ", "Unknown", None], ["positive", "negative"],
    ...                    abstain="unknown")
    >>> out.rows()
    [('negative', None), ('unknown', None), (None, None)]
    >>> out.schema["label"]
    Enum(categories=['positive', 'negative', 'unknown'])
    """
    spec = _label_set(labels, abstain)
    frame = _answers_series(answers).to_frame("raw")
    frame = frame.with_columns(_normalize_expr(pl.col("raw")).alias("norm"))
    label = frame.get_column("norm").replace_strict(
        list(spec.normalized), list(spec.labels), default=None, return_dtype=spec.dtype
    )
    failed = frame.get_column("raw").is_not_null() & label.is_null()
    errors = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(LABEL_ERROR_COLUMN)
    if failed.any():
        errors = errors.scatter(failed.arg_true(), _label_errors(frame.filter(failed), spec))
    return pl.DataFrame([label.alias(LABEL_COLUMN), errors])
