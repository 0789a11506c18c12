"""The emulator's API on a real socket: the quickstart page's calls, dialects, result formats,
lifecycle, validation, auth, idempotency and persistence."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import QUICKSTART_PARAMS, QUICKSTART_QUESTIONS

from siraya_frames import ConfigurationError
from siraya_frames.emulator import Emulator, EmulatorConfig, Faults
from siraya_frames.emulator import __all__ as emulator_all

pytest_plugins = ["siraya_frames.emulator.pytest_plugin"]

http = httpx.Client(timeout=30)
"""One client for the module (``httpx.get`` would build a client, and an SSL context, per call)."""


@pytest.fixture(autouse=True, scope="module")
def _close_client() -> Iterator[None]:
    yield
    http.close()


# -- helpers ---------------------------------------------------------------------------------


def poll(check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    """Return the first truthy value of ``check()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def make_body(n: int, prefix: str = "req") -> dict[str, Any]:
    """A create body of ``n`` echo requests whose prompts are ``prompt <i>``."""
    return {
        "requests": [
            {
                "custom_id": f"{prefix}-{i:03d}",
                "params": {
                    "model": "openai/gpt-4o-mini-batch",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"prompt {i}"}],
                },
            }
            for i in range(n)
        ]
    }


def create(emu: Emulator, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return http.post(f"{emu.base_url}/batches", json=body, **kw)


def jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def fetch_results(emu: Emulator, batch_id: str, **kw: Any) -> httpx.Response:
    emu.wait(batch_id)
    response = http.get(f"{emu.base_url}/batches/{batch_id}", **kw)
    assert response.status_code == 200
    return response


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


QUICKSTART_DATA = {
    "requests": [
        {
            "custom_id": f"my-request-0{i + 1}",
            "params": {
                **QUICKSTART_PARAMS,
                "messages": [{"role": "user", "content": question}],
            },
        }
        for i, question in enumerate(QUICKSTART_QUESTIONS)
    ]
}
PAGE_BATCH_KEYS = {
    "cancelled_at", "cancelling_at", "completed_at", "completion_window", "created_at",
    "endpoint", "error_file_id", "errors", "expired_at", "expires_at", "failed_at",
    "finalizing_at", "id", "in_progress_at", "input_file_id", "metadata", "object",
    "output_file_id", "request_counts", "status",
}  # fmt: skip
KEY = "sk-emulator-secret-123"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


# -- the quickstart page ---------------------------------------------------------------------


def test_quickstart_create_answers_the_documented_shape() -> None:
    with Emulator(api_key=KEY) as emu:
        response = http.post(
            f"{emu.base_url}/batches", headers=HEADERS, content=json.dumps(QUICKSTART_DATA)
        )
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"batch", "batch_id", "file", "file_id", "task_id", "task_status"}
    batch = data["batch"]
    assert set(batch) == PAGE_BATCH_KEYS
    assert re.fullmatch(r"batch_[0-9a-f-]{36}", batch["id"])
    assert uuid.UUID(batch["id"].removeprefix("batch_")).version == 4
    assert data["batch_id"] == batch["id"]
    assert batch["object"] == "batch"
    assert batch["status"] == "validating"
    assert batch["completion_window"] == "24h"
    assert batch["request_counts"] == {"completed": 0, "failed": 0, "total": 0}
    assert isinstance(batch["created_at"], int)
    assert batch["expires_at"] - batch["created_at"] == 24 * 3600
    for key in ("cancelled_at", "cancelling_at", "completed_at", "expired_at", "failed_at",
                "finalizing_at", "in_progress_at", "errors", "metadata"):  # fmt: skip
        assert batch[key] is None, key
    assert batch["endpoint"] == batch["error_file_id"] == batch["output_file_id"] == ""
    assert re.fullmatch(r"file-[0-9a-f]{32}", data["file_id"])
    assert batch["input_file_id"] == data["file_id"] == data["file"]["id"]
    assert data["file"] == {
        "bytes": len(json.dumps(QUICKSTART_DATA)),
        "created_at": batch["created_at"],
        "filename": "batch.jsonl",
        "id": data["file_id"],
        "object": "file",
        "purpose": "batch",
        "status": "processed",
    }
    assert isinstance(data["task_id"], int) and data["task_id"] == 1
    assert data["task_status"] == "NOT_START"


