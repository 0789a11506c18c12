"""read_results: every documented result shape, every source, and malformed lines."""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siraya_frames import _jsonl_reader, _results
from siraya_frames._errors import InputError, UnexpectedResponseError
from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, read_results

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
NULLS = {
    "response_text": None,
    "tool_calls": None,
    "stop_reason": None,
    "model": None,
    "input_tokens": None,
    "output_tokens": None,
    "cache_read_input_tokens": None,
    "cache_creation_input_tokens": None,
    "error_type": None,
    "error_message": None,
}


def row(custom_id: str, status: str, **values: object) -> dict[str, object]:
    return {"custom_id": custom_id, "result_status": status, **NULLS, **values}


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


@contextmanager
def fast_reader_for_every_line():
    """Send even the smallest runs of lines through pyarrow (normally Python reads them)."""
    with mock.patch.object(_jsonl_reader, "_LEAF_LINES", 0):
        yield


@contextmanager
def tiny_pieces():
    """Cut the input into pieces of a line or two, read by parallel threads."""
    with (
        mock.patch.object(_jsonl_reader, "_PIECE_BYTES", 64),
        mock.patch.object(_jsonl_reader, "_MIN_PIECE_BYTES", 1),
        mock.patch.object(_jsonl_reader, "_LEAF_LINES", 0),
    ):
        yield


def by_id(frame: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["custom_id"]: r for r in frame.iter_rows(named=True)}


def one(line: str | dict) -> dict[str, object]:
    frame = read_results([line])
    assert frame.height == 1
    return frame.row(0, named=True)


