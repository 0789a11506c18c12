"""The anthropic dialect driven by the official ``anthropic`` SDK, on a real socket; every
object the emulator emits is checked against the SDK's pydantic models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message
from anthropic.types.messages import (
    DeletedMessageBatch,
    MessageBatch,
    MessageBatchIndividualResponse,
)
from sdk_checks import raw_json, strict

from siraya_frames.emulator import Emulator

KEY = "sk-ant-test"
MODEL = "claude-test"


def params(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def responder(p: dict[str, Any], *, custom_id: str) -> Any:
    if custom_id.startswith("tool"):
        return {
            "thinking": "The user wants the weather; call the tool.",
            "text": "Let me check.",
            "tool_calls": [{"name": "get_weather", "input": {"city": "Paris"}}],
        }
    return p["messages"][-1]["content"]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(dialect="anthropic", api_key=KEY, responder=responder) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client(emu: Emulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=KEY, base_url=emu.url, max_retries=0) as sdk:
        yield sdk


def create(client: anthropic.Anthropic, requests: list[dict[str, Any]], **kw: Any) -> dict:
    raw = client.messages.batches.with_raw_response.create(requests=requests, **kw)
    return raw_json(raw)


def results(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r for r in client.messages.batches.results(batch_id)}


def test_create_retrieve_results_delete(emu: Emulator, client: anthropic.Anthropic) -> None:
    created = create(
        client,
        [
            {"custom_id": "plain", "params": params("hello world")},
            {"custom_id": "tool-1", "params": params("weather in Paris?")},
            {"custom_id": "no-max", "params": {"model": MODEL, "messages": []}},
        ],
    )
    batch = strict(MessageBatch, created)
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 3 and batch.request_counts.succeeded == 0
    emu.wait(batch.id)

    ended = strict(
        MessageBatch, raw_json(client.messages.batches.with_raw_response.retrieve(batch.id))
    )
    assert ended.processing_status == "ended" and ended.ended_at is not None
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (0, 2, 1)
    assert ended.results_url == f"{emu.url}/v1/messages/batches/{batch.id}/results"

    by_id = results(client, batch.id)
    assert set(by_id) == {"plain", "tool-1", "no-max"}
    plain = by_id["plain"].result
    assert plain.type == "succeeded"
    assert [b.type for b in plain.message.content] == ["text"]
    assert plain.message.content[0].text == "hello world"
    tool = by_id["tool-1"].result
    assert tool.type == "succeeded" and tool.message.stop_reason == "tool_use"
    assert [b.type for b in tool.message.content] == ["thinking", "text", "tool_use"]
    use = tool.message.content[2]
    assert use.id.startswith("toolu_") and use.name == "get_weather"
    assert use.input == {"city": "Paris"}
    bad = by_id["no-max"].result
    assert bad.type == "errored" and bad.error.error.type == "invalid_request_error"
    assert "max_tokens" in bad.error.error.message

    raw = httpx.get(
        ended.results_url, headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    )
    assert raw.headers["content-type"].startswith("application/x-jsonl")
    for line in raw.text.splitlines():
        item = json.loads(line)
        strict(MessageBatchIndividualResponse, item)
        if item["result"]["type"] == "succeeded":
            strict(Message, item["result"]["message"])

    deleted = client.messages.batches.with_raw_response.delete(batch.id)
    assert strict(DeletedMessageBatch, raw_json(deleted)).id == batch.id
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_list_pages_newest_first(emu: Emulator, client: anthropic.Anthropic) -> None:
    made = [create(client, [{"custom_id": "a", "params": params("x")}])["id"] for _ in range(5)]
    listed = [b.id for b in client.messages.batches.list(limit=2)]
    assert [i for i in listed if i in made] == made[::-1]
    page = raw_json(client.messages.batches.with_raw_response.list(limit=2))
    assert set(page) == {"data", "has_more", "first_id", "last_id"}
    assert page["has_more"] is True and page["first_id"] == page["data"][0]["id"]
    for item in page["data"]:
        strict(MessageBatch, item)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.list(limit=1001)


def test_cancel_then_canceled_results_and_delete_rules() -> None:
    with (
        Emulator(dialect="anthropic", api_key=KEY, seconds_per_request=0.2) as emu,
        anthropic.Anthropic(api_key=KEY, base_url=emu.url, max_retries=0) as client,
    ):
        requests = [{"custom_id": f"r{i}", "params": params(f"text {i}")} for i in range(6)]
        batch = client.messages.batches.create(requests=requests)
        with pytest.raises(anthropic.BadRequestError, match="still processing"):
            client.messages.batches.delete(batch.id)
        raw = raw_json(client.messages.batches.with_raw_response.cancel(batch.id))
        canceling = strict(MessageBatch, raw)
        assert canceling.processing_status in ("canceling", "ended")
        assert canceling.cancel_initiated_at is not None
        emu.wait(batch.id)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        kinds = [r.result.type for r in client.messages.batches.results(batch.id)]
        assert len(kinds) == 6 and "canceled" in kinds
        assert ended.request_counts.canceled == kinds.count("canceled")
        with pytest.raises(anthropic.BadRequestError, match="already ended"):
            client.messages.batches.cancel(batch.id)
        client.messages.batches.delete(batch.id)


def test_sdk_error_classes(emu: Emulator, client: anthropic.Anthropic) -> None:
    emu.set_faults(fail_next_calls=1, http_error_status=429, retry_after=7)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.batches.list()
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    emu.set_faults(fail_next_calls=1, http_error_status=529)
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client.messages.batches.list()
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    wrong = anthropic.Anthropic(api_key="wrong", base_url=emu.url, max_retries=0)
    with wrong, pytest.raises(anthropic.AuthenticationError):
        wrong.messages.batches.list()
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_unknown")
    with pytest.raises(anthropic.BadRequestError, match="duplicate custom_id"):
        client.messages.batches.create(requests=[{"custom_id": "a", "params": params("x")}] * 2)


def test_raw_http_auth_headers_and_version(emu: Emulator) -> None:
    url = f"{emu.url}/v1/messages/batches"
    with_key = httpx.get(url, headers={"x-api-key": KEY})
    assert with_key.status_code == 400
    assert with_key.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    versioned = {"anthropic-version": "2023-06-01"}
    missing = httpx.get(url, headers=versioned)
    assert missing.status_code == 401 and missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "authentication_error"
    ok = httpx.get(url, headers={**versioned, "x-api-key": KEY})
    assert ok.status_code == 200 and "data" in ok.json()


def test_idempotency_key_replays_a_dropped_create(
    emu: Emulator, client: anthropic.Anthropic
) -> None:
    requests = [{"custom_id": "a", "params": params("once")}]
    headers = {"Idempotency-Key": "create-once-1"}
    before = emu.stats()
    emu.set_faults(drop_after_create=1)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.batches.create(requests=requests, extra_headers=headers)
    again = client.messages.batches.create(requests=requests, extra_headers=headers)
    after = emu.stats()
    assert after["creates_accepted"] == before["creates_accepted"] + 1
    assert after["creates_replayed"] == before["creates_replayed"] + 1
    assert after["batches"] == before["batches"] + 1
    assert [b.id for b in client.messages.batches.list(limit=1).data] == [again.id]


def test_cache_and_thinking_usage() -> None:
    system = [
        {
            "type": "text",
            "text": "You label short reviews carefully and briefly.",
            "cache_control": {"type": "ephemeral"},
        },
    ]
    think = {"type": "enabled", "budget_tokens": 1024}
    requests = [
        {
            "custom_id": f"c{i}",
            "params": params(f"review {i}", system=system, max_tokens=2048, thinking=think),
        }
        for i in range(2)
    ]
    with (
        Emulator(dialect="anthropic") as emu,
        anthropic.Anthropic(api_key="unused", base_url=emu.url, max_retries=0) as client,
    ):
        batch = client.messages.batches.create(requests=requests)
        emu.wait(batch.id)
        got = {r.custom_id: r.result.message for r in client.messages.batches.results(batch.id)}
    first, second = got["c0"], got["c1"]
    assert first.usage.cache_creation_input_tokens == 7 and first.usage.cache_read_input_tokens == 0
    assert (
        second.usage.cache_creation_input_tokens == 0 and second.usage.cache_read_input_tokens == 7
    )
    assert first.usage.input_tokens == second.usage.input_tokens == 2
    assert first.usage.service_tier == "batch"
    assert [b.type for b in first.content] == ["thinking", "text"]
    assert first.content[0].thinking and first.content[0].signature
    assert first.content[1].text == "review 0"


def test_sdk_messages_create_parses_the_sync_answer(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(**params("hello now"))
    message = strict(Message, raw_json(raw))
    assert message.content[0].type == "text"
    assert message.content[0].text == "hello now"
    assert message.usage.service_tier == "standard"
    assert client.messages.create(**params("again")).content[0].text == "again"


def test_sdk_messages_create_bad_params_raise_bad_request(client: anthropic.Anthropic) -> None:
    # bad params are checked as the batch path checks them: a 400 the SDK raises
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.messages.create(
            model=MODEL, max_tokens=0, messages=[{"role": "user", "content": "x"}]
        )