def test_quickstart_get_streams_jsonl_results_once_completed() -> None:
    with Emulator(api_key=KEY) as emu:
        batch_id = create(emu, QUICKSTART_DATA, headers=HEADERS).json()["batch_id"]
        emu.wait(batch_id)
        response = http.get(f"{emu.base_url}/batches/{batch_id}", headers=HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    lines = jsonl(response)
    assert sorted(line["custom_id"] for line in lines) == [
        "my-request-01", "my-request-02", "my-request-03"
    ]  # fmt: skip
    assert [line["custom_id"] for line in lines] != ["my-request-01", "my-request-02",
                                                      "my-request-03"]  # fmt: skip
    by_id = {line["custom_id"]: line["result"] for line in lines}
    result = by_id["my-request-01"]
    assert result["type"] == "succeeded"
    message = result["message"]
    assert message["content"] == [{"type": "text", "text": "How to learn nestjs?"}]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "openai/gpt-4o-mini-batch"
    assert message["stop_reason"] == "end_turn" and message["stop_sequence"] is None
    # Synthetic usage: whitespace words of system + messages, and of the answer.
    assert message["usage"] == {"input_tokens": 5, "output_tokens": 4}
    assert message["id"].startswith("msg_")


def test_quickstart_get_of_a_running_batch_is_the_status_object() -> None:
    with Emulator(seconds_per_request=0.05) as emu:
        batch_id = create(emu, make_body(10)).json()["batch_id"]

        def partial() -> dict[str, Any] | None:
            data = http.get(f"{emu.base_url}/batches/{batch_id}").json()
            counts = data["request_counts"]
            running = data["status"] == "in_progress" and 0 < counts["completed"] < 10
            return data if running else None

        data = poll(partial)
        assert set(data) == PAGE_BATCH_KEYS
        assert data["request_counts"]["total"] == 10
        assert isinstance(data["in_progress_at"], int)
        final = emu.wait(batch_id)
    assert final["status"] == "completed"
    assert final["request_counts"] == {"completed": 10, "failed": 0, "total": 10}
    assert final["finalizing_at"] is not None and final["completed_at"] is not None


def test_quickstart_cancel_call() -> None:
    with Emulator(api_key=KEY, seconds_per_request=0.5) as emu:
        batch_id = create(emu, QUICKSTART_DATA, headers=HEADERS).json()["batch_id"]
        response = http.post(f"{emu.base_url}/batches/{batch_id}/cancel", headers=HEADERS)
        assert response.status_code == 200
        data = response.json()
        assert set(data) == PAGE_BATCH_KEYS
        assert data["id"] == batch_id
        assert data["status"] in ("cancelling", "cancelled")
        assert isinstance(data["cancelling_at"], int)
        final = emu.wait(batch_id)
        lines = jsonl(http.get(f"{emu.base_url}/batches/{batch_id}", headers=HEADERS))
    assert final["status"] == "cancelled"
    assert {line["result"]["type"] for line in lines} <= {"canceled", "succeeded"}
    assert len(lines) == 3


def test_cancel_keeps_the_results_already_made() -> None:
    with Emulator(seconds_per_request=0.03) as emu:
        batch_id = create(emu, make_body(40)).json()["batch_id"]
        poll(lambda: emu.batch(batch_id)["request_counts"]["completed"] >= 2)
        assert http.post(f"{emu.base_url}/batches/{batch_id}/cancel").status_code == 200
        final = emu.wait(batch_id)
        lines = jsonl(fetch_results(emu, batch_id))
        again = http.post(f"{emu.base_url}/batches/{batch_id}/cancel")
    kinds = [line["result"]["type"] for line in lines]
    assert final["status"] == "cancelled"
    assert kinds.count("succeeded") == final["request_counts"]["completed"] >= 2
    assert kinds.count("canceled") == 40 - kinds.count("succeeded") > 0
    assert final["request_counts"]["failed"] == kinds.count("canceled")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_cancel_of_a_completed_batch_is_refused(emu: Emulator) -> None:
    batch_id = create(emu, make_body(2)).json()["batch_id"]
    emu.wait(batch_id)
    response = http.post(f"{emu.base_url}/batches/{batch_id}/cancel")
    assert response.status_code == 409
    assert "already ended" in response.json()["error"]["message"]


# -- results ---------------------------------------------------------------------------------


def test_results_cover_every_custom_id_once_in_another_order(emu: Emulator) -> None:
    body = make_body(50)
    batch_id = create(emu, body).json()["batch_id"]
    lines = jsonl(fetch_results(emu, batch_id))
    sent = [r["custom_id"] for r in body["requests"]]
    got = [line["custom_id"] for line in lines]
    assert sorted(got) == sorted(sent) and len(set(got)) == 50
    assert got != sent
    for line in lines:
        index = int(line["custom_id"].split("-")[1])
        assert line["result"]["message"]["content"][0]["text"] == f"prompt {index}"
    # The order is deterministic: a second download gives the same lines.
    assert jsonl(fetch_results(emu, batch_id)) == lines


def test_openai_results_format() -> None:
    with Emulator(results_format="openai", error_custom_ids=("req-001",)) as emu:
        batch_id = create(emu, make_body(3)).json()["batch_id"]
        lines = {line["custom_id"]: line for line in jsonl(fetch_results(emu, batch_id))}
    ok = lines["req-000"]
    assert ok["id"].startswith("batch_req_") and ok["error"] is None
    assert ok["response"]["status_code"] == 200 and ok["response"]["request_id"]
    body = ok["response"]["body"]
    assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-4o-mini-batch"
    assert body["choices"][0]["message"] == {
        "role": "assistant", "content": "prompt 0", "refusal": None
    }  # fmt: skip
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["index"] == 0
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    bad = lines["req-001"]
    assert bad["response"] is None
    assert bad["error"]["code"] == "api_error" and bad["error"]["message"]


def test_echo_reads_text_blocks_and_cuts_at_max_tokens(emu: Emulator) -> None:
    params = {"model": "m", "max_tokens": 3}
    body = {
        "requests": [
            {"custom_id": "blocks", "params": {**params, "messages": [
                {"role": "user", "content": "first turn"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "two words"}]},
            ]}},
            {"custom_id": "long", "params": {**params, "messages": [
                {"role": "user", "content": "one two three four five"}]}},
        ]
    }  # fmt: skip
    batch_id = create(emu, body).json()["batch_id"]
    lines = {x["custom_id"]: x["result"]["message"] for x in jsonl(fetch_results(emu, batch_id))}
    assert lines["blocks"]["content"][0]["text"] == "two words"
    assert lines["blocks"]["stop_reason"] == "end_turn"
    assert lines["long"]["content"][0]["text"] == "one two three"
    assert lines["long"]["stop_reason"] == "max_tokens"
    assert lines["long"]["usage"] == {"input_tokens": 5, "output_tokens": 3}


