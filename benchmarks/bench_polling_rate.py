"""Polling many batches under a requests-per-minute budget: 2,000 batches on an
Anthropic-style service that allows 50 calls a minute, polled one GET per batch (before)
and with list rounds of 1,000 batches a page (after).

Nothing sleeps for real: the real lifecycle steps (``submit``, then ``wait_steps`` with
their list rounds, ordering and downloads) are driven with a fake client on a simulated
clock, and every call of the fake takes a token from the real ``RateLimiter`` on that clock.
The fake answers at once, so concurrency cannot change the outcome: the budget binds; it
runs with ``max_concurrency=1`` (threads sharing a simulated clock would race for it).

Usage::

    python benchmarks/bench_polling_rate.py --batches 2000 --rate 50
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import polars as pl

import siraya_frames as sf
from siraya_frames._polling import drive
from siraya_frames._protocols import get_protocol
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._wait import wait_steps

PAGE = 1000


class SimulatedService:
    """An Anthropic-style batch API: batch ``i`` ends ``durations[i]`` seconds after its
    create; a list page holds ``PAGE`` batches, newest first."""

    protocol = "anthropic"
    base_url = "https://simulated.invalid/v1"
    max_concurrency = 1

    def __init__(self, durations: list[float], rate: float, moving: bool) -> None:
        self.now, self.durations, self.moving = 0.0, durations, moving
        self.wire = get_protocol("anthropic")
        self.limiter = sf.RateLimiter(rate, clock=self.clock, sleep=self.sleep)
        self.batches: list[tuple[str, float, float]] = []  # id, created, ends
        self.calls: dict[str, int] = {}
        self.noticed: dict[str, float] = {}

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def _spend(self, what: str) -> None:
        self.limiter.acquire()
        self.calls[what] = self.calls.get(what, 0) + 1

    def _state(self, i: int) -> BatchState:
        batch_id, created, ends = self.batches[i]
        if self.now >= ends:
            return BatchState(batch_id, BatchStatus.COMPLETED, total=1, done=1, failed=0,
                              result_url=f"{self.base_url}/results/{batch_id}")  # fmt: skip
        done = int(100 * (self.now - created) / (ends - created)) if self.moving else 0
        return BatchState(batch_id, BatchStatus.IN_PROGRESS, total=100, done=done, failed=0)

    def create_batch(self, body, *, idempotency_key=None, **kw) -> BatchState:
        self._spend("create")
        i = len(self.batches)
        batch_id = f"msgbatch_{i:05d}"
        self.batches.append((batch_id, self.now, self.now + self.durations[i]))
        return BatchState(batch_id, BatchStatus.IN_PROGRESS, total=100, done=0, failed=0)

    def get_batch(self, batch_id, **kw) -> BatchState:
        self._spend("get")
        return self._state(int(batch_id.rsplit("_", 1)[1]))

    def list_batches(self, *, after=None):
        self._spend("list")
        newest_first = range(len(self.batches) - 1, -1, -1)
        start = 0 if after is None else int(after)
        page = [self._state(i) for i in list(newest_first)[start : start + PAGE]]
        more = start + PAGE < len(self.batches)
        return page, (str(start + PAGE) if more else None)

    def fetch_results(self, url, results_path, *, batch_id=None, **kw) -> BatchState:
        self._spend("download")
        Path(results_path).write_text('{"custom_id":"x","result":{"type":"canceled"}}\n')
        self.noticed[batch_id] = self.now
        return BatchState(batch_id, BatchStatus.COMPLETED, results_path=str(results_path))


def simulate_many(
    *, n_batches: int = 2000, rate: float = 50, lists: bool, moving: bool, seed: int = 0
) -> dict[str, float]:
    """Submit ``n_batches`` one-request batches and wait for them all; return the calls made
    and how late each batch's results were saved after it ended (simulated seconds)."""
    rng = random.Random(seed)
    durations = [rng.uniform(15 * 60, 75 * 60) for _ in range(n_batches)]
    service = SimulatedService(durations, rate, moving)
    texts = pl.DataFrame({"t": [f"request {i}" for i in range(n_batches)]})
    requests = sf.build_requests(texts, prompt="{t}", model="m", max_tokens=1)
    wire = type(service.wire)
    saved = wire.lists_for_polling
    wire.lists_for_polling = lists
    try:
        with tempfile.TemporaryDirectory() as tmp:
            job = sf.submit(requests, client=service, job_dir=tmp, max_requests=1)
            created_by = service.now
            steps = wait_steps(job._store, job._state, sf.PollSchedule(), lambda s: None, None,
                               clock=service.clock)  # fmt: skip
            drive(steps, service, sleep=service.sleep)
    finally:
        wire.lists_for_polling = saved
    ends = {b: e for b, _, e in service.batches}
    late = sorted(service.noticed[b] - ends[b] for b in ends)
    # batches that ended once the creates were done: the others wait for polling to start
    after = sorted(service.noticed[b] - e for b, e in ends.items() if e >= created_by) or [0.0]
    polls = service.calls.get("get", 0) + service.calls.get("list", 0)
    hours = (service.now - created_by) / 3600
    return {
        "creates_done_min": created_by / 60,
        "all_saved_h": service.now / 3600,
        "status_calls": polls,
        "calls_per_hour": sum(service.calls.values()) / (service.now / 3600),
        "status_calls_per_hour": polls / hours if hours else 0.0,
        "late_mean_s": sum(late) / len(late),
        "late_p95_s": late[int(0.95 * (len(late) - 1))],
        "late_max_s": late[-1],
        "after_mean_s": sum(after) / len(after),
        "after_p95_s": after[int(0.95 * (len(after) - 1))],
        "after_max_s": after[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50, help="requests per minute")
    args = parser.parse_args()
    print(f"{args.batches} one-request batches, each running 15-75 min (seeded), "
          f"{args.rate:g} requests/minute; creates take the first "
          f"{args.batches / args.rate:.0f} min")  # fmt: skip
    print(
        "late: seconds from a batch's end to its results saved; all batches / those "
        "ending after the creates (polling starts once every batch is created)"
    )
    head = (f"{'polling':24} {'counts':15} {'all saved':>9} {'status calls':>12} "
            f"{'per hour':>8} {'late mean/p95/max (all)':>24} {'(after creates)':>18}")  # fmt: skip
    print(head)
    for moving in (True, False):
        for lists in (False, True):
            r = simulate_many(n_batches=args.batches, rate=args.rate, lists=lists, moving=moving)
            how = "list rounds (1,000/page)" if lists else "GET per batch"
            counts = "move" if moving else "stay 0 (Anthr.)"
            every = f"{r['late_mean_s']:.0f}/{r['late_p95_s']:.0f}/{r['late_max_s']:.0f} s"
            late = f"{r['after_mean_s']:.0f}/{r['after_p95_s']:.0f}/{r['after_max_s']:.0f} s"
            print(f"{how:24} {counts:15} {r['all_saved_h']:>8.2f}h {r['status_calls']:>12.0f} "
                  f"{r['status_calls_per_hour']:>8.0f} {every:>24} {late:>18}")  # fmt: skip


if __name__ == "__main__":
    main()
