"""Jobs: submit requests once, follow the batches, collect every row's outcome.

A :class:`Job` is a directory (see ``_store.py``). Before each create, the intent is saved
with a deterministic ``Idempotency-Key``; after it, the batch id. So a crash at any point can
be resumed from any process with :meth:`Job.open`, and a create whose answer was lost is
resent with the same key: the service returns the batch it already made instead of billing a
second one. The decisions live in ``_submit.py``, ``_wait.py`` and ``_collect.py`` as
generators (see ``_polling.py``) that a sync or an async client drives; this module holds the
public :class:`Job` (and re-exports :func:`submit`, made in ``_job_submit.py``).

Examples
--------
>>> import polars as pl, tempfile, siraya_frames as sf
>>> from siraya_frames.emulator import Emulator
>>> df = pl.DataFrame({"text": ["good", "bad", "good"]})
>>> requests = sf.build_requests(df, prompt="{text}", model="m", max_tokens=8)
>>> with Emulator() as emu, sf.SirayaClient("k", emu.base_url) as client:
...     job = sf.submit(requests, client=client, job_dir=tempfile.mkdtemp())
...     out = job.wait(progress=False).results()
>>> out.height, sorted(out["response_text"].to_list())
(2, ['bad', 'good'])
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import polars as pl

from siraya_frames import _config
from siraya_frames._client import AsyncSirayaClient, SirayaClient
from siraya_frames._collect import collect_results, retryable
from siraya_frames._errors import JobBusyError, JobError, JobStoreError, SirayaError
from siraya_frames._job_status import batches_frame, status_of

# Private names other modules (and the benchmarks) import from here, where they were first.
from siraya_frames._job_submit import _default_job_dir as _default_job_dir
from siraya_frames._job_submit import _job_id as _job_id
from siraya_frames._job_submit import _new_job as _new_job
from siraya_frames._job_submit import _width_of, submit
from siraya_frames._plan import BatchPayload
from siraya_frames._polling import PollSchedule, Steps, adrive, drive
from siraya_frames._progress import Progress
from siraya_frames._recipe import resume_hint
from siraya_frames._status import JobStatus
from siraya_frames._store import JobState, JobStore
from siraya_frames._submit import (
    next_round,
    plan_added,
    plan_round,
    submit_steps,
    unplanned_requests,
)
from siraya_frames._wait import cancel_steps, poll_steps, wait_steps

logger = logging.getLogger("siraya_frames")

__all__ = ["Job", "JobStatus", "iter_jobs", "submit"]


_NO_REQUESTS = pl.DataFrame(schema={"custom_id": pl.String, "params_json": pl.String})


class Job:
    """A submitted set of requests: its batches, their progress and their results.

    Open an existing job with :meth:`Job.open`; make one with :func:`submit`.
    """

    def __init__(self, path: str | os.PathLike[str], *, client: Any = None) -> None:
        self._store = JobStore(path)
        self._state = self._store.load()
        _check_protocol(self._store, self._state, client)
        self._client = client
        self._owns_client = False  # one made here is closed after each operation
        self._bodies: dict[str, BatchPayload] = {}  # planned by submit(_send=False), for wait

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, client: Any = None) -> Job:
        """Re-attach to the job saved in ``path``, from any process.

        Parameters
        ----------
        path
            The job directory.
        client
            A :class:`SirayaClient` of the job's protocol; by default one is made for the
            job's protocol and base URL, with the key from that protocol's variable
            (``SIRAYA_API_KEY``, ``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY``).
        """
        job = cls(path, client=client)
        job._store.tidy()  # temporary files a killed run left; skipped when read-only or busy
        return job

    @property
    def protocol(self) -> str:
        """The wire protocol the job speaks: ``siraya``, ``anthropic`` or ``openai``."""
        return self._state.protocol

    @property
    def path(self) -> Path:
        """The job directory."""
        return self._store.path

    @property
    def job_id(self) -> str:
        """A stable id derived from the requests and the service URL."""
        return self._state.job_id

    @property
    def batch_ids(self) -> list[str]:
        """The ids of the batches created so far."""
        return [r.batch_id for r in self._state.batches if r.batch_id]

    @property
    def n_requests(self) -> int:
        """How many unique requests the job holds."""
        return self._state.n_requests

    @property
    def batches(self) -> pl.DataFrame:
        """One row per batch as last saved (``status()`` polls first and adds totals)."""
        return batches_frame(self._state)

    @property
    def provenance(self) -> dict[str, Any]:
        """What the job records about how its requests were made (template, models...)."""
        return dict(self._state.provenance)

    def __repr__(self) -> str:
        return f"Job({str(self.path)!r}, batches={len(self._state.batches)})"

    def _repr_html_(self) -> str:  # Jupyter: the saved status as a table, no call made
        return status_of(self._store, self._state)._repr_html_()

    def _hint(self) -> str:
        return resume_hint(self.path, recipe=self._state.recipe is not None)

    def _sync_client(self) -> SirayaClient:
        if self._client is None:
            self._client = SirayaClient(
                base_url=self._state.base_url, protocol=self._state.protocol
            )
            self._owns_client = True
        return self._client

    def _release_client(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client, self._owns_client = None, False

    def _width(self) -> int:
        """Calls the job's steps make at once: the client's ``max_concurrency``."""
        return _width_of(self._sync_client())

    def _run(self, make_steps: Callable[[JobState], Steps]) -> Any:
        """Run steps under the job's lock, on the state as saved (another process may have
        moved the job on since this object read it)."""
        with self._store.lock():
            self._state = self._store.load()
            try:
                return drive(make_steps(self._state), self._sync_client())
            except SirayaError as exc:
                exc.add_note(self._hint())
                raise
            finally:
                self._release_client()

    def _reload(self) -> JobState:
        self._state = self._store.load()
        return self._state

    def submit_pending(self) -> Job:
        """Create the batches whose intent is recorded but whose id is not (after a crash)."""
        self._run(
            lambda state: submit_steps(
                self._store, state, self._plan_unplanned(state), width=self._width()
            )
        )
        return self

    def _plan_unplanned(self, state: JobState) -> dict[str, BatchPayload]:
        """Plan the requests saved by a run that stopped before recording their intents."""
        if unplanned_requests(self._store, state).is_empty():
            return {}
        logger.info("planning requests %s holds but never planned", self.path)
        return plan_added(self._store, state, self._store.read_requests(), _NO_REQUESTS)

    def status(self, *, refresh: bool = True) -> JobStatus:
        """Poll each unfinished batch once (unless ``refresh=False``) and report progress.

        While another process waits on the job, this reports the state that process last
        saved instead of polling.
        """
        if refresh:
            try:
                self._run(lambda state: poll_steps(self._store, state, width=self._width()))
            except JobBusyError:
                logger.info("another process is waiting on %s: showing its saved state", self.path)
            except JobStoreError as exc:  # a read-only job directory: report what is saved
                logger.debug("cannot update %s (%s): showing its saved state", self.path, exc)
        return status_of(self._store, self._reload())

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool = True,
        schedule: PollSchedule | None = None,
    ) -> Job:
        """Block until every batch has ended and its results are saved.

        Polling is quick at first and backs off to ``schedule.maximum`` seconds, never
        past a batch's expiry. Ctrl-C stops waiting without cancelling the batches.

        Raises
        ------
        WaitTimeoutError
            When ``timeout`` seconds pass first; the batches keep running.
        """
        bar = Progress(progress, self._state.n_requests, "siraya batch")
        deadline = time.time() + timeout if timeout is not None else None
        schedule = schedule or PollSchedule()

        def steps(state: JobState) -> Steps:
            self._plan_unplanned(state)
            return wait_steps(self._store, state, schedule, bar, deadline, width=self._width(),
                              bodies=self._bodies)  # fmt: skip

        try:
            self._run(steps)
        except KeyboardInterrupt:
            logger.info("stopped waiting. %s", self._hint())
            print(f"\nStopped waiting; the batches keep running. {self._hint()}")
            raise
        finally:
            bar.close()
        return self

    async def wait_async(
        self,
        client: AsyncSirayaClient | None = None,
        *,
        timeout: float | None = None,
        progress: bool = True,
        schedule: PollSchedule | None = None,
    ) -> Job:
        """The awaitable :meth:`wait`, with an :class:`AsyncSirayaClient`."""
        _check_protocol(self._store, self._state, client)
        owned = client is None
        client = client or AsyncSirayaClient(
            base_url=self._state.base_url, protocol=self._state.protocol
        )
        bar = Progress(progress, self._state.n_requests, "siraya batch")
        deadline = time.time() + timeout if timeout is not None else None
        try:
            with self._store.lock():
                state = self._reload()
                self._plan_unplanned(state)
                schedule = schedule or PollSchedule()
                width = _width_of(client)
                steps = wait_steps(self._store, state, schedule, bar, deadline, width=width,
                                   bodies=self._bodies)  # fmt: skip
                await adrive(steps, client)
        except SirayaError as exc:
            exc.add_note(self._hint())
            raise
        finally:
            bar.close()
            if owned:
                await client.aclose()
        return self

    def cancel(self) -> JobStatus:
        """Cancel every unfinished batch; finished results stay collectable with :meth:`wait`."""
        self._run(lambda state: cancel_steps(self._store, state))
        return status_of(self._store, self._state)

    def results(self) -> pl.DataFrame:
        """One row per submitted ``custom_id`` with its outcome.

        Columns: the :data:`~siraya_frames._lines_common.RESULT_SCHEMA` ones, ``custom_id``,
        ``result_status`` (succeeded, errored, canceled, expired, missing, or pending while
        its batch runs), ``response_text``, ``tool_calls`` (a JSON list of
        ``{"name", "input", "id"}``, or null), ``stop_reason``, ``model``, ``input_tokens``,
        ``output_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``
        (null when the service did not report them), ``error_type``, ``error_message``;
        then ``batch_id``.
        """
        return collect_results(self._store, self._reload())

    def output(
        self, path: str | os.PathLike[str] | None = None, *, wait: bool = True,
        progress: bool = True,
    ) -> pl.DataFrame:  # fmt: skip
        """The frame ``run`` returns, with its file written (``path``, else run's ``output``).

        ``wait=False`` takes the answers saved so far (unfinished rows are ``pending``).
        Raises :class:`JobError` for a job without ``run``'s recipe (made by ``submit``
        or an older version). Example: ``siraya_frames._finish``.
        """
        from siraya_frames._finish import output

        return output(self, path, wait=wait, progress=progress)

    def retry_failed(
        self,
        *,
        include_canceled: bool = False,
        include_invalid: bool = False,
        max_rounds: int = 1,
        wait: bool = True,
        progress: bool = True,
    ) -> Job:
        """Resubmit only the outcomes a resend can fix, in at most ``max_rounds`` rounds.

        Retried: errored with a transient error type, expired, missing; canceled when
        ``include_canceled``; invalid-request errors only when ``include_invalid``. The new
        results merge into this job: a success from any round wins.
        """
        for _ in range(max_rounds):
            ids = self.results().filter(retryable(include_canceled, include_invalid))
            if ids.is_empty():
                break
            requests = ids.select("custom_id").join(
                self._store.read_requests(), on="custom_id", how="left", maintain_order="left"
            )
            self._run(functools.partial(self._round_steps, requests=requests))
            if not wait:
                break
            self.wait(progress=progress)
        return self

    def add_requests(self, requests: pl.DataFrame) -> int:
        """Plan and submit the requests this job does not hold yet; return how many."""
        added = 0

        def make_steps(state: JobState) -> Steps:
            nonlocal added
            held = self._store.read_requests()
            new = requests.join(held.select("custom_id"), on="custom_id", how="anti")
            added = new.height
            bodies = plan_added(self._store, state, held, new)
            return submit_steps(self._store, state, bodies, width=self._width())

        self._run(make_steps)
        return added

    def _round_steps(self, state: JobState, requests: pl.DataFrame) -> Steps:
        """Plan ``requests`` as a new round (intents saved now), then create its batches."""
        bodies = (
            plan_round(self._store, state, requests, next_round(state)) if requests.height else {}
        )
        return submit_steps(self._store, state, bodies, width=self._width())


def _check_protocol(store: JobStore, state: JobState, client: Any) -> None:
    """Refuse a client that speaks another protocol than the job's."""
    theirs = getattr(client, "protocol", None)
    if client is not None and isinstance(theirs, str) and theirs != state.protocol:
        raise JobError(
            f"the job in {str(store.path)!r} speaks protocol {state.protocol!r}, but the client "
            f"speaks {theirs!r}; pass a client made with protocol={state.protocol!r} (or "
            "none: Job.open makes one), or use another job_dir"
        )


def iter_jobs(root: str | os.PathLike[str] | None = None) -> Iterable[Path]:
    """The job directories under ``root`` (default ``./.siraya_frames``)."""
    base = Path(root or _config.resolve_job_root())
    found = {p.parent for name in ("job.sqlite3", "job.json") for p in base.glob(f"*/{name}")}
    return sorted(found)
