"""Hostile result downloads for the chaos suite: redirect to another origin, drip, endless,
empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from siraya_frames.emulator import Emulator

KEY = {"authorization": "Bearer k"}
ANTHROPIC = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
REQUEST = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def requests_body(n: int) -> dict[str, Any]:
    return {"requests": [{"custom_id": f"r{i}", "params": REQUEST} for i in range(n)]}


def siraya_download(emu: Emulator, n: int = 3) -> tuple[str, dict[str, str]]:
    """The URL of a finished batch's results (infron: its result_url) and the headers."""
    batch_id = httpx.post(emu.base_url + "/batches", json=requests_body(n), headers=KEY)
    batch_id = batch_id.json()["batch_id"]
    emu.wait(batch_id)
    status = httpx.get(f"{emu.base_url}/batches/{batch_id}", headers=KEY)
    if emu.config.dialect == "infron":
        return status.json()["result_url"], KEY
    return f"{emu.base_url}/batches/{batch_id}", KEY


def anthropic_download(emu: Emulator, n: int = 3) -> tuple[str, dict[str, str]]:
    created = httpx.post(emu.url + "/v1/messages/batches", json=requests_body(n), headers=ANTHROPIC)
    emu.wait(created.json()["id"])
    batch = httpx.get(f"{emu.url}/v1/messages/batches/{created.json()['id']}", headers=ANTHROPIC)
    return batch.json()["results_url"], ANTHROPIC


def openai_download(emu: Emulator, n: int = 3) -> tuple[str, dict[str, str]]:
    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": REQUEST}
        for i in range(n)
    ]
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    files = {"file": ("in.jsonl", content), "purpose": (None, b"batch")}
    uploaded = httpx.post(emu.base_url + "/files", files=files, headers=KEY).json()
    create = {
        "input_file_id": uploaded["id"],
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    batch_id = httpx.post(emu.base_url + "/batches", json=create, headers=KEY).json()["id"]
    emu.wait(batch_id)
    batch = httpx.get(f"{emu.base_url}/batches/{batch_id}", headers=KEY).json()
    return f"{emu.base_url}/files/{batch['output_file_id']}/content", KEY


DOWNLOADS = {
    "quickstart": siraya_download,
    "infron": siraya_download,
    "anthropic": anthropic_download,
    "openai": openai_download,
}


@pytest.fixture(params=sorted(DOWNLOADS))
def download(request: pytest.FixtureRequest) -> Iterator[tuple[Emulator, str, dict[str, str]]]:
    with Emulator(dialect=request.param, api_key="k") as emu:
        url, headers = DOWNLOADS[request.param](emu)
        yield emu, url, headers


def test_redirect_results_catches_a_client_that_forwards_its_key(
    download: tuple[Emulator, str, dict[str, str]],
) -> None:
    emu, url, headers = download
    plain = httpx.get(url, headers=headers)
    assert plain.status_code == 200 and plain.text.count("\n") == 3
    emu.set_faults(redirect_results=True)
    moved = httpx.get(url, headers=headers)
    assert moved.status_code == 302
    target = httpx.URL(moved.headers["location"])
    assert target.host == "localhost" and target.port == emu.port
    leaked = httpx.get(target, headers=headers)
    assert leaked.status_code == 400
    assert "must not forward its API key across origins" in leaked.text
    clean = httpx.get(target)
    assert clean.status_code == 200 and clean.text == plain.text
    redirected = [c for c in emu.calls() if c["endpoint"] == "redirected"]
    assert [c["authorization"] for c in redirected] == [True, False]
    assert {c["host"].split(":")[0] for c in redirected} == {"localhost"}


def test_a_forged_redirect_is_not_served(download: tuple[Emulator, str, dict[str, str]]) -> None:
    emu, url, headers = download
    emu.set_faults(redirect_results=True)
    target = httpx.URL(httpx.get(url, headers=headers).headers["location"])
    assert httpx.get(target.copy_set_param("sig", "wrong")).status_code == 404


def test_empty_results_times_answers_200_with_nothing_then_the_file(
    download: tuple[Emulator, str, dict[str, str]],
) -> None:
    emu, url, headers = download
    emu.set_faults(empty_results_times=1)
    first = httpx.get(url, headers=headers)
    assert (first.status_code, first.content) == (200, b"")
    assert httpx.get(url, headers=headers).text.count("\n") == 3
    assert emu.faults.empty_results_times == 0


def test_endless_results_times_streams_past_the_real_lines(
    download: tuple[Emulator, str, dict[str, str]],
) -> None:
    emu, url, headers = download
    whole = httpx.get(url, headers=headers).content
    emu.set_faults(endless_results_times=1)
    received = b""
    with httpx.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
            if len(received) > 20 * len(whole):
                break  # the client's own bound: the server keeps sending
    assert received.startswith(whole) and len(received) > 20 * len(whole)
    assert httpx.get(url, headers=headers).content == whole  # only the first N downloads


def test_drip_results_sends_one_line_at_a_time(
    download: tuple[Emulator, str, dict[str, str]],
) -> None:
    emu, url, headers = download
    whole = httpx.get(url, headers=headers).content
    emu.set_faults(drip_results_seconds=0.5)
    with httpx.stream("GET", url, headers=headers) as response:
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == whole
    assert len(chunks) >= 2  # lines written apart arrive apart (undripped: one chunk)
    assert all(chunk.endswith(b"\n") for chunk in chunks)


def test_the_hostile_faults_are_set_like_the_others() -> None:
    with Emulator(redirect_results=True, endless_results_times=2) as emu:
        shown = httpx.get(emu.url + "/_emulator/faults").json()
        assert shown["redirect_results"] is True and shown["endless_results_times"] == 2
        changes = {"drip_results_seconds": 0.5, "empty_results_times": 3}
        shown = httpx.post(emu.url + "/_emulator/faults", json=changes).json()
        assert (shown["drip_results_seconds"], shown["empty_results_times"]) == (0.5, 3)
