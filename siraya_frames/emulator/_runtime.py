"""What the HTTP layer and the worker share while the emulator runs.

The store, the live fault settings (replaced atomically under a lock), the seeded draws of
HTTP faults, counters for ``/_emulator/stats`` and a log of recent calls.

Examples
--------
>>> import os, tempfile
>>> from siraya_frames.emulator._config import EmulatorConfig
>>> from siraya_frames.emulator._store import Store
>>> rt = Runtime(EmulatorConfig(), Store(os.path.join(tempfile.mkdtemp(), "s.sqlite3")))
>>> _ = rt.set_faults(fail_next_calls=1, http_error_status=503)
>>> rt.take_http_fault("get"), rt.take_http_fault("get")
(503, None)
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from siraya_frames.emulator._config import EmulatorConfig, Faults
from siraya_frames.emulator._store import Store

CALL_LOG_SIZE = 10_000


def error_draw(seed: int, task_id: int, custom_id: str) -> float:
    """Return a reproducible number in [0, 1) for one request of one batch.

    Examples
    --------
    >>> error_draw(0, 1, "a") == error_draw(0, 1, "a") != error_draw(0, 2, "a")
    True
    """
    digest = hashlib.blake2b(f"{seed}:{task_id}:{custom_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Runtime:
    """Live state of one running emulator (thread-safe)."""

    def __init__(self, config: EmulatorConfig, store: Store, faults: Faults | None = None) -> None:
        self.config = config
        self.store = store
        self.wake_worker: Callable[[], None] = lambda: None
        self.backend: Any = None
        """The backend the synchronous endpoints answer with (set by `Emulator.start`)."""
        self._lock = threading.Lock()
        self._faults = faults if faults is not None else config.faults()
        self._rng = random.Random(config.seed)
        self._counters: Counter[str] = Counter()
        self._calls: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_SIZE)

    # -- faults ------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The current fault settings (a snapshot)."""
        with self._lock:
            return self._faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault settings; return the new settings."""
        with self._lock:
            self._faults = self._faults.replaced(**changes)
            faults = self._faults
        self.wake_worker()
        return faults

    def should_error(self, task_id: int, custom_id: str, faults: Faults) -> bool:
        """Whether the error faults make this request's result ``errored``."""
        if custom_id in faults.error_custom_ids:
            return True
        rate = faults.error_rate
        return rate > 0 and error_draw(self.config.seed, task_id, custom_id) < rate

    def take_http_fault(self, endpoint: str) -> int | None:
        """Return the HTTP status to fail this call with, or None (consumes a counted fault)."""
        with self._lock:
            f = self._faults
            if f.http_error_endpoints is not None and endpoint not in f.http_error_endpoints:
                return None
            if f.fail_next_calls > 0:
                self._faults = f.replaced(fail_next_calls=f.fail_next_calls - 1)
                return f.http_error_status
            if f.http_error_rate > 0 and self._rng.random() < f.http_error_rate:
                return f.http_error_status
            return None

    def take_drop(self) -> bool:
        """Whether to drop the connection after this create (consumes one)."""
        with self._lock:
            if self._faults.drop_after_create <= 0:
                return False
            self._faults = self._faults.replaced(
                drop_after_create=self._faults.drop_after_create - 1
            )
            return True

    def take_cut(self) -> int | None:
        """Return after how many lines to cut this results download, or None."""
        with self._lock:
            f = self._faults
            if f.cut_results_after is None or f.cut_results_times == 0:
                return None
            if f.cut_results_times is not None:
                self._faults = f.replaced(cut_results_times=f.cut_results_times - 1)
            return f.cut_results_after

    def take_counted(self, name: str) -> bool:
        """Whether a counted fault (e.g. ``empty_results_times``) hits now (consumes one)."""
        with self._lock:
            left = getattr(self._faults, name)
            if left <= 0:
                return False
            self._faults = self._faults.replaced(**{name: left - 1})
            return True

    # -- counters and call log ---------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter of ``stats()``."""
        with self._lock:
            self._counters[name] += n

    def log_call(self, entry: dict[str, Any]) -> None:
        """Remember one HTTP call (method, path, endpoint, status, authorization sent)."""
        with self._lock:
            self._calls.append(entry)
            self._counters[f"calls.{entry['endpoint']}"] += 1
            if entry["authorization"]:
                self._counters[f"calls_with_authorization.{entry['endpoint']}"] += 1

    def calls(self) -> list[dict[str, Any]]:
        """Return the recent calls, oldest first."""
        with self._lock:
            return list(self._calls)

    def stats(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict."""
        with self._lock:
            counters = dict(self._counters)
        nested: dict[str, Any] = {"calls": {}, "calls_with_authorization": {}}
        for name, value in counters.items():
            group, _, key = name.partition(".")
            if key:
                nested.setdefault(group, {})[key] = value
            else:
                nested[group] = value
        for name in (
            "creates_accepted",
            "creates_replayed",
            "creates_rejected",
            "auth_failures",
            "http_faults",
            "dropped_creates",
            "cut_downloads",
            "requests_processed",
        ):
            nested.setdefault(name, 0)
        nested["batches"] = self.store.count()
        return nested