# -- dialects --------------------------------------------------------------------------------


def test_reference_dialect() -> None:
    with Emulator(dialect="reference", error_custom_ids=("req-002",)) as emu:
        created = create(emu, make_body(3))
        data = created.json()
        assert created.status_code == 200
        assert data["object"] == "batch" and data["status"] == "pending"
        assert data["id"].startswith("batch_") and isinstance(data["created_at"], int)
        emu.wait(data["id"])
        done = http.get(f"{emu.base_url}/batches/{data['id']}")
        emu.set_faults(seconds_per_request=0.5)
        slow = create(emu, make_body(5, "slow")).json()["id"]
        cancelled = http.post(f"{emu.base_url}/batches/{slow}/cancel").json()
    assert done.headers["content-type"].startswith("application/json")
    doc = done.json()
    assert doc["id"] == data["id"] and doc["status"] == "completed"
    results = {r["custom_id"]: r for r in doc["results"]}
    assert set(results) == {"req-000", "req-001", "req-002"}
    ok = results["req-000"]["response"]
    assert ok["status"] == 200
    assert ok["body"]["choices"][0]["message"]["content"] == "prompt 0"
    assert ok["body"]["usage"]["prompt_tokens"] == 2
    assert ok["body"]["usage"]["completion_tokens"] == 2
    bad = results["req-002"]
    assert bad["response"]["status"] == 500 and bad["error"]["type"] == "api_error"
    assert cancelled["status"] == "cancelled" and isinstance(cancelled["cancelled_at"], int)


def test_reference_dialect_statuses_while_running() -> None:
    with Emulator(dialect="reference", seconds_per_request=0.05) as emu:
        batch_id = create(emu, make_body(6)).json()["id"]
        seen = poll(lambda: http.get(f"{emu.base_url}/batches/{batch_id}").json())
        assert seen["status"] in ("pending", "processing")
        assert "results" not in seen
        emu.wait(batch_id)


