"""Tests of siraya_frames._extract: schema checks, instructions, strict typed parsing."""

from __future__ import annotations

import datetime as dt
import doctest
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siraya_frames import _extract
from siraya_frames._errors import InputError
from siraya_frames._extract import extraction_instructions, normalize_schema, parse_extraction


def test_docstring_examples_run():
    result = doctest.testmod(_extract)
    assert result.attempted >= 1
    assert result.failed == 0


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
