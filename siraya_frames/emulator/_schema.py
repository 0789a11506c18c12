"""The emulator's SQLite schema: tables, columns added since, and column lists.

Examples
--------
>>> "CREATE TABLE IF NOT EXISTS batches" in SCHEMA, TIMESTAMP_OF["completed"]
(True, 'completed_at')
"""

from __future__ import annotations

from siraya_frames.emulator._model import (
    CANCELLED,
    CANCELLING,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    in_progress_at REAL, finalizing_at REAL, completed_at REAL,
    cancelling_at REAL, cancelled_at REAL, expired_at REAL,
    total INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    file_id TEXT NOT NULL,
    file_bytes INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    body_hash TEXT NOT NULL,
    result_token TEXT NOT NULL,
    model TEXT NOT NULL,
    failed_at REAL,
    meta TEXT,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS requests (
    batch_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    kind TEXT,
    text TEXT,
    stop_reason TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    error_type TEXT,
    error_message TEXT,
    processed_at REAL,
    extra TEXT,
    PRIMARY KEY (batch_seq, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS requests_pos ON requests (batch_seq, pos);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    content BLOB NOT NULL
);
"""
ADDED_COLUMNS = (
    ("batches", "failed_at", "REAL"),
    ("batches", "meta", "TEXT"),
    ("batches", "deleted", "INTEGER NOT NULL DEFAULT 0"),
    ("requests", "extra", "TEXT"),
)
"""Columns added after the first release, added to a data directory made before them."""

BATCH_COLUMNS = (
    "seq, id, status, created_at, expires_at, in_progress_at, finalizing_at, completed_at, "
    "cancelling_at, cancelled_at, expired_at, total, completed, failed, input_tokens, "
    "output_tokens, file_id, file_bytes, idempotency_key, body_hash, result_token, model, "
    "failed_at, meta, deleted"
)
RESULT_COLUMNS = (
    "idx, custom_id, model, kind, text, stop_reason, input_tokens, output_tokens, "
    "error_type, error_message, processed_at, extra"
)
TIMESTAMP_OF = {
    IN_PROGRESS: "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    CANCELLING: "cancelling_at",
    CANCELLED: "cancelled_at",
    EXPIRED: "expired_at",
    FAILED: "failed_at",
}