@pytest.mark.parametrize("result_host", [None, "localhost"])
def test_infron_dialect_status_and_result_url(result_host: str | None) -> None:
    with Emulator(dialect="infron", api_key=KEY, result_host=result_host) as emu:
        created = create(emu, make_body(4), headers=HEADERS).json()
        assert created["task_status"] == "NOT_START" and "batch" in created
        batch_id = created["batch_id"]
        emu.wait(batch_id)
        status = http.get(f"{emu.base_url}/batches/{batch_id}", headers=HEADERS)
        data = status.json()
        result_url = data["result_url"]
        lines = jsonl(http.get(result_url))
        forged = http.get(result_url.split("?")[0] + "?sig=0000")
        calls = [c for c in emu.calls() if c["endpoint"] == "result_file"]
    assert status.headers["content-type"].startswith("application/json")
    assert data["batch_id"] == batch_id and data["task_id"] == created["task_id"]
    assert data["status"] == "SUCCESS" and data["progress"] == "100%"
    assert data["completed_count"] == 4 and data["failed_count"] == 0
    assert data["total_requests"] == 4
    assert data["prompt_tokens"] == 8 and data["completion_tokens"] == 8
    assert data["total_tokens"] == 16
    assert data["finish_time"] >= data["submit_time"] > 0
    host = result_host or "127.0.0.1"
    assert result_url.startswith(f"http://{host}:{emu.port}/files/results/{batch_id}.jsonl?")
    assert sorted(line["custom_id"] for line in lines) == [f"req-{i:03d}" for i in range(4)]
    assert forged.status_code == 403
    assert calls and not any(c["authorization"] for c in calls)
    assert calls[0]["host"].startswith(host)


def test_infron_status_while_running() -> None:
    with Emulator(dialect="infron", seconds_per_request=0.05) as emu:
        batch_id = create(emu, make_body(8)).json()["batch_id"]

        def running() -> dict[str, Any] | None:
            data = http.get(f"{emu.base_url}/batches/{batch_id}").json()
            return data if data["status"] == "RUNNING" and data["completed_count"] > 0 else None

        data = poll(running)
        cancelled = http.post(f"{emu.base_url}/batches/{batch_id}/cancel").json()
        emu.wait(batch_id)
        final = http.get(f"{emu.base_url}/batches/{batch_id}").json()
    assert data["result_url"] == "" and data["progress"].endswith("%")
    assert cancelled["status"] in ("RUNNING", "CANCELLED")
    assert final["status"] == "CANCELLED" and final["result_url"]
    assert final["completed_count"] + final["failed_count"] == 8


# -- expiry ----------------------------------------------------------------------------------


def test_completion_window_expires_unprocessed_requests() -> None:
    with Emulator(seconds_per_request=0.05, completion_window=0.4) as emu:
        batch_id = create(emu, make_body(30)).json()["batch_id"]
        final = emu.wait(batch_id)
        lines = jsonl(http.get(f"{emu.base_url}/batches/{batch_id}"))
    kinds = [line["result"]["type"] for line in lines]
    assert final["status"] == "expired" and final["expired_at"] is not None
    assert kinds.count("expired") > 0 and len(kinds) == 30
    assert kinds.count("succeeded") == final["request_counts"]["completed"]
    assert set(kinds) <= {"succeeded", "expired"}


def test_admin_expire_endpoint_in_openai_format() -> None:
    with Emulator(results_format="openai", seconds_per_request=1.0) as emu:
        batch_id = create(emu, make_body(3)).json()["batch_id"]
        response = http.post(f"{emu.url}/_emulator/batches/{batch_id}/expire")
        lines = jsonl(http.get(f"{emu.base_url}/batches/{batch_id}"))
        again = http.post(f"{emu.url}/_emulator/batches/{batch_id}/expire")
    assert response.status_code == 200 and response.json()["status"] == "expired"
    assert {line["error"]["code"] for line in lines} == {"batch_expired"}
    assert all(line["response"] is None for line in lines)
    assert again.status_code == 409


# -- auth, 404, validation, limits -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key"),
        ({"Authorization": "Bearer wrong-key"}, "Invalid API Key"),
        ({"Authorization": KEY}, "Invalid API Key"),
    ],
)
def test_auth_is_required_when_a_key_is_set(headers: dict[str, str], message: str) -> None:
    with Emulator(api_key=KEY) as emu:
        calls = [
            http.post(f"{emu.base_url}/batches", json=make_body(1), headers=headers),
            http.get(f"{emu.base_url}/batches/batch_x", headers=headers),
            http.post(f"{emu.base_url}/batches/batch_x/cancel", headers=headers),
            http.get(f"{emu.url}/_emulator/stats", headers=headers),
            http.post(f"{emu.url}/_emulator/faults", json={}, headers=headers),
        ]
        assert emu.stats()["batches"] == 0
    for response in calls:
        assert response.status_code == 401
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == 401 and message in error["message"]
        assert KEY not in response.text


