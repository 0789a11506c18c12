"""read_results: the documented lines, every kind of source, documents, repeated ids."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from fixtures.results import fast_reader_for_every_line, read_quietly, row

from siraya_frames._errors import InputError, UnexpectedResponseError
from siraya_frames._results import RESULT_SCHEMA, read_results

# The documented example lines (research notes §1, §2, §3, §5.1), verbatim.
ANTHROPIC_SECOND = (
    '{"custom_id":"my-second-request","result":{"type":"succeeded","message":{"id":'
    '"msg_014VwiXbi91y3JMjcpyGBHX5","type":"message","role":"assistant","model":'
    '"claude-opus-4-7","content":[{"type":"text","text":"Hello again! It\'s nice to see you. '
    "How can I assist you today? Is there anything specific you'd like to chat about or any "
    'questions you have?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":'
    '{"input_tokens":11,"output_tokens":36}}}}'
)
ANTHROPIC_FIRST = (
    '{"custom_id":"my-first-request","result":{"type":"succeeded","message":{"id":'
    '"msg_01FqfsLoHwgeFbguDgpz48m7","type":"message","role":"assistant","model":'
    '"claude-opus-4-7","content":[{"type":"text","text":"Hello! How can I assist you today? '
    "Feel free to ask me any questions or let me know if there's anything you'd like to chat "
    'about."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,'
    '"output_tokens":34}}}}'
)
ANTHROPIC_BAD_MODEL = (
    '{"custom_id":"bad-model","result":{"type":"errored","error":{"type":"error","error":'
    '{"details":{"error_visibility":"user_facing"},"type":"not_found_error","message":'
    '"model: claude-does-not-exist-9"},"request_id":null}}}'
)
ANTHROPIC_IMAGE_URL = (
    '{"custom_id":"image_url","result":{"type":"errored","error":{"type":"error","error":'
    '{"details":{"error_visibility":"user_facing"},"type":"invalid_request_error","message":'
    '"Unable to download the file. Please verify the URL and try again."},"request_id":'
    '"workerreq_01"}}}'
)
ANTHROPIC_CANCELED = '{"custom_id":"c-1","result":{"type":"canceled"}}'
ANTHROPIC_EXPIRED = '{"custom_id":"x","result":{"type":"expired"}}'
OPENAI_OK = (
    '{"custom_id": "request-1", "error": null, "id": "batch_req_403hYy7nMxrxXFWXiwvoLG1q", '
    '"response": {"body": {"choices": [{"finish_reason": "stop", "index": 0, "logprobs": null, '
    '"message": {"content": "2 + 2 equals 4.", "refusal": null, "role": "assistant"}}], '
    '"created": 1724858089, "id": "chatcmpl-A1Efhv97EZNQeHKSLPnTmZex20gf2", "model": '
    '"gpt-4o-mini-2024-07-18", "object": "chat.completion", "system_fingerprint": '
    '"fp_f33667828e", "usage": {"completion_tokens": 8, "prompt_tokens": 24, "total_tokens": '
    '32}}, "request_id": "af0bac0d82530234e09bd6b5d9fbf5cf", "status_code": 200}}'
)
OPENAI_EXPIRED = (
    '{"id": "batch_req_123", "custom_id": "request-3", "response": null, "error": {"code": '
    '"batch_expired", "message": "This request could not be executed before the completion '
    'window expired."}}'
)
SIRAYA_DOCUMENT = {
    "id": "batch_abc123",
    "status": "completed",
    "results": [
        {
            "custom_id": "request-1",
            "response": {
                "status": 200,
                "body": {"choices": [{"message": {"role": "assistant", "content": "Hello!"}}]},
            },
        }
    ],
}
OPENROUTER_ERROR = {
    "custom_id": "req-0002",
    "error": {
        "message": "Rate limit exceeded",
        "param": None,
        "type": "rate_limit_error",
        "error_type": "rate_limit_exceeded",
    },
    "id": "r2",
}
OPENROUTER_OK = {
    "custom_id": "req-0001",
    "id": "r1",
    "response": {
        "body": {
            "choices": [
                {
                    "finish_reason": "stop",
                    "index": 0,
                    "message": {"content": "Short.", "role": "assistant", "reasoning": "hmm"},
                }
            ]
        }
    },
}

DOCUMENTED_LINES = [
    ANTHROPIC_SECOND,
    ANTHROPIC_FIRST,
    ANTHROPIC_BAD_MODEL,
    ANTHROPIC_IMAGE_URL,
    ANTHROPIC_CANCELED,
    ANTHROPIC_EXPIRED,
    OPENAI_OK,
    OPENAI_EXPIRED,
]

EXPECTED = {
    "my-second-request": row(
        "my-second-request",
        "succeeded",
        response_text="Hello again! It's nice to see you. How can I assist you today? Is there "
        "anything specific you'd like to chat about or any questions you have?",
        stop_reason="end_turn",
        model="claude-opus-4-7",
        input_tokens=11,
        output_tokens=36,
    ),
    "my-first-request": row(
        "my-first-request",
        "succeeded",
        response_text="Hello! How can I assist you today? Feel free to ask me any questions or "
        "let me know if there's anything you'd like to chat about.",
        stop_reason="end_turn",
        model="claude-opus-4-7",
        input_tokens=10,
        output_tokens=34,
    ),
    "bad-model": row(
        "bad-model",
        "errored",
        error_type="not_found_error",
        error_message="model: claude-does-not-exist-9",
    ),
    "image_url": row(
        "image_url",
        "errored",
        error_type="invalid_request_error",
        error_message="Unable to download the file. Please verify the URL and try again.",
    ),
    "c-1": row("c-1", "canceled"),
    "x": row("x", "expired"),
    "request-1": row(
        "request-1",
        "succeeded",
        response_text="2 + 2 equals 4.",
        stop_reason="stop",
        model="gpt-4o-mini-2024-07-18",
        input_tokens=24,
        output_tokens=8,
    ),
    "request-3": row(
        "request-3",
        "expired",
        error_type="batch_expired",
        error_message="This request could not be executed before the completion window expired.",
    ),
}

# --- the documented lines ------------------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True], ids=["python", "pyarrow"])
def test_documented_lines_give_exact_rows_in_line_order(fast: bool) -> None:
    content = "\n".join(DOCUMENTED_LINES) + "\n"
    if fast:
        with fast_reader_for_every_line():
            frame = read_results(content)
    else:
        frame = read_results(content)
    assert frame.schema == pl.Schema(RESULT_SCHEMA)
    assert frame["custom_id"].to_list() == list(EXPECTED)
    assert frame.to_dicts() == list(EXPECTED.values())


def test_many_documented_lines_take_the_vectorised_path_and_agree() -> None:
    lines = [
        json.dumps({**json.loads(line), "custom_id": f"{json.loads(line)['custom_id']}-{i}"})
        for i in range(40)
        for line in DOCUMENTED_LINES
    ]
    fast = read_results("\n".join(lines))
    slow = read_results(lines)  # a list of raw lines is read in Python
    assert fast.height == len(lines)
    assert fast.equals(slow)


def test_siraya_reference_inline_document() -> None:
    expected = [row("request-1", "succeeded", response_text="Hello!")]
    assert read_results(SIRAYA_DOCUMENT).to_dicts() == expected
    assert read_results(json.dumps(SIRAYA_DOCUMENT, indent=2)).to_dicts() == expected
    assert read_results(json.dumps(SIRAYA_DOCUMENT).encode()).to_dicts() == expected


def test_openrouter_result_items() -> None:
    frame = read_results({"id": "batch_1", "results": [OPENROUTER_OK, OPENROUTER_ERROR]})
    assert frame.to_dicts() == [
        row("req-0001", "succeeded", response_text="Short.", stop_reason="stop"),
        row(
            "req-0002",
            "errored",
            error_type="rate_limit_exceeded",
            error_message="Rate limit exceeded",
        ),
    ]


# --- sources -------------------------------------------------------------------------------


def test_every_kind_of_source_gives_the_same_frame(tmp_path: Path) -> None:
    content = "\n".join(DOCUMENTED_LINES) + "\n"
    path = tmp_path / "results.jsonl"
    path.write_text(content, encoding="utf-8")
    expected = read_results(content)
    for source in (
        path,
        str(path),
        content.encode(),
        bytearray(content.encode()),
        [json.loads(line) for line in DOCUMENTED_LINES],
        DOCUMENTED_LINES,
        [line.encode() for line in DOCUMENTED_LINES],
    ):
        assert read_results(source).equals(expected), type(source)


def test_a_json_document_file(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(SIRAYA_DOCUMENT, indent=4), encoding="utf-8")
    assert read_results(path)["response_text"].to_list() == ["Hello!"]


def test_a_json_array_of_lines() -> None:
    frame = read_results(json.dumps([json.loads(ANTHROPIC_CANCELED), json.loads(OPENAI_OK)]))
    assert frame["custom_id"].to_list() == ["c-1", "request-1"]


def test_crlf_blank_lines_and_a_byte_order_mark() -> None:
    content = b"\xef\xbb\xbf\r\n" + ANTHROPIC_CANCELED.encode() + b"\r\n\r\n  \n"
    content += b"  " + OPENAI_OK.encode() + b"  \r\n"
    frame, caught = read_quietly(content)
    assert frame["custom_id"].to_list() == ["c-1", "request-1"]
    assert caught == []


@pytest.mark.parametrize("empty", ["", "\n\n", b"", " ", [], {"results": []}])
def test_empty_input_gives_an_empty_frame_with_the_schema(empty: object) -> None:
    frame = read_results(empty)
    assert frame.height == 0
    assert frame.schema == pl.Schema(RESULT_SCHEMA)


def test_a_document_whose_results_are_not_there_yet_is_refused() -> None:
    with pytest.raises(UnexpectedResponseError, match=r"no 'results' list.*processing"):
        read_results({"id": "batch_1", "status": "processing", "results": None})


def test_a_lone_results_key_is_just_a_line_without_custom_id() -> None:
    frame, caught = read_quietly('{"results": 5}')
    assert frame.height == 0
    assert caught[0].startswith("1 result line(s) could not be read")


def test_a_source_of_another_type_is_refused() -> None:
    with pytest.raises(InputError, match="cannot read results from a int"):
        read_results(42)


# --- duplicates ----------------------------------------------------------------------------


def test_a_repeated_custom_id_keeps_the_succeeded_row_else_the_last() -> None:
    ok = json.loads(ANTHROPIC_FIRST)
    lines = [
        {"custom_id": "my-first-request", "result": {"type": "errored"}},
        ok,
        {"custom_id": "my-first-request", "result": {"type": "expired"}},
        {"custom_id": "z", "result": {"type": "errored"}},
        {"custom_id": "z", "result": {"type": "expired"}},
    ]
    frame = read_results(lines)
    assert frame["custom_id"].to_list() == ["my-first-request", "z"]
    assert frame["result_status"].to_list() == ["succeeded", "expired"]
    assert frame["output_tokens"].to_list() == [34, None]
