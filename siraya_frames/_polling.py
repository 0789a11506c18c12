"""The sans-I/O core of the batch lifecycle and its two short drivers.

A lifecycle step is a generator that *yields* what it needs done (:class:`Call` a client
method, :class:`Sleep` a while) and receives the answer, or has the call's exception raised
at its ``yield``. The decisions live once, in the
generators of ``_job.py``; :func:`drive` runs them with a :class:`~siraya_frames.SirayaClient`
and :func:`adrive` with an :class:`~siraya_frames.AsyncSirayaClient` (the way tenacity's
``Retrying`` and ``AsyncRetrying`` drive one ``iter()``).

Examples
--------
>>> def steps():
...     state = yield Call("get_batch", ("b1",))
...     yield Sleep(0.0)
...     return state
>>> class FakeClient:
...     def get_batch(self, batch_id):
...         return f"state of {batch_id}"
>>> drive(steps(), FakeClient(), sleep=lambda s: None)
'state of b1'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from siraya_frames._config import DEFAULT_MAX_CONCURRENCY, DEFAULT_MIN_POLL_INTERVAL

__all__ = ["Call", "Calls", "PollSchedule", "Sleep", "Steps", "adrive", "drive", "side_by_side"]


@dataclass(frozen=True)
class Call:
    """Call ``client.<name>(*args, **kwargs)`` and send the answer back."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next step."""

    seconds: float


@dataclass(frozen=True)
class Calls:
    """Make these calls side by side (at most ``client.max_concurrency`` in flight) and send
    back, in their order, each one's answer or the exception it raised (not raised)."""

    calls: tuple[Call, ...]


Steps = Generator[Call | Calls | Sleep, Any, Any]


def _width(client: Any) -> int:
    return max(1, int(getattr(client, "max_concurrency", DEFAULT_MAX_CONCURRENCY)))


def _outcome(client: Any, call: Call) -> Any:
    try:
        return getattr(client, call.name)(*call.args, **call.kwargs)
    except Exception as exc:  # one call's failure is that call's answer
        return exc


def _all(client: Any, calls: Sequence[Call]) -> list[Any]:
    """The outcomes of ``calls``, made from a pool of threads (an httpx.Client is
    thread-safe, and the client's rate limiter is shared by the threads)."""
    if len(calls) == 1:
        return [_outcome(client, calls[0])]
    with ThreadPoolExecutor(min(_width(client), len(calls))) as pool:
        return list(pool.map(lambda call: _outcome(client, call), calls))


async def _aall(client: Any, calls: Sequence[Call]) -> list[Any]:
    """The awaitable :func:`_all`: tasks under a semaphore."""
    gate = asyncio.Semaphore(_width(client))

    async def one(call: Call) -> Any:
        async with gate:
            try:
                return await getattr(client, call.name)(*call.args, **call.kwargs)
            except Exception as exc:
                return exc

    return list(await asyncio.gather(*(one(call) for call in calls)))


def drive(steps: Steps, client: Any, *, sleep: Callable[[float], Any] = time.sleep) -> Any:
    """Run lifecycle steps with a synchronous client; return what the steps return."""
    resume, reply = steps.send, None
    while True:
        try:
            op = resume(reply)
        except StopIteration as done:
            return done.value
        try:
            if isinstance(op, Sleep):
                resume, reply = steps.send, sleep(op.seconds)
            elif isinstance(op, Calls):
                resume, reply = steps.send, _all(client, op.calls)
            else:
                resume, reply = steps.send, getattr(client, op.name)(*op.args, **op.kwargs)
        except Exception as exc:  # handed to the steps, which decide
            resume, reply = steps.throw, exc


async def adrive(
    steps: Steps, client: Any, *, sleep: Callable[[float], Any] = asyncio.sleep
) -> Any:
    """Run lifecycle steps with an asynchronous client; return what the steps return."""
    resume, reply = steps.send, None
    while True:
        try:
            op = resume(reply)
        except StopIteration as done:
            return done.value
        try:
            if isinstance(op, Sleep):
                resume, reply = steps.send, await sleep(op.seconds)
            elif isinstance(op, Calls):
                resume, reply = steps.send, await _aall(client, op.calls)
            else:
                resume, reply = steps.send, await getattr(client, op.name)(*op.args, **op.kwargs)
        except Exception as exc:  # handed to the steps, which decide
            resume, reply = steps.throw, exc


