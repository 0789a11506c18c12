"""build_requests: params as the quickstart shapes them, stable ids, errors that name the fault."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import polars as pl
import pytest
import xxhash
from helpers import QUICKSTART_PARAMS, QUICKSTART_QUESTIONS
from hypothesis import given, settings
from hypothesis import strategies as st

from siraya_frames._build import ID_PATTERN, build_requests, params_json
from siraya_frames._errors import ColumnNotFoundError, InputError, NullValueError, ParameterError

QUICKSTART_ID = "sf6a2a5eb4e43b689f505c301b8f7c23aa"
"""Pinned: a change here means the canonical JSON changed, and every stored job's ids with it."""
BASIC = {"model": "openai/gpt-4o-mini", "max_tokens": 16}


@pytest.fixture
def reviews() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "review": ["Great!", "Awful.", "Great!", "Meh"],
            "title": ["A", "B", "A", "C"],
        }
    )


@pytest.fixture
def built(reviews) -> pl.DataFrame:
    return build_requests(reviews, prompt="Classify: {review} (title: {title})", **BASIC)


def wire(frame: pl.DataFrame) -> list[dict | None]:
    texts = frame.select(params_json(pl.col("params"))).to_series().to_list()
    return [None if t is None else json.loads(t) for t in texts]


def quickstart_frame() -> pl.DataFrame:
    frame = pl.DataFrame({"q": QUICKSTART_QUESTIONS[:1]})
    return build_requests(frame, prompt="{q}", **QUICKSTART_PARAMS)


# ---- the shape of the params ---------------------------------------------------------------


def test_quickstart_example_params(built):
    out = quickstart_frame()
    messages = [{"role": "user", "content": QUICKSTART_QUESTIONS[0]}]
    expected = {k: v for k, v in QUICKSTART_PARAMS.items() if k != "tool_choice"}
    # tool_choice=None means unset: left out, not sent as null
    assert wire(out) == [{**expected, "messages": messages}]
    assert out["custom_id"].to_list() == [QUICKSTART_ID]


def test_id_is_xxh3_of_the_wire_json():
    out = quickstart_frame()
    text = out.select(params_json(pl.col("params"))).item()
    assert out["custom_id"][0] == "sf" + xxhash.xxh3_128_hexdigest(text.encode())


def test_wire_json_key_order_is_fixed():
    text = quickstart_frame().select(params_json(pl.col("params"))).item()
    keys = list(json.loads(text))
    assert keys == [
        "model",
        "max_tokens",
        "messages",
        "metadata",
        "stop_sequences",
        "system",
        "temperature",
        "top_k",
        "top_p",
        "thinking",
        "tools",
    ]
    assert " " not in text.replace("How to learn nestjs?", "")


def test_prompt_becomes_one_user_message_and_unset_params_are_absent(built):
    assert wire(built)[0] == {
        "model": "openai/gpt-4o-mini",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Classify: Great! (title: A)"}],
    }
    assert built.schema["params"].fields[0].name == "model"
    assert [f.name for f in built.schema["params"].fields] == ["model", "max_tokens", "messages"]


def test_rows_order_and_columns_kept(reviews, built):
    assert built.columns == [*reviews.columns, "custom_id", "params"]
    assert built.drop("custom_id", "params").equals(reviews)
    assert built.schema["custom_id"] == pl.String
    assert isinstance(built.schema["params"], pl.Struct)


def test_equal_requests_share_an_id(built):
    ids = built["custom_id"].to_list()
    assert ids[0] == ids[2]
    assert len(set(ids)) == 3
    assert all(re.match(ID_PATTERN, i) for i in ids)


def test_dedupe_false_gives_every_row_its_own_stable_id(reviews):
    first = build_requests(reviews, prompt="{review}", dedupe=False, **BASIC)["custom_id"]
    again = build_requests(reviews, prompt="{review}", dedupe=False, **BASIC)["custom_id"]
    deduped = build_requests(reviews, prompt="{review}", **BASIC)["custom_id"]
    assert first.n_unique() == 4
    assert first.to_list() == again.to_list()
    assert first[2] == deduped[2] + "-1"
    assert first[0] == deduped[0]


