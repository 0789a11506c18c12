"""The job directory: the only state a job needs to be resumed from any process.

Layout::

    <job_dir>/
        job.json                 human-readable state: settings, batches, intents, ids, statuses
        requests.parquet         the unique requests: custom_id, params_json
        batches/<key>.ids        the custom_ids of one planned batch, one per line
        results/<key>.jsonl      the raw results of one batch, saved before parsing

Every write is atomic (a temporary file in the same folder, then ``os.replace``), so a crash
at any point leaves either the old or the new file. The temporary files a crash leaves
(``.<name>.*.tmp``, and ``.<name>.<pid>.part`` of a cut download) are removed whenever the job's
lock is taken. A write that fails (disk full, no permission) raises :class:`JobStoreError`
naming the file. The API key is never written here.

Examples
--------
>>> import tempfile
>>> store = JobStore(tempfile.mkdtemp())
>>> store.write_ids("r0-b0000", ["a", "b"])
>>> store.read_ids("r0-b0000")
['a', 'b']
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from siraya_frames._errors import JobBusyError, JobError, JobNotFoundError, JobStoreError

try:  # POSIX; elsewhere jobs are not locked (see JobStore.lock)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("siraya_frames")

__all__ = ["BatchRecord", "JobState", "JobStore", "atomic_write", "utc_now", "writing"]

JOB_FORMAT = "siraya-frames-job/1"
TEMP_SUFFIXES = (".tmp", ".part")
"""Endings of our own temporary files (``.<name>.*.tmp``, ``.<name>.<pid>.part``)."""
TEMP_FOLDERS = (".", "batches", "results")
"""The folders of a job directory where temporary files are made."""


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into a :class:`JobStoreError` naming it.

    Examples
    --------
    >>> try:
    ...     with writing("/job/job.json"):
    ...         raise OSError(28, "No space left on device")
    ... except JobStoreError as exc:
    ...     print(exc)
    could not write /job/job.json: [Errno 28] No space left on device; free space (or fix the \
permissions) and re-run the same call (nothing is lost)
    """
    try:
        yield
    except OSError as exc:
        raise JobStoreError(
            f"could not write {os.fspath(path)}: [Errno {exc.errno}] {exc.strerror}; free "
            "space (or fix the permissions) and re-run the same call (nothing is lost)",
            path=os.fspath(path),
        ) from exc


@dataclass
class BatchRecord:
    """One planned batch: its intent, then its id and progress.

    ``status`` is ``"planned"`` from the moment the intent is recorded until the service
    confirms the create; then a :class:`~siraya_frames._shapes.BatchStatus` value; or
    ``"not_submitted"`` when the job was cancelled before the create was sent.
    """

    key: str
    round: int
    idempotency_key: str
    n_requests: int
    status: str = "planned"
    batch_id: str | None = None
    raw_status: str | None = None
    done: int = 0
    failed: int = 0
    expires_at: float | None = None
    planned_at: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    results_file: str | None = None
    result_url: str | None = None
    result_fetches: int = 0
    error: str | None = None
    result_urls: list[str] = field(default_factory=list)
    """Every results file of the batch (OpenAI: output and error files), absolute URLs."""
    input_file_id: str | None = None
    """The uploaded request file (file-based protocols), saved once the upload answered."""
    upload_started_at: str | None = None
    """Set before the request file is uploaded (the upload's intent)."""
    create_sent_at: str | None = None
    """Set before the create is sent: a resume then looks for the batch before creating."""
    results_error: str | None = None
    """Why the batch's results could not be fetched (its ids are then ``results_unavailable``,
    never resent automatically); the next ``wait`` tries again."""


@dataclass
class JobState:
    """Everything ``job.json`` holds."""

    job_id: str
    base_url: str
    max_requests: int
    max_bytes: int
    n_requests: int = 0
    created_at: str = field(default_factory=utc_now)
    provenance: dict[str, Any] = field(default_factory=dict)
    batches: list[BatchRecord] = field(default_factory=list)
    format: str = JOB_FORMAT
    task_fingerprint: str | None = None
    """What defines the job's task (prompt, model, labels...: see ``_task.py``), hashed."""
    protocol: str = "siraya"
    """The wire protocol the job speaks (job dirs made before protocols existed: siraya)."""
    max_tokens: int | None = None
    """The largest ``max_tokens`` of the job's requests: it bounds a results download."""
    max_result_bytes: int | None = None
    """The user's cap on one batch's results download; None: derived (see ``_wait``)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """Rebuild the state from the decoded ``job.json``."""
        batches = [BatchRecord(**b) for b in data.get("batches", [])]
        return cls(**{**data, "batches": batches})

    def to_json(self) -> bytes:
        """Encode the state as indented, human-readable JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False).encode()


