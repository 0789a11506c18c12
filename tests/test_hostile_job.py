"""Jobs against a hostile results host: nothing lost, nothing bought twice, no hang.

A fake Siraya service (``httpx.MockTransport``) creates batches and points at a results URL
that misbehaves in one way per test: it redirects to a file host, answers empty, streams for
ever or drips. The job must fetch what can be fetched, report what cannot, and never buy a
batch again for results it failed to download.
"""

from __future__ import annotations

import json
import time

import httpx
import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import errors

KEY = "sk-hostile-job-0123456789"
BASE = "https://api.example.com/v1"
FILES = "https://files.example.net"
FAST = sf.PollSchedule(initial=0.01, factor=1.0, maximum=0.01, minimum=0.0)
RETRY = sf.RetryPolicy(max_attempts=2, initial_wait=0.0, max_wait=0.0, sleep=lambda s: None)


class FakeService:
    """Creates batches at once complete; their results are served as ``mode`` says."""

    def __init__(self, mode: str = "redirect") -> None:
        self.mode = mode
        self.ids: dict[str, list[str]] = {}
        self.creates = 0
        self.downloads = 0
        self.file_host_headers: list[dict[str, str]] = []

    def lines(self, batch_id: str) -> bytes:
        out = []
        for cid in self.ids[batch_id]:
            message = {"content": [{"type": "text", "text": "ok"}], "model": "m",
                       "stop_reason": "end_turn", "usage": {"input_tokens": 1,
                                                            "output_tokens": 1}}  # fmt: skip
            out.append({"custom_id": cid, "result": {"type": "succeeded", "message": message}})
        return b"".join(json.dumps(o).encode() + b"\n" for o in out)

    def results(self, batch_id: str) -> httpx.Response:
        self.downloads += 1
        if self.mode == "empty":
            return httpx.Response(200, content=b"")
        if self.mode == "endless":
            line = self.lines(batch_id).split(b"\n")[0] + b"\n"
            return httpx.Response(200, stream=_Endless(line))
        if self.mode == "drip":
            return httpx.Response(200, stream=_Drip(self.lines(batch_id)))
        if self.mode == "no_final_newline":
            return httpx.Response(200, content=self.lines(batch_id).rstrip(b"\n"))
        return httpx.Response(302, headers={"Location": f"{FILES}/{batch_id}.jsonl"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith(FILES):
            self.file_host_headers.append(dict(request.headers))
            if "authorization" in request.headers:
                return httpx.Response(400, text="no credentials here")
            return httpx.Response(200, content=self.lines(url.rsplit("/", 1)[-1][:-6]))
        path = request.url.path
        if request.method == "POST" and path == "/v1/batches":
            self.creates += 1
            batch_id = f"batch_{self.creates}"
            body = json.loads(request.content)
            self.ids[batch_id] = [r["custom_id"] for r in body["requests"]]
            return httpx.Response(200, json={"id": batch_id, "status": "pending"})
        if path.startswith("/v1/results/"):
            return self.results(path.rsplit("/", 1)[-1])
        batch_id = path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={"id": batch_id, "status": "completed",
                                         "result_url": f"/v1/results/{batch_id}"})  # fmt: skip


class _Endless(httpx.SyncByteStream):
    def __init__(self, line: bytes) -> None:
        self.line = line

    def __iter__(self):
        chunk = self.line * 2000
        for _ in range(20_000):  # at most a few GB: a client that never stops fails the test
            yield chunk


class _Drip(httpx.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self):
        end = time.monotonic() + 15
        for i in range(len(self.body)):
            if time.monotonic() > end:
                break
            time.sleep(0.05)
            yield self.body[i : i + 1]


def _submit(service, tmp_path, rows=6, **client_kw):
    client = sf.SirayaClient(KEY, BASE, transport=httpx.MockTransport(service), retry=RETRY,
                             **client_kw)  # fmt: skip
    df = pl.DataFrame({"q": [f"question {i}" for i in range(rows)]})
    requests = sf.build_requests(df, prompt="{q}", model="m", max_tokens=8)
    job = sf.submit(requests, client=client, job_dir=tmp_path / "job", max_requests=3)
    return job, client


def test_a_redirected_download_is_followed_and_the_file_host_never_sees_the_key(tmp_path):
    service = FakeService("redirect")
    job, client = _submit(service, tmp_path)
    out = job.wait(progress=False, schedule=FAST).results()
    assert out["result_status"].to_list() == ["succeeded"] * 6
    assert out["response_text"].to_list() == ["ok"] * 6
    assert len(service.file_host_headers) == 2
    assert not any(KEY in json.dumps(h) for h in service.file_host_headers)
    client.close()


def test_results_that_cannot_be_fetched_are_reported_and_never_bought_again(tmp_path):
    service = FakeService("empty")
    job, client = _submit(service, tmp_path)
    out = job.wait(progress=False, schedule=FAST).results()
    assert set(out["result_status"]) == {"errored"}
    assert set(out["error_type"]) == {"results_unavailable"}
    assert (
        "could not be fetched" in out["error_message"][0] and "batch_1" in out["error_message"][0]
    )
    assert service.downloads == 2 * 3  # two batches, three tries each
    job.retry_failed(progress=False)
    assert service.creates == 2  # nothing bought again
    service.mode = "redirect"  # the host recovers: the next wait fetches them
    out = sf.Job.open(tmp_path / "job", client=client).wait(progress=False, schedule=FAST)
    assert out.results()["result_status"].to_list() == ["succeeded"] * 6
    assert service.creates == 2
    client.close()


def test_an_endless_results_stream_stops_at_the_cap_derived_from_the_job(tmp_path):
    service = FakeService("endless")
    job, client = _submit(service, tmp_path)
    out = job.wait(progress=False, schedule=FAST).results()
    assert set(out["error_type"]) == {"results_unavailable"}
    assert "max_result_bytes" in out["error_message"][0]
    assert not list((tmp_path / "job" / "results").glob("*"))  # no partial file kept
    client.close()


def test_the_wait_deadline_cuts_a_dripping_download(tmp_path):
    service = FakeService("drip")
    job, client = _submit(service, tmp_path, rows=3)
    with pytest.raises(errors.WaitTimeoutError, match="not finished yet"):
        job.wait(progress=False, schedule=FAST, timeout=1.5)
    client.close()


def test_a_larger_max_result_bytes_given_on_a_rerun_replaces_the_derived_cap(tmp_path):
    service = FakeService("endless")
    job, client = _submit(service, tmp_path)
    assert job._state.max_result_bytes is None and job._state.max_tokens == 8
    df = pl.DataFrame({"q": [f"question {i}" for i in range(6)]})
    requests = sf.build_requests(df, prompt="{q}", model="m", max_tokens=8)
    again = sf.submit(requests, client=client, job_dir=tmp_path / "job", max_result_bytes=5000)
    assert again._state.max_result_bytes == 5000 and service.creates == 2
    out = again.wait(progress=False, schedule=FAST).results()
    assert "larger than 5,000 bytes" in out["error_message"][0]
    client.close()


def test_a_results_file_without_a_final_newline_is_complete_not_short(tmp_path):
    service = FakeService("no_final_newline")
    job, client = _submit(service, tmp_path)
    out = job.wait(progress=False, schedule=FAST).results()
    assert out["result_status"].to_list() == ["succeeded"] * 6
    assert service.downloads == 2  # once per batch, not three times each
    client.close()
