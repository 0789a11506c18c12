"""Benchmark: the emulator's peak memory while it parses a large create body.

Starts the emulator (``serve``-like, in a fresh subprocess, from the code under
``--code-root``), reads its resident set from ``/proc/<pid>/status`` (``VmHWM``, the
high-water mark, and ``VmRSS``), posts one large create body, and reports the peak growth
over the resident set before the post, and what is still held afterwards. Bodies:

* ``empty-items``: ``{"requests": [{}, {}, ...]}``, every item invalid;
* ``valid-items``: small valid requests, more than ``max_requests`` (100,000) of them;
* ``upload``: an OpenAI input file of ``{}`` lines, uploaded as multipart to the ``openai``
  dialect (stored: 200).

The first two are refused (400); the memory is what the refusal costs. To compare with an older
commit, export it first (``git archive main | tar -x -C /tmp/siraya-main``) and pass
``--code-root /tmp/siraya-main``.

Usage::

    python benchmarks/bench_emulator_memory.py                       # 64 MiB, this checkout
    python benchmarks/bench_emulator_memory.py --mib 64 --code-root /tmp/siraya-main
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
emu = Emulator(dialect=sys.argv[1]).start()
print(emu.base_url, flush=True)
sys.stdin.read()
emu.close()
"""


def body(kind: str, mib: int) -> bytes:
    """Return a create body of about ``mib`` MiB."""
    size = mib * 1024 * 1024
    if kind == "upload":
        return b"{}\n" * (size // 3)
    if kind == "empty-items":
        return b'{"requests":[' + b",".join([b"{}"] * (size // 3)) + b"]}"
    params = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    item = json.dumps({"custom_id": "r%d", "params": params}, separators=(",", ":"))
    count = size // (len(item) + 6)
    return ('{"requests":[' + ",".join(item % i for i in range(count)) + "]}").encode()


def memory_kib(pid: int) -> dict[str, int]:
    """Return ``VmHWM`` and ``VmRSS`` of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            out[name] = int(value.split()[0])
    return out


def run(kind: str, mib: int, code_root: str) -> dict[str, object]:
    """Post one body to a fresh emulator; return the status and memory figures in MiB."""
    env = {**os.environ, "PYTHONPATH": code_root}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, "openai" if kind == "upload" else "quickstart"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=code_root,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().decode().strip()
        payload = body(kind, mib)
        before = memory_kib(proc.pid)
        if kind == "upload":
            files = {"file": ("in.jsonl", payload), "purpose": (None, b"batch")}
            response = httpx.post(base_url + "/files", files=files, timeout=600)
        else:
            response = httpx.post(base_url + "/batches", content=payload, timeout=600)
        time.sleep(0.5)
        after = memory_kib(proc.pid)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)
    return {
        "body": kind,
        "status": response.status_code,
        "peak_extra_mib": round((after["VmHWM"] - before["VmRSS"]) / 1024),
        "held_after_mib": round((after["VmRSS"] - before["VmRSS"]) / 1024),
        "answer": str(response.json().get("error", {}).get("message", "stored"))[:60],
    }


def main() -> None:
    """Run both bodies and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--code-root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--kinds", default="empty-items,valid-items,upload")
    args = parser.parse_args()
    for kind in args.kinds.split(","):
        print(json.dumps(run(kind, args.mib, args.code_root)), flush=True)


if __name__ == "__main__":
    main()
