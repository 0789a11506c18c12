"""The summary of a run: outcomes, parsed labels or fields, tokens and the cost actually paid.

Pure (no I/O but for showing the summary): :func:`summarize` for any joined frame, and the
pieces ``run`` and ``Job.output`` use to price a finished job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from siraya_frames._estimate import BATCH_DISCOUNT, PRICES_AS_OF, _price_table

__all__ = ["summarize"]


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
    standard = float(priced.select(spent).to_series().sum()) / 1e6
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
