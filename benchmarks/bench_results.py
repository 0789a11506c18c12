"""Benchmark: read a large Anthropic-shape results file and join it onto the requests.

Compares ``read_results`` + ``join_results`` with the obvious baseline: ``json.loads`` per
line into a pandas DataFrame, then ``merge`` on ``custom_id`` with the requests as pandas.

Two more variants bound what any pyarrow-based reader can do on the machine:
``pyarrow-read`` only reads the file with pyarrow's JSON reader and the explicit schema ours
uses; ``bare`` adds the least normalising (one projection of the nested fields) and a hash
join onto the requests. Neither handles a malformed line, a repeated id or a hash collision.

Every run of a variant happens in a fresh subprocess, so that its peak memory can be read
with ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the high-water mark of the resident set,
which includes the interpreter, Polars / pyarrow / pandas and whatever pyarrow allocates
outside Python). The child first imports everything and loads the requests frame (not
timed), notes its resident set then, runs the variant, and reports the wall time and the
peak resident set; "extra" is the peak minus the resident set before the variant ran, the
memory the variant itself needed. The variants alternate, round after round.

Usage::

    python benchmarks/bench_results.py                 # 1,000,000 lines, 3 rounds
    python benchmarks/bench_results.py --lines 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (  # noqa: SIM905 (a sentence is easier to read than 26 quoted words)
    "the a label review product quality service delivery price positive negative neutral "
    "because customer was very not good bad excellent poor fast slow would recommend again"
).split()


def _custom_id(index: int) -> str:
    """A 32-hex-digit id like build_requests' xxh3_128 ones (a bijection, so unique)."""
    return format((index * 0x9E3779B97F4A7C15F39CC0605CEDC835) % (1 << 128), "032x")


def _line(index: int, rng: random.Random) -> str:
    custom_id = _custom_id(index)
    if rng.random() < 0.02:
        result = {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": f"bad request {index}"},
                "request_id": None,
            },
        }
    else:
        text = " ".join(rng.choices(WORDS, k=rng.randint(10, 60)))
        result = {
            "type": "succeeded",
            "message": {
                "id": f"msg_{index:024d}",
                "type": "message",
                "role": "assistant",
                "model": "claude-opus-4-7",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": rng.randint(5, 500), "output_tokens": len(text) // 4},
            },
        }
    return json.dumps({"custom_id": custom_id, "result": result}, separators=(",", ":"))


