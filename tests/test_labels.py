"""Tests of siraya_frames._labels: label instructions and matching, schema extraction."""

from __future__ import annotations

import datetime as dt
import doctest
import json

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from siraya_frames import _labels
from siraya_frames._errors import InputError
from siraya_frames._labels import (
    extraction_instructions,
    label_instructions,
    normalize_schema,
    parse_extraction,
    parse_labels,
)

SENTIMENT = ["positive", "negative", "neutral"]


def labels_of(answers, labels=SENTIMENT, **kwargs):
    return parse_labels(answers, labels, **kwargs)["label"].to_list()


def errors_of(answers, labels=SENTIMENT, **kwargs):
    return parse_labels(answers, labels, **kwargs)["label_error"].to_list()


def test_docstring_examples_run():
    result = doctest.testmod(_labels)
    assert result.attempted >= 8
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


# ---------------------------------------------------------------------------------------------
# normalize_schema
# ---------------------------------------------------------------------------------------------


def test_normalize_schema_accepts_classes_instances_python_types_and_pl_schema():
    schema = normalize_schema(
        {
            "name": pl.String,
            "year": pl.Int32(),
            "count": int,
            "tags": pl.List(pl.String),
            "author": pl.Struct({"first": pl.String, "born": pl.Date}),
        }
    )
    assert schema == {
        "name": pl.String(),
        "year": pl.Int32(),
        "count": pl.Int64(),
        "tags": pl.List(pl.String()),
        "author": pl.Struct({"first": pl.String(), "born": pl.Date()}),
    }
    assert list(schema) == ["name", "year", "count", "tags", "author"]
    assert normalize_schema(pl.Schema({"a": pl.Float32})) == {"a": pl.Float32()}


@pytest.mark.parametrize(
    ("schema", "phrase"),
    [
        ({}, "schema is empty"),
        ([("a", pl.String)], "must be a dict"),
        ({"my field": pl.String}, "field name 'my field' is not an identifier"),
        ({"2nd": pl.String}, "field name '2nd' is not an identifier"),
        ({"": pl.String}, "field name '' is not an identifier"),
        ({"parse_error": pl.String}, "reserved"),
        ({"when": pl.Datetime("us")}, "field 'when': dtype Datetime"),
        ({"when": pl.Datetime}, "field 'when'"),
        ({"price": pl.Decimal(10, 2)}, "field 'price'.*not supported"),
        ({"blob": pl.Binary}, "not supported"),
        ({"x": pl.Object}, "not supported"),
        ({"x": pl.Array(pl.Int8, 2)}, "not supported"),
        ({"tags": pl.List(pl.Time)}, r"field 'tags\[\]': dtype Time"),
        ({"a": pl.Struct({"b": pl.Duration()})}, "field 'a.b'"),
        ({"a": pl.Struct({"bad key": pl.String})}, "in field 'a': field name 'bad key'"),
        ({"a": "banana"}, "field 'a'"),
    ],
)
def test_normalize_schema_rejects_what_cannot_be_extracted(schema, phrase):
    with pytest.raises(InputError, match=phrase):
        normalize_schema(schema)


# ---------------------------------------------------------------------------------------------
# extraction_instructions
# ---------------------------------------------------------------------------------------------


def test_extraction_instructions_describe_every_field_with_its_json_type():
    text = extraction_instructions(
        {
            "name": pl.String,
            "year": pl.Int32,
            "rating": pl.UInt8,
            "score": pl.Float64,
            "ok": pl.Boolean,
            "published": pl.Date,
            "tags": pl.List(pl.String),
            "kind": pl.Enum(["book", "film"]),
            "author": pl.Struct({"first": pl.String, "born": pl.Int64}),
        }
    )
    assert text.splitlines() == [
        "Answer with a JSON object with exactly these keys:",
        '- "name": string',
        '- "year": integer',
        '- "rating": integer from 0 to 255',
        '- "score": number',
        '- "ok": true or false',
        '- "published": string, a date as "YYYY-MM-DD"',
        '- "tags": array (each item: string)',
        '- "kind": string, one of "book", "film"',
        '- "author": object with exactly the keys "first" (string), "born" (integer)',
        "Use null for a value that is unknown or absent.",
        "Answer with only the JSON object: no code fences, no text before or after it.",
    ]


