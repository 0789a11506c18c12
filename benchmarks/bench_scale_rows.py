"""Scale: peak memory and time per step as the rows grow, each size in a fresh process.

build → submit (plan, intents, creates, through the emulator in its own process, with no
delay and large batches) → wait → collect → join → write. Each size runs in a fresh
subprocess, so its peak RSS (``ru_maxrss``) is the client's alone; the peak after each step
is reported as a multiple of the input frame's ``estimated_size()``. The goal is a flat
multiple, not one that grows with the rows.

Usage::

    python benchmarks/bench_scale.py --rows 1000000 3000000
    python benchmarks/bench_scale.py --rows 1000000 --lazy   # from a scan_parquet
    python benchmarks/bench_scale.py --rows 1000000 --code-root /tmp/siraya-main  # before
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "openai/gpt-4o-mini-batch"
PROMPT = "Classify this review: {text}"
MAX_REQUESTS = 100_000
MIB = 1024 * 1024


def make_frame(n_rows: int):
    """``n_rows`` short reviews, 10% of them repeats, made by Polars (no Python loop)."""
    import polars as pl

    unique = max(n_rows - n_rows // 10, 1)
    i = pl.int_range(n_rows, dtype=pl.Int64)
    text = pl.format("review {}: the product was fine, “quotes” and ünïcode", i % unique)
    return pl.select(i.alias("id"), text.alias("text"))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_rows(n_rows: int, base_url: str, *, lazy: bool = False) -> dict[str, object]:
    """Run every step on ``n_rows`` rows in this process; return times and peak RSS."""
    import polars as pl

    import siraya_frames as sf

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    df = make_frame(n_rows)
    input_mib = df.estimated_size() / MIB
    source: pl.DataFrame | pl.LazyFrame = df
    if lazy:
        df.write_parquet(work / "input.parquet")
        del df
        source = pl.scan_parquet(work / "input.parquet")
    times: dict[str, float] = {}
    peaks: dict[str, float] = {"start": _peak_mib()}

    def step(name: str, fn):
        t = time.perf_counter()
        value = fn()
        times[name] = time.perf_counter() - t
        peaks[name] = _peak_mib()
        return value

    def build() -> pl.DataFrame | pl.LazyFrame:
        requests = sf.build_requests(source, prompt=PROMPT, model=MODEL, max_tokens=16)
        if isinstance(requests, pl.LazyFrame):  # built once, as run() does
            requests = requests.collect(engine="streaming")
        return requests

    requests = step("build", build)
    with sf.SirayaClient("bench-key", base_url) as client:
        job = step(
            "submit",
            lambda: sf.submit(
                requests, client=client, job_dir=work / "job", max_requests=MAX_REQUESTS
            ),
        )
        schedule = sf.PollSchedule(initial=0.05, maximum=1.0)
        step("wait", lambda: job.wait(progress=False, schedule=schedule))
    try:  # run's after-submit path: collect → join → write in one step
        from siraya_frames._finish import finish
        from siraya_frames._recipe import Recipe
    except ImportError:  # the code before: the same steps, one by one
        results = step("collect", job.results)
        out = step("join", lambda: sf.join_results(requests, results))
        step("write", lambda: sf.write_parquet(out, work / "out.parquet", job=job))
    else:
        rows = requests.drop("params")
        del requests  # as run does once the job holds the bodies
        recipe = Recipe(model=MODEL)
        step("finish", lambda: finish(job, recipe, rows, output=work / "out.parquet"))
    total = sum(times.values())
    return {
        "rows": n_rows,
        "lazy": lazy,
        "input_mib": round(input_mib, 1),
        "batches": len(job.batch_ids),
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "total_s": round(total, 2),
        "us_per_row": round(total / n_rows * 1e6, 2),
        "peak_mib": {k: round(v) for k, v in peaks.items()},
        "peak_x_input": round(max(peaks.values()) / input_mib, 2),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(code_root: str) -> tuple[subprocess.Popen, str]:
    """The emulator in its own process (its memory is not the client's)."""
    port = _free_port()
    code = "import sys; from siraya_frames._cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": code_root}
    args = [sys.executable, "-c", code, "serve", "--port", str(port), "--api-key", "bench-key"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, base_url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the emulator did not start")


def _child(n_rows: int, code_root: str, lazy: bool) -> dict[str, object]:
    proc, base_url = _serve(code_root)
    try:
        env = {**os.environ, "PYTHONPATH": code_root}
        args = [sys.executable, __file__, "--child", str(n_rows), "--base-url", base_url]
        args += ["--lazy"] if lazy else []
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--lazy", action="store_true", help="read the input with scan_parquet")
    parser.add_argument("--code-root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_rows(args.child, args.base_url, lazy=args.lazy)))
        return
    for n_rows in args.rows:
        print(json.dumps(_child(n_rows, args.code_root, args.lazy)), flush=True)


if __name__ == "__main__":
    main()
