"""The worker's lifecycle with many batches queued: linear, in order, nothing lost on restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siraya_frames.emulator import EmulatorConfig
from siraya_frames.emulator._active import ActiveBatches
from siraya_frames.emulator._backends import EchoBackend
from siraya_frames.emulator._model import CANCELLING, IN_PROGRESS, TERMINAL, Batch
from siraya_frames.emulator._runtime import Runtime
from siraya_frames.emulator._store import Store
from siraya_frames.emulator._worker import CHUNK, Worker

STATUSES = ("validating", "in_progress", "finalizing", "cancelling", "completed", "expired")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(EmulatorConfig(), Store(str(tmp_path / "s.sqlite3")))
    yield rt
    rt.store.close()


def add_batch(rt: Runtime, name: str, n: int = 2, *, expires_in: float = 3600.0) -> Batch:
    now = time.time()
    requests = [(f"{name}-{i}", '{"messages":[]}', "m") for i in range(n)]
    return rt.store.create_batch(
        batch_id=name,
        file_id="f",
        created_at=now,
        expires_at=now + expires_in,
        requests=requests,
        file_bytes=1,
        idempotency_key=None,
        body_hash=name,
        result_token="t",
    )


def run_until_idle(worker: Worker, limit: int = 100_000) -> int:
    for steps in range(limit):
        if worker.step() != 0.0:
            return steps
    raise AssertionError("the worker never went idle")


def test_a_drain_of_many_batches_selects_the_unfinished_ones_once(runtime: Runtime) -> None:
    # regression: every step used to SELECT all unfinished batches (quadratic in batches)
    store = runtime.store
    scans = []
    full_scan = store.active
    store.active = lambda: scans.append(1) or full_scan()  # type: ignore[method-assign]
    for i in range(200):
        add_batch(runtime, f"b{i}")
    worker = Worker(runtime, EchoBackend())
    steps = run_until_idle(worker)
    assert steps >= 4 * 200  # validate, answer, finalize, complete each
    assert len(scans) == 1
    assert {store.get(f"b{i}").status for i in range(200)} == {"completed"}
    assert sum(store.get(f"b{i}").completed for i in range(200)) == 400


def test_batches_created_cancelled_and_expired_while_it_runs_are_seen(runtime: Runtime) -> None:
    worker = Worker(runtime, EchoBackend())
    add_batch(runtime, "first")
    assert worker.step() == 0.0  # first: validating -> in_progress
    add_batch(runtime, "queued")
    add_batch(runtime, "late", expires_in=-1.0)
    later = add_batch(runtime, "cancelled")
    runtime.store.set_status(later.seq, CANCELLING, time.time(), only_from={"validating"})
    run_until_idle(worker)
    statuses = {name: runtime.store.get(name).status
                for name in ("first", "queued", "late", "cancelled")}  # fmt: skip
    assert statuses == {
        "first": "completed",
        "queued": "completed",
        "late": "expired",
        "cancelled": "cancelled",
    }
    assert runtime.store.get("late").failed == 2  # both requests expired, none answered


def test_a_batch_expiring_behind_older_ones_expires_before_they_are_done(
    runtime: Runtime,
) -> None:
    worker = Worker(runtime, EchoBackend())
    add_batch(runtime, "old", n=3 * CHUNK)
    add_batch(runtime, "young", expires_in=-1.0)
    worker.step()
    assert runtime.store.get("young").status == "expired"
    assert runtime.store.get("old").status == "validating"


def test_a_new_worker_on_the_same_store_finishes_a_half_answered_batch(runtime: Runtime) -> None:
    n = 2 * CHUNK + 7
    add_batch(runtime, "big", n=n)
    first = Worker(runtime, EchoBackend())
    first.step()  # validating -> in_progress
    first.step()  # one chunk answered
    batch = runtime.store.get("big")
    assert (batch.status, batch.completed) == (IN_PROGRESS, CHUNK)
    run_until_idle(Worker(runtime, EchoBackend()))  # as after a restart
    batch = runtime.store.get("big")
    assert (batch.status, batch.completed, batch.failed) == ("completed", n, 0)
    rows = runtime.store.results(batch.seq, -1, n + 1)
    assert sorted(row.custom_id for _, row in rows) == sorted(f"big-{i}" for i in range(n))
    assert {row.kind for _, row in rows} == {"succeeded"}


def make_batch(seq: int, status: str, expires_at: float) -> Batch:
    return Batch(seq, f"b{seq}", status, 0.0, expires_at, None, None, None, None, None, None,
                 1, 0, 0, 0, 0, "f", 1, None, "h", "t", "m")  # fmt: skip


@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.sampled_from(STATUSES), st.integers(0, 5)), max_size=60
    ),
    st.integers(0, 5),
)
def test_active_batches_answer_like_a_full_scan(
    changes: list[tuple[int, str, int]], now: int
) -> None:
    active, latest = ActiveBatches(), {}
    for seq, status, expires_at in changes:
        batch = make_batch(seq, status, float(expires_at))
        active.put(seq, batch)
        latest[seq] = batch
        unfinished = sorted((b for b in latest.values() if b.status not in TERMINAL),
                            key=lambda b: b.seq)  # fmt: skip
        assert active.oldest() == (unfinished[0] if unfinished else None)
        assert len(active) == len(unfinished)
        cancelling = [b.seq for b in unfinished if b.status == CANCELLING]
        assert active.cancelling() == (cancelling[0] if cancelling else None)
        due = active.due_to_expire(now=float(now))
        if due is None:
            assert all(b.expires_at > now for b in unfinished)
        else:
            assert latest[due].expires_at <= now and latest[due].status not in TERMINAL
