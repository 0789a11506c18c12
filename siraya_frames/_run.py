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
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames import _config
from siraya_frames._client import SirayaClient
from siraya_frames._client_base import resolve_key
from siraya_frames._finish import finish
from siraya_frames._frames import like_input
from siraya_frames._job import Job, submit
from siraya_frames._models import check_models
from siraya_frames._output import check_output
from siraya_frames._prepare import prepare, provenance
from siraya_frames._recipe import Recipe
from siraya_frames._spend import announce, check_budget
from siraya_frames._summary import _request_models, summarize

if TYPE_CHECKING:
    from siraya_frames._frames import FrameLike, FrameOut

logger = logging.getLogger("siraya_frames")

__all__ = ["DEFAULT_MAX_TOKENS", "run", "summarize"]

DEFAULT_MAX_TOKENS = _config.DEFAULT_MAX_TOKENS


def run(
    df: FrameLike,
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
    dry_run: bool = False,
    reuse: bool = True,
    answers_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> FrameOut | Job | pl.DataFrame:
    """Label or transform every row of ``df`` through the batch API, in one call.

    Parameters
    ----------
    df
        The rows: a Polars DataFrame or LazyFrame, a pandas DataFrame or a pyarrow Table
        (converted to Polars once; the result is of the same kind, a pandas one with your
        index).
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
    dry_run
        ``True``: send nothing, make no job directory, and return the :func:`estimate` row
        of exactly what this call would send (the one ``max_cost_usd`` is checked against).
    reuse
        Take the answers :func:`preview` already got (same requests, same service) instead
        of sending them again (see :func:`submit`).
    answers_dir
        The answer store to take them from: the one :func:`preview` was given (default
        ``<job root>/answers``, or ``SIRAYA_ANSWERS_DIR``).

    Notes
    -----
    Before submitting, ``run`` says in one line what it is about to spend (requests,
    batches, upper-bound cost; or, re-attaching, what its job already holds): logged at
    INFO, and shown unless both ``progress`` and ``show_summary`` are ``False``.

    Returns
    -------
    pl.DataFrame, pandas.DataFrame, pyarrow.Table or Job
        Your rows in their order with the answer columns, as the kind of frame you gave (a
        LazyFrame gives a DataFrame); the job with ``wait=False``; the estimate with
        ``dry_run=True``.

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
    if output is not None:
        check_output(output)  # a suffix that names no format: refused before any call
    prep = prepare(
        df, prompt=prompt, model=model, max_tokens=max_tokens, messages=messages,
        system=system, labels=labels, abstain=abstain, schema=schema, prefix=prefix,
        client=client, max_requests=max_requests, max_bytes=max_bytes, prices=prices,
        protocol=protocol, **params,
    )  # fmt: skip
    if dry_run:
        return prep.estimate()
    if max_cost_usd is not None:
        check_budget(prep, max_cost_usd)
    if client is None:  # a missing key is said before any spend is announced
        resolve_key(prep.wire)
    models = _request_models(prep.requests)
    check_models(client, models["model"].unique(), protocol=protocol)  # before any spend
    announce(prep, client=client, job_dir=job_dir, show=show_summary or progress, reuse=reuse,
             answers_dir=answers_dir)  # fmt: skip
    request_params = {"max_tokens": max_tokens, "system": system, "messages": messages, **params}
    record = provenance(prep, prompt, model, labels, abstain, request_params)
    kind, norm_schema, requests, unique = prep.kind, prep.schema, prep.requests, prep.unique
    del prep  # its requests keep "params": let the drop below free them
    if unique.is_empty():
        unique = requests  # submit says there is nothing to send
    requests = requests.drop("params")  # its JSON is in ``unique``, then in the job: free it
    recipe = _recipe(prompt, labels, abstain, norm_schema, prefix, output, model, requests)
    job = submit(
        unique,
        client=client,
        job_dir=job_dir,
        max_requests=max_requests,
        max_bytes=max_bytes,
        provenance=record,
        protocol=protocol,
        max_result_bytes=max_result_bytes,
        recipe=recipe,
        reuse=reuse,
        answers_dir=answers_dir,
        _send=not wait,  # run waits next: its wait polls the first batches between creates
    )
    del unique
    if not wait:
        return job
    job.wait(timeout=timeout, progress=progress)
    out = finish(job, recipe, requests, output=output, models=models, prices=prices,
                 show_summary=show_summary)  # fmt: skip
    return like_input(out, kind)


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
    """What the job saves so that ``Job.output()`` gives this call's frame and file."""
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