def test_extraction_instructions_validate_the_schema():
    with pytest.raises(InputError, match="schema is empty"):
        extraction_instructions({})


# ---------------------------------------------------------------------------------------------
# parse_extraction
# ---------------------------------------------------------------------------------------------

BOOK = {"name": pl.String, "year": pl.Int32, "tags": pl.List(pl.String)}


def extract(answers, schema=BOOK):
    return parse_extraction(answers, schema)


def error_of(answer, schema=BOOK):
    out = extract([answer], schema)
    values = out.drop("parse_error").row(0)
    assert values == (None,) * len(values), "an invalid row must have every field null"
    return out["parse_error"][0]


def test_valid_json_gives_typed_columns():
    out = extract(['{"name": "Dune", "year": 1965, "tags": ["sf", "desert"]}'])
    assert out.schema == pl.Schema(
        {"name": pl.String, "year": pl.Int32, "tags": pl.List(pl.String), "parse_error": pl.String}
    )
    assert out.rows() == [("Dune", 1965, ["sf", "desert"], None)]


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"name": "Dune", "year": 1965, "tags": []}\n```',
        '```JSON\n{"name": "Dune", "year": 1965, "tags": []}```',
        '```\n{"name": "Dune", "year": 1965, "tags": []}\n```\n',
        '  \n{"name": "Dune", "year": 1965, "tags": []}\n\n',
        '```json {"name": "Dune", "year": 1965, "tags": []} ```',
    ],
)
def test_code_fences_and_whitespace_are_tolerated(answer):
    assert extract([answer]).rows() == [("Dune", 1965, [], None)]


def test_json_null_values_are_allowed():
    out = extract(
        ['{"name": null, "year": null, "tags": null}', '{"name": "A", "year": 1, "tags": [null]}']
    )
    assert out.rows() == [(None, None, None, None), ("A", 1, [None], None)]


def test_integral_floats_are_accepted_for_integers():
    assert extract(['{"name": "A", "year": 2019.0, "tags": []}'])["year"].to_list() == [2019]


def test_unicode_is_kept():
    out = extract(['{"name": "Ünïcødé 📚 \\u00e9", "year": 1, "tags": ["日本"]}'])
    assert out.rows() == [("Ünïcødé 📚 é", 1, ["日本"], None)]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("not json", "invalid JSON (Expecting value at char 0): 'not json'"),
        ("", "invalid JSON: empty answer"),
        ("   ", "invalid JSON: empty answer"),
        ("```json\n```", "invalid JSON: empty answer"),
        ('{"name": "A", "year": 1, "tags": []', "invalid JSON"),
        ('{"name": "A", "year": 1, "tags": []} Hope this helps!', "invalid JSON (Extra data"),
        ('Sure! {"name": "A", "year": 1, "tags": []}', "invalid JSON"),
        ('```json\n{"name": "A", "year": 1, "tags": []}', "invalid JSON"),
        ('{"name": "A", "year": NaN, "tags": []}', "invalid JSON (NaN is not valid JSON)"),
        ('{"name": "A", "year": Infinity, "tags": []}', "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got array: '[1, 2]'"),
        ('"Dune"', "expected a JSON object, got string"),
        ("null", "expected a JSON object, got null"),
        ("1965", "expected a JSON object, got number"),
        ('{"name": "A", "name": "B", "year": 1, "tags": []}', "duplicate key 'name'"),
    ],
)
def test_answers_that_are_not_one_json_object(answer, error):
    assert error in error_of(answer)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            '{"name": "A", "year": "nineteen", "tags": []}',
            "field 'year': expected integer, got 'nineteen'",
        ),
        ('{"name": "A", "year": "2019", "tags": []}', "field 'year': expected integer, got '2019'"),
        ('{"name": "A", "year": 2019.5, "tags": []}', "field 'year': expected integer, got 2019.5"),
        ('{"name": "A", "year": true, "tags": []}', "field 'year': expected integer, got true"),
        ('{"name": "A", "year": [2019], "tags": []}', "field 'year': expected integer, got [2019]"),
        ('{"name": 2019, "year": 1, "tags": []}', "field 'name': expected string, got 2019"),
        ('{"name": false, "year": 1, "tags": []}', "field 'name': expected string, got false"),
        ('{"name": ["A"], "year": 1, "tags": []}', "field 'name': expected string, got"),
        ('{"name": "A", "year": 1, "tags": "sf"}', "field 'tags': expected array, got 'sf'"),
        ('{"name": "A", "year": 1, "tags": ["sf", 3]}', "field 'tags[1]': expected string, got 3"),
        (
            '{"name": "A", "year": 3000000000, "tags": []}',
            "field 'year': integer 3000000000 out of range for Int32",
        ),
        ('{"name": "A", "year": 1e300, "tags": []}', "field 'year': integer 1e+300 out of range"),
    ],
)
def test_values_of_the_wrong_type_are_reported_strictly(answer, error):
    assert error in error_of(answer)


