"""Polling while creates are still being sent: a wait that starts with batches not created
yet (``run``'s, whose ``submit`` leaves the creates to it) polls the batches already created
whenever a poll is due, between waves of creates, and still creates each batch once."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames._polling import PollSchedule, drive
from siraya_frames._store import JobStore
from siraya_frames._wait import wait_steps
from siraya_frames.emulator import Emulator

KEY = "sk-test-interleave"
N = 6


class _Stop(Exception):
    pass


class Clocked:
    """The client, on a simulated clock: each create takes one second; records the calls."""

    def __init__(self, client: sf.SirayaClient, clock: list[float], fail_at: int = 0) -> None:
        self.client, self.clock, self.names, self.fail_at = client, clock, [], fail_at
        self.max_concurrency = 1

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "create_batch":
                if self.names.count("create_batch") + 1 == self.fail_at:
                    raise _Stop  # the process dies before this create is sent
                self.clock[0] += 1.0
            self.names.append(name)
            return method(*args, **kwargs)

        return call


def _requests() -> pl.DataFrame:
    frame = pl.DataFrame({"text": [f"row {i}" for i in range(N)]})
    return sf.build_requests(frame, prompt="Say {text}", model="m-1", max_tokens=8)


def _wait(job: sf.Job, client: Clocked) -> None:
    store = JobStore(job.path)
    state = store.load()
    schedule = PollSchedule(initial=1.5, factor=1.0, maximum=1.5, minimum=0.01)

    def sleep(seconds: float) -> None:
        client.clock[0] += seconds

    steps = wait_steps(store, state, schedule, lambda s: None, None, lambda: client.clock[0],
                       width=1, bodies=job._bodies)  # fmt: skip
    drive(steps, client, sleep=sleep)


def _creates(emu: Emulator) -> int:
    return sum(c["method"] == "POST" and c["path"].rstrip("/").endswith("/batches")
               for c in emu.calls())  # fmt: skip


def test_a_wait_polls_the_first_batches_before_the_last_create(tmp_path):
    with Emulator(api_key=KEY) as emu, sf.SirayaClient(KEY, emu.base_url) as real:
        job = sf.submit(_requests(), client=real, job_dir=tmp_path / "j", max_requests=1,
                        _send=False)  # fmt: skip
        assert job.status(refresh=False).total == N and _creates(emu) == 0  # intents only
        client = Clocked(real, [0.0])
        _wait(job, client)
        assert _creates(emu) == N  # each batch created once
    last_create = len(client.names) - 1 - client.names[::-1].index("create_batch")
    polls = [i for i, name in enumerate(client.names) if name in ("get_batch", "list_batches")]
    assert polls and polls[0] < last_create  # polled while creates were still to be sent
    out = job.results()
    assert out.height == N and out["result_status"].to_list() == ["succeeded"] * N


def test_a_wait_killed_between_creates_resumes_without_creating_a_batch_twice(tmp_path):
    with Emulator(api_key=KEY) as emu, sf.SirayaClient(KEY, emu.base_url) as real:
        job = sf.submit(_requests(), client=real, job_dir=tmp_path / "j", max_requests=1,
                        _send=False)  # fmt: skip
        with pytest.raises(_Stop):
            _wait(job, Clocked(real, [0.0], fail_at=4))  # polls, then dies before create 4
        assert _creates(emu) == 3
        again = sf.Job.open(tmp_path / "j", client=real)
        again.wait(progress=False, schedule=PollSchedule(initial=0.01, maximum=0.05))
        assert _creates(emu) == N
    out = again.results()
    assert out.height == N and out["result_status"].to_list() == ["succeeded"] * N


def test_run_without_wait_returns_once_every_create_is_sent(tmp_path):
    frame = pl.DataFrame({"text": [f"row {i}" for i in range(N)]})
    with Emulator(api_key=KEY) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        job = sf.run(frame, prompt="Say {text}", model="m-1", max_tokens=8, client=client,
                     job_dir=tmp_path / "j", max_requests=1, wait=False,
                     progress=False)  # fmt: skip
        assert _creates(emu) == N
    assert len(job.batch_ids) == N and all(job.batch_ids)
