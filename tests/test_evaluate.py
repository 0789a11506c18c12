"""sf.evaluate, sf.agreement and the charts: every metric against values computed by hand."""

from __future__ import annotations

import doctest
import sys
import tempfile

import altair as alt
import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import _agreement, _evaluate, _plots
from siraya_frames._demo import DEMO_LABELS, DEMO_PROMPT, keyword_sentiment, load_sample
from siraya_frames._errors import ColumnNotFoundError, ConfigurationError, InputError
from siraya_frames.emulator import Emulator

LABELS = pl.Enum(["pos", "neg", "unsure"])  # "unsure": the abstain label


@pytest.fixture
def out() -> pl.DataFrame:
    """Ten rows, as run(labels=["pos", "neg"], abstain="unsure") gives them, plus a gold.

    row  gold    label
    0    pos     pos      correct
    1    pos     pos      correct
    2    pos     neg      wrong
    3    pos     None     no label
    4    neg     neg      correct
    5    neg     pos      wrong
    6    neg     unsure   abstained
    7    unsure  unsure   abstained, correct (gold says none applies)
    8    None    pos      no truth: left out
    9    neg     None     no label
    """
    gold = ["pos", "pos", "pos", "pos", "neg", "neg", "neg", "unsure", None, "neg"]
    label = ["pos", "pos", "neg", None, "neg", "pos", "unsure", "unsure", "pos", None]
    return pl.DataFrame(
        {"text": [f"t{i}" for i in range(10)], "gold": gold,
         "label": pl.Series(label, dtype=LABELS), "label_error": [None] * 10},
        schema_overrides={"label_error": pl.String},
    )  # fmt: skip


def test_docstring_examples_run():
    for module in (_evaluate, _agreement, _plots):
        result = doctest.testmod(module)
        assert result.attempted >= 3 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------- labels


def test_accuracy_coverage_and_accuracy_on_labelled_rows(out: pl.DataFrame) -> None:
    ev = sf.evaluate(out, truth="gold", abstain="unsure")
    # 9 rows have a truth (row 8 is left out).
    assert (ev.n, ev.excluded) == (9, 1)
    # correct: rows 0, 1, 4, 7 -> 4 / 9 (no label and abstain on a labelled truth: wrong).
    assert ev.accuracy == pytest.approx(4 / 9)
    # covered (a label, not the abstain one): rows 0, 1, 2, 4, 5 -> 5 / 9.
    assert ev.coverage == pytest.approx(5 / 9)
    # correct among the covered: rows 0, 1, 4 -> 3 / 5.
    assert ev.accuracy_labelled == pytest.approx(3 / 5)


def test_without_abstain_the_abstain_label_counts_as_covered(out: pl.DataFrame) -> None:
    ev = sf.evaluate(out, truth="gold")
    # covered: rows 0, 1, 2, 4, 5, 6, 7 -> 7 / 9; correct among them: 0, 1, 4, 7 -> 4 / 7.
    assert ev.coverage == pytest.approx(7 / 9)
    assert ev.accuracy_labelled == pytest.approx(4 / 7)


def test_per_label_precision_recall_f1_support(out: pl.DataFrame) -> None:
    per = {r["label"]: r for r in sf.evaluate(out, "gold").per_label.iter_rows(named=True)}
    assert list(per) == ["pos", "neg", "unsure"]  # the Enum's order
    # pos: predicted on rows 0, 1, 5 (row 8 has no truth) -> 2 correct of 3 -> P = 2/3;
    #      truly pos: rows 0-3 -> support 4, 2 found -> R = 1/2; F1 = 2PR/(P+R) = 4/7.
    assert per["pos"]["precision"] == pytest.approx(2 / 3)
    assert per["pos"]["recall"] == pytest.approx(1 / 2)
    assert per["pos"]["f1"] == pytest.approx(4 / 7)
    assert per["pos"]["support"] == 4
    # neg: predicted on rows 2, 4 -> 1 correct -> P = 1/2; truly neg: rows 4, 5, 6, 9 ->
    #      support 4, 1 found -> R = 1/4; F1 = 2 * (1/8) / (3/4) = 1/3.
    assert (per["neg"]["precision"], per["neg"]["recall"]) == (0.5, 0.25)
    assert per["neg"]["f1"] == pytest.approx(1 / 3)
    assert per["neg"]["support"] == 4
    # unsure: predicted on rows 6, 7 -> 1 correct -> P = 1/2; support 1 (row 7) -> R = 1;
    #         F1 = 2 * 0.5 / 1.5 = 2/3.
    assert (per["unsure"]["precision"], per["unsure"]["recall"]) == (0.5, 1.0)
    assert per["unsure"]["f1"] == pytest.approx(2 / 3)
    # macro F1 over the labels in the truth: (4/7 + 1/3 + 2/3) / 3.
    assert sf.evaluate(out, "gold").macro_f1 == pytest.approx((4 / 7 + 1 / 3 + 2 / 3) / 3)


