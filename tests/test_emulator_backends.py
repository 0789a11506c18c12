"""Answer backends: the responder hook and the openai-compatible forwarder."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siraya_frames.emulator import Emulator, EmulatorConfig, Outcome, chat_completions_body
from siraya_frames.emulator._backends import EchoBackend, make_backend
from siraya_frames.emulator._validate import CUSTOM_ID_PATTERN

http = httpx.Client(timeout=30)


@pytest.fixture(autouse=True, scope="module")
def _close_client() -> Iterator[None]:
    yield
    http.close()


def request(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    base = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    return {"custom_id": custom_id, "params": {**base, **params}}


def run_batch(emu: Emulator, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Create a batch, wait for it, return its result lines by custom_id."""
    batch_id = http.post(f"{emu.base_url}/batches", json={"requests": requests}).json()
    emu.wait(batch_id["batch_id"])
    text = http.get(f"{emu.base_url}/batches/{batch_id['batch_id']}").text
    lines = [json.loads(line) for line in text.splitlines()]
    return {line["custom_id"]: line for line in lines}


# -- responder -------------------------------------------------------------------------------


def responder(params: dict[str, Any], *, custom_id: str) -> Any:
    prompt = params["messages"][-1]["content"]
    if prompt == "boom":
        raise RuntimeError("model exploded")
    if prompt == "refuse":
        return {"error": {"type": "invalid_request_error", "message": "prompt refused"}}
    if prompt == "rich":
        return {"text": "custom", "input_tokens": 11, "output_tokens": 22}
    return f"{custom_id}: {prompt.upper()}"


def test_responder_hook_answers_and_errors() -> None:
    requests = [
        request("plain", "hello"),
        request("refused", "refuse"),
        request("crash", "boom"),
        request("rich", "rich"),
    ]
    with Emulator(responder=responder) as emu:
        lines = run_batch(emu, requests)
    plain = lines["plain"]["result"]["message"]
    assert plain["content"][0]["text"] == "plain: HELLO"
    assert plain["usage"] == {"input_tokens": 1, "output_tokens": 2}
    refused = lines["refused"]["result"]
    assert refused["type"] == "errored"
    assert refused["error"]["error"] == {
        "type": "invalid_request_error",
        "message": "prompt refused",
    }
    crash = lines["crash"]["result"]["error"]["error"]
    assert crash["type"] == "api_error" and "model exploded" in crash["message"]
    rich = lines["rich"]["result"]["message"]
    assert rich["usage"] == {"input_tokens": 11, "output_tokens": 22}


def test_responder_errors_in_openai_format() -> None:
    with Emulator(responder=responder, results_format="openai") as emu:
        lines = run_batch(emu, [request("refused", "refuse"), request("ok", "fine")])
    assert lines["refused"]["response"] is None
    assert lines["refused"]["error"] == {
        "code": "invalid_request_error",
        "message": "prompt refused",
    }
    content = lines["ok"]["response"]["body"]["choices"][0]["message"]["content"]
    assert content == "ok: FINE"


# -- openai-compatible -----------------------------------------------------------------------


