"""After submit: a job's answers → the joined, labelled frame, its summary and its file.

``run``, :meth:`Job.output` and ``siraya-frames wait`` / ``results --output`` all end here,
so they give the same frame and file. The answers (one row per request) are made batch by
batch from the per-batch results caches (``_collect.collect_answers``: no full-size
intermediate copy, no reordering), joined to the input rows (``join_results``), the
label or extraction columns are added, and the file is written with a streaming sink in the
format its suffix names (``_output.py``). At the peak only the input rows, the answers and
the joined frame are alive: a flat multiple of the input (``benchmarks/RESULTS.md`` §14).

Examples
--------
>>> import polars as pl, tempfile, os, siraya_frames as sf
>>> from siraya_frames.emulator import Emulator
>>> df = pl.DataFrame({"review": ["positive", "negative"]})
>>> job_dir, out = tempfile.mkdtemp(), os.path.join(tempfile.mkdtemp(), "out.csv")
>>> with Emulator(responder=lambda p, custom_id: "positive") as emu:
...     with sf.SirayaClient("k", emu.base_url) as client:
...         job = sf.run(df, prompt="{review}", model="m", labels=["positive", "negative"],
...                      output=out, client=client, job_dir=job_dir, wait=False)
...         frame = sf.Job.open(job_dir, client=client).output(progress=False)
>>> frame["label"].to_list(), open(out).readline().strip()
(['positive', 'positive'], 'review,custom_id,response_text,tool_calls,result_status,\
stop_reason,input_tokens,output_tokens,cache_read_input_tokens,cache_creation_input_tokens,\
error_type,error_message,batch_id,label,label_error')
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames._collect import collect_answers
from siraya_frames._display import plural
from siraya_frames._errors import JobError
from siraya_frames._extract import parse_extraction
from siraya_frames._join import join_results
from siraya_frames._labels import parse_labels
from siraya_frames._output import check_output, write_output
from siraya_frames._recipe import Recipe, inputs_path, load_recipe
from siraya_frames._report import show
from siraya_frames._results import ResultsWarning
from siraya_frames._status import retry_command
from siraya_frames._store import JobStore
from siraya_frames._summary import _cost_record, _per_model_tokens, _summary_frame
from siraya_frames._warn import warn_user

if TYPE_CHECKING:
    from siraya_frames._job import Job

logger = logging.getLogger("siraya_frames")

__all__ = ["finish", "output", "output_after_wait", "results_to_file"]


def _add_task_columns(
    out: pl.DataFrame, *, labels: Any, abstain: str | None, schema: Any, prefix: str
) -> pl.DataFrame:
    # One chunk: Polars 2.1 panics filtering some many-chunk String columns (made by a concat).
    answers = out.get_column(f"{prefix}response_text").rechunk()
    if labels is not None:
        parsed = parse_labels(answers, labels, abstain=abstain)
    elif schema is not None:
        parsed = parse_extraction(answers, schema)
    else:
        return out
    return out.hstack(parsed.rename({c: f"{prefix}{c}" for c in parsed.columns}))


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
            f"none of the {plural(requested, 'requested row')} succeeded{top}. See the "
            f"error_type and error_message columns; {retry_command(str(job.path))} resends "
            "the retryable ones"
        )
    elif row["parsed"] == 0:
        message = (
            f"{plural(row['succeeded'], 'row')} succeeded but no answer gave a label or parsed "
            "as the schema; look at the response_text column and the label_error / "
            "parse_error column, and make the prompt ask for the exact format"
        )
    else:
        return
    warn_user(message, ResultsWarning)


def _models(store: JobStore, recipe: Recipe) -> tuple[pl.DataFrame | None, str | None]:
    """Each request's model: the recipe's one name, else read from the saved requests."""
    if recipe.model is not None:
        return None, recipe.model
    model = pl.col("params_json").str.json_path_match("$.model").alias("model")
    requests = pl.scan_parquet(store.path / "requests.parquet").select("custom_id", model)
    return requests.collect(engine="streaming"), None


def finish(
    job: Job,
    recipe: Recipe,
    inputs: pl.DataFrame | pl.LazyFrame,
    *,
    output: str | os.PathLike[str] | None = None,
    models: pl.DataFrame | None = None,
    prices: Any = None,
    show_summary: bool = False,
) -> pl.DataFrame:
    """Join ``job``'s answers to ``inputs`` as ``recipe`` says; summarise, warn, write.

    ``models`` (``custom_id``, ``model``) prices the summary; by default the recipe's model
    or the job's saved requests. Warnings point at the user's own line.
    """
    store = JobStore(job.path)
    prefix = recipe.prefix
    answers = collect_answers(store, store.load())  # one row per id, made batch by batch
    rows = inputs.collect(engine="streaming") if isinstance(inputs, pl.LazyFrame) else inputs
    out = join_results(rows, answers, prefix=prefix)
    del answers, rows
    out = _add_task_columns(
        out, labels=recipe.labels, abstain=recipe.abstain, schema=recipe.schema, prefix=prefix
    )
    model = None
    if models is None:
        models, model = _models(store, recipe)
    tokens = _per_model_tokens(out, prefix, models, model)
    cost = _cost_record(tokens, prices)
    summary = _summary_frame(out, prefix, tokens, cost)
    _warn_if_unusable(summary, out, prefix, job)
    if output is not None:
        write_output(out, output, job=job, prefix=prefix, provenance={"cost": cost})
        logger.info("wrote %d rows to %s", out.height, output)
    if show_summary:
        show(summary, job)
    return out


def output(
    job: Job,
    path: str | os.PathLike[str] | None = None,
    *,
    wait: bool = True,
    progress: bool = True,
    prices: Any = None,
    show_summary: bool = False,
) -> pl.DataFrame:
    """The frame ``run`` returns for ``job``, and its file written (see :meth:`Job.output`)."""
    store = JobStore(job.path)
    recipe = load_recipe(store)
    if recipe is not None and recipe.inputs_hash and not inputs_path(store).is_file():
        raise JobError(
            f"the job in {str(job.path)!r} has lost its input rows ({inputs_path(store)} is "
            "missing); re-run the same run() call: it re-attaches to the job, writes them "
            "again and sends nothing twice"
        )
    if recipe is None or not inputs_path(store).is_file():
        raise JobError(
            f"the job in {str(job.path)!r} has no recipe (it was made by submit() or by an "
            "older version), so its input rows and labels are not known; use job.results() "
            "and siraya_frames.join_results(requests, results), or re-run the same run() "
            "call, which re-attaches to the job and sends nothing twice"
        )
    target = path if path is not None else recipe.output
    if target is not None:
        check_output(target)
    if wait:
        job.wait(progress=progress)
    inputs = pl.scan_parquet(inputs_path(store))
    return finish(job, recipe, inputs, output=target, prices=prices, show_summary=show_summary)


def output_after_wait(job: Job) -> str:
    """After ``siraya-frames wait``: write the recipe's output file when the job is finished;
    say where it went, or how to write the rows."""
    recipe = load_recipe(JobStore(job.path))
    if not job.status(refresh=False).finished:
        return f"Not finished yet: siraya-frames wait {job.path} again later."
    if recipe is not None and recipe.output is not None:
        out = output(job, wait=False)
        return f"Wrote {plural(out.height, 'row')} with their answers to {recipe.output}."
    return (
        f"Write the rows with their answers: siraya-frames results {job.path} --output OUT.parquet"
    )


def results_to_file(open_job: Any, args: Any, path: str) -> tuple[str, int, dict[str, int]]:
    """``siraya-frames results JOB --output F``: the rows of ``run`` with their answers when
    the job has its recipe, else the results (one row per request); format by suffix. The
    suffix is checked before the job is even opened: a bad name sends nothing.

    Returns what was written (``"row"`` or ``"result"``), how many, and the count of each
    outcome.
    """
    check_output(path)
    job = open_job(args)
    recipe = load_recipe(JobStore(job.path))
    if recipe is not None:
        out = output(job, path, wait=False)
        counts = out[f"{recipe.prefix}result_status"].value_counts(sort=True).iter_rows()
        return "row", out.height, dict(counts)
    results = job.results()
    write_output(results, path, job=job)
    counts = results["result_status"].value_counts(sort=True).iter_rows()
    return "result", results.height, dict(counts)
