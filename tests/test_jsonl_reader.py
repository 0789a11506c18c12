"""Reading a JSONL buffer: malformed lines, the fast path and its fallback agreeing."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from unittest import mock

import polars as pl
import pyarrow as pa
import pytest
from fixtures.results import (
    ANTHROPIC_CANCELED,
    OPENAI_OK,
    by_id,
    fast_reader_for_every_line,
    one,
    read_quietly,
    row,
    tiny_pieces,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siraya_frames import _jsonl_reader, _results
from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._results import ResultsWarning, read_results

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
    with caplog.at_level(logging.INFO, logger="siraya_frames"):
        frame, caught = read_quietly(content)
    assert frame["custom_id"].to_list() == ["c-1"]
    expected = (
        "8 result line(s) could not be read and had no custom_id; they were skipped "
        "(lines 1, 3, 4, 5, 6, ...); pass strict=True to raise instead"
    )
    assert caught == [expected]
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert caplog.records[0].levelno == logging.INFO  # shown once: as the warning, not a log


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
        if draw(st.booleans()):
            usage["cache_read_input_tokens"] = draw(TOKENS)
            usage["cache_creation_input_tokens"] = draw(TOKENS)
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
        message = {"content": content}
        if draw(st.booleans()):
            function = {"name": draw(TEXT), "arguments": draw(TEXT | st.just('{"a": [1]}'))}
            message["tool_calls"] = [{"id": draw(TEXT), "function": function}]
        usage = {"prompt_tokens": draw(TOKENS), "completion_tokens": draw(TOKENS)}
        if draw(st.booleans()):
            usage["prompt_tokens_details"] = {"cached_tokens": draw(TOKENS)}
        body = {
            "model": draw(TEXT),
            "choices": [{"finish_reason": draw(TEXT), "message": message}],
            "usage": usage,
        }
        if draw(st.booleans()):  # vLLM's older lines: the bare chat.completion
            return {"custom_id": custom_id, "response": body, "error": None}
        return {"custom_id": custom_id, "response": {**status, "body": body}, "error": None}
    if kind == "o-err":
        code = draw(st.sampled_from(["batch_expired", "batch_cancelled", "server_error"]))
        key = draw(st.sampled_from(["code", "type", "error_type"]))
        return {
            "custom_id": custom_id,
            "response": None,
            "error": {key: code, "message": draw(TEXT)},
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
