"""The HTTP client: shapes, typed errors, retries, and where the key goes (offline)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from siraya_frames import _errors as errors
from siraya_frames._client import AsyncSirayaClient, RetryPolicy, SirayaClient
from siraya_frames._shapes import BatchStatus

KEY = "sk-test-RECOGNISABLE-0123456789"
BASE = "http://127.0.0.1:9999/v1"
STATUS = {"id": "batch_1", "object": "batch", "status": "in_progress",
          "request_counts": {"total": 2, "completed": 1, "failed": 0}}  # fmt: skip
JSONL = (
    b'{"custom_id":"a","result":{"type":"canceled"}}\n'
    b'{"custom_id":"b","result":{"type":"canceled"}}\n'
)


def _client(handler, waits=None, **kw):
    policy = RetryPolicy(max_attempts=4, sleep=(waits if waits is not None else []).append)
    return SirayaClient(KEY, BASE, transport=httpx.MockTransport(handler), retry=policy, **kw)


def _script(*responses):
    """A handler answering each call with the next response, recording the requests."""
    seen = []

    def handler(request):
        seen.append(request)
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def test_missing_key_names_both_fixes(monkeypatch):
    monkeypatch.delenv("SIRAYA_API_KEY", raising=False)
    with pytest.raises(errors.ConfigurationError, match=r"api_key=.*SIRAYA_API_KEY"):
        SirayaClient(base_url=BASE)


def test_key_and_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("SIRAYA_API_KEY", KEY)
    monkeypatch.setenv("SIRAYA_BASE_URL", "http://localhost:1234/v1/")
    with SirayaClient() as client:
        assert client.base_url == "http://localhost:1234/v1"
        assert KEY not in repr(client)


def test_plain_http_to_a_remote_host_is_refused_unless_allowed():
    with pytest.raises(errors.ConfigurationError, match="unencrypted"):
        SirayaClient(KEY, "http://example.com/v1")
    SirayaClient(KEY, "http://example.com/v1", allow_insecure_http=True).close()
    SirayaClient(KEY, "https://example.com/v1").close()


def test_create_sends_bearer_key_idempotency_key_and_parses_wrapped_shape():
    created = {"batch": {"id": "batch_9", "status": "validating", "expires_at": 5},
               "batch_id": "batch_9", "task_status": "NOT_START"}  # fmt: skip
    handler, seen = _script(httpx.Response(200, json=created))
    with _client(handler) as client:
        state = client.create_batch({"requests": []}, idempotency_key="idem-1")
    assert (state.batch_id, state.status) == ("batch_9", BatchStatus.PENDING)
    request = seen[0]
    assert request.url == f"{BASE}/batches"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["idempotency-key"] == "idem-1"
    assert json.loads(request.content) == {"requests": []}


def test_429_is_retried_honouring_retry_after():
    handler, seen = _script(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow"}}),
        httpx.Response(503, json={"error": {"message": "no provider"}}),
        httpx.Response(200, json=STATUS),
    )
    waits = []
    with _client(handler, waits) as client:
        state = client.get_batch("batch_1")
    assert state.status is BatchStatus.IN_PROGRESS and (state.total, state.done) == (2, 1)
    assert len(seen) == 3
    assert waits[0] == 7.0 and 0 < waits[1] <= 30


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, errors.BadRequestError), (401, errors.AuthenticationError),
     (402, errors.InsufficientBalanceError), (403, errors.PermissionDeniedError),
     (404, errors.NotFoundError), (413, errors.RequestTooLargeError),
     (422, errors.UnprocessableEntityError)],
)  # fmt: skip
def test_client_errors_are_typed_and_never_retried(status, cls):
    envelope = {"error": {"message": f"nope {status}", "type": "invalid_request_error",
                          "param": None, "code": status}}  # fmt: skip
    handler, seen = _script(httpx.Response(status, json=envelope))
    with _client(handler) as client, pytest.raises(cls) as info:
        client.get_batch("batch_7")
    assert len(seen) == 1
    err = info.value
    assert (err.status_code, err.batch_id, err.error_type) == (
        status, "batch_7", "invalid_request_error",
    )  # fmt: skip
    assert f"nope {status}" in str(err) and "batch_7" in str(err)


def test_retries_are_bounded_and_raise_the_typed_error():
    handler, seen = _script(httpx.Response(500, text="boom"))
    with _client(handler) as client, pytest.raises(errors.ServerError, match="boom"):
        client.cancel_batch("batch_1")
    assert len(seen) == 4


def test_connection_errors_on_get_are_retried():
    handler, seen = _script(httpx.ReadError("reset"), httpx.Response(200, json=STATUS))
    with _client(handler) as client:
        assert client.get_batch("batch_1").batch_id == "batch_1"
    assert len(seen) == 2


def test_create_without_idempotency_key_is_not_resent_after_an_uncertain_failure():
    handler, seen = _script(httpx.ReadError("dropped after send"), httpx.Response(200, json={}))
    with _client(handler) as client, pytest.raises(errors.APIConnectionError, match="dropped"):
        client.create_batch(b'{"requests":[]}')
    assert len(seen) == 1


def test_create_with_idempotency_key_is_resent_with_the_same_key():
    created = {"id": "batch_5", "status": "pending"}
    handler, seen = _script(httpx.ReadError("dropped"), httpx.Response(200, json=created))
    with _client(handler) as client:
        assert client.create_batch(b"{}", idempotency_key="k-1").batch_id == "batch_5"
    assert [r.headers["idempotency-key"] for r in seen] == ["k-1", "k-1"]


def test_create_without_key_is_retried_when_the_service_said_no():
    handler, seen = _script(httpx.Response(429, json={}), httpx.Response(200, json={
        "id": "b", "status": "pending"}))  # fmt: skip
    with _client(handler) as client:
        assert client.create_batch(b"{}").batch_id == "b"
    assert len(seen) == 2


def test_key_never_appears_in_errors_even_if_the_server_echoes_it():
    handler, _ = _script(httpx.Response(401, json={"error": {"message": f"bad key {KEY}"}}))
    with _client(handler) as client, pytest.raises(errors.AuthenticationError) as info:
        client.get_batch("b")
    assert KEY not in str(info.value) and "<redacted>" in str(info.value)
    assert "SIRAYA_API_KEY" in str(info.value)


def test_results_stream_to_disk_atomically(tmp_path):
    handler, _ = _script(httpx.Response(200, content=JSONL))
    sink = tmp_path / "r.jsonl"
    with _client(handler) as client:
        state = client.get_batch("batch_1", results_path=sink)
    assert state.results_path == str(sink) and sink.read_bytes() == JSONL
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]


def test_status_answer_leaves_no_file_behind(tmp_path):
    handler, _ = _script(httpx.Response(200, json=STATUS))
    with _client(handler) as client:
        state = client.get_batch("batch_1", results_path=tmp_path / "r.jsonl")
    assert not state.has_results and list(tmp_path.iterdir()) == []


def test_cut_results_stream_is_fetched_again(tmp_path):
    class CutStream(httpx.SyncByteStream):
        def __iter__(self):
            yield JSONL[:30]
            raise httpx.RemoteProtocolError("peer closed connection")

    handler, seen = _script(httpx.Response(200, stream=CutStream()),
                            httpx.Response(200, content=JSONL))  # fmt: skip
    with _client(handler) as client:
        state = client.get_batch("batch_1", results_path=tmp_path / "r.jsonl")
    assert len(seen) == 2 and (tmp_path / "r.jsonl").read_bytes() == JSONL
    assert state.results_path


def test_result_url_on_another_host_gets_no_key(tmp_path):
    handler, seen = _script(httpx.Response(200, content=JSONL))
    with _client(handler) as client:
        client.fetch_results("https://files.example.com/x.jsonl", tmp_path / "x.jsonl")
        client.fetch_results(f"{BASE}/files/x.jsonl", tmp_path / "y.jsonl")
    assert "authorization" not in seen[0].headers
    assert seen[1].headers["authorization"] == f"Bearer {KEY}"
    assert (tmp_path / "x.jsonl").read_bytes() == JSONL


def test_async_client_has_the_same_surface():
    created = {"id": "batch_a", "status": "pending"}

    async def handler(request):
        if request.method == "POST" and request.url.path.endswith("/cancel"):
            return httpx.Response(200, json={"id": "batch_a", "status": "cancelling"})
        if request.method == "POST":
            return httpx.Response(200, json=created)
        return httpx.Response(200, json=STATUS)

    async def main():
        transport = httpx.MockTransport(handler)
        async with AsyncSirayaClient(KEY, BASE, transport=transport) as client:
            a = await client.create_batch({"requests": []})
            b = await client.get_batch("batch_1")
            c = await client.cancel_batch("batch_a")
            return a.status, b.status, c.status

    assert asyncio.run(main()) == (
        BatchStatus.PENDING, BatchStatus.IN_PROGRESS, BatchStatus.CANCELLING,
    )  # fmt: skip
