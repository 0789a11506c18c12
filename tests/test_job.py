"""The batch lifecycle end to end against the emulator: no row lost, nothing paid twice."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import _errors as errors
from siraya_frames._store import JobStore
from siraya_frames.emulator import Emulator

FAST = sf.PollSchedule(initial=0.02, factor=1.5, maximum=0.2)
KEY = "sk-siraya-RECOGNISABLE-7c1f0e"


def _frame(n: int, repeat: int = 1) -> pl.DataFrame:
    texts = [f'review {i}: café ☕ "quoted" {{braces}}\nline two' for i in range(n)]
    return pl.DataFrame({"row": range(n * repeat), "text": texts * repeat})


def _requests(df: pl.DataFrame) -> pl.DataFrame:
    return sf.build_requests(df, prompt="{text}", model="openai/gpt-4o-mini-batch", max_tokens=64)


def _client(emu: Emulator, **kw) -> sf.SirayaClient:
    retry = kw.pop("retry", sf.RetryPolicy(max_attempts=8, initial_wait=0.01, max_wait=0.05))
    return sf.SirayaClient(KEY, emu.base_url, retry=retry, **kw)


def _assert_echo(out: pl.DataFrame, df: pl.DataFrame) -> None:
    """Every row has exactly one outcome and the echo backend answered its own prompt."""
    assert out.height == df.height
    assert out["row"].to_list() == df["row"].to_list()
    assert out["result_status"].to_list() == ["succeeded"] * df.height
    assert out["response_text"].to_list() == df["text"].to_list()


@pytest.mark.parametrize("dialect", ["quickstart", "reference", "infron"])
@pytest.mark.parametrize("results_format", ["anthropic", "openai"])
def test_every_dialect_and_result_format_end_to_end(tmp_path, dialect, results_format):
    df = _frame(23, repeat=2)
    requests = _requests(df)
    with Emulator(api_key=KEY, dialect=dialect, results_format=results_format) as emu:
        with _client(emu) as client:
            job = sf.submit(requests, client=client, job_dir=tmp_path / "job", max_requests=5)
            job.wait(progress=False, schedule=FAST)
            results = job.results()
        stats = emu.stats()
    assert len(job.batch_ids) == 5 == len(set(job.batch_ids))
    assert results.height == 23 and results["custom_id"].n_unique() == 23
    assert set(results["batch_id"]) == set(job.batch_ids)
    assert results["input_tokens"].min() > 0 and results["output_tokens"].min() > 0
    _assert_echo(sf.join_results(requests, results), df)
    assert stats["batches"] == 5


def test_429_and_503_bursts_are_ridden_out(tmp_path):
    df = _frame(30)
    with Emulator(api_key=KEY, retry_after=0.01) as emu, _client(emu) as client:
        emu.set_faults(fail_next_calls=3, http_error_status=503)
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j", max_requests=10)
        emu.set_faults(http_error_rate=0.3, http_error_status=429)
        job.wait(progress=False, schedule=FAST)
        emu.set_faults(http_error_rate=0.0)
        out = sf.join_results(_requests(df), job.results())
        assert emu.stats()["batches"] == 3
    _assert_echo(out, df)


def test_dropped_connection_after_an_accepted_create_does_not_create_twice(tmp_path):
    df = _frame(12)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        emu.set_faults(drop_after_create=2)
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j", max_requests=4)
        job.wait(progress=False, schedule=FAST)
        assert emu.stats()["batches"] == 3
        out = sf.join_results(_requests(df), job.results())
    _assert_echo(out, df)


def test_crash_between_create_and_record_resumes_with_the_same_idempotency_key(tmp_path):
    df = _frame(9)
    job_dir = tmp_path / "j"
    with Emulator(api_key=KEY) as emu:
        emu.set_faults(drop_after_create=1)
        one_try = sf.RetryPolicy(max_attempts=1)
        serial = _client(emu, retry=one_try, max_concurrency=1)
        with serial as client, pytest.raises(errors.APIConnectionError) as e:
            sf.submit(_requests(df), client=client, job_dir=job_dir, max_requests=3)
        assert "Job.open" in "".join(e.value.__notes__)
        state = JobStore(job_dir).load().to_dict()
        assert [b["status"] for b in state["batches"]] == ["planned"] * 3
        assert emu.stats()["batches"] == 1  # the service did accept the first one
        with _client(emu) as client:
            job = sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
            out = sf.join_results(_requests(df), job.results())
        assert emu.stats()["batches"] == 3
    _assert_echo(out, df)


def test_a_failed_create_keeps_the_ids_the_others_in_flight_got(tmp_path):
    df = _frame(9)
    job_dir = tmp_path / "j"
    with Emulator(api_key=KEY) as emu:
        emu.set_faults(drop_after_create=1)
        one_try = sf.RetryPolicy(max_attempts=1)
        side_by_side = _client(emu, retry=one_try, max_concurrency=3)
        with side_by_side as client, pytest.raises(errors.APIConnectionError):
            sf.submit(_requests(df), client=client, job_dir=job_dir, max_requests=3)
        state = JobStore(job_dir).load().to_dict()
        statuses = sorted(b["status"] for b in state["batches"])
        assert statuses == ["pending", "pending", "planned"]  # two ids saved, one unknown
        assert emu.stats()["batches"] == 3
        with _client(emu) as client:
            job = sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
            out = sf.join_results(_requests(df), job.results())
        assert emu.stats()["batches"] == 3  # the unknown one resent with its key: no twin
    _assert_echo(out, df)


def test_cut_result_streams_are_fetched_again(tmp_path):
    df = _frame(20)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        emu.set_faults(cut_results_after=5, cut_results_times=2)
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
        out = sf.join_results(_requests(df), job.wait(progress=False, schedule=FAST).results())
    _assert_echo(out, df)


def test_errored_requests_are_reported_then_retried_once(tmp_path):
    df = _frame(40, repeat=2)
    requests = _requests(df)
    with Emulator(api_key=KEY, error_rate=0.3, error_type="overloaded_error") as emu:
        with _client(emu) as client:
            job = sf.submit(requests, client=client, job_dir=tmp_path / "j", max_requests=15)
            first = job.wait(progress=False, schedule=FAST).results()
            errored = first.filter(pl.col("result_status") == "errored")
            assert 0 < errored.height < 40
            assert set(errored["error_type"]) == {"overloaded_error"}
            assert errored["response_text"].null_count() == errored.height
            before = job.status(refresh=False)
            assert (before.done, before.failed) == (40, errored.height)
            emu.set_faults(error_rate=0.0)
            job.retry_failed(progress=False)
            after = job.status(refresh=False)
            assert (after.finished, after.done, after.failed) == (True, 40, 0)
            final = sf.join_results(requests, job.results())
        stats = emu.stats()
    _assert_echo(final, df)
    assert (
        stats["requests_processed"] == 40 + errored.height
    )  # nothing that succeeded was sent again


def test_invalid_requests_are_not_retried_unless_asked(tmp_path):
    df = _frame(6)
    emu = Emulator(api_key=KEY, error_rate=1.0, error_type="invalid_request_error")
    with emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
        job.wait(progress=False, schedule=FAST).retry_failed(progress=False)
        assert emu.stats()["batches"] == 1
        job.retry_failed(include_invalid=True, progress=False)
        assert emu.stats()["batches"] == 2


def test_expired_batch_keeps_finished_rows_and_expires_the_rest(tmp_path):
    df = _frame(30)
    with Emulator(api_key=KEY, seconds_per_request=0.02) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
        _until(lambda: emu.batch(job.batch_ids[0])["request_counts"]["completed"] >= 3)
        emu.expire(job.batch_ids[0])
        results = job.wait(progress=False, schedule=FAST).results()
        counts = dict(results["result_status"].value_counts().iter_rows())
        assert set(counts) == {"succeeded", "expired"} and sum(counts.values()) == 30
        emu.set_faults(seconds_per_request=0.0)
        job.retry_failed(progress=False)
        out = sf.join_results(_requests(df), job.results())
    _assert_echo(out, df)


def test_cancel_keeps_what_finished(tmp_path):
    df = _frame(40)
    with Emulator(api_key=KEY, seconds_per_request=0.03) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j", max_requests=20)
        _until(lambda: emu.batch(job.batch_ids[0])["request_counts"]["completed"] >= 2)
        job.cancel()
        results = job.wait(progress=False, schedule=FAST).results()
    statuses = results["result_status"]
    assert results.height == 40 and set(statuses) == {"succeeded", "canceled"}
    done = results.filter(pl.col("result_status") == "succeeded")
    assert done["response_text"].is_not_null().all()


def test_rerunning_submit_reattaches_and_sends_only_new_requests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = _frame(10)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        first = sf.submit(_requests(df), client=client)
        again = sf.submit(_requests(df), client=client)
        assert again.path == first.path and again.path.parent.name == ".siraya_frames"
        assert emu.stats()["batches"] == 1
        sf.submit(_requests(df), client=client, job_dir=first.path)
        bigger = sf.submit(_requests(_frame(12)), client=client, job_dir=first.path)
        assert emu.stats()["batches"] == 2 and emu.stats()["requests_processed"] == 12
        out = bigger.wait(progress=False, schedule=FAST).results()
    assert out.height == 12 and set(out["result_status"]) == {"succeeded"}


def test_a_killed_waiting_process_is_resumed_with_job_open(tmp_path):
    job_dir = tmp_path / "j"
    df = _frame(60)
    _requests(df).write_parquet(tmp_path / "requests.parquet")
    with Emulator(api_key=KEY, seconds_per_request=0.01) as emu:
        script = textwrap.dedent(f"""
            import polars as pl, siraya_frames as sf
            requests = pl.read_parquet({str(tmp_path / "requests.parquet")!r})
            client = sf.SirayaClient({KEY!r}, {emu.base_url!r})
            job = sf.submit(requests, client=client, job_dir={str(job_dir)!r}, max_requests=20)
            print("submitted", flush=True)
            job.wait(progress=False)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "submitted"
        proc.kill()
        proc.wait()
        with _client(emu) as client:
            job = sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
            out = sf.join_results(_requests(df), job.results())
        assert emu.stats()["batches"] == 3
    _assert_echo(out, df)


