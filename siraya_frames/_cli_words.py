"""The fixes that errors, notes and warnings suggest, in the command line's own words.

The library words its fixes for Python (``pass prices={...}``, ``api_key=...``,
``siraya_frames.Job.open(path).wait()``). The ``siraya-frames`` command prints every error,
note and warning through :func:`cli_words`, which rewrites each Python fix into the option
or variable that does the same there (``--prices FILE|JSON``, ``--api-key``,
``siraya-frames wait PATH``). ``tests/test_cli_output.py`` greps the package for fixes
worded for Python and fails on one this table does not cover.

Examples
--------
>>> cli_words("over max_cost_usd=0.5; nothing was sent. Raise max_cost_usd, lower max_tokens")
'over --max-cost 0.5; nothing was sent. Raise --max-cost, lower --max-tokens'
>>> cli_words("Resume with siraya_frames.Job.open('jobs/a').wait() or `siraya-frames wait jobs/a`.")
'Resume with `siraya-frames wait jobs/a`.'
"""

from __future__ import annotations

import re

__all__ = ["PYTHON_FIXES", "cli_words"]

_PRICES = '--prices FILE|JSON (e.g. --prices \'{"MODEL": {"input": 0.15, "output": 0.6}}\')'

PYTHON_FIXES: list[tuple[str, str]] = [
    # keys and URLs
    (
        r"pass api_key=\.\.\. to the client, or set the environment variable (\w+) "
        r"\(the siraya-frames command reads it from there\)",
        r"set the environment variable \1 (or pass --api-key KEY, which other users of this "
        r"machine can see in the process list)",
    ),
    (r"or the api_key argument", "or --api-key"),
    (
        r"[Pp]ass allow_insecure_http=True \(or set (\w+)=1\)",
        r"set \1=1",
    ),
    (r"check base_url and protocol", "check --base-url and --protocol"),
    # prices and budget
    (r"pass prices=\{.*?\}\}(?: \(USD per 1M tokens\))?", f"pass {_PRICES}, USD per 1M tokens"),
    (r"prices must be a dict like prices=\{.*?\}\} ", "--prices must be JSON like "),
    (r"max_cost_usd=([0-9.e+-]+)", r"--max-cost \1"),
    (r"[Rr]aise max_cost_usd", "Raise --max-cost"),
    (r"lower max_tokens", "lower --max-tokens"),
    (r"run fewer rows \(df\.head\(n\)\)", "run fewer rows"),
    (
        r"siraya_frames\.estimate\(\.\.\.\) shows the estimate",
        "`siraya-frames estimate` (or run --dry-run) shows the estimate",
    ),
    (r"pass model='<model name>' \(or the requests frame\) to summarize", "pass --model"),
    # columns, nulls, labels
    (r"pass prefix='(\w+)' \(or another\) to run\(\)", r"pass --prefix \1 (or another)"),
    (r"pass on_null='skip'", "pass --on-null skip"),
    (r"on_null='empty'", "--on-null empty"),
    (r"pass labels= or schema=, not both", "give --labels or --schema, not both"),
    (
        r"pass at least one field, e\.g\. \{\"name\": pl\.String\}",
        "give a field: --schema NAME:TYPE",
    ),
    # limits
    (r"lower max_bytes / max_requests", "lower --max-bytes / --max-requests"),
    (
        r"raise max_result_bytes= \(run, submit\) or --max-result-bytes \(siraya-frames run\)",
        "raise --max-result-bytes (siraya-frames run)",
    ),
    (r"\(argument max_concurrency=, or (\w+)\)", r"(--max-concurrency N, or \1)"),
    (r"\(argument rate_limit=, or (\w+)\)", r"(--rate-limit N, or \1)"),
    # jobs
    (
        r"Resume with siraya_frames\.Job\.open\('([^']*)'\)\.(?:wait\(\)|output\(\) \(the "
        r"frame and file run\(\) would have given\)) or (`siraya-frames wait [^`]*`)",
        r"Resume with \2",
    ),
    (r"siraya_frames\.Job\.open\('([^']*)'\)\.retry_failed\(\)", r"siraya-frames retry \1"),
    (
        r"pass a client made with protocol='(\w+)' \(or none: Job\.open makes one\), or use "
        r"another job_dir",
        r"pass --protocol \1 (or no --protocol), or use another --job-dir",
    ),
    (
        r"pass a client for that service, or another job_dir",
        "pass --base-url for that service, or another --job-dir",
    ),
    (r"Pass another job_dir, or delete", "Pass another --job-dir, or delete"),
]
"""(Python wording as a regular expression, CLI wording) pairs, applied in order."""

_COMPILED = [(re.compile(pattern), repl) for pattern, repl in PYTHON_FIXES]


def cli_words(text: str) -> str:
    """``text`` with every fix worded for Python reworded for the command line."""
    for pattern, repl in _COMPILED:
        text = pattern.sub(repl, text)
    return text
