"""Benchmark: the emulator's own cost per batch as the number of batches grows.

Starts the emulator (``anthropic`` dialect, echo backend, no delay) in a fresh subprocess from
the code under ``--code-root``. It holds the worker (fault ``seconds_per_request`` of an
hour), creates N batches of 100 requests each through the HTTP API (httpx, no siraya client),
so that all N are queued at once as when a client submits a large job, then releases the
worker and polls every unfinished batch once per round (1 s apart) until all have ended. It
reports, in milliseconds per batch:

* ``create_wall`` / ``create_cpu``: the create phase, wall time and the emulator process's CPU
  time (``/proc/<pid>/stat``; the held worker still wakes every 20 ms);
* ``drain_wall`` / ``drain_cpu``: from the release to the last batch seen ended;
* ``rounds``: how many poll rounds the drain took.

A linear emulator keeps both per-batch figures flat as N grows. To compare with an older
commit, export it first (``git archive main | tar -x -C /tmp/siraya-main``) and pass
``--code-root /tmp/siraya-main``.

Usage::

    python benchmarks/bench_emulator_scale.py --sizes 200,1000,2000,5000
    python benchmarks/bench_emulator_scale.py --sizes 200,1000,2000 --code-root /tmp/siraya-main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

CHILD = """
import sys
from siraya_frames.emulator import Emulator
emu = Emulator(dialect="anthropic").start()
print(emu.base_url, flush=True)
sys.stdin.read()
emu.close()
"""
REQUESTS_PER_BATCH = 100
ROUND_PAUSE = 1.0
"""Seconds between two poll rounds."""
HOLD = 3600.0
"""``seconds_per_request`` while the batches are created: the worker answers none of them."""


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(batch: int) -> bytes:
    """Return the create body of one batch of echo requests."""
    items = [
        {
            "custom_id": f"b{batch}-r{i}",
            "params": {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": f"request {i} of {batch}"}],
            },
        }
        for i in range(REQUESTS_PER_BATCH)
    ]
    return json.dumps({"requests": items}).encode()


def drive(base_url: str, n: int, pid: int) -> dict[str, float]:
    """Queue ``n`` batches with the worker held, release it, poll them all to the end.

    Returns the wall and CPU seconds of both phases, and the poll rounds.
    """
    url = base_url + "/messages/batches"
    faults = base_url.removesuffix("/v1") + "/_emulator/faults"
    bodies = [body(i) for i in range(n)]
    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    with httpx.Client(timeout=120, headers=headers) as client:
        client.post(faults, json={"seconds_per_request": HOLD}).raise_for_status()
        started, cpu_started = time.perf_counter(), cpu_seconds(pid)
        ids = [client.post(url, content=b).json()["id"] for b in bodies]
        created, cpu_created = time.perf_counter(), cpu_seconds(pid)
        client.post(faults, json={"seconds_per_request": 0}).raise_for_status()
        rounds = 0
        while ids:
            rounds += 1
            ids = [
                i for i in ids if client.get(f"{url}/{i}").json()["processing_status"] != "ended"
            ]
            if ids:
                time.sleep(ROUND_PAUSE)
        ended, cpu_ended = time.perf_counter(), cpu_seconds(pid)
    return {
        "create_wall_s": created - started,
        "create_cpu_s": cpu_created - cpu_started,
        "drain_wall_s": ended - created,
        "drain_cpu_s": cpu_ended - cpu_created,
        "rounds": rounds,
    }


def run(n: int, code_root: str) -> dict[str, object]:
    """Measure one size on a fresh emulator."""
    env = {**os.environ, "PYTHONPATH": code_root, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=code_root,  # ``-c`` puts the working directory first on sys.path
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().decode().strip()
        figures = drive(base_url, n, proc.pid)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=60)
    per_batch = {
        name.replace("_s", "_ms_per_batch"): round(1000 * value / n, 2)
        for name, value in figures.items()
        if name != "rounds"
    }
    return {"batches": n, **per_batch, "rounds": figures["rounds"]}


def main() -> None:
    """Run each size and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,2000")
    parser.add_argument("--code-root", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        print(json.dumps(run(n, args.code_root)), flush=True)


if __name__ == "__main__":
    main()
