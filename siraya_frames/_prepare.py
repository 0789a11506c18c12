"""``prepare``: everything ``run`` does before it spends, as one value others reuse.

From ``run``'s own arguments: the frame converted once (:mod:`._frames`), the task template
(the prompt with the label or extraction instructions appended), the requests built and
collected once, the unique requests encoded once, and the wire protocol with its limits.
``run``, ``run(..., dry_run=True)``, ``estimate(df, **run_args)``, ``df.siraya.estimate``
and the command line's ``estimate`` / ``run --dry-run`` all go through it, so the estimate
they show is, to the token, what ``run`` sends and what ``max_cost_usd`` is checked against.

Examples
--------
>>> import polars as pl
>>> prep = prepare(pl.DataFrame({"r": ["good", "bad", "good"]}), prompt="Sentiment: {r}",
...                model="openai/gpt-4o-mini-batch", max_tokens=5, labels=["pos", "neg"])
>>> prep.unique.height, "pos, neg" in prep.template or "pos" in prep.template
(2, True)
>>> prep.estimate().select("rows", "unique_requests", "batches").row(0)
(3, 2, 1)
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from siraya_frames import _config
from siraya_frames._build import build_requests
from siraya_frames._errors import InputError, ParameterError
from siraya_frames._estimate import estimate_planned
from siraya_frames._extract import PARSE_ERROR_COLUMN, extraction_instructions, normalize_schema
from siraya_frames._frames import FrameKind, to_polars
from siraya_frames._join import ANSWER_COLUMNS
from siraya_frames._labels import LABEL_COLUMN, LABEL_ERROR_COLUMN, label_instructions
from siraya_frames._protocols import get_protocol
from siraya_frames._protocols._base import WireProtocol
from siraya_frames._unique import collect_streaming, unique_requests

__all__ = ["Prepared", "prepare", "task_prompt"]


@dataclass
class Prepared:
    """What ``run`` would send, built once: read by the estimate, the budget and submit.

    ``requests`` is the collected :func:`build_requests` frame (your rows + ``custom_id`` +
    ``params``); ``unique`` its unique requests (``custom_id`` + ``params_json``, encoded
    once); ``template`` the prompt as sent (instructions appended); ``call`` the argument
    names given, to write the matching ``estimate`` call in messages.
    """

    kind: FrameKind
    requests: pl.DataFrame
    unique: pl.DataFrame
    template: str | None
    schema: dict[str, Any] | None
    wire: WireProtocol
    max_requests: int
    max_bytes: int
    prices: Mapping[str, Mapping[str, float]] | None
    call: list[str]
    _estimate: pl.DataFrame | None = field(default=None, repr=False)

    def estimate(self) -> pl.DataFrame:
        """The :func:`~siraya_frames.estimate` row of these requests (computed once)."""
        if self._estimate is None:
            self._estimate = estimate_planned(
                self.requests,
                self.unique,
                self.prices,
                max_requests=self.max_requests,
                max_bytes=self.max_bytes,
                protocol=self.wire.name,
            )
        return self._estimate

    def estimate_call(self) -> str:
        """``sf.estimate(df, prompt=..., model=...)``: the call that shows this estimate."""
        return f"sf.estimate(df, {', '.join(f'{name}=...' for name in self.call)})"


def _check_params(params: Mapping[str, Any], what: str) -> None:
    """An unknown keyword is refused by name (not a ``TypeError`` from deep inside).

    Examples
    --------
    >>> _check_params({"n": 3}, "run")
    Traceback (most recent call last):
    ...
    siraya_frames._errors.ParameterError: run() got an unknown argument 'n'; its request \
