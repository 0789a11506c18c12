"""join_results: answers back onto the original rows, order and height kept."""

from __future__ import annotations

import logging
import warnings
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siraya_frames import _join
from siraya_frames._errors import ColumnNotFoundError, InputError
from siraya_frames._join import ANSWER_COLUMNS, join_results
from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, read_results

ANSWERS = list(ANSWER_COLUMNS)


@pytest.fixture
def requests() -> pl.DataFrame:
    """A build_requests-like frame: rows 0 and 2 share a request, row 3 was skipped."""
    return pl.DataFrame(
        {
            "review": ["great", "awful", "great", None, "fine"],
            "stars": [5, 1, 5, None, 3],
            "custom_id": ["id-great", "id-awful", "id-great", None, "id-fine"],
            "params": [{"max_tokens": 5}, {"max_tokens": 5}, {"max_tokens": 5}, None, {}],
        }
    )


@pytest.fixture
def results() -> pl.DataFrame:
    """Normalised results, in another order than the requests, as a batch returns them."""
    rows = [
        {"custom_id": "id-awful", "result_status": "errored", "error_type": "overloaded_error",
         "error_message": "Overloaded"},
        {"custom_id": "id-great", "result_status": "succeeded", "response_text": "positive",
         "stop_reason": "end_turn", "model": "m", "input_tokens": 10, "output_tokens": 1},
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def test_rows_keep_their_order_and_height_and_get_their_answers(
    requests: pl.DataFrame, results: pl.DataFrame
) -> None:
    joined = join_results(requests, results)
    assert joined.columns == ["review", "stars", "custom_id", *ANSWERS]
    assert joined.select("review", "stars", "custom_id").equals(requests.drop("params"))
    shown = ["response_text", "result_status", "stop_reason", "input_tokens", "output_tokens",
             "error_type", "error_message", "batch_id"]  # fmt: skip
    assert joined.select(shown).rows() == [
        ("positive", "succeeded", "end_turn", 10, 1, None, None, None),
        (None, "errored", None, None, None, "overloaded_error", "Overloaded", None),
        ("positive", "succeeded", "end_turn", 10, 1, None, None, None),
        (None, "skipped", None, None, None, None, None, None),
        (None, "missing", None, None, None, None, None, None),
    ]
    assert joined.schema["input_tokens"] == pl.Int64
    assert joined.schema["batch_id"] == pl.String


def test_a_lazy_requests_frame_is_collected(requests: pl.DataFrame, results: pl.DataFrame) -> None:
    assert join_results(requests.lazy(), results.lazy()).equals(join_results(requests, results))


def test_prefix_names_every_added_column(requests: pl.DataFrame, results: pl.DataFrame) -> None:
    joined = join_results(requests.rename({"review": "response_text"}), results, prefix="llm_")
    assert joined.columns == [
        "response_text",
        "stars",
        "custom_id",
        *(f"llm_{name}" for name in ANSWERS),
    ]
    assert joined["response_text"].to_list() == ["great", "awful", "great", None, "fine"]
    assert joined["llm_response_text"].to_list() == ["positive", None, "positive", None, None]


def test_a_clash_with_an_input_column_names_it_and_suggests_prefix(
    requests: pl.DataFrame, results: pl.DataFrame
) -> None:
    clashing = requests.with_columns(pl.lit("x").alias("result_status"))
    with pytest.raises(InputError, match=r"column 'result_status'.*prefix="):
        join_results(clashing, results)
    with pytest.raises(InputError, match=r"column 'a_batch_id'"):
        join_results(requests.with_columns(a_batch_id=1), results, prefix="a_")


def test_batch_id_and_missing_rows_from_a_job_are_kept(requests: pl.DataFrame) -> None:
    results = pl.DataFrame(
        {
            "custom_id": ["id-fine", "id-great", "id-awful"],
            "result_status": ["missing", "succeeded", "expired"],
            "response_text": [None, "positive", None],
            "batch_id": [None, "batch_1", "batch_2"],
        }
    )
    joined = join_results(requests, results)
    assert joined.select("result_status", "batch_id").rows() == [
        ("succeeded", "batch_1"),
        ("expired", "batch_2"),
        ("succeeded", "batch_1"),
        ("skipped", None),
        ("missing", None),
    ]
    assert joined["stop_reason"].null_count() == 5  # absent in the results: null


def test_results_for_ids_not_in_the_requests_are_dropped_with_a_warning(
    requests: pl.DataFrame, results: pl.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    extra = pl.DataFrame(
        {"custom_id": ["other-1", "other-2"], "result_status": ["succeeded", "errored"]}
    )
    with (
        caplog.at_level(logging.INFO, logger="siraya_frames"),
        pytest.warns(ResultsWarning, match=r"^2 results had a custom_id that is not"),
    ):
        joined = join_results(requests, pl.concat([results, extra], how="diagonal"))
    assert joined.height == 5
    assert "other-1" not in joined["custom_id"].to_list()
    assert caplog.records[0].getMessage().startswith("2 results had")
    assert caplog.records[0].levelno == logging.INFO  # shown once: as the warning, not a log


def test_no_warning_when_every_result_finds_its_row(
    requests: pl.DataFrame, results: pl.DataFrame
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        join_results(requests, results)


def test_a_retried_request_keeps_the_succeeded_result(requests: pl.DataFrame) -> None:
    results = pl.DataFrame(
        {
            "custom_id": ["id-great", "id-great", "id-great", "id-fine", "id-fine"],
            "result_status": ["errored", "succeeded", "expired", "errored", "expired"],
            "response_text": [None, "positive", None, None, None],
            "batch_id": ["b1", "b2", "b3", "b1", "b2"],
        }
    )
    joined = join_results(requests, results)
    assert joined.height == 5
    assert joined.select("result_status", "batch_id").rows() == [
        ("succeeded", "b2"),
        ("missing", None),
        ("succeeded", "b2"),
        ("skipped", None),
        ("expired", "b2"),
    ]


def test_all_rows_skipped_with_a_null_typed_custom_id() -> None:
    requests = pl.DataFrame({"text": ["a", "b"], "custom_id": [None, None]})
    results = pl.DataFrame(schema=RESULT_SCHEMA)
    joined = join_results(requests, results)
    assert joined["result_status"].to_list() == ["skipped", "skipped"]
    assert joined.schema["custom_id"] == pl.String


def test_missing_columns_are_named(requests: pl.DataFrame, results: pl.DataFrame) -> None:
    with pytest.raises(ColumnNotFoundError, match=r"'custom_id' not found in requests; columns"):
        join_results(requests.drop("custom_id"), results)
    with pytest.raises(ColumnNotFoundError, match=r"'result_status' not found in results"):
        join_results(requests, results.drop("result_status"))
    with pytest.raises(InputError, match="must be a Polars DataFrame or LazyFrame, not dict"):
        join_results({"custom_id": []}, results)  # type: ignore[arg-type]


def by_length(column: str) -> pl.Expr:
    """A join key that collides often: "id-great" and "id-awful" share theirs."""
    return pl.col(column).str.len_bytes().cast(pl.UInt64).alias(_join._KEY)


def test_a_hash_collision_never_attaches_a_wrong_answer(
    requests: pl.DataFrame, results: pl.DataFrame
) -> None:
    great = results.filter(pl.col("custom_id") == "id-great")
    with mock.patch.object(_join, "_key", by_length), warnings.catch_warnings():
        warnings.simplefilter("error")
        joined = join_results(requests, great)  # "id-awful" hashes like "id-great"
    assert joined["result_status"].to_list() == [
        "succeeded",
        "missing",
        "succeeded",
        "skipped",
        "missing",
    ]
    assert joined["response_text"].to_list() == ["positive", None, "positive", None, None]


def test_colliding_answers_are_joined_on_the_strings(
    requests: pl.DataFrame, results: pl.DataFrame
) -> None:
    stranger = results.filter(pl.col("custom_id") == "id-awful").with_columns(
        custom_id=pl.lit("zz-zzzzz")
    )
    with mock.patch.object(_join, "_key", by_length), pytest.warns(ResultsWarning) as caught:
        joined = join_results(requests, pl.concat([results, stranger]))
    assert joined.equals(join_results(requests, results))
    assert str(caught[0].message).startswith("1 result had a custom_id")


def test_read_then_join_end_to_end(requests: pl.DataFrame) -> None:
    lines = "\n".join(
        [
            '{"custom_id":"id-fine","result":{"type":"succeeded","message":{"model":"m",'
            '"content":[{"type":"text","text":"neutral"}],"stop_reason":"end_turn",'
            '"usage":{"input_tokens":4,"output_tokens":1}}}}',
            '{"custom_id":"id-great","result":{"type":"expired"}}',
        ]
    )
    joined = join_results(requests, read_results(lines))
    assert joined.select("response_text", "result_status", "input_tokens").rows() == [
        (None, "expired", None),
        (None, "missing", None),
        (None, "expired", None),
        (None, "skipped", None),
        ("neutral", "succeeded", 4),
    ]


# --- properties ----------------------------------------------------------------------------

SOME_IDS = st.sampled_from(["a", "b", "c", "d", "e"])


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.none() | SOME_IDS, max_size=30),
    answered=st.dictionaries(
        SOME_IDS | st.sampled_from(["x", "y"]),
        st.sampled_from(["succeeded", "errored", "missing"]),
    ),
)
def test_order_height_fan_out_and_statuses(ids: list[str | None], answered: dict) -> None:
    requests = pl.DataFrame(
        {"row": range(len(ids)), "custom_id": ids}, schema={"row": pl.Int64, "custom_id": pl.String}
    )
    results = pl.DataFrame(
        {
            "custom_id": list(answered),
            "result_status": list(answered.values()),
            "response_text": [f"answer {i}" for i in answered],
        },
        schema={"custom_id": pl.String, "result_status": pl.String, "response_text": pl.String},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        joined = join_results(requests, results)
    assert joined.height == len(ids)
    assert joined["row"].to_list() == list(range(len(ids)))
    assert joined["custom_id"].to_list() == ids
    for custom_id, status, text in joined.select(
        "custom_id", "result_status", "response_text"
    ).iter_rows():
        if custom_id is None:
            assert (status, text) == ("skipped", None)
        elif custom_id in answered:
            assert (status, text) == (answered[custom_id], f"answer {custom_id}")
        else:
            assert (status, text) == ("missing", None)


def test_tool_calls_and_cache_tokens_flow_through_to_the_joined_rows() -> None:
    tool = {"type": "tool_use", "id": "toolu_1", "name": "label", "input": {"label": "pos"}}
    usage = {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 900,
             "cache_creation_input_tokens": 50}  # fmt: skip
    message = {"model": "m", "stop_reason": "tool_use", "content": [tool], "usage": usage}
    line = {"custom_id": "id-great", "result": {"type": "succeeded", "message": message}}
    requests = pl.DataFrame({"review": ["great", "fine"], "custom_id": ["id-great", "id-fine"]})
    joined = join_results(requests, read_results([line]), prefix="llm_")
    got = joined.select(
        "llm_tool_calls", "llm_cache_read_input_tokens", "llm_cache_creation_input_tokens"
    ).rows()
    assert got == [('[{"name":"label","input":{"label":"pos"},"id":"toolu_1"}]', 900, 50),
                   (None, None, None)]  # fmt: skip
    assert ANSWERS[:2] == ["response_text", "tool_calls"]
    assert ANSWERS[4:8] == ["input_tokens", "output_tokens", "cache_read_input_tokens",
                            "cache_creation_input_tokens"]  # fmt: skip
