"""Fault injection: HTTP errors, dropped creates, cut downloads, errored results."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from siraya_frames.emulator import Emulator

http = httpx.Client(timeout=30)
"""One client for the module (``httpx.get`` would build a client, and an SSL context, per call)."""


@pytest.fixture(autouse=True, scope="module")
def _close_client() -> Iterator[None]:
    yield
    http.close()


def make_body(n: int) -> dict[str, Any]:
    return {
        "requests": [
            {
                "custom_id": f"row-{i:04d}",
                "params": {
                    "model": "m",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"text {i}"}],
                },
            }
            for i in range(n)
        ]
    }


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def test_fail_next_calls_answers_429_with_retry_after(emu: Emulator) -> None:
    emu.set_faults(fail_next_calls=2, retry_after=3)
    first = http.post(f"{emu.base_url}/batches", json=make_body(1))
    second = http.get(f"{emu.base_url}/batches/batch_x")
    third = http.post(f"{emu.base_url}/batches", json=make_body(1))
    for response in (first, second):
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        error = response.json()["error"]
        assert error["code"] == 429 and error["type"] == "rate_limit_error"
    assert third.status_code == 200
    stats = emu.stats()
    assert stats["http_faults"] == 2 and stats["batches"] == 1
    assert emu.faults.fail_next_calls == 0


@pytest.mark.parametrize("status", [500, 503])
def test_http_error_rate_on_chosen_endpoints(emu: Emulator, status: int) -> None:
    batch_id = http.post(f"{emu.base_url}/batches", json=make_body(1)).json()["batch_id"]
    emu.set_faults(http_error_rate=1.0, http_error_status=status, http_error_endpoints=["get"])
    failed = http.get(f"{emu.base_url}/batches/{batch_id}")
    created = http.post(f"{emu.base_url}/batches", json=make_body(1))
    admin = http.get(f"{emu.url}/_emulator/stats")
    assert failed.status_code == status and failed.json()["error"]["code"] == status
    assert ("retry-after" in failed.headers) is (status == 503)
    assert created.status_code == 200 and admin.status_code == 200


def test_http_error_rate_is_a_reproducible_fraction() -> None:
    def statuses() -> list[int]:
        with Emulator(http_error_rate=0.3, http_error_status=503, seed=7) as emu:
            return [http.get(f"{emu.base_url}/batches/x").status_code for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert 3 <= first.count(503) <= 25 and first.count(404) == 40 - first.count(503)


def test_drop_after_create_then_idempotent_retry(emu: Emulator) -> None:
    emu.set_faults(drop_after_create=True)
    headers = {"Idempotency-Key": "job-1-batch-0"}
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"{emu.base_url}/batches", json=make_body(3), headers=headers)
    assert emu.stats()["batches"] == 1 and emu.stats()["dropped_creates"] == 1
    retry = http.post(f"{emu.base_url}/batches", json=make_body(3), headers=headers)
    assert retry.status_code == 200
    assert emu.stats()["batches"] == 1 and emu.stats()["creates_replayed"] == 1
    batch_id = retry.json()["batch_id"]
    assert emu.wait(batch_id)["request_counts"]["completed"] == 3
    assert [c["status"] for c in emu.calls() if c["endpoint"] == "create"] == [None, 200]


def test_cut_results_stream(emu: Emulator) -> None:
    batch_id = http.post(f"{emu.base_url}/batches", json=make_body(30)).json()["batch_id"]
    emu.wait(batch_id)
    emu.set_faults(cut_results_after=7, cut_results_times=1)
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("GET", f"{emu.base_url}/batches/{batch_id}") as response,
    ):
        assert response.status_code == 200
        received.extend(response.iter_lines())
    whole = http.get(f"{emu.base_url}/batches/{batch_id}")
    lines = jsonl(whole.text)
    assert [json.loads(x) for x in received if x] == lines[:7]
    assert len(lines) == 30 and emu.stats()["cut_downloads"] == 1


def test_cut_applies_to_the_infron_result_file() -> None:
    with Emulator(dialect="infron", cut_results_after=2) as emu:
        batch_id = http.post(f"{emu.base_url}/batches", json=make_body(5)).json()["batch_id"]
        emu.wait(batch_id)
        url = http.get(f"{emu.base_url}/batches/{batch_id}").json()["result_url"]
        for _ in range(2):  # cut_results_times=None: every download is cut
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(url)


def _errored_ids(**options: Any) -> tuple[set[str], list[dict[str, Any]]]:
    with Emulator(**options) as emu:
        batch_id = http.post(f"{emu.base_url}/batches", json=make_body(200)).json()["batch_id"]
        emu.wait(batch_id)
        lines = jsonl(http.get(f"{emu.base_url}/batches/{batch_id}").text)
        counts = emu.batch(batch_id)["request_counts"]
    errored = {x["custom_id"] for x in lines if x["result"]["type"] == "errored"}
    assert counts["failed"] == len(errored) and counts["completed"] == 200 - len(errored)
    return errored, lines


def test_error_rate_is_a_seeded_reproducible_fraction() -> None:
    errored, lines = _errored_ids(error_rate=0.25, error_type="overloaded_error")
    again, _ = _errored_ids(error_rate=0.25, error_type="overloaded_error")
    other_seed, _ = _errored_ids(error_rate=0.25, seed=99)
    assert errored == again != other_seed
    assert 25 <= len(errored) <= 75
    line = next(x for x in lines if x["custom_id"] in errored)
    error = line["result"]["error"]
    assert error["type"] == "error" and error["request_id"].startswith("req_")
    assert error["error"]["type"] == "overloaded_error" and error["error"]["message"]


def test_error_rate_changes_while_running_through_the_admin_endpoint(emu: Emulator) -> None:
    response = http.post(f"{emu.url}/_emulator/faults", json={"error_rate": 1.0})
    assert response.status_code == 200 and response.json()["error_rate"] == 1.0
    batch_id = http.post(f"{emu.base_url}/batches", json=make_body(4)).json()["batch_id"]
    assert emu.wait(batch_id)["request_counts"] == {"completed": 0, "failed": 4, "total": 4}
    bad = http.post(f"{emu.url}/_emulator/faults", json={"error_rat": 1})
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]["message"]
    assert http.get(f"{emu.url}/_emulator/faults").json()["error_rate"] == 1.0


def test_seconds_per_request_changes_while_running(emu: Emulator) -> None:
    emu.set_faults(seconds_per_request=10.0)
    batch_id = http.post(f"{emu.base_url}/batches", json=make_body(5)).json()["batch_id"]
    deadline = time.monotonic() + 5
    while emu.batch(batch_id)["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert emu.batch(batch_id)["request_counts"]["completed"] == 0
    emu.set_faults(seconds_per_request=0.0)
    assert emu.wait(batch_id)["request_counts"]["completed"] == 5


def test_python_expire_ends_a_running_batch(emu: Emulator) -> None:
    emu.set_faults(seconds_per_request=10.0)
    batch_id = http.post(f"{emu.base_url}/batches", json=make_body(3)).json()["batch_id"]
    expired = emu.expire(batch_id)
    lines = jsonl(http.get(f"{emu.base_url}/batches/{batch_id}").text)
    assert expired["status"] == "expired"
    assert expired["request_counts"] == {"completed": 0, "failed": 3, "total": 3}
    assert {line["result"]["type"] for line in lines} == {"expired"}
    with pytest.raises(KeyError):
        emu.expire("batch_unknown")
