"""Scale after submit: peak memory of collect → join → label → write, on a job whose results
are synthesised in the job directory (no emulator: 10M rows through it take ~40 minutes).

A setup process (this checkout's code) makes the job directory as a finished ``run`` leaves
it: the requests planned into batches of ``--per-batch``, every batch ``completed`` with an
Anthropic-shape results JSONL (``positive`` / ``negative``) and its parsed cache, as ``wait``
saves them. Then a fresh process of the code under test (``--code-root``) holds the input
frame and the requests frame as ``run`` does at that point, and makes the labelled frame
and the Parquet file: ``_finish.finish`` where it exists (after), else ``Job.results()`` →
``join_results`` → label columns → ``write_parquet`` (before). Peak RSS (``ru_maxrss``)
after each step, as a multiple of the input frame's ``estimated_size()``.

Usage::

    python benchmarks/bench_scale_finish.py --rows 1000000 3000000 10000000
    python benchmarks/bench_scale_finish.py --rows 1000000 --code-root /tmp/siraya-main
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_scale_rows import MIB, MODEL, PROMPT, make_frame

LABELS = ["positive", "negative"]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _results_lines(ids: list[str]):
    """Anthropic-shape result lines for ``ids``, made by Polars."""
    import polars as pl

    frame = pl.DataFrame({"custom_id": ids}).with_row_index("i")
    text = pl.when(pl.col("i") % 2 == 0).then(pl.lit("positive")).otherwise(pl.lit("negative"))
    message = pl.struct(
        pl.concat_list(pl.struct(pl.lit("text").alias("type"), text.alias("text"))).alias(
            "content"
        ),
        pl.lit(MODEL).alias("model"),
        pl.lit("end_turn").alias("stop_reason"),
        pl.struct(pl.lit(20).alias("input_tokens"), pl.lit(1).alias("output_tokens")).alias(
            "usage"
        ),
    )
    result = pl.struct(pl.lit("succeeded").alias("type"), message.alias("message"))
    return frame.select("custom_id", result.alias("result"))


def setup(n_rows: int, work: Path, per_batch: int) -> None:
    """The input frame as Parquet, and a finished job in ``work/job`` (this checkout's code)."""
    import polars as pl

    import siraya_frames as sf
    from siraya_frames import _job, _results_cache
    from siraya_frames._plan import unique_requests
    from siraya_frames._store import JobStore, utc_now

    df = make_frame(n_rows)
    df.write_parquet(work / "input.parquet")
    requests = sf.build_requests(df, prompt=PROMPT, model=MODEL, max_tokens=16)
    unique = unique_requests(requests)
    store = JobStore(work / "job")

    class Wire:  # what _new_job reads of a client
        base_url, protocol = "https://bench.invalid/v1", "siraya"
        wire = sf.SirayaClient("k", "https://bench.invalid/v1").wire

    with store.lock():
        _job._new_job(store, unique, "bench", Wire(), (per_batch, 1 << 40), {})
    state = store.load()
    for rec in state.batches:
        path = store.results_path(rec.key)
        _results_lines(store.read_ids(rec.key)).write_ndjson(path)
        rec.status, rec.batch_id = "completed", f"batch-{rec.key}"
        rec.submitted_at = rec.finished_at = utc_now()
        rec.results_file = str(path.relative_to(store.path))
        parsed, _ = _results_cache.build(store, rec, _results_cache.batch_ids(store, rec))
        rec.outcomes = _results_cache.count_outcomes(parsed)
    store.save_job(state, batches=state.batches)
    _without_recipe_key(store.state_file)  # so that the code before can read the job too
    del pl


def _without_recipe_key(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        (settings,) = conn.execute("SELECT settings FROM job").fetchone()
        plain = {k: v for k, v in json.loads(settings).items() if k != "recipe"}
        conn.execute("UPDATE job SET settings = ?", (json.dumps(plain),))


def measure(work: Path) -> dict[str, object]:
    """The after-submit steps of ``run`` on the job in ``work``, in this process."""
    import polars as pl

    import siraya_frames as sf

    df = pl.read_parquet(work / "input.parquet")
    input_mib = df.estimated_size() / MIB
    times: dict[str, float] = {}
    peaks: dict[str, float] = {"start": _peak_mib()}

    def step(name: str, fn):
        t = time.perf_counter()
        value = fn()
        times[name], peaks[name] = time.perf_counter() - t, _peak_mib()
        return value

    def build():  # what run holds after submit: the rows with their ids, without params
        requests = sf.build_requests(df, prompt=PROMPT, model=MODEL, max_tokens=16)
        return requests.drop("params")

    requests = step("build", build)
    job = sf.Job.open(work / "job")
    target = work / "out.parquet"
    try:
        from siraya_frames._finish import finish
        from siraya_frames._recipe import Recipe, remember
    except ImportError:  # the code before
        from siraya_frames._run import _add_task_columns

        results = step("collect", job.results)
        joined = step("join", lambda: sf.join_results(requests, results))
        labelled = step(
            "label",
            lambda: _add_task_columns(joined, labels=LABELS, abstain=None, schema=None, prefix=""),
        )
        step("write", lambda: sf.write_parquet(labelled, target, job=job))
        out_rows = labelled.height
    else:
        recipe = Recipe(labels=LABELS, model=MODEL, inputs=requests)
        step("remember", lambda: remember(job._store, recipe))  # done at submit in run
        out = step("finish", lambda: finish(job, recipe, requests, output=target))
        out_rows = out.height
    assert out_rows == df.height
    return {
        "rows": df.height,
        "input_mib": round(input_mib, 1),
        "batches": len(job.batch_ids),
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "peak_mib": {k: round(v) for k, v in peaks.items()},
        "peak_x_input": round(max(peaks.values()) / input_mib, 2),
        "after_start_x_input": round((max(peaks.values()) - peaks["start"]) / input_mib, 2),
    }


def _in_process(code_root: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": code_root}
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--per-batch", type=int, default=100_000)
    parser.add_argument("--code-root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(args.rows[0], Path(args.setup), args.per_batch)
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    here = str(Path(__file__).resolve().parents[1])
    for n_rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="bench-finish-") as work:
            _in_process(here, "--setup", work, "--rows", str(n_rows),
                        "--per-batch", str(args.per_batch))  # fmt: skip
            print(_in_process(args.code_root, "--measure", work), flush=True)


if __name__ == "__main__":
    main()