def test_confusion_counts_abstain_and_no_label_explicitly(out: pl.DataFrame) -> None:
    confusion = sf.evaluate(out, "gold").confusion
    assert confusion.columns == ["truth", "pos", "neg", "unsure", "(no label)"]
    assert confusion.rows() == [
        ("pos", 2, 1, 0, 1),  # rows 0, 1 | 2 | - | 3
        ("neg", 1, 1, 1, 1),  # row 5 | 4 | 6 | 9
        ("unsure", 0, 0, 1, 0),  # row 7
    ]
    assert confusion.drop("truth").sum_horizontal().sum() == 9  # every row with a truth


def test_truth_values_outside_the_label_set_get_their_own_row() -> None:
    out = pl.DataFrame({"gold": ["pos", "mixed"], "label": ["pos", "pos"]})
    ev = sf.evaluate(out, "gold", labels=["pos", "neg"])
    # The matrix stays square: "mixed" is a row and a (never predicted) column.
    assert ev.confusion.columns == ["truth", "pos", "neg", "mixed", "(no label)"]
    assert ev.confusion.rows() == [
        ("pos", 1, 0, 0, 0),
        ("neg", 0, 0, 0, 0),
        ("mixed", 1, 0, 0, 0),
    ]
    assert ev.per_label.filter(pl.col("label") == "neg").row(0) == ("neg", None, None, None, 0)


def test_empty_and_all_null_truths_give_no_ratios() -> None:
    ev = sf.evaluate(pl.DataFrame({"gold": [None], "label": ["a"]}), "gold")
    assert (ev.n, ev.excluded, ev.accuracy, ev.coverage) == (0, 1, None, None)
    assert "n/a" in str(ev)


def test_prefixed_label_column_is_found_and_missing_columns_are_named(out) -> None:
    prefixed = out.rename({"label": "llm_label", "label_error": "llm_label_error"})
    assert sf.evaluate(prefixed, "gold").accuracy == pytest.approx(4 / 9)
    with pytest.raises(ColumnNotFoundError, match="truth column 'gold_label' not found"):
        sf.evaluate(out, "gold_label")
    with pytest.raises(ColumnNotFoundError, match="pass label="):
        sf.evaluate(out.drop("label"), "gold")
    with pytest.raises(InputError, match="polars DataFrame"):
        sf.evaluate(out.to_dicts(), "gold")  # type: ignore[arg-type]


def test_readable_text_and_html(out: pl.DataFrame) -> None:
    ev = sf.evaluate(out, "gold", abstain="unsure")
    text = str(ev)
    assert text.startswith("9 rows: accuracy 44.4%, coverage 55.6%")
    assert "1 rows with no truth left out" in text
    assert "<table" in ev._repr_html_() and "accuracy 44.4%" in ev._repr_html_()


# --------------------------------------------------------------------------- extraction


def test_extraction_per_field_accuracy_and_parsed_share() -> None:
    out = pl.DataFrame(
        {
            "response_text": ['{"..."}', "{...}", "oops", None],
            "name": ["Dune", "Emma", None, None],
            "year": pl.Series([1965, 1816, None, None], dtype=pl.Int32),
            "parse_error": [None, None, "invalid JSON", None],
            "gold_name": ["Dune", "Emma", "Ulysses", "Ada"],
            "gold_year": [1965, 1815, 1922, None],
        }
    )
    ev = sf.evaluate(out, {"name": "gold_name", "year": "gold_year"})
    # parsed: rows 0, 1 (row 2 failed, row 3 has no answer) -> 2 / 4.
    assert (ev.n, ev.parsed) == (4, 0.5)
    assert ev.per_field.rows() == [
        ("name", 4, 2, 0.5, 0.5),  # rows 0, 1 right of 4; 2 of those 4 parsed
        ("year", 3, 1, 1 / 3, 2 / 3),  # row 3 has no truth; row 1 wrong (1816 != 1815)
    ]
    truth = pl.DataFrame({"name": ["Dune", "Emma", "Ulysses", "Ada"]})
    assert sf.evaluate(out, truth).per_field.row(0) == ("name", 4, 2, 0.5, 0.5)
    assert "4 rows, 50.0% parsed" in str(ev)