def side_by_side(groups: Iterable[Steps], *, width: int = DEFAULT_MAX_CONCURRENCY) -> Steps:
    """Run several steps at once, ``width`` at a time, as one: their pending calls go out
    together as one :class:`Calls`, and each answer goes back to the steps that asked.

    One that fails does not stop the others in flight (what they saved stays saved); no new
    one starts after it, and its error is raised once they are all done.

    Examples
    --------
    >>> def one(name):
    ...     return (yield Call("get_batch", (name,)))
    >>> class FakeClient:
    ...     def get_batch(self, batch_id):
    ...         return batch_id.upper()
    >>> drive(side_by_side(one(n) for n in "abc"), FakeClient())
    >>> steps = side_by_side((one(n) for n in "abc"), width=2)
    >>> [call.args for call in next(steps).calls]  # two at a time
    [('a',), ('b',)]
    """
    waiting, active, errors = iter(groups), [], []

    def advance(steps: Steps, resume: Callable[[Any], Any], reply: Any) -> Steps:
        try:
            call = yield from _until_call(steps, resume, reply)
        except Exception as exc:
            errors.append(exc)
            return
        if call is not None:
            active.append((steps, call))

    while True:
        while len(active) < width and not errors and (steps := next(waiting, None)) is not None:
            yield from advance(steps, steps.send, None)
        if not active:
            break
        pending, active[:] = list(active), []
        answers = yield Calls(tuple(call for _, call in pending))
        for (steps, _), answer in zip(pending, answers, strict=True):
            throw = isinstance(answer, BaseException)
            yield from advance(steps, steps.throw if throw else steps.send, answer)
    if errors:
        raise errors[0]


def _until_call(steps: Steps, resume: Callable[[Any], Any], reply: Any) -> Steps:
    """Resume ``steps`` (``resume`` is its ``send`` or ``throw``) until it asks for a call,
    passing on what else it asks (a Sleep); return that call, or None when it ends."""
    while True:
        try:
            op = resume(reply)
        except StopIteration:
            return None
        if isinstance(op, Call):
            return op
        resume, reply = steps.send, (yield op)  # a Sleep (or a Calls) of its own, in line


@dataclass(frozen=True)
class PollSchedule:
    """Adaptive polling: quick at first, backing off to a cap, never past the expiry.

    Parameters
    ----------
    initial
        Seconds before the second poll.
    factor
        Growth of the delay after each poll.
    maximum
        The longest delay between two polls.
    minimum
        The shortest delay the expiry may force (a batch past its expiry but still running
        is polled this often); the growing delay itself starts at ``initial``.

    Examples
    --------
    >>> s = PollSchedule(initial=1.0, factor=2.0, maximum=10.0)
    >>> [s.delay(n, now=0.0) for n in range(5)]
    [1.0, 2.0, 4.0, 8.0, 10.0]
    >>> s.delay(9, now=100.0, expires_at=103.0)
    3.0
    >>> s.delay(9, now=100.0, expires_at=50.0)  # expired but still running
    2.0
    >>> s.delay(9, now=100.0, eta=4.5)
    5.5
    """

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 60.0
    minimum: float = DEFAULT_MIN_POLL_INTERVAL

    def delay(
        self,
        n_polls: int,
        *,
        now: float,
        expires_at: float | None = None,
        deadline: float | None = None,
        eta: float | None = None,
    ) -> float:
        """Seconds to wait after ``n_polls`` polls, bounded by the expiry and the deadline.

        ``eta``, the predicted seconds until a batch ends (from its request counts), makes
        the next poll come right after that moment instead of up to ``maximum`` later.
        """
        wait = min(self.maximum, self.initial * self.factor ** min(n_polls, 64))
        if eta is not None:
            wait = min(wait, max(eta, 0.0) + self.initial)
        if expires_at is not None:  # never below the floor: an expiry in the past is no reason
            wait = min(wait, max(expires_at - now, self.minimum))  # to poll in a loop
        if deadline is not None:  # the caller stops once it has passed
            wait = min(wait, max(deadline - now, 0.0))
        return max(wait, 0.0)
