"""Templates: parsing, escaping, rendering through Polars, and the errors a user sees."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siraya_frames._errors import ColumnNotFoundError, InputError
from siraya_frames._template import (
    Placeholder,
    is_template,
    parse_template,
    render_template,
    template_columns,
    unescape,
)


def render(template: str, df: pl.DataFrame, **kwargs) -> list[str | None]:
    return df.select(render_template(template, df.schema, **kwargs)).to_series().to_list()


def test_parse_splits_literals_and_placeholders():
    assert parse_template("Classify: {review} (title: {title})") == [
        "Classify: ",
        Placeholder("review", 10),
        " (title: ",
        Placeholder("title", 27),
        ")",
    ]


def test_doubled_braces_are_literal():
    df = pl.DataFrame({"x": ["v"]})
    assert render("{{x}} = {x} }}{{", df) == ["{x} = v }{"]


def test_template_columns_in_order_without_repeats():
    assert template_columns("{b} {a} {b}") == ["b", "a"]


@pytest.mark.parametrize(
    ("template", "position"),
    [("abc { def", 4), ("abc } def", 4), ("{a} {b", 4), ("x {a{b}", 2), ("a {}", 2)],
)
def test_unbalanced_brace_names_the_position(template, position):
    with pytest.raises(InputError, match=f"at position {position}\\b"):
        parse_template(template)


def test_missing_column_is_named_and_columns_listed():
    df = pl.DataFrame({"id": [1], "text": ["t"]})
    with pytest.raises(ColumnNotFoundError) as info:
        render_template("Classify this review: {review}", df.schema)
    assert "column 'review' not found" in str(info.value)
    assert "columns are: id, text" in str(info.value)


def test_non_string_columns_are_cast_to_text():
    df = pl.DataFrame(
        {
            "i": [3],
            "f": [2.5],
            "b": [True],
            "d": [dt.date(2026, 11, 1)],
            "c": pl.Series(["cat"], dtype=pl.Categorical),
            "e": pl.Series(["low"], dtype=pl.Enum(["low", "high"])),
        }
    )
    assert render("{i}|{f}|{b}|{d}|{c}|{e}", df) == ["3|2.5|true|2026-11-01|cat|low"]


def test_nested_column_cannot_be_rendered():
    df = pl.DataFrame({"tags": [["a"]]})
    with pytest.raises(InputError, match="column 'tags' has dtype List"):
        render_template("{tags}", df.schema)


def test_null_renders_null_or_empty():
    df = pl.DataFrame({"a": ["x", None], "b": ["1", "2"]})
    assert render("{a}-{b}", df) == ["x-1", None]
    assert render("{a}-{b}", df, on_null="empty") == ["x-1", "-2"]


def test_literal_only_template():
    df = pl.DataFrame({"a": [1, 2]})
    assert df.with_columns(t=render_template("Hi {{there}}", df.schema))["t"].to_list() == [
        "Hi {there}",
        "Hi {there}",
    ]


def test_is_template_and_unescape():
    assert is_template("Answer in {lang}")
    assert not is_template("Reply as JSON: {{...}}")
    assert unescape("Reply as JSON: {{...}}") == "Reply as JSON: {...}"


def test_lone_surrogate_is_refused_with_its_position():
    with pytest.raises(InputError, match="position 3"):
        parse_template("abc\ud800")


def test_column_names_with_spaces_and_unicode():
    df = pl.DataFrame({"my col": ["a"], "名前": ["b"]})
    assert render("{my col}/{名前}", df) == ["a/b"]


# ---- property: the rendered text is what Python's str.format gives ------------------------

_chars = st.characters(exclude_categories=("Cs",))  # lone surrogates are not text
_text = st.text(st.characters(exclude_characters="{}", exclude_categories=("Cs",)), max_size=12)
_names = st.sampled_from(["a", "b", "c"])


@st.composite
def templates(draw):
    """A template of literal text (braces escaped as {{ / }}) and {a}/{b}/{c} placeholders."""
    parts = draw(st.lists(st.one_of(_text, _names.map(lambda n: "{" + n + "}")), max_size=8))
    braces = draw(st.lists(st.sampled_from(["{{", "}}"]), max_size=3))
    return "".join(parts + braces)


@settings(max_examples=150, deadline=None)
@given(
    template=templates(),
    values=st.fixed_dictionaries({n: st.text(_chars, max_size=20) for n in "abc"}),
)
def test_rendering_matches_str_format(template, values):
    df = pl.DataFrame({k: [v] for k, v in values.items()})
    assert render(template, df) == [template.format(**values)]


@pytest.mark.parametrize(
    ("template", "fixed"),
    [
        ('Classify {x} as {"label": "pos"}', 'Classify {x} as {{"label": "pos"}}'),
        ('Answer {"a": {"b": 1}} for {x}', 'Answer {{"a": {{"b": 1}}}} for {x}'),
        ("Reply {label: pos}", "Reply {{label: pos}}"),
    ],
)
def test_a_prompt_holding_json_is_told_to_double_its_braces(template, fixed):
    df = pl.DataFrame({"x": ["v"]})
    with pytest.raises(InputError) as info:
        render(template, df)
    assert fixed in str(info.value)
    assert render(fixed, df) == [template.replace("{x}", "v")]  # the suggested fix works


def test_a_misspelt_column_gets_no_brace_advice():
    with pytest.raises(ColumnNotFoundError) as info:
        render("{reveiw}", pl.DataFrame({"review": ["v"]}))
    assert "double" not in str(info.value) and "columns are: review" in str(info.value)