parameters are: dedupe, id_prefix, metadata, on_null, stop_sequences, temperature, \
thinking, tool_choice, tools, top_k, top_p (see help(siraya_frames.run))
    """
    taken = inspect.signature(build_requests).parameters
    known = sorted(set(taken) - {"df", "prompt", "messages", "system", "model", "max_tokens"})
    unknown = [name for name in params if name not in known]
    if unknown:
        raise ParameterError(
            f"{what}() got an unknown argument {unknown[0]!r}; its request parameters are: "
            f"{', '.join(known)} (see help(siraya_frames.{what}))"
        )


def prepare(
    df: Any,
    *,
    prompt: str | None = None,
    model: str | pl.Expr,
    max_tokens: int | pl.Expr = _config.DEFAULT_MAX_TOKENS,
    messages: str | None = None,
    system: str | pl.Expr | None = None,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    abstain: str | None = None,
    schema: Mapping[str, Any] | None = None,
    prefix: str = "",
    client: Any = None,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    protocol: str | None = None,
    what: str = "run",
    **params: Any,
) -> Prepared:
    """Build what :func:`~siraya_frames.run` would send, from ``run``'s arguments.

    Checks the new column names against the frame's, appends the label or extraction
    instructions to the prompt, builds and collects the requests (streaming for a
    LazyFrame) and encodes the unique ones; nothing is sent and nothing is written.

    Raises
    ------
    InputError
        Bad frame, rows or parameters (see :func:`~siraya_frames.build_requests`).
    """
    _check_params(params, what)
    frame, kind = to_polars(df, what=what)
    norm_schema = normalize_schema(schema) if schema is not None else None
    check_new_columns(frame.collect_schema().names(), labels, norm_schema, prefix)
    template = task_prompt(prompt, labels, abstain, norm_schema)
    built = build_requests(
        frame,
        prompt=template,
        messages=messages,
        system=system,
        model=model,
        max_tokens=max_tokens,
        **params,
    )
    requests = collect_streaming(built)  # built once: for the estimate, the plan, the join
    wire = client.wire if client is not None else get_protocol(_config.resolve_protocol(protocol))
    given = {"prompt": prompt, "messages": messages, "system": system, "model": model,
             "max_tokens": max_tokens, "labels": labels, "abstain": abstain, "schema": schema,
             "max_requests": max_requests, "max_bytes": max_bytes, "prices": prices}  # fmt: skip
    return Prepared(
        kind=kind,
        requests=requests,
        unique=unique_requests(requests),  # encoded once: for the estimate and the plan
        template=template,
        schema=norm_schema,
        wire=wire,
        max_requests=max_requests or wire.max_requests,
        max_bytes=max_bytes or wire.max_bytes,
        prices=prices,
        call=[k for k, v in {**given, **params}.items() if v is not None],
    )


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def task_prompt(
    prompt: str | None, labels: Any, abstain: str | None, schema: dict[str, Any] | None
) -> str | None:
    """The prompt template with label or extraction instructions appended (braces escaped).

    Examples
    --------
    >>> print(task_prompt("Say: {x}", None, None, None))
    Say: {x}
    """
    if labels is not None and schema is not None:
        raise InputError("pass labels= or schema=, not both (one run labels or extracts)")
    if prompt is None or (labels is None and schema is None):
        return prompt
    if labels is not None:
        return f"{prompt}\n\n{_escape(label_instructions(labels, abstain=abstain))}"
    return f"{prompt}\n\n{_escape(extraction_instructions(schema or {}))}"


def check_new_columns(
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


def provenance(
    prep: Prepared, prompt: str | None, model: Any, labels: Any, abstain: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The task as recorded in the job and the Parquet metadata (a re-run must match it):
    ``params`` are ``max_tokens``, ``system``, ``messages`` and ``run``'s ``**params``."""

    def plain(value: Any) -> Any:
        return value if isinstance(value, str | int | float | bool | None) else str(value)

    return {
        "prompt_template": prompt,
        "request_template": prep.template,
        "model": plain(model),
        "labels": list(labels) if labels is not None else None,
        "abstain": abstain,
        "schema": {k: str(v) for k, v in prep.schema.items()} if prep.schema else None,
        "params": {k: plain(v) for k, v in params.items() if v is not None},
    }
