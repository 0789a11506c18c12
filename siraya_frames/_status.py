"""``JobStatus``: where a job stands, as a value, as sentences and as an HTML table.

Examples
--------
>>> import polars as pl
>>> s = JobStatus(path="jobs/a", batches=pl.DataFrame({"key": ["r0-b0000"]}), total=4,
...               done=4, failed=1, finished=True)
>>> s
JobStatus(path='jobs/a', finished=True, done=4, total=4, failed=1, batches=1)
>>> print(s)
Job jobs/a: finished, 4 of 4 requests done in 1 batch; 1 request did not succeed.
Retry it: siraya_frames.Job.open('jobs/a').retry_failed()
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

import polars as pl

from siraya_frames._display import html_table, plural, text_table

__all__ = ["BATCH_COLUMNS", "JobStatus", "retry_command"]

Interface = Literal["python", "cli"]

BATCH_COLUMNS = ("key", "batch_id", "status", "requests", "done", "failed", "error")
"""The batch columns a person reads (``status.batches`` has them all)."""


def retry_command(path: str, interface: Interface = "python") -> str:
    """The exact call or command that resends a job's failed requests.

    Examples
    --------
    >>> retry_command("jobs/my job", "cli")
    "siraya-frames retry 'jobs/my job'"
    """
    if interface == "cli":
        return f"siraya-frames retry {shlex.quote(path)}"
    return f"siraya_frames.Job.open({path!r}).retry_failed()"


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: per batch, and in total.

    ``print(status)`` gives sentences; in Jupyter it shows as a table.

    Attributes
    ----------
    batches : pl.DataFrame
        One row per batch: key, batch_id, status, requests, done and failed (as the service
        last counted them), submitted_at, finished_at, results_file (relative to the job
        directory), error (the batch's, or why its results could not be fetched).
    total, done, failed : int
        Unique requests in the job; those with an outcome (not pending); and those whose
        outcome, after every retry round, is not a success.
    finished : bool
        True when every batch has ended and its results are saved.
    """

    path: str
    batches: pl.DataFrame
    total: int
    done: int
    failed: int
    finished: bool

    def __repr__(self) -> str:
        return (
            f"JobStatus(path={self.path!r}, finished={self.finished}, done={self.done}, "
            f"total={self.total}, failed={self.failed}, batches={self.batches.height})"
        )

    def sentence(self) -> str:
        """One sentence: state, requests done, batches, failures."""
        state = "finished" if self.finished else "running"
        head = (
            f"Job {self.path}: {state}, {self.done:,} of {plural(self.total, 'request')} done "
            f"in {plural(self.batches.height, 'batch')}"
        )
        if self.failed:
            verb = "did" if self.finished else "so far did"
            return f"{head}; {plural(self.failed, 'request')} {verb} not succeed."
        return f"{head}; all succeeded." if self.finished and self.total else f"{head}."

    def text(self, interface: Interface = "python") -> str:
        """The sentence, and the retry command when some requests failed."""
        lines = [self.sentence()]
        if self.failed and self.finished:
            them = "it" if self.failed == 1 else "them"
            lines.append(f"Retry {them}: {retry_command(self.path, interface)}")
        return "\n".join(lines)

    def batch_table(self, limit: int | None = None) -> str:
        """The batches as aligned text (the first ``limit`` of them)."""
        shown = self.batches if limit is None else self.batches.head(limit)
        columns = [c for c in BATCH_COLUMNS if c in shown.columns]
        if "error" in columns and shown["error"].null_count() == shown.height:
            columns.remove("error")
        return text_table(shown.select(columns).to_dicts(), columns)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        columns = [c for c in BATCH_COLUMNS if c in self.batches.columns]
        rows = self.batches.head(50).select(columns).to_dicts()
        more = self.batches.height - len(rows)
        footer = self.text().split("\n", 1)[-1] if self.failed and self.finished else ""
        if more > 0:
            footer = f"{footer} (and {plural(more, 'more batch')})".strip()
        return html_table(title=self.sentence(), rows=rows, columns=columns, footer=footer)
