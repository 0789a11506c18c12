"""plan_batches, unique_requests, write_jsonl: every unique request once, under both limits."""

from __future__ import annotations

import hashlib
import json
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siraya_frames import _plan
from siraya_frames._build import build_requests, params_json
from siraya_frames._config import DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS
from siraya_frames._errors import BatchLimitError, InputError, ParameterError
from siraya_frames._plan import (
    BatchPayload,
    batch_bounds,
    line_sizes,
    plan_batches,
    unique_requests,
    write_jsonl,
)

BASIC = {"model": "openai/gpt-4o-mini", "max_tokens": 16}
_chars = st.characters(exclude_categories=("Cs",))  # lone surrogates are not text


def requests_for(texts: list[str | None], **kwargs) -> pl.DataFrame:
    df = pl.DataFrame({"q": texts}, schema={"q": pl.String})
    return build_requests(df, prompt="{q}", **{**BASIC, "on_null": "skip", **kwargs})


def expected_requests(frame: pl.DataFrame) -> list[dict]:
    """The unique requests in order of first appearance, decoded independently."""
    seen, out = set(), []
    texts = frame.select(params_json(pl.col("params"))).to_series().to_list()
    for custom_id, text in zip(frame["custom_id"], texts, strict=True):
        if custom_id is not None and custom_id not in seen:
            seen.add(custom_id)
            out.append({"custom_id": custom_id, "params": json.loads(text)})
    return out


def decoded(payloads: list[BatchPayload]) -> list[dict]:
    return [r for p in payloads for r in json.loads(p.body)["requests"]]


def test_one_batch_holds_every_unique_request_in_first_seen_order():
    frame = requests_for(["b", "a", "b", None, "c", "a"])
    [payload] = plan_batches(frame)
    assert payload.index == 0
    assert payload.n_requests == 3
    assert payload.n_bytes == len(payload.body)
    assert (
        list(payload.custom_ids)
        == frame["custom_id"].unique(maintain_order=True).drop_nulls().to_list()
    )
    assert json.loads(payload.body) == {"requests": expected_requests(frame)}


def test_body_is_compact_json_of_quickstart_shape():
    frame = requests_for(["How to learn nestjs?"])
    body = plan_batches(frame)[0].body
    cid = frame["custom_id"][0]
    assert body.startswith(b'{"requests":[{"custom_id":"' + cid.encode() + b'","params":{"model"')
    assert body.endswith(b"}]}")


def test_max_requests_splits_batches():
    frame = requests_for([str(i) for i in range(10)])
    payloads = plan_batches(frame, max_requests=4)
    assert [p.n_requests for p in payloads] == [4, 4, 2]
    assert [p.index for p in payloads] == [0, 1, 2]
    assert decoded(payloads) == expected_requests(frame)


def test_batches_span_the_internal_chunks():
    frame = requests_for([str(i) for i in range(50)])
    with mock.patch.object(_plan, "_CHUNK", 7):
        chunked = plan_batches(frame, max_requests=12)
    assert [p.body for p in chunked] == [p.body for p in plan_batches(frame, max_requests=12)]
    assert [p.n_requests for p in chunked] == [12, 12, 12, 12, 2]


def test_max_bytes_is_counted_on_the_body():
    frame = requests_for([f"text {i:03d}" for i in range(9)])
    one = plan_batches(frame, max_requests=1)[0].n_bytes  # every line has the same length
    line = one - len('{"requests":[]}')
    limit = len('{"requests":[]}') + 3 * line + 2  # exactly three lines and two commas
    payloads = plan_batches(frame, max_bytes=limit)
    assert [p.n_requests for p in payloads] == [3, 3, 3]
    assert payloads[0].n_bytes == limit
    assert [p.n_requests for p in plan_batches(frame, max_bytes=limit - 1)] == [2] * 4 + [1]


def test_a_request_alone_over_the_limit_names_id_row_size_and_fix():
    frame = requests_for(["short", "x" * 5000])
    big_id = frame["custom_id"][1]
    with pytest.raises(BatchLimitError) as info:
        plan_batches(frame, max_bytes=1000)
    message = str(info.value)
    assert big_id in message
    assert "(row 1)" in message
    assert "max_bytes=1,000" in message
    assert "raise max_bytes" in message


