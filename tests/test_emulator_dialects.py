"""The anthropic and openai dialects beyond what the SDK tests cover: persistence, an old
data directory, responder answers, config and CLI choices."""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from siraya_frames import ConfigurationError
from siraya_frames.emulator import Emulator, EmulatorConfig
from siraya_frames.emulator._backends import outcome_from_reply
from siraya_frames.emulator._cli import add_arguments, config_from_args
from siraya_frames.emulator._store import Store

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}

OLD_SCHEMA = """
CREATE TABLE batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL,
    in_progress_at REAL, finalizing_at REAL, completed_at REAL,
    cancelling_at REAL, cancelled_at REAL, expired_at REAL,
    total INTEGER NOT NULL, completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, file_id TEXT NOT NULL,
    file_bytes INTEGER NOT NULL, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL,
    result_token TEXT NOT NULL, model TEXT NOT NULL
);
CREATE TABLE requests (
    batch_seq INTEGER NOT NULL, idx INTEGER NOT NULL, pos INTEGER NOT NULL,
    custom_id TEXT NOT NULL, model TEXT NOT NULL, params TEXT NOT NULL, kind TEXT, text TEXT,
    stop_reason TEXT, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, error_type TEXT, error_message TEXT,
    processed_at REAL, PRIMARY KEY (batch_seq, idx)
) WITHOUT ROWID;
INSERT INTO batches (id, status, created_at, expires_at, total, file_id, file_bytes,
    body_hash, result_token, model)
    VALUES ('batch_old', 'completed', 0, 1, 0, 'f', 1, 'h', 't', 'm');
"""


def body(n: int) -> dict[str, Any]:
    return {
        "requests": [
            {
                "custom_id": f"r{i}",
                "params": {
                    "model": "m",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": f"say {i}"}],
                },
            }
            for i in range(n)
        ]
    }


def test_a_data_directory_from_before_the_new_columns_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "emulator.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    store = Store(str(path))
    old = store.get("batch_old")
    assert old is not None and old.status == "completed" and old.meta == {}
    store.close()


def test_anthropic_batches_survive_a_restart(tmp_path: Path) -> None:
    emu = Emulator(dialect="anthropic", data_dir=tmp_path)
    with emu, httpx.Client(headers=ANTHROPIC_HEADERS) as http:
        created = http.post(f"{emu.url}/v1/messages/batches", json=body(2)).json()
        emu.wait(created["id"])
    with emu, httpx.Client(headers=ANTHROPIC_HEADERS) as http:
        again = http.get(f"{emu.url}/v1/messages/batches/{created['id']}").json()
        lines = http.get(again["results_url"]).text.splitlines()
    assert again["processing_status"] == "ended"
    assert again["request_counts"]["succeeded"] == 2
    texts = sorted(json.loads(x)["result"]["message"]["content"][0]["text"] for x in lines)
    assert texts == ["say 0", "say 1"]


def test_anthropic_injected_error_rate_and_http_faults_use_its_envelope() -> None:
    with (
        Emulator(dialect="anthropic", error_custom_ids=("r1",)) as emu,
        httpx.Client(headers=ANTHROPIC_HEADERS) as http,
    ):
        created = http.post(f"{emu.url}/v1/messages/batches", json=body(2)).json()
        emu.wait(created["id"])
        emu.set_faults(fail_next_calls=1, http_error_status=500)
        fault = http.get(f"{emu.url}/v1/messages/batches/{created['id']}")
        lines = http.get(f"{emu.url}/v1/messages/batches/{created['id']}/results").text
    assert fault.status_code == 500
    assert fault.json()["type"] == "error" and fault.json()["error"]["type"] == "api_error"
    assert fault.headers["request-id"] == fault.json()["request_id"]
    results = {x["custom_id"]: x["result"] for x in map(json.loads, lines.splitlines())}
    assert results["r1"]["type"] == "errored"
    assert results["r1"]["error"]["error"]["type"] == "api_error"
    assert results["r0"]["type"] == "succeeded"


def test_anthropic_results_of_an_unended_batch_are_not_found() -> None:
    with (
        Emulator(dialect="anthropic", seconds_per_request=5) as emu,
        httpx.Client(headers=ANTHROPIC_HEADERS) as http,
    ):
        created = http.post(f"{emu.url}/v1/messages/batches", json=body(2)).json()
        early = http.get(f"{emu.url}/v1/messages/batches/{created['id']}/results")
        emu.expire(created["id"])
        lines = http.get(f"{emu.url}/v1/messages/batches/{created['id']}/results").text
    assert early.status_code == 404 and "has not ended" in early.json()["error"]["message"]
    kinds = [json.loads(x)["result"] for x in lines.splitlines()]
    assert kinds == [{"type": "expired"}, {"type": "expired"}]