def read_quietly(source: object, **kwargs: object) -> tuple[pl.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_results(source, **kwargs)
    return frame, [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]


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


# --- each dialect, each outcome --------------------------------------------------------------


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
    assert (got["input_tokens"], got["output_tokens"]) == (5, 7)


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
    assert one(chat({"content": None, "tool_calls": [call]}))["response_text"] == (
        '{"label":"spam"}'
    )


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


# --- malformed lines -----------------------------------------------------------------------


def test_invalid_json_with_a_recoverable_custom_id_is_an_errored_row() -> None:
    broken = '{"custom_id":"trunc","result":{"type":"succ'
    frame, caught = read_quietly(ANTHROPIC_CANCELED + "\n" + broken + "\n")
    got = by_id(frame)["trunc"]
    assert (got["result_status"], got["error_type"]) == ("errored", "invalid_json")
    assert got["error_message"] == (
        "line 2: invalid JSON (Unterminated string starting at): "
        '{"custom_id":"trunc","result":{"type":"succ'
    )
    assert caught == []


def test_only_a_top_level_custom_id_is_recovered_from_a_broken_line() -> None:
    lines = [
        '{"meta": {"custom_id": "nested"}, "custom_id": "outer", "result": {',
        '{"meta": {"custom_id": "nested-only"}, "result": {',
        '{"text": "say \\"custom_id\\": \\"quoted\\"", "custom_id": "real", ',
    ]
    frame, caught = read_quietly("\n".join(lines))
    assert frame["custom_id"].to_list() == ["outer", "real"]
    assert caught[0].startswith("1 result line(s)")


def test_a_long_bad_line_is_quoted_truncated() -> None:
    broken = '{"custom_id":"long","text":"' + "x" * 500
    message = by_id(read_results(broken))["long"]["error_message"]
    assert message.endswith("x…")
    assert len(message) < 200


def test_a_valid_line_of_no_documented_shape_is_unrecognized() -> None:
    line = {"custom_id": "u", "answer": 42}
    assert one(line) == row(
        "u",
        "errored",
        error_type="unrecognized_result",
        error_message='item 1: no documented result shape: {"custom_id":"u","answer":42}',
    )


def test_lines_without_a_custom_id_are_counted_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    content = "\n".join(
        ["not json", ANTHROPIC_CANCELED, '{"no": "id"}', "[1, 2]", '{"custom_id": 7}'] * 2
    )
    with caplog.at_level(logging.WARNING, logger="siraya_frames"):
        frame, caught = read_quietly(content)
    assert frame["custom_id"].to_list() == ["c-1"]
    expected = (
        "8 result line(s) could not be read and had no custom_id; they were skipped "
        "(lines 1, 3, 4, 5, 6, ...); pass strict=True to raise instead"
    )
    assert caught == [expected]
    assert [r.getMessage() for r in caplog.records] == [expected]


def test_lines_lost_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "batch-7.jsonl"
    path.write_text(ANTHROPIC_CANCELED + "\nnot json\n")
    with pytest.warns(ResultsWarning) as caught:
        frame = read_results(path)
    assert frame["custom_id"].to_list() == ["c-1"]
    assert str(caught[0].message) == (
        f"1 result line(s) could not be read and had no custom_id; they were skipped "
        f"(lines 2 of {path}); pass strict=True to raise instead"
    )
    with pytest.raises(UnexpectedResponseError, match=r"line\(s\) of .*batch-7\.jsonl in all"):
        read_results(str(path), strict=True)


def test_strict_raises_naming_the_first_bad_line() -> None:
    content = "\n".join([ANTHROPIC_CANCELED, '{"custom_id":"u","x":1}', "oops"])
    with pytest.raises(UnexpectedResponseError, match=r"^line 2: no documented result shape"):
        read_results(content, strict=True)
    with pytest.raises(
        UnexpectedResponseError,
        match=r"^line 2: invalid JSON \(Expecting value\): oops \(1 malformed",
    ):
        read_results("\n".join([ANTHROPIC_CANCELED, "oops"]), strict=True)
    assert read_results(ANTHROPIC_CANCELED, strict=True).height == 1


def test_invalid_utf8_lone_surrogates_and_deep_nesting_do_not_crash() -> None:
    lines = [
        b'{"custom_id":"u8","result":{"type":"expired"},"junk":"\xff\xfe"}',
        b'{"custom_id":"sur","result":{"type":"succeeded","message":{"content":'
        b'[{"type":"text","text":"a\\ud800b"}]}}}',
        b'{"custom_id":"\\udc00","result":{"type":"expired"}}',
        b"[" * 100_000,
        ANTHROPIC_CANCELED.encode(),
    ]
    frame, caught = read_quietly(b"\n".join(lines * 30))
    got = by_id(frame)
    assert set(got) == {"u8", "sur", "c-1"}
    assert got["u8"]["error_type"] == "invalid_json"
    assert got["sur"]["response_text"] == "a?b"
    assert caught[0].startswith("60 result line(s)")


def test_one_bad_line_among_many_leaves_the_others_on_the_fast_path() -> None:
    lines = [
        json.dumps({"custom_id": f"id{i}", "result": {"type": "expired"}}) for i in range(2000)
    ]
    lines[1234] = '{"custom_id": "id1234", "result": {"type": 5}}'  # another type: pyarrow fails
    lines[77] = '{"custom_id": "id77", "result": {"type": "expired"}} trailing'
    spy = mock.patch.object(_jsonl_reader, "normalise_line", wraps=_jsonl_reader.normalise_line)
    with spy as slow:
        frame = read_results("\n".join(lines))
    assert frame.height == 2000
    assert frame["custom_id"].to_list() == [f"id{i}" for i in range(2000)]
    assert by_id(frame)["id1234"]["error_type"] == "unrecognized_result"
    assert by_id(frame)["id77"]["error_type"] == "invalid_json"
    # Python reads the one non-object line, and a small run around the other one.
    assert slow.call_count <= 1 + _jsonl_reader._SPLIT_INTO * _jsonl_reader._LEAF_LINES


def test_pieces_read_in_parallel_keep_line_numbers_and_order() -> None:
    lines = [json.dumps({"custom_id": f"id{i}", "result": {"type": "expired"}}) for i in range(300)]
    lines[150] = "not json"
    lines[299] = '{"custom_id": "id299", "result": '
    with tiny_pieces():
        frame, caught = read_quietly("\n".join(lines) + "\n")
    assert frame["custom_id"].to_list() == [f"id{i}" for i in range(300) if i != 150]
    assert by_id(frame)["id299"]["error_message"].startswith("line 300: invalid JSON")
    assert caught == [
        "1 result line(s) could not be read and had no custom_id; they were skipped "
        "(lines 151); pass strict=True to raise instead"
    ]


@pytest.mark.parametrize("data", [b"{}", b"\n", b'{"a":1}\r\n\n x\n{}', b"{\n}\n}{\n"])
def test_the_64_bit_line_cutter_agrees_with_the_polars_one(data: bytes) -> None:
    """Pieces over 4 GiB are cut with pyarrow's 64-bit indices instead of Polars'."""
    u8 = pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)])
    polars_cut, arrow_cut = _jsonl_reader._cut_polars(u8), _jsonl_reader._cut_arrow(u8)
    assert [s.cast(pl.Int64).to_list() for s in polars_cut] == [
        s.cast(pl.Int64).to_list() for s in arrow_cut
    ]