def test_ids_are_the_same_in_another_process():
    code = (
        "import polars as pl; from siraya_frames._build import build_requests; "
        "print(build_requests(pl.DataFrame({'q': ['How to learn nestjs?']}), prompt='{q}', "
        "model='openai/gpt-4o-mini', max_tokens=16)['custom_id'][0])"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    here = build_requests(pl.DataFrame({"q": ["How to learn nestjs?"]}), prompt="{q}", **BASIC)
    assert other.stdout.strip() == here["custom_id"][0]


def test_int_and_float_literals_give_the_same_request(reviews):
    a = build_requests(reviews, prompt="{review}", temperature=1, top_p=1, **BASIC)
    b = build_requests(reviews, prompt="{review}", temperature=1.0, top_p=1.0, **BASIC)
    assert a["custom_id"].to_list() == b["custom_id"].to_list()


def test_dict_key_order_does_not_change_the_id(reviews):
    a = build_requests(reviews, prompt="{review}", metadata={"a": "1", "b": "2"}, **BASIC)
    b = build_requests(reviews, prompt="{review}", metadata={"b": "2", "a": "1"}, **BASIC)
    assert a["custom_id"].to_list() == b["custom_id"].to_list()


def test_metadata_column_and_literal_give_the_same_id(reviews):
    literal = build_requests(reviews, prompt="{review}", metadata={"b": "2", "a": "1"}, **BASIC)
    df = reviews.with_columns(meta=pl.struct(b=pl.lit("2"), a=pl.lit("1")))
    column = build_requests(df, prompt="{review}", metadata=pl.col("meta"), **BASIC)
    assert literal["custom_id"].to_list() == column["custom_id"].to_list()


def test_literal_and_column_values_give_the_same_id(reviews):
    literal = build_requests(reviews, prompt="{review}", **BASIC)
    column = build_requests(
        reviews.with_columns(m=pl.lit("openai/gpt-4o-mini"), n=pl.lit(16, pl.Int32)),
        prompt="{review}",
        model=pl.col("m"),
        max_tokens=pl.col("n"),
    )
    assert literal["custom_id"].to_list() == column["custom_id"].to_list()


# ---- text survives the round trip ------------------------------------------------------------

AWKWARD = [
    "quotes \" and ' and `",
    "back\\slash \\n not a newline",
    "new\nline\r\ttab",
    "emoji 😀👍🏽 and 中文 and é",
    "control \x00\x01\x1f\x7f and \u2028\u2029",
    "braces { } {{ }} {review}",
    "x" * 1_000_000,
]


@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_awkward_text_round_trips_byte_for_byte(text):
    df = pl.DataFrame({"t": [text]})
    out = build_requests(df, prompt="«{t}»", system="sys: {t}", metadata={text[:50]: text}, **BASIC)
    params = wire(out)[0]
    assert params["messages"][0]["content"] == f"«{text}»"
    assert params["system"] == f"sys: {text}"
    assert params["metadata"] == {text[:50]: text}


def test_tools_and_tool_choice_are_faithful():
    tools = [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {}}}},
        {"name": "search", "description": 'with "quotes" 😀', "input_schema": {"required": []}},
        {"type": "web_search", "max_uses": 3, "allowed": None, "ratio": 0.5, "on": True},
    ]
    df = pl.DataFrame({"q": ["hi"]})
    out = build_requests(df, prompt="{q}", tools=tools, tool_choice={"type": "auto"}, **BASIC)
    params = wire(out)[0]
    assert params["tools"] == tools
    assert params["tool_choice"] == {"type": "auto"}
    string_choice = build_requests(df, prompt="{q}", tools=tools, tool_choice="auto", **BASIC)
    assert wire(string_choice)[0]["tool_choice"] == "auto"


def test_empty_metadata_and_disabled_thinking():
    df = pl.DataFrame({"q": ["hi"]})
    out = build_requests(df, prompt="{q}", metadata={}, thinking={"type": "disabled"}, **BASIC)
    params = wire(out)[0]
    assert params["metadata"] == {}
    assert params["thinking"] == {"type": "disabled"}


# ---- messages, system -------------------------------------------------------------------------


