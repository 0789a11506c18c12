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
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from siraya_frames import _config
from siraya_frames._build import build_requests
from siraya_frames._client import SirayaClient
from siraya_frames._errors import BudgetExceededError, InputError
from siraya_frames._estimate import (
    BATCH_DISCOUNT,
    PRICES_AS_OF,
    _price_table,
    estimate_planned,
)
from siraya_frames._extract import (
    PARSE_ERROR_COLUMN,
    extraction_instructions,
    normalize_schema,
    parse_extraction,
)
from siraya_frames._job import Job, submit
from siraya_frames._join import ANSWER_COLUMNS, join_results
from siraya_frames._labels import (
    LABEL_COLUMN,
    LABEL_ERROR_COLUMN,
    label_instructions,
    parse_labels,
)
from siraya_frames._parquet import write_parquet
from siraya_frames._protocols import get_protocol
from siraya_frames._results import ResultsWarning
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


def _add_task_columns(
    out: pl.DataFrame, *, labels: Any, abstain: str | None, schema: Any, prefix: str
) -> pl.DataFrame:
    answers = out.get_column(f"{prefix}response_text")
    if labels is not None:
        parsed = parse_labels(answers, labels, abstain=abstain)
    elif schema is not None:
        parsed = parse_extraction(answers, schema)
    else:
        return out
    return out.hstack(parsed.rename({c: f"{prefix}{c}" for c in parsed.columns}))


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
    reuse: bool = True,
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
    reuse
        Take the answers :func:`preview` already got (same requests, same service) instead
        of sending them again (see :func:`submit`).

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
    job = submit(
        unique,
        client=client,
        job_dir=job_dir,
        max_requests=max_requests,
        max_bytes=max_bytes,
        provenance=provenance,
        protocol=protocol,
        max_result_bytes=max_result_bytes,
        reuse=reuse,
    )
    del unique
    if not wait:
        return job
    job.wait(timeout=timeout, progress=progress)
    joined = join_results(requests, job.results(), prefix=prefix)
    out = _add_task_columns(
        joined, labels=labels, abstain=abstain, schema=norm_schema, prefix=prefix
    )
    tokens = _per_model_tokens(out, prefix, models, None)
    cost = _cost_record(tokens, prices)
    summary = _summary_frame(out, prefix, tokens, cost)  # = summarize(out, requests, ...)
    _warn_if_unusable(summary, out, prefix, job)
    if output is not None:
        write_parquet(out, output, job=job, prefix=prefix, provenance={"cost": cost})
    if show_summary:
        _show(summary)
    return out


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


def _warn_if_unusable(summary: pl.DataFrame, out: pl.DataFrame, prefix: str, job: Job) -> None:
    """Say loudly when a finished run gave nothing to use: no success, or nothing parsed."""
    row = summary.row(0, named=True)
    requested = out.height - int((out[f"{prefix}result_status"] == "skipped").sum())
    if not requested:
        return
    if row["succeeded"] == 0:
        errors = out[f"{prefix}error_type"].drop_nulls().value_counts(sort=True)
        top = (
            f"; most common error: {errors.row(0)[0]!r} ({errors.row(0)[1]} rows)"
            if errors.height
            else ""
        )
        message = (
            f"none of the {requested} requested rows succeeded{top}. See the error_type and "
            f"error_message columns, or job.status() for {job.path}; "
            "job.retry_failed() resends the retryable ones"
        )
    elif row["parsed"] == 0:
        message = (
            f"{row['succeeded']} rows succeeded but no answer gave a label or parsed as the "
            "schema; look at the response_text column and the label_error / parse_error "
            "column, and make the prompt ask for the exact format"
        )
    else:
        return
    logger.warning("%s", message)
    warnings.warn(message, ResultsWarning, stacklevel=3)


def _show(summary: pl.DataFrame) -> None:
    """Display the summary in a notebook, or print it to stderr in a terminal."""
    import sys

    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None and "IPKernelApp" in get_ipython().config:
            display(summary)
            return
    except ImportError:
        pass
    print(summary, file=sys.stderr)


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


# --------------------------------------------------------------------------- summary


_TOKENS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
           "output_tokens")  # fmt: skip
_RATES = ("input_price", "cache_read_price", "cache_write_price", "output_price")


def _request_models(requests: pl.DataFrame) -> pl.DataFrame:
    """``custom_id`` and ``model`` of each unique request of a :func:`build_requests` frame."""
    model = pl.col("params").struct.field("model").alias("model")
    return requests.select("custom_id", model).unique("custom_id")


def _per_model_tokens(
    out: pl.DataFrame, prefix: str, models: pl.DataFrame | None, model: str | None
) -> pl.DataFrame:
    """Actual tokens per requested model (``models``: see :func:`_request_models`), each
    unique request counted once.

    The cache columns count 0 when the frame has none (written before they existed).
    """
    unique = (
        out.select(
            "custom_id",
            *(
                pl.col(f"{prefix}{name}").fill_null(0).alias(name)
                if f"{prefix}{name}" in out.columns
                else pl.lit(0, pl.Int64).alias(name)
                for name in _TOKENS
            ),
        )
        .drop_nulls("custom_id")
        .unique("custom_id", keep="first", maintain_order=True)
    )
    if models is not None:
        unique = unique.join(models, on="custom_id", how="left")
    else:
        unique = unique.with_columns(model=pl.lit(model, pl.String))
    return unique.group_by("model", maintain_order=True).agg(pl.col(*_TOKENS).sum())


