"""Tests of siraya_frames._labels: label instructions and matching."""

from __future__ import annotations

import doctest

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from siraya_frames import _labels
from siraya_frames._errors import InputError
from siraya_frames._labels import label_instructions, parse_labels

SENTIMENT = ["positive", "negative", "neutral"]


def labels_of(answers, labels=SENTIMENT, **kwargs):
    return parse_labels(answers, labels, **kwargs)["label"].to_list()


def errors_of(answers, labels=SENTIMENT, **kwargs):
    return parse_labels(answers, labels, **kwargs)["label_error"].to_list()


def test_docstring_examples_run():
    result = doctest.testmod(_labels)
    assert result.attempted >= 5
    assert result.failed == 0


# ---------------------------------------------------------------------------------------------
# label_instructions
# ---------------------------------------------------------------------------------------------


def test_label_instructions_list_every_label_and_ask_for_the_label_only():
    text = label_instructions(SENTIMENT)
    assert text == (
        "Answer with exactly one of these labels:\n"
        "- positive\n"
        "- negative\n"
        "- neutral\n"
        "Reply with the label only, written exactly as above: no other words, no explanation."
    )


def test_label_instructions_with_descriptions_and_abstain():
    text = label_instructions(
        {"spam": "unsolicited\n  advertising", "ham": "anything else"}, abstain="unknown"
    )
    lines = text.splitlines()
    assert lines[1:4] == [
        "- spam: unsolicited advertising",
        "- ham: anything else",
        "If none applies, answer unknown.",
    ]
    assert "- unknown" not in text


def test_label_instructions_are_deterministic():
    assert label_instructions(SENTIMENT, abstain="n/a") == label_instructions(
        list(SENTIMENT), abstain="n/a"
    )


# ---------------------------------------------------------------------------------------------
# label validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "phrase"),
    [
        ([], "labels is empty"),
        ("positive", "list of strings"),
        ({"positive", "negative"}, "list of strings"),
        (["positive", 3], "3 is not a string"),
        (["positive", ""], "'' is empty"),
        (["positive", "  **  "], "is empty once normalised"),
        (["positive", "two\nlines"], "several lines"),
        ({"positive": 1}, "description of label 'positive'"),
    ],
)
def test_invalid_labels_raise_input_error(labels, phrase):
    with pytest.raises(InputError, match=phrase):
        parse_labels(["positive"], labels)


@pytest.mark.parametrize(
    ("labels", "abstain", "phrase"),
    [
        (["Positive", "positive"], None, "label 'positive' duplicates label 'Positive'"),
        (["positive", "'Positive.'"], None, "duplicates label 'positive'"),
        (["very  good", "Very good"], None, "both read as 'very good'"),
        (["yes", "no"], "No", "abstain label 'No' duplicates label 'no'"),
    ],
)
def test_labels_equal_once_normalised_raise_naming_the_duplicate(labels, abstain, phrase):
    with pytest.raises(InputError, match=phrase):
        label_instructions(labels, abstain=abstain)
    with pytest.raises(InputError, match=phrase):
        parse_labels([], labels, abstain=abstain)


def test_abstain_must_be_a_string():
    with pytest.raises(InputError, match="abstain must be a string"):
        parse_labels(["yes"], ["yes", "no"], abstain=True)


def test_answers_must_be_strings():
    with pytest.raises(InputError, match="String Series, got dtype Int64"):
        parse_labels(pl.Series([1, 2]), SENTIMENT)
    with pytest.raises(InputError, match="got int: 3"):
        parse_labels(["positive", 3], SENTIMENT)
    with pytest.raises(InputError, match="list of str/None, got str"):
        parse_labels("positive", SENTIMENT)


