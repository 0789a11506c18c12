"""Polling economy with many batches: 2,000 batches under a 50-requests-per-minute limit.

Anthropic's tier 1 allows 50 requests per minute across all endpoints. A job of 2,000 batches
polled one GET per batch needs 40 minutes for one round, so a batch that ends is noticed late
however short the poll interval. This simulation measures that, with a simulated clock:

* ``per-batch GET (real)``: the CURRENT client code path: ``siraya_frames._wait.wait_steps``
  (one GET per unfinished batch per round, then ``PollSchedule.delay``) driven with a fake
  client; a call over the limit is answered 429 and retried after its ``Retry-After`` (what
  the client's retry policy does), both counted as calls;
* ``per-batch GET (model)``: the same round in this file's own loop, to check the model;
* ``list, N per page``: the same loop with the round replaced by list calls (one per page of
  N batches, newest first, as far back as the oldest unfinished batch), the variant a
  rate-aware client could use.

Batch durations are drawn uniformly in [1 h - 10 min, 1 h + 10 min] (``--hours`` scales the
hour), as in the one-batch case. Reported: HTTP calls per simulated hour (429s included and
also shown apart), and lateness (seconds from a batch's end until a poll sees it ended):
mean, p95, max. Request counts either move as requests finish (the ETA then shortens the
sleep) or stay at 0 until the end (Anthropic-style).

Usage::

    PYTHONPATH=. python benchmarks/bench_polling.py --many --hours 1
    PYTHONPATH=. python benchmarks/bench_polling.py --many --real-for ours   # + the real rows
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

import polars as pl

import siraya_frames as sf
from siraya_frames._polling import drive
from siraya_frames._protocols import get_protocol
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._wait import wait_steps

N_BATCHES = 2_000
REQUESTS_PER_BATCH = 100
PER_MINUTE = 50
EXPIRES_AT = 86_400.0
_CUSTOM_ID = re.compile(rb'"custom_id":\s*"([^"]+)"')


class RateLimitedService:
    """``N_BATCHES`` batches ending at ``ends[i]``; ``PER_MINUTE`` calls per sliding minute."""

    def __init__(self, ends: list[float], *, moving: bool) -> None:
        self.ends, self.moving = ends, moving
        self.now = 0.0
        self.calls = self.rejected = 0
        self.noticed: dict[int, float] = {}
        self.custom_ids: list[list[str]] = []
        self._window: deque[float] = deque()
        self.base_url = "https://simulated.invalid/v1"
        self.protocol = "siraya"
        self.wire = get_protocol("siraya")

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def reset(self) -> None:
        """Start the clock and the counters at the end of the submission."""
        self.now, self.calls, self.rejected = 0.0, 0, 0
        self._window.clear()

    def _admit(self) -> None:
        """Count one call; over the limit it is a 429, retried after its Retry-After."""
        while True:
            self.calls += 1
            while self._window and self._window[0] <= self.now - 60.0:
                self._window.popleft()
            if len(self._window) < PER_MINUTE:
                self._window.append(self.now)
                return
            self.rejected += 1
            self.now = self._window[0] + 60.0

    def state(self, i: int) -> BatchState:
        """The batch as the service shows it now (its end noticed if it has ended)."""
        batch_id, total = f"batch_{i:05d}", len(self.custom_ids[i])
        if self.now < self.ends[i]:
            done = int(total * self.now / self.ends[i]) if self.moving else 0
            return BatchState(batch_id, BatchStatus.IN_PROGRESS, total=total, done=done,
                              failed=0, expires_at=EXPIRES_AT)  # fmt: skip
        self.noticed.setdefault(i, self.now)
        return BatchState(batch_id, BatchStatus.COMPLETED, total=total, done=total, failed=0)

    def create_batch(self, body: bytes, *, idempotency_key: str | None = None) -> BatchState:
        self.custom_ids.append([m.decode() for m in _CUSTOM_ID.findall(body)])
        i = len(self.custom_ids) - 1
        return BatchState(f"batch_{i:05d}", BatchStatus.PENDING, expires_at=EXPIRES_AT)

    def get_batch(self, batch_id: str, *, results_path=None, **limits) -> BatchState:
        self._admit()
        i = int(batch_id.removeprefix("batch_"))
        answer = self.state(i)
        if answer.status is not BatchStatus.COMPLETED:
            return answer
        lines = [json.dumps({"custom_id": c, "result": {"type": "canceled"}})
                 for c in self.custom_ids[i]]  # fmt: skip
        Path(results_path).write_text("\n".join(lines) + "\n")
        return BatchState(batch_id, BatchStatus.COMPLETED, results_path=str(results_path))

    def list_page(self, first: int, size: int) -> list[BatchState]:
        """One list call: ``size`` batches, newest first, starting at index ``first``."""
        self._admit()
        return [self.state(i) for i in range(first, max(first - size, -1), -1)]


def draw_ends(hours: float, seed: int = 0) -> list[float]:
    """Each batch's end, uniform in [base - 600, base + 600] simulated seconds."""
    rng, base = random.Random(seed), hours * 3600
    return [base + rng.uniform(-600, 600) for _ in range(N_BATCHES)]


