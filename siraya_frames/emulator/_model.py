"""The emulator's records: a batch, one request's outcome, and the batch lifecycle.

Statuses are kept in OpenAI's vocabulary internally; ``_shapes`` maps them to each dialect::

    validating ─▶ in_progress ─▶ finalizing ─▶ completed
         │             │
         │             ├─(cancel)─▶ cancelling ─▶ cancelled
         ├─────────────┴─(completion window passed)─▶ expired
         └─(input file invalid, openai dialect)─▶ failed

Examples
--------
>>> Outcome.succeeded("hi", input_tokens=1, output_tokens=1).kind
'succeeded'
>>> COMPLETED in TERMINAL
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

VALIDATING = "validating"
IN_PROGRESS = "in_progress"
FINALIZING = "finalizing"
COMPLETED = "completed"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
EXPIRED = "expired"
FAILED = "failed"
TERMINAL = frozenset({COMPLETED, CANCELLED, EXPIRED, FAILED})

SUCCEEDED = "succeeded"
ERRORED = "errored"
CANCELED = "canceled"
EXPIRED_RESULT = "expired"


@dataclass(frozen=True)
class Outcome:
    """What became of one request: an answer, or an error.

    Attributes
    ----------
    kind : str
        ``succeeded``, ``errored``, ``canceled`` or ``expired``.
    text : str or None
        The answer text (succeeded only).
    stop_reason : str or None
        ``end_turn`` or ``max_tokens`` (succeeded only).
    input_tokens, output_tokens : int
        Usage (0 when not succeeded).
    error_type, error_message : str or None
        The error (errored only), e.g. ``api_error``.
    extra : dict
        Richer parts of an answer, all optional: ``thinking`` (str), ``tool_calls`` (list of
        ``{"id"?, "name", "input"}``), ``cache_creation_input_tokens`` and
        ``cache_read_input_tokens`` (int, both included in ``input_tokens``).
    """

    kind: str
    text: str | None = None
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error_type: str | None = None
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def succeeded(
        cls,
        text: str,
        *,
        input_tokens: int,
        output_tokens: int,
        stop_reason: str = "end_turn",
        extra: dict[str, Any] | None = None,
    ) -> Outcome:
        """Return a successful outcome."""
        return cls(SUCCEEDED, text, stop_reason, input_tokens, output_tokens, extra=extra or {})

    @classmethod
    def errored(cls, error_type: str, message: str) -> Outcome:
        """Return an errored outcome."""
        return cls(ERRORED, error_type=error_type, error_message=message)


@dataclass(frozen=True)
class Batch:
    """One stored batch (timestamps are unix seconds, floats; None when not reached)."""

    seq: int
    id: str
    status: str
    created_at: float
    expires_at: float
    in_progress_at: float | None
    finalizing_at: float | None
    completed_at: float | None
    cancelling_at: float | None
    cancelled_at: float | None
    expired_at: float | None
    total: int
    completed: int
    failed: int
    input_tokens: int
    output_tokens: int
    file_id: str
    file_bytes: int
    idempotency_key: str | None
    body_hash: str
    result_token: str
    model: str
    failed_at: float | None = None
    meta_json: str | None = None
    deleted: int = 0

    @property
    def meta(self) -> dict[str, Any]:
        """Protocol details kept with the batch (openai: endpoint, metadata, errors...)."""
        return json.loads(self.meta_json) if self.meta_json else {}

    @property
    def task_id(self) -> int:
        """The integer task id (Siraya's ``task_id``): the creation counter."""
        return self.seq

    @property
    def finished(self) -> bool:
        """Whether the batch reached a terminal status."""
        return self.status in TERMINAL

    @property
    def finished_at(self) -> float | None:
        """When the batch reached its terminal status."""
        return self.completed_at or self.cancelled_at or self.expired_at or self.failed_at


@dataclass(frozen=True)
class ResultRow:
    """One request of a batch with its outcome, as read back for a result file."""

    idx: int
    custom_id: str
    model: str
    kind: str | None
    text: str | None
    stop_reason: str | None
    input_tokens: int
    output_tokens: int
    error_type: str | None
    error_message: str | None
    processed_at: float | None
    extra_json: str | None = None

    @property
    def extra(self) -> dict[str, Any]:
        """The richer parts of the answer (see `Outcome`), ``{}`` when none."""
        return json.loads(self.extra_json) if self.extra_json else {}