def test_two_objects_on_one_line_are_not_taken_for_two_lines() -> None:
    lines = [json.dumps({"custom_id": f"id{i}", "result": {"type": "expired"}}) for i in range(200)]
    lines[10] = lines[10] + lines[11]  # one line, two objects
    lines[11] = '{"custom_id": "half",'  # then an object cut over two lines
    lines[12] = '"result": {"type": "expired"}}'
    frame, caught = read_quietly("\n".join(lines))
    got = by_id(frame)
    assert got["id10"]["error_type"] == "invalid_json"
    assert got["half"]["error_type"] == "invalid_json"
    assert "id11" not in got and "id12" not in got
    assert got["id13"]["result_status"] == "expired"
    assert caught == [
        "1 result line(s) could not be read and had no custom_id; they were "
        "skipped (lines 13); pass strict=True to raise instead"
    ]


def test_a_file_whose_dialect_changes_after_the_first_lines() -> None:
    """The schema is chosen from the first lines; lines of the other dialect still read."""
    anthropic_lines = [
        json.dumps({"custom_id": f"a{i}", "result": {"type": "expired"}}) for i in range(100)
    ]
    chat_lines = [OPENAI_OK.replace("request-1", f"o{i}") for i in range(100)]
    for lines in (anthropic_lines + chat_lines, chat_lines + anthropic_lines):
        frame = read_results("\n".join(lines))
        assert frame.equals(read_results(lines))
        assert frame["custom_id"].to_list() == [json.loads(line)["custom_id"] for line in lines]
        assert frame["response_text"].drop_nulls().unique().to_list() == ["2 + 2 equals 4."]


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


# --- properties ----------------------------------------------------------------------------

IDS = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
TEXT = st.text(max_size=30)
TOKENS = st.none() | st.integers(0, 10**6)


