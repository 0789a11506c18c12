"""The worker's in-memory view of the unfinished batches (pure: no SQLite, no clock).

The worker used to select every unfinished batch on every step, so a run of N batches cost
N² row reads. It now keeps them here, updated from the store's change marks (create, cancel,
expire, finish), and each question it asks is a heap look-up:

* `due_to_expire`: the batch whose completion window passed first (a heap by ``expires_at``);
* `cancelling`: the oldest batch asked to cancel;
* `oldest`: the batch to work on (a heap by creation order, ``seq``).

Removed batches leave stale heap entries behind, dropped when they reach the top.

Examples
--------
>>> from siraya_frames.emulator._model import Batch
>>> def batch(seq, status="validating", expires_at=100.0):
...     return Batch(seq, f"b{seq}", status, 0.0, expires_at, None, None, None, None, None,
...                  None, 1, 0, 0, 0, 0, "f", 1, None, "h", "t", "m")
>>> active = ActiveBatches()
>>> active.put(2, batch(2)); active.put(1, batch(1, expires_at=50.0))
>>> active.oldest().id, active.due_to_expire(now=60.0), active.due_to_expire(now=10.0)
('b1', 1, None)
>>> active.put(1, batch(1, status="completed"))
>>> active.oldest().id, len(active), active.due_to_expire(now=60.0)
('b2', 1, None)
>>> active.put(2, batch(2, status="cancelling")); active.cancelling()
2
"""

from __future__ import annotations

import heapq

from siraya_frames.emulator._model import CANCELLING, Batch


class ActiveBatches:
    """Unfinished batches by seq, with heaps by creation order and by expiry time."""

    def __init__(self) -> None:
        self._batches: dict[int, Batch] = {}
        self._by_seq: list[int] = []
        self._by_expiry: list[tuple[float, int]] = []
        self._cancelling: set[int] = set()

    def __len__(self) -> int:
        return len(self._batches)

    def put(self, seq: int, batch: Batch | None) -> None:
        """Record the current state of batch ``seq`` (None or finished: forget it)."""
        if batch is None or batch.finished:
            self._batches.pop(seq, None)
            self._cancelling.discard(seq)
            return
        known = self._batches.get(seq)
        if known is None:
            heapq.heappush(self._by_seq, seq)
        if known is None or known.expires_at != batch.expires_at:
            heapq.heappush(self._by_expiry, (batch.expires_at, seq))
        self._batches[seq] = batch
        if batch.status == CANCELLING:
            self._cancelling.add(seq)
        else:
            self._cancelling.discard(seq)

    def due_to_expire(self, *, now: float) -> int | None:
        """Return the seq of a batch whose completion window ended by ``now``, or None."""
        heap = self._by_expiry
        while heap:
            expires_at, seq = heap[0]
            batch = self._batches.get(seq)
            if batch is None or batch.expires_at != expires_at:
                heapq.heappop(heap)
                continue
            return seq if expires_at <= now else None
        return None

    def cancelling(self) -> int | None:
        """Return the seq of the oldest batch being cancelled, or None."""
        return min(self._cancelling) if self._cancelling else None

    def oldest(self) -> Batch | None:
        """Return the oldest unfinished batch, or None."""
        heap = self._by_seq
        while heap and heap[0] not in self._batches:
            heapq.heappop(heap)
        return self._batches[heap[0]] if heap else None
