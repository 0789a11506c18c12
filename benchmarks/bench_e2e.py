"""End to end: N rows through the emulator (echo backend, no processing delay), from frame to
joined frame, split into build / submit / wait / collect / join, against the straightforward
approach of the quickstart page (per-row dicts and ``json.dumps``, one POST per batch, a
fixed one-second poll, ``json.loads`` per result line, a dict join), in the same process.

Usage::

    python benchmarks/bench_e2e.py --rows 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import polars as pl

import siraya_frames as sf
from siraya_frames.emulator import Emulator

MODEL = "openai/gpt-4o-mini-batch"
PROMPT = "Classify this review: {text}"
BATCH = 5_000


def make_frame(rows: int) -> pl.DataFrame:
    """Rows of short reviews, 10% of them repeats."""
    unique = max(rows - rows // 10, 1)
    texts = [
        f"review {i % unique}: the product was fine, “quotes” and ünïcode" for i in range(rows)
    ]
    return pl.DataFrame({"id": range(rows), "text": texts})


def ours(df: pl.DataFrame, base_url: str, workdir: Path) -> dict[str, float]:
    """siraya_frames, step by step, timed."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    requests = sf.build_requests(df, prompt=PROMPT, model=MODEL, max_tokens=16)
    times["build"] = time.perf_counter() - t
    with sf.SirayaClient("bench-key", base_url) as client:
        t = time.perf_counter()
        job = sf.submit(requests, client=client, job_dir=workdir, max_requests=BATCH)
        times["submit"] = time.perf_counter() - t
        t = time.perf_counter()
        job.wait(progress=False, schedule=sf.PollSchedule(initial=0.05, maximum=1.0))
        times["wait"] = time.perf_counter() - t
    t = time.perf_counter()
    results = job.results()
    times["collect"] = time.perf_counter() - t
    t = time.perf_counter()
    out = sf.join_results(requests, results)
    times["join"] = time.perf_counter() - t
    assert out["response_text"].null_count() == 0 and out.height == df.height
    return times


def baseline(df: pl.DataFrame, base_url: str) -> dict[str, float]:
    """What a user would write from the quickstart page."""
    times: dict[str, float] = {}
    headers = {"Authorization": "Bearer bench-key", "Content-Type": "application/json"}
    t = time.perf_counter()
    reqs = [
        {"custom_id": f"row-{row['id']}", "params": {"model": MODEL, "max_tokens": 16,
         "messages": [{"role": "user", "content": PROMPT.format(text=row["text"])}]}}
        for row in df.iter_rows(named=True)
    ]  # fmt: skip
    bodies = [json.dumps({"requests": reqs[i : i + BATCH]}) for i in range(0, len(reqs), BATCH)]
    times["build"] = time.perf_counter() - t
    with httpx.Client(timeout=120) as http:
        t = time.perf_counter()
        ids = [http.post(f"{base_url}/batches", headers=headers, content=b).json()["batch_id"]
               for b in bodies]  # fmt: skip
        times["submit"] = time.perf_counter() - t
        t = time.perf_counter()
        texts: dict[str, str] = {}
        pending = list(ids)
        while pending:
            time.sleep(1.0)
            for batch_id in list(pending):
                response = http.get(f"{base_url}/batches/{batch_id}", headers=headers)
                if '"custom_id"' in response.text[:200]:
                    for line in response.text.splitlines():
                        obj = json.loads(line)
                        texts[obj["custom_id"]] = obj["result"]["message"]["content"][0]["text"]
                    pending.remove(batch_id)
        times["wait"] = time.perf_counter() - t
    times["collect"] = 0.0  # parsed while waiting above
    t = time.perf_counter()
    out = df.with_columns(
        response_text=pl.Series([texts[f"row-{i}"] for i in df["id"].to_list()], dtype=pl.String)
    )
    times["join"] = time.perf_counter() - t
    assert out["response_text"].null_count() == 0
    return times


def _line(name: str, times: dict[str, float]) -> str:
    parts = "  ".join(f"{k} {v:6.2f}" for k, v in times.items())
    return f"{name:>14}: total {sum(times.values()):6.2f} s  ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    df = make_frame(args.rows)
    totals: dict[str, list[float]] = {"siraya_frames": [], "quickstart": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            with Emulator() as emu:  # a fresh service each time: nothing to replay
                mine = ours(df, emu.base_url, Path(tmp) / f"job{r}")
            with Emulator() as emu:
                base = baseline(df, emu.base_url)
            totals["siraya_frames"].append(sum(mine.values()))
            totals["quickstart"].append(sum(base.values()))
            print(f"round {r + 1}")
            print(_line("siraya_frames", mine))
            print(_line("quickstart", base))
    a, b = statistics.median(totals["siraya_frames"]), statistics.median(totals["quickstart"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.rows:,} rows; median total: siraya_frames {a:.2f} s, quickstart {b:.2f} s, "
          f"ratio {b / a:.1f}x")  # fmt: skip
    print(f"peak RSS of this process (both approaches and the emulator): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