@st.composite
def valid_line(draw: st.DrawFn, custom_id: str) -> dict:
    kind = draw(st.sampled_from(["a-ok", "a-err", "a-end", "o-ok", "o-err", "o-http", "or-err"]))
    if kind == "a-ok":
        blocks = draw(
            st.lists(
                st.sampled_from(["text", "thinking", "tool_use"]).flatmap(
                    lambda t: st.fixed_dictionaries(
                        {"type": st.just(t), "text": TEXT, "input": st.dictionaries(TEXT, TEXT)}
                    )
                ),
                max_size=3,
            )
        )
        usage = {"input_tokens": draw(TOKENS), "output_tokens": draw(TOKENS)}
        message = {"model": draw(TEXT), "stop_reason": draw(TEXT), "content": blocks}
        return {
            "custom_id": custom_id,
            "result": {"type": "succeeded", "message": {**message, "usage": usage}},
        }
    if kind == "a-err":
        inner = {"type": draw(TEXT), "message": draw(TEXT)}
        error = draw(st.sampled_from([{"type": "error", "error": inner}, inner, None]))
        return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
    if kind == "a-end":
        return {
            "custom_id": custom_id,
            "result": {"type": draw(st.sampled_from(["canceled", "expired"]))},
        }
    if kind == "o-ok":
        content = draw(
            TEXT
            | st.none()
            | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}))
        )
        status = draw(st.sampled_from([{"status_code": 200}, {"status": 200}, {}]))
        body = {
            "model": draw(TEXT),
            "choices": [{"finish_reason": draw(TEXT), "message": {"content": content}}],
            "usage": {"prompt_tokens": draw(TOKENS), "completion_tokens": draw(TOKENS)},
        }
        return {"custom_id": custom_id, "response": {**status, "body": body}, "error": None}
    if kind == "o-err":
        code = draw(st.sampled_from(["batch_expired", "batch_cancelled", "server_error"]))
        return {
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": draw(TEXT)},
        }
    if kind == "o-http":
        error = {"type": draw(TEXT), "message": draw(TEXT), "code": draw(st.none() | st.integers())}
        return {
            "custom_id": custom_id,
            "response": {"status_code": draw(st.integers(400, 599)), "body": {"error": error}},
        }
    return {
        "custom_id": custom_id,
        "error": {"message": draw(TEXT), "type": draw(TEXT), "error_type": draw(TEXT)},
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def results_file(draw: st.DrawFn) -> tuple[list[bytes], dict[str, dict], set[str]]:
    """Valid lines (distinct ids), lines broken in every way, and the ids they may recover."""
    ids = draw(st.lists(IDS, unique=True, max_size=24))
    half = len(ids) // 2
    valid = {custom_id: draw(valid_line(custom_id)) for custom_id in ids[:half]}
    lines = [json.dumps(obj, ensure_ascii=draw(st.booleans())).encode() for obj in valid.values()]
    for custom_id in ids[half:]:  # ids only broken lines carry
        whole = json.dumps(draw(valid_line(custom_id))).encode()
        cut = draw(st.integers(0, len(whole) - 1))
        prefix = draw(st.sampled_from([b"", b"x", b"}", b"{", b"\xff"]))
        lines.append(prefix + whole[:cut])
    junk = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
    lines += draw(st.lists(junk, max_size=4))
    # Any object without a custom_id (a batch object with "results" and "status" is refused).
    keys = TEXT.filter(lambda k: k not in ("custom_id", "results"))
    objects = st.dictionaries(keys, JSON, max_size=3)
    odd_ids = st.none() | st.integers() | st.just("") | st.lists(TEXT, max_size=1)
    lines += [json.dumps(o).encode() for o in draw(st.lists(objects, max_size=3))]
    lines += [
        json.dumps({"custom_id": i, "result": {"type": "expired"}}).encode()
        for i in draw(st.lists(odd_ids, max_size=2))
    ]
    return draw(st.permutations(lines)), valid, set(ids[half:])


def expected_row(obj: dict) -> dict:
    """Each valid line read alone, in Python: the reference the bulk read must match."""
    return read_results([obj]).row(0, named=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results_file())
def test_arbitrary_lines_never_crash_nor_give_a_row_for_a_wrong_id(case: tuple) -> None:
    lines, valid, broken_ids = case
    content = b"\n".join(lines)
    frame, caught = read_quietly(content)
    with fast_reader_for_every_line():
        fast, caught_fast = read_quietly(content)
    with tiny_pieces():
        pieces, caught_pieces = read_quietly(content)
    assert fast.equals(frame)
    assert pieces.equals(frame)
    assert caught_fast == caught_pieces == caught
    got = by_id(frame)
    assert set(got) <= set(valid) | broken_ids
    for custom_id, obj in valid.items():
        assert got[custom_id] == expected_row(obj)
    for custom_id in broken_ids & set(got):
        assert got[custom_id]["result_status"] == "errored"
        assert got[custom_id]["error_type"] in ("invalid_json", "unrecognized_result")
    first = lines[:1] and [lines[0].removeprefix(b"\xef\xbb\xbf")]  # a BOM is not a line
    non_blank = sum(1 for line in first + lines[1:] if line.strip())
    lost = int(caught[0].split(" ")[0]) if caught else 0
    assert frame.height + lost == non_blank  # every line accounted for, once


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5).flatmap(lambda i: valid_line(f"id{i}")), max_size=12))
def test_the_vectorised_and_python_readers_agree_on_valid_lines(objs: list[dict]) -> None:
    content = "\n".join(json.dumps(obj) for obj in objs)
    with fast_reader_for_every_line():
        fast = read_results(content)
    assert fast.equals(read_results(objs))
    assert fast["result_status"].is_in(list(_results.RESULT_STATUSES)).all()
