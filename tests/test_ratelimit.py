"""The client's calls side by side (``Calls``, ``side_by_side``) and its one budget of
requests per minute (``RateLimiter``), sync and async, on a simulated clock."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

import siraya_frames as sf
from siraya_frames._polling import Call, adrive, drive, side_by_side

BATCH = {"id": "b", "status": "in_progress"}


class Clock:
    """A simulated clock: sleeping moves it on (threads share it)."""

    def __init__(self) -> None:
        self.now, self.lock = 0.0, threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


def _ok(request: httpx.Request) -> httpx.Response:
    batch_id = request.url.path.rsplit("/", 1)[-1]
    return httpx.Response(200, json={**BATCH, "id": batch_id})


def _gets(n: int) -> list:
    def one(i: int):
        return (yield Call("get_batch", (f"b{i}",)))

    return [one(i) for i in range(n)]


def _client(handler, *, clock: Clock | None = None, per_minute: float = 30, **kw):
    limiter = None
    if clock is not None:
        limiter = sf.RateLimiter(
            per_minute, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep
        )
    retry = kw.pop("retry", sf.RetryPolicy(max_attempts=1))
    transport = httpx.MockTransport(handler)
    return sf.SirayaClient("k", "https://api.example/v1", transport=transport, retry=retry,
                           rate_limit=limiter or 0, **kw)  # fmt: skip


def test_no_more_calls_in_flight_than_max_concurrency():
    gate, lock, in_flight, most = threading.Barrier(3, timeout=10), threading.Lock(), [0], [0]

    def handler(request):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        gate.wait()  # three arrive together, or the barrier breaks and the call fails
        with lock:
            in_flight[0] -= 1
        return _ok(request)

    with _client(handler, max_concurrency=3) as client:
        drive(side_by_side(_gets(9), width=3), client)
    assert most[0] == 3


def test_async_calls_in_flight_are_bounded_too():
    in_flight, most = [0], [0]

    async def handler(request):
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        for _ in range(5):  # let every task that may start, start
            await asyncio.sleep(0)
        in_flight[0] -= 1
        return _ok(request)

    async def main():
        transport = httpx.MockTransport(handler)
        async with sf.AsyncSirayaClient("k", "https://api.example/v1", transport=transport,
                                        rate_limit=0, max_concurrency=2) as client:  # fmt: skip
            return await adrive(side_by_side(_gets(6), width=6), client)

    asyncio.run(main())
    assert most[0] == 2


def test_one_failed_call_does_not_stop_the_others_in_flight():
    answered = []

    def handler(request):
        if request.url.path.endswith("/b1"):
            return httpx.Response(404, json={"error": {"message": "no such batch"}})
        answered.append(request.url.path)
        return _ok(request)

    def one(i):
        state = yield Call("get_batch", (f"b{i}",))
        return state

    with _client(handler, max_concurrency=3) as client, pytest.raises(sf.NotFoundError):
        drive(side_by_side([one(i) for i in range(5)], width=3), client)
    assert sorted(answered) == ["/v1/batches/b0", "/v1/batches/b2"]  # no new one after it


def test_a_minute_holds_at_most_the_budget():
    clock, sent = Clock(), []

    def handler(request):
        sent.append(clock.now)
        return _ok(request)

    with _client(handler, clock=clock, per_minute=30, max_concurrency=4) as client:
        drive(side_by_side(_gets(90), width=4), client)
    assert len(sent) == 90
    for start in sent:
        assert sum(start <= t < start + 60 for t in sent) <= 30


def test_calls_one_after_another_are_evenly_spaced():
    clock, sent = Clock(), []

    def handler(request):
        sent.append(clock.now)
        return _ok(request)

    with _client(handler, clock=clock, per_minute=50) as client:
        for i in range(4):
            client.get_batch(f"b{i}")
    assert sent == pytest.approx([0.0, 1.2, 2.4, 3.6])


def _throttled_then_ok(clock, sent):
    def handler(request):
        sent.append((request.url.path, clock.now))
        if request.url.path.endswith("/a"):
            body = json.dumps({"error": {"message": "slow down"}})
            return httpx.Response(429, headers={"retry-after": "30"}, content=body)
        return _ok(request)

    return handler


def test_a_429_on_one_call_pauses_every_call():
    clock, sent = Clock(), []
    with _client(_throttled_then_ok(clock, sent), clock=clock, per_minute=600) as client:
        with pytest.raises(sf.RateLimitError):
            client.get_batch("a")  # one attempt: the 429 is this call's answer
        client.get_batch("b")  # another call, no retry of its own: it waits all the same
    assert sent == [("/v1/batches/a", 0.0), ("/v1/batches/b", 30.0)]


def test_a_429_pauses_async_calls_too():
    clock, sent = Clock(), []
    limiter = sf.RateLimiter(600, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)

    async def main():
        transport = httpx.MockTransport(_throttled_then_ok(clock, sent))
        retry = sf.RetryPolicy(max_attempts=1)
        async with sf.AsyncSirayaClient("k", "https://api.example/v1", transport=transport,
                                        rate_limit=limiter, retry=retry) as client:  # fmt: skip
            with pytest.raises(sf.RateLimitError):
                await client.get_batch("a")
            await client.get_batch("b")

    asyncio.run(main())
    assert sent == [("/v1/batches/a", 0.0), ("/v1/batches/b", 30.0)]


def test_the_budget_is_shared_by_threads_and_retries():
    clock, sent, tries = Clock(), [], []

    def handler(request):
        sent.append(clock.now)
        if request.url.path.endswith("/b0") and not tries:
            tries.append(1)
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return _ok(request)

    retry = sf.RetryPolicy(max_attempts=3, sleep=lambda s: None)
    with _client(handler, clock=clock, per_minute=60, retry=retry, max_concurrency=2) as client:
        drive(side_by_side(_gets(4), width=2), client)
    assert len(sent) == 5  # the retry took a token of its own
    assert max(sent) >= 4.0  # five tokens, one a second, the first one free


@pytest.mark.parametrize(
    ("argument", "env", "base_url", "expected"),
    [
        (None, None, "https://api.anthropic.com/v1", 50.0),
        (None, "10", "https://api.anthropic.com/v1", 10.0),
        (20, "10", "https://api.anthropic.com/v1", 20.0),
        (None, None, "http://127.0.0.1:8000/v1", None),  # the emulator: no default budget
        (None, "10", "http://127.0.0.1:8000/v1", 10.0),
        (0, None, "https://api.anthropic.com/v1", None),
    ],
)
def test_rate_limit_comes_from_the_argument_then_the_env_then_the_protocol(
    monkeypatch, argument, env, base_url, expected
):
    if env is None:
        monkeypatch.delenv("SIRAYA_RATE_LIMIT", raising=False)
    else:
        monkeypatch.setenv("SIRAYA_RATE_LIMIT", env)
    client = sf.SirayaClient("k", base_url, protocol="anthropic", rate_limit=argument)
    assert (client.limiter.per_minute if client.limiter else None) == expected


def test_bad_settings_name_the_fix(monkeypatch):
    monkeypatch.setenv("SIRAYA_MAX_CONCURRENCY", "many")
    with pytest.raises(sf.ConfigurationError, match="SIRAYA_MAX_CONCURRENCY"):
        sf.SirayaClient("k", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SIRAYA_MAX_CONCURRENCY", "0")
    with pytest.raises(sf.ConfigurationError, match="at least 1"):
        sf.SirayaClient("k", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("SIRAYA_MAX_CONCURRENCY")
    with pytest.raises(sf.ConfigurationError, match="rate_limit=-5"):
        sf.SirayaClient("k", "http://127.0.0.1:9/v1", rate_limit=-5)
