"""The command line's shared options, their parsing, and its exit statuses.

Global options (``--quiet``, ``--base-url``, ``--protocol``, ``--api-key``...) work before
or after the command: each command's parser gets a copy whose default is
``argparse.SUPPRESS``, so a value given after the command wins and none given leaves the one
given before it.

Examples
--------
>>> parse_params(["temperature=0", 'stop_sequences=["\\\\n"]', "user=ann"])
{'temperature': 0, 'stop_sequences': ['\\n'], 'user': 'ann'}
>>> parse_prices('{"my/model": {"input": 1, "output": 2}}')
{'my/model': {'input': 1, 'output': 2}}
>>> exit_status(BudgetExceededError("over"))
4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from siraya_frames._errors import (
    APIError,
    BudgetExceededError,
    InputError,
    JobStoreError,
    SirayaError,
    WaitTimeoutError,
)

__all__ = [
    "EXIT_BUDGET",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING_USABLE",
    "EXIT_OK",
    "EXIT_SERVICE",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "add_globals",
    "add_task_arguments",
    "exit_status",
    "parse_params",
    "parse_prices",
]

EXIT_OK = 0
EXIT_NOTHING_USABLE = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3
EXIT_BUDGET = 4
EXIT_TIMEOUT = 5
EXIT_INTERRUPTED = 130

EXIT_CODES = f"""\
exit status:
  {EXIT_OK}    done
  {EXIT_NOTHING_USABLE}    the job ended but nothing is usable: no request succeeded, or no answer
       gave a label / parsed as the schema (the output is still written)
  {EXIT_USAGE}    bad command line, input file, column, setting or job directory; nothing sent
  {EXIT_SERVICE}    the service, the network or the disk failed (resume: it re-attaches)
  {EXIT_BUDGET}    refused by --max-cost; nothing sent
  {EXIT_TIMEOUT}    --timeout ran out; the batches go on (wait again later)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); the batches go on
"""


def exit_status(exc: SirayaError | KeyboardInterrupt) -> int:
    """The exit status for an error that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BudgetExceededError):
        return EXIT_BUDGET
    if isinstance(exc, WaitTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(exc, APIError | JobStoreError):
        return EXIT_SERVICE
    return EXIT_USAGE  # input, configuration, job directory


def _option(parser: argparse.ArgumentParser, flags: list[str], top: bool, **kw: Any) -> None:
    if not top:
        kw["default"] = argparse.SUPPRESS
    parser.add_argument(*flags, **kw)


def add_globals(parser: argparse.ArgumentParser, *, top: bool, service: bool = True) -> None:
    """The options every command takes (``service``: those about the service too)."""
    _option(parser, ["--debug"], top, action="store_true", help="tracebacks and debug logs")
    _option(parser, ["--quiet"], top, action="store_true", help="no progress bars")
    if not service:
        return
    _option(parser, ["--base-url"], top, help="the service URL (default SIRAYA_BASE_URL)")
    _option(
        parser,
        ["--api-key"],
        top,
        dest="client_api_key",
        metavar="KEY",
        help="the API key (better: the SIRAYA_API_KEY variable; a command line is visible "
        "to other users in the process list)",
    )
    _option(
        parser,
        ["--protocol"],
        top,
        choices=["siraya", "anthropic", "openai"],
        help="the wire protocol (default SIRAYA_PROTOCOL, else siraya); the key comes from "
        "SIRAYA_API_KEY, ANTHROPIC_API_KEY or OPENAI_API_KEY",
    )
    _option(
        parser,
        ["--max-concurrency"],
        top,
        type=int,
        help="calls (creates, polls, downloads) sent at once (default 4, SIRAYA_MAX_CONCURRENCY)",
    )
    _option(
        parser,
        ["--rate-limit"],
        top,
        type=float,
        help="requests per minute for the whole job (SIRAYA_RATE_LIMIT; default: the "
        "protocol's, e.g. 50 for anthropic; 0: no limit)",
    )


def add_task_arguments(p: argparse.ArgumentParser) -> None:
    """What ``run`` and ``estimate`` take: the input, the prompt and the request options."""
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
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another Messages parameter, repeatable; VALUE is JSON when it parses, else "
        "text: -p temperature=0 -p stop_sequences='[\"END\"]'",
    )
    p.add_argument(
        "--prices",
        metavar="FILE|JSON",
        help='price overrides, USD per 1M tokens: \'{"MODEL": {"input": 0.15, "output": '
        "0.6}}' or a .json file of that",
    )
    p.add_argument("--max-requests", type=int, metavar="N", help="requests per batch at most")
    p.add_argument("--max-bytes", type=int, metavar="N", help="bytes per batch body at most")


def parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as request parameters (VALUE as JSON when it parses)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-p {item!r} is not KEY=VALUE; e.g. -p temperature=0")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw
    return params


def parse_prices(spec: str | None) -> dict[str, Any] | None:
    """``--prices``: inline JSON, or the path of a JSON file."""
    if spec is None:
        return None
    text = spec
    if not spec.lstrip().startswith("{"):
        if not Path(spec).is_file():
            raise InputError(f"--prices {spec!r}: neither JSON nor a file; {_PRICES_EXAMPLE}")
        text = Path(spec).read_text(encoding="utf-8")
    try:
        prices = json.loads(text)
    except ValueError as exc:
        raise InputError(
            f"--prices {spec!r} is not valid JSON ({exc}); {_PRICES_EXAMPLE}"
        ) from None
    if not isinstance(prices, dict):
        raise InputError(f"--prices must be a JSON object; {_PRICES_EXAMPLE}")
    return prices


_PRICES_EXAMPLE = 'e.g. --prices \'{"my/model": {"input": 0.15, "output": 0.6}}\''