def test_unknown_batch_is_404(emu: Emulator) -> None:
    for response in (
        http.get(f"{emu.base_url}/batches/batch_nope"),
        http.post(f"{emu.base_url}/batches/batch_nope/cancel"),
    ):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == 404 and "batch_nope" in error["message"]
    assert http.get(f"{emu.url}/v1/unknown").json()["error"]["code"] == 404


def _request(custom_id: Any = "ok", **params: Any) -> dict[str, Any]:
    base = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    return {"custom_id": custom_id, "params": {**base, **params}}


def _without(key: str) -> dict[str, Any]:
    request = _request("bad-one")
    del request["params"][key]
    return request


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", "not valid JSON"),
        (b'{"batch": []}', '"requests" list'),
        (b'{"requests": []}', "empty"),
        ({"requests": [_request(), {"params": {}}]}, "requests[1]: custom_id is missing"),
        ({"requests": [_request("a"), _request("b"), _request("a")]},
         "requests[2] (custom_id 'a'): duplicate custom_id, already used by requests[0]"),
        ({"requests": [_request("has space")]}, "requests[0] (custom_id 'has space')"),
        ({"requests": [_request("x" * 65)]}, "1 to 64"),
        ({"requests": [_request(), _without("model")]},
         "requests[1] (custom_id 'bad-one'): params.model is required"),
        ({"requests": [_without("messages")]}, "params.messages is required"),
        ({"requests": [_without("max_tokens")]}, "params.max_tokens is required"),
        ({"requests": [_request("z", max_tokens=0)]}, "max_tokens must be an integer >= 1"),
    ],
)  # fmt: skip
def test_invalid_creates_are_refused_whole(emu: Emulator, content: Any, expected: str) -> None:
    raw = content if isinstance(content, bytes) else json.dumps(content).encode()
    response = http.post(f"{emu.base_url}/batches", content=raw)
    assert response.status_code == 400
    error = response.json()["error"]
    assert expected in error["message"]
    assert error["type"] == "invalid_request_error" and error["code"] == 400
    assert emu.stats()["batches"] == 0 and emu.stats()["creates_rejected"] == 1


def test_too_many_requests_is_a_400() -> None:
    with Emulator(max_requests=3) as emu:
        response = create(emu, make_body(4))
        ok = create(emu, make_body(3))
    assert response.status_code == 400
    assert "4 requests; at most 3" in response.json()["error"]["message"]
    assert ok.status_code == 200


def test_body_over_the_byte_limit_is_a_413() -> None:
    raw = json.dumps(make_body(20)).encode()
    with Emulator(max_bytes=len(raw) - 1) as emu:
        declared = http.post(f"{emu.base_url}/batches", content=raw)
        chunked = http.post(
            f"{emu.base_url}/batches", content=iter([raw[:100], raw[100:]])
        )  # no Content-Length: the bytes read are counted
        assert emu.stats()["batches"] == 0
    with Emulator(max_bytes=len(raw)) as emu:
        fits = http.post(f"{emu.base_url}/batches", content=raw)
    for response in (declared, chunked):
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == 413 and str(len(raw) - 1) in error["message"]
    assert "content-length" not in chunked.request.headers
    assert fits.status_code == 200


# -- idempotency, persistence, stats ---------------------------------------------------------