def test_responder_tool_calls_must_have_a_name_and_an_input_object() -> None:
    good = outcome_from_reply({}, {"tool_calls": [{"name": "f", "input": {"a": 1}}]})
    assert good.kind == "succeeded" and good.stop_reason == "tool_use"
    assert good.extra["tool_calls"] == [{"name": "f", "input": {"a": 1}}]
    bad = outcome_from_reply({}, {"tool_calls": [{"name": "f", "input": "a=1"}]})
    assert bad.kind == "errored" and "tool_calls" in (bad.error_message or "")


def test_responder_cache_numbers_win_over_the_prompt_cache() -> None:
    def responder(params: dict[str, Any], *, custom_id: str) -> dict[str, Any]:
        return {"text": "ok", "input_tokens": 100, "cache_read_input_tokens": 60}

    with (
        Emulator(dialect="anthropic", responder=responder) as emu,
        httpx.Client(headers=ANTHROPIC_HEADERS) as http,
    ):
        created = http.post(f"{emu.url}/v1/messages/batches", json=body(1)).json()
        emu.wait(created["id"])
        line = http.get(f"{emu.url}/v1/messages/batches/{created['id']}/results").json()
    usage = line["result"]["message"]["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"]) == (40, 60)


def test_unknown_dialect_names_the_new_ones() -> None:
    with pytest.raises(ConfigurationError, match="anthropic, openai"):
        EmulatorConfig(dialect="bedrock").validate()


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_serve_accepts_the_new_dialects(dialect: str) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--dialect", dialect])).dialect == dialect


def test_openai_upload_over_the_file_limit_is_refused() -> None:
    with Emulator(dialect="openai", max_bytes=100) as emu, httpx.Client() as http:
        files = {"file": ("big.jsonl", b"x" * 500)}
        answer = http.post(f"{emu.base_url}/files", data={"purpose": "batch"}, files=files)
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "request_too_large"


def test_anthropic_create_time_checks_and_before_id_paging() -> None:
    with Emulator(dialect="anthropic") as emu, httpx.Client(headers=ANTHROPIC_HEADERS) as http:
        url = f"{emu.url}/v1/messages/batches"
        bad = body(1)
        bad["requests"][0]["custom_id"] = "has space"
        refused = http.post(url, json=bad)
        ids = [http.post(url, json=body(1)).json()["id"] for _ in range(4)]
        newer = http.get(url, params={"before_id": ids[0], "limit": 2}).json()
        older = http.get(url, params={"after_id": ids[3], "limit": 2}).json()
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert "custom_id" in refused.json()["error"]["message"]
    assert [b["id"] for b in newer["data"]] == [ids[2], ids[1]] and newer["has_more"] is True
    assert [b["id"] for b in older["data"]] == [ids[2], ids[1]] and older["has_more"] is True


def test_anthropic_body_over_the_limit_is_request_too_large() -> None:
    with (
        Emulator(dialect="anthropic", max_bytes=100) as emu,
        httpx.Client(headers=ANTHROPIC_HEADERS) as http,
    ):
        answer = http.post(f"{emu.url}/v1/messages/batches", json=body(5))
    assert answer.status_code == 413
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "request_too_large"


class _LockThatLetsTheWorkerIn:
    """An RLock that, when first fully released, runs ``then`` (the worker's next move)."""

    def __init__(self, then) -> None:
        self._lock, self._depth, self._then = threading.RLock(), 0, then

    def __enter__(self):
        self._lock.__enter__()
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        self._lock.__exit__(*exc)
        if self._depth == 0 and self._then is not None:
            then, self._then = self._then, None
            then()


def test_a_create_answers_validating_even_if_the_worker_moves_it_at_once(tmp_path: Path) -> None:
    """Regression: the created batch was read back after the commit, so a worker that
    started it in between made the create answer ``in_progress`` (a flaky SDK test)."""
    store = Store(str(tmp_path / "emulator.sqlite3"))

    def worker_starts_it() -> None:
        found = store.get("batch_race")
        store.set_status(found.seq, "in_progress", 1.0, only_from={"validating"})

    store._lock = _LockThatLetsTheWorkerIn(worker_starts_it)
    created = store.create_batch(
        batch_id="batch_race", file_id="file-1", created_at=0.0, expires_at=86400.0,
        requests=[("r1", '{"model":"m"}', "m")], file_bytes=10, idempotency_key=None,
        body_hash="h", result_token="t",
    )  # fmt: skip
    assert created.status == "validating"
    assert store.get("batch_race").status == "in_progress"  # the worker did move it
    store.close()