def test_async_wait_gives_the_same_results(tmp_path):
    df = _frame(15)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j", max_requests=4)

        async def main():
            async with sf.AsyncSirayaClient(KEY, emu.base_url) as aclient:
                await job.wait_async(aclient, progress=False, schedule=FAST)

        asyncio.run(main())
        out = sf.join_results(_requests(df), job.results())
    _assert_echo(out, df)


def test_wait_timeout_says_how_to_resume(tmp_path):
    with Emulator(api_key=KEY, seconds_per_request=0.2) as emu, _client(emu) as client:
        job = sf.submit(_requests(_frame(20)), client=client, job_dir=tmp_path / "j")
        with pytest.raises(sf.WaitTimeoutError, match=r"Job.open\("):
            job.wait(timeout=0.3, progress=False, schedule=FAST)
        assert not job.status().finished


def test_ctrl_c_stops_waiting_without_cancelling(tmp_path, capsys):
    class Interrupting(sf.SirayaClient):
        def get_batch(self, *a, **kw):
            raise KeyboardInterrupt

    with Emulator(api_key=KEY, seconds_per_request=0.05) as emu:
        client = Interrupting(KEY, emu.base_url)
        job = sf.submit(_requests(_frame(10)), client=client, job_dir=tmp_path / "j")
        with pytest.raises(KeyboardInterrupt):
            job.wait(progress=False)
        assert "Job.open" in capsys.readouterr().out
        assert emu.batch(job.batch_ids[0])["status"] != "cancelled"