def test_idempotency_key_returns_the_same_batch(emu: Emulator) -> None:
    body = make_body(2)
    first = create(emu, body, headers={"Idempotency-Key": "k-1"})
    second = create(emu, body, headers={"Idempotency-Key": "k-1"})
    other = create(emu, body, headers={"Idempotency-Key": "k-2"})
    reused = create(emu, make_body(3), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == other.status_code == 200
    assert first.json()["batch_id"] == second.json()["batch_id"] != other.json()["batch_id"]
    assert reused.status_code == 409
    stats = emu.stats()
    assert stats["batches"] == 2 and stats["creates_replayed"] == 1


def test_restart_on_the_same_data_dir_keeps_batches(tmp_path: Path) -> None:
    with Emulator(data_dir=tmp_path) as emu:
        done = create(emu, make_body(5)).json()["batch_id"]
        emu.wait(done)
        before = jsonl(http.get(f"{emu.base_url}/batches/{done}"))
        emu.set_faults(seconds_per_request=5.0)
        unfinished = create(emu, make_body(5, "late")).json()["batch_id"]
    assert (tmp_path / "emulator.sqlite3").exists()
    with Emulator(data_dir=tmp_path) as emu:
        after = jsonl(http.get(f"{emu.base_url}/batches/{done}"))
        final = emu.wait(unfinished)
        late = jsonl(http.get(f"{emu.base_url}/batches/{unfinished}"))
        task_id = create(emu, make_body(1)).json()["task_id"]
    assert after == before
    assert final["status"] == "completed" and len(late) == 5
    assert task_id == 3


def test_stop_and_start_keep_port_data_and_faults() -> None:
    emu = Emulator()
    try:
        emu.start()
        port, data_dir = emu.port, emu.data_dir
        batch_id = create(emu, make_body(1)).json()["batch_id"]
        emu.set_faults(error_rate=0.5)
        emu.stop()
        with pytest.raises(httpx.ConnectError):
            http.get(f"{emu.base_url}/batches/{batch_id}")
        emu.start()
        assert emu.port == port and emu.faults.error_rate == 0.5
        assert http.get(f"{emu.base_url}/batches/{batch_id}").status_code == 200
    finally:
        emu.close()
    assert not data_dir.exists()


def test_stats_count_calls_and_creates(emu: Emulator) -> None:
    batch_id = create(emu, make_body(2)).json()["batch_id"]
    emu.wait(batch_id)
    http.get(f"{emu.base_url}/batches/{batch_id}")
    create(emu, {"requests": []})
    stats = http.get(f"{emu.url}/_emulator/stats").json()
    assert stats["batches"] == 1 and stats["creates_accepted"] == 1
    assert stats["creates_rejected"] == 1 and stats["requests_processed"] == 2
    assert stats["calls"]["create"] == 2 and stats["calls"]["get"] == 1
    last = emu.calls()[-1]
    assert last["endpoint"] == "admin" and last["path"] == "/_emulator/stats"


def test_config_is_checked_and_hides_keys() -> None:
    with pytest.raises(ConfigurationError, match="dialect 'nope' is not one of"):
        Emulator(dialect="nope")
    with pytest.raises(ConfigurationError, match="upstream_url"):
        Emulator(backend="openai-compatible")
    with pytest.raises(ConfigurationError, match="unknown fault option"):
        Faults().replaced(error_rat=1)
    assert KEY not in repr(EmulatorConfig(api_key=KEY))
    assert emulator_all == sorted(emulator_all)
    import siraya_frames.emulator as package

    assert all(getattr(package, name) is not None for name in emulator_all)


def test_pytest_plugin_fixtures(
    siraya_emulator: Emulator, siraya_emulator_factory: Callable[..., Emulator]
) -> None:
    other = siraya_emulator_factory(dialect="infron")
    assert siraya_emulator.running and other.running
    assert siraya_emulator.port != other.port
    assert create(other, make_body(1)).json()["task_status"] == "NOT_START"


def test_in_process_asgi_transport_shares_the_state(emu: Emulator) -> None:
    async def scenario() -> tuple[str, list[dict[str, Any]]]:
        transport = httpx.ASGITransport(app=emu.app)
        async with httpx.AsyncClient(transport=transport, base_url=emu.base_url) as client:
            batch_id = (await client.post("/batches", json=make_body(3))).json()["batch_id"]
            while emu.batch(batch_id)["status"] != "completed":
                await asyncio.sleep(0.01)
            lines = jsonl(await client.get(f"/batches/{batch_id}"))
            emu.set_faults(drop_after_create=1)
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post("/batches", json=make_body(1))
        return batch_id, lines

    batch_id, lines = asyncio.run(scenario())
    assert len(lines) == 3
    assert len(jsonl(http.get(f"{emu.base_url}/batches/{batch_id}"))) == 3
    assert emu.stats()["batches"] == 2


def test_a_large_batch_is_paged_and_streamed_whole(emu: Emulator) -> None:
    n = 12_345  # more than one worker chunk (2,000) and one download page (5,000)
    batch_id = create(emu, make_body(n, "bulk"), timeout=60).json()["batch_id"]
    assert emu.wait(batch_id, timeout=60)["request_counts"]["completed"] == n
    with http.stream("GET", f"{emu.base_url}/batches/{batch_id}") as response:
        ids = [json.loads(line)["custom_id"] for line in response.iter_lines() if line]
    assert len(ids) == len(set(ids)) == n