def generate(lines: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write the results JSONL (shuffled) and the requests frame (Parquet) into ``folder``."""
    import polars as pl

    rng = random.Random(seed)
    order = list(range(lines))
    rng.shuffle(order)
    results = folder / "results.jsonl"
    with results.open("w", encoding="utf-8") as out:
        for index in order:
            out.write(_line(index, rng) + "\n")
    requests = pl.DataFrame(
        {
            "row": range(lines),
            "review": [f"review number {i}" for i in range(lines)],
            "custom_id": [_custom_id(i) for i in range(lines)],
        }
    )
    path = folder / "requests.parquet"
    requests.write_parquet(path)
    return results, path


# --------------------------------------------------------------------------------------------
# The two variants, each run in a child process.


def _ours(results: Path, requests_path: Path) -> int:
    import polars as pl

    from siraya_frames._join import join_results
    from siraya_frames._results import read_results

    requests = pl.read_parquet(requests_path)
    rss_before, cpu = _current_rss(), _cpu()
    start = time.perf_counter()
    joined = join_results(requests, read_results(results))
    seconds = time.perf_counter() - start
    _emit(seconds, _cpu() - cpu, rss_before, joined.height, joined["result_status"].value_counts())
    return 0


def _pyarrow_read(results: Path, requests_path: Path) -> int:
    import pyarrow.json as pa_json

    from siraya_frames._jsonl_reader import _memory_pool, _parse_options

    rss_before, cpu = _current_rss(), _cpu()
    start = time.perf_counter()
    table = pa_json.read_json(
        results, parse_options=_parse_options("anthropic"), memory_pool=_memory_pool()
    )
    seconds = time.perf_counter() - start
    _emit(seconds, _cpu() - cpu, rss_before, table.num_rows, "read only")
    return 0


def _bare(results: Path, requests_path: Path) -> int:
    import polars as pl
    import pyarrow.json as pa_json

    from siraya_frames._jsonl_reader import _memory_pool, _parse_options

    requests = pl.read_parquet(requests_path)
    rss_before, cpu = _current_rss(), _cpu()
    start = time.perf_counter()
    table = pa_json.read_json(
        results, parse_options=_parse_options("anthropic"), memory_pool=_memory_pool()
    )
    result = pl.col("result")
    message, error = result.struct.field("message"), result.struct.field("error")
    answers = pl.from_arrow(table).select(
        pl.col("custom_id").hash().alias("key"),
        result.struct.field("type").alias("result_status"),
        message.struct.field("content").list.first().struct.field("text").alias("response_text"),
        message.struct.field("stop_reason", "model"),
        message.struct.field("usage").struct.field("input_tokens", "output_tokens"),
        error.struct.field("error").struct.field("type").alias("error_type"),
        error.struct.field("error").struct.field("message").alias("error_message"),
    )
    keyed = requests.with_columns(pl.col("custom_id").hash().alias("key"))
    joined = keyed.join(answers, on="key", how="left", maintain_order="left")
    seconds = time.perf_counter() - start
    _emit(seconds, _cpu() - cpu, rss_before, joined.height, joined["result_status"].value_counts())
    return 0


def _baseline_record(line: str) -> dict[str, object]:
    obj = json.loads(line)
    result = obj["result"]
    record: dict[str, object] = {"custom_id": obj["custom_id"], "result_status": result["type"]}
    if result["type"] == "succeeded":
        message = result["message"]
        record["response_text"] = "".join(
            block["text"] for block in message["content"] if block["type"] == "text"
        )
        record["stop_reason"] = message["stop_reason"]
        record["model"] = message["model"]
        record["input_tokens"] = message["usage"]["input_tokens"]
        record["output_tokens"] = message["usage"]["output_tokens"]
    elif result["type"] == "errored":
        error = result["error"]["error"]
        record["error_type"] = error["type"]
        record["error_message"] = error["message"]
    return record


def _baseline(results: Path, requests_path: Path) -> int:
    import pandas as pd

    requests = pd.read_parquet(requests_path)
    rss_before, cpu = _current_rss(), _cpu()
    start = time.perf_counter()
    with results.open(encoding="utf-8") as lines:
        frame = pd.DataFrame([_baseline_record(line) for line in lines if line.strip()])
    joined = requests.merge(frame, on="custom_id", how="left")
    seconds = time.perf_counter() - start
    _emit(seconds, _cpu() - cpu, rss_before, len(joined), joined["result_status"].value_counts())
    return 0


def _current_rss() -> int:
    """The resident set now, in bytes (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu() -> float:
    """CPU seconds of this process so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss() -> int:
    """The high-water mark of the resident set, in bytes (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _emit(seconds: float, cpu: float, rss_before: int, rows: int, counts: object) -> None:
    peak = _peak_rss()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": peak, "before": rss_before}))
    print(f"{rows:,} rows; {counts}", file=sys.stderr)


VARIANTS = {"ours": _ours, "baseline": _baseline, "pyarrow-read": _pyarrow_read, "bare": _bare}


# --------------------------------------------------------------------------------------------
# The driver.


def _run_child(variant: str, results: Path, requests: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", variant, str(results), str(requests)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="result lines to generate")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "RESULTS", "REQUESTS"))
    args = parser.parse_args(argv)
    if args.child:
        variant, results, requests = args.child
        return VARIANTS[variant](Path(results), Path(requests))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results, requests = generate(args.lines, Path(tmp))
        size = results.stat().st_size
        print(
            f"{args.lines:,} result lines, {_mib(size)} "
            f"(generated in {time.perf_counter() - start:.1f} s)"
        )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for round_ in range(args.rounds):
            order = list(VARIANTS) if round_ % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                runs[variant].append(_run_child(variant, results, requests))
    _report(runs, size)
    return 0


def _report(runs: dict[str, list[dict[str, float]]], size: int) -> None:
    wall, best, cpu = {}, {}, {}
    for variant, measured in runs.items():
        seconds = [run["seconds"] for run in measured]
        wall[variant], best[variant] = statistics.median(seconds), min(seconds)
        cpu[variant] = statistics.median(run["cpu"] for run in measured)
        peak = max(run["peak"] for run in measured)
        extra = max(run["peak"] - run["before"] for run in measured)
        print(
            f"{variant:>12}: wall median {wall[variant]:6.2f} s, best {best[variant]:6.2f} s "
            f"(runs {', '.join(f'{s:.2f}' for s in seconds)}); CPU median {cpu[variant]:.2f} s; "
            f"peak RSS {_mib(peak)}, extra {_mib(extra)} = {extra / size:.2f}x the file"
        )
    print(
        f"   ratio: ours is {wall['baseline'] / wall['ours']:.1f}x faster (wall, medians), "
        f"{best['baseline'] / best['ours']:.1f}x (best runs), "
        f"{cpu['baseline'] / cpu['ours']:.1f}x less CPU"
    )
    print(
        f"   floor: pyarrow's read alone is {wall['baseline'] / wall['pyarrow-read']:.1f}x "
        f"faster than the baseline, the bare read + projection + join "
        f"{wall['baseline'] / wall['bare']:.1f}x; ours takes "
        f"{wall['ours'] / wall['pyarrow-read']:.2f}x the read's time and "
        f"{wall['ours'] / wall['bare']:.2f}x the bare pipeline's"
    )


if __name__ == "__main__":
    raise SystemExit(main())
