"""The ``siraya-frames`` command: label files, follow jobs, run the emulator and the demo.

Expected errors print one clear line, in the command line's words (a traceback only with
``--debug``); the exit status says what happened (see ``EXIT_CODES`` in ``_cli_args.py``).

Examples
--------
>>> build_parser().parse_args(["status", "jobs/reviews"]).command
'status'
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from siraya_frames import __version__
from siraya_frames import _cli_print as show
from siraya_frames._cli_args import (
    EXIT_CODES,
    add_globals,
    add_task_arguments,
    exit_status,
    parse_params,
    parse_prices,
)
from siraya_frames._cli_jobs import add_job_commands
from siraya_frames._cli_models import add_models
from siraya_frames._cli_preview import add_preview
from siraya_frames._cli_words import cli_words
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
        inner = kind[5:-1] if kind.startswith("list[") and kind.endswith("]") else ""
        dtype = pl.List(_TYPES[inner]) if inner in _TYPES else _TYPES.get(kind)
        if not name.strip() or dtype is None:
            raise InputError(
                f"--schema entry {part!r} is not NAME:TYPE; TYPE is one of "
                f"{', '.join(_TYPES)} or list[TYPE], e.g. --schema 'name:str,year:int'"
            )
        schema[name.strip()] = dtype
    return schema


def _read_table(path: str) -> pl.DataFrame:
    from siraya_frames._frames import read_table

    return read_table(path)


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
        **parse_params(args.param),
    }


def _client(args: argparse.Namespace, protocol: str | None = None) -> Any:
    from siraya_frames._client import SirayaClient

    protocol = protocol or args.protocol
    pace = {"max_concurrency": args.max_concurrency, "rate_limit": args.rate_limit}
    given = (args.base_url, args.client_api_key, protocol, *pace.values())
    if any(v is not None for v in given):
        return SirayaClient(args.client_api_key, base_url=args.base_url, protocol=protocol, **pace)
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
    prices = parse_prices(args.prices)
    out = sf.run(
        df,
        **kwargs,
        output=args.output,
        job_dir=args.job_dir,
        client=_client(args),
        wait=not args.no_wait,
        prefix=args.prefix,
        progress=not args.quiet,
        show_summary=False,
        max_cost_usd=args.max_cost,
        prices=prices,
        max_requests=args.max_requests,
        max_bytes=args.max_bytes,
        max_result_bytes=args.max_result_bytes,
        reuse=not args.no_reuse,
        answers_dir=args.answers_dir,
    )
    if isinstance(out, sf.Job):
        print(show.submitted_text(len(out.batch_ids), str(out.path)))
        return 0
    print(f"Wrote {show.plural(out.height, 'row')} to {args.output}")
    return show.run_outcome(
        out, prefix=args.prefix, job_path=_job_path(args), model=args.model, prices=prices
    )


def _job_path(args: argparse.Namespace) -> str | None:
    """The job directory of a finished ``run``: --job-dir, else the default one."""
    from siraya_frames import read_provenance
    from siraya_frames._job import _default_job_dir

    job_id = read_provenance(args.output).get("job_id")
    return args.job_dir or (str(_default_job_dir(job_id)) if job_id else None)


def _cmd_estimate(args: argparse.Namespace) -> int:
    import siraya_frames as sf

    # the very arguments run gets, through the one prepare step: the figures run spends
    est = sf.estimate(
        _read_table(args.input),
        **_task_kwargs(args),
        prices=parse_prices(args.prices),
        protocol=args.protocol,
        max_requests=args.max_requests,
        max_bytes=args.max_bytes,
    )
    show.print_estimate(est)
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
    show.print_demo(out, args.output)
    return 0


# --------------------------------------------------------------------------- parser


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="label or transform every row of a file",
        description="Build requests from each row, submit them as batches, wait, and write "
        "the rows with the answers to --output. Safe to re-run: it re-attaches to its job.\n\n"
        "Example: siraya-frames run reviews.csv --prompt 'Sentiment of: {review}' "
        "--model openai/gpt-4o-mini-batch --labels positive,negative,neutral "
        "--output labeled.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_task_arguments(p)
    p.add_argument("--output", help="the file to write (.parquet, .csv, .jsonl or .arrow)")
    p.add_argument("--job-dir", help="where the job is saved (default: derived from the requests)")
    p.add_argument("--prefix", default="", help="prefix for the added columns")
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
    p.add_argument("--no-reuse", action="store_true", help="send even what a preview answered")
    p.add_argument("--answers-dir", help="the answer store (default <job root>/answers)")
    p.set_defaults(func=_cmd_run)


def _add_estimate(sub: Any) -> None:
    p = sub.add_parser(
        "estimate",
        help="count requests, batches, tokens and cost; send nothing",
        description="Example: siraya-frames estimate reviews.csv --prompt '{review}' "
        "--model openai/gpt-4o-mini-batch",
    )
    add_task_arguments(p)
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
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_globals(parser, top=True)
    parser.add_argument("--version", action="version", version=f"siraya-frames {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_estimate(sub)
    add_preview(sub)
    add_job_commands(sub)
    _add_serve(sub)
    _add_demo(sub)
    add_models(sub)
    for name, command in sub.choices.items():  # global options after the command too
        add_globals(command, top=False, service=name not in ("serve", "demo"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return args.func(args)
        except SirayaError as exc:
            if args.debug:
                raise
            print(f"error: {cli_words(str(exc))}", file=sys.stderr)
            for note in getattr(exc, "__notes__", []):
                print(cli_words(note), file=sys.stderr)
            return exit_status(exc)
        except KeyboardInterrupt as exc:
            return exit_status(exc)
        finally:
            show.print_warnings(caught)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