def test_missing_and_extra_fields_invalidate_the_row():
    assert error_of('{"name": "A", "year": 1}') == "missing field 'tags'"
    assert error_of('{"name": "A", "year": 1, "tags": [], "isbn": "x"}') == (
        "unexpected field 'isbn'"
    )
    assert error_of('{"Name": "A", "year": 1, "tags": []}') == (
        "missing field 'name'; unexpected field 'Name'"
    )
    assert error_of("{}") == "missing field 'name'; missing field 'year'; missing field 'tags'"


def test_every_problem_of_a_row_is_listed():
    assert error_of('{"name": 1, "year": "x", "tags": [], "more": 2}') == (
        "unexpected field 'more'; field 'name': expected string, got 1; "
        "field 'year': expected integer, got 'x'"
    )


SCALARS = {
    "i8": pl.Int8,
    "u8": pl.UInt8,
    "u64": pl.UInt64,
    "f32": pl.Float32,
    "f64": pl.Float64,
    "ok": pl.Boolean,
    "day": pl.Date,
}


def scalars(**overrides):
    values = {"i8": -128, "u8": 255, "u64": 2**64 - 1, "f32": 1.5, "f64": 3, "ok": True}
    values["day"] = "2024-02-29"
    return json.dumps(values | overrides)


def test_every_scalar_dtype_round_trips():
    out = extract([scalars()], SCALARS)
    assert out.schema == pl.Schema(SCALARS | {"parse_error": pl.String})
    assert out.row(0) == (-128, 255, 2**64 - 1, 1.5, 3.0, True, dt.date(2024, 2, 29), None)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"i8": 128}, "field 'i8': integer 128 out of range for Int8 (-128 to 127)"),
        ({"u8": -1}, "field 'u8': integer -1 out of range for UInt8 (0 to 255)"),
        ({"u64": 2**64}, "out of range for UInt64"),
        ({"f32": 1e39}, "field 'f32': number 1e+39 out of range for Float32"),
        ({"f64": "3.0"}, "field 'f64': expected number, got '3.0'"),
        ({"f64": False}, "field 'f64': expected number, got false"),
        ({"ok": "true"}, "field 'ok': expected true or false, got 'true'"),
        ({"ok": 1}, "field 'ok': expected true or false, got 1"),
        (
            {"day": "2023-02-29"},
            "field 'day': expected a date string \"YYYY-MM-DD\", got '2023-02-29'",
        ),
        ({"day": "2024-02-29T00:00:00"}, "field 'day': expected a date string"),
        ({"day": "20240229"}, "field 'day': expected a date string"),
        ({"day": 20240229}, "field 'day': expected a date string"),
    ],
)
def test_scalar_dtypes_are_strict(overrides, error):
    assert error in error_of(scalars(**overrides), SCALARS)