# ---------------------------------------------------------------------------------------------
# parse_labels: normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("positive", "positive"),
        ("Positive", "positive"),
        ("NEGATIVE", "negative"),
        ("  neutral \n", "neutral"),
        ('"positive"', "positive"),
        ("'negative'", "negative"),
        ("“Positive”", "positive"),
        ("‘neutral’", "neutral"),
        ("`negative`", "negative"),
        ("**Positive**", "positive"),
        ("_positive_", "positive"),
        ("*neutral*", "neutral"),
        ("Positive.", "positive"),
        ("negative!", "negative"),
        ("**Neutral**.", "neutral"),
        ('"positive".', "positive"),
        ("Label: positive", "positive"),
        ("label - Negative", "negative"),
        ("LABEL:neutral", "neutral"),
        ("Answer: positive", "positive"),
        ("**Label:** Positive", "positive"),
        ("Answer: **Neutral**.", "neutral"),
        ("Final answer: negative", "negative"),
    ],
)
def test_answers_are_normalised_to_the_label(answer, expected):
    assert parse_labels([answer], SENTIMENT).rows() == [(expected, None)]


def test_output_is_an_enum_of_the_labels_in_order_with_abstain_last():
    out = parse_labels(["Unknown.", "neutral"], SENTIMENT, abstain="unknown")
    assert out.schema == pl.Schema(
        {"label": pl.Enum([*SENTIMENT, "unknown"]), "label_error": pl.String}
    )
    assert out.rows() == [("unknown", None), ("neutral", None)]


def test_the_original_spelling_of_a_label_is_returned():
    assert labels_of(["very positive", " VERY   Positive "], ["Very Positive", "Meh"]) == [
        "Very Positive",
        "Very Positive",
    ]


def test_dict_labels_match_their_keys():
    assert labels_of(["Ham"], {"spam": "ads", "ham": "the rest"}) == ["ham"]


def test_abstain_answer_is_an_error_without_abstain():
    assert errors_of(["unknown"]) == ["no label in answer: 'unknown'"]


def test_multi_word_labels():
    labels = ["very positive", "positive", "negative"]
    assert labels_of(["Very positive.", "positive", "**very  positive**"], labels) == [
        "very positive",
        "positive",
        "very positive",
    ]


def test_a_label_that_is_a_prefix_of_another():
    labels = ["pos", "positive"]
    out = parse_labels(["pos", "Positive", "pos.", "positives", "posi"], labels)
    assert out["label"].to_list() == ["pos", "positive", "pos", None, None]
    assert out["label_error"].to_list()[3:] == [
        "no label in answer: 'positives'",
        "no label in answer: 'posi'",
    ]


# ---------------------------------------------------------------------------------------------
# parse_labels: answers that are not a label
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("I think it is good", "no label in answer: 'I think it is good'"),
        ("positively", "no label in answer: 'positively'"),
        ("", "empty answer: ''"),
        ("  ", "empty answer: '  '"),
        ("**", "empty answer: '**'"),
        (
            "The sentiment is positive.",
            "text around label 'positive' in answer: 'The sentiment is positive.'",
        ),
        ("Positive (mostly)", "text around label 'positive' in answer: 'Positive (mostly)'"),
        ("positive\n\nBecause I like it.", "text around label 'positive' in answer"),
        ("positive, negative", "two labels in answer: 'positive, negative'"),
        ("Positive or negative?", "two labels in answer: 'Positive or negative?'"),
        ("positive/negative/neutral", "three labels in answer"),
    ],
)
def test_answers_that_are_not_exactly_one_label_give_null_and_an_error(answer, error):
    out = parse_labels([answer], SENTIMENT)
    assert out["label"].to_list() == [None]
    assert error in out["label_error"][0]


def test_nested_labels_are_counted_once_each():
    labels = ["pos", "very pos"]
    errors = errors_of(["it is very pos", "very pos, or pos", "pos or very pos."], labels)
    assert errors == [
        "text around label 'very pos' in answer: 'it is very pos'",
        "two labels in answer: 'very pos, or pos'",
        "two labels in answer: 'pos or very pos.'",
    ]


