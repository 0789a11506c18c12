"""What makes two calls the same task, so that one job directory never mixes two of them.

A job may grow by new *rows* made with the same recipe (re-running ``run`` on a longer frame
sends only the new rows). A different prompt, model, request parameters, labels or schema is
another task: its rows would be recorded under the first task's provenance. The recipe is
taken from the job's provenance (``run`` records it there); its hash is saved in the job's state
as ``task_fingerprint``. A plain :func:`submit` without a recipe is not checked.

Examples
--------
>>> a = {"prompt_template": "{text}", "model": "m1", "note": "anything"}
>>> task_fingerprint(a) == task_fingerprint({**a, "note": "else"})
True
>>> task_differences(a, {**a, "model": "m2"})
["model 'm1' vs 'm2'"]
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from siraya_frames._errors import JobMismatchError
from siraya_frames._store import JobState

__all__ = ["TASK_KEYS", "check_same_task", "task_differences", "task_fingerprint"]

TASK_KEYS = (
    "prompt_template",
    "request_template",
    "model",
    "labels",
    "abstain",
    "schema",
    "params",
)
"""The provenance entries that define a task (others, like notes, may change)."""


def _task(provenance: dict[str, Any]) -> dict[str, Any]:
    return {key: provenance[key] for key in TASK_KEYS if key in provenance}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def task_fingerprint(provenance: dict[str, Any]) -> str | None:
    """A hash of the recipe in ``provenance``; None when it records no recipe.

    Examples
    --------
    >>> task_fingerprint({}) is None
    True
    >>> len(task_fingerprint({"model": "m"}))
    32
    """
    task = _task(provenance)
    if not task:
        return None
    return hashlib.sha256(_canonical(task).encode()).hexdigest()[:32]


def task_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``"<key> <saved> vs <now>"`` for each recipe entry that differs."""
    old, new = _task(saved), _task(now)
    return [
        f"{key} {old.get(key)!r} vs {new.get(key)!r}"
        for key in TASK_KEYS
        if _canonical(old.get(key)) != _canonical(new.get(key))
    ]


def check_same_task(
    path: str | os.PathLike[str], state: JobState, provenance: dict[str, Any]
) -> None:
    """Refuse to add requests of another task to the job saved in ``path``.

    Raises
    ------
    JobMismatchError
        When both the job and this call record a recipe and they differ; nothing was sent.

    Examples
    --------
    >>> state = JobState("j", "https://x/v1", 10, 1000, provenance={"model": "a"})
    >>> check_same_task("jobs/j", state, {"model": "a"})  # the same task: fine
    >>> try:
    ...     check_same_task("jobs/j", state, {"model": "b"})
    ... except JobMismatchError as exc:
    ...     print(str(exc)[:61])
    the job in 'jobs/j' holds another task: model 'a' vs 'b' (sav
    """
    now = task_fingerprint(provenance)
    saved = state.task_fingerprint or task_fingerprint(state.provenance)
    if now is None or saved is None or now == saved:
        return
    diffs = "; ".join(task_differences(state.provenance, provenance)) or "its recipe differs"
    where = os.fspath(path)
    raise JobMismatchError(
        f"the job in {where!r} holds another task: {diffs} (saved vs now). Pass another "
        f"job_dir, or delete {where!r} to start over"
    )