def test_messages_column_is_sent_as_is():
    chat = [
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        [{"role": "user", "content": "Bye"}],
    ]
    out = build_requests(pl.DataFrame({"chat": chat}), messages="chat", **BASIC)
    assert [p["messages"] for p in wire(out)] == chat


def test_messages_column_with_field_order_and_categorical_role():
    dtype = pl.List(pl.Struct({"content": pl.String, "role": pl.Categorical}))
    df = pl.DataFrame({"chat": [[{"content": "Hi", "role": "user"}]]}, schema={"chat": dtype})
    out = build_requests(df, messages="chat", **BASIC)
    assert wire(out)[0]["messages"] == [{"role": "user", "content": "Hi"}]


def test_messages_column_of_wrong_dtype_names_column_and_dtype():
    with pytest.raises(ParameterError) as info:
        build_requests(pl.DataFrame({"chat": ["hi"]}), messages="chat", **BASIC)
    assert "messages column 'chat'" in str(info.value)
    assert "List(Struct({'role': String, 'content': String}))" in str(info.value)


def test_messages_with_a_bad_role_name_the_row():
    chat = [[{"role": "user", "content": "a"}], [{"role": "robot", "content": "b"}]]
    with pytest.raises(ParameterError, match=r"1 rows do not \(first at row 1\)"):
        build_requests(pl.DataFrame({"chat": chat}), messages="chat", **BASIC)


def test_exactly_one_of_prompt_and_messages(reviews):
    with pytest.raises(ParameterError, match="exactly one of prompt"):
        build_requests(reviews, **BASIC)
    with pytest.raises(ParameterError, match="exactly one of prompt"):
        build_requests(reviews, prompt="{review}", messages="review", **BASIC)


def test_system_template_and_escaped_literal(reviews):
    out = build_requests(reviews, prompt="{review}", system="About {title}", **BASIC)
    assert [p["system"] for p in wire(out)] == ["About A", "About B", "About A", "About C"]
    literal = build_requests(reviews, prompt="{review}", system="JSON: {{...}}", **BASIC)
    assert wire(literal)[0]["system"] == "JSON: {...}"


def test_system_with_unescaped_json_names_the_fix(reviews):
    with pytest.raises(ColumnNotFoundError, match="column '\"a\": 1' not found"):
        build_requests(reviews, prompt="{review}", system='Reply like {"a": 1}', **BASIC)


# ---- nulls ------------------------------------------------------------------------------------


@pytest.fixture
def holes() -> pl.DataFrame:
    return pl.DataFrame({"review": ["a", None, "c", None], "title": ["t", "t", None, "t"]})


def test_nulls_are_an_error_naming_column_count_and_row(holes):
    with pytest.raises(NullValueError) as info:
        build_requests(holes, prompt="{review} {title}", **BASIC)
    message = str(info.value)
    assert "column 'review'" in message
    assert "2 null rows (first at row 1)" in message


def test_on_null_skip_keeps_rows_without_requests(holes):
    out = build_requests(holes, prompt="{review} {title}", on_null="skip", **BASIC)
    assert out.height == 4
    assert out["custom_id"].is_null().to_list() == [False, True, True, True]
    assert out["params"].is_null().to_list() == [False, True, True, True]
    assert wire(out)[1:] == [None, None, None]


def test_on_null_empty_renders_empty_text(holes):
    out = build_requests(holes, prompt="[{review}|{title}]", on_null="empty", **BASIC)
    assert [p["messages"][0]["content"] for p in wire(out)] == ["[a|t]", "[|t]", "[c|]", "[|t]"]


def test_on_null_skip_with_messages_column():
    chat = [[{"role": "user", "content": "a"}], None]
    out = build_requests(pl.DataFrame({"chat": chat}), messages="chat", on_null="skip", **BASIC)
    assert out["custom_id"].null_count() == 1


def test_bad_on_null_value(reviews):
    with pytest.raises(ParameterError, match="on_null must be"):
        build_requests(reviews, prompt="{review}", on_null="drop", **BASIC)


