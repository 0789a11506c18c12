"""``siraya-frames preview INPUT -n 20 ...``: answer a few rows now and print them.

The arguments mirror ``run``'s (``--prompt``, ``--model``, ``--labels``, ``--schema``...);
the chosen rows are printed as a table with their input columns and the answer, label or
fields and error, never cut short, then the cost line.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_preview(parser.add_subparsers())
>>> args = parser.parse_args(["preview", "in.csv", "--model", "m", "-n", "5", "--random"])
>>> args.n, args.random, args.seed
(5, True, 0)
"""

from __future__ import annotations

import argparse
from typing import Any

import polars as pl

from siraya_frames._cli_args import EXIT_NOTHING_USABLE, EXIT_OK

__all__ = ["add_preview", "render_rows"]

_ANSWER_COLUMNS = ("response_text", "label", "label_error", "parse_error", "result_status",
                   "error_type", "error_message")  # fmt: skip
_HIDDEN = ("custom_id", "batch_id", "tool_calls", "stop_reason", "model", "input_tokens",
           "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")  # fmt: skip


def render_rows(out: pl.DataFrame, *, prefix: str = "") -> str:
    """The rows as a readable table: inputs and answers in full, bookkeeping columns left out.

    Examples
    --------
    >>> out = pl.DataFrame({"review": ["good"], "custom_id": ["x"],
    ...                     "response_text": ["positive " * 12], "result_status": ["succeeded"]})
    >>> "positive positive positive positive positive positive" in render_rows(out)
    True
    """
    hidden = {f"{prefix}{c}" for c in _HIDDEN} | {"custom_id"}
    shown = out.select([c for c in out.columns if c not in hidden])
    errors = [f"{prefix}error_type", f"{prefix}error_message"]
    unused = [c for c in errors if c in shown.columns and shown[c].null_count() == shown.height]
    shown = shown.drop(unused)  # no error columns when nothing failed
    widest = max((len(str(v)) for c in shown.columns for v in shown[c]), default=20)
    with pl.Config(
        tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=max(widest, 20),
        tbl_width_chars=max(120, widest * 2), tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True, fmt_table_cell_list_len=-1,
    ):  # fmt: skip
        return str(shown)


def _cmd_preview(args: argparse.Namespace) -> int:
    from siraya_frames._cli import _client, _read_table, _task_kwargs
    from siraya_frames._cli_args import parse_prices
    from siraya_frames._preview import answer_rows

    out, line = answer_rows(
        _read_table(args.input),
        _task_kwargs(args),
        n=args.n,
        sample="random" if args.random else "head",
        seed=args.seed,
        client=_client(args),
        prefix=args.prefix,
        max_cost_usd=args.max_cost,
        prices=parse_prices(args.prices),
        max_concurrency=args.max_concurrency,
        reuse=not args.no_reuse,
        answers_dir=args.answers_dir,
    )
    print(render_rows(out, prefix=args.prefix))
    print(line)
    return _outcome(out, args.prefix)


def _outcome(out: pl.DataFrame, prefix: str) -> int:
    """1 when no row is usable (no success; with labels or a schema, none parsed), as run."""
    usable = out[f"{prefix}result_status"] == "succeeded"
    for parsed in (f"{prefix}label", f"{prefix}parse_error"):
        if parsed in out.columns:
            ok = out[parsed].is_not_null() if parsed.endswith("label") else out[parsed].is_null()
            usable = usable & ok
    return EXIT_OK if usable.any() else EXIT_NOTHING_USABLE


def add_preview(sub: Any) -> None:
    """Register ``preview`` on the ``siraya-frames`` subcommands."""
    from siraya_frames._cli_args import add_task_arguments

    p = sub.add_parser(
        "preview",
        help="answer a few rows now (synchronous endpoint) and print them",
        description="Try a prompt on a few rows: each unique request is answered now by the "
        "service's synchronous endpoint (POST /v1/messages; OpenAI: /v1/chat/completions), "
        "at the standard price. Every answer is kept, and a later preview or run of the same "
        "request reuses it instead of paying again.\n\n"
        "Example: siraya-frames preview reviews.csv -n 20 --prompt 'Sentiment of: {review}' "
        "--model openai/gpt-4o-mini --labels positive,negative,neutral",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_task_arguments(p)
    p.add_argument("-n", type=int, default=20, help="how many rows (default 20)")
    p.add_argument("--random", action="store_true", help="a seeded random sample, not the head")
    p.add_argument("--seed", type=int, default=0, help="the seed of --random (default 0)")
    p.add_argument("--prefix", default="", help="prefix for the added columns")
    # --base-url, --api-key, --protocol, --max-concurrency...: the global options
    p.add_argument("--no-reuse", action="store_true", help="send again, even if answered")
    p.add_argument("--answers-dir", help="the answer store (default <job root>/answers)")
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="send nothing if the estimated cost (standard price, upper bound) is over USD",
    )
    p.set_defaults(func=_cmd_preview)
