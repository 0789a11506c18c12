"""Scale on the batch axis: does each batch cost the client the same at 200 and 2,000 batches?

A job of ``batches * per_batch`` rows at ``max_requests=per_batch`` goes through the emulator
(no delay, echo backend), which runs in its own process, so that the client's own cost can be
told apart from the emulator's: for each step (submit, wait, collect = ``Job.results()``,
``status(refresh=False)``) the script reports the wall time, the client's CPU time (this
process only: the job store, parsing, joins, and the HTTP client; the emulator's work is not
in it), the time spent in the job store and in parsing results (``store s``: the outermost
calls of ``JobStore.load/save/save_job/save_batch``, ``read_results`` and the results cache,
timed by wrapping them, whichever of them the code under test has), and the bytes this
process wrote to storage (``/proc/self/io`` ``write_bytes``: the job directory, since nothing
else is written). Per-batch columns divide by the number of batches: a flat column
means a constant cost per batch.

``--defer-creates`` takes ``run``'s path: ``submit`` records the intents only and ``wait``
sends the creates, polling the batches already created between them (``submit(...,
_send=False)``, where the code has it); without it, ``submit`` sends every create and
``wait`` polls after. Either way the script reports, from the batches' saved times, how long
the creates took (first to last), a batch's turnaround (create to results saved, median),
how many batches were finished when the last create went out, and how long after the last
create the last results were saved.

Usage::

    python benchmarks/bench_scale.py --batches 200 500 1000 2000
    python benchmarks/bench_scale.py --batches 1000 2000 --defer-creates
    python benchmarks/bench_scale.py --batches 200 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl

import siraya_frames as sf
from siraya_frames import _collect, _store

STORE_CALLS = [
    (_store.JobStore, "load"),
    (_store.JobStore, "save"),
    (_store.JobStore, "save_job"),
    (_store.JobStore, "save_batch"),
    (_collect, "read_results"),  # the job.json versions parse in collect
]
with contextlib.suppress(ImportError):
    from siraya_frames import _results_cache

    STORE_CALLS += [(_results_cache, "build"), (_results_cache, "load")]


class StoreClock:
    """Seconds spent in the outermost store and parsing calls (nested ones not twice)."""

    def __init__(self) -> None:
        self.seconds, self._depth = 0.0, 0
        for owner, name in STORE_CALLS:
            if hasattr(owner, name):
                setattr(owner, name, self._timed(getattr(owner, name)))

    def _timed(self, func):
        def timed(*args, **kwargs):
            self._depth += 1
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - start

        return timed


CLOCK = StoreClock()

FAST = sf.PollSchedule(initial=0.05, factor=1.5, maximum=0.5, minimum=0.05)
KEY = "sk-bench-scale"
SERVE = "import sys; from siraya_frames._cli import main; sys.exit(main(sys.argv[1:]))"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """The emulator in its own process; yields its base URL."""
    port = _free_port()
    args = [sys.executable, "-c", SERVE, "serve", "--port", str(port), "--api-key", KEY]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            time.sleep(0.1)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _written() -> int:
    with open("/proc/self/io") as fh:
        fields = dict(line.split(": ") for line in fh.read().splitlines())
    return int(fields["write_bytes"])


class Steps:
    """Wall time, client CPU time and bytes written, per named step."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        wall, cpu, written = time.perf_counter(), time.process_time(), _written()
        store = CLOCK.seconds
        yield
        self.rows[name] = {
            "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu,
            "store_s": CLOCK.seconds - store,
            "written_mb": (_written() - written) / 1e6,
        }


def _timeline(job: sf.Job) -> dict[str, float]:
    """Creates and results over time, from the batches' saved ``submitted_at``/``finished_at``."""
    times = job.batches.select(
        pl.col(c).str.to_datetime(time_zone="UTC").dt.epoch("ms") / 1000
        for c in ("submitted_at", "finished_at")
    )
    sub, fin = times["submitted_at"], times["finished_at"]
    last = sub.max()
    return {
        "creates_s": last - sub.min(),
        "turnaround_s": (fin - sub).median(),
        "finished_by_last_create": int((fin < last).sum()),  # seconds: a lower bound
        "last_result_after_last_create_s": fin.max() - last,
    }


def run_one(
    base_url: str, batches: int, per_batch: int, *, defer: bool = False
) -> dict[str, object]:
    n = batches * per_batch
    df = pl.DataFrame({"text": [f"scale review {i}" for i in range(n)]})
    requests = sf.build_requests(df, prompt="{text}", model="m", max_tokens=8)
    steps = Steps()
    with tempfile.TemporaryDirectory() as tmp, sf.SirayaClient(KEY, base_url) as client:
        with steps.step("submit"):
            extra = {"_send": False} if defer else {}
            job = sf.submit(
                requests, client=client, job_dir=Path(tmp) / "j", max_requests=per_batch, **extra
            )
        with steps.step("wait"):
            job.wait(progress=False, schedule=FAST)
        with steps.step("collect"):
            out = job.results()
        with steps.step("status"):
            status = job.status(refresh=False)
        assert out.height == n and status.done == n, (out.height, status)
        timeline = _timeline(job)
    return {"batches": batches, "rows": n, "steps": steps.rows, "timeline": timeline}


def _table(results: list[dict[str, object]]) -> str:
    names = ["submit", "wait", "collect", "status"]
    head = "| batches | " + " | ".join(f"{s} wall / cpu / store s" for s in names)
    head += " | written MB | cpu ms/batch | store ms/batch | creates s | turnaround s"
    head += " | finished by last create | last results after last create s |"
    lines = [head, "|" + " --- |" * (len(names) + 8)]
    for res in results:
        rows = res["steps"]
        cells = [
            f"{rows[s]['wall_s']:.2f} / {rows[s]['cpu_s']:.2f} / {rows[s]['store_s']:.2f}"
            for s in names
        ]
        written = sum(rows[s]["written_mb"] for s in names)
        cpu = sum(rows[s]["cpu_s"] for s in names) * 1000 / res["batches"]
        store = sum(rows[s]["store_s"] for s in names) * 1000 / res["batches"]
        tl = res["timeline"]
        tail = f" | {written:.1f} | {cpu:.1f} | {store:.1f} | {tl['creates_s']:.0f}"
        tail += f" | {tl['turnaround_s']:.0f} | {tl['finished_by_last_create']}"
        tail += f" | {tl['last_result_after_last_create_s']:.0f} |"
        lines.append(f"| {res['batches']} | " + " | ".join(cells) + tail)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--per-batch", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    parser.add_argument(
        "--defer-creates", action="store_true", help="run's path: wait sends the creates"
    )
    args = parser.parse_args()
    results = []
    with emulator() as base_url:
        for batches in args.batches:
            results.append(run_one(base_url, batches, args.per_batch, defer=args.defer_creates))
            print(_table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1) if args.json else _table(results))


if __name__ == "__main__":
    main()
