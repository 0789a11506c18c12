"""Documented result lines (tests/fixtures/result_lines/, sources in its README) read exactly.

Every fixture line gives the same row through the Python fallback (a list of lines) and the
pyarrow fast path (a file of many such lines); the lines themselves are valid shapes of the
official SDK models, where one exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from anthropic.types.messages import MessageBatchIndividualResponse
from openai.types.chat import ChatCompletion

from siraya_frames import _jsonl_reader
from siraya_frames._results import RESULT_SCHEMA, read_results

FIXTURES = Path(__file__).parent / "fixtures" / "result_lines"


def row(custom_id: str, status: str, **values: object) -> dict[str, object]:
    return {name: None for name in RESULT_SCHEMA} | {
        "custom_id": custom_id,
        "result_status": status,
        **values,
    }


def ok(custom_id: str, text: str | None, stop: str, model: str | None, tokens: tuple, **more):
    names = ("input_tokens", "output_tokens", "cache_read_input_tokens")
    return row(
        custom_id,
        "succeeded",
        response_text=text,
        stop_reason=stop,
        model=model,
        **dict(zip(names, tokens, strict=False)),
        **more,
    )


def calls(*items: dict) -> str:
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


EXPECTED: dict[str, list[dict[str, object]]] = {
    "anthropic_guide.jsonl": [
        ok("my-second-request", "Hello again! It's nice to see you. How can I assist you today? "
           "Is there anything specific you'd like to chat about or any questions you have?",
           "end_turn", "claude-opus-4-7", (11, 36)),
        ok("my-first-request", "Hello! How can I assist you today? Feel free to ask me any "
           "questions or let me know if there's anything you'd like to chat about.",
           "end_turn", "claude-opus-4-7", (10, 34)),
    ],
    "anthropic_capture.jsonl": [
        row("bad-model", "errored", error_type="not_found_error",
            error_message="model: claude-does-not-exist-9"),
        row("image_url", "errored", error_type="invalid_request_error",
            error_message="Unable to download the file. Please verify the URL and try again."),
        row("c-1", "canceled"),
        row("x", "expired"),
    ],
    "anthropic_cache_usage.jsonl": [
        ok("cached", "positive", "end_turn", "claude-haiku-4-5-20251001", (12, 3, 2048),
           cache_creation_input_tokens=0),
        ok("cache-write", "negative", "end_turn", "claude-haiku-4-5-20251001", (12, 3, 0),
           cache_creation_input_tokens=2048),
    ],
    "anthropic_tool_use.jsonl": [
        ok("tool-after-text", "I'll check the current weather in San Francisco for you.",
           "tool_use", "claude-sonnet-4-5", (384, 89),
           tool_calls=calls({"name": "get_weather",
                             "input": {"location": "San Francisco, CA", "unit": "celsius"},
                             "id": "toolu_01A09q90qw90lq917835lq9"})),
        ok("tool-only", '{"label":"positive"}', "tool_use", "claude-sonnet-4-5", (120, 40),
           tool_calls=calls({"name": "record_label", "input": {"label": "positive"},
                             "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6"})),
    ],
    "openai_guide.jsonl": [
        ok("request-1", "2 + 2 equals 4.", "stop", "gpt-4o-mini-2024-07-18", (24, 8)),
        row("request-3", "expired", error_type="batch_expired", error_message="This request "
            "could not be executed before the completion window expired."),
    ],
    "openai_tool_calls.jsonl": [
        ok("tool-call", '{"location":"Boston, MA"}', "tool_calls", "gpt-4o-mini-2024-07-18",
           (82, 17), tool_calls=calls({"name": "get_current_weather",
                                       "input": {"location": "Boston, MA"},
                                       "id": "call_abc123"})),
        ok("tool-call-bad-args", '{"label": "pos', "tool_calls", "gpt-4o-mini-2024-07-18",
           (50, 9), tool_calls=calls({"name": "label", "input": '{"label": "pos',
                                      "id": "call_abc124"})),
    ],
    "openai_cached_usage.jsonl": [
        ok("cached-prompt", "neutral", "stop", "gpt-4o-2024-08-06", (2006 - 1920, 300, 1920)),
    ],
    "azure_prompt_filter.jsonl": [
        ok("task-0", "Microsoft was founded on April 4, 1975, by Bill Gates and Paul Allen in "
           "Albuquerque, New Mexico.", "stop", "gpt-4o-2024-05-13", (27, 24)),
    ],
    "openrouter_result.jsonl": [ok("<string>", "<string>", "stop", None, ())],
    "vllm_bare.jsonl": [
        ok("request-1", "Hello! How can I assist you today?", "stop",
           "meta-llama/Meta-Llama-3-8B-Instruct", (22, 9)),
    ],
    "reference_dialect.jsonl": [
        row("ref-cancelled", "canceled", error_type="batch_cancelled",
            error_message="The batch was cancelled before this request was processed."),
        row("ref-expired", "expired", error_type="batch_expired",
            error_message="The batch expired before this request was processed."),
        ok("ref-ok", "Hello!", None, None, ()),
    ],
}  # fmt: skip
# Fixtures whose every line the pyarrow path reads (no tool call, no error object).
ALL_FAST = {
    "anthropic_guide.jsonl",
    "anthropic_capture.jsonl",
    "anthropic_cache_usage.jsonl",
    "openai_cached_usage.jsonl",
    "azure_prompt_filter.jsonl",
    "vllm_bare.jsonl",
}
COPIES = 100  # over _jsonl_reader._LEAF_LINES, so pyarrow reads them


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


def test_every_fixture_file_has_expectations_and_a_named_source() -> None:
    names = sorted(path.name for path in FIXTURES.glob("*.jsonl"))
    assert names == sorted(EXPECTED)
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_python_fallback_gives_the_exact_rows(name: str) -> None:
    assert read_results(lines(name)).to_dicts() == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_fast_path_gives_the_same_rows_for_a_file_of_many(name: str, tmp_path: Path) -> None:
    many, expected = [], []
    for copy in range(COPIES):
        for line, want in zip(lines(name), EXPECTED[name], strict=True):
            obj = json.loads(line)
            obj["custom_id"] = f"{obj['custom_id']}-{copy}"
            many.append(json.dumps(obj, ensure_ascii=False))
            expected.append({**want, "custom_id": obj["custom_id"]})
    path = tmp_path / name
    path.write_text("\n".join(many) + "\n", encoding="utf-8")
    spy = mock.patch.object(_jsonl_reader, "normalise_line", wraps=_jsonl_reader.normalise_line)
    with spy as slow:
        frame = read_results(path)
    assert frame.to_dicts() == expected
    if name in ALL_FAST:
        assert slow.call_count == 0  # pyarrow read every line


def _anthropic_lines() -> list[str]:
    return [line for name in EXPECTED if name.startswith("anthropic") for line in lines(name)]


def _chat_bodies() -> list[dict]:
    """The chat.completion of each OpenAI-shaped line: ``response.body``, or vLLM's bare one.

    OpenRouter's result item and Siraya's reference example are left out: their bodies are
    abridged (no ``id``, ``created``, ``object``), which the OpenAI model requires.
    """
    names = ["openai_guide.jsonl", "openai_tool_calls.jsonl", "openai_cached_usage.jsonl",
             "azure_prompt_filter.jsonl", "vllm_bare.jsonl"]  # fmt: skip
    responses = [json.loads(line)["response"] for name in names for line in lines(name)]
    return [r.get("body", r) for r in responses if r is not None]


@pytest.mark.parametrize("line", _anthropic_lines())
def test_anthropic_fixtures_are_valid_sdk_batch_results(line: str) -> None:
    parsed = MessageBatchIndividualResponse.model_validate(json.loads(line))
    assert parsed.custom_id == json.loads(line)["custom_id"]


@pytest.mark.parametrize("body", _chat_bodies())
def test_openai_fixtures_are_valid_sdk_chat_completions(body: dict) -> None:
    assert ChatCompletion.model_validate(body).object == "chat.completion"
