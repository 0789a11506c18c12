"""What a run is about to spend: the ``max_cost_usd`` check, and one line said before submit.

Both read the one estimate of :class:`~siraya_frames._prepare.Prepared`, so the line, the
budget and ``sf.estimate(df, **run_args)`` agree to the token. A re-run that re-attaches to
its job says what the job already holds rather than announcing the spend again.

Examples
--------
>>> est = {"unique_requests": 315, "batches": 1, "estimated_cost_usd": 0.0123}
>>> print(spend_line(est))  # doctest: +NORMALIZE_WHITESPACE
Sending 315 requests in 1 batch, up to $0.0123 at the batch price
(estimate; prices as of 2026-11-01).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import polars as pl

from siraya_frames._answers import lookup_answers, service_id
from siraya_frames._config import resolve_base_url
from siraya_frames._display import plural
from siraya_frames._errors import BudgetExceededError, ConfigurationError, SirayaError
from siraya_frames._estimate import PRICES_AS_OF, estimate_planned
from siraya_frames._job import _default_job_dir, _job_id
from siraya_frames._prepare import Prepared
from siraya_frames._report import say
from siraya_frames._store import JobStore

logger = logging.getLogger("siraya_frames")

__all__ = ["announce", "check_budget", "spend_line"]


def _money(cost: float | None) -> str:
    if cost is None:
        return "at a cost not known (no price for a model: pass prices=)"
    return f"up to {money(cost)} at the batch price (estimate; prices as of {PRICES_AS_OF})"


def money(usd: float) -> str:
    """Dollars to 4 decimals, or 2 significant digits below a cent.

    Examples
    --------
    >>> money(12345.678), money(0.0123), money(0.0000123), money(0)
    ('$12,345.6780', '$0.0123', '$0.000012', '$0.0000')
    """
    if 0 < usd < 0.01:
        return f"${usd:.{1 - math.floor(math.log10(usd))}f}"
    return f"${usd:,.4f}"


def spend_line(est: dict[str, Any]) -> str:
    """One sentence: the requests, batches and upper-bound cost about to be sent.

    Examples
    --------
    >>> print(spend_line({"unique_requests": 1, "batches": 2, "estimated_cost_usd": None}))
    Sending 1 request in 2 batches, at a cost not known (no price for a model: pass prices=).
    """
    requests, batches = est["unique_requests"], est["batches"]
    return (
        f"Sending {plural(requests, 'request')} in {plural(batches, 'batch')}, "
        f"{_money(est['estimated_cost_usd'])}."
    )


def check_budget(prep: Prepared, max_cost_usd: float) -> None:
    """Refuse a run whose estimated batch cost is over ``max_cost_usd``, before any spend."""
    est = prep.estimate().row(0, named=True)
    cost = est["estimated_cost_usd"]
    shown_by = (
        f"{prep.estimate_call()} with the same arguments as this run (or "
        "sf.run(..., dry_run=True)) shows this estimate"
    )
    if cost is None:
        raise BudgetExceededError(
            f"max_cost_usd={max_cost_usd} cannot be checked: {est['note']}; {shown_by}"
        )
    if cost > max_cost_usd:
        raise BudgetExceededError(
            f"the run is estimated at up to ${cost:,.4f} at the batch price "
            f"({est['unique_requests']:,} unique requests, "
            f"{est['estimated_input_tokens']:,} input tokens, up to "
            f"{est['max_output_tokens']:,} output tokens), over max_cost_usd={max_cost_usd}; "
            "nothing was sent. Raise max_cost_usd, lower max_tokens, or run fewer rows "
            f"(df.head(n)). {shown_by}."
        )
    logger.info("estimated cost up to $%.4f, within max_cost_usd=%s", cost, max_cost_usd)


def announce(
    prep: Prepared,
    *,
    client: Any,
    job_dir: Any,
    show: bool,
    reuse: bool = True,
    answers_dir: Any = None,
) -> str | None:
    """Say, before submit, what the run is about to spend (or what its job already holds).

    Always logged at INFO; shown (stderr in a terminal, the cell's output in a notebook)
    when ``show``. Returns the line (``None`` when there is nothing to send: submit says so).
    """
    if prep.unique.is_empty():
        return None
    path = Path(job_dir) if job_dir is not None else _default_path(prep, client)
    store = JobStore(path) if path is not None else None
    line = _reattach_line(prep, store) if store is not None and store.exists() else None
    line = line or _new_job_line(prep, _base_url(prep, client), reuse, answers_dir)
    logger.info("%s", line)
    if show:
        say(line)
    return line


def _base_url(prep: Prepared, client: Any) -> str | None:
    """The service URL, resolved as the client submit makes would; ``None`` when it is
    refused: submit says why."""
    if client is not None:
        return str(client.base_url)
    wire = prep.wire
    try:
        return resolve_base_url(None, env_var=wire.env_base_url, default=wire.default_base_url)
    except ConfigurationError:
        return None


def _default_path(prep: Prepared, client: Any) -> Path | None:
    """The job directory submit will derive (from the ids and the service URL)."""
    base_url = _base_url(prep, client)
    return (
        None if base_url is None else _default_job_dir(_job_id(prep.unique["custom_id"], base_url))
    )


def _new_job_line(
    prep: Prepared, base_url: str | None, reuse: bool, answers_dir: Any = None
) -> str:
    """The spend line of a new job; the answers :func:`~siraya_frames.preview` already got
    to some of its requests are reused (see ``submit``), so they are left out of it."""
    answered = pl.Series("custom_id", [], pl.String)
    if reuse and base_url is not None:
        service = service_id(prep.wire.name, base_url)
        stored = lookup_answers(prep.unique["custom_id"], service=service, answers_dir=answers_dir)
        answered = stored["custom_id"]
    found = answered.len()
    if not found:
        return spend_line(prep.estimate().row(0, named=True))
    rest = prep.unique.filter(~pl.col("custom_id").is_in(answered.implode()))
    if rest.is_empty():
        return f"Nothing to send: all {plural(found, 'request')} were answered earlier (preview)."
    requests = prep.requests.filter(pl.col("custom_id").is_in(rest["custom_id"].implode()))
    est = estimate_planned(requests, rest, prep.prices, max_requests=prep.max_requests,
                           max_bytes=prep.max_bytes, protocol=prep.wire.name)  # fmt: skip
    line = spend_line(est.row(0, named=True)).removesuffix(".")
    return f"{line}; {plural(found, 'answer')} from earlier previews reused, not paid again."


def _reattach_line(prep: Prepared, store: JobStore) -> str | None:
    """``Re-attaching to ...: it holds N requests in B batches; ...``; None if unreadable."""
    try:
        state = store.load()
        held = store.read_requests(["custom_id"])
    except (SirayaError, OSError, pl.exceptions.PolarsError):  # submit reports it precisely
        return None
    new = prep.unique.join(held, on="custom_id", how="anti")
    head = (
        f"Re-attaching to the job in {store.path}: it holds "
        f"{plural(state.n_requests, 'request')} in {plural(len(state.batches), 'batch')}"
    )
    if new.is_empty():
        return f"{head}; nothing new to send, nothing is paid twice."
    ids = new["custom_id"]
    requests = prep.requests.filter(pl.col("custom_id").is_in(ids.implode()))
    est = estimate_planned(requests, new, prep.prices, max_requests=prep.max_requests,
                           max_bytes=prep.max_bytes, protocol=prep.wire.name)  # fmt: skip
    more = spend_line(est.row(0, named=True)).replace("Sending", "sending", 1)
    return f"{head}; {more}"
