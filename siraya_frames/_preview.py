"""``preview``: try a prompt on a few rows now, through the service's synchronous endpoint.

It takes ``run``'s arguments and gives ``run``'s columns (answers, labels or extracted
fields, errors) for ``n`` rows, chosen by ``head`` or a seeded random sample. Each unique
request is sent once, concurrently (``_sync.py``), and every answer is kept in the answer
store (``_answers.py``): a later ``preview`` or ``run`` of the same request on the same
service reuses it instead of paying again. The cost is shown at the standard (non-batch)
price.

Examples
--------
>>> import polars as pl, tempfile, siraya_frames as sf
>>> from siraya_frames.emulator import Emulator
>>> def model(params, *, custom_id):  # a stand-in model: answers the review's first line
...     return params["messages"][-1]["content"].splitlines()[0]
>>> df = pl.DataFrame({"review": ["positive", "negative", "so-so"]})
>>> store = tempfile.mkdtemp()
>>> with Emulator(responder=model) as emu, sf.SirayaClient("k", emu.base_url) as client:
...     out = sf.preview(df, n=2, prompt="{review}", model="m", labels=["positive", "negative"],
...                      client=client, answers_dir=store, show_summary=False)
>>> out.select("review", "label").rows()
[('positive', 'positive'), ('negative', 'negative')]
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import polars as pl

from siraya_frames import _config
from siraya_frames._answers import lookup_answers, save_answers, service_id
from siraya_frames._client import SirayaClient
from siraya_frames._display import plural
from siraya_frames._errors import (
    BudgetExceededError,
    ConfigurationError,
    InputError,
    JobStoreError,
)
from siraya_frames._estimate import estimate_planned
from siraya_frames._finish import _add_task_columns
from siraya_frames._frames import like_input, to_polars
from siraya_frames._join import join_results
from siraya_frames._lines_common import RESULT_SCHEMA
from siraya_frames._models import check_models
from siraya_frames._prepare import prepare
from siraya_frames._report import say
from siraya_frames._summary import _cost_record, _per_model_tokens, _request_models
from siraya_frames._sync import answer_now
from siraya_frames._unique import collect_streaming

logger = logging.getLogger("siraya_frames")

__all__ = ["DEFAULT_PREVIEW_ROWS", "answer_rows", "preview"]

DEFAULT_PREVIEW_ROWS = 20
SAMPLES = ("head", "random")
_ROW = "__siraya_preview_row"


def pick_rows(df: pl.DataFrame | pl.LazyFrame, n: int, sample: str, seed: int) -> pl.DataFrame:
    """The first ``n`` rows, or ``n`` rows drawn with ``seed`` (kept in their order).

    Examples
    --------
    >>> pick_rows(pl.DataFrame({"a": range(10)}), 3, "random", 0)["a"].to_list()
    [0, 6, 9]
    """
    if sample not in SAMPLES:
        raise InputError(f"sample={sample!r}: use 'head' or 'random'")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n={n!r}: give how many rows to preview (an integer >= 1)")
    if sample == "head":
        return collect_streaming(df.head(n))
    frame = collect_streaming(df)
    rows = sorted(random.Random(seed).sample(range(frame.height), min(n, frame.height)))
    return frame[rows]


def _check_budget(requests: pl.DataFrame, unique: pl.DataFrame, limit: float, prices: Any) -> None:
    est = estimate_planned(requests, unique, prices).row(0, named=True)
    cost = est["standard_cost_usd"]
    if cost is None:
        raise BudgetExceededError(f"max_cost_usd={limit} cannot be checked: {est['note']}")
    if cost > limit:
        raise BudgetExceededError(
            f"the preview is estimated at up to ${cost:,.4f} at the standard price "
            f"({est['unique_requests']:,} unique requests), over max_cost_usd={limit}; nothing "
            "was sent. Raise max_cost_usd, lower max_tokens, or preview fewer rows (n=)"
        )


def _cost_line(
    rows: int, unique: int, sent: pl.DataFrame, reused: int, models: pl.DataFrame, prices: Any
) -> str:
    """One line: rows, requests sent and reused, and the cost of those sent."""
    cost = _cost_record(_per_model_tokens(sent, "", models, None), prices)
    usd = cost["standard_cost_usd"]
    money = f"${usd:,.4f} at the standard (non-batch) price" if usd is not None else cost["note"]
    return (
        f"preview: {plural(rows, 'row')}, {plural(unique, 'unique request')}: {sent.height:,} "
        f"sent, {reused:,} reused "
        f"from earlier answers (not paid again); {money}"
    )


def preview(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    n: int = DEFAULT_PREVIEW_ROWS,
    sample: str = "head",
    seed: int = 0,
    prompt: str | None = None,
    model: str | pl.Expr,
    max_tokens: int | pl.Expr = _config.DEFAULT_MAX_TOKENS,
    messages: str | None = None,
    system: str | pl.Expr | None = None,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    abstain: str | None = None,
    schema: Mapping[str, Any] | None = None,
    client: SirayaClient | None = None,
    prefix: str = "",
    max_cost_usd: float | None = None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    protocol: str | None = None,
    max_concurrency: int | None = None,
    reuse: bool = True,
    answers_dir: str | os.PathLike[str] | None = None,
    show_summary: bool = True,
    output: Any = None,
    job_dir: Any = None,
    wait: Any = True,
    timeout: Any = None,
    progress: Any = True,
    max_requests: Any = None,
    max_bytes: Any = None,
    max_result_bytes: Any = None,
    **params: Any,
) -> pl.DataFrame:
    """Answer ``n`` rows now, with the same arguments and columns as :func:`run`.

    Parameters
    ----------
    df
        The rows.
    n
        How many rows to preview.
    sample
        ``"head"`` (the first ``n``) or ``"random"`` (``n`` drawn with ``seed``, in order).
    seed
        The seed of the random sample.
    prompt, model, max_tokens, messages, system, labels, abstain, schema, prefix, prices
        As for :func:`run`; ``**params`` too.
    client
        A :class:`SirayaClient` (its retry policy and rate limit apply); by default one for
        ``protocol`` from its environment variables.
    max_cost_usd
        Send nothing when the estimate at the standard price is over this many dollars.
    protocol
        As for :func:`run`, when no ``client`` is passed.
    max_concurrency
        Requests in flight at once; default the client's ``max_concurrency`` (4).
    reuse
        Reuse the stored answers to the same requests on the same service (``False``:
        send every request again).
    answers_dir
        The answer store; default ``<job root>/answers`` (``SIRAYA_ANSWERS_DIR``).
    show_summary
        Print the cost line (rows, requests sent and reused, cost) to stderr.
    output, job_dir, wait, timeout, progress, max_requests, max_bytes, max_result_bytes
        Accepted so a :func:`run` call's arguments can be passed as they are; a preview
        has no job, batches or output file, so they are not used.

    Returns
    -------
    pl.DataFrame
        The chosen rows in their order with :func:`run`'s answer columns.

    Raises
    ------
    AuthenticationError, PermissionDeniedError
        The key was refused; nothing more is sent. Any other HTTP error answer is the
        row's ``error_type`` / ``error_message``.
    BudgetExceededError, InputError
        Before anything is sent.
    """
    task = {"prompt": prompt, "model": model, "max_tokens": max_tokens, "messages": messages,
            "system": system, "labels": labels, "abstain": abstain, "schema": schema}  # fmt: skip
    task.update(params)
    out, line = answer_rows(
        df, task, n=n, sample=sample, seed=seed, client=client, protocol=protocol,
        max_concurrency=max_concurrency, reuse=reuse, answers_dir=answers_dir, prefix=prefix,
        max_cost_usd=max_cost_usd, prices=prices,
    )  # fmt: skip
    if show_summary:
        say(line)  # the cell's output in a notebook, stderr in a terminal
    return out


def answer_rows(
    df: pl.DataFrame | pl.LazyFrame,
    task: dict[str, Any],
    *,
    n: int = DEFAULT_PREVIEW_ROWS,
    sample: str = "head",
    seed: int = 0,
    client: SirayaClient | None = None,
    protocol: str | None = None,
    max_concurrency: int | None = None,
    reuse: bool = True,
    answers_dir: str | os.PathLike[str] | None = None,
    prefix: str = "",
    max_cost_usd: float | None = None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[pl.DataFrame, str]:
    """:func:`preview`'s rows and its cost line (``task``: the request arguments of
    :func:`run`: ``prompt``, ``model``, ``labels``... and the other params)."""
    frame, kind = to_polars(df, what="preview")
    picked = frame.with_row_index(_ROW) if kind.index is not None else frame
    rows = pick_rows(picked, n, sample, seed)
    if kind.index is not None:  # pandas in: the chosen rows keep their own index labels
        kind, rows = replace(kind, index=kind.index[rows[_ROW].to_list()]), rows.drop(_ROW)
    prep = prepare(rows, **task, prefix=prefix, client=client, protocol=protocol, what="preview")
    requests, unique = prep.requests, prep.unique  # exactly what run would send for them
    if max_cost_usd is not None:
        _check_budget(requests, unique, max_cost_usd, prices)
    if client is not None and not isinstance(client, SirayaClient):
        raise ConfigurationError(
            f"preview sends with a SirayaClient; got {type(client).__name__}: pass "
            "sf.SirayaClient(...) (same key, base_url and protocol)"
        )
    own = client is None
    client = client or SirayaClient(protocol=protocol)
    try:
        service = service_id(client.protocol, client.base_url)
        reused = (
            lookup_answers(unique["custom_id"], service=service, answers_dir=answers_dir)
            if reuse
            else pl.DataFrame(schema=RESULT_SCHEMA)
        )
        todo = unique.join(reused.select("custom_id"), on="custom_id", how="anti")
        check_models(client, _request_models(requests)["model"].unique())  # before any spend
        sent = answer_now(client, todo, max_concurrency=max_concurrency)
    finally:
        if own:
            client.close()
    try:
        save_answers(sent, service=service, answers_dir=answers_dir)
    except JobStoreError as exc:  # paid for: give them back all the same
        logger.warning("%s; the %d answers are returned, but not kept for reuse (a later "
                       "preview or run pays for them again): fix the folder, or pass "
                       "answers_dir= / set SIRAYA_ANSWERS_DIR", exc.args[0].split(";")[0],
                       sent.height)  # fmt: skip
    models = _request_models(requests)
    joined = join_results(requests.drop("params"), pl.concat([reused, sent]), prefix=prefix)
    out = _add_task_columns(joined, labels=task.get("labels"), abstain=task.get("abstain"),
                            schema=prep.schema, prefix=prefix)  # fmt: skip
    out = like_input(out, kind)  # pandas in: pandas out, with the chosen rows' index
    line = _cost_line(rows.height, unique.height, sent, reused.height, models, prices)
    logger.info("%s", line)
    return out, line
