"""Benchmark: plan time of 1M rows per wire protocol (siraya/anthropic JSON body vs OpenAI JSONL).

The same unique requests (``custom_id`` + ``params_json``, as a job plans them: from
``requests.parquet``-shaped frames) are planned into payloads with each protocol's request
encoding. For OpenAI each line is a Chat Completions body translated by Polars expressions
(``_protocols/_chat.py``); the Python fallback per row is timed on a slice for comparison.

Run::

    python benchmarks/bench_protocols.py            # 1,000,000 rows
    python benchmarks/bench_protocols.py --rows 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_build import MAX_TOKENS, MODEL, PROMPT, SYSTEM, make_frame

from siraya_frames._build import build_requests
from siraya_frames._plan import plan_batches, unique_requests
from siraya_frames._protocols import get_protocol
from siraya_frames._protocols._chat import _python_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reqs = build_requests(
        make_frame(args.rows), prompt=PROMPT, system=SYSTEM, model=MODEL, max_tokens=MAX_TOKENS
    )
    unique = unique_requests(reqs)
    print(f"{args.rows:,} rows, {unique.height:,} unique requests")
    for name in ("siraya", "openai"):
        wire = get_protocol(name)
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            payloads = plan_batches(
                unique,
                max_requests=wire.max_requests,
                max_bytes=wire.max_bytes,
                encoding=wire.encoding,
            )
            times.append(time.perf_counter() - start)
        size = sum(p.n_bytes for p in payloads)
        print(
            f"{name:8s} plan: median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}), {len(payloads)} payloads, {size / 1e6:.0f} MB"
        )
    part = unique.head(20_000)
    start = time.perf_counter()
    for custom_id, params in part.iter_rows():
        _python_line(custom_id, params)
    per_row = (time.perf_counter() - start) / part.height
    print(f"python fallback: {per_row * 1e6:.1f} us/row -> {per_row * unique.height:.1f} s for all")


if __name__ == "__main__":
    main()
