"""``submit``: make a job from requests, or re-attach to the one they already make.

The job id is a hash of the unique requests and the service URL, so the same call finds
the same directory; a new job saves its requests and first round of intents before any
create (see ``_submit.py``), an existing one sends only the requests it does not hold.
:class:`~siraya_frames.Job` (``_job.py``) drives the batches from there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import xxhash

from siraya_frames import _config
from siraya_frames._client import SirayaClient
from siraya_frames._errors import JobError
from siraya_frames._ids import update_joined
from siraya_frames._plan import BatchPayload, unique_requests
from siraya_frames._recipe import Recipe, remember
from siraya_frames._retarget import has_ended, may_follow, retarget_steps
from siraya_frames._reuse import decide_reuse, without_reused
from siraya_frames._store import JobState, JobStore
from siraya_frames._submit import plan_added, set_result_cap, submit_steps
from siraya_frames._task import check_same_task, task_fingerprint

if TYPE_CHECKING:
    from siraya_frames._job import Job

logger = logging.getLogger("siraya_frames")

__all__ = ["submit"]


def _job_id(ids: pl.Series, base_url: str) -> str:
    digest = xxhash.xxh3_64(base_url.encode() + b"\n")
    update_joined(digest, ids)
    return digest.hexdigest()


def _default_job_dir(job_id: str) -> Path:
    return Path(_config.resolve_job_root()) / f"job-{job_id}"


def _width_of(client: Any) -> int:
    return int(getattr(client, "max_concurrency", _config.DEFAULT_MAX_CONCURRENCY))


def _new_job(
    store: JobStore,
    unique: pl.DataFrame,
    job_id: str,
    client: SirayaClient,
    limits: tuple[int | None, int | None],
    provenance: dict[str, Any],
    max_result_bytes: int | None = None,
) -> dict[str, BatchPayload]:
    """Save a new job's requests and first round of intents; return the bodies by key.

    The round is planned before anything is written, and the state is written last: a
    job cut short before that is started afresh by the same call.
    """
    wire = client.wire
    state = JobState(
        job_id=job_id,
        base_url=client.base_url,
        max_requests=limits[0] or wire.max_requests,
        max_bytes=limits[1] or wire.max_bytes,
        provenance=provenance,
        task_fingerprint=task_fingerprint(provenance),
        protocol=client.protocol,
        max_result_bytes=max_result_bytes,
    )
    bodies = plan_added(store, state, unique.clear(), unique)
    if unique.is_empty():  # every request answered from the answer store: no batch
        store.write_requests(unique)
        store.save_job(state)
    return bodies


def submit(
    requests: pl.DataFrame | pl.LazyFrame,
    *,
    client: SirayaClient | None = None,
    job_dir: str | os.PathLike[str] | None = None,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    provenance: dict[str, Any] | None = None,
    protocol: str | None = None,
    max_result_bytes: int | None = None,
    recipe: Recipe | None = None,
    reuse: bool = True,
    answers_dir: str | os.PathLike[str] | None = None,
    _send: bool = True,
) -> Job:
    """Send each unique request once, split into batches, and return the :class:`Job`.

    Re-running the same call re-attaches to the same job (the default ``job_dir`` is derived
    from the requests and the service URL) and sends only requests the job does not hold.

    Parameters
    ----------
    requests
        The output of :func:`build_requests` (or a frame of ``custom_id``, ``params_json``).
    client
        A :class:`SirayaClient`; by default one for ``protocol``, from its environment
        variables (``SIRAYA_API_KEY`` / ``SIRAYA_BASE_URL`` for Siraya).
    job_dir
        Where the job lives; default ``./.siraya_frames/job-<id>``.
    max_requests, max_bytes
        Per-batch limits for the planner; default: the protocol's (Siraya 5,000 requests
        and 50 MiB; Anthropic 100,000 and 256 MB; OpenAI 50,000 and 200 MB).
    provenance
        Extra facts to record in the job and, later, in the Parquet metadata.
    protocol
        ``"siraya"`` (default, or ``SIRAYA_PROTOCOL``), ``"anthropic"`` or ``"openai"``, when
        no ``client`` is passed (a client brings its own).
    max_result_bytes
        The most one batch's results download may bring (decoded); default: a generous
        bound from the batch's requests and their ``max_tokens``. Given again on a re-run,
        it replaces the job's.
    recipe
        What ``run`` saves in the job (with its input rows) for :meth:`Job.output`.
    reuse
        Take the answers :func:`preview` already got to some of the requests (same service)
        instead of sending them; decided once, when the job is created.
    answers_dir
        The answer store they are taken from (default ``<job root>/answers``, or
        ``SIRAYA_ANSWERS_DIR``).
    """
    if client is None:  # a client of its own, closed here; the job makes one when it needs
        with SirayaClient(protocol=protocol) as own:
            job = submit(requests, client=own, job_dir=job_dir, max_requests=max_requests,
                         max_bytes=max_bytes, provenance=provenance,
                         max_result_bytes=max_result_bytes, recipe=recipe,
                         reuse=reuse, answers_dir=answers_dir, _send=_send)  # fmt: skip
        job._client = None
        return job
    if protocol is not None and client.protocol != protocol:
        raise JobError(
            f"submit(protocol={protocol!r}) was given a client that speaks "
            f"{client.protocol!r}; drop one of the two"
        )
    unique = unique_requests(requests)
    if unique.is_empty():
        raise JobError("there are no requests to submit (every row was skipped or empty)")
    job_id = _job_id(unique["custom_id"], client.base_url)
    store = JobStore(job_dir if job_dir is not None else _default_job_dir(job_id))
    logger.info("the job is saved in %s (resume it from there if this process stops)", store.path)
    with store.lock():  # two processes starting the same job: one plans it, one is told
        existed = store.exists()
        if not existed:
            rest = decide_reuse(store.path, unique, client, reuse=reuse, answers_dir=answers_dir)
            limits = (max_requests, max_bytes)
            bodies = _new_job(
                store, rest, job_id, client, limits, provenance or {}, max_result_bytes
            )
            remember(store, recipe)  # before any create: a Ctrl-C can still make the file
    if existed:
        job = _reattach(store, unique, client, provenance or {}, recipe)
        if max_result_bytes is not None:
            job._run(lambda state: set_result_cap(store, state, max_result_bytes))
        return job
    from siraya_frames._job import Job  # here: _job.py imports this module

    job = Job(store.path, client=client)
    if not _send:  # run waits next: its wait sends the creates, polling between them
        job._bodies = bodies
        return job
    job._run(lambda state: submit_steps(store, state, bodies, width=_width_of(client)))
    return job


def _reattach(
    store: JobStore,
    unique: pl.DataFrame,
    client: SirayaClient,
    provenance: dict[str, Any],
    recipe: Recipe | None,
) -> Job:
    from siraya_frames._job import Job  # here: _job.py imports this module

    job = Job(store.path, client=client)
    moved = job._state.base_url != client.base_url  # the emulator's new port: _retarget.py
    if moved and may_follow(
        job._state.base_url, client.base_url, ended=has_ended(store, job._state)
    ):
        job._run(lambda state: retarget_steps(store, state, client.base_url))
    if job._state.base_url != client.base_url:
        raise JobError(
            f"the job in {str(store.path)!r} was submitted to {job._state.base_url}, but the "
            f"client points at {client.base_url}; pass a client for that service, or another "
            "job_dir"
        )
    check_same_task(store.path, job._state, provenance)
    logger.info("re-attaching to the job in %s", store.path)
    with store.lock():
        remember(store, recipe)
    job.submit_pending()
    added = job.add_requests(without_reused(store.path, unique))  # the job's own record holds
    if added:
        logger.info("submitted %d requests the job did not hold yet", added)
    return job