def test_defaults_are_the_config_defaults():
    assert plan_batches.__kwdefaults__ == {
        "max_requests": DEFAULT_MAX_REQUESTS,
        "max_bytes": DEFAULT_MAX_BYTES,
        "encoding": None,  # the {"requests": [...]} JSON body
    }


@pytest.mark.parametrize(("kwargs", "name"), [({"max_requests": 0}, "max_requests"),
                                              ({"max_bytes": 10}, "max_bytes")])  # fmt: skip
def test_bad_limits(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        plan_batches(requests_for(["a"]), **kwargs)


def test_no_requests_no_batches():
    assert plan_batches(requests_for([None, None])) == []


def test_lazyframe_is_collected():
    lazy = build_requests(pl.LazyFrame({"q": ["a", "b"]}), prompt="{q}", **BASIC)
    assert plan_batches(lazy)[0].n_requests == 2


def test_unique_requests_and_the_stored_form_plan_the_same():
    frame = requests_for(["b", "a", "b", None], tools=[{"name": "f"}], top_k=pl.lit(None))
    unique = unique_requests(frame)
    assert unique.columns == ["custom_id", "params_json"]
    assert (
        unique["custom_id"].to_list()
        == frame["custom_id"].unique(maintain_order=True).drop_nulls().to_list()
    )
    from_stored = plan_batches(unique, max_requests=1)
    assert [p.body for p in from_stored] == [p.body for p in plan_batches(frame, max_requests=1)]
    assert decoded(from_stored) == expected_requests(frame)


def test_frames_without_the_needed_columns_are_refused():
    with pytest.raises(InputError, match="custom_id"):
        plan_batches(pl.DataFrame({"x": [1]}))
    with pytest.raises(InputError, match="params"):
        plan_batches(pl.DataFrame({"custom_id": ["a"]}))
    with pytest.raises(InputError, match="does not match"):
        plan_batches(pl.DataFrame({"custom_id": ["a b"], "params_json": ["{}"]}))


def test_write_jsonl(tmp_path):
    frame = requests_for(['say "hi"\n😀', "b", 'say "hi"\n😀', None])
    path = tmp_path / "batch.jsonl"
    assert write_jsonl(frame, path) == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == expected_requests(frame)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), st.text(_chars, max_size=60)), max_size=30),
    max_requests=st.integers(1, 8),
    extra_bytes=st.integers(0, 600),
    chunk=st.integers(1, 40),
)
def test_every_unique_request_in_exactly_one_batch_within_limits(
    texts, max_requests, extra_bytes, chunk
):
    frame = requests_for(texts)
    unique = frame["custom_id"].drop_nulls().unique(maintain_order=True).to_list()
    biggest = max((len(t.encode()) * 6 for t in texts if t is not None), default=0)
    max_bytes = 300 + biggest + extra_bytes  # always room for the largest single request
    with mock.patch.object(_plan, "_CHUNK", chunk):  # lines are made this many at a time
        payloads = plan_batches(frame, max_requests=max_requests, max_bytes=max_bytes)
    sizes = line_sizes(unique_requests(frame))
    bounds = batch_bounds(sizes, max_requests=max_requests, max_bytes=max_bytes)
    assert [p.n_requests for p in payloads] == [end - start for start, end in bounds]
    assert [i for p in payloads for i in p.custom_ids] == unique
    assert all(p.n_requests <= max_requests and p.n_bytes <= max_bytes for p in payloads)
    assert all(p.n_bytes == len(p.body) and p.n_requests == len(p.custom_ids) for p in payloads)
    assert decoded(payloads) == expected_requests(frame)
    assert [p.index for p in payloads] == list(range(len(payloads)))


def test_a_plan_keeps_no_body_and_builds_the_same_bytes_each_time():
    """Planning hashes each body and drops it: 1,900 bodies at once was 2.9 GB at 10M rows."""
    frame = requests_for([f"text {i}" for i in range(50)])
    payloads = plan_batches(frame, max_requests=7)
    assert len(payloads) == 8
    for payload in payloads:
        assert not any(isinstance(v, bytes | bytearray) for v in vars(payload).values())
        body = payload.body
        assert body == payload.body
        assert hashlib.sha256(body).hexdigest() == payload.sha256
        assert len(body) == payload.n_bytes
        assert [r["custom_id"] for r in json.loads(body)["requests"]] == list(payload.custom_ids)
    assert decoded(payloads) == expected_requests(frame)