class FakeUpstream:
    """A tiny chat-completions server on loopback that records what it receives."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                upstream.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        with self.lock:
            self.bodies.append(body)
            self.headers.append(dict(h.headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
        prompt = body["messages"][-1]["content"]
        if h.path != "/v1/chat/completions" or prompt == "fail":
            self.reply(h, 503, {"error": {"message": "no capacity", "type": "server_error"}})
            return
        finish = "length" if prompt == "long" else "stop"
        self.reply(h, 200, {
            "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": f"up: {prompt}"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        })  # fmt: skip

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_openai_compatible_backend_forwards_to_the_upstream(upstream: FakeUpstream) -> None:
    requests = [request(f"r{i}", f"question {i}") for i in range(12)]
    requests.append(
        request("sys", "with system", system="be terse", stop_sequences=["\n"], temperature=0.2)
    )
    requests += [request("fail", "fail"), request("long", "long")]
    with Emulator(
        backend="openai-compatible",
        upstream_url=upstream.url,
        upstream_api_key="upstream-key",
        upstream_concurrency=3,
    ) as emu:
        lines = run_batch(emu, requests)
    assert len(upstream.bodies) == 15
    assert 1 < upstream.max_in_flight <= 3
    assert {h["Authorization"] for h in upstream.headers} == {"Bearer upstream-key"}
    message = lines["r3"]["result"]["message"]
    assert message["content"][0]["text"] == "up: question 3"
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 3}
    sent = next(b for b in upstream.bodies if b["messages"][-1]["content"] == "with system")
    assert sent["messages"][0] == {"role": "system", "content": "be terse"}
    assert sent["stop"] == ["\n"] and sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert "stop_sequences" not in sent and "system" not in sent
    failed = lines["fail"]["result"]["error"]["error"]
    assert failed["type"] == "api_error" and "no capacity" in failed["message"]
    assert lines["long"]["result"]["message"]["stop_reason"] == "max_tokens"


def test_openai_compatible_backend_with_unreachable_upstream() -> None:
    backend = make_backend(
        EmulatorConfig(backend="openai-compatible", upstream_url="http://127.0.0.1:9/v1")
    )
    try:
        [outcome] = backend.complete([("a", request("a", "hi")["params"])])
    finally:
        backend.close()
    assert outcome.kind == "errored" and "unreachable" in (outcome.error_message or "")


def test_chat_completions_body_flattens_blocks_and_overrides_model() -> None:
    params = {
        "model": "openai/gpt-4o-mini-batch",
        "max_tokens": 9,
        "system": [{"type": "text", "text": "sys"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "top_k": 1,
    }
    assert chat_completions_body(params, "llama3") == {
        "model": "llama3",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "max_tokens": 9,
    }


# -- echo properties -------------------------------------------------------------------------


@given(text=st.text(max_size=200), max_tokens=st.integers(min_value=1, max_value=50))
def test_echo_is_the_prompt_or_its_first_max_tokens_words(text: str, max_tokens: int) -> None:
    params = {"max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    outcome = EchoBackend().answer(params, "x")
    words = text.split()
    if len(words) <= max_tokens:
        assert outcome == Outcome.succeeded(text, input_tokens=len(words), output_tokens=len(words))
    else:
        assert outcome.text == " ".join(words[:max_tokens])
        assert outcome.stop_reason == "max_tokens" and outcome.output_tokens == max_tokens


@given(st.text(min_size=1, max_size=70))
def test_custom_id_pattern_matches_the_documented_rule(custom_id: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    expected = len(custom_id) <= 64 and set(custom_id) <= allowed
    assert bool(CUSTOM_ID_PATTERN.match(custom_id)) is expected


def test_openai_dialect_forwards_chat_bodies_to_the_upstream(upstream: FakeUpstream) -> None:
    lines = [
        {
            "custom_id": f"u{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-x",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": f"hi {i}"},
                ],
            },
        }
        for i in range(2)
    ]
    content = "".join(json.dumps(x) + "\n" for x in lines).encode()
    emu = Emulator(dialect="openai", backend="openai-compatible", upstream_url=upstream.url)
    with emu:
        file_id = http.post(
            f"{emu.base_url}/files",
            data={"purpose": "batch"},
            files={"file": ("in.jsonl", content)},
        ).json()["id"]
        batch = http.post(
            f"{emu.base_url}/batches",
            json={
                "input_file_id": file_id,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        ).json()
        output_file_id = (
            emu.wait(batch["id"])
            and http.get(f"{emu.base_url}/batches/{batch['id']}").json()["output_file_id"]
        )
        out = http.get(f"{emu.base_url}/files/{output_file_id}/content").text
    answers = {
        x["custom_id"]: x["response"]["body"]["choices"][0]["message"]["content"]
        for x in map(json.loads, out.splitlines())
    }
    assert answers == {"u0": "up: hi 0", "u1": "up: hi 1"}
    assert {b["messages"][0]["role"] for b in upstream.bodies} == {"system"}
