"""One requests-per-minute budget per client, shared by its threads and tasks.

A :class:`RateLimiter` is a token bucket refilled at ``per_minute / 60`` tokens a second.
Every HTTP attempt of a client takes one token first (``acquire`` from a thread,
``aacquire`` from a task); a call that finds the bucket empty is given the moment its token
will exist and sleeps until then, so calls leave evenly spaced, in the order they asked. A
429 or a ``Retry-After`` on *any* call (:meth:`RateLimiter.throttle`) empties the bucket and
pauses it for every call, not only the one that is retried.

The clock and both sleeps are injected (tests and the benchmarks pass simulated ones).

Examples
--------
>>> now = [0.0]
>>> limiter = RateLimiter(60, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
>>> for _ in range(3):
...     limiter.acquire()
>>> now[0]  # one a second after the first token
2.0
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from siraya_frames._errors import ConfigurationError
from siraya_frames._guards import finite_seconds

__all__ = ["RateLimiter", "throttles"]


def throttles(exc: BaseException) -> float | None:
    """Seconds a failed call asks every call to pause: its ``Retry-After``, 0.0 for a 429
    without one (the bucket is emptied), None when the failure says nothing about the rate.

    Examples
    --------
    >>> from siraya_frames._errors import RateLimitError, NotFoundError
    >>> throttles(RateLimitError("slow down", status_code=429, retry_after=7))
    7.0
    >>> throttles(RateLimitError("slow down", status_code=429))
    0.0
    >>> throttles(NotFoundError("no such batch", status_code=404)) is None
    True
    """
    seconds = finite_seconds(getattr(exc, "retry_after", None))
    if seconds is not None:
        return max(float(seconds), 0.0)
    return 0.0 if getattr(exc, "status_code", None) == 429 else None


class RateLimiter:
    """A token bucket of ``per_minute`` requests a minute, holding at most ``capacity``.

    Parameters
    ----------
    per_minute
        Requests per minute, over all the calls of the client (threads and tasks alike).
    capacity
        Tokens the bucket holds when idle: the burst allowed after a quiet spell. The default
        1 spaces every call ``60 / per_minute`` seconds apart, so no window of a minute ever
        holds more than ``per_minute`` calls (a fuller bucket would allow up to twice that).
    clock, sleep, async_sleep
        ``time.monotonic``, ``time.sleep`` and ``asyncio.sleep`` unless given (tests pass
        a simulated clock).

    Examples
    --------
    >>> RateLimiter(50).interval
    1.2
    """

    def __init__(
        self,
        per_minute: float,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        async_sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        if not per_minute > 0 or not capacity >= 1:
            raise ConfigurationError(
                f"rate_limit={per_minute!r} (capacity {capacity!r}): give a positive number "
                "of requests per minute (and a capacity of at least 1), or 0 for no limit"
            )
        self.per_minute = float(per_minute)
        self.capacity = float(capacity)
        self.interval = 60.0 / self.per_minute
        self._clock, self._sleep, self._async_sleep = clock, sleep, async_sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = float("-inf")

    def _reserve(self) -> float:
        """Take one token (perhaps one not there yet); return the seconds to wait for it."""
        with self._lock:
            now = self._clock()
            if now > self._updated:
                refill = (now - self._updated) / self.interval
                self._tokens = min(self.capacity, self._tokens + refill)
                self._updated = now
            self._tokens -= 1.0
            owed = -self._tokens * self.interval if self._tokens < 0 else 0.0
            return max(owed, self._paused_until - now, 0.0)

    def acquire(self) -> None:
        """Wait (in this thread) until the next call may be sent."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)

    async def aacquire(self) -> None:
        """Wait (in this task) until the next call may be sent."""
        wait = self._reserve()
        if wait > 0:
            await self._async_sleep(wait)

    def throttle(self, exc: BaseException) -> None:
        """Slow every call down after ``exc``, when it was a 429 or carried ``Retry-After``:
        the bucket is emptied, and paused for the seconds the server asked."""
        seconds = throttles(exc)
        if seconds is None:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self._tokens, 0.0)
            self._updated = max(self._updated, now)
            self._paused_until = max(self._paused_until, now + seconds)

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute:g}, capacity={self.capacity:g})"
