"""``siraya-frames models``: list the service's models, one id per line.

Examples
--------
>>> from siraya_frames._cli import build_parser
>>> args = build_parser().parse_args(["models", "--long", "--protocol", "anthropic"])
>>> args.long, args.protocol
(True, 'anthropic')
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from siraya_frames._errors import APIStatusError, NotFoundError

__all__ = ["add_models"]

_NOT_LISTED = (405, 501)
"""Statuses (with 404) that mean the service has no model list."""


def _cmd_models(args: argparse.Namespace) -> int:
    from siraya_frames._client import SirayaClient
    from siraya_frames._models import models

    with SirayaClient(
        args.client_api_key, base_url=args.base_url, protocol=args.protocol
    ) as client:
        try:
            frame = models(client)
        except APIStatusError as exc:
            if isinstance(exc, NotFoundError) or exc.status_code in _NOT_LISTED:
                print(
                    f"error: {client.base_url} does not list its models ({exc}); run still works, "
                    "it just cannot check the model names first",
                    file=sys.stderr,
                )
                return 1
            raise
    if args.long:
        with_cols = [c for c in frame.columns if frame[c].null_count() < frame.height]
        print(frame.select(with_cols))
    elif frame.is_empty():
        print(f"{client.base_url} lists no models", file=sys.stderr)
    else:
        print("\n".join(frame["id"].to_list()))
    return 0


def add_models(sub: Any) -> argparse.ArgumentParser:
    """Add the ``models`` command to the ``siraya-frames`` subparsers; return its parser."""
    p = sub.add_parser(
        "models",
        help="list the service's models (GET /models)",
        description="List the models the service offers, one id per line, so --model can be "
        "checked before anything is spent.\n\nExample: siraya-frames models --protocol openai",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --protocol, --base-url, --api-key: the global options (siraya_frames._cli_args)
    p.add_argument("--long", action="store_true", help="a table: id, and names, owners, dates")
    p.set_defaults(func=_cmd_models)
    return p
