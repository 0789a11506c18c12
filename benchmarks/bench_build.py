"""Benchmark: a frame -> deduplicated batch bodies, siraya_frames vs a per-row Python loop.

Both approaches produce the same thing: one ``POST /v1/batches`` body per batch (at most
``DEFAULT_MAX_REQUESTS`` requests and ``DEFAULT_MAX_BYTES`` bytes each) holding every unique
request once, with Messages params shaped as in the quickstart.

* ``siraya_frames``: ``build_requests`` (Polars expressions, xxh3 ids) + ``plan_batches``.
* ``per-row``: the quickstart's way, scaled up: loop over ``df.iter_rows(named=True)``, format
  the prompt, make the params dict, ``json.dumps`` it, md5 it for the id, skip ids already
  seen, ``json.dumps`` the line, and join lines into bodies under both limits.

Timings alternate between the two approaches in one process (``--rounds`` each) and exclude
making the input frame. Memory is measured separately: each approach runs once in a fresh
subprocess that builds the input frame, resets the kernel's peak-RSS mark (``VmHWM``, via
``/proc/self/clear_refs``; Linux only), runs, and reports its RSS before and its peak RSS
during the run: the extra resident memory the approach needed (Polars' allocator and Python's
both included; memory mapped but never touched is not counted).

Run::

    python benchmarks/bench_build.py            # 1,000,000 rows
    python benchmarks/bench_build.py --rows 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import subprocess
import sys
import time

import polars as pl

from siraya_frames._build import build_requests
from siraya_frames._config import DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS
from siraya_frames._plan import plan_batches

PROMPT = "Classify the sentiment of this review: {review} (title: {title}, stars: {stars})"
SYSTEM = "You are a careful annotator. Answer with one word."
MODEL = "openai/gpt-4o-mini-batch"
MAX_TOKENS = 16
WORDS = ["great", "awful", "ok", "café", "naïve", "👍", 'said "wow"', "back\\slash", "line\nbreak"]


def make_frame(rows: int) -> pl.DataFrame:
    """Reviews of about 100 characters with unicode, quotes, backslashes and newlines; about
    10% of the rows repeat an earlier row."""
    i = pl.col("i")
    words = [(i // 9**k % 9).replace_strict(dict(enumerate(WORDS))) for k in range(3)]
    review = pl.concat_str(
        pl.lit("Review #"), i.cast(pl.String), pl.lit(": the product was "), words[0],
        pl.lit(", the delivery "), words[1], pl.lit(" and the price "), words[2], pl.lit("."),
    )  # fmt: skip
    frame = pl.DataFrame({"i": pl.int_range(rows, eager=True) % max(1, int(rows * 0.9))})
    return frame.select(
        pl.concat_str(pl.lit("Item "), (i % 1000).cast(pl.String)).alias("title"),
        review.alias("review"),
        (i % 5 + 1).alias("stars"),
    )


def run_polars(df: pl.DataFrame) -> tuple[int, int]:
    requests = build_requests(
        df, prompt=PROMPT, system=SYSTEM, model=MODEL, max_tokens=MAX_TOKENS, temperature=0
    )
    payloads = plan_batches(requests)
    return sum(p.n_requests for p in payloads), len(payloads)


def run_per_row(df: pl.DataFrame) -> tuple[int, int]:
    seen: set[str] = set()
    bodies: list[bytes] = []
    lines: list[str] = []
    size = 15  # {"requests":[ + ]}
    for row in df.iter_rows(named=True):
        params = {
            "model": MODEL,
            "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": PROMPT.format(**row)}],
            "system": SYSTEM,
            "temperature": 0.0,
        }
        params_text = json.dumps(params, ensure_ascii=False)
        custom_id = "sf" + hashlib.md5(params_text.encode()).hexdigest()
        if custom_id in seen:
            continue
        seen.add(custom_id)
        line = json.dumps({"custom_id": custom_id, "params": params}, ensure_ascii=False)
        n = len(line.encode()) + 1
        if lines and (len(lines) >= DEFAULT_MAX_REQUESTS or size + n - 1 > DEFAULT_MAX_BYTES):
            bodies.append(('{"requests":[' + ",".join(lines) + "]}").encode())
            lines, size = [], 15
        lines.append(line)
        size += n
    if lines:
        bodies.append(('{"requests":[' + ",".join(lines) + "]}").encode())
    return len(seen), len(bodies)


APPROACHES = {"siraya_frames": run_polars, "per-row": run_per_row}


def timed(name: str, df: pl.DataFrame) -> tuple[float, tuple[int, int]]:
    gc.collect()
    start = time.perf_counter()
    result = APPROACHES[name](df)
    return time.perf_counter() - start, result


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def child(name: str, rows: int) -> None:
    """Build the frame, reset the peak-RSS mark, run one approach; print RSS before and peak."""
    df = make_frame(rows)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # Linux: reset VmHWM (peak RSS) to the current RSS
    before = _status_mib("VmRSS")
    APPROACHES[name](df)
    print(before, _status_mib("VmHWM"))


def peak_rss(name: str, rows: int) -> tuple[float, float]:
    cmd = [sys.executable, __file__, "--rows", str(rows), "--child", name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=list(APPROACHES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return
    df = make_frame(args.rows)
    print(f"rows={args.rows:,}  polars={pl.__version__}  python={sys.version.split()[0]}")
    times: dict[str, list[float]] = {name: [] for name in APPROACHES}
    results = {}
    for _ in range(args.rounds):
        for name in APPROACHES:
            seconds, results[name] = timed(name, df)
            times[name].append(seconds)
    assert results["siraya_frames"] == results["per-row"], results
    unique, batches = results["siraya_frames"]
    print(f"unique requests={unique:,}  batches={batches}")
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:>14}: median {statistics.median(values):7.2f} s   (runs: {runs})")
    ratio = statistics.median(times["per-row"]) / statistics.median(times["siraya_frames"])
    print(f"speed-up (median per-row / median siraya_frames): {ratio:.1f}x")
    print("memory, one run in a fresh process (MiB; Linux VmHWM reset after making the input):")
    for name in APPROACHES:
        before, peak = peak_rss(name, args.rows)
        extra = peak - before
        print(f"{name:>14}: RSS before {before:,.0f}, peak {peak:,.0f}, extra {extra:,.0f}")


if __name__ == "__main__":
    main()
