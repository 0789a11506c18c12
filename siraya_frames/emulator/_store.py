"""The emulator's state in SQLite: batches, their requests and outcomes.

One connection, shared by the HTTP thread, the thread pool and the worker, behind a lock
(SQLite calls are short: bulk inserts with ``executemany`` and paged reads). The file lives in
the data directory, so an emulator restarted on the same directory keeps its batches.

Examples
--------
>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "state.sqlite3"))
>>> b = store.create_batch(batch_id="batch_1", file_id="file-1", created_at=0.0,
...     expires_at=10.0, requests=[("a", '{"model":"m"}', "m")], file_bytes=10,
...     idempotency_key=None, body_hash="h", result_token="t")
>>> b.task_id, b.total, store.get("batch_1").status
(1, 1, 'validating')
>>> store.close()
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections.abc import Sequence

from siraya_frames.emulator._model import (
    ERRORED,
    IN_PROGRESS,
    SUCCEEDED,
    TERMINAL,
    VALIDATING,
    Batch,
    Outcome,
    ResultRow,
)
from siraya_frames.emulator._schema import (
    ADDED_COLUMNS,
    BATCH_COLUMNS,
    RESULT_COLUMNS,
    SCHEMA,
    TIMESTAMP_OF,
)


def shuffled_positions(batch_id: str, n: int) -> list[int]:
    """Return a deterministic permutation of ``range(n)`` that differs from it when n > 1.

    Result files list requests in this order, so clients cannot rely on request order.

    Examples
    --------
    >>> sorted(shuffled_positions("b", 5)) == list(range(5))
    True
    >>> shuffled_positions("b", 2)
    [1, 0]
    """
    positions = list(range(n))
    random.Random(batch_id).shuffle(positions)
    if n > 1 and positions == sorted(positions):
        positions.reverse()
    return positions


class Store:
    """SQLite-backed batches; every method is thread-safe.

    Every change of a batch's status (create, start, cancel, expire, finish, delete) marks its
    ``seq``; the worker takes the marks (`take_changed`) and re-reads just those batches by
    primary key instead of selecting every unfinished batch on each step.

    Parameters
    ----------
    path
        The database file (created when missing).
    """

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._add_missing_columns()
        self._changed: set[int] = set()

    def _add_missing_columns(self) -> None:
        for table, column, kind in ADDED_COLUMNS:
            names = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in names:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    @property
    def conn(self) -> tuple[sqlite3.Connection, threading.RLock]:
        """The connection and the lock that guards it (for `_files.Files`)."""
        return self._conn, self._lock

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    # -- batches ---------------------------------------------------------------------------

    def create_batch(
        self,
        *,
        batch_id: str,
        file_id: str,
        created_at: float,
        expires_at: float,
        requests: Sequence[tuple[str, str, str]],
        file_bytes: int,
        idempotency_key: str | None,
        body_hash: str,
        result_token: str,
        model: str = "",
        meta: str | None = None,
    ) -> Batch:
        """Store a batch and its ``(custom_id, params_json, model)`` requests at once.

        ``meta`` is a JSON object of protocol details (see `Batch.meta`).
        """
        positions = shuffled_positions(batch_id, len(requests))
        first_model = model or (requests[0][2] if requests else "")
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            cur = self._conn.execute(
                "INSERT INTO batches (id, status, created_at, expires_at, total, file_id, "
                "file_bytes, idempotency_key, body_hash, result_token, model, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    VALIDATING,
                    created_at,
                    expires_at,
                    len(requests),
                    file_id,
                    file_bytes,
                    idempotency_key,
                    body_hash,
                    result_token,
                    first_model,
                    meta,
                ),
            )
            seq = cur.lastrowid
            assert seq is not None
            self._conn.executemany(
                "INSERT INTO requests (batch_seq, idx, pos, custom_id, params, model) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (seq, i, positions[i], cid, params, req_model)
                    for i, (cid, params, req_model) in enumerate(requests)
                ),
            )
            self._changed.add(seq)
            # read inside the transaction: once it commits, the worker may move the batch on,
            # and the create must still answer the state it made (validating)
            batch = self.get(batch_id)
        assert batch is not None
        return batch

    def get(self, batch_id: str) -> Batch | None:
        """Return the batch with this id (None if unknown or deleted)."""
        return self._one(
            f"SELECT {BATCH_COLUMNS} FROM batches WHERE id = ? AND deleted = 0", (batch_id,)
        )

    def by_seq(self, seq: int) -> Batch | None:
        """Return the batch with this ``seq`` (its primary key), deleted or not, or None."""
        return self._one(f"SELECT {BATCH_COLUMNS} FROM batches WHERE seq = ?", (seq,))

    def take_changed(self) -> list[int]:
        """Return the seqs of the batches changed since the last call, in order, and forget them.

        Examples
        --------
        >>> import tempfile, os
        >>> store = Store(os.path.join(tempfile.mkdtemp(), "s.sqlite3"))
        >>> b = store.create_batch(batch_id="b", file_id="f", created_at=0.0, expires_at=9.0,
        ...     requests=[], file_bytes=0, idempotency_key=None, body_hash="h", result_token="t")
        >>> store.take_changed(), store.take_changed()
        ([1], [])
        >>> store.close()
        """
        with self._lock:
            changed, self._changed = self._changed, set()
        return sorted(changed)

    def by_idempotency_key(self, key: str) -> Batch | None:
        """Return the batch created with this ``Idempotency-Key``, or None."""
        return self._one(f"SELECT {BATCH_COLUMNS} FROM batches WHERE idempotency_key = ?", (key,))

    def active(self) -> list[Batch]:
        """Return the batches not yet finished, oldest first (a full scan: at start only)."""
        marks = ",".join("?" * len(TERMINAL))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {BATCH_COLUMNS} FROM batches WHERE status NOT IN ({marks}) ORDER BY seq",
                tuple(TERMINAL),
            ).fetchall()
        return [Batch(*row) for row in rows]

    def page(
        self, *, limit: int, after: str | None = None, before: str | None = None
    ) -> tuple[list[Batch], bool]:
        """Return up to ``limit`` batches not deleted, newest first, and whether more follow.

        ``after`` (a batch id) starts the page just after that batch (older ones); ``before``
        ends it just before that batch (newer ones, still listed newest first).
        """
        where, params = "deleted = 0", []
        if after is not None:
            where += " AND seq < (SELECT seq FROM batches WHERE id = ?)"
            params.append(after)
        if before is not None:
            where += " AND seq > (SELECT seq FROM batches WHERE id = ?)"
            params.append(before)
        order = "ASC" if before is not None and after is None else "DESC"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {BATCH_COLUMNS} FROM batches WHERE {where} ORDER BY seq {order} LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
        batches = [Batch(*row) for row in rows[:limit]]
        if order == "ASC":
            batches.reverse()
        return batches, len(rows) > limit

    def delete(self, seq: int) -> None:
        """Hide a batch from `get` and `page` (Anthropic's delete)."""
        with self._lock:
            self._conn.execute("UPDATE batches SET deleted = 1 WHERE seq = ?", (seq,))
            self._changed.add(seq)

    def kind_counts(self, seq: int) -> dict[str, int]:
        """Return how many requests of a batch ended each way (``succeeded``, ``errored``...)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, COUNT(*) FROM requests WHERE batch_seq = ? AND kind IS NOT NULL "
                "GROUP BY kind",
                (seq,),
            ).fetchall()
        return dict(rows)

    def count(self) -> int:
        """Return how many batches are stored."""
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]

    def set_status(self, seq: int, status: str, now: float, *, only_from: set[str]) -> bool:
        """Move a batch to ``status`` (stamping its time) if it is in one of ``only_from``."""
        column = TIMESTAMP_OF.get(status)
        stamp = f", {column} = ?" if column else ""
        marks = ",".join("?" * len(only_from))
        params = (status, now) if column else (status,)
        with self._lock:
            cur = self._conn.execute(
                f"UPDATE batches SET status = ?{stamp} WHERE seq = ? AND status IN ({marks})",
                (*params, seq, *sorted(only_from)),
            )
            if cur.rowcount != 1:
                return False
            self._changed.add(seq)
            return True

    # -- requests --------------------------------------------------------------------------

    def pending(self, seq: int, limit: int, after_idx: int = -1) -> list[tuple[int, str, str]]:
        """Return up to ``limit`` unprocessed ``(idx, custom_id, params_json)``, in order."""
        with self._lock:
            return self._conn.execute(
                "SELECT idx, custom_id, params FROM requests WHERE batch_seq = ? AND idx > ? "
                "AND kind IS NULL ORDER BY idx LIMIT ?",
                (seq, after_idx, limit),
            ).fetchall()

    def record(self, seq: int, outcomes: Sequence[tuple[int, Outcome]], now: float) -> int:
        """Store outcomes of a batch still in progress; return how many were stored.

        Outcomes for a batch that was cancelled or expired meanwhile are dropped.
        """
        ok = [(o, i) for i, o in outcomes if o.kind == SUCCEEDED]
        bad = [(o, i) for i, o in outcomes if o.kind == ERRORED]
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            status = self._conn.execute(
                "SELECT status FROM batches WHERE seq = ?", (seq,)
            ).fetchone()
            if status is None or status[0] != IN_PROGRESS:
                return 0
            n_ok = self._write(seq, ok, now)
            n_bad = self._write(seq, bad, now)
            tokens_in = sum(o.input_tokens for o, _ in ok)
            tokens_out = sum(o.output_tokens for o, _ in ok)
            self._conn.execute(
                "UPDATE batches SET completed = completed + ?, failed = failed + ?, "
                "input_tokens = input_tokens + ?, output_tokens = output_tokens + ? "
                "WHERE seq = ?",
                (n_ok, n_bad, tokens_in, tokens_out, seq),
            )
            return n_ok + n_bad

    def _write(self, seq: int, rows: list[tuple[Outcome, int]], now: float) -> int:
        before = self._conn.total_changes
        self._conn.executemany(
            "UPDATE requests SET kind = ?, text = ?, stop_reason = ?, input_tokens = ?, "
            "output_tokens = ?, error_type = ?, error_message = ?, processed_at = ?, extra = ? "
            "WHERE batch_seq = ? AND idx = ? AND kind IS NULL",
            (
                (
                    o.kind,
                    o.text,
                    o.stop_reason,
                    o.input_tokens,
                    o.output_tokens,
                    o.error_type,
                    o.error_message,
                    now,
                    json.dumps(o.extra) if o.extra else None,
                    seq,
                    idx,
                )
                for o, idx in rows
            ),
        )
        return self._conn.total_changes - before

    def close_pending(self, seq: int, kind: str, status: str, now: float) -> bool:
        """End a batch: unprocessed requests become ``kind``, the batch becomes ``status``.

        Returns False when the batch had already finished.
        """
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            current = self._conn.execute(
                "SELECT status FROM batches WHERE seq = ?", (seq,)
            ).fetchone()
            if current is None or current[0] in TERMINAL:
                return False
            cur = self._conn.execute(
                "UPDATE requests SET kind = ?, processed_at = ? "
                "WHERE batch_seq = ? AND kind IS NULL",
                (kind, now, seq),
            )
            column = TIMESTAMP_OF[status]
            self._conn.execute(
                f"UPDATE batches SET status = ?, {column} = ?, failed = failed + ? WHERE seq = ?",
                (status, now, cur.rowcount, seq),
            )
            self._changed.add(seq)
            return True

    def results(self, seq: int, after_pos: int, limit: int) -> list[tuple[int, ResultRow]]:
        """Return up to ``limit`` ``(pos, row)`` pairs after ``after_pos``, in result order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT pos, {RESULT_COLUMNS} FROM requests "
                "WHERE batch_seq = ? AND pos > ? ORDER BY pos LIMIT ?",
                (seq, after_pos, limit),
            ).fetchall()
        return [(row[0], ResultRow(*row[1:])) for row in rows]

    def _one(self, sql: str, params: tuple[object, ...]) -> Batch | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return Batch(*row) if row else None
