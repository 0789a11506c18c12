"""The background thread that moves batches through their lifecycle.

Each step does one thing, in constant time whatever the number of batches (they are kept in
memory, see `_active`), oldest batch first: expire a batch past its completion window, end
a cancelling batch, start a validating one, answer a chunk of requests of the batch in
progress (one request per ``seconds_per_request`` when that is set), finalize, complete.

Examples
--------
>>> import os, tempfile, time
>>> from siraya_frames.emulator._backends import EchoBackend
>>> from siraya_frames.emulator._config import EmulatorConfig
>>> from siraya_frames.emulator._runtime import Runtime
>>> from siraya_frames.emulator._store import Store
>>> rt = Runtime(EmulatorConfig(), Store(os.path.join(tempfile.mkdtemp(), "s.sqlite3")))
>>> _ = rt.store.create_batch(batch_id="b", file_id="f", created_at=time.time(),
...     expires_at=time.time() + 60, requests=[("a", '{"messages":[]}', "m")], file_bytes=1,
...     idempotency_key=None, body_hash="h", result_token="t")
>>> worker = Worker(rt, EchoBackend())
>>> while worker.step() == 0.0: pass
>>> rt.store.get("b").status
'completed'
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from siraya_frames.emulator._active import ActiveBatches
from siraya_frames.emulator._backends import Backend, loads_params
from siraya_frames.emulator._cache import PromptCache
from siraya_frames.emulator._model import (
    CANCELED,
    CANCELLED,
    COMPLETED,
    EXPIRED,
    EXPIRED_RESULT,
    FAILED,
    FINALIZING,
    IN_PROGRESS,
    SUCCEEDED,
    VALIDATING,
    Batch,
    Outcome,
)
from siraya_frames.emulator._params import checker_for
from siraya_frames.emulator._runtime import Runtime

logger = logging.getLogger("siraya_frames.emulator")

IDLE_POLL = 0.02
"""Seconds the worker sleeps when there is nothing to do (it is also woken on changes)."""
CHUNK = 2_000
"""Requests answered per step when there is no per-request delay."""
MAX_BACKOFF = 5.0
"""Longest wait between two failing steps (the failure is logged once, then at debug)."""


class Worker:
    """Processes stored batches in a daemon thread.

    Parameters
    ----------
    runtime
        The shared state (store, faults, counters).
    backend
        Where answers come from.
    """

    def __init__(self, runtime: Runtime, backend: Backend) -> None:
        self._runtime = runtime
        self._backend = backend
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._due: tuple[int, float] | None = None
        self._active = ActiveBatches()
        self._loaded = False
        self._cursor: tuple[int, int] | None = None
        """The batch in progress and the index of its last request answered."""
        self._check = checker_for(runtime.config.dialect)
        self._cache = PromptCache(runtime.config.dialect)

    def start(self) -> None:
        """Start the thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="siraya-emulator-worker")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wake(self) -> None:
        """Ask the worker to look at the batches now."""
        self._wake.set()

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                wait = self.step()
            except Exception as exc:
                failures += 1
                wait = min(IDLE_POLL * 2**failures, MAX_BACKOFF)
                if failures == 1:
                    logger.exception("emulator worker step failed; retrying with back-off")
                else:
                    logger.debug("emulator worker step failed again (%d): %s", failures, exc)
            else:
                if failures:
                    logger.warning("emulator worker recovered after %d failed steps", failures)
                failures = 0
            if wait > 0:
                self._wake.wait(wait)

    def step(self) -> float:
        """Do one unit of work; return how long to wait before the next (0: go on).

        Costs the same whatever the number of batches: the unfinished batches are kept in
        memory (`ActiveBatches`), refreshed from the store's change marks by primary key.
        """
        store = self._runtime.store
        self._refresh()
        now = time.time()
        seq = self._active.due_to_expire(now=now)
        if seq is not None:
            store.close_pending(seq, EXPIRED_RESULT, EXPIRED, now)
            return 0.0
        seq = self._active.cancelling()
        if seq is not None:
            store.close_pending(seq, CANCELED, CANCELLED, now)
            return 0.0
        batch = self._active.oldest()
        if batch is None:
            return IDLE_POLL
        if batch.status == VALIDATING:
            failed = bool(batch.meta.get("errors"))
            store.set_status(
                batch.seq, FAILED if failed else IN_PROGRESS, now, only_from={VALIDATING}
            )
            return 0.0
        if batch.status == FINALIZING:
            store.set_status(batch.seq, COMPLETED, now, only_from={FINALIZING})
            return 0.0
        return self._process(batch)

    def _refresh(self) -> None:
        """Bring the in-memory batches up to date: all of them once, then the changed ones."""
        store = self._runtime.store
        if not self._loaded:
            store.take_changed()
            for batch in store.active():
                self._active.put(batch.seq, batch)
            self._loaded = True
        for seq in store.take_changed():
            self._active.put(seq, store.by_seq(seq))

    def _process(self, batch: Batch) -> float:
        faults = self._runtime.faults
        delay = faults.seconds_per_request
        if delay > 0:
            wait = self._until_due(batch.seq, delay)
            if wait > 0:
                return min(wait, IDLE_POLL)
        after = self._cursor[1] if self._cursor and self._cursor[0] == batch.seq else -1
        rows = self._runtime.store.pending(batch.seq, 1 if delay > 0 else CHUNK, after)
        if not rows:
            self._runtime.store.set_status(
                batch.seq, FINALIZING, time.time(), only_from={IN_PROGRESS}
            )
            self._cursor = None
            return 0.0
        outcomes = self._answer(batch, rows)
        stored = self._runtime.store.record(batch.seq, outcomes, time.time())
        self._runtime.count("requests_processed", stored)
        self._cursor = (batch.seq, rows[-1][0])
        self._due = (batch.seq, time.monotonic() + delay) if delay > 0 else None
        return 0.0

    def _until_due(self, seq: int, delay: float) -> float:
        if self._due is None or self._due[0] != seq:
            self._due = (seq, time.monotonic() + delay)
        return self._due[1] - time.monotonic()

    def _answer(self, batch: Batch, rows: list[tuple[int, str, str]]) -> list[tuple[int, Outcome]]:
        faults = self._runtime.faults
        injected: list[tuple[int, Outcome]] = []
        asked: list[tuple[int, str, dict]] = []
        for idx, custom_id, params_json in rows:
            params = loads_params(params_json)
            problem = self._check(params) if self._check is not None else None
            if problem is not None:
                injected.append((idx, Outcome.errored("invalid_request_error", problem)))
            elif self._runtime.should_error(batch.task_id, custom_id, faults):
                message = f"Injected {faults.error_type} (emulator fault injection)."
                injected.append((idx, Outcome.errored(faults.error_type, message)))
            else:
                asked.append((idx, custom_id, params))
        answers = self._backend.complete([(cid, params) for _, cid, params in asked])
        return injected + [
            (idx, self._cached(params, o))
            for (idx, _, params), o in zip(asked, answers, strict=True)
        ]

    def _cached(self, params: dict[str, Any], outcome: Outcome) -> Outcome:
        """Add the cache usage of the prompt unless the answer already gave its own."""
        if outcome.kind != SUCCEEDED or "cache_read_input_tokens" in outcome.extra:
            return outcome
        usage = self._cache.usage(params)
        if not any(usage.values()):
            return outcome
        return dataclasses.replace(outcome, extra={**outcome.extra, **usage})
