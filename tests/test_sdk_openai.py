"""The openai dialect driven by the official ``openai`` SDK, on a real socket; every object
the emulator emits is checked against the SDK's pydantic models. Also: the Siraya dialects'
OpenAI-style result lines against ``ChatCompletion``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion
from sdk_checks import raw_json, strict

from siraya_frames.emulator import Emulator

KEY = "sk-test"
ENDPOINT = "/v1/chat/completions"
SYSTEM = {"role": "system", "content": "You label short reviews carefully."}


def line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    messages = [SYSTEM, {"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": ENDPOINT,
        "body": {"model": "gpt-test", "max_tokens": 64, "messages": messages, **body},
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def responder(p: dict[str, Any], *, custom_id: str) -> Any:
    if custom_id.startswith("tool"):
        return {"tool_calls": [{"name": "get_weather", "input": {"city": "Oslo"}}]}
    return {"text": p["messages"][-1]["content"], "thinking": "think about it first"}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(dialect="openai", api_key=KEY, responder=responder) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client(emu: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=emu.base_url, max_retries=0) as sdk:
        yield sdk


def upload(client: openai.OpenAI, lines: list[dict[str, Any]]) -> FileObject:
    raw = client.files.with_raw_response.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    return strict(FileObject, raw_json(raw))


def start(client: openai.OpenAI, file_id: str, **kw: Any) -> Batch:
    raw = client.batches.with_raw_response.create(
        input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h", **kw
    )
    return strict(Batch, raw_json(raw))


def content_lines(client: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    text = client.files.content(file_id).text
    return {x["custom_id"]: x for x in map(json.loads, text.splitlines())}


def test_upload_batch_output_and_error_files(emu: Emulator, client: openai.OpenAI) -> None:
    lines = [
        line("plain-0", "good food"),
        line("plain-1", "bad service"),
        line("tool-0", "weather?"),
        line("bad-role", "x") | {"body": {"model": "gpt-test", "messages": [{"role": "robot"}]}},
        line("bad-max", "y", max_tokens=0),
    ]
    uploaded = upload(client, lines)
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(jsonl(lines))
    assert uploaded.purpose == "batch" and uploaded.status == "processed"
    assert strict(FileObject, raw_json(client.files.with_raw_response.retrieve(uploaded.id)))
    assert client.files.content(uploaded.id).content == jsonl(lines)

    batch = start(client, uploaded.id, metadata={"job": "reviews"})
    assert batch.id.startswith("batch_") and batch.status == "validating"
    assert batch.metadata == {"job": "reviews"} and batch.input_file_id == uploaded.id
    emu.wait(batch.id)
    done = strict(Batch, raw_json(client.batches.with_raw_response.retrieve(batch.id)))
    assert done.status == "completed" and done.completed_at is not None
    assert (done.request_counts.total, done.request_counts.completed) == (5, 3)
    assert done.request_counts.failed == 2

    out = content_lines(client, done.output_file_id)
    assert set(out) == {"plain-0", "plain-1", "tool-0"}
    for item in out.values():
        assert set(item) == {"id", "custom_id", "response", "error"} and item["error"] is None
        assert item["response"]["status_code"] == 200
        strict(ChatCompletion, item["response"]["body"])
    plain = [ChatCompletion.model_validate(out[f"plain-{i}"]["response"]["body"]) for i in (0, 1)]
    assert plain[0].choices[0].message.content == "good food"
    assert plain[0].choices[0].finish_reason == "stop"
    assert plain[0].usage.completion_tokens_details.reasoning_tokens == 4
    cached = [c.usage.prompt_tokens_details.cached_tokens for c in plain]
    assert sorted(cached) == [0, 5]  # the shared system prompt, cached after its first use
    tool = ChatCompletion.model_validate(out["tool-0"]["response"]["body"]).choices[0]
    assert tool.finish_reason == "tool_calls" and tool.message.content is None
    call = tool.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Oslo"},
    )

    errors = content_lines(client, done.error_file_id)
    assert set(errors) == {"bad-role", "bad-max"}
    for item in errors.values():
        assert item["error"] is None and item["response"]["status_code"] == 400
        assert item["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert errors["bad-max"]["response"]["body"]["error"]["param"] == "max_tokens"
    generated = client.files.with_raw_response.retrieve(done.output_file_id)
    assert strict(FileObject, raw_json(generated)).bytes == len(
        client.files.content(done.output_file_id).content
    )


def test_list_pages_newest_first(client: openai.OpenAI) -> None:
    file_id = upload(client, [line("a", "x")]).id
    made = [start(client, file_id).id for _ in range(4)]
    listed = [b.id for b in client.batches.list(limit=3)]
    assert [i for i in listed if i in made] == made[::-1]
    page = raw_json(client.batches.with_raw_response.list(limit=3))
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert page["object"] == "list" and page["has_more"] is True
    for item in page["data"]:
        strict(Batch, item)


def test_cancel_leaves_unsent_requests_in_the_error_file() -> None:
    with (
        Emulator(dialect="openai", api_key=KEY, seconds_per_request=0.2) as emu,
        openai.OpenAI(api_key=KEY, base_url=emu.base_url, max_retries=0) as client,
    ):
        file_id = upload(client, [line(f"r{i}", f"text {i}") for i in range(6)]).id
        batch = start(client, file_id)
        cancelling = strict(Batch, raw_json(client.batches.with_raw_response.cancel(batch.id)))
        assert cancelling.status in ("cancelling", "cancelled")
        assert cancelling.cancelling_at is not None
        emu.wait(batch.id)
        done = client.batches.retrieve(batch.id)
        assert done.status == "cancelled" and done.cancelled_at is not None
        unsent = content_lines(client, done.error_file_id)
        assert unsent and len(unsent) + len(content_lines(client, done.output_file_id)) == 6
        for item in unsent.values():
            assert item["response"] is None and item["error"]["code"] == "batch_cancelled"
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(batch.id)


def test_expired_requests_have_a_top_level_error() -> None:
    with (
        Emulator(dialect="openai", seconds_per_request=5) as emu,
        openai.OpenAI(api_key="unused", base_url=emu.base_url, max_retries=0) as client,
    ):
        batch = start(client, upload(client, [line("e1", "x"), line("e2", "y")]).id)
        emu.expire(batch.id)
        done = strict(Batch, raw_json(client.batches.with_raw_response.retrieve(batch.id)))
        assert done.status == "expired" and done.expired_at is not None
        assert done.output_file_id is None
        lines = content_lines(client, done.error_file_id)
        assert set(lines) == {"e1", "e2"}
        assert all(x["response"] is None for x in lines.values())
        assert {x["error"]["code"] for x in lines.values()} == {"batch_expired"}


def test_invalid_input_file_fails_the_batch(emu: Emulator, client: openai.OpenAI) -> None:
    wrong_url = line("b", "y") | {"url": "/v1/embeddings"}
    file_id = upload(client, [line("a", "x"), wrong_url, line("a", "z")]).id
    batch = start(client, file_id)
    emu.wait(batch.id)
    failed = strict(Batch, raw_json(client.batches.with_raw_response.retrieve(batch.id)))
    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.errors is not None
    codes = [(e.code, e.line) for e in failed.errors.data]
    assert codes == [("mismatched_endpoint", 2), ("duplicate_custom_id", 3)]
    assert failed.output_file_id is None and failed.error_file_id is None


def test_create_time_errors_and_sdk_error_classes(emu: Emulator, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="input_file_id"):
        client.batches.create(input_file_id="file-nope", endpoint=ENDPOINT, completion_window="24h")
    file_id = upload(client, [line("a", "x")]).id
    with pytest.raises(openai.BadRequestError, match="endpoint"):
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        )
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.files.create(file=("a.jsonl", b"{}"), purpose="fine-tune")
    emu.set_faults(fail_next_calls=1, http_error_status=429, retry_after=4)
    with pytest.raises(openai.RateLimitError) as caught:
        client.batches.list()
    assert caught.value.response.headers["retry-after"] == "4"
    assert caught.value.code == "rate_limit_exceeded"
    emu.set_faults(fail_next_calls=1, http_error_status=500)
    with pytest.raises(openai.InternalServerError):
        client.files.retrieve(file_id)
    wrong = openai.OpenAI(api_key="wrong", base_url=emu.base_url, max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as denied:
        wrong.batches.list()
    assert denied.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_unknown")
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-unknown")


def test_idempotent_batch_create_and_cut_download(emu: Emulator, client: openai.OpenAI) -> None:
    file_id = upload(client, [line(f"k{i}", f"t {i}") for i in range(3)]).id
    headers = {"Idempotency-Key": "openai-once-1"}
    args = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"}
    before = emu.stats()
    emu.set_faults(drop_after_create=1)
    with pytest.raises(openai.APIConnectionError):
        client.batches.create(**args, extra_headers=headers)
    again = client.batches.create(**args, extra_headers=headers)
    after = emu.stats()
    assert after["batches"] == before["batches"] + 1
    assert after["creates_replayed"] == before["creates_replayed"] + 1
    assert [b.id for b in client.batches.list(limit=1).data] == [again.id]
    emu.wait(again.id)
    done = client.batches.retrieve(again.id)
    emu.set_faults(cut_results_after=1, cut_results_times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(
            f"{emu.base_url}/files/{done.output_file_id}/content",
            headers={"Authorization": f"Bearer {KEY}"},
        ).raise_for_status()
    assert len(content_lines(client, done.output_file_id)) == 3


@pytest.mark.parametrize("dialect", ["quickstart", "infron"])
def test_siraya_openai_result_lines_are_chat_completions(dialect: str) -> None:
    body = {
        "requests": [
            {
                "custom_id": f"s{i}",
                "params": {
                    "model": "m",
                    "max_tokens": 2,
                    "messages": [{"role": "user", "content": "one two three" if i else "hi"}],
                },
            }
            for i in range(2)
        ]
    }
    with Emulator(dialect=dialect, results_format="openai") as emu, httpx.Client() as http:
        created = http.post(f"{emu.base_url}/batches", json=body).json()
        emu.wait(created["batch_id"])
        status = http.get(f"{emu.base_url}/batches/{created['batch_id']}")
        url = status.json()["result_url"] if dialect == "infron" else None
        text = http.get(url).text if url else status.text
    bodies = {x["custom_id"]: x["response"]["body"] for x in map(json.loads, text.splitlines())}
    assert set(bodies) == {"s0", "s1"}
    for item in bodies.values():
        strict(ChatCompletion, item)
    assert bodies["s1"]["choices"][0]["finish_reason"] == "length"


def test_sdk_chat_completions_create_parses_the_sync_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hello now"}]
    raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=messages)
    completion = strict(ChatCompletion, raw_json(raw))
    assert completion.choices[0].message.content == "hello now"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    # the responder adds 4 words of thinking: counted as reasoning output tokens
    assert (usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (6, 4)
    again = client.chat.completions.create(model="gpt-test", messages=messages)
    assert again.choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError, match="role"):
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "robot", "content": "x"}]
        )
