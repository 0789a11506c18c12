"""Polling economy: HTTP calls made while a batch takes a simulated hour, and how late the
end is noticed, for our adaptive schedule and for the fixed intervals peers use.

Nothing sleeps for real: the lifecycle steps of ``siraya_frames._job`` are driven with a fake
client and a simulated clock (the same steps ``Job.wait`` drives with real ones).

``--many`` runs the many-batches case instead (`bench_polling_many`): 2,000 batches under a
50-requests-per-minute limit, our polling today against fixed 60 s polling and against
polling through the list endpoint.

Usage::

    PYTHONPATH=. python benchmarks/bench_polling.py --hours 1
    PYTHONPATH=. python benchmarks/bench_polling.py --many --hours 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import polars as pl

import siraya_frames as sf
from siraya_frames._polling import drive
from siraya_frames._protocols import get_protocol
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._wait import wait_steps


class SimulatedService:
    """One batch that ends ``duration`` simulated seconds after it is created."""

    def __init__(self, duration: float, ids: list[str], moving: bool) -> None:
        self.moving = moving
        self.now = 0.0
        self.duration = duration
        self.ids = ids
        self.calls = 0
        self.noticed_at: float | None = None
        self.base_url = "https://simulated.invalid/v1"
        self.protocol = "siraya"
        self.wire = get_protocol("siraya")

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def create_batch(self, body, *, idempotency_key=None) -> BatchState:
        self.calls += 1
        return BatchState("batch_sim", BatchStatus.PENDING, expires_at=86400.0)

    def get_batch(self, batch_id, *, results_path=None, **limits) -> BatchState:
        self.calls += 1
        if self.now < self.duration:
            done = int(len(self.ids) * self.now / self.duration) if self.moving else 0
            return BatchState(batch_id, BatchStatus.IN_PROGRESS, total=len(self.ids), done=done,
                              failed=0, expires_at=86400.0)  # fmt: skip
        self.noticed_at = self.now
        lines = [json.dumps({"custom_id": i, "result": {"type": "canceled"}}) for i in self.ids]
        Path(results_path).write_text("\n".join(lines) + "\n")
        return BatchState(batch_id, BatchStatus.COMPLETED, results_path=str(results_path))


def simulate(schedule: sf.PollSchedule, duration: float, moving: bool) -> dict[str, float]:
    """Submit one batch to the simulated service and wait for it with ``schedule``."""
    texts = pl.DataFrame({"t": [f"request {i}" for i in range(1000)]})
    requests = sf.build_requests(texts, prompt="{t}", model="m", max_tokens=1)  # fmt: skip
    service = SimulatedService(duration, requests["custom_id"].to_list(), moving)
    with tempfile.TemporaryDirectory() as tmp:
        job = sf.submit(requests, client=service, job_dir=tmp)
        service.calls = 0
        steps = wait_steps(job._store, job._state, schedule, lambda s: None, None,
                            clock=lambda: service.now)  # fmt: skip
        drive(steps, service, sleep=service.sleep)
    return {"http_calls": service.calls, "noticed_late_s": round(service.noticed_at - duration, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--many", action="store_true", help="the 2,000-batch case")
    parser.add_argument("--real-for", default="none",
                        help="--many: also run the client's real wait for schedules starting "
                        "with this ('ours': minutes per row at 2,000 batches)")  # fmt: skip
    args = parser.parse_args()
    if args.many:
        from bench_polling_many import main as many

        many(hours=args.hours, real_for=args.real_for)
        return
    base = args.hours * 3600
    durations = [base + offset for offset in range(-600, 601, 37)]  # 33 batch durations
    rows = {
        "siraya-frames adaptive (1 s x1.5, cap 60 s, ETA)": sf.PollSchedule(),
        "fixed 60 s (curator)": sf.PollSchedule(initial=60, factor=1, maximum=60),
        "fixed 10 s (batchling)": sf.PollSchedule(initial=10, factor=1, maximum=10),
    }
    for moving in (True, False):
        how = "move as requests finish" if moving else "stay at 0 until the end (Anthropic-style)"
        print(f"\none batch ending after {base - 600:.0f} to {base + 600:.0f} simulated seconds "
              f"({len(durations)} runs); request counts {how}")  # fmt: skip
        print(f"{'schedule':50} {'HTTP calls':>10} {'late, mean s':>13} {'late, max s':>12}")
        for name, schedule in rows.items():
            runs = [simulate(schedule, d, moving) for d in durations]
            calls = sum(r["http_calls"] for r in runs) / len(runs)
            late = [r["noticed_late_s"] for r in runs]
            print(f"{name:50} {calls:>10.1f} {sum(late) / len(late):>13.1f} {max(late):>12.1f}")


if __name__ == "__main__":
    main()
