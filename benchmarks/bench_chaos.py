"""Chaos run: many batches against the emulator with every fault on at once.

Faults: 429 and 503 bursts, connections dropped after accepted creates, cut result streams,
5% errored requests, one expired batch, and the waiting process killed and resumed with
``Job.open``. Invariants checked (an AssertionError names the one that broke):

1. every input row ends with exactly one outcome;
2. no batch was created twice (batches on the service == batches the job recorded);
3. after ``retry_failed`` every transient failure succeeded;
4. each row's ``response_text`` equals its own prompt (echo backend).

A second scenario, ``run_hostile_chaos``, points the job at a hostile results host:
downloads redirected to another origin that refuses a forwarded key, empty answers, endless
streams and a slow drip, while status answers sometimes carry a batch id full of ``../`` and
NUL. Its invariants: 1, 2 and 4 above, plus

5. the API key never reaches another origin, and no request leaves the batch API's paths;
6. results that could not be fetched are never bought again: the next ``wait`` fetches them.

Usage::

    python benchmarks/bench_chaos.py --rows 20000
    python benchmarks/bench_chaos.py --rows 5000 --hostile

The test suite runs the same scenario at a small size (tests/test_chaos.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl

import siraya_frames as sf
from siraya_frames.emulator import Emulator

KEY = "sk-chaos-key"
FAST = sf.PollSchedule(initial=0.05, factor=1.5, maximum=0.5)
RETRY = sf.RetryPolicy(max_attempts=12, initial_wait=0.01, max_wait=0.2, max_retry_after=0.05)


def make_frame(rows: int) -> pl.DataFrame:
    """Rows with unique prompts, plus 10% exact repeats (deduplicated on the wire)."""
    base = pl.DataFrame({"text": [f"row {i}: naïve “quote” {{x}} \\ ✓" for i in range(rows)]})
    repeats = base.head(rows // 10)
    return pl.concat([base, repeats]).with_row_index("row")


def _killed_waiter(requests_path: Path, job_dir: Path, base_url: str, max_requests: int) -> None:
    """Submit and wait in a child process, then kill it while it waits."""
    script = textwrap.dedent(f"""
        import polars as pl, siraya_frames as sf
        retry = sf.RetryPolicy(max_attempts=12, initial_wait=0.01, max_wait=0.2,
                               max_retry_after=0.05)
        client = sf.SirayaClient({KEY!r}, {base_url!r}, retry=retry)
        job = sf.submit(pl.read_parquet({str(requests_path)!r}), client=client,
                        job_dir={str(job_dir)!r}, max_requests={max_requests})
        print("submitted", flush=True)
        job.wait(progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line == "submitted", f"the child process failed before submitting ({line!r})"
        time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()


def _faults(emu: Emulator) -> None:
    emu.set_faults(
        http_error_rate=0.08, http_error_status=429, fail_next_calls=4, drop_after_create=3,
        cut_results_after=40, cut_results_times=4, error_rate=0.05,
        error_type="overloaded_error",
    )  # fmt: skip


def _check(df: pl.DataFrame, out: pl.DataFrame, first: pl.DataFrame, stats: dict[str, Any],
           job: sf.Job) -> dict[str, Any]:  # fmt: skip
    assert out.height == df.height, "1: a row was lost or duplicated"
    assert out["row"].to_list() == df["row"].to_list(), "1: rows out of order"
    assert out["result_status"].null_count() == 0, "1: a row has no outcome"
    assert stats["batches"] == len(job.batch_ids) == len(set(job.batch_ids)), "2: double create"
    transient = first.filter(pl.col("result_status").is_in(["errored", "expired", "missing"]))
    assert set(out["result_status"]) == {"succeeded"}, "3: a transient failure was not retried"
    assert out["response_text"].to_list() == df["text"].to_list(), "4: wrong answer joined"
    return {
        "rows": df.height,
        "unique_requests": first.height,
        "batches_created": stats["batches"],
        "first_pass_failures": dict(transient["result_status"].value_counts().iter_rows()),
        "dropped_creates": stats["dropped_creates"],
        "creates_replayed": stats["creates_replayed"],
        "cut_downloads": stats["cut_downloads"],
        "http_faults": stats["http_faults"],
    }


def run_chaos(rows: int, workdir: Path, *, max_requests: int = 500) -> dict[str, Any]:
    """Run the scenario; return a report, or raise AssertionError naming the broken invariant."""
    df = make_frame(rows)
    requests = sf.build_requests(df, prompt="{text}", model="m", max_tokens=64)
    requests.write_parquet(workdir / "requests.parquet")
    job_dir = workdir / "job"
    started = time.perf_counter()
    with Emulator(api_key=KEY, seconds_per_request=0.0003, retry_after=0.01) as emu:
        _faults(emu)
        _killed_waiter(workdir / "requests.parquet", job_dir, emu.base_url, max_requests)
        with sf.SirayaClient(KEY, emu.base_url, retry=RETRY) as client:
            job = sf.Job.open(job_dir, client=client).submit_pending()
            emu.expire(job.batch_ids[-1])
            first = job.wait(progress=False, schedule=FAST).results()
            emu.set_faults(error_rate=0.0)
            job.retry_failed(max_rounds=3, progress=False, include_canceled=False)
            out = sf.join_results(requests, job.results())
        report = _check(df, out, first, emu.stats(), job)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


class _HostileIds(httpx.BaseTransport):
    """Every seventh status answer names its batch ``../../admin/x\\x00`` (a bad echo)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.paths: list[str] = []
        self.answers = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        response = self.inner.handle_request(request)
        if request.method != "GET" or "/batches/" not in request.url.path:
            return response
        self.answers += 1
        body = response.read()
        if self.answers % 7 or not body.startswith(b'{"'):
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        obj = json.loads(body)
        obj["id"] = "../../admin/x\x00"
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, json=obj)

    def close(self) -> None:
        self.inner.close()


def run_hostile_chaos(rows: int, workdir: Path, *, max_requests: int = 500) -> dict[str, Any]:
    """The hostile-server scenario; a report, or AssertionError naming the broken invariant."""
    df = make_frame(rows)
    requests = sf.build_requests(df, prompt="{text}", model="m", max_tokens=64)
    started = time.perf_counter()
    transport = _HostileIds()
    config = {"api_key": KEY, "dialect": "infron", "seconds_per_request": 0.0001,
              "retry_after": 0.01}  # fmt: skip
    with Emulator(**config) as emu:
        emu.set_faults(redirect_results=True, drip_results_seconds=0.001, http_error_rate=0.05,
                       endless_results_times=2, empty_results_times=2)  # fmt: skip
        client = sf.SirayaClient(KEY, emu.base_url, retry=RETRY, transport=transport)
        with client:
            job = sf.submit(requests, client=client, job_dir=workdir / "hostile",
                            max_requests=max_requests)  # fmt: skip
            first = job.wait(progress=False, schedule=FAST).results()
            creates = emu.stats()["batches"]
            out = first
            for _ in range(3):  # what could not be fetched is fetched by the next wait
                if "results_unavailable" not in set(out["error_type"].drop_nulls()):
                    break
                out = sf.Job.open(job.path, client=client).wait(progress=False, schedule=FAST)
                out = out.results()
            joined = sf.join_results(requests, out)
        stats = emu.stats()
    report = _check_hostile(df, joined, first, creates, stats, transport, job)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _check_hostile(
    df: pl.DataFrame,
    out: pl.DataFrame,
    first: pl.DataFrame,
    creates: int,
    stats: dict[str, Any],
    transport: _HostileIds,
    job: sf.Job,
) -> dict[str, Any]:
    assert out.height == df.height and out["row"].to_list() == df["row"].to_list(), "1: rows"
    assert stats["batches"] == creates == len(set(job.batch_ids)), "2/6: a batch bought twice"
    assert set(out["result_status"]) == {"succeeded"}, "6: results never fetched"
    assert out["response_text"].to_list() == df["text"].to_list(), "4: wrong answer joined"
    assert stats.get("credentials_to_other_origin", 0) == 0, "5: the key went to another origin"
    stray = [p for p in transport.paths if not p.startswith(("/v1/batches", "/files/"))]
    assert not stray, f"5: requests outside the batch API: {stray[:3]}"
    unavailable = first.filter(pl.col("error_type") == "results_unavailable").height
    return {
        "rows": df.height,
        "batches_created": stats["batches"],
        "redirected_downloads": stats.get("redirected_downloads", 0),
        "empty_downloads": stats.get("empty_downloads", 0),
        "endless_downloads": stats.get("endless_downloads", 0),
        "rows_unavailable_after_first_wait": unavailable,
        "status_answers_with_a_hostile_id": transport.answers // 7,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--max-requests", type=int, default=500)
    parser.add_argument("--hostile", action="store_true", help="the hostile-server scenario")
    args = parser.parse_args()
    scenario = run_hostile_chaos if args.hostile else run_chaos
    with tempfile.TemporaryDirectory() as tmp:
        report = scenario(args.rows, Path(tmp), max_requests=args.max_requests)
    print(json.dumps(report, indent=2))
    print("every invariant held")


if __name__ == "__main__":
    main()