# ---- parameter validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("model", ""),
        ("model", 3),
        ("max_tokens", 0),
        ("max_tokens", 1.5),
        ("max_tokens", True),
        ("max_tokens", 2**63),
        ("temperature", 2.5),
        ("temperature", -0.1),
        ("temperature", float("nan")),
        ("top_p", 0),
        ("top_p", 1.01),
        ("top_k", 0),
        ("top_k", 2**64),
        ("stop_sequences", "stop"),
        ("stop_sequences", ["ok", 1]),
        ("metadata", {"k": 1}),
        ("metadata", ["k"]),
        ("thinking", {"type": "on", "budget_tokens": 10}),
        ("thinking", {"type": "enabled"}),
        ("thinking", {"type": "enabled", "budget_tokens": 0}),
        ("thinking", {"type": "enabled", "budget_tokens": 2**63}),
        ("tools", {"name": "f"}),
        ("tools", ["f"]),
        ("tools", [{"x": float("inf")}]),
        ("tool_choice", 3),
        ("system", 3),
    ],
)
def test_bad_literal_parameter_is_named(reviews, name, value):
    kwargs = {**BASIC, name: value}
    with pytest.raises(ParameterError, match=f"^{name} must be"):
        build_requests(reviews, prompt="{review}", **kwargs)


def test_lone_surrogate_in_a_literal_is_a_parameter_error(reviews):
    with pytest.raises(ParameterError, match=r"^model must be valid Unicode text"):
        build_requests(reviews, prompt="{review}", model="m\ud800", max_tokens=1)


def test_required_parameters(reviews):
    with pytest.raises(ParameterError, match="model is required"):
        build_requests(reviews, prompt="{review}", model=None, max_tokens=5)


def test_thinking_budget_equal_to_max_tokens_is_accepted(reviews):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    out = build_requests(reviews, prompt="{review}", model="m", max_tokens=1024, thinking=thinking)
    assert wire(out)[0]["thinking"] == {"budget_tokens": 1024, "type": "enabled"}


def test_per_row_model_and_max_tokens(reviews):
    df = reviews.with_columns(
        model=pl.Series(["openai/gpt-4o", "anthropic/claude-haiku-4.5"] * 2),
        budget=pl.Series([10, 20, 30, 40], dtype=pl.UInt16),
    )
    out = build_requests(df, prompt="{review}", model=pl.col("model"), max_tokens=pl.col("budget"))
    params = wire(out)
    assert [p["model"] for p in params] == df["model"].to_list()
    assert [p["max_tokens"] for p in params] == [10, 20, 30, 40]
    assert out["custom_id"].n_unique() == 4  # "Great!" twice, but different models


def test_per_row_expression_values(reviews):
    out = build_requests(
        reviews, prompt="{review}", temperature=pl.col("id") / 4, max_tokens=pl.col("id") * 8,
        model="m",
    )  # fmt: skip
    assert [(p["temperature"], p["max_tokens"]) for p in wire(out)] == [
        (0.25, 8),
        (0.5, 16),
        (0.75, 24),
        (1.0, 32),
    ]


def test_per_row_nulls_of_optional_params_are_left_out(reviews):
    df = reviews.with_columns(
        t=pl.Series([0.5, None, 1.0, None]),
        k=pl.Series([None, 3, None, None]),
        stops=pl.Series([["x"], None, [], None]),
        meta=pl.Series([{"a": "1"}, None, {"a": "2"}, None]),
        sys=pl.Series(["s", None, None, "t"]),
    )
    out = build_requests(
        df, prompt="{review}", temperature=pl.col("t"), top_k=pl.col("k"),
        stop_sequences=pl.col("stops"), metadata=pl.col("meta"), system=pl.col("sys"), **BASIC,
    )  # fmt: skip
    params = wire(out)
    msgs = [[{"role": "user", "content": r}] for r in reviews["review"]]
    assert params == [
        {**BASIC, "messages": msgs[0], "metadata": {"a": "1"}, "stop_sequences": ["x"],
         "system": "s", "temperature": 0.5},
        {**BASIC, "messages": msgs[1], "top_k": 3},
        {**BASIC, "messages": msgs[2], "metadata": {"a": "2"}, "stop_sequences": [],
         "temperature": 1.0},
        {**BASIC, "messages": msgs[3], "system": "t"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        (
            "max_tokens",
            [5, 0, -1, 7],
            "max_tokens must be an integer >= 1 (not null) in every row; 2 rows are not "
            "(first at row 1)",
        ),
        ("max_tokens", [5, None, 6, 7], "1 rows are not (first at row 1)"),
        (
            "temperature",
            [0.0, 1.0, 2.0, 3.0],
            "temperature must be a number in [0, 2] in every row; 1 rows are not (first at row 3)",
        ),
        (
            "top_p",
            [0.0, 1.0, 2.0, 0.5],
            "top_p must be a number in (0, 1] in every row; 2 rows are not (first at row 0)",
        ),
        (
            "top_k",
            [1, 1, 0, None],
            "top_k must be an integer >= 1 in every row; 1 rows are not (first at row 2)",
        ),
        (
            "model",
            ["m", "", "m", None],
            "model must be a non-empty model name in every row; 2 rows are not (first at row 1)",
        ),
    ],
)
def test_bad_column_values_count_rows_and_name_the_first(reviews, name, values, message):
    df = reviews.with_columns(v=pl.Series(values))
    kwargs = {**BASIC, name: pl.col("v")}
    with pytest.raises(ParameterError) as info:
        build_requests(df, prompt="{review}", **kwargs)
    assert message in str(info.value)


