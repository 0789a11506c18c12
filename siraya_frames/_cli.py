"""The ``siraya-frames`` command: label files, follow jobs, run the emulator and the demo.

Expected errors print one clear line and exit 1 (a traceback only with ``--debug``).

Examples
--------
>>> build_parser().parse_args(["status", "jobs/reviews"]).command
'status'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import polars as pl

from siraya_frames._cli_preview import add_preview
from siraya_frames._errors import InputError, SirayaError

__all__ = ["build_parser", "main", "parse_schema_spec"]

_DESCRIPTION = """\
Label or transform a table with an LLM through Siraya's batch API (half the real-time price).

Start with `siraya-frames demo`: it runs the whole job on a local emulator, no key needed.
For the real service set SIRAYA_API_KEY (and SIRAYA_BASE_URL if yours differs).
"""

_TYPES: dict[str, Any] = {
    "str": pl.String,
    "string": pl.String,
    "int": pl.Int64,
    "float": pl.Float64,
    "bool": pl.Boolean,
    "date": pl.Date,
}


def parse_schema_spec(spec: str) -> dict[str, Any]:
    """Parse ``"name:str,year:int,tags:list[str]"`` into a Polars schema.

    Examples
    --------
    >>> parse_schema_spec("name:str, tags:list[str]")
    {'name': String, 'tags': List(String)}
    """
    schema: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, kind = part.partition(":")
        kind = kind.strip().lower()
        inner = kind[5:-1] if kind.startswith("list[") and kind.endswith("]") else None
        dtype = pl.List(_TYPES.get(inner)) if inner in _TYPES else _TYPES.get(kind)
        if not name.strip() or dtype is None:
            raise InputError(
                f"--schema entry {part!r} is not NAME:TYPE; TYPE is one of "
                f"{', '.join(_TYPES)} or list[TYPE], e.g. --schema 'name:str,year:int'"
            )
        schema[name.strip()] = dtype
    return schema


def _read_table(path: str) -> pl.DataFrame:
    suffix = Path(path).suffix.lower()
    readers = {
        ".parquet": pl.read_parquet,
        ".csv": pl.read_csv,
        ".jsonl": pl.read_ndjson,
        ".ndjson": pl.read_ndjson,
    }
    if suffix not in readers:
        raise InputError(f"{path}: unknown file type {suffix!r}; use .parquet, .csv or .jsonl")
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    return readers[suffix](path)


def _prompt_of(args: argparse.Namespace) -> str:
    if args.prompt_file:
        return Path(args.prompt_file).read_text()
    if args.prompt:
        return args.prompt
    raise InputError("give the prompt with --prompt TEXT or --prompt-file FILE")


def _task_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "prompt": _prompt_of(args),
        "model": args.model,
        "max_tokens": args.max_tokens,
        "system": args.system,
        "labels": [x.strip() for x in args.labels.split(",")] if args.labels else None,
        "abstain": args.abstain,
        "schema": parse_schema_spec(args.schema) if args.schema else None,
        "on_null": args.on_null,
    }


def _client(args: argparse.Namespace, protocol: str | None = None) -> Any:
    from siraya_frames._client import SirayaClient

    protocol = protocol or getattr(args, "protocol", None)
    pace = {
        "max_concurrency": getattr(args, "max_concurrency", None),
        "rate_limit": getattr(args, "rate_limit", None),
    }
    if getattr(args, "base_url", None) or protocol or any(v is not None for v in pace.values()):
        return SirayaClient(base_url=getattr(args, "base_url", None), protocol=protocol, **pace)
    return None


# --------------------------------------------------------------------------- commands


def _cmd_run(args: argparse.Namespace) -> int:
    import siraya_frames as sf

    if args.dry_run:
        return _cmd_estimate(args)
    if not args.output and not args.no_wait:
        raise InputError(
            "run needs --output OUT.parquet for the labelled rows (or --no-wait to submit "
            "only, or --dry-run to estimate)"
        )
    df = _read_table(args.input)
    kwargs = _task_kwargs(args)
    out = sf.run(
        df,
        **kwargs,
        output=args.output,
        job_dir=args.job_dir,
        client=_client(args),
        wait=not args.no_wait,
        prefix=args.prefix,
        progress=not args.quiet,
        max_cost_usd=args.max_cost,
        max_result_bytes=args.max_result_bytes,
    )
    if isinstance(out, sf.Job):
        print(f"Submitted {len(out.batch_ids)} batch(es); job saved in {out.path}")
        print(
            f"Follow it with: siraya-frames status {out.path} (or siraya-frames wait {out.path})."
        )
        print(
            "Then run this same command again with --output OUT.parquet instead of --no-wait: "
            "it re-attaches, sends nothing, and writes your rows with their answers."
        )
        return 0
    print(f"Wrote {out.height} rows to {args.output}")
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    import siraya_frames as sf
    from siraya_frames._run import _task_prompt

    kwargs = _task_kwargs(args)
    template = _task_prompt(kwargs["prompt"], kwargs["labels"], kwargs["abstain"], kwargs["schema"])
    requests = sf.build_requests(
        _read_table(args.input),
        prompt=template,
        model=kwargs["model"],
        max_tokens=kwargs["max_tokens"],
        system=kwargs["system"],
        on_null=kwargs["on_null"],
    )
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=200):
        est = sf.estimate(requests, protocol=getattr(args, "protocol", None))
        print(est.transpose(include_header=True, column_names=["value"]))
    print("Dry run: nothing was sent.")
    return 0


def _job(args: argparse.Namespace) -> Any:
    import siraya_frames as sf
    from siraya_frames._store import JobStore

    protocol = JobStore(args.job_dir).load().protocol if args.base_url else None
    return sf.Job.open(args.job_dir, client=_client(args, protocol))


SHOWN_BATCHES = 20
"""``siraya-frames status`` lists every batch up to this many (more with ``--batches``)."""


def _cmd_status(args: argparse.Namespace) -> int:
    job = _job(args)
    status = job.status()
    if args.json:
        totals = {k: getattr(status, k) for k in ("path", "total", "done", "failed", "finished")}
        print(json.dumps({**totals, "job": job._state.to_dict()}, indent=2, ensure_ascii=False))
        return 0
    every = args.batches or status.batches.height <= SHOWN_BATCHES
    with pl.Config(tbl_cols=-1, tbl_rows=-1 if every else 10, tbl_width_chars=200):
        print(status.batches)
    if not every:
        print(
            f"({status.batches.height} batches: --batches lists them all, --json the whole state)"
        )
    print(repr(status))
    return 0


def _cmd_wait(args: argparse.Namespace) -> int:
    job = _job(args).wait(timeout=args.timeout, progress=not args.quiet)
    print(repr(job.status(refresh=False)))
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    import siraya_frames as sf

    job = _job(args)
    results = job.results()
    sf.write_parquet(results, args.output, job=job)
    counts = dict(results["result_status"].value_counts().iter_rows())
    print(f"Wrote {results.height} results to {args.output}: {counts}")
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    print(repr(_job(args).cancel()))
    print("Finished results stay collectable: siraya-frames wait JOB_DIR, then results.")
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    job = _job(args).retry_failed(
        include_canceled=args.include_canceled,
        include_invalid=args.include_invalid,
        max_rounds=args.rounds,
        wait=not args.no_wait,
        progress=not args.quiet,
    )
    print(repr(job.status(refresh=False)))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from siraya_frames.emulator._cli import serve

    return serve(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from siraya_frames._demo import run_demo

    print(
        "Labelling the bundled sample reviews on the embedded Siraya emulator (no key, no "
        "network).\nThe answers come from the emulator's synthetic keyword model, not an LLM.\n"
    )
    out = run_demo(args.output, rows=args.rows, progress=not args.quiet)
    _print_demo(out, args.output)
    return 0


def _print_demo(out: pl.DataFrame, output: str) -> None:
    from siraya_frames import read_provenance

    prov = read_provenance(output)
    with pl.Config(tbl_cols=-1, tbl_width_chars=160, fmt_str_lengths=60, tbl_rows=8):
        print(out.select("review", "label", "label_error", "result_status").head(8))
        print(out.group_by("label").len().sort("len", descending=True))
    print(
        f"\nWrote {out.height} rows to {output} ({prov.get('unique_requests')} unique "
        f"requests, outcomes {prov.get('outcomes')}, batches {prov.get('batch_ids')})."
    )
    print(
        "Rows with a null label kept the raw answer in label_error: nothing is guessed.\n"
        "For the real service: export SIRAYA_API_KEY=...; the same code then calls "
        "https://llm.siraya.pro/v1 (override with SIRAYA_BASE_URL)."
    )


# --------------------------------------------------------------------------- parser


def _add_task_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a .parquet, .csv or .jsonl file of rows")
    p.add_argument("--prompt", help="template over columns, e.g. 'Classify: {review}'")
    p.add_argument("--prompt-file", help="read the prompt template from this file")
    p.add_argument("--model", required=True, help="e.g. openai/gpt-4o-mini-batch")
    p.add_argument("--max-tokens", type=int, default=1024, help="default 1024")
    p.add_argument("--system", help="a system prompt (literal or template)")
    p.add_argument("--labels", help="comma-separated labels, e.g. positive,negative,neutral")
    p.add_argument("--abstain", help="an extra label for 'none applies', e.g. unknown")
    p.add_argument("--schema", help="fields to extract, e.g. 'name:str,year:int,tags:list[str]'")
    p.add_argument(
        "--on-null",
        default="error",
        choices=["error", "skip", "empty"],
        help="what a null in a prompt column does (default: error)",
    )


def _add_pace(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-concurrency",
        type=int,
        help="calls (creates, polls, downloads) sent at once (default 4, SIRAYA_MAX_CONCURRENCY)",
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        help="requests per minute for the whole job (SIRAYA_RATE_LIMIT; default: the "
        "protocol's, e.g. 50 for anthropic; 0: no limit)",
    )


def _add_job(sub: Any, name: str, help_text: str, example: str, func: Any) -> Any:
    p = sub.add_parser(
        name,
        help=help_text,
        description=f"{help_text}\n\nExample: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("job_dir", help="the job directory (printed when the job was submitted)")
    p.add_argument("--base-url", help="override the service URL saved in the job")
    _add_pace(p)
    p.set_defaults(func=func)
    return p


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="label or transform every row of a file",
        description="Build requests from each row, submit them as batches, wait, and write "
        "the rows with the answers to Parquet. Safe to re-run: it re-attaches to its job.\n\n"
        "Example: siraya-frames run reviews.csv --prompt 'Sentiment of: {review}' "
        "--model openai/gpt-4o-mini-batch --labels positive,negative,neutral "
        "--output labeled.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_task_arguments(p)
    p.add_argument("--output", help="the Parquet file to write")
    p.add_argument("--job-dir", help="where the job is saved (default: derived from the requests)")
    p.add_argument("--prefix", default="", help="prefix for the added columns")
    p.add_argument("--base-url", help="the service URL (default SIRAYA_BASE_URL)")
    _add_pace(p)
    _add_protocol(p)
    p.add_argument("--no-wait", action="store_true", help="submit and return; collect later")
    p.add_argument("--dry-run", action="store_true", help="print the estimate; send nothing")
    p.add_argument(
        "--max-result-bytes",
        type=int,
        metavar="N",
        help="the most one batch's results download may bring (default: derived from its "
        "requests and --max-tokens)",
    )
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="send nothing if the estimated cost (batch price, upper bound) is over USD",
    )
    p.set_defaults(func=_cmd_run)


def _add_protocol(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--protocol",
        choices=["siraya", "anthropic", "openai"],
        help="the wire protocol (default SIRAYA_PROTOCOL, else siraya); the key comes from "
        "SIRAYA_API_KEY, ANTHROPIC_API_KEY or OPENAI_API_KEY",
    )


def _add_estimate(sub: Any) -> None:
    p = sub.add_parser(
        "estimate",
        help="count requests, batches, tokens and cost; send nothing",
        description="Example: siraya-frames estimate reviews.csv --prompt '{review}' "
        "--model openai/gpt-4o-mini-batch",
    )
    _add_task_arguments(p)
    _add_protocol(p)
    p.set_defaults(func=_cmd_estimate)


def _add_serve(sub: Any) -> None:
    from siraya_frames.emulator._cli import add_arguments

    p = sub.add_parser(
        "serve",
        help="run the local Siraya batch API emulator",
        description="Serve a local emulator of Siraya's batch API (127.0.0.1 by default).\n\n"
        "Example: siraya-frames serve --port 8000 --api-key test-key",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=_cmd_serve)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="label a sample dataset on the embedded emulator (no key needed)",
        description="Example: siraya-frames demo  (writes demo_labeled.parquet here)",
    )
    p.add_argument("--output", default="demo_labeled.parquet", help="default demo_labeled.parquet")
    p.add_argument("--rows", type=int, help="label only the first N rows")
    p.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``siraya-frames``."""
    parser = argparse.ArgumentParser(
        prog="siraya-frames",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_estimate(sub)
    add_preview(sub)
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
        "write a job's results to Parquet",
        "siraya-frames results DIR --output results.parquet",
        _cmd_results,
    )
    r.add_argument("--output", required=True, help="the Parquet file to write")
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
    _add_serve(sub)
    _add_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except SirayaError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(note, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
