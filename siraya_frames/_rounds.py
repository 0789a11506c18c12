"""What one poll round asks for: the batches in the order they should end, and their
states read from list pages where the protocol lists them.

Pure steps (see ``_polling.py``): a list round yields ``Call("list_batches")`` page by
page until every batch wanted was seen, the pages end, or a bound on pages is reached
(the account may hold newer batches of other work); the batches not seen are then polled
one by one by the caller.

Examples
--------
>>> from siraya_frames._state import BatchRecord
>>> slow = BatchRecord("slow", 0, "k1", 100, status="in_progress", batch_id="b1", done=10)
>>> fast = BatchRecord("fast", 0, "k2", 100, status="in_progress", batch_id="b2", done=10)
>>> seen = {"slow": (0.0, 0), "fast": (0.0, 0)}
>>> fast.done = 90
>>> [rec.key for rec in by_predicted_end([slow, fast], seen, now=10.0)]
['fast', 'slow']
"""

from __future__ import annotations

import logging
import math

from siraya_frames._errors import APIStatusError, UnexpectedResponseError
from siraya_frames._polling import Call, Steps
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._state import BatchRecord

logger = logging.getLogger("siraya_frames")

__all__ = ["EXTRA_LIST_PAGES", "by_predicted_end", "eta_of", "list_round"]

EXTRA_LIST_PAGES = 2
"""List pages read beyond the fewest that could hold every batch wanted (newer batches of
other work come first on the list); the batches still unseen are polled with a GET."""

_ENDED = frozenset(s.value for s in BatchStatus if s.is_terminal)


def eta_of(rec: BatchRecord, seen: dict[str, tuple[float, int]], now: float) -> float | None:
    """Seconds until ``rec`` should end, from its progress since it was first seen
    (recorded in ``seen``); 0.0 once it has ended; None while its counts have not moved.

    Examples
    --------
    >>> from siraya_frames._state import BatchRecord
    >>> rec = BatchRecord("k", 0, "i", 100, status="in_progress", batch_id="b", done=0)
    >>> seen = {}
    >>> eta_of(rec, seen, now=0.0) is None  # first seen now
    True
    >>> rec.done = 25
    >>> eta_of(rec, seen, now=10.0)  # 25 in 10 s: 75 more take 30 s
    30.0
    """
    if rec.status in _ENDED:
        return 0.0
    since, done_then = seen.setdefault(rec.key, (now, rec.done))
    if rec.done <= done_then or now <= since:
        return None
    rate = (rec.done - done_then) / (now - since)
    return max(rec.n_requests - rec.done, 0) / rate


def by_predicted_end(
    recs: list[BatchRecord], seen: dict[str, tuple[float, int]], now: float
) -> list[BatchRecord]:
    """``recs`` sorted by when each should end: ended first, then by the predicted end from
    their progress, then by expiry, then as they were (the sort is stable)."""

    def key(rec: BatchRecord) -> tuple[float, float]:
        eta = eta_of(rec, seen, now)
        expiry = rec.expires_at - now if rec.expires_at else math.inf
        return (eta if eta is not None else math.inf, expiry)

    return sorted(recs, key=key)


def list_round(recs: list[BatchRecord], page_size: int) -> Steps:
    """Read list pages until every batch of ``recs`` was seen, the pages end, or
    ``ceil(len(recs) / page_size) + EXTRA_LIST_PAGES`` pages were read; return the states
    seen, by batch id. A list that fails ends the round early: the rest are polled alone.
    """
    wanted = {rec.batch_id for rec in recs if rec.batch_id}
    found: dict[str, BatchState] = {}
    after: str | None = None
    for _ in range(math.ceil(len(wanted) / page_size) + EXTRA_LIST_PAGES):
        try:
            states, after = yield Call("list_batches", (), {"after": after})
        except (APIStatusError, UnexpectedResponseError) as exc:
            logger.warning("listing batches failed (%s); polling the rest one by one", exc)
            break
        found.update((s.batch_id, s) for s in states if s.batch_id in wanted)
        if after is None or len(found) == len(wanted):
            break
    return found
