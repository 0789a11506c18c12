"""``siraya-frames serve``: the argparse wiring, and a real server in a subprocess."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from siraya_frames import ConfigurationError
from siraya_frames.emulator._cli import add_arguments, config_from_args

SERVE = (
    "import argparse, sys\n"
    "from siraya_frames.emulator._cli import add_arguments, serve\n"
    "parser = argparse.ArgumentParser(prog='siraya-frames serve')\n"
    "add_arguments(parser)\n"
    "sys.exit(serve(parser.parse_args(sys.argv[1:])))\n"
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="siraya-frames serve")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_defaults_and_environment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIRAYA_EMULATOR_API_KEY", raising=False)
    args = parse()
    assert (args.host, args.port, args.dialect, args.results_format) == (
        "127.0.0.1", 8000, "quickstart", "anthropic"
    )  # fmt: skip
    assert config_from_args(args).api_key is None
    monkeypatch.setenv("SIRAYA_EMULATOR_API_KEY", "from-env")
    assert config_from_args(parse()).api_key == "from-env"
    assert config_from_args(parse("--api-key", "flag")).api_key == "flag"
    argv = ["--error-rate", "0.2", "--http-error-status", "503", "--max-bytes", "1000"]
    config = config_from_args(parse(*argv, "--completion-window", "60"))
    assert (config.error_rate, config.http_error_status, config.max_bytes) == (0.2, 503, 1000)
    assert config.completion_window == 60.0


def test_bad_values_are_refused_with_a_message() -> None:
    with pytest.raises(SystemExit):
        parse("--dialect", "nope")
    with pytest.raises(ConfigurationError, match="error_rate must be between 0 and 1"):
        config_from_args(parse("--error-rate", "2"))


def test_help_is_written_for_a_person() -> None:
    parser = argparse.ArgumentParser(prog="siraya-frames serve")
    add_arguments(parser)
    text = parser.format_help()
    assert "emulator of Siraya AI's batch API" in text and "example:" in text
    for flag in ("--upstream-url", "--seconds-per-request", "--http-error-rate", "--max-bytes"):
        assert flag in text


def test_serve_runs_until_interrupted(tmp_path: os.PathLike[str]) -> None:
    port = free_port()
    env = {**os.environ, "SIRAYA_EMULATOR_API_KEY": "cli-key", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-c", SERVE, "--port", str(port), "--dialect", "infron",
            "--data-dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        banner = proc.stdout.readline() if proc.stdout else ""
        base_url = f"http://127.0.0.1:{port}/v1"
        assert banner.strip() == f"Siraya batch API emulator listening on {base_url}"
        body = {
            "requests": [
                {
                    "custom_id": "a",
                    "params": {
                        "model": "m",
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                }
            ]
        }
        with httpx.Client(base_url=base_url, timeout=10) as client:
            assert client.post("/batches", json=body).status_code == 401
            headers = {"Authorization": "Bearer cli-key"}
            batch_id = client.post("/batches", json=body, headers=headers).json()["batch_id"]
            deadline = time.monotonic() + 10
            while (status := client.get(f"/batches/{batch_id}", headers=headers).json())[
                "status"
            ] != "SUCCESS":
                assert time.monotonic() < deadline, status
                time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "emulator stopped" in out
    assert "cli-key" not in out + err
    assert os.path.exists(os.path.join(tmp_path, "emulator.sqlite3"))