def test_skipped_rows_are_not_validated():
    df = pl.DataFrame({"q": ["a", None], "mt": [5, 0]})
    out = build_requests(df, prompt="{q}", model="m", max_tokens=pl.col("mt"), on_null="skip")
    assert out["custom_id"].null_count() == 1


@pytest.mark.parametrize(
    ("name", "dtype_text"),
    [("max_tokens", "integer"), ("temperature", "numeric"), ("model", "String")],
)
def test_column_of_wrong_dtype(reviews, name, dtype_text):
    kwargs = {**BASIC, name: pl.col("title") if name != "model" else pl.col("id")}
    if name == "max_tokens":
        kwargs[name] = pl.col("id").cast(pl.Float64)
    with pytest.raises(ParameterError, match=f"{name} column must have .*{dtype_text}"):
        build_requests(reviews, prompt="{review}", **kwargs)


@pytest.mark.parametrize("name", ["thinking", "tools", "tool_choice"])
def test_literal_only_parameters_refuse_expressions(reviews, name):
    with pytest.raises(ParameterError, match=f"{name} cannot be given per row"):
        build_requests(reviews, prompt="{review}", **{**BASIC, name: pl.col("title")})


def test_parameter_expression_naming_a_missing_column(reviews):
    with pytest.raises(ColumnNotFoundError, match="columns are: id, review, title"):
        build_requests(reviews, prompt="{review}", model="m", max_tokens=pl.col("budget"))


# ---- frame-level errors, id prefix, lazy ----------------------------------------------------


@pytest.mark.parametrize("column", ["custom_id", "params"])
def test_existing_output_column_is_refused(reviews, column):
    with pytest.raises(InputError, match=f"already has column.*'{column}'.*rename"):
        build_requests(reviews.with_columns(pl.lit("x").alias(column)), prompt="{review}", **BASIC)


def test_id_prefix(reviews):
    out = build_requests(reviews, prompt="{review}", id_prefix="job7_", **BASIC)
    assert out["custom_id"].str.starts_with("job7_").all()
    with pytest.raises(ParameterError, match="id_prefix"):
        build_requests(reviews, prompt="{review}", id_prefix="has space", **BASIC)
    long_ids = build_requests(reviews, prompt="{review}", id_prefix="p" * 16, dedupe=False, **BASIC)
    assert long_ids["custom_id"].str.contains(ID_PATTERN).all()


def test_lazyframe_in_lazyframe_out(reviews, built):
    lazy = build_requests(reviews.lazy(), prompt="Classify: {review} (title: {title})", **BASIC)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(built)


def test_lazyframe_checks_names_now_and_data_at_collect():
    lazy = pl.LazyFrame({"review": ["a", None]})
    with pytest.raises(ColumnNotFoundError, match="column 'text' not found"):
        build_requests(lazy, prompt="{text}", **BASIC)
    with pytest.raises(ParameterError, match="max_tokens"):
        build_requests(lazy, prompt="{review}", model="m", max_tokens=0)
    pending = build_requests(lazy, prompt="{review}", **BASIC)
    with pytest.raises(NullValueError, match="column 'review'"):
        pending.collect()


