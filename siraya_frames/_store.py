"""The job directory: the only state a job needs to be resumed from any process.

Layout::

    <job_dir>/
        job.sqlite3              the state: settings, and per batch its intent, id, status
                                 (one row each, saved alone: see ``_statedb.py``)
        requests.parquet         the unique requests: custom_id, params_json
        batches/<key>.ids        the custom_ids of one planned batch, one per line
        results/<key>.jsonl      the raw results of one batch, saved before parsing
        results/<key>.parquet    those results parsed once (a cache: see ``_results_cache.py``)

Every write is atomic (a SQLite transaction; for files a temporary file in the same folder,
then ``os.replace``), so a crash at any point leaves either the old or the new state. A job
made before ``job.sqlite3`` (``job.json``) is migrated when it is opened. The temporary files
a crash leaves (``.<name>.*.tmp``, and ``.<name>.<pid>.part`` of a cut download) are removed
whenever the job's lock is taken. A write that fails (disk full, no permission) raises
:class:`JobStoreError` naming the file. The API key is never written here.

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
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from siraya_frames import _statedb
from siraya_frames._errors import JobBusyError, JobError, JobNotFoundError, JobStoreError
from siraya_frames._state import JOB_FORMAT, BatchRecord, JobState, encode_batch, utc_now

try:  # POSIX; elsewhere jobs are not locked (see JobStore.lock)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("siraya_frames")

__all__ = ["BatchRecord", "JobState", "JobStore", "atomic_write", "utc_now", "writing"]

STATE_FILE = "job.sqlite3"
LEGACY_FILE = "job.json"
"""The whole-state JSON file of jobs made before ``job.sqlite3`` (migrated on open)."""
TEMP_SUFFIXES = (".tmp", ".part")
"""Endings of our own temporary files (``.<name>.*.tmp``, ``.<name>.<pid>.part``)."""
TEMP_FOLDERS = (".", "batches", "results")
"""The folders of a job directory where temporary files are made."""


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


class JobStore:
    """Reads and writes one job directory.

    Parameters
    ----------
    path
        The job directory; made on first write.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._locked = False
        self._saved: dict[str, str] = {}
        """Each batch as this store last read or saved it (encoded): an unchanged one is not
        saved again (a poll that brought no news costs no commit)."""

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    @property
    def state_file(self) -> Path:
        """The job's state: ``job.sqlite3`` (see ``_statedb.py``)."""
        return self.path / STATE_FILE

    @property
    def legacy_file(self) -> Path:
        """``job.json`` of a job made before ``job.sqlite3``, until it is migrated."""
        return self.path / LEGACY_FILE

    def exists(self) -> bool:
        """True when a job has been saved here."""
        return self.legacy_file.is_file() or _statedb.has_job(self.state_file)

    def load(self) -> JobState:
        """Read the job's state; a clear error when it is missing or damaged.

        An old job directory (``job.json``) is migrated first when its lock can be taken;
        otherwise (a read-only directory, another process at work) ``job.json`` is read.
        """
        if self.legacy_file.is_file():
            return self._load_legacy()
        if not _statedb.has_job(self.state_file):
            raise JobNotFoundError(
                f"no job in {str(self.path)!r} (no {STATE_FILE}); check the path, or submit first"
            )
        state = _statedb.read(self.state_file)
        self._saved = {rec.key: encode_batch(rec) for rec in state.batches}
        return state

    def save(self, state: JobState) -> None:
        """Replace the whole saved state with ``state``, in one transaction."""
        self._ensure_quietly()
        _statedb.write(self.state_file, state, state.batches, replace=True)
        self._saved = {rec.key: encode_batch(rec) for rec in state.batches}

    def save_job(self, state: JobState, *, batches: Iterable[BatchRecord] = ()) -> None:
        """Save the job's settings and ``batches`` (new or changed), in one transaction:
        the other batches are not touched."""
        self._ensure_quietly()
        batches = list(batches)
        _statedb.write(self.state_file, state, batches)
        self._saved.update((rec.key, encode_batch(rec)) for rec in batches)

    def save_batch(self, rec: BatchRecord) -> None:
        """Save one batch's record (its row updated in place): constant cost per event.
        A record unchanged since this store read or saved it is not written again."""
        encoded = encode_batch(rec)
        if self._saved.get(rec.key) == encoded:
            return
        _statedb.write(self.state_file, None, [rec])
        self._saved[rec.key] = encoded

    def _ensure_quietly(self) -> None:
        with writing(self.path):
            self._ensure()

    def _load_legacy(self) -> JobState:
        try:
            state = JobState.from_dict(json.loads(self.legacy_file.read_bytes()))
        except (ValueError, TypeError) as exc:
            raise JobError(f"{self.legacy_file} is damaged and cannot be read: {exc}") from exc
        if state.format != JOB_FORMAT:
            raise JobError(f"{self.legacy_file} has format {state.format!r}; expected {JOB_FORMAT}")
        try:
            if self._locked:
                self._migrate(state)
            else:
                with self.lock():
                    if self.legacy_file.is_file():
                        self._migrate(state)
        except (JobBusyError, JobStoreError) as exc:
            logger.info("not migrating %s now (%s): reading it as it is", self.legacy_file, exc)
        return state

    def _migrate(self, state: JobState) -> None:
        """Import ``job.json`` in one transaction, then rename it ``job.json.migrated``.
        Killed before the rename, the next open imports it again (the same state)."""
        self.save(state)
        with writing(self.legacy_file):
            self.legacy_file.rename(self.path / f"{LEGACY_FILE}.migrated")
        logger.info("migrated %s to %s", self.legacy_file, self.state_file)

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
            self._saved = {}  # another process may have saved since: trust only a new read
            if _statedb.settle(self.state_file):
                logger.info("rolled back the interrupted save of %s", self.state_file)
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
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
