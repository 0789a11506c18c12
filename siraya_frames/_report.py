"""A run's summary and a cost estimate as a person reads them: aligned lines, or HTML.

The frames (:func:`~siraya_frames.summarize`, :func:`~siraya_frames.estimate`) stay the
API; these views only show them, whole (no ``…``), money as ``$0.2965``.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"rows": [3], "unique_requests": [2], "succeeded": [1],
...                       "errored": [1], "cost_usd": [0.29645865000000005]})
>>> print(RunSummary(frame, job_path="jobs/a").text("cli"))
rows             3
unique requests  2
succeeded        1
errored          1
cost             $0.2965
1 row did not succeed. Retry it: siraya-frames retry jobs/a
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames._display import aligned, html_table, plural, record_pairs
from siraya_frames._status import Interface, retry_command

if TYPE_CHECKING:
    from siraya_frames._job import Job

__all__ = ["RunSummary", "estimate_text", "failed_requests", "say", "show"]

_FAILED = ("errored", "missing_or_expired")


def failed_requests(record: dict[str, Any]) -> int:
    """Rows of a summary that did not succeed (errored, missing, expired, canceled)."""
    return sum(int(record.get(k) or 0) for k in _FAILED)


def _one_row(frame: pl.DataFrame) -> dict[str, Any]:
    return frame.row(0, named=True) if frame.height else {}


class RunSummary:
    """The :func:`summarize` row of a finished run, for the terminal or Jupyter."""

    def __init__(self, frame: pl.DataFrame, *, job_path: str | None = None) -> None:
        self.frame = frame
        self.job_path = job_path

    def _retry_line(self, interface: Interface) -> str:
        failed = failed_requests(_one_row(self.frame))
        if not failed or self.job_path is None:
            return ""
        them = "it" if failed == 1 else "them"
        head = f"{plural(failed, 'row')} did not succeed."
        return f"{head} Retry {them}: {retry_command(self.job_path, interface)}"

    def text(self, interface: Interface = "python") -> str:
        """Aligned label/value lines, then the note and the retry command."""
        record = _one_row(self.frame)
        lines = [aligned(record_pairs(record, skip=("note",)))]
        if record.get("note"):
            lines.append(str(record["note"]))
        if retry := self._retry_line(interface):
            lines.append(retry)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        record = _one_row(self.frame)
        footer = " ".join(filter(None, [record.get("note"), self._retry_line("python")]))
        pairs = record_pairs(record, skip=("note",))
        return html_table(pairs, title="siraya-frames run summary", footer=footer)


def estimate_text(frame: pl.DataFrame) -> str:
    """An :func:`~siraya_frames.estimate` frame as aligned lines (one block per row),
    its note last.

    Examples
    --------
    >>> est = pl.DataFrame({"unique_requests": [1200], "estimated_cost_usd": [0.2964586],
    ...                     "note": ["batch price"]})
    >>> print(estimate_text(est))
    unique requests  1,200
    estimated cost   $0.2965
    batch price
    """
    blocks = []
    for record in frame.iter_rows(named=True):
        lines = [aligned(record_pairs(record, skip=("note",)))]
        if record.get("note"):
            lines.append(str(record["note"]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (not a plain IPython terminal)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def say(line: str) -> None:
    """Print ``line`` to the notebook cell's output, or to stderr in a terminal."""
    print(line, file=sys.stdout if _in_notebook() else sys.stderr)


def show(summary: pl.DataFrame, job: Job | None = None) -> None:
    """Display the summary in a notebook (HTML), or print it to stderr in a terminal."""
    view = RunSummary(summary, job_path=str(job.path) if job is not None else None)
    if _in_notebook():
        from IPython.display import display

        display(view)
        return
    print(view.text(), file=sys.stderr)