def test_empty_frame():
    out = build_requests(pl.DataFrame({"q": []}, schema={"q": pl.String}), prompt="{q}", **BASIC)
    assert out.height == 0
    assert out.columns == ["q", "custom_id", "params"]


# ---- properties ---------------------------------------------------------------------------------

_chars = st.characters(exclude_categories=("Cs",))  # lone surrogates are not text
_text = st.text(_chars)

PARAMS = st.fixed_dictionaries(
    {"model": st.text(_chars, min_size=1).filter(str.strip), "max_tokens": st.integers(1, 2**40)},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1, exclude_min=True),
        "top_k": st.integers(1, 10_000),
        "stop_sequences": st.lists(_text, max_size=3),
        "metadata": st.dictionaries(_text, _text, max_size=3),
        "system": _text.filter(lambda s: "{" not in s and "}" not in s),
        "thinking": st.builds(
            lambda b: {"budget_tokens": b, "type": "enabled"}, st.integers(1, 2**63 - 1)
        ),
        "tools": st.lists(
            st.dictionaries(
                st.text(_chars, max_size=5), st.one_of(st.integers(), _text), max_size=3
            ),
            max_size=3,
        ),
        "tool_choice": st.sampled_from([{"type": "auto"}, {"type": "tool", "name": "f"}, "auto"]),
    },
)


@settings(max_examples=60, deadline=None)
@given(params=PARAMS, contents=st.lists(_text, min_size=1, max_size=4))
def test_any_params_round_trip_with_valid_stable_ids(params, contents):
    df = pl.DataFrame({"c": contents}, schema={"c": pl.String})
    out = build_requests(df, prompt="{c}", **params)
    again = build_requests(df, prompt="{c}", **params)
    texts = out.select(params_json(pl.col("params"))).to_series().to_list()
    for text, content, custom_id in zip(texts, contents, out["custom_id"], strict=True):
        expected = {**params, "messages": [{"role": "user", "content": content}]}
        assert json.loads(text) == expected
        assert re.match(ID_PATTERN, custom_id)
        assert custom_id == "sf" + xxhash.xxh3_128_hexdigest(text.encode())
    assert out["custom_id"].to_list() == again["custom_id"].to_list()
    assert out["custom_id"].n_unique() == len(set(contents))


def test_a_lazy_frame_is_built_a_piece_at_a_time_by_the_streaming_engine(monkeypatch):
    """A LazyFrame's build streams (was one map_batches over the whole frame)."""
    from siraya_frames import _build

    heights: list[int] = []
    build = _build._build_eager

    def spy(df, spec, offset=0):
        heights.append(df.height)
        return build(df, spec, offset)

    monkeypatch.setattr(_build, "_build_eager", spy)
    df = pl.DataFrame({"q": [f"text {i % 1000}" for i in range(300_000)]})
    lazy = build_requests(df.lazy(), prompt="{q}", model="m", max_tokens=4)
    out = lazy.collect(engine="streaming")
    assert 0 < max(heights) < df.height
    eager = build_requests(df, prompt="{q}", model="m", max_tokens=4)
    assert out.equals(eager)


def test_a_streamed_build_names_the_row_of_the_input_in_its_errors():
    rows = [f"text {i}" for i in range(300_000)]
    rows[250_001] = None
    lazy = build_requests(pl.LazyFrame({"q": rows}), prompt="{q}", model="m", max_tokens=4)
    with pytest.raises(NullValueError, match=r"first at row 250001\)"):
        lazy.collect(engine="streaming")


@pytest.mark.parametrize("lazy", [False, True])
def test_a_prompt_without_a_column_is_one_request_for_every_row(lazy):
    df = pl.DataFrame({"a": [1, 2, 3]})
    out = build_requests(df.lazy() if lazy else df, prompt="Say hi", model="m", max_tokens=5)
    out = out.collect() if lazy else out
    assert out["a"].to_list() == [1, 2, 3]
    assert out["custom_id"].n_unique() == 1 and out["custom_id"].null_count() == 0
    body = json.loads(out.select(params_json(pl.col("params"))).item(2, 0))
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert build_requests(df.clear(), prompt="Say hi", model="m", max_tokens=5).height == 0