def test_extraction_truth_errors_name_the_fix() -> None:
    out = pl.DataFrame({"year": [1], "parse_error": [None], "gold": ["MCMLXV"]})
    with pytest.raises(InputError, match="truth of field 'year'"):
        sf.evaluate(out, {"year": "gold"})
    with pytest.raises(InputError, match="one truth row per row"):
        sf.evaluate(out, pl.DataFrame({"year": [1, 2]}))
    with pytest.raises(ColumnNotFoundError, match="field column 'title'"):
        sf.evaluate(out, {"title": "gold"})
    with pytest.raises(InputError, match="truth must be"):
        sf.evaluate(out, 3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- agreement


def test_agreement_rate_kappa_and_disagreements() -> None:
    a = pl.DataFrame({"text": list("abcdef"), "label": ["x", "x", "y", "y", None, "x"]})
    b = pl.DataFrame({"text": list("abcdef"), "label": ["x", "y", "y", "y", None, None]})
    ag = sf.agreement(a, b)
    # same on rows 0, 2, 3, 4 (both no label) -> p_o = 4/6.
    # a: x 3/6, y 2/6, none 1/6; b: x 1/6, y 3/6, none 2/6.
    # p_e = 3/36 + 6/36 + 2/36 = 11/36; kappa = (24/36 - 11/36) / (25/36) = 13/25.
    assert ag.n == 6
    assert ag.rate == pytest.approx(4 / 6)
    assert ag.kappa == pytest.approx(13 / 25)
    assert ag.disagreements.rows() == [(1, "x", "y", "b"), (5, "x", "(no label)", "f")]
    assert "agreement 66.7%" in str(ag) and "2 disagreements" in str(ag)


def test_agreement_when_every_row_has_one_same_label_has_no_kappa() -> None:
    a = pl.DataFrame({"label": ["x", "x", "x"]})
    ag = sf.agreement(a, a)
    assert (ag.rate, ag.kappa, ag.disagreements.height) == (1.0, None, 0)
    assert "undefined" in str(ag)


def test_agreement_matches_rows_by_key_and_drops_answer_columns() -> None:
    a = pl.DataFrame({"id": [1, 2, 3], "label": ["x", "y", "x"], "response_text": ["", "", ""]})
    b = pl.DataFrame({"id": [3, 1], "label": ["y", "x"]})
    ag = sf.agreement(a, b, on="id")
    assert ag.n == 2
    assert ag.disagreements.rows() == [(3, "x", "y")]
    assert ag.disagreements.columns == ["id", "a", "b"]


def test_agreement_refuses_misaligned_or_empty_frames() -> None:
    a = pl.DataFrame({"label": ["x", "y"]})
    with pytest.raises(InputError, match="on='id'"):
        sf.agreement(a, a.head(1))
    with pytest.raises(InputError, match="no row to compare"):
        sf.agreement(a.head(0), a.head(0))


# --------------------------------------------------------------------------- charts


def test_confusion_heatmap_holds_every_cell(out: pl.DataFrame) -> None:
    chart = sf.plot_confusion(sf.evaluate(out, "gold"))
    assert isinstance(chart, alt.Chart)
    assert chart.mark.type == "rect"
    cells = chart.data
    assert cells.columns == ["truth", "predicted", "count"]
    assert cells.height == 3 * 4
    assert cells.filter(truth="neg", predicted="(no label)")["count"].item() == 1
    spec = chart.to_dict()
    assert spec["encoding"]["x"]["sort"] == ["pos", "neg", "unsure", "(no label)"]


def test_label_chart_counts_run_and_truth(out: pl.DataFrame) -> None:
    chart = sf.plot_labels(out, truth="gold")
    assert isinstance(chart, alt.Chart) and chart.mark.type == "bar"
    rows = {(r["label"], r["source"]): r["count"] for r in chart.data.iter_rows(named=True)}
    assert rows[("pos", "run")] == 4 and rows[("(no label)", "run")] == 2
    assert rows[("pos", "truth")] == 4 and rows[("(no label)", "truth")] == 1
    assert sum(v for (_, s), v in rows.items() if s == "run") == 10


def test_charts_without_altair_name_the_extra(out, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "altair", None)
    with pytest.raises(ConfigurationError, match=r'pip install "siraya-frames\[plot\]"'):
        sf.plot_labels(out)
    with pytest.raises(ConfigurationError, match="plot"):
        sf.plot_confusion(sf.evaluate(out, "gold"))


# --------------------------------------------------------------------------- the sample's gold


def test_the_demo_run_is_measured_against_the_sample_gold() -> None:
    sample = load_sample().head(60)
    with (
        Emulator(responder=keyword_sentiment, models=["openai/gpt-4o-mini-batch"]) as emu,
        sf.SirayaClient("k", emu.base_url) as client,
    ):
        out = sf.run(sample, prompt=DEMO_PROMPT, model="openai/gpt-4o-mini-batch",
                     labels=DEMO_LABELS, client=client, job_dir=tempfile.mkdtemp(),
                     progress=False, show_summary=False)  # fmt: skip
    ev = sf.evaluate(out, "gold")
    labelled = out.filter(pl.col("label").is_not_null())
    # The keyword model gets every clear-cut review right; its only misses are the answers
    # that are not exactly one label ("I would say the review is positive, mostly.").
    assert ev.n == 60 and ev.accuracy_labelled == 1.0
    assert ev.accuracy == ev.coverage == pytest.approx(labelled.height / 60)
    assert 0.5 < ev.coverage < 1.0
    assert ev.confusion["(no label)"].sum() == 60 - labelled.height
