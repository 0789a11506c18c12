"""What the ``siraya-frames`` commands print: sentences and aligned tables, never a repr.

Examples
--------
>>> print(submitted_text(1, "jobs/a").splitlines()[0])
Submitted 1 batch; the job is saved in jobs/a.
"""

from __future__ import annotations

import shlex
import sys
import warnings
from collections.abc import Iterable
from typing import Any

import polars as pl

from siraya_frames._cli_args import EXIT_NOTHING_USABLE, EXIT_OK
from siraya_frames._cli_words import cli_words
from siraya_frames._display import aligned, plural, text_table
from siraya_frames._report import RunSummary, estimate_text
from siraya_frames._status import JobStatus

__all__ = [
    "print_demo",
    "print_estimate",
    "print_status",
    "print_warnings",
    "run_outcome",
    "status_outcome",
    "submitted_text",
]

SHOWN_BATCHES = 20
"""``siraya-frames status`` lists every batch up to this many (more with ``--batches``)."""


def submitted_text(n_batches: int, path: str) -> str:
    """What ``run --no-wait`` says: where the job is, how to follow it and collect it."""
    where = shlex.quote(path)
    return (
        f"Submitted {plural(n_batches, 'batch')}; the job is saved in {path}.\n"
        f"Follow it with: siraya-frames status {where} (or siraya-frames wait {where}).\n"
        "Then run this same command again with --output OUT.parquet instead of --no-wait: "
        "it re-attaches, sends nothing, and writes your rows with their answers."
    )


def print_estimate(frame: pl.DataFrame) -> None:
    """An estimate as aligned lines; then that nothing was sent."""
    print(cli_words(estimate_text(frame)))
    print("Dry run: nothing was sent.")


def print_status(status: JobStatus, *, every: bool = False) -> None:
    """The batches as a table (the first ``SHOWN_BATCHES`` unless ``every``), then the
    sentence and, when some requests failed, the retry command."""
    limit = None if every or status.batches.height <= SHOWN_BATCHES else SHOWN_BATCHES
    if status.batches.height:
        print(status.batch_table(limit))
    if limit is not None:
        more = status.batches.height - limit
        print(f"({plural(more, 'more batch')}: --batches lists them all, --json the whole state)")
    print(status.text("cli"))


def status_outcome(status: JobStatus) -> int:
    """1 when the job has ended and no request succeeded; else 0."""
    nothing = status.finished and status.total > 0 and status.failed >= status.total
    return EXIT_NOTHING_USABLE if nothing else EXIT_OK


def run_outcome(
    out: pl.DataFrame, *, prefix: str, job_path: str | None, model: str, prices: Any = None
) -> int:
    """Print the run's summary to stderr; 1 when nothing in it is usable, else 0."""
    import siraya_frames as sf

    summary = sf.summarize(out, model=model, prefix=prefix, prices=prices)
    print(cli_words(RunSummary(summary, job_path=job_path).text("cli")), file=sys.stderr)
    row = summary.row(0, named=True)
    requested = out.height - int((out[f"{prefix}result_status"] == "skipped").sum())
    nothing = requested > 0 and (row["succeeded"] == 0 or row["parsed"] == 0)
    return EXIT_NOTHING_USABLE if nothing else EXIT_OK


def print_warnings(caught: Iterable[warnings.WarningMessage]) -> None:
    """Each distinct warning once, as ``warning: ...`` in the command line's words."""
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, ResourceWarning):  # Python's own (an unclosed socket)
            continue
        text = cli_words(str(w.message))
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)


def print_demo(out: pl.DataFrame, output: str) -> None:
    """The demo's rows, the label counts and where the file is."""
    from siraya_frames import read_provenance

    prov = read_provenance(output)
    rows = out.select("review", "label", "result_status").head(8)
    shown = [{**r, "review": _cut(r["review"], 60)} for r in rows.to_dicts()]
    print(text_table(shown, ["review", "label", "result_status"]))
    counts = out.group_by("label").len().sort("len", descending=True)
    print()
    print(
        aligned([(str(k if k is not None else "(no label)"), f"{n:,}") for k, n in counts.rows()])
    )
    outcomes: dict[str, Any] = prov.get("outcomes") or {}
    said = ", ".join(f"{n:,} {k}" for k, n in outcomes.items())
    print(
        f"\nWrote {plural(out.height, 'row')} to {output} "
        f"({plural(int(prov.get('unique_requests') or 0), 'unique request')}: {said}; "
        f"{plural(len(prov.get('batch_ids') or []), 'batch')})."
    )
    print(
        "Rows with a null label kept the raw answer in label_error: nothing is guessed.\n"
        "For the real service: export SIRAYA_API_KEY=...; the same command then calls "
        "https://llm.siraya.pro/v1 (override with SIRAYA_BASE_URL)."
    )


def _cut(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."
