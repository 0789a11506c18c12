"""The client against a hostile server: every answer a typed result or a SirayaError.

Each test is a way a server (or a man in the middle, or a broken proxy) can answer that once
escaped as a raw exception, hung a call, filled the disk or leaked the key.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from hostile_server import hostile_server

from siraya_frames import _errors as errors
from siraya_frames._client import AsyncSirayaClient as sf_async
from siraya_frames._client import RetryPolicy, SirayaClient

KEY = "sk-test-HOSTILE-0123456789"
BASE = "http://127.0.0.1:9999/v1"
STATUS = {"id": "b", "status": "in_progress"}


def _client(handler, base=BASE, waits=None, **kw):
    policy = RetryPolicy(max_attempts=3, sleep=(waits if waits is not None else []).append)
    transport = httpx.MockTransport(handler)
    return SirayaClient(KEY, base, transport=transport, retry=policy, **kw)


def _answer(*responses):
    seen = []

    def handler(request):
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handler, seen


# --------------------------------------------------------------------------- time and size


def test_a_dripping_server_hits_the_total_deadline_of_one_call():
    with hostile_server() as (root, _):
        policy = RetryPolicy(max_attempts=1)
        client = SirayaClient(KEY, root, timeout=1.0, retry=policy)
        with client, pytest.raises(errors.APITimeoutError, match=r"1(\.0)? s"):
            client.get_batch("drip")


def test_an_endless_results_stream_stops_at_the_size_cap(tmp_path):
    sink = tmp_path / "r.jsonl"
    with hostile_server() as (root, _):
        policy = RetryPolicy(max_attempts=1)
        client = SirayaClient(KEY, root, retry=policy)
        with client, pytest.raises(errors.UnexpectedResponseError, match="max_result_bytes"):
            client.fetch_results(f"{root}/files/endless", sink, max_bytes=1 << 20)
    assert list(tmp_path.iterdir()) == []  # no results file, no .part file left


def test_a_gzip_bomb_status_is_refused_before_it_is_inflated():
    bomb = gzip.compress(b'{"id": "b", "status": "in_progress", "x": "' + b" " * (300 << 20))
    assert len(bomb) < 1 << 20
    handler, _ = _answer(httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb))
    with _client(handler) as client, pytest.raises(errors.UnexpectedResponseError, match="MiB"):
        client.get_batch("b")


def test_a_gzip_bomb_results_download_stops_at_the_cap(tmp_path):
    bomb = gzip.compress(b'{"custom_id":"a","result":{"type":"canceled"}}\n' * (4 << 20))
    handler, _ = _answer(httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb))
    with _client(handler) as client, pytest.raises(errors.UnexpectedResponseError):
        client.fetch_results(f"{BASE}/files/x", tmp_path / "x.jsonl", max_bytes=1 << 20)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- hostile JSON


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1_000_000,
        b'{"id": "b", "status": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
    ],
    ids=["deep-list", "deep-object"],
)
def test_deeply_nested_answers_are_an_unexpected_response(body):
    handler, _ = _answer(httpx.Response(200, content=body))
    with _client(handler) as client, pytest.raises(errors.UnexpectedResponseError, match="deep"):
        client.get_batch("b")


def test_absurd_counts_are_ignored_not_a_crash():
    status = b'{"id": "b", "status": "in_progress", "request_counts": ' + (
        b'{"total": 1e999, "completed": -1e999, "failed": NaN}}'
    )
    handler, _ = _answer(httpx.Response(200, content=status))
    with _client(handler) as client:
        state = client.get_batch("b")
    assert state.status.value == "in_progress"
    assert (state.total, state.failed) == (None, None)


@pytest.mark.parametrize("value", ["soon", "nan", "inf", "-5", "Thu, 99 Foo 20 bar"])
def test_unreadable_retry_after_falls_back_to_the_backoff(value):
    handler, seen = _answer(
        httpx.Response(429, headers={"Retry-After": value}, json={"error": {"message": "slow"}}),
        httpx.Response(200, json=STATUS),
    )
    waits = []
    with _client(handler, waits=waits) as client:
        assert client.get_batch("b").batch_id == "b"
    assert len(seen) == 2 and len(waits) == 1
    assert 0 <= waits[0] <= 120


# --------------------------------------------------------------------------- ids and paths


@pytest.mark.parametrize(
    "bad_id",
    ["a\x00b", "x\r\nX-Injected: 1", "x" * 70_000, "", "a/b\u202e"],
    ids=["nul", "crlf", "70k", "empty", "rtl-override"],
)
def test_a_create_answer_with_an_unusable_batch_id_is_refused(bad_id):
    handler, _ = _answer(httpx.Response(200, json={"id": bad_id, "status": "pending"}))
    with _client(handler) as client, pytest.raises(errors.UnexpectedResponseError, match="id"):
        client.create_batch(b'{"requests": []}')


def test_batch_ids_are_encoded_as_one_path_segment():
    handler, seen = _answer(httpx.Response(200, json=STATUS))
    with _client(handler) as client:
        client.get_batch("../../admin/x")
        client.cancel_batch("a b?c#d")
    assert seen[0].url.raw_path == b"/v1/batches/..%2F..%2Fadmin%2Fx"
    assert seen[1].url.raw_path == b"/v1/batches/a%20b%3Fc%23d/cancel"


@pytest.mark.parametrize("bad_id", ["a\x00b", "x\r\ny", "x" * 70_000], ids=["nul", "crlf", "70k"])
def test_an_id_that_cannot_be_sent_is_refused_without_a_request(bad_id):
    handler, seen = _answer(httpx.Response(200, json=STATUS))
    with _client(handler) as client, pytest.raises(errors.SirayaError, match="batch id"):
        client.get_batch(bad_id)
    assert seen == []


# --------------------------------------------------------------------------- downloads


def test_a_redirected_download_is_followed_without_the_key(tmp_path):
    sink = tmp_path / "r.jsonl"
    with hostile_server() as (root, seen), SirayaClient(KEY, f"{root}/v1") as client:
        client.fetch_results(f"{root}/v1/batches/b/to_file_host", sink, batch_id="b")
    assert sink.read_bytes().count(b"\n") == 2
    (first, first_headers), (second, second_headers) = seen
    assert first.endswith("/to_file_host") and second == "/files/results"
    assert first_headers.get("Authorization") == f"Bearer {KEY}"
    assert not any(KEY in value for value in second_headers.values())


@pytest.mark.parametrize("path", ["to_empty", "empty", "html"])
def test_a_download_that_is_not_results_is_never_taken_for_results(tmp_path, path):
    sink = tmp_path / "r.jsonl"
    with hostile_server() as (root, _):
        policy = RetryPolicy(max_attempts=1)
        client = SirayaClient(KEY, f"{root}/v1", retry=policy)
        with client, pytest.raises(errors.UnexpectedResponseError, match="results"):
            client.fetch_results(f"{root}/v1/batches/b/{path}", sink, batch_id="b")
    assert list(tmp_path.iterdir()) == []


def test_plain_http_result_url_from_an_https_service_is_refused(tmp_path):
    handler, seen = _answer(httpx.Response(200, content=b'{"custom_id":"a"}\n'))
    client = _client(handler, base="https://api.example.com/v1")
    with client, pytest.raises(errors.ConfigurationError, match="allow_insecure_http"):
        client.fetch_results("http://files.example.com/r.jsonl", tmp_path / "r.jsonl")
    assert seen == []


def test_a_bad_first_result_line_does_not_hide_the_results(tmp_path):
    body = b"<<garbage>>\n" + b'{"custom_id":"a","result":{"type":"canceled"}}\n'
    handler, _ = _answer(httpx.Response(200, content=body))
    with _client(handler) as client:
        state = client.get_batch("b", results_path=tmp_path / "r.jsonl")
    assert state.results_path and (tmp_path / "r.jsonl").read_bytes() == body


# --------------------------------------------------------------------------- secrets


def test_a_key_echoed_in_a_successful_answer_is_redacted():
    failed = {"id": "b", "status": "failed", "errors": f"your key {KEY} is over quota"}
    handler, _ = _answer(httpx.Response(200, json=failed))
    with _client(handler) as client:
        state = client.get_batch("b")
    assert KEY not in json.dumps(state.error) and "<redacted>" in state.error


def test_redaction_of_a_short_key_does_not_mangle_words():
    handler, _ = _answer(httpx.Response(401, json={"error": {"message": "use a new key"}}))
    transport = httpx.MockTransport(handler)
    client = SirayaClient("k", BASE, transport=transport)
    with client, pytest.raises(errors.AuthenticationError, match="use a new key"):
        client.get_batch("b")


def test_repr_of_a_client_whose_init_failed_does_not_raise():
    client = SirayaClient.__new__(SirayaClient)
    assert "SirayaClient" in repr(client)


def test_the_async_client_has_the_same_bounds(tmp_path):
    import asyncio

    bomb = gzip.compress(b'{"custom_id":"a","result":{"type":"canceled"}}\n' * (4 << 20))

    async def handler(request):
        if request.url.path.endswith("/deep"):
            return httpx.Response(200, content=b"[" * 100_000)
        if request.url.path.endswith("/to_host"):
            return httpx.Response(302, headers={"Location": "https://files.example.net/r"})
        if request.url.host == "files.example.net":
            assert KEY not in json.dumps(dict(request.headers))
            return httpx.Response(200, content=b'{"custom_id":"a"}\n')
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb)

    async def main():
        transport = httpx.MockTransport(handler)
        base = "https://api.example.com/v1"
        async with sf_async(KEY, base, transport=transport) as client:
            with pytest.raises(errors.UnexpectedResponseError, match="max_result_bytes"):
                await client.fetch_results(f"{base}/bomb", tmp_path / "a.jsonl", max_bytes=1 << 20)
            with pytest.raises(errors.UnexpectedResponseError, match="deep"):
                await client.get_batch("deep")
            await client.fetch_results(f"{base}/to_host", tmp_path / "b.jsonl")
        return sorted(p.name for p in tmp_path.iterdir())

    assert asyncio.run(main()) == ["b.jsonl"]


def test_a_key_echoed_in_an_unreadable_answer_is_redacted_from_the_error():
    handler, _ = _answer(httpx.Response(200, json={"weird": f"here is {KEY}"}))
    with _client(handler) as client, pytest.raises(errors.UnexpectedResponseError) as info:
        client.get_batch("b")
    assert KEY not in str(info.value) and KEY not in repr(info.value.args)


@pytest.mark.parametrize("value", ["NaN", '"1e999"', "1e999", '"9999-99-99T00:00:00Z"'])
def test_an_absurd_expiry_is_ignored(value):
    body = b'{"id": "b", "status": "in_progress", "expires_at": ' + value.encode() + b"}"
    handler, _ = _answer(httpx.Response(200, content=body))
    with _client(handler) as client:
        assert client.get_batch("b").expires_at is None