def test_status_reports_per_batch_and_total(tmp_path):
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        job = sf.submit(_requests(_frame(10)), client=client, job_dir=tmp_path / "j",
                        max_requests=4)  # fmt: skip
        job.wait(progress=False, schedule=FAST)
        status = job.status()
    assert status.finished and (status.total, status.done, status.failed) == (10, 10, 0)
    assert status.batches["requests"].to_list() == [4, 4, 2]
    assert set(status.batches["status"]) == {"completed"}


def test_the_key_appears_in_no_log_error_job_file_or_parquet(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    df = _frame(8)
    with Emulator(api_key=KEY, error_rate=0.5) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "job")
        job.wait(progress=False, schedule=FAST)
        out = sf.join_results(_requests(df), job.results())
        sf.write_parquet(out, tmp_path / "out.parquet", job=job)
        with pytest.raises(errors.NotFoundError) as missing:
            client.get_batch("batch_does_not_exist")
        texts = [repr(client), str(missing.value), caplog.text]
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    assert all(KEY not in t for t in texts)
    assert "batch_does_not_exist" in str(missing.value)


def test_result_url_on_another_host_is_fetched_without_the_key(tmp_path):
    df = _frame(5)
    with Emulator(api_key=KEY, dialect="infron", result_host="localhost") as emu:
        with _client(emu) as client:
            job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
            out = sf.join_results(_requests(df), job.wait(progress=False, schedule=FAST).results())
        file_calls = [c for c in emu.calls() if c["endpoint"] == "result_file"]
    _assert_echo(out, df)
    assert file_calls and all(not c["authorization"] for c in file_calls)
    assert all(c["host"].startswith("localhost") for c in file_calls)


