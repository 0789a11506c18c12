"""Anthropic result lines: text, tool use, cache tokens, errors, canceled and expired."""

from __future__ import annotations

import json

import pytest
from fixtures.results import fast_reader_for_every_line, one, row

from siraya_frames._results import read_results

TOOL = {"type": "tool_use", "id": "toolu_1", "name": "label", "input": {"label": "positive"}}


def anthropic(content: list, **message: object) -> dict:
    message = {"model": "m", "stop_reason": "end_turn", "content": content, **message}
    return {"custom_id": "a", "result": {"type": "succeeded", "message": message}}


def test_anthropic_text_blocks_are_joined_and_thinking_left_out() -> None:
    line = anthropic(
        [
            {"type": "thinking", "thinking": "Let me think", "signature": "sig"},
            {"type": "text", "text": "Part one, "},
            {"type": "text", "text": "part two."},
        ]
    )
    assert one(line)["response_text"] == "Part one, part two."


def test_anthropic_tool_use_only_gives_the_tool_input_as_json() -> None:
    tool = {"type": "tool_use", "id": "t1", "name": "label", "input": {"label": "positive"}}
    assert one(anthropic([tool]))["response_text"] == '{"label":"positive"}'
    second = {**tool, "input": {"label": "négatif"}}
    assert one(anthropic([tool, second]))["response_text"] == (
        '[{"label":"positive"},{"label":"négatif"}]'
    )


def test_anthropic_text_wins_over_tool_use() -> None:
    tool = {"type": "tool_use", "id": "t1", "name": "label", "input": {"x": 1}}
    assert one(anthropic([{"type": "text", "text": "Calling."}, tool]))["response_text"] == (
        "Calling."
    )


def test_anthropic_no_content_gives_null_text_but_succeeded() -> None:
    got = one(anthropic([], stop_reason="max_tokens"))
    assert (got["result_status"], got["response_text"], got["stop_reason"]) == (
        "succeeded",
        None,
        "max_tokens",
    )


def test_anthropic_singly_nested_error_is_read_too() -> None:
    line = {
        "custom_id": "e",
        "result": {
            "type": "errored",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        },
    }
    assert one(line) == row(
        "e", "errored", error_type="overloaded_error", error_message="Overloaded"
    )


def test_anthropic_cancelled_spelling_is_canceled() -> None:
    assert one({"custom_id": "c", "result": {"type": "cancelled"}})["result_status"] == "canceled"


def test_anthropic_usage_with_cache_fields() -> None:
    usage = {
        "input_tokens": 5,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "batch",
    }
    got = one(anthropic([{"type": "text", "text": "ok"}], usage=usage))
    assert (got["input_tokens"], got["output_tokens"]) == (5, 7)  # cache not in input_tokens
    assert (got["cache_read_input_tokens"], got["cache_creation_input_tokens"]) == (100, 0)


def test_tool_use_blocks_fill_tool_calls_text_or_not() -> None:
    expected = '[{"name":"label","input":{"label":"positive"},"id":"toolu_1"}]'
    with_text = one(anthropic([{"type": "text", "text": "Calling."}, TOOL]))
    assert (with_text["response_text"], with_text["tool_calls"]) == ("Calling.", expected)
    tool_only = one(anthropic([TOOL]))
    assert (tool_only["response_text"], tool_only["tool_calls"]) == (
        '{"label":"positive"}',
        expected,
    )


def test_a_tool_use_block_without_id_gives_name_and_input_only() -> None:
    block = {"type": "tool_use", "name": "f", "input": {}}
    assert one(anthropic([block]))["tool_calls"] == '[{"name":"f","input":{}}]'


def test_no_tool_use_gives_null_tool_calls() -> None:
    assert one(anthropic([{"type": "text", "text": "hi"}]))["tool_calls"] is None


def _many(lines: list[dict]) -> str:
    return "\n".join(json.dumps(line) for line in lines)


def test_the_fast_path_keeps_the_tool_calls_of_an_answer_with_text() -> None:
    lines = [
        {**anthropic([{"type": "text", "text": f"t{i}"}, TOOL]), "custom_id": f"a{i}"}
        for i in range(100)
    ]
    with fast_reader_for_every_line():
        frame = read_results(_many(lines))
    assert frame["tool_calls"].null_count() == 0
    assert frame["response_text"].to_list() == [f"t{i}" for i in range(100)]


@pytest.mark.parametrize(
    ("kind", "status"),
    [("expired", "expired"), ("batch_expired", "expired"), ("canceled", "canceled"),
     ("cancelled", "canceled"), ("batch_cancelled", "canceled")],
)  # fmt: skip
def test_canceled_and_expired_vocabularies_in_result_type(kind: str, status: str) -> None:
    line = {"custom_id": "c", "result": {"type": kind}}
    with fast_reader_for_every_line():
        fast = read_results(_many([line]))
    assert one(line)["result_status"] == fast["result_status"].item() == status


def test_an_errored_result_whose_error_type_says_expired_is_expired() -> None:
    error = {"type": "error", "error": {"type": "batch_expired", "message": "too late"}}
    line = {"custom_id": "e", "result": {"type": "errored", "error": error}}
    with fast_reader_for_every_line():
        fast = read_results(_many([line]))
    expected = row("e", "expired", error_type="batch_expired", error_message="too late")
    assert one(line) == fast.row(0, named=True) == expected
