"""The emulator as a server people run: bounded parsing, hostile bodies and fault values."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siraya_frames import ConfigurationError
from siraya_frames.emulator import Emulator, EmulatorConfig
from siraya_frames.emulator._backends import EchoBackend
from siraya_frames.emulator._cli import add_arguments, config_from_args, serve
from siraya_frames.emulator._multipart import parse_multipart
from siraya_frames.emulator._openai_shapes import check_input_file
from siraya_frames.emulator._runtime import Runtime
from siraya_frames.emulator._store import Store
from siraya_frames.emulator._validate import CreateRejected, parse_create_body
from siraya_frames.emulator._worker import Worker

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


def test_an_upload_is_split_from_its_multipart_framing_with_one_copy() -> None:
    content = b"{}\n" * 1_000_000
    head = b'--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--xyz\r\n'
    part = b'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n\r\n'
    body = bytearray(head + part + content + b"\r\n--xyz--\r\n")
    fields, peak = peak_bytes(parse_multipart, body, "multipart/form-data; boundary=xyz")
    assert fields == {"purpose": (None, b"batch"), "file": ("in.jsonl", content)}
    assert peak < 1.5 * len(body)  # the file's bytes once; the email parser took about 26x


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--b\r\nno end", "multipart/form-data; boundary=b"),
        (b"plain", "multipart/form-data; boundary=b"),
        (b"--b--\r\n", "application/json"),
    ],
)
def test_a_broken_upload_is_a_400_naming_multipart(body: bytes, content_type: str) -> None:
    with Emulator(dialect="openai") as emu:
        response = httpx.post(
            emu.base_url + "/files", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 400
        assert "not multipart/form-data" in response.json()["error"]["message"]


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


# -- 2. slow connections are closed and do not starve real clients ----------------------------


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_connections_trickling_headers_are_closed_and_clients_still_get_answers() -> None:
    with Emulator(timeout=1.0, limit_concurrency=20) as emu:
        slow = [socket.create_connection(("127.0.0.1", emu.port), timeout=5) for _ in range(30)]
        stop = threading.Event()

        def trickle() -> None:  # stops by itself after 20 s at most
            for _ in range(100):
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X-Slow: 1\r\n" if _ else b"GET / HTTP/1.1\r\n")
                if stop.wait(0.2):
                    return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            statuses = []
            for _ in range(100):  # a real client, answered before this bounded loop ends
                statuses.append(httpx.get(emu.url + "/_emulator/stats", timeout=10).status_code)
                if statuses[-1] == 200:
                    break
                time.sleep(0.1)
            assert statuses[-1] == 200
            assert set(statuses) <= {200, 503}
            assert all(_closed_by_server(sock) for sock in slow)
        finally:
            stop.set()
            thread.join()
            for sock in slow:
                sock.close()


def test_a_body_that_stops_arriving_is_closed_without_an_error_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Emulator(timeout=1.0) as emu, caplog.at_level(logging.WARNING):
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                b'{"requests": ['
            )
            assert _closed_by_server(sock)
        assert httpx.get(emu.url + "/_emulator/stats").json()["batches"] == 0
    assert not [r for r in caplog.records if r.name.startswith(("uvicorn", "siraya"))]


def test_serve_help_explains_the_server_options_and_hostile_faults() -> None:
    parser = argparse.ArgumentParser(prog="siraya-frames serve")
    add_arguments(parser)
    text = parser.format_help()
    for flag in (
        "--limit-concurrency",
        "--timeout",
        "--insecure-no-key",
        "--redirect-results",
        "--drip-results-seconds",
        "--endless-results-times",
        "--empty-results-times",
    ):
        assert flag in text  # fmt: skip
    assert "127.0.0.1 <-> localhost" in text and "30 s or 1 GiB" in text


def test_serve_has_connection_limit_and_timeout_options() -> None:
    args = parse_serve("--limit-concurrency", "7", "--timeout", "2.5")
    config = config_from_args(args)
    assert (config.limit_concurrency, config.timeout) == (7, 2.5)
    with pytest.raises(ConfigurationError, match="timeout"):
        config_from_args(parse_serve("--timeout", "nan"))


# -- 3. a non-loopback host needs a key; admin is never open there ----------------------------


def parse_serve(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="siraya-frames serve")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_non_loopback_host_without_a_key_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigurationError, match=r"--api-key.*--insecure-no-key"):
        Emulator(host="0.0.0.0")
    assert serve(parse_serve("--host", "0.0.0.0", "--port", "0")) == 2
    assert "no API key is set" in capsys.readouterr().err


def test_an_open_api_on_purpose_keeps_the_admin_endpoints_closed() -> None:
    with Emulator(host="0.0.0.0", insecure_no_key=True) as emu:
        local = f"http://127.0.0.1:{emu.port}"
        response = httpx.get(local + "/_emulator/stats")
        assert response.status_code == 403 and "--api-key" in response.json()["error"]["message"]
        assert httpx.post(local + "/_emulator/faults", json={"error_rate": 1}).status_code == 403
        assert emu.faults.error_rate == 0.0
        assert httpx.get(local + "/v1/batches/batch_x").status_code == 404  # the API answers


def test_admin_on_a_non_loopback_host_needs_the_key() -> None:
    with Emulator(host="0.0.0.0", api_key="k") as emu:
        local = f"http://127.0.0.1:{emu.port}"
        assert httpx.get(local + "/_emulator/stats").status_code == 401
        auth = {"authorization": "Bearer k"}
        assert httpx.get(local + "/_emulator/stats", headers=auth).status_code == 200


# -- 6. a damaged data directory is one clear error ---------------------------------------


def test_a_data_dir_that_is_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_text("not a folder")
    with pytest.raises(ConfigurationError, match="is a file, not a folder"):
        Emulator(data_dir=path)


def test_a_corrupt_database_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "emulator.sqlite3").write_bytes(b"this is not sqlite" * 512)
    with pytest.raises(ConfigurationError, match=r"cannot be opened.*move the damaged file"):
        Emulator(data_dir=tmp_path)


def test_serve_on_a_corrupt_data_dir_exits_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "emulator.sqlite3").write_bytes(b"this is not sqlite" * 512)
    code = (
        "import argparse, sys\n"
        "from siraya_frames.emulator._cli import add_arguments, serve\n"
        "parser = argparse.ArgumentParser(prog='siraya-frames serve')\n"
        "add_arguments(parser)\n"
        "sys.exit(serve(parser.parse_args(sys.argv[1:])))\n"
    )
    argv = [sys.executable, "-c", code, "--port", "0", "--data-dir", str(tmp_path)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("siraya-frames serve: data_dir") and "emulator.sqlite3" in line


def test_a_failing_worker_logs_once_and_backs_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(str(tmp_path / "s.sqlite3"))
    runtime = Runtime(EmulatorConfig(), store)

    def broken() -> list[Any]:
        raise sqlite3.DatabaseError("database disk image is malformed")

    store.active = broken  # type: ignore[method-assign]
    worker = Worker(runtime, EchoBackend())
    with caplog.at_level(logging.DEBUG, logger="siraya_frames.emulator"):
        worker.start()
        time.sleep(1.5)
        worker.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "retrying with back-off" in errors[0].getMessage()
    assert 2 <= len(caplog.records) < 10  # backed off: not one step every 20 ms
    store.close()
