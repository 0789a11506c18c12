"""Chaos run: many batches against the emulator with every fault on at once.

Faults: 429 and 503 bursts, connections dropped after accepted creates, cut result streams,
5% errored requests, one expired batch, and the waiting process killed and resumed with
``Job.open``. Invariants checked (an AssertionError names the one that broke):

1. every input row ends with exactly one outcome;
2. no batch was created twice (batches on the service == batches the job recorded);
3. after ``retry_failed`` every transient failure succeeded;
4. each row's ``response_text`` equals its own prompt (echo backend).

Usage::

    python benchmarks/bench_chaos.py --rows 20000

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--max-requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_chaos(args.rows, Path(tmp), max_requests=args.max_requests)
    print(json.dumps(report, indent=2))
    print("all four invariants held")


if __name__ == "__main__":
    main()
