"""``estimate``: how many rows, requests, batches, tokens and dollars, before any spend.

Input tokens are a heuristic, not a tokenizer: for each unique request,
``ceil(utf8_bytes / 4) + 4 * n_messages``, where ``utf8_bytes`` counts the message contents,
the system text and the tools JSON, and the system prompt counts as a message. Output tokens
are counted at ``max_tokens``, so costs are upper bounds. The batch price is 50% of the
standard price of :data:`PRICES` (USD per million tokens, as of :data:`PRICES_AS_OF`), which
``prices=`` overrides or extends.

Examples
--------
>>> import polars as pl
>>> from siraya_frames._build import build_requests
>>> reqs = build_requests(pl.DataFrame({"q": ["12345678"] * 3}), prompt="{q}",
...                       model="openai/gpt-4o", max_tokens=10)
>>> estimate(reqs).select("rows", "unique_requests", "estimated_input_tokens").row(0)
(3, 1, 6)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames._config import DEFAULT_MAX_TOKENS, resolve_protocol
from siraya_frames._errors import ParameterError
from siraya_frames._frames import to_polars
from siraya_frames._plan import _check_limits, batch_bounds
from siraya_frames._protocols import get_protocol
from siraya_frames._unique import _unique_rows, collect_requests
from siraya_frames._validate import is_finite_number

if TYPE_CHECKING:
    from siraya_frames._client import SirayaClient
    from siraya_frames._frames import FrameLike

PRICES_AS_OF = "2026-11-01"
"""The date the built-in :data:`PRICES` were taken."""
# Sources, as of PRICES_AS_OF: anthropic.com/pricing and the prompt-caching guide (a cache
# read costs 0.1x the base input price, a 5-minute cache write 1.25x); openai.com/api/pricing
# and the prompt-caching guide (the gpt-4o family's cached input is 0.5x the input price and
# a cache write costs nothing extra: it is billed as input; the gpt-4.1 / gpt-5 families'
# cached input is 0.1x, none of them is in this table). gpt-4o-mini-batch is Siraya's
# (Azure-style) batch deployment of gpt-4o-mini, priced as gpt-4o-mini.
PRICES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "openai/gpt-4o-mini-batch": {
            "input": 0.15, "output": 0.60, "cache_read": 0.075, "cache_write": 0.15,
        },
        "openai/gpt-4o-mini": {
            "input": 0.15, "output": 0.60, "cache_read": 0.075, "cache_write": 0.15,
        },
        "openai/gpt-4o": {"input": 2.50, "output": 10.00, "cache_read": 1.25, "cache_write": 2.50},
        "anthropic/claude-sonnet-4.5": {
            "input": 3.00, "output": 15.00, "cache_read": 0.30, "cache_write": 3.75,
        },
        "anthropic/claude-haiku-4.5": {
            "input": 1.00, "output": 5.00, "cache_read": 0.10, "cache_write": 1.25,
        },
    }
)  # fmt: skip
"""Standard (real-time) prices, USD per million tokens: ``input`` (base input, no cache),
``output``, ``cache_read`` and ``cache_write`` (5-minute); the batch price is half of them."""
CACHE_READ_MULTIPLIER = 0.1
"""A price without ``cache_read``: this times its ``input`` (Anthropic's ratio), unless the
model is in :data:`PRICES`, whose own ratio is used."""
CACHE_WRITE_MULTIPLIER = 1.25
"""A price without ``cache_write``: this times its ``input`` (Anthropic's 5-minute write),
unless the model is in :data:`PRICES`, whose own ratio is used."""
BATCH_DISCOUNT = 0.5
BYTES_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4

_DECODE = pl.Struct(
    {
        "model": pl.String,
        "max_tokens": pl.Int64,
        "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
        "system": pl.String,
    }
)


def estimate(
    df: FrameLike,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    *,
    prompt: str | None = None,
    model: str | pl.Expr | None = None,
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
    protocol: str | None = None,
    max_result_bytes: int | None = None,
    reuse: bool = True,
    answers_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Return one row: counts, batches, estimated tokens and cost of a requests frame.

    Two ways to call it: with :func:`run`'s own arguments, ``estimate(df, prompt=...,
    model=..., labels=...)``, it estimates exactly what that ``run`` would send (the label
    or extraction instructions included: the figures ``run`` checks ``max_cost_usd``
    against, as ``run(..., dry_run=True)``); with a requests frame alone,
    ``estimate(build_requests(...))``, it estimates those requests.

    Parameters
    ----------
    df
        Rows, with ``prompt=`` or ``messages=`` and ``model=`` (any frame :func:`run`
        takes); or a :func:`build_requests` frame, or ``custom_id`` + ``params_json``
        columns.
    prompt, model, max_tokens, messages, system, labels, abstain, schema, prefix, **params
        As for :func:`run`. ``output``, ``job_dir``, ``wait``, ``timeout``, ``progress``,
        ``show_summary``, ``max_cost_usd``, ``max_result_bytes``, ``reuse`` and ``answers_dir``
        are accepted,
        so the same arguments can be passed to both, and unused (every request is counted,
        also one a preview answered: an upper bound); ``client`` gives the protocol.
    prices
        ``{"model": {"input": usd_per_million, "output": usd_per_million}}`` standard prices
        that override or extend :data:`PRICES`; ``cache_read`` and ``cache_write`` are
        optional (see :data:`CACHE_READ_MULTIPLIER`), used when pricing actual tokens.
    max_requests, max_bytes
        The batch limits used to count ``batches`` (as for :func:`plan_batches`); default:
        the protocol's.
    protocol
        The wire protocol the requests would be sent with: ``"siraya"`` (default, or
        ``SIRAYA_PROTOCOL``), ``"anthropic"`` or ``"openai"``. Its request lines are made
        (and their bytes counted), so a request it cannot carry is refused here as in
        :func:`run`.

    Returns
    -------
    pl.DataFrame
        ``rows``, ``requests``, ``unique_requests``, ``duplicates_saved``, ``skipped_rows``,
        ``batches``, ``estimated_input_tokens``, ``max_output_tokens``,
        ``estimated_cost_usd`` (batch price, upper bound), ``standard_cost_usd`` and ``note``.
        Costs are null when a model has no price; ``note`` then names it.

    Raises
    ------
    ParameterError
        For bad limits or prices; with ``protocol="openai"``, for the first request with a
        parameter Chat Completions has no equivalent for (``top_k``, ``thinking``, more
        than 4 stop sequences), naming the parameter, the request and the fix.

    Examples
    --------
    >>> import polars as pl
    >>> from siraya_frames._build import build_requests
    >>> reqs = build_requests(pl.DataFrame({"q": ["hi", "hi", None]}), prompt="{q}",
    ...                       model="my/model", max_tokens=100, on_null="skip")
    >>> est = estimate(reqs, prices={"my/model": {"input": 1.0, "output": 2.0}})
    >>> est.select("requests", "duplicates_saved", "skipped_rows", "estimated_cost_usd").row(0)
    (2, 1, 1, 0.0001025)
    >>> try:
    ...     estimate(build_requests(pl.DataFrame({"q": ["hi"]}), prompt="{q}", model="m",
    ...                             max_tokens=9, top_k=5), protocol="openai")
    ... except ParameterError as exc:
    ...     print(str(exc).split(" of request")[0])
    parameter 'top_k'
    """
    del output, job_dir, wait, timeout, progress, show_summary, max_cost_usd, max_result_bytes
    del reuse, answers_dir
    if prompt is not None or messages is not None:
        from siraya_frames._prepare import prepare  # prepare builds on this module

        if model is None:
            raise ParameterError("model is required with prompt= or messages=; got None")
        prep = prepare(
            df, prompt=prompt, messages=messages, system=system, model=model,
            max_tokens=max_tokens, labels=labels, abstain=abstain, schema=schema,
            prefix=prefix, client=client, max_requests=max_requests, max_bytes=max_bytes,
            prices=prices, protocol=protocol, what="estimate", **params,
        )  # fmt: skip
        return prep.estimate()
    _check_requests_only(df, model, labels, schema, params)
    frame = collect_requests(to_polars(df, what="estimate")[0])
    if client is not None and protocol is None:
        protocol = client.wire.name
    return estimate_planned(
        frame, None, prices, max_requests=max_requests, max_bytes=max_bytes, protocol=protocol
    )


def _check_requests_only(df: Any, model: Any, labels: Any, schema: Any, params: dict) -> None:
    """Without a prompt, ``df`` must be a requests frame; task arguments alone are a slip."""
    given = [k for k, v in {"model": model, "labels": labels, "schema": schema}.items() if v]
    if given or params:
        names = ", ".join(f"{k}=" for k in [*given, *params])
        raise ParameterError(
            f"estimate() got {names} but no prompt= or messages=: pass the prompt too, "
            "estimate(df, prompt='...', model='...'), to estimate what run() would send; or "
            "pass a build_requests(...) frame alone"
        )


def estimate_planned(
    frame: pl.DataFrame,
    encoded: pl.DataFrame | None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    protocol: str | None = None,
) -> pl.DataFrame:
    """:func:`estimate` of ``frame``, whose unique requests were already encoded as
    ``encoded`` (``custom_id`` + ``params_json``, from :func:`unique_requests`): the batch
    sizes are counted from that JSON instead of encoding it again (``None``: encode here)."""
    wire = get_protocol(resolve_protocol(protocol))
    max_requests = wire.max_requests if max_requests is None else max_requests
    max_bytes = wire.max_bytes if max_bytes is None else max_bytes
    _check_limits(max_requests, max_bytes)
    table = _price_table(prices)
    unique = _unique_rows(frame)
    sizes = wire.encoding.line_sizes(encoded if encoded is not None else unique)
    bounds = batch_bounds(sizes, max_requests=max_requests, max_bytes=max_bytes)
    per_model = _tokens_by_model(_params_fields(unique))
    n_requests = frame.height - frame["custom_id"].null_count()
    counts = {
        "rows": frame.height,
        "requests": n_requests,
        "unique_requests": unique.height,
        "duplicates_saved": n_requests - unique.height,
        "skipped_rows": frame["custom_id"].null_count(),
        "batches": len(bounds),
        "estimated_input_tokens": int(per_model["input_tokens"].sum()),
        "max_output_tokens": int(per_model["output_tokens"].sum()),
    }
    return pl.DataFrame([{**counts, **_costs(per_model, table)}], schema_overrides=_SCHEMA)


_SCHEMA = {"estimated_cost_usd": pl.Float64, "standard_cost_usd": pl.Float64, "note": pl.String}


def _price_table(prices: Mapping[str, Mapping[str, float]] | None) -> pl.DataFrame:
    """One row per model: ``input_price``, ``output_price``, ``cache_read_price`` and
    ``cache_write_price`` (USD per million tokens, standard)."""
    merged = {**PRICES, **_checked_prices(prices or {})}
    rows = [(model, *_full_price(model, price)) for model, price in merged.items()]
    return pl.DataFrame(rows, schema=_PRICE_SCHEMA, orient="row")


_PRICE_SCHEMA = {
    "model": pl.String,
    "input_price": pl.Float64,
    "output_price": pl.Float64,
    "cache_read_price": pl.Float64,
    "cache_write_price": pl.Float64,
}


def _full_price(model: str, price: Mapping[str, float]) -> tuple[float, float, float, float]:
    """``(input, output, cache read, cache write)``; an absent cache price comes from the
    input price, at the built-in model's ratio or else the default multipliers."""
    base = float(price["input"])
    known = PRICES.get(model)
    ratios = {
        "cache_read": known["cache_read"] / known["input"] if known else CACHE_READ_MULTIPLIER,
        "cache_write": known["cache_write"] / known["input"] if known else CACHE_WRITE_MULTIPLIER,
    }
    read, write = (float(price[k]) if k in price else base * ratios[k] for k in ratios)
    return base, float(price["output"]), read, write


def _checked_prices(prices: Mapping[str, Mapping[str, float]]) -> dict[str, Mapping[str, float]]:
    example = (
        "prices={'model/name': {'input': 0.15, 'output': 0.60}} (USD per million tokens; "
        "'cache_read' and 'cache_write' optional)"
    )
    if not isinstance(prices, Mapping):
        raise ParameterError(f"prices must be a dict like {example}; got {prices!r}")
    for model, price in prices.items():
        ok = isinstance(price, Mapping) and all(
            (key not in price and key.startswith("cache"))
            or (is_finite_number(price.get(key)) and price[key] >= 0)
            for key in ("input", "output", "cache_read", "cache_write")
        )
        if not ok:
            raise ParameterError(f"prices[{model!r}] must be like {example}; got {price!r}")
    return dict(prices)


def _params_fields(unique: pl.DataFrame) -> pl.DataFrame:
    """``model``, ``max_tokens``, ``messages``, ``system`` and ``tools`` (JSON text) of each
    unique request: read off the params struct, or decoded from ``params_json``."""
    if "params" in unique.columns:
        params, n = unique["params"].struct, unique.height
        present = set(params.fields)
        return pl.DataFrame(
            [
                params.field(name)
                if name in present
                else pl.repeat(None, n, dtype=dtype, eager=True).alias(name)
                for name, dtype in {**_DECODE.to_schema(), "tools": pl.String}.items()
            ]
        )
    json = pl.col("params_json")
    return unique.select(
        json.str.json_decode(_DECODE).struct.unnest(),
        json.str.json_path_match("$.tools").alias("tools"),
    )


def _tokens_by_model(fields: pl.DataFrame) -> pl.DataFrame:
    """Sum estimated input tokens and max output tokens per model over unique requests."""
    text_bytes = (
        pl.col("messages")
        .list.eval(pl.element().struct.field("content").str.len_bytes())
        .list.sum()
        + pl.col("system").str.len_bytes().fill_null(0)
        + pl.col("tools").str.len_bytes().fill_null(0)
    )
    n_messages = pl.col("messages").list.len() + pl.col("system").is_not_null().cast(pl.UInt32)
    tokens = (text_bytes / BYTES_PER_TOKEN).ceil().cast(pl.Int64) + TOKENS_PER_MESSAGE * n_messages
    return (
        fields.select(
            "model",
            tokens.cast(pl.Int64).alias("input_tokens"),
            pl.col("max_tokens").alias("output_tokens"),
        )
        .group_by("model", maintain_order=True)
        .agg(pl.len().alias("n"), pl.col("input_tokens", "output_tokens").sum())
    )


def _costs(per_model: pl.DataFrame, table: pl.DataFrame) -> dict[str, object]:
    priced = per_model.join(table, on="model", how="left", maintain_order="left")
    unknown = priced.filter(pl.col("input_price").is_null())
    note = (
        f"prices as of {PRICES_AS_OF} (or yours), USD; batch price = 50% of standard; output "
        "counted at max_tokens, so costs are upper bounds"
    )
    if unknown.height:
        named = ", ".join(f"{m!r} ({n} requests)" for m, n in unknown.select("model", "n").rows())
        hint = "prices={'<model>': {'input': <usd/1M>, 'output': <usd/1M>}}"
        return {
            "estimated_cost_usd": None,
            "standard_cost_usd": None,
            "note": f"no price for model {named}; pass {hint} to estimate the cost. {note}",
        }
    standard = priced.select(
        (pl.col("input_tokens") * pl.col("input_price"))
        + (pl.col("output_tokens") * pl.col("output_price"))
    ).sum().item() / 1e6  # fmt: skip
    standard = float(standard or 0.0)
    return {
        "estimated_cost_usd": standard * BATCH_DISCOUNT,
        "standard_cost_usd": standard,
        "note": note,
    }