def submitted(service: RateLimitedService, tmp: str) -> sf.Job:
    """Submit the job's ``N_BATCHES`` batches to the service (not counted)."""
    n = N_BATCHES * REQUESTS_PER_BATCH
    texts = pl.DataFrame({"t": [f"request {i}" for i in range(n)]})
    requests = sf.build_requests(texts, prompt="{t}", model="m", max_tokens=1)
    job = sf.submit(requests, client=service, job_dir=tmp, max_requests=REQUESTS_PER_BATCH)
    assert len(service.custom_ids) == N_BATCHES
    service.reset()
    return job


def real_wait(service: RateLimitedService, schedule: sf.PollSchedule) -> None:
    """Wait with the client's own lifecycle steps (today: one GET per batch per round)."""
    with tempfile.TemporaryDirectory() as tmp:
        job = submitted(service, tmp)
        steps = wait_steps(job._store, job._state, schedule, lambda s: None, None,
                           clock=lambda: service.now)  # fmt: skip
        drive(steps, service, sleep=service.sleep)


def list_round(page: int) -> Callable[[RateLimitedService], list[BatchState]]:
    """List calls of ``page`` batches, newest first, until the oldest unfinished one."""

    def round_(service: RateLimitedService) -> list[BatchState]:
        oldest = min(i for i in range(N_BATCHES) if i not in service.noticed)
        states: list[BatchState] = []
        for first in range(N_BATCHES - 1, oldest - 1, -page):
            states += service.list_page(first, page)
        return states

    return round_


def get_round(service: RateLimitedService) -> list[BatchState]:
    """One GET per unfinished batch (what ``poll_steps`` does), oldest first."""
    states = []
    for i in range(N_BATCHES):
        if i not in service.noticed:
            service._admit()
            states.append(service.state(i))
    return states


def model_wait(
    service: RateLimitedService,
    schedule: sf.PollSchedule,
    round_: Callable[[RateLimitedService], list[BatchState]],
) -> None:
    """``wait_steps``' loop with a replaceable round: poll, then sleep as the schedule says."""
    service.custom_ids = [[""] * REQUESTS_PER_BATCH for _ in range(N_BATCHES)]
    seen: dict[str, tuple[float, int]] = {}
    n_polls = 0
    while True:
        states = round_(service)
        if len(service.noticed) == N_BATCHES:
            return
        now = service.now
        etas = []
        for st in states:
            if st.status is BatchStatus.COMPLETED:
                continue
            since, done_then = seen.setdefault(st.batch_id or "", (now, st.done or 0))
            if (st.done or 0) > done_then and now > since:
                rate = ((st.done or 0) - done_then) / (now - since)
                etas.append(max((st.total or 0) - (st.done or 0), 0) / rate)
        eta = min(etas) if etas else None
        service.sleep(schedule.delay(n_polls, now=now, expires_at=EXPIRES_AT + 1, eta=eta))
        n_polls += 1


def figures(service: RateLimitedService) -> dict[str, float]:
    late = sorted(service.noticed[i] - end for i, end in enumerate(service.ends))
    hours = service.now / 3600
    return {
        "calls_per_hour": service.calls / hours,
        "rejected_per_hour": service.rejected / hours,
        "late_mean": statistics.fmean(late),
        "late_p95": late[math.ceil(0.95 * len(late)) - 1],
        "late_max": late[-1],
    }


def main(*, hours: float = 1.0, real_for: str = "none") -> None:
    """Print one table per request-count behaviour.

    The real path (minutes per row: the client saves ``job.json`` after each poll) runs only
    for the schedules whose name starts with ``real_for``; the model row checks the rest.
    """
    ends = draw_ends(hours)
    schedules = {
        "ours (1 s x1.5, cap 60 s, ETA)": sf.PollSchedule(),
        "fixed 60 s": sf.PollSchedule(initial=60, factor=1, maximum=60),
    }
    rounds: dict[str, Callable[[RateLimitedService], list[BatchState]] | None] = {
        "per-batch GET (real)": None,
        "per-batch GET (model)": get_round,
        "list, 100 per page": list_round(100),
        "list, 1000 per page": list_round(1000),
    }
    for moving in (True, False):
        how = "move as requests finish" if moving else "stay at 0 until the end (Anthropic-style)"
        span = f"{hours * 3600 - 600:.0f} to {hours * 3600 + 600:.0f}"
        print(f"\n{N_BATCHES} batches ending after {span} simulated s, {PER_MINUTE} calls/min; "
              f"counts {how}")  # fmt: skip
        print(f"{'schedule':32} {'round':22} {'calls/h':>8} {'429/h':>7} {'late mean s':>12} "
              f"{'p95 s':>8} {'max s':>8}")  # fmt: skip
        for name, schedule in schedules.items():
            real = name.startswith(real_for)
            for round_name, round_ in rounds.items():
                if round_ is None and not real:
                    continue
                service = RateLimitedService(ends, moving=moving)
                if round_ is None:
                    real_wait(service, schedule)
                else:
                    model_wait(service, schedule, round_)
                f = figures(service)
                print(f"{name:32} {round_name:22} {f['calls_per_hour']:>8.0f} "
                      f"{f['rejected_per_hour']:>7.0f} {f['late_mean']:>12.1f} "
                      f"{f['late_p95']:>8.1f} {f['late_max']:>8.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
