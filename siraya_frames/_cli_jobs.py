"""The ``siraya-frames`` commands on a job directory: status, wait, results, cancel, retry.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_job_commands(parser.add_subparsers())
>>> args = parser.parse_args(["retry", "jobs/a", "--rounds", "2"])
>>> args.job_dir, args.rounds, args.no_wait
('jobs/a', 2, False)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from siraya_frames import _cli_print as show

__all__ = ["add_job_commands"]


def _job(args: argparse.Namespace) -> Any:
    import siraya_frames as sf
    from siraya_frames._cli import _client
    from siraya_frames._store import JobStore

    protocol = JobStore(args.job_dir).load().protocol if args.base_url else None
    return sf.Job.open(args.job_dir, client=_client(args, protocol))


def _cmd_status(args: argparse.Namespace) -> int:
    job = _job(args)
    status = job.status()
    if args.json:
        totals = {k: getattr(status, k) for k in ("path", "total", "done", "failed", "finished")}
        print(json.dumps({**totals, "job": job._state.to_dict()}, indent=2, ensure_ascii=False))
        return 0
    show.print_status(status, every=args.batches)
    return 0


def _cmd_wait(args: argparse.Namespace) -> int:
    from siraya_frames._finish import output_after_wait

    job = _job(args).wait(timeout=args.timeout, progress=not args.quiet)
    status = job.status(refresh=False)
    print(status.text("cli"))
    if status.finished:
        print(output_after_wait(job))
    return show.status_outcome(status)


def _cmd_results(args: argparse.Namespace) -> int:
    from siraya_frames._finish import results_to_file

    what, n, counts = results_to_file(_job, args, args.output)
    said = ", ".join(f"{k:,} {v}" for v, k in counts.items())
    answers = " with their answers" if what == "row" else ""
    print(f"Wrote {show.plural(n, what)}{answers} to {args.output}: {said}")
    return 0 if counts.get("succeeded") else show.EXIT_NOTHING_USABLE


def _cmd_cancel(args: argparse.Namespace) -> int:
    status = _job(args).cancel()
    print(f"Cancel requested. {status.sentence()}")
    where = show.shlex.quote(status.path)
    print(
        "Finished results stay collectable: siraya-frames wait "
        f"{where}, then siraya-frames results {where} --output OUT.parquet."
    )
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    job = _job(args).retry_failed(
        include_canceled=args.include_canceled,
        include_invalid=args.include_invalid,
        max_rounds=args.rounds,
        wait=not args.no_wait,
        progress=not args.quiet,
    )
    status = job.status(refresh=False)
    print(status.text("cli"))
    return show.status_outcome(status)


def _add_job(sub: Any, name: str, help_text: str, example: str, func: Any) -> Any:
    p = sub.add_parser(
        name,
        help=help_text,
        description=f"{help_text}\n\nExample: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("job_dir", help="the job directory (printed when the job was submitted)")
    p.set_defaults(func=func)
    return p


def add_job_commands(sub: Any) -> None:
    """Add the commands that take a job directory to ``sub`` (the subcommands)."""
    s = _add_job(
        sub, "status", "show a job's batches and progress", "siraya-frames status DIR", _cmd_status
    )
    s.add_argument("--batches", action="store_true", help="list every batch, however many")
    s.add_argument("--json", action="store_true", help="print the job's whole state as JSON")
    w = _add_job(sub, "wait", "wait until a job's batches end", "siraya-frames wait DIR", _cmd_wait)
    w.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    r = _add_job(
        sub,
        "results",
        "write a job's results to a file (.parquet, .csv, .jsonl, .arrow)",
        "siraya-frames results DIR --output results.parquet",
        _cmd_results,
    )
    r.add_argument("--output", required=True, help="the file (.parquet, .csv, .jsonl, .arrow)")
    _add_job(
        sub, "cancel", "cancel a job's unfinished batches", "siraya-frames cancel DIR", _cmd_cancel
    )
    t = _add_job(
        sub,
        "retry",
        "resubmit failed, expired and missing requests",
        "siraya-frames retry DIR",
        _cmd_retry,
    )
    t.add_argument("--include-canceled", action="store_true", help="also resend canceled ones")
    t.add_argument("--include-invalid", action="store_true", help="also resend invalid ones")
    t.add_argument("--rounds", type=int, default=1, help="retry rounds at most (default 1)")
    t.add_argument("--no-wait", action="store_true", help="submit the retries and return")
