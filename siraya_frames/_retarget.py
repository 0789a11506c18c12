"""When a job may follow its service to another URL: the emulator on a new port.

A job remembers the URL it was submitted to, and re-running the same call against another
service is refused: its batches live there, and a second service would bill them again.
One case is safe and common: a job that has ended, every result saved in its directory,
submitted to a service on this machine (the emulator, whose port changes each time it
starts), re-run against another service on this machine. Nothing is sent for it (its
results are on disk), and nothing on this machine bills, so the job moves to the new URL.

Examples
--------
>>> may_follow("http://127.0.0.1:8000/v1", "http://127.0.0.1:9000/v1", ended=True)
True
>>> may_follow("https://llm.siraya.pro/v1", "http://127.0.0.1:9000/v1", ended=True)
False
>>> may_follow("http://127.0.0.1:8000/v1", "http://127.0.0.1:9000/v1", ended=False)
False
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from siraya_frames._config import is_loopback
from siraya_frames._polling import Steps
from siraya_frames._store import JobState, JobStore
from siraya_frames._submit import unplanned_requests
from siraya_frames._wait import is_finished

__all__ = ["has_ended", "may_follow", "retarget_steps"]

logger = logging.getLogger("siraya_frames")


def may_follow(saved_url: str, new_url: str, *, ended: bool) -> bool:
    """True when a job saved for ``saved_url`` may move to ``new_url``: it has ended and
    both URLs are on this machine."""
    hosts = (urlsplit(saved_url).hostname, urlsplit(new_url).hostname)
    return ended and all(is_loopback(host) for host in hosts)


def has_ended(store: JobStore, state: JobState) -> bool:
    """Every batch ended with its results saved, and no request left to plan."""
    batches_ended = all(is_finished(r) for r in state.batches)
    return bool(state.batches) and batches_ended and unplanned_requests(store, state).is_empty()


def retarget_steps(store: JobStore, state: JobState, base_url: str) -> Steps:
    """Record the job's new URL (a step with no call)."""
    logger.info("the job in %s moves from %s to %s", store.path, state.base_url, base_url)
    state.base_url = base_url
    store.save_job(state)
    yield from ()