class JobStore:
    """Reads and writes one job directory.

    Parameters
    ----------
    path
        The job directory; made on first write.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    @property
    def state_file(self) -> Path:
        return self.path / "job.json"

    def exists(self) -> bool:
        """True when a job has been saved here."""
        return self.state_file.is_file()

    def load(self) -> JobState:
        """Read ``job.json``; a clear error when it is missing or damaged."""
        if not self.exists():
            raise JobNotFoundError(
                f"no job in {str(self.path)!r} (no job.json); check the path, or submit first"
            )
        try:
            state = JobState.from_dict(json.loads(self.state_file.read_bytes()))
        except (ValueError, TypeError) as exc:
            raise JobError(f"{self.state_file} is damaged and cannot be read: {exc}") from exc
        if state.format != JOB_FORMAT:
            raise JobError(f"{self.state_file} has format {state.format!r}; expected {JOB_FORMAT}")
        return state

    def save(self, state: JobState) -> None:
        """Write ``job.json`` atomically."""
        with writing(self.state_file):
            atomic_write(self.state_file, state.to_json())

    def write_requests(self, requests: pl.DataFrame) -> None:
        """Save the unique requests (``custom_id``, ``params_json``) atomically."""
        target = self.path / "requests.parquet"
        with writing(target):
            fd, tmp = tempfile.mkstemp(dir=self._ensure(), prefix=".requests.", suffix=".tmp")
            os.close(fd)
            try:
                requests.select("custom_id", "params_json").write_parquet(tmp)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def count_requests(self) -> int:
        """How many requests ``requests.parquet`` holds (read from its footer)."""
        return pl.scan_parquet(self.path / "requests.parquet").select(pl.len()).collect().item()

    def read_requests(self, columns: list[str] | None = None) -> pl.DataFrame:
        """The unique requests of the job, in submission order (only ``columns`` if given)."""
        return pl.read_parquet(self.path / "requests.parquet", columns=columns)

    def write_ids(self, key: str, ids: list[str]) -> None:
        """Save the custom_ids of one planned batch."""
        path = self.path / "batches" / f"{key}.ids"
        with writing(path):
            atomic_write(path, ("\n".join(ids) + "\n").encode())

    def read_ids(self, key: str) -> list[str]:
        """The custom_ids of one planned batch."""
        return (self.path / "batches" / f"{key}.ids").read_text().split()

    def results_path(self, key: str) -> Path:
        """Where the raw results of batch ``key`` are saved."""
        with writing(self.path / "results"):
            (self.path / "results").mkdir(parents=True, exist_ok=True)
        return self.path / "results" / f"{key}.jsonl"

    def remove_temporary_files(self) -> list[Path]:
        """Delete the temporary files an interrupted write or download left; return them.

        Only files named like ours (``.<name>...tmp`` / ``.part``) in the job directory and
        its ``batches/`` and ``results/`` folders; call it holding the lock.
        """
        removed = []
        for folder in TEMP_FOLDERS:
            for path in sorted((self.path / folder).glob(".*")):
                if path.name.endswith(TEMP_SUFFIXES) and path.is_file() and not path.is_symlink():
                    try:
                        path.unlink(missing_ok=True)
                    except OSError as exc:  # a read-only directory: harmless, left there
                        logger.debug("could not remove %s: %s", path, exc)
                        continue
                    removed.append(path)
        if removed:
            logger.info("removed %d leftover temporary file(s) in %s", len(removed), self.path)
        return removed

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the job's lock while changing it: one process at a time submits or waits.

        Raises
        ------
        JobBusyError
            At once (no waiting) when another process holds it. On systems without
            ``fcntl`` (Windows) jobs are not locked.
        """
        with writing(self.path / ".lock"):
            fh = (self._ensure() / ".lock").open("a+")
        with fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fh.seek(0)
                    raise JobBusyError(
                        f"the job in {str(self.path)!r} is in use by another process "
                        f"({fh.read().strip() or 'pid unknown'}), which is submitting or "
                        "waiting on it; let it finish, or stop it (its batches keep running) "
                        "and try again"
                    ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            self.remove_temporary_files()
            try:
                yield
            finally:
                fh.truncate(0)  # closing the file releases the lock

    def tidy(self) -> None:
        """Remove leftover temporary files if the lock is free and the directory writable.

        A job another process holds, or a read-only directory, is left as it is (logged).
        """
        try:
            with self.lock():
                pass
        except (JobBusyError, JobStoreError) as exc:
            logger.debug("not tidying %s: %s", self.path, exc)

    def _ensure(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path
