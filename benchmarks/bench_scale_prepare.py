"""Scale before submit: peak and held memory of ``run``'s pre-submit steps, 1M → 10M rows.

``run`` first calls ``prepare`` (build the requests, collect them, encode the unique ones),
then the estimate (the one-line announcement and ``max_cost_usd``), then drops the
``params`` struct and hands the unique requests to ``submit``, which plans the batches, saves
the requests, the intents and the input rows (``remember``) before its first create: the
last step, "plan", is that ``submit`` with its creates left to ``wait`` (``_send=False``,
where the code has it; a client pointed at a closed port, so that nothing can be sent).
Each size runs in a fresh process of the code under test (``--code-root``); after each step
the script records the peak RSS (``ru_maxrss``) and the RSS held at that moment
(``/proc/self/statm``), as multiples of the input's ``estimated_size()``. No service is called.

Usage::

    python benchmarks/bench_scale_prepare.py --rows 1000000 3000000 10000000
    python benchmarks/bench_scale_prepare.py --rows 1000000 --code-root /tmp/siraya-main
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_scale_rows import MIB, MODEL, PROMPT, make_frame


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _held_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def measure(n_rows: int) -> dict[str, object]:
    """``prepare`` → estimate → drop ``params``, as ``run`` does, on ``n_rows`` rows."""
    from siraya_frames._prepare import prepare

    df = make_frame(n_rows)
    input_mib = df.estimated_size() / MIB
    times: dict[str, float] = {}
    peaks: dict[str, float] = {"start": _peak_mib()}
    held: dict[str, float] = {"start": _held_mib()}

    def step(name: str, fn):
        t = time.perf_counter()
        value = fn()
        times[name] = round(time.perf_counter() - t, 2)
        gc.collect()
        peaks[name], held[name] = _peak_mib(), _held_mib()
        return value

    prep = step(
        "prepare", lambda: prepare(df, prompt=PROMPT, model=MODEL, max_tokens=16, labels=None)
    )
    step("estimate", prep.estimate)
    requests, unique = prep.requests, prep.unique
    del prep

    def drop():
        nonlocal requests
        requests = requests.drop("params") if "params" in requests.columns else requests

    step("drop params", drop)
    import inspect
    import tempfile

    import siraya_frames as sf

    if "_send" in inspect.signature(sf.submit).parameters:
        from siraya_frames._recipe import Recipe

        recipe = Recipe(prompt=PROMPT, model=MODEL, inputs=requests)
        job_dir = Path(tempfile.mkdtemp(prefix="bench-prepare-")) / "job"
        with sf.SirayaClient("bench-key", "http://127.0.0.1:9/v1", protocol="anthropic") as c:
            args = {"job_dir": job_dir, "recipe": recipe, "max_requests": 100_000}
            step("plan", lambda: sf.submit(unique, client=c, reuse=False, _send=False, **args))
    assert unique.height == n_rows - n_rows // 10, unique.height
    return {
        "rows": n_rows,
        "input_mib": round(input_mib, 1),
        "seconds": times,
        "peak_mib": {k: round(v) for k, v in peaks.items()},
        "held_mib": {k: round(v) for k, v in held.items()},
        "peak_x_input": round(max(peaks.values()) / input_mib, 2),
        "prepare_adds_x_input": round((peaks["prepare"] - peaks["start"]) / input_mib, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--code-root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    env = {**os.environ, "PYTHONPATH": args.code_root}
    for n_rows in args.rows:
        child = [sys.executable, __file__, "--child", str(n_rows)]
        done = subprocess.run(child, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
