"""An interruption at any step of a submit loses no row and pays for no batch twice.

Each test stops a submit at one step (an exception, or a real ``kill -9``), then does what a
user would: open the job and wait, re-run the same call, wait again. Every row must get its
answer, and the service must hold exactly one batch per planned batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import _errors as errors
from siraya_frames._store import JobStore
from siraya_frames.emulator import Emulator

FAST = sf.PollSchedule(initial=0.02, factor=1.5, maximum=0.2, minimum=0.02)
KEY = "sk-siraya-INTERRUPTS-1b2c"
ROOT = Path(__file__).resolve().parents[1]


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C at a chosen step."""


def _frame(tag: str, n: int) -> pl.DataFrame:
    return pl.DataFrame({"row": range(n), "text": [f"{tag} review {i}" for i in range(n)]})


def _requests(df: pl.DataFrame) -> pl.DataFrame:
    return sf.build_requests(df, prompt="{text}", model="openai/gpt-4o-mini-batch", max_tokens=16)


def _client(emu: Emulator) -> sf.SirayaClient:
    retry = sf.RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05)
    return sf.SirayaClient(KEY, emu.base_url, retry=retry)


class _Steps:
    """Counts the steps of a submit (each write, the plan, each create once accepted) and
    interrupts the ``at``-th one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int) -> None:
        self.at, self.seen = at, 0
        for name in ("write_ids", "write_requests", "save", "save_job", "save_batch"):
            self._before(monkeypatch, JobStore, name)
        self._before(monkeypatch, sys.modules["siraya_frames._submit"], "plan_batches")
        create = sf.SirayaClient.create_batch

        def create_then_stop(client, *args, **kwargs):
            answer = create(client, *args, **kwargs)  # accepted; the answer is then lost
            self._tick()
            return answer

        monkeypatch.setattr(sf.SirayaClient, "create_batch", create_then_stop)

    def _before(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        real = getattr(owner, name)

        def step(*args, **kwargs):
            self._tick()
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, step)

    def _tick(self) -> None:
        self.seen += 1
        if self.seen == self.at:
            raise Interrupted(f"interrupted at step {self.at}")


def _check(job_dir: Path, client: sf.SirayaClient, df: pl.DataFrame) -> pl.DataFrame:
    job = sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
    out = sf.join_results(_requests(df), job.results())
    assert out["result_status"].to_list() == ["succeeded"] * df.height
    assert out["response_text"].to_list() == df["text"].to_list()
    return out


@pytest.mark.parametrize("phase", ["new job", "adding rows"])
def test_an_interruption_at_any_step_loses_no_row_and_creates_no_batch_twice(
    tmp_path, monkeypatch, phase
):
    steps_tried = 0
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        for at in range(1, 100):
            tag = f"{phase[0]}{at}"
            first, second = _frame(tag, 6), _frame(tag, 11)  # 2 batches, then 2 more; own ids
            job_dir = tmp_path / tag
            before = emu.stats()["batches"]
            if phase == "adding rows":
                sf.submit(_requests(first), client=client, job_dir=job_dir, max_requests=4)
            call = _requests(first if phase == "new job" else second)
            with monkeypatch.context() as patch:
                steps = _Steps(patch, at)
                with contextlib.suppress(Interrupted):
                    sf.submit(call, client=client, job_dir=job_dir, max_requests=4)
            if steps.seen < at:
                break  # the call ran to the end: every step has been interrupted once
            steps_tried += 1
            if JobStore(job_dir).exists():  # the user waits first...
                sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
            sf.submit(call, client=client, job_dir=job_dir, max_requests=4)  # ...re-runs it
            if phase == "new job":
                sf.submit(_requests(second), client=client, job_dir=job_dir, max_requests=4)
            _check(job_dir, client, second)
            assert emu.stats()["batches"] - before == 4, f"interrupted at step {at}"
            saved = JobStore(job_dir).load().to_dict()
            assert saved["n_requests"] == 11
            assert sum(b["n_requests"] for b in saved["batches"]) == 11
    assert steps_tried >= 8  # plan, ids, ids, requests, intents, create+save, create+save


def test_a_row_over_the_limit_among_new_rows_loses_none_of_the_others(tmp_path):
    first = _frame("limit", 3)
    huge = pl.DataFrame({"row": [99], "text": ["w" * 5_000]})
    job_dir = tmp_path / "j"
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        sf.submit(_requests(first), client=client, job_dir=job_dir, max_bytes=2_000)
        grown = _frame("limit", 6)
        with pytest.raises(errors.BatchLimitError):
            sf.submit(
                _requests(pl.concat([grown, huge])), client=client, job_dir=job_dir, max_bytes=2_000
            )
        sf.submit(_requests(grown), client=client, job_dir=job_dir)  # without the big one
        _check(job_dir, client, grown)
        assert emu.stats()["batches"] == 2


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import polars as pl
    import siraya_frames as sf
    from siraya_frames import _statedb, _store

    base_url, job_dir, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = [0]
    real_replace, real_commit = _store.os.replace, _statedb._commit

    def kill_at_step():
        seen[0] += 1
        if seen[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    def replace(src, dst):  # kill -9 with the temporary file written, not yet renamed
        kill_at_step()
        return real_replace(src, dst)

    def commit(conn):  # kill -9 with the transaction written to the journal, not committed
        kill_at_step()
        return real_commit(conn)

    _store.os.replace, _statedb._commit = replace, commit
    df = pl.DataFrame({"row": range(11), "text": [f"kill review {i}" for i in range(11)]})
    requests = sf.build_requests(
        df, prompt="{text}", model="openai/gpt-4o-mini-batch", max_tokens=16
    )
    with sf.SirayaClient(os.environ["SIRAYA_API_KEY"], base_url) as client:
        sf.submit(requests, client=client, job_dir=job_dir, max_requests=4)
    """
)


def _leftovers(job_dir: Path) -> list[Path]:
    """Temporary files, and the journal of a transaction a kill cut short."""
    journals = [p for p in job_dir.glob("*-journal") if p.stat().st_size]  # empty: committed
    return [*job_dir.rglob(".*.tmp"), *journals]


# the steps: ids, requests.parquet, the intents (a commit), create_sent_at, a batch id
@pytest.mark.parametrize("at", [1, 3, 4, 5, 6])
def test_kill_9_while_adding_rows_loses_nothing_and_leaves_no_temporary_file(tmp_path, at):
    job_dir = tmp_path / "j"
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        sf.submit(_requests(_frame("kill", 6)), client=client, job_dir=job_dir, max_requests=4)
        env = {**os.environ, "SIRAYA_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-c", _KILLER, emu.base_url, str(job_dir), str(at)]
        done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, timeout=120)
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
        assert _leftovers(job_dir), "the kill should leave a temporary file or a journal"
        sf.Job.open(job_dir, client=client)  # opening the job removes it (rolls it back)
        assert not _leftovers(job_dir)
        sf.submit(_requests(_frame("kill", 11)), client=client, job_dir=job_dir, max_requests=4)
        _check(job_dir, client, _frame("kill", 11))
        assert emu.stats()["batches"] == 4
