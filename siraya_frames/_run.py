"""``run``: build → submit → wait → collect → join → write, in one re-runnable call.

Re-running the same call re-attaches to its job (the job directory is derived from the
requests and the service URL) and pays for nothing twice.

Examples
--------
>>> import polars as pl, tempfile, siraya_frames as sf
>>> from siraya_frames.emulator import Emulator
>>> def model(params, *, custom_id):  # a stand-in model: answers the review's first line
...     return params["messages"][-1]["content"].splitlines()[0]
>>> df = pl.DataFrame({"review": ["positive", "**Negative**.", "so-so"]})
>>> with Emulator(responder=model) as emu, sf.SirayaClient("k", emu.base_url) as client:
...     out = sf.run(df, prompt="{review}", model="m", labels=["positive", "negative"],
...                  client=client, job_dir=tempfile.mkdtemp(), progress=False,
...                  show_summary=False)
>>> out["label"].to_list()
['positive', 'negative', None]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from siraya_frames import _config
from siraya_frames._build import build_requests
from siraya_frames._client import SirayaClient
from siraya_frames._errors import BudgetExceededError, InputError
from siraya_frames._estimate import (
    estimate_planned,
)
from siraya_frames._extract import (
    PARSE_ERROR_COLUMN,
    extraction_instructions,
    normalize_schema,
)
from siraya_frames._finish import finish
from siraya_frames._job import Job, submit
from siraya_frames._join import ANSWER_COLUMNS
from siraya_frames._labels import (
    LABEL_COLUMN,
    LABEL_ERROR_COLUMN,
    label_instructions,
)
from siraya_frames._output import check_output
from siraya_frames._protocols import get_protocol
from siraya_frames._recipe import Recipe
from siraya_frames._summary import _request_models, summarize
from siraya_frames._unique import collect_streaming, unique_requests

logger = logging.getLogger("siraya_frames")

__all__ = ["DEFAULT_MAX_TOKENS", "run", "summarize"]

DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` when ``run`` is not told: the quickstart's value."""


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _task_prompt(
    prompt: str | None, labels: Any, abstain: str | None, schema: dict[str, Any] | None
) -> str | None:
    """The prompt template with label or extraction instructions appended (braces escaped)."""
    if labels is not None and schema is not None:
        raise InputError("pass labels= or schema=, not both (one run labels or extracts)")
    if prompt is None or (labels is None and schema is None):
        return prompt
    if labels is not None:
        return f"{prompt}\n\n{_escape(label_instructions(labels, abstain=abstain))}"
    return f"{prompt}\n\n{_escape(extraction_instructions(schema))}"


def _check_new_columns(
    columns: list[str], labels: Any, schema: dict[str, Any] | None, prefix: str
) -> None:
    """Refuse, before any spend, a run whose new columns would clash with the frame's."""
    new = list(ANSWER_COLUMNS)
    if labels is not None:
        new += [LABEL_COLUMN, LABEL_ERROR_COLUMN]
    if schema is not None:
        new += [*schema, PARSE_ERROR_COLUMN]
    clash = sorted({f"{prefix}{c}" for c in new} & set(columns))
    if clash:
        raise InputError(
            f"column(s) {clash} already exist in the frame; pass prefix='llm_' (or another) "
            "to run() so the new columns get distinct names"
        )


