"""Our client against an independent implementation of both batch APIs: llmock (PyPI).

llmock (``llmock serve``, FastAPI) mocks OpenAI's file-based Batch API under ``/v1`` and
Anthropic Message Batches under ``/anthropic/v1``, written from the providers' docs by
people who are not us, so it checks our reading of the wire shapes against another one.
Each batch ends about 3 seconds after its create. Shape differences the client tolerates:

* Anthropic lives under a path prefix (``/anthropic/v1``): ``base_url`` carries it, and
  the relative ``results_url`` (``/anthropic/v1/messages/batches/<id>/results``) is
  resolved against the origin;
* Anthropic timestamps are RFC 3339 strings, OpenAI ones Unix seconds;
* an OpenAI batch reports ``request_counts.total`` 0 while ``validating``;
* result files end without a final newline, which the client first takes for a cut
  download (it fetches again, then accepts the lines; see the report of issue #11);
* the answers are llmock's canned texts, not an echo, and ``Idempotency-Key`` is ignored.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import polars as pl
import pytest

import siraya_frames as sf

FAST = sf.PollSchedule(initial=0.2, factor=1.5, maximum=0.5, minimum=0.2)
KEY = "sk-independent-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llmock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``llmock serve`` process; yields its origin (``http://127.0.0.1:PORT``)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llmock") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOCK_", "SIRAYA_"))}
    command = [sys.executable, "-m", "llmock.cli", "serve", "--host", "127.0.0.1"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(origin + "/", timeout=1)  # any answer (a 404) means it listens
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"llmock did not start: {log.read_text()}") from None
            time.sleep(0.1)
    yield origin
    proc.terminate()
    proc.wait(timeout=15)


def test_run_on_both_protocols_against_llmock(llmock, tmp_path, monkeypatch):
    monkeypatch.delenv("SIRAYA_PROTOCOL", raising=False)
    df = pl.DataFrame({"id": [0, 1, 2, 3], "text": ["good", "bad", "good", "fine"]})
    bases = {"anthropic": f"{llmock}/anthropic/v1", "openai": f"{llmock}/v1"}
    models = {"anthropic": "claude-haiku-4-5-20251001", "openai": "gpt-4o-mini"}  # llmock's
    jobs = {}
    for protocol, base_url in bases.items():  # submit both, then wait: their delays overlap
        client = sf.SirayaClient(KEY, base_url, protocol=protocol)
        jobs[protocol] = sf.run(
            df,
            prompt="{text}",
            model=models[protocol],
            max_tokens=16,
            client=client,
            job_dir=tmp_path / protocol,
            max_requests=2,
            wait=False,
        )
    for protocol, job in jobs.items():
        results = job.wait(timeout=60, progress=False, schedule=FAST).results()
        model = models[protocol]
        requests = sf.build_requests(df, prompt="{text}", model=model, max_tokens=16)
        out = sf.join_results(requests, results)
        assert len(job.batch_ids) == 2, protocol  # 3 unique requests, 2 per batch
        assert out["id"].to_list() == [0, 1, 2, 3]
        assert out["result_status"].to_list() == ["succeeded"] * 4, protocol
        assert out["response_text"].null_count() == 0
        assert out["response_text"][0] == out["response_text"][2]  # one request, one answer
        assert model in out["response_text"][0]  # llmock names the model in its answer
        assert results["model"].to_list() == [model] * 3
        assert out["output_tokens"].min() > 0
        assert set(out["batch_id"]) == set(job.batch_ids)


@pytest.mark.parametrize(
    ("protocol", "path", "typo", "closest"),
    [("anthropic", "/anthropic/v1", "claude-haiku-4-5", "claude-haiku-4-5-20251001"),
     ("openai", "/v1", "gpt-4o-mni", "gpt-4o-mini")],
)  # fmt: skip
def test_llmock_model_listing_refuses_a_typo(llmock, tmp_path, protocol, path, typo, closest):
    client = sf.SirayaClient(KEY, llmock + path, protocol=protocol)
    assert closest in sf.models(client)["id"].to_list()  # its own reading of the list shape
    df = pl.DataFrame({"text": ["good"]})
    with pytest.raises(sf.errors.ParameterError, match=f"closest: '{closest}'"):
        sf.run(df, prompt="{text}", model=typo, client=client, job_dir=tmp_path, wait=False)
    assert not (tmp_path / "job.sqlite3").exists()  # nothing was submitted