def test_null_answers_give_null_label_and_null_error():
    out = parse_labels(pl.Series([None, "positive", None], dtype=pl.String), SENTIMENT)
    assert out.rows() == [(None, None), ("positive", None), (None, None)]
    all_null = parse_labels(pl.Series([None, None]), SENTIMENT)
    assert all_null.rows() == [(None, None), (None, None)]


def test_long_answers_are_cut_in_the_error():
    answer = "x" * 500
    error = errors_of([answer])[0]
    assert error == "no label in answer: '" + "x" * 200 + "…'"


def test_height_and_order_are_kept():
    answers = ["neutral", None, "nope", "Positive", ""] * 3
    out = parse_labels(answers, SENTIMENT)
    assert out.height == 15
    assert out["label"].to_list()[:5] == ["neutral", None, None, "positive", None]
    assert out["label"].to_list() == out["label"].to_list()[:5] * 3


def test_no_answers_gives_an_empty_frame():
    out = parse_labels([], SENTIMENT)
    assert out.height == 0
    assert out.columns == ["label", "label_error"]


def test_a_million_answers_keep_height_and_order():
    pool = ["Positive", " **negative**.", "Label: neutral", "The sentiment is positive.", None]
    answers = pl.Series(pool * 200_000, dtype=pl.String)
    out = parse_labels(answers, SENTIMENT, abstain="unknown")
    assert out.height == 1_000_000
    assert out["label"].null_count() == 400_000
    assert out["label"].head(5).to_list() == ["positive", "negative", "neutral", None, None]


# ---------------------------------------------------------------------------------------------
# parse_labels: properties
# ---------------------------------------------------------------------------------------------

LABEL_TEXT = st.text(alphabet="abcdefgxyz éÉ+'/0123-", min_size=1, max_size=12)
PREFIX_WORDS = {"label", "answer", "final", "category", "class", "classification"}
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda word: word not in PREFIX_WORDS  # "Label: answer" mentions the label "answer"
)
SEPARATORS = st.sampled_from([", ", " or ", " and ", "/", "\n", " ", " | "])


def valid_label_set(labels, abstain=None):
    try:
        _labels._label_set(labels, abstain)
    except InputError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(labels=st.lists(LABEL_TEXT, min_size=1, max_size=5), answer=st.one_of(st.none(), st.text()))
def test_any_answer_gives_one_label_of_the_set_or_null_with_an_error(labels, answer):
    assume(valid_label_set(labels))
    (label, error) = parse_labels([answer], labels).row(0)
    if answer is None:
        assert (label, error) == (None, None)
    elif label is None:
        assert error is not None
        assert answer[:200] in error
    else:
        assert label in labels
        assert error is None


def decorate(label, data):
    prefix = data.draw(st.sampled_from(["", "Label: ", "label - ", "Answer: ", "  "]))
    quote = data.draw(st.sampled_from(["", '"', "'", "**", "_", "`", "“"]))
    close = {"“": "”"}.get(quote, quote)
    end = data.draw(st.sampled_from(["", ".", "!", " \n"]))
    case = data.draw(st.sampled_from([str, str.upper, str.title]))
    return f"{prefix}{quote}{case(label)}{close}{end}"


@settings(max_examples=150, deadline=None)
@given(labels=st.lists(LABEL_TEXT, min_size=1, max_size=5, unique=True), data=st.data())
def test_a_decorated_label_is_matched_back(labels, data):
    assume(valid_label_set(labels))
    label = data.draw(st.sampled_from(labels))
    assert parse_labels([decorate(label, data)], labels).row(0) == (label, None)


@settings(max_examples=150, deadline=None)
@given(
    labels=st.lists(WORD, min_size=2, max_size=6, unique=True),
    data=st.data(),
    separator=SEPARATORS,
)
def test_an_answer_with_two_different_labels_is_never_a_label(labels, data, separator):
    first, second = data.draw(st.permutations(labels))[:2]
    answer = decorate(first, data) + separator + decorate(second, data)
    (label, error) = parse_labels([answer], labels).row(0)
    assert label is None
    assert error.startswith("two labels in answer: ")