def run(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    prompt: str | None = None,
    model: str | pl.Expr,
    max_tokens: int | pl.Expr = DEFAULT_MAX_TOKENS,
    messages: str | None = None,
    system: str | pl.Expr | None = None,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    abstain: str | None = None,
    schema: Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    job_dir: str | os.PathLike[str] | None = None,
    client: SirayaClient | None = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: bool = True,
    show_summary: bool = True,
    prefix: str = "",
    max_requests: int | None = None,
    max_bytes: int | None = None,
    max_cost_usd: float | None = None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    protocol: str | None = None,
    max_result_bytes: int | None = None,
    **params: Any,
) -> pl.DataFrame | Job:
    """Label or transform every row of ``df`` through the batch API, in one call.

    Parameters
    ----------
    df
        The rows.
    prompt, messages, system, model, max_tokens
        As for :func:`build_requests`; ``**params`` passes the other Messages parameters
        (``temperature``, ``top_p``, ``stop_sequences``, ``thinking``, ``on_null``...).
    labels
        A list of labels, or a dict label -> description: adds a ``label`` column of
        ``pl.Enum(labels)`` and a ``label_error`` column (answers that are not exactly one
        label give a null label, never a guess).
    abstain
        An extra label the model may answer when none applies.
    schema
        A Polars schema (``{"name": pl.String, "year": pl.Int32}``): the answers are parsed
        as JSON objects into typed columns, plus ``parse_error``.
    output
        A Parquet file to write (atomically, with provenance metadata).
    job_dir
        Where the job lives; by default derived from the requests, so a re-run re-attaches.
    client
        A :class:`SirayaClient`; by default one for ``protocol`` from its environment
        variables (``SIRAYA_API_KEY`` / ``SIRAYA_BASE_URL`` for Siraya).
    wait
        ``False`` returns the :class:`Job` right after submitting (collect later).
    timeout
        Seconds to wait at most (:class:`WaitTimeoutError` after; the job goes on).
    progress
        Show a progress bar while waiting.
    show_summary
        Show the :func:`summarize` frame when done (displayed in notebooks, printed to
        stderr elsewhere).
    prefix
        Prefix for every added column (use it when a name clashes with yours).
    max_requests, max_bytes
        The per-batch limits (see :func:`plan_batches`); default: the protocol's.
    max_cost_usd
        A budget: before anything is sent, the run is refused with
        :class:`BudgetExceededError` when :func:`estimate` puts its cost at the batch price
        (an upper bound: every answer as long as ``max_tokens``) above this many dollars,
        or cannot price a model.
    prices
        Price overrides, as for :func:`estimate`, for the budget and the summary.
    protocol
        The wire protocol when no ``client`` is passed: ``"siraya"`` (default, or
        ``SIRAYA_PROTOCOL``), ``"anthropic"`` (Message Batches) or ``"openai"`` (Batch API).
    max_result_bytes
        The most one batch's results download may bring; default a generous bound from its
        requests and ``max_tokens`` (see :func:`siraya_frames._wait.result_cap`).

    Returns
    -------
    pl.DataFrame or Job
        Your rows in their order with the answer columns; or the job with ``wait=False``.

    Raises
    ------
    BudgetExceededError
        With ``max_cost_usd``, before any spend.
    InputError
        Bad rows or parameters, before any spend (see :func:`build_requests`).

    Warns
    -----
    ResultsWarning
        When no request succeeded, or no answer gave a label or parsed as the schema.
    """
    norm_schema = normalize_schema(schema) if schema is not None else None
    _check_new_columns(list(df.collect_schema().names()), labels, norm_schema, prefix)
    template = _task_prompt(prompt, labels, abstain, norm_schema)
    requests = build_requests(
        df,
        prompt=template,
        messages=messages,
        system=system,
        model=model,
        max_tokens=max_tokens,
        **params,
    )
    requests = collect_streaming(requests)  # built once, for the plan and the join
    unique = unique_requests(requests)  # encoded once, for the budget and the plan
    wire = client.wire if client is not None else get_protocol(_config.resolve_protocol(protocol))
    if max_cost_usd is not None:
        limits = (max_requests or wire.max_requests, max_bytes or wire.max_bytes)
        _check_budget(requests, unique, max_cost_usd, prices, *limits, protocol=wire.name)
    request_params = {"max_tokens": max_tokens, "system": system, "messages": messages, **params}
    request_params = {k: v for k, v in request_params.items() if v is not None}
    provenance = _provenance(prompt, template, model, labels, abstain, norm_schema, request_params)
    if unique.is_empty():
        unique = requests  # submit says there is nothing to send
    models = _request_models(requests)
    requests = requests.drop("params")  # its JSON is in ``unique``, then in the job: free it
    recipe = _recipe(prompt, labels, abstain, norm_schema, prefix, output, model, requests)
    job = submit(
        unique,
        client=client,
        job_dir=job_dir,
        max_requests=max_requests,
        max_bytes=max_bytes,
        provenance=provenance,
        protocol=protocol,
        max_result_bytes=max_result_bytes,
        recipe=recipe,
    )
    del unique
    if not wait:
        return job
    job.wait(timeout=timeout, progress=progress)
    return finish(job, recipe, requests, output=output, models=models, prices=prices,
                  show_summary=show_summary, stacklevel=3)  # fmt: skip


def _recipe(
    prompt: str | None,
    labels: Any,
    abstain: str | None,
    schema: dict[str, Any] | None,
    prefix: str,
    output: str | os.PathLike[str] | None,
    model: Any,
    inputs: pl.DataFrame,
) -> Recipe:
    """What the job saves so that ``Job.output()`` gives this call's frame and file; an
    output name whose suffix names no format is refused here, before anything is sent."""
    if output is not None:
        check_output(output)
    return Recipe(
        prompt=prompt,
        labels=(dict(labels) if isinstance(labels, Mapping) else list(labels))
        if labels is not None
        else None,
        abstain=abstain,
        schema=schema,
        prefix=prefix,
        output=os.fspath(output) if output is not None else None,
        model=model if isinstance(model, str) else None,
        inputs=inputs,
    )


def _check_budget(
    requests: pl.DataFrame,
    unique: pl.DataFrame,
    max_cost_usd: float,
    prices: Mapping[str, Mapping[str, float]] | None,
    max_requests: int,
    max_bytes: int,
    *,
    protocol: str,
) -> None:
    """Refuse a run whose estimated batch cost is over ``max_cost_usd``, before any spend."""
    limits = {"max_requests": max_requests, "max_bytes": max_bytes, "protocol": protocol}
    est = estimate_planned(requests, unique, prices, **limits).row(0, named=True)
    cost = est["estimated_cost_usd"]
    if cost is None:
        raise BudgetExceededError(f"max_cost_usd={max_cost_usd} cannot be checked: {est['note']}")
    if cost > max_cost_usd:
        raise BudgetExceededError(
            f"the run is estimated at up to ${cost:,.4f} at the batch price "
            f"({est['unique_requests']:,} unique requests, up to "
            f"{est['max_output_tokens']:,} output tokens), over max_cost_usd={max_cost_usd}; "
            "nothing was sent. Raise max_cost_usd, lower max_tokens, or run fewer rows "
            "(df.head(n)); siraya_frames.estimate(...) shows the estimate."
        )
    logger.info("estimated cost up to $%.4f, within max_cost_usd=%s", cost, max_cost_usd)


def _provenance(
    prompt: str | None,
    template: str | None,
    model: Any,
    labels: Any,
    abstain: str | None,
    schema: dict[str, Any] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return value if isinstance(value, str | int | float | bool | None) else str(value)

    return {
        "prompt_template": prompt,
        "request_template": template,
        "model": plain(model),
        "labels": list(labels) if labels is not None else None,
        "abstain": abstain,
        "schema": {k: str(v) for k, v in schema.items()} if schema else None,
        "params": {k: plain(v) for k, v in params.items()},
    }
