"""The emulator as a server people run: bounded parsing, hostile bodies and fault values."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from siraya_frames.emulator import Emulator
from siraya_frames.emulator._openai_shapes import check_input_file
from siraya_frames.emulator._validate import CreateRejected, parse_create_body

ANTHROPIC = {"anthropic-version": "2023-06-01"}
DEEP = b"[" * 100_000 + b"]" * 100_000
CREATE_PATH = {
    "quickstart": "/v1/batches",
    "reference": "/v1/batches",
    "infron": "/v1/batches",
    "anthropic": "/v1/messages/batches",
    "openai": "/v1/batches",
}


def error_message(dialect: str, response: httpx.Response) -> str:
    """The message of an error answer, read the way that dialect's clients read it."""
    data = response.json()
    if dialect == "anthropic":
        assert data["type"] == "error"
    return data["error"]["message"]


def peak_bytes(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            result: Any = fn(*args, **kwargs)
        except CreateRejected as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- 1. parsing a create body costs a bounded multiple of its size ----------------------------


def test_a_body_of_empty_items_is_refused_without_parsing_every_item() -> None:
    body = b'{"requests":[' + b",".join([b"{}"] * 1_000_000) + b"]}"
    refused, peak = peak_bytes(parse_create_body, body, max_requests=100_000)
    assert isinstance(refused, CreateRejected)
    assert refused.message == "requests[0]: custom_id is missing (or not a string)"
    assert peak < 3 * len(body)  # the text of the body, not a million dicts


def test_too_many_requests_are_refused_at_the_first_one_over() -> None:
    item = '{"custom_id":"r%d","params":{"model":"m","max_tokens":1,"messages":[]}}'
    body = ('{"requests":[' + ",".join(item % i for i in range(100_000)) + "]}").encode()
    refused, peak = peak_bytes(parse_create_body, body, max_requests=1_000)
    assert isinstance(refused, CreateRejected)
    assert "at least 1001 requests; at most 1000" in refused.message
    assert peak < 3 * len(body)


def test_an_input_file_of_many_lines_is_refused_without_splitting_it_all() -> None:
    content = b"{}\n" * 1_000_000
    (requests, errors), peak = peak_bytes(
        check_input_file, content, endpoint="/v1/chat/completions", max_requests=1_000
    )
    assert requests == [] and errors[0]["code"] == "too_many_requests"
    assert peak < len(content)


def test_the_parsed_body_keeps_every_request() -> None:
    body = json.dumps(
        {
            "note": {"x": [1, 2]},
            "requests": [
                {"custom_id": f"r{i}", "params": {"model": "m", "max_tokens": 1, "messages": []}}
                for i in range(3)
            ],
        }
    ).encode()
    parsed = parse_create_body(body, max_requests=3)
    assert [cid for cid, _, _ in parsed] == ["r0", "r1", "r2"]
    assert json.loads(parsed[0][1]) == {"model": "m", "max_tokens": 1, "messages": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"requests": []} x', "not valid JSON"),
        (b'{"requests": [', "not valid JSON"),
        (b"[1, 2]", 'a "requests" list'),
        (b'{"other": 1}', 'a "requests" list'),
        (b'{"requests": 5}', 'a "requests" list'),
        (b'{"requests": []}', '"requests" is empty'),
        (b"\xff", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(body: bytes, message: str) -> None:
    with pytest.raises(CreateRejected, match=message):
        parse_create_body(body, max_requests=10)


# -- 4. a body nested too deep is a 400 in every dialect, never a 500 ----------------------


@pytest.fixture(scope="module", params=sorted(CREATE_PATH))
def dialect_emu(request: pytest.FixtureRequest) -> Iterator[tuple[str, Emulator]]:
    with Emulator(dialect=request.param, api_key="k") as emu:
        yield request.param, emu


def headers(dialect: str) -> dict[str, str]:
    return {"authorization": "Bearer k", **(ANTHROPIC if dialect == "anthropic" else {})}


@pytest.mark.parametrize("body", [DEEP, b'{"requests": ' + DEEP + b"}", b"{nope"])
def test_deep_or_broken_json_gets_a_400_in_the_dialects_envelope(
    dialect_emu: tuple[str, Emulator], body: bytes
) -> None:
    dialect, emu = dialect_emu
    response = httpx.post(emu.url + CREATE_PATH[dialect], content=body, headers=headers(dialect))
    assert response.status_code == 400
    assert "not valid JSON" in error_message(dialect, response)


def test_deep_json_to_the_faults_endpoint_is_a_400(dialect_emu: tuple[str, Emulator]) -> None:
    dialect, emu = dialect_emu
    response = httpx.post(emu.url + "/_emulator/faults", content=DEEP, headers=headers(dialect))
    assert response.status_code == 400
    assert "nests too deeply" in error_message(dialect, response)


def test_a_deep_line_in_an_openai_input_file_fails_the_batch_not_the_server() -> None:
    with Emulator(dialect="openai") as emu:
        files = {"file": ("in.jsonl", DEEP + b"\n"), "purpose": (None, b"batch")}
        uploaded = httpx.post(emu.base_url + "/files", files=files).json()
        create = {
            "input_file_id": uploaded["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        response = httpx.post(emu.base_url + "/batches", json=create)
        assert response.status_code == 200
        batch_id = response.json()["id"]
        assert emu.wait(batch_id)["status"] == "failed"
        batch = httpx.get(f"{emu.base_url}/batches/{batch_id}").json()
        assert batch["errors"]["data"][0]["code"] == "invalid_json_line"


# -- 5. every fault value is checked; a bad one changes nothing -------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ('{"seconds_per_request": NaN}', "seconds_per_request"),
        ('{"retry_after": Infinity}', "retry_after"),
        ('{"completion_window": -Infinity}', "completion_window"),
        ('{"completion_window": 0}', "completion_window"),
        ('{"error_rate": "0.5"}', "error_rate"),
        ('{"http_error_rate": NaN}', "http_error_rate"),
        ('{"fail_next_calls": 1.5}', "fail_next_calls"),
        ('{"fail_next_calls": -1}', "fail_next_calls"),
        ('{"http_error_status": "503"}', "http_error_status"),
        ('{"http_error_status": true}', "http_error_status"),
        ('{"cut_results_after": "3"}', "cut_results_after"),
        ('{"error_custom_ids": "r1"}', "error_custom_ids"),
        ('{"error_custom_ids": [1]}', "error_custom_ids"),
        ('{"http_error_endpoints": "create"}', "http_error_endpoints"),
        ('{"error_type": 5}', "error_type"),
        ('{"redirect_results": "yes"}', "redirect_results"),
        ('{"drip_results_seconds": 11}', "drip_results_seconds"),
        ('{"endless_results_times": null}', "endless_results_times"),
        ('{"empty_results_times": -2}', "empty_results_times"),
    ],
)
def test_a_bad_fault_value_is_a_400_naming_it_and_changes_nothing(changes: str, field: str) -> None:
    with Emulator() as emu:
        emu.set_faults(error_rate=0.25, fail_next_calls=0)
        before = httpx.get(emu.url + "/_emulator/faults").json()
        response = httpx.post(emu.url + "/_emulator/faults", content=changes)
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith(field)
        assert httpx.get(emu.url + "/_emulator/faults").json() == before
        body = {"requests": [{"custom_id": "a", "params": {"model": "m", "max_tokens": 2,
                                                           "messages": []}}]}  # fmt: skip
        assert httpx.post(emu.base_url + "/batches", json=body).status_code == 200