def test_wrong_key_is_a_clear_authentication_error(tmp_path):
    with Emulator(api_key=KEY) as emu:
        client = sf.SirayaClient("sk-wrong", emu.base_url)
        with pytest.raises(sf.AuthenticationError, match="SIRAYA_API_KEY") as info:
            sf.submit(_requests(_frame(3)), client=client, job_dir=tmp_path / "j")
    assert info.value.status_code == 401 and "sk-wrong" not in str(info.value)


def test_open_without_a_job_is_a_clear_error(tmp_path):
    with pytest.raises(errors.JobNotFoundError, match="no job"):
        sf.Job.open(tmp_path / "nothing")


def _until(predicate, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_results_of_a_job_read_back_from_disk_only(tmp_path):
    """results() needs no network: everything comes from the job directory."""
    df = _frame(6)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
        job.wait(progress=False, schedule=FAST)
    offline = sf.Job.open(tmp_path / "j", client=sf.SirayaClient(
        KEY, "http://127.0.0.1:9/v1", transport=httpx.MockTransport(lambda r: 1 / 0)))  # fmt: skip
    out = sf.join_results(_requests(df), offline.results())
    _assert_echo(out, df)
    assert Path(tmp_path / "j" / "job.sqlite3").is_file()


def test_results_follow_the_request_order_after_a_retry_round(tmp_path):
    df = _frame(30)
    requests = _requests(df)
    emulator = Emulator(api_key=KEY, error_rate=0.5, error_type="overloaded_error")
    with emulator as emu, _client(emu) as client:
        job = sf.submit(requests, client=client, job_dir=tmp_path / "j", max_requests=7)
        job.wait(progress=False, schedule=FAST)
        emu.set_faults(error_rate=0.0)
        job.retry_failed(progress=False)
        results = job.results()
    assert len({b.split("-")[0] for b in job.status(refresh=False).batches["key"]}) == 2
    assert results["custom_id"].to_list() == requests["custom_id"].to_list()
    assert results["result_status"].to_list() == ["succeeded"] * 30


def test_a_result_line_for_an_id_not_sent_in_that_batch_is_dropped_with_a_warning(tmp_path):
    df = _frame(8)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j", max_requests=4)
        job.wait(progress=False, schedule=FAST)
    first, second = sorted((tmp_path / "j" / "results").glob("*.jsonl"))
    moved = first.read_text().splitlines()[0]  # a line of the first batch, in the second's file
    second.write_text(second.read_text() + moved + "\n")
    with pytest.warns(sf.ResultsWarning, match=r"^1 result line had a custom_id never submitted"):
        results = job.results()
    assert results.height == 8 and results["result_status"].to_list() == ["succeeded"] * 8
    moved_id = json.loads(moved)["custom_id"]
    assert results.filter(pl.col("custom_id") == moved_id)["batch_id"].item() == job.batch_ids[0]


def test_cancel_after_the_batch_ended_meanwhile_is_harmless(tmp_path):
    df = _frame(5)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
        emu.wait(job.batch_ids[0])
        job.cancel()  # the service answers 409: it already ended
        out = sf.join_results(_requests(df), job.wait(progress=False, schedule=FAST).results())
    _assert_echo(out, df)


def test_results_while_running_are_pending_and_never_resent(tmp_path):
    df = _frame(30)
    with Emulator(api_key=KEY, seconds_per_request=0.05) as emu, _client(emu) as client:
        job = sf.submit(_requests(df), client=client, job_dir=tmp_path / "j")
        early = job.results()
        assert set(early["result_status"]) == {"pending"} and early.height == 30
        job.retry_failed(wait=False)  # nothing to retry: the batch is still running
        assert emu.stats()["batches"] == 1
        emu.set_faults(seconds_per_request=0.0)
        out = sf.join_results(_requests(df), job.wait(progress=False, schedule=FAST).results())
    _assert_echo(out, df)


def test_a_job_another_process_is_waiting_on_is_not_touched(tmp_path):
    job_dir = tmp_path / "j"
    _requests(_frame(40)).write_parquet(tmp_path / "requests.parquet")
    with Emulator(api_key=KEY, seconds_per_request=0.05) as emu:
        script = textwrap.dedent(f"""
            import polars as pl, siraya_frames as sf
            client = sf.SirayaClient({KEY!r}, {emu.base_url!r})
            job = sf.submit(pl.read_parquet({str(tmp_path / "requests.parquet")!r}),
                            client=client, job_dir={str(job_dir)!r})
            print("waiting", flush=True)
            job.wait(progress=False)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "waiting"
            with _client(emu) as client:
                job = sf.Job.open(job_dir, client=client)
                with pytest.raises(
                    errors.JobBusyError, match=rf"in use by another process \(pid {proc.pid}\)"
                ):
                    job.wait(progress=False)
                assert job.status().total == 40  # reads what the waiting process saved
                with pytest.raises(errors.JobBusyError):
                    job.cancel()
        finally:
            proc.kill()
            proc.wait()
        with _client(emu) as client:  # its lock died with it
            job = sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
        assert emu.stats()["batches"] == 1
    assert set(job.results()["result_status"]) == {"succeeded"}


def test_insufficient_balance_mid_submit_resumes_without_resending(tmp_path):
    df = _frame(12)
    with Emulator(api_key=KEY) as emu, _client(emu, max_concurrency=1) as client:
        job_dir = tmp_path / "j"
        # the first create is accepted, the next ones are refused: the balance ran out
        emu.set_faults(http_error_endpoints=("create",))
        original = client.create_batch
        calls = []

        def create_then_broke(*a, **kw):
            calls.append(1)
            if len(calls) == 2:
                emu.set_faults(fail_next_calls=1, http_error_status=402)
            return original(*a, **kw)

        client.create_batch = create_then_broke
        with pytest.raises(sf.InsufficientBalanceError, match="top up") as info:
            sf.submit(_requests(df), client=client, job_dir=job_dir, max_requests=4)
        assert info.value.status_code == 402 and "Job.open" in "".join(info.value.__notes__)
        assert emu.stats()["batches"] == 1
        client.create_batch = original  # topped up: run the same call again
        job = sf.submit(_requests(df), client=client, job_dir=job_dir, max_requests=4)
        out = sf.join_results(_requests(df), job.wait(progress=False, schedule=FAST).results())
        assert emu.stats()["batches"] == 3
    _assert_echo(out, df)


def test_the_same_rows_in_two_job_dirs_with_other_limits_get_their_own_keys(tmp_path):
    """The key hashes the body: the second job's first batch (5 rows, not 3) is not a 409."""
    df = _frame(9)
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        one = sf.submit(_requests(df), client=client, job_dir=tmp_path / "a", max_requests=3)
        two = sf.submit(_requests(df), client=client, job_dir=tmp_path / "b", max_requests=5)
        for job in (one, two):
            out = job.wait(progress=False, schedule=FAST).results()
            _assert_echo(sf.join_results(_requests(df), out), df)
        assert emu.stats()["batches"] == 3 + 2
    keys = [JobStore(tmp_path / d).load().to_dict()["batches"] for d in "ab"]
    assert len({b["idempotency_key"] for batches in keys for b in batches}) == 5


def test_a_key_reused_with_another_body_is_a_clear_error_never_retried(tmp_path):
    from siraya_frames._plan import plan_batches

    df, job_dir = _frame(4), tmp_path / "j"
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        emu.set_faults(fail_next_calls=1, http_error_status=400)  # intents saved, no batch
        with pytest.raises(errors.BadRequestError):
            sf.submit(_requests(df), client=client, job_dir=job_dir)
        saved_key = JobStore(job_dir).load().to_dict()["batches"][0]["idempotency_key"]
        (other,) = plan_batches(_requests(_frame(1)))
        client.create_batch(other.body, idempotency_key=saved_key)  # the key, another body
        with pytest.raises(errors.IdempotencyConflictError) as caught:
            sf.Job.open(job_dir, client=client).wait(progress=False, schedule=FAST)
        conflicts = [c for c in emu.calls() if c["method"] == "POST" and c["status"] == 409]
        assert len(conflicts) == 1 and emu.stats()["batches"] == 1
    err = caught.value
    assert err.status_code == 409 and isinstance(err, errors.APIStatusError)
    assert "batch r0-b0000" in str(err) and saved_key in str(err)
    assert "another job_dir" in str(err) and KEY not in str(err)


def test_status_works_on_a_read_only_job_directory(tmp_path, monkeypatch):
    """Tests run as root, which ignores chmod: the read-only file system is simulated."""
    import errno
    import os
    import pathlib
    import tempfile

    df, job_dir = _frame(6), tmp_path / "j"
    with Emulator(api_key=KEY) as emu, _client(emu) as client:
        sf.submit(_requests(df), client=client, job_dir=job_dir, max_requests=4)
        (job_dir / "results").mkdir(exist_ok=True)
        (job_dir / "results" / ".r0-b0000.jsonl.77.part").write_text("cut")
        real_open = pathlib.Path.open

        def read_only_open(self, mode="r", *args, **kwargs):
            if any(c in mode for c in "wa+x"):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real_open(self, mode, *args, **kwargs)

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(pathlib.Path, "open", read_only_open)
        monkeypatch.setattr(tempfile, "mkstemp", read_only)
        monkeypatch.setattr(pathlib.Path, "unlink", read_only)
        monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
        job = sf.Job.open(job_dir, client=client)
        status = job.status()
        assert status.total == 6 and status.batches.height == 2
        assert status.batches["status"].to_list() != ["planned", "planned"]
        assert (job_dir / "results" / ".r0-b0000.jsonl.77.part").exists()  # left as it was
        assert job.results().height == 6


def test_submit_builds_each_body_when_its_create_is_sent(tmp_path, monkeypatch):
    """One body at a time (at most ``max_concurrency`` with creates side by side): after
    planning (which frames each body once, to hash it), each body is built right before its
    own create, never all of them ahead of the creates."""
    from siraya_frames import _plan

    events: list[str] = []
    frame = _plan.RequestEncoding.frame

    def logged_frame(self, lines):
        events.append("body")
        return frame(self, lines)

    def log_create(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/batches"):
            events.append("create")

    monkeypatch.setattr(_plan.RequestEncoding, "frame", logged_frame)
    df = _frame(12)
    with Emulator(api_key=KEY) as emu:
        http = httpx.Client(event_hooks={"request": [log_create]})
        client = sf.SirayaClient(KEY, emu.base_url, http_client=http, max_concurrency=1)
        with client:
            job = sf.submit(_requests(df), client=client, job_dir=tmp_path, max_requests=5)
            out = sf.join_results(_requests(df), job.wait(progress=False, schedule=FAST).results())
    _assert_echo(out, df)
    assert events == ["body"] * 3 + ["body", "create"] * 3
