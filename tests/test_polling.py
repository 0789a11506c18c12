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
    assert 0.0 <= wait <= s.maximum
    assert wait <= max(to_expiry, 0.0) + 1e-6
    if eta is not None:
        assert wait <= eta + s.initial + 1e-6
