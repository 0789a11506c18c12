"""The sans-I/O drivers and the poll schedule."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siraya_frames._polling import Call, PollSchedule, Sleep, adrive, drive


class Client:
    def __init__(self):
        self.calls = []

    def get(self, x):
        self.calls.append(x)
        if x == "boom":
            raise ValueError("boom")
        return x * 2


class AsyncClient(Client):
    async def get(self, x):  # type: ignore[override]
        return Client.get(self, x)


def steps():
    a = yield Call("get", ("ab",))
    yield Sleep(1.5)
    try:
        yield Call("get", ("boom",))
    except ValueError as exc:  # the call's error is raised at the yield
        caught = str(exc)
    return a, caught


def test_sync_and_async_drivers_agree():
    slept = []
    assert drive(steps(), Client(), sleep=slept.append) == ("abab", "boom")
    assert slept == [1.5]

    async def fake_sleep(s):
        slept.append(s)

    assert asyncio.run(adrive(steps(), AsyncClient(), sleep=fake_sleep)) == ("abab", "boom")
    assert slept == [1.5, 1.5]


def test_an_unhandled_error_propagates():
    def bad():
        yield Call("get", ("boom",))

    with pytest.raises(ValueError, match="boom"):
        drive(bad(), Client(), sleep=lambda s: None)


def test_schedule_backs_off_to_the_cap():
    s = PollSchedule(initial=1.0, factor=2.0, maximum=8.0)
    assert [s.delay(n, now=0.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@given(
    n=st.integers(0, 10_000),
    now=st.floats(0, 1e9),
    to_expiry=st.floats(-100, 1e6),
    eta=st.none() | st.floats(0, 1e6),
)
def test_schedule_never_waits_past_expiry_or_beyond_the_cap(n, now, to_expiry, eta):
    s = PollSchedule()
    wait = s.delay(n, now=now, expires_at=now + to_expiry, eta=eta)
    assert min(s.minimum, s.initial) <= wait <= s.maximum
    assert wait <= max(to_expiry, s.minimum) + 1e-6
    if eta is not None:
        assert wait <= eta + s.initial + 1e-6


class _Stop(Exception):
    pass


def test_a_batch_past_its_expiry_but_still_running_is_not_polled_in_a_loop(tmp_path):
    """Clock skew or a slow service: expires_at is behind us and the batch still runs."""
    from siraya_frames._shapes import BatchState, BatchStatus
    from siraya_frames._store import BatchRecord, JobState, JobStore
    from siraya_frames._wait import wait_steps

    clock = [1_000.0]
    store = JobStore(tmp_path)
    rec = BatchRecord("r0-b0000", 0, "k", 5, status="in_progress", batch_id="b1")
    rec.expires_at = clock[0] - 600.0  # ten minutes ago
    state = JobState("j", "https://x/v1", 10, 1000, n_requests=5, batches=[rec])
    running = BatchState("b1", BatchStatus.IN_PROGRESS, expires_at=rec.expires_at)

    class Client:
        gets = 0

        def get_batch(self, batch_id, *, results_path, max_bytes=None):
            Client.gets += 1
            return running

    def sleep(seconds):  # the simulated clock: a minute, or 10,000 polls, then stop
        clock[0] += seconds
        if clock[0] >= 1_060.0 or Client.gets > 10_000:
            raise _Stop

    steps = wait_steps(store, state, PollSchedule(), lambda s: None, None, lambda: clock[0])
    with pytest.raises(_Stop):
        drive(steps, Client(), sleep=sleep)
    assert 20 <= Client.gets <= 31  # one GET per 2 s (DEFAULT_MIN_POLL_INTERVAL) at most


def test_side_by_side_passes_on_a_sleep_asked_after_a_failed_call():
    from siraya_frames._polling import side_by_side

    def one():
        try:
            yield Call("get", ("boom",))
        except ValueError:
            yield Sleep(2.0)  # after the error is thrown in, the sleep's answer is sent
        return (yield Call("get", ("ok",)))

    slept = []
    client = Client()
    drive(side_by_side([one(), one()], width=2), client, sleep=slept.append)
    assert slept == [2.0, 2.0] and client.calls == ["boom", "boom", "ok", "ok"]
