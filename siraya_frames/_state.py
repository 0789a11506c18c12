"""The in-memory state of a job: its settings (:class:`JobState`) and its batches
(:class:`BatchRecord`), with their compact JSON encodings. Pure: no disk (see ``_statedb.py``).

Examples
--------
>>> rec = BatchRecord("r0-b0000", 0, "sf-j-r0-b0000", 3)
>>> decode_batch(encode_batch(rec)) == rec
True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JOB_FORMAT",
    "BatchRecord",
    "JobState",
    "decode_batch",
    "decode_settings",
    "encode_batch",
    "encode_settings",
    "utc_now",
]

JOB_FORMAT = "siraya-frames-job/1"


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class BatchRecord:
    """One planned batch: its intent, then its id and progress.

    ``status`` is ``"planned"`` from the moment the intent is recorded until the service
    confirms the create; then a :class:`~siraya_frames._shapes.BatchStatus` value; or
    ``"not_submitted"`` when the job was cancelled before the create was sent.
    """

    key: str
    round: int
    idempotency_key: str
    n_requests: int
    status: str = "planned"
    batch_id: str | None = None
    raw_status: str | None = None
    done: int = 0
    failed: int = 0
    expires_at: float | None = None
    planned_at: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    results_file: str | None = None
    result_url: str | None = None
    result_fetches: int = 0
    error: str | None = None
    result_urls: list[str] = field(default_factory=list)
    """Every results file of the batch (OpenAI: output and error files), absolute URLs."""
    input_file_id: str | None = None
    """The uploaded request file (file-based protocols), saved once the upload answered."""
    upload_started_at: str | None = None
    """Set before the request file is uploaded (the upload's intent)."""
    create_sent_at: str | None = None
    """Set before the create is sent: a resume then looks for the batch before creating."""
    results_error: str | None = None
    """Why the batch's results could not be fetched (its ids are then ``results_unavailable``,
    never resent automatically); the next ``wait`` tries again."""
    outcomes: dict[str, int] | None = None
    """Result lines per ``result_status`` among the batch's ids, counted once when its results
    were saved (None: not counted yet; ``status`` then reads the results)."""


_BATCH_FIELDS = tuple(f.name for f in dataclasses.fields(BatchRecord))


@dataclass
class JobState:
    """Everything a job's store holds: its settings and its batches."""

    job_id: str
    base_url: str
    max_requests: int
    max_bytes: int
    n_requests: int = 0
    created_at: str = field(default_factory=utc_now)
    provenance: dict[str, Any] = field(default_factory=dict)
    batches: list[BatchRecord] = field(default_factory=list)
    format: str = JOB_FORMAT
    task_fingerprint: str | None = None
    """What defines the job's task (prompt, model, labels...: see ``_task.py``), hashed."""
    protocol: str = "siraya"
    """The wire protocol the job speaks (job dirs made before protocols existed: siraya)."""
    max_tokens: int | None = None
    """The largest ``max_tokens`` of the job's requests: it bounds a results download."""
    max_result_bytes: int | None = None
    """The user's cap on one batch's results download; None: derived (see ``_wait``)."""
    recipe: dict[str, Any] | None = None
    """How ``run`` makes its frame and file from the answers (see ``_recipe.py``)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """Rebuild the state from its decoded JSON (``to_dict``, or an old ``job.json``)."""
        batches = [BatchRecord(**b) for b in data.get("batches", [])]
        return cls(**{**data, "batches": batches})

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain data (``siraya-frames status JOB --json``)."""
        return {
            **decode_settings(encode_settings(self)),
            "batches": [_plain(b) for b in self.batches],
        }


_SETTINGS_FIELDS = tuple(f.name for f in dataclasses.fields(JobState) if f.name != "batches")


def _plain(rec: BatchRecord) -> dict[str, Any]:
    return {name: getattr(rec, name) for name in _BATCH_FIELDS}


def encode_batch(rec: BatchRecord) -> str:
    """One batch as compact JSON (the C encoder; no deep copy)."""
    return json.dumps(_plain(rec), ensure_ascii=False, separators=(",", ":"))


def decode_batch(text: str) -> BatchRecord:
    """The batch :func:`encode_batch` encoded."""
    return BatchRecord(**json.loads(text))


def encode_settings(state: JobState) -> str:
    """The job's settings (everything but its batches) as compact JSON."""
    plain = {name: getattr(state, name) for name in _SETTINGS_FIELDS}
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


def decode_settings(text: str) -> dict[str, Any]:
    """The settings :func:`encode_settings` encoded, as a dict."""
    return json.loads(text)