def _cost_record(tokens: pl.DataFrame, prices: Any = None) -> dict[str, Any]:
    """Cost of the tokens actually used, at the batch and the standard price: input, cache
    read, cache write and output tokens each at its own rate."""
    priced = tokens.join(_price_table(prices), on="model", how="left")
    unknown = priced.filter(pl.col("input_price").is_null())["model"].to_list()
    spent = pl.sum_horizontal(pl.col(t) * pl.col(r) for t, r in zip(_TOKENS, _RATES, strict=True))
    standard = float(priced.select(spent).to_series().sum() / 1e6)
    if unknown:
        hint = "pass prices={'<model>': {'input': ..., 'output': ...}} (USD per 1M tokens)"
        if unknown == [None]:
            hint = "pass model='<model name>' (or the requests frame) to summarize"
        note = f"no price for model(s) {unknown}: {hint}"
        return {"batch_cost_usd": None, "standard_cost_usd": None, "saving_usd": None,
                "prices_as_of": PRICES_AS_OF, "note": note}  # fmt: skip
    return {
        "batch_cost_usd": standard * BATCH_DISCOUNT,
        "standard_cost_usd": standard,
        "saving_usd": standard * (1 - BATCH_DISCOUNT),
        "prices_as_of": PRICES_AS_OF,
        "note": f"actual tokens at prices as of {PRICES_AS_OF} (input, cache read, cache write "
        "and output each at its rate); batch price = 50% of standard",
    }


def summarize(
    out: pl.DataFrame,
    requests: pl.DataFrame | None = None,
    *,
    model: str | None = None,
    prefix: str = "",
    prices: Mapping[str, Mapping[str, float]] | None = None,
) -> pl.DataFrame:
    """One row summing up a run: outcomes, parsed labels or fields, tokens and cost.

    Tokens and cost count each unique request once (a shared answer is paid once). The cost
    prices ``input_tokens`` (no cache), ``cache_read_input_tokens``,
    ``cache_creation_input_tokens`` and ``output_tokens`` each at its own rate
    (:data:`~siraya_frames.PRICES`), at the batch discount.

    Parameters
    ----------
    out
        The joined frame (:func:`run` or :func:`join_results`).
    requests
        The :func:`build_requests` frame it came from: gives each request's model.
    model
        Without ``requests``: the model every request used.
    prefix
        The ``prefix`` the columns were given.
    prices
        Price overrides, as for :func:`estimate`: ``input``, ``output`` and, optionally,
        ``cache_read`` and ``cache_write`` (USD per million tokens, standard price).

    Examples
    --------
    >>> out = pl.DataFrame({"custom_id": ["a", "a", "b"], "result_status": ["succeeded"] * 3,
    ...                     "input_tokens": [100, 100, 50], "output_tokens": [10, 10, 5]})
    >>> s = summarize(out, model="openai/gpt-4o-mini-batch")
    >>> s.select("rows", "unique_requests", "input_tokens", "cost_usd").row(0)
    (3, 2, 150, 1.575e-05)
    """
    models = _request_models(requests) if requests is not None else None
    tokens = _per_model_tokens(out, prefix, models, model)
    return _summary_frame(out, prefix, tokens, _cost_record(tokens, prices))


def _summary_frame(
    out: pl.DataFrame, prefix: str, tokens: pl.DataFrame, cost: dict[str, Any]
) -> pl.DataFrame:
    """:func:`summarize`'s row, from the tokens per model and their cost."""
    status = pl.col(f"{prefix}result_status")
    counts = out.select(
        pl.len().alias("rows"),
        pl.col("custom_id").n_unique().alias("unique_requests"),
        (status == "succeeded").sum().alias("succeeded"),
        (status == "errored").sum().alias("errored"),
        status.is_in(["missing", "expired", "canceled"]).sum().alias("missing_or_expired"),
        _parsed_expr(out, prefix).alias("parsed"),
    )
    return counts.with_columns(
        pl.lit(int(tokens["input_tokens"].sum()), pl.Int64).alias("input_tokens"),
        pl.lit(int(tokens["output_tokens"].sum()), pl.Int64).alias("output_tokens"),
        pl.lit(int(tokens["cache_read_input_tokens"].sum()), pl.Int64).alias(
            "cache_read_input_tokens"
        ),
        pl.lit(int(tokens["cache_creation_input_tokens"].sum()), pl.Int64).alias(
            "cache_creation_input_tokens"
        ),
        pl.lit(cost["batch_cost_usd"], pl.Float64).alias("cost_usd"),
        pl.lit(cost["saving_usd"], pl.Float64).alias("saved_vs_standard_usd"),
        pl.lit(cost["note"], pl.String).alias("note"),
    )


def _parsed_expr(out: pl.DataFrame, prefix: str) -> pl.Expr:
    if f"{prefix}label" in out.columns:
        return pl.col(f"{prefix}label").is_not_null().sum()
    if f"{prefix}parse_error" in out.columns:
        return (
            pl.col(f"{prefix}parse_error").is_null()
            & pl.col(f"{prefix}response_text").is_not_null()
        ).sum()
    return pl.lit(None, pl.UInt32)
