"""Uploaded files of the ``openai`` dialect (``POST /v1/files``), kept in the emulator's SQLite.

Examples
--------
>>> import os, tempfile
>>> from siraya_frames.emulator._store import Store
>>> files = Files(Store(os.path.join(tempfile.mkdtemp(), "s.sqlite3")))
>>> files.put("file-1", b'{"a":1}\\n', filename="in.jsonl", purpose="batch", created_at=0.0)
StoredFile(id='file-1', created_at=0.0, filename='in.jsonl', purpose='batch', bytes=8)
>>> files.content("file-1"), files.get("file-2")
(b'{"a":1}\\n', None)
"""

from __future__ import annotations

from dataclasses import dataclass

from siraya_frames.emulator._store import Store


@dataclass(frozen=True)
class StoredFile:
    """An uploaded file, without its content."""

    id: str
    created_at: float
    filename: str
    purpose: str
    bytes: int


class Files:
    """The ``files`` table of a `Store` (same connection, same lock)."""

    def __init__(self, store: Store) -> None:
        self._conn, self._lock = store.conn

    def put(
        self, file_id: str, content: bytes, *, filename: str, purpose: str, created_at: float
    ) -> StoredFile:
        """Store a file; return its description."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO files (id, created_at, filename, purpose, content) "
                "VALUES (?, ?, ?, ?, ?)",
                (file_id, created_at, filename, purpose, content),
            )
        return StoredFile(file_id, created_at, filename, purpose, len(content))

    def get(self, file_id: str) -> StoredFile | None:
        """Return the file with this id, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, created_at, filename, purpose, length(content) FROM files WHERE id = ?",
                (file_id,),
            ).fetchone()
        return StoredFile(*row) if row else None

    def content(self, file_id: str) -> bytes | None:
        """Return the bytes of the file with this id, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT content FROM files WHERE id = ?", (file_id,)
            ).fetchone()
        return bytes(row[0]) if row else None