def test_floats_accept_json_integers():
    out = extract(['{"x": 2}', '{"x": -0.5}'], {"x": pl.Float64})
    assert out["x"].to_list() == [2.0, -0.5]


def test_enum_fields_accept_only_their_categories():
    schema = {"kind": pl.Enum(["book", "film"])}
    out = extract(['{"kind": "film"}', '{"kind": "Film"}'], schema)
    assert out["kind"].dtype == pl.Enum(["book", "film"])
    assert out["kind"].to_list() == ["film", None]
    assert out["parse_error"][1] == "field 'kind': expected one of 'book', 'film', got 'Film'"


def test_nested_structs_and_lists():
    schema = {
        "author": pl.Struct({"first": pl.String, "born": pl.Int16}),
        "editions": pl.List(pl.Struct({"year": pl.Int32, "isbn": pl.String})),
        "grid": pl.List(pl.List(pl.Int8)),
        "big": pl.List(pl.Int128),
        "kinds": pl.List(pl.Enum(["a", "b"])),
        "days": pl.List(pl.Date),
    }
    good = {
        "author": {"first": "Frank", "born": 1920},
        "editions": [{"year": 1965, "isbn": None}],
        "grid": [[1, 2], []],
        "big": [2**100, None],
        "kinds": ["b"],
        "days": ["2020-01-31"],
    }
    out = extract([json.dumps(good)], schema)
    assert out.schema == pl.Schema(schema | {"parse_error": pl.String})
    assert out.row(0, named=True) == good | {"days": [dt.date(2020, 1, 31)], "parse_error": None}

    bad = good | {"editions": [{"year": 1965, "isbn": 9}], "author": {"first": "F"}}
    assert error_of(json.dumps(bad), schema) == (
        "field 'author': missing field 'born'; field 'editions[0].isbn': expected string, got 9"
    )
    assert "field 'grid[0][1]': expected integer, got 'x'" in error_of(
        json.dumps(good | {"grid": [[1, "x"]]}), schema
    )


def test_null_answers_give_nulls_without_error():
    out = extract(pl.Series([None, '{"name": "A", "year": 1, "tags": []}', None], dtype=pl.String))
    assert out.rows() == [(None,) * 4, ("A", 1, [], None), (None,) * 4]


def test_height_order_and_empty_input():
    answers = [json.dumps({"name": str(i), "year": i, "tags": []}) for i in range(50)]
    answers[7] = "oops"
    out = extract(answers)
    assert out["year"].to_list() == [None if i == 7 else i for i in range(50)]
    assert out["parse_error"].null_count() == 49
    empty = extract([])
    assert empty.height == 0
    assert empty.columns == ["name", "year", "tags", "parse_error"]


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.text(),
        st.builds(
            json.dumps,
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers()
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=5),
                lambda children: (
                    st.lists(children, max_size=3)
                    | st.dictionaries(
                        st.sampled_from(["name", "year", "tags", "x"]), children, max_size=4
                    )
                ),
                max_leaves=8,
            ),
        ),
    )
)
def test_any_answer_gives_a_valid_row_or_all_nulls_with_an_error(answer):
    out = extract([answer])
    *values, error = out.row(0)
    if answer is None or error is not None:
        assert values == [None, None, None]
        assert (error is None) == (answer is None)
    else:
        obj = json.loads(answer)
        assert set(obj) == {"name", "year", "tags"}
        assert values[0] == obj["name"]
        assert values[1] == obj["year"]
