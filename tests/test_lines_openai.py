"""OpenAI / Azure / Siraya / OpenRouter / vLLM lines: text, tool calls, tokens, errors."""

from __future__ import annotations

import json

import pytest
from fixtures.results import fast_reader_for_every_line, one, row

from siraya_frames._results import read_results


def chat(message: dict, **response: object) -> dict:
    body = {
        "model": "gpt-4o-mini",
        "choices": [{"finish_reason": "stop", "message": message}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    return {"custom_id": "o", "response": {"status_code": 200, "body": body, **response}}


def test_openai_content_parts_are_joined() -> None:
    parts = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]
    assert one(chat({"content": parts}))["response_text"] == "Hello, world"


def test_openai_tool_calls_give_the_arguments() -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": '{"label": "spam"}'}}
    got = one(chat({"content": None, "tool_calls": [call]}))
    assert got["response_text"] == '{"label":"spam"}'
    assert got["tool_calls"] == '[{"name":"f","input":{"label":"spam"}}]'


@pytest.mark.parametrize("content", [None, ""])
def test_openai_tool_calls_fill_tool_calls_with_their_ids(content: str | None) -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
    ]
    got = one(chat({"content": content, "tool_calls": calls}))
    assert json.loads(got["tool_calls"]) == [
        {"name": "f", "input": {"a": 1}, "id": "call_1"},
        {"name": "g", "input": "not json", "id": "call_2"},
    ]
    assert got["response_text"] == '[{"a":1},"not json"]'


def test_openai_text_with_tool_calls_keeps_only_the_text() -> None:
    call = {"id": "c", "function": {"name": "f", "arguments": "{}"}}
    got = one(chat({"content": "Sure.", "tool_calls": [call]}))
    assert (got["response_text"], got["tool_calls"]) == (
        "Sure.",
        '[{"name":"f","input":{},"id":"c"}]',
    )


def test_cached_prompt_tokens_are_not_counted_as_input_tokens() -> None:
    line = chat({"content": "ok"})
    line["response"]["body"]["usage"] = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 1920},
    }
    lines = [{**line, "custom_id": f"o{i}"} for i in range(3)]
    with fast_reader_for_every_line():
        fast = read_results("\n".join(json.dumps(x) for x in lines))
    tokens = ["input_tokens", "output_tokens", "cache_read_input_tokens",
              "cache_creation_input_tokens"]  # fmt: skip
    assert fast.select(tokens).rows() == [(86, 300, 1920, None)] * 3
    assert read_results(lines).equals(fast)


def test_vllm_bare_chat_completion_response_is_succeeded() -> None:
    body = chat({"content": "Hi"})["response"]["body"]
    line = {"id": "vllm-1", "custom_id": "v", "response": body, "error": None}
    with fast_reader_for_every_line():
        fast = read_results(json.dumps(line))
    expected = row("v", "succeeded", response_text="Hi", stop_reason="stop",
                   model="gpt-4o-mini", input_tokens=3, output_tokens=2)  # fmt: skip
    assert one(line) == fast.row(0, named=True) == expected


@pytest.mark.parametrize("key", ["code", "type", "error_type"])
@pytest.mark.parametrize(
    ("value", "status"),
    [("batch_cancelled", "canceled"), ("batch_canceled", "canceled"),
     ("request_cancelled", "canceled"), ("canceled", "canceled"),
     ("batch_expired", "expired"), ("expired", "expired")],
)  # fmt: skip
def test_reference_dialect_canceled_and_expired_on_any_key(key: str, value: str, status: str):
    line = {"custom_id": "r", "response": None, "error": {key: value, "message": "m"}}
    lines = [{**line, "custom_id": f"r{i}"} for i in range(3)]
    with fast_reader_for_every_line():
        fast = read_results("\n".join(json.dumps(x) for x in lines))
    assert fast["result_status"].to_list() == [status] * 3
    assert one(line) == row("r", status, error_type=value, error_message="m")


def test_openai_refusal_is_the_text() -> None:
    assert one(chat({"content": None, "refusal": "I can't help."}))["response_text"] == (
        "I can't help."
    )


def test_openai_non_200_reads_the_error_under_the_body() -> None:
    line = {
        "custom_id": "o",
        "response": {
            "status_code": 400,
            "request_id": "r",
            "body": {
                "error": {
                    "message": "Invalid model",
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            },
        },
        "error": None,
    }
    assert one(line) == row(
        "o", "errored", error_type="invalid_request_error", error_message="Invalid model"
    )


def test_openai_non_200_without_an_error_body() -> None:
    line = {"custom_id": "o", "response": {"status_code": 502, "body": "Bad gateway"}}
    assert one(line) == row("o", "errored", error_type="http_502", error_message="Bad gateway")


def test_openai_error_without_response() -> None:
    line = {"custom_id": "o", "response": None, "error": {"code": "server_error", "message": "x"}}
    assert one(line) == row("o", "errored", error_type="server_error", error_message="x")


@pytest.mark.parametrize("code", ["batch_cancelled", "cancelled"])
def test_openai_cancelled_code_is_canceled(code: str) -> None:
    line = {"custom_id": "o", "response": None, "error": {"code": code, "message": "stopped"}}
    assert one(line) == row("o", "canceled", error_type=code, error_message="stopped")


def test_siraya_error_with_a_numeric_code() -> None:
    line = {"custom_id": "s", "error": {"message": "Invalid API Key", "code": 401}}
    assert one(line) == row("s", "errored", error_type="401", error_message="Invalid API Key")


def test_siraya_status_instead_of_status_code_and_a_body_as_json_text() -> None:
    body = json.dumps({"choices": [{"message": {"content": "Hi"}, "finish_reason": "length"}]})
    line = {"custom_id": "s", "response": {"status": "200", "body": body}}
    assert one(line) == row("s", "succeeded", response_text="Hi", stop_reason="length")


def test_openrouter_messages_endpoint_body_is_an_anthropic_message() -> None:
    body = {"content": [{"type": "text", "text": "Yo"}], "usage": {"input_tokens": 1}}
    assert one({"custom_id": "m", "response": {"body": body}})["response_text"] == "Yo"
