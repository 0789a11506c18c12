"""sf.preview: answers now from the synchronous endpoint, kept, and reused by run."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import errors
from siraya_frames.emulator import Emulator

LABELS = ["positive", "negative"]


class Recorder:
    """A stand-in model that answers the prompt's first line and records who asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sync: list[str] = []
        self.batch: list[str] = []

    def __call__(self, params: dict[str, Any], *, custom_id: str) -> str:
        first = params["messages"][-1]["content"].splitlines()[0]
        with self.lock:
            (self.sync if custom_id.startswith("sync-") else self.batch).append(first)
        return first


@pytest.fixture(autouse=True)
def _stores(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIRAYA_ANSWERS_DIR", str(tmp_path / "answers"))
    monkeypatch.setenv("SIRAYA_JOB_ROOT", str(tmp_path / "jobs"))


def sync_calls(emu: Emulator) -> int:
    return sum(1 for c in emu.calls() if c["endpoint"] in ("messages", "chat_completions"))


def task(client: sf.SirayaClient, **extra: Any) -> dict[str, Any]:
    return {"prompt": "{review}", "model": "m", "labels": LABELS, "client": client,
            "show_summary": False, **extra}  # fmt: skip


def test_preview_sends_each_unique_request_once_with_runs_columns() -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": ["positive", "negative", "positive", "meh"]})
    with Emulator(responder=rec) as emu, sf.SirayaClient("k", emu.base_url) as client:
        out = sf.preview(df, n=4, **task(client))
        assert sorted(rec.sync) == ["meh", "negative", "positive"]  # the duplicate once
        assert sync_calls(emu) == 3
        ran = sf.run(df, **task(client), progress=False)  # every answer reused: no batch
        assert emu.stats()["creates_accepted"] == 0
    assert out["label"].to_list() == ["positive", "negative", "positive", None]
    assert out["result_status"].to_list() == ["succeeded"] * 4
    assert out.columns == ran.columns
    assert out.drop("batch_id").equals(ran.drop("batch_id"))


def test_run_after_preview_sends_only_the_rows_not_previewed_and_rerun_sends_none() -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": [f"positive {i}" for i in range(100)]})
    with Emulator(responder=rec) as emu, sf.SirayaClient("k", emu.base_url) as client:
        sf.preview(df, n=20, **task(client, labels=None))
        out = sf.run(df, **task(client, labels=None), progress=False)
        assert sorted(rec.batch) == sorted(f"positive {i}" for i in range(20, 100))
        assert out.height == 100
        assert out["result_status"].to_list() == ["succeeded"] * 100
        assert out["response_text"].to_list() == df["review"].to_list()
        creates = emu.stats()["creates_accepted"]
        again = sf.run(df, **task(client, labels=None), progress=False)
        assert len(rec.batch) == 80 and len(rec.sync) == 20
        assert emu.stats()["creates_accepted"] == creates
    assert again.drop("batch_id").equals(out.drop("batch_id"))


def test_the_job_keeps_its_reuse_record_when_the_store_changes(tmp_path: Any) -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": [f"r{i}" for i in range(6)]})
    with Emulator(responder=rec) as emu, sf.SirayaClient("k", emu.base_url) as client:
        job = sf.run(df, prompt="{review}", model="m", client=client, wait=False)
        sf.preview(df, n=6, prompt="{review}", model="m", client=client, show_summary=False)
        out = sf.run(df, prompt="{review}", model="m", client=client, progress=False,
                     show_summary=False)  # fmt: skip
    assert isinstance(job, sf.Job)
    assert sorted(rec.batch) == sorted(df["review"])  # the job sent them all, once
    assert out["response_text"].to_list() == df["review"].to_list()


def test_429_with_retry_after_pauses_and_every_row_is_answered() -> None:
    waits: list[float] = []
    policy = sf.RetryPolicy(sleep=waits.append)
    df = pl.DataFrame({"review": ["positive", "negative", "meh"]})
    with (
        Emulator(responder=Recorder()) as emu,
        sf.SirayaClient("k", emu.base_url, retry=policy, max_concurrency=1) as client,
    ):
        emu.set_faults(fail_next_calls=2, http_error_status=429, retry_after=3,
                       http_error_endpoints=["messages"])  # fmt: skip
        out = sf.preview(df, **task(client))
        assert sync_calls(emu) == 5
    assert waits == [3.0, 3.0]
    assert out["result_status"].to_list() == ["succeeded"] * 3


def test_requests_run_concurrently_up_to_max_concurrency() -> None:
    barrier = threading.Barrier(3, timeout=10)

    def together(params: dict[str, Any], *, custom_id: str) -> str:
        barrier.wait()  # fails unless three requests are in flight at once
        return "ok"

    df = pl.DataFrame({"review": ["a", "b", "c"]})
    with Emulator(responder=together) as emu, sf.SirayaClient("k", emu.base_url) as client:
        out = sf.preview(df, prompt="{review}", model="m", client=client, max_concurrency=3,
                         show_summary=False)  # fmt: skip
    assert out["response_text"].to_list() == ["ok"] * 3


def test_an_error_answer_is_the_rows_error_and_is_sent_again_next_time() -> None:
    rec = Recorder()
    policy = sf.RetryPolicy(max_attempts=2, sleep=[].append)
    df = pl.DataFrame({"review": ["positive", "negative"]})
    with (
        Emulator(responder=rec) as emu,
        sf.SirayaClient("k", emu.base_url, retry=policy) as client,
    ):
        emu.set_faults(error_rate=1.0)
        failed = sf.preview(df, **task(client))
        emu.set_faults(error_rate=0.0)
        fixed = sf.preview(df, **task(client))
        assert sync_calls(emu) == 2 * 2 + 2  # two attempts each, then sent again
    assert failed["result_status"].to_list() == ["errored"] * 2
    assert failed["error_type"].to_list() == ["api_error"] * 2
    assert "Injected api_error" in failed["error_message"][0]
    assert fixed["label"].to_list() == LABELS


def test_a_refused_key_raises_and_nothing_more_is_sent() -> None:
    df = pl.DataFrame({"review": [f"r{i}" for i in range(5)]})
    with (
        Emulator(api_key="right-key") as emu,
        sf.SirayaClient("wrong-key-123", emu.base_url, max_concurrency=1) as client,
    ):
        with pytest.raises(errors.AuthenticationError) as caught:
            sf.preview(df, prompt="{review}", model="m", client=client, show_summary=False)
        assert sync_calls(emu) == 0  # the model check (GET /models) met the refused key first
    assert "wrong-key-123" not in str(caught.value)


def test_reuse_and_the_cost_line(capsys: pytest.CaptureFixture[str]) -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": ["positive", "negative"]})
    prices = {"m": {"input": 1_000_000.0, "output": 0.0}}  # $1 per input token: visible
    with Emulator(responder=rec) as emu, sf.SirayaClient("k", emu.base_url) as client:
        kw = task(client, show_summary=True, prices=prices)
        sf.preview(df, **kw)
        first = capsys.readouterr().err
        sf.preview(df, **kw)
        second = capsys.readouterr().err
        sf.preview(df, **kw, reuse=False)
        assert len(rec.sync) == 4
    assert "2 unique requests: 2 sent, 0 reused" in first and "standard" in first
    assert "2 sent" not in second and "0 sent, 2 reused" in second and "$0.0000" in second
    assert first.count("$") == 1 and "$0.0000" not in first


def test_the_store_is_per_service() -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": ["positive"]})
    with Emulator(responder=rec) as a, sf.SirayaClient("k", a.base_url) as client:
        sf.preview(df, **task(client))
    with Emulator(responder=rec) as b, sf.SirayaClient("k", b.base_url) as client:
        sf.preview(df, **task(client))
    assert len(rec.sync) == 2


def test_random_sample_is_seeded_and_kept_in_order() -> None:
    df = pl.DataFrame({"review": [f"r{i:02d}" for i in range(50)]})
    with Emulator() as emu, sf.SirayaClient("k", emu.base_url) as client:
        kw = {"prompt": "{review}", "model": "m", "client": client, "show_summary": False}
        one = sf.preview(df, n=5, sample="random", seed=7, **kw)["review"].to_list()
        two = sf.preview(df, n=5, sample="random", seed=7, **kw)["review"].to_list()
        head = sf.preview(df, n=5, **kw)["review"].to_list()
        with pytest.raises(errors.InputError, match="sample="):
            sf.preview(df, sample="tail", **kw)
    assert one == two == sorted(one) != head == ["r00", "r01", "r02", "r03", "r04"]


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_preview_speaks_each_protocol(dialect: str) -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": ["positive", "negative"]})
    with (
        Emulator(dialect=dialect, api_key="sk-x", responder=rec) as emu,
        sf.SirayaClient("sk-x", emu.base_url, protocol=dialect) as client,
    ):
        out = sf.preview(df, **task(client))
    assert out["label"].to_list() == LABELS
    assert out["input_tokens"].to_list()[0] > 0


def test_openai_refuses_untranslatable_params_before_sending() -> None:
    df = pl.DataFrame({"review": ["a"]})
    with (
        Emulator(dialect="openai") as emu,
        sf.SirayaClient("k", emu.base_url, protocol="openai") as client,
    ):
        with pytest.raises(errors.ParameterError, match="top_k"):
            sf.preview(df, prompt="{review}", model="m", client=client, top_k=5)
        assert sync_calls(emu) == 0


def test_hostile_answers_are_errored_rows_without_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):  # no listing here: the run goes on
            return httpx.Response(404)
        text = request.content.decode()
        if "redirect" in text:
            return httpx.Response(302, headers={"location": "https://evil.example/x"})
        return httpx.Response(200, json={"echo": request.headers["x-api-key"]})

    df = pl.DataFrame({"review": ["plain", "redirect"]})
    transport = httpx.MockTransport(handler)
    with sf.SirayaClient("sk-secret-1", "https://svc.example/v1", transport=transport) as client:
        out = sf.preview(df, prompt="{review}", model="m", client=client, show_summary=False)
    assert out["result_status"].to_list() == ["errored", "errored"]
    assert out["error_type"].to_list() == ["unrecognized_result", "unrecognized_result"]
    assert not out["error_message"].str.contains("sk-secret-1").any()
    assert "redirect" in out["error_message"][1]


def test_siraya_messages_endpoint_takes_x_api_key_or_bearer() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with Emulator(api_key="key-1") as emu:
        url = emu.base_url + "/messages"
        by_header = httpx.post(url, json=body, headers={"x-api-key": "key-1"})
        by_bearer = httpx.post(url, json=body, headers={"Authorization": "Bearer key-1"})
        wrong = httpx.post(url, json=body, headers={"x-api-key": "nope"})
        bad = httpx.post(url, json={**body, "max_tokens": 0}, headers={"x-api-key": "key-1"})
    assert by_header.json()["content"][0]["text"] == by_bearer.json()["content"][0]["text"]
    assert by_header.json()["type"] == "message"
    assert wrong.status_code == 401
    assert bad.status_code == 400 and "max_tokens" in bad.text


def test_sync_endpoint_faults_send_retry_after() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with Emulator(dialect="anthropic") as emu:
        emu.set_faults(fail_next_calls=1, http_error_status=429, retry_after=2)
        headers = {"anthropic-version": "2023-06-01"}
        limited = httpx.post(emu.base_url + "/messages", json=body, headers=headers)
        answered = httpx.post(emu.base_url + "/messages", json=body, headers=headers)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert answered.status_code == 200


def test_cli_preview_prints_the_rows_in_full_then_the_cost_line(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from siraya_frames._cli import main

    long = "positive and a review long enough that a default table would cut it short " * 2
    path = tmp_path / "in.csv"
    pl.DataFrame({"review": [long.strip(), "negative", "third"]}).write_csv(path)
    monkeypatch.setenv("SIRAYA_API_KEY", "k")
    with Emulator(responder=Recorder()) as emu:
        args = ["preview", str(path), "--prompt", "{review}", "--model", "m", "-n", "2",
                "--base-url", emu.base_url]  # fmt: skip
        assert main(args) == 0
        first = capsys.readouterr().out
        assert main([*args, "--random", "--seed", "1"]) == 0
        second = capsys.readouterr().out
    assert "cut it short" in first.replace("\n", " ") and "…" not in first
    assert "negative" in first and "third" not in first and "custom_id" not in first
    assert first.rstrip().splitlines()[-1].startswith("preview: 2 rows, 2 unique requests: 2 sent")
    assert "reused" in second.rstrip().splitlines()[-1]


def test_max_cost_is_checked_at_the_standard_price_before_sending() -> None:
    df = pl.DataFrame({"review": ["positive", "negative"]})
    prices = {"m": {"input": 1.0, "output": 1.0}}  # USD per 1M tokens
    with Emulator() as emu, sf.SirayaClient("k", emu.base_url) as client:
        with pytest.raises(errors.BudgetExceededError, match="standard price"):
            sf.preview(df, **task(client), prices=prices, max_cost_usd=1e-9)
        assert sync_calls(emu) == 0
        out = sf.preview(df, **task(client), prices=prices, max_cost_usd=1.0)
    assert out.height == 2


def test_an_async_client_is_refused_with_the_fix() -> None:
    df = pl.DataFrame({"review": ["a"]})
    client = sf.AsyncSirayaClient("k", "http://127.0.0.1:9/v1")
    with pytest.raises(errors.ConfigurationError, match="SirayaClient"):
        sf.preview(df, prompt="{review}", model="m", client=client)  # type: ignore[arg-type]


def test_run_takes_its_answers_from_the_store_preview_was_given(tmp_path: Any) -> None:
    rec = Recorder()
    df = pl.DataFrame({"review": [f"positive {i}" for i in range(10)]})
    store = tmp_path / "my-answers"
    with Emulator(responder=rec) as emu, sf.SirayaClient("k", emu.base_url) as client:
        sf.preview(df, n=4, **task(client, labels=None, answers_dir=store))
        sf.run(df, **task(client, labels=None, answers_dir=store), progress=False,
               job_dir=tmp_path / "with")  # fmt: skip
        with_store = sorted(rec.batch)
        rec.batch.clear()
        sf.run(df, **task(client, labels=None), progress=False, job_dir=tmp_path / "without")
    assert with_store == sorted(f"positive {i}" for i in range(4, 10))  # the 4 reused
    assert sorted(rec.batch) == sorted(df["review"])  # the default store holds none of them


def test_cli_run_takes_answers_dir_and_no_reuse(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from siraya_frames._cli import main

    rec = Recorder()
    path = tmp_path / "in.csv"
    pl.DataFrame({"review": ["positive", "negative", "third"]}).write_csv(path)
    monkeypatch.setenv("SIRAYA_API_KEY", "k")
    monkeypatch.chdir(tmp_path)
    with Emulator(responder=rec) as emu:
        common = ["--base-url", emu.base_url, str(path), "--prompt", "{review}", "--model", "m"]
        assert main(["preview", *common, "-n", "2", "--answers-dir", "ans"]) == 0
        assert main(["run", *common, "--answers-dir", "ans", "--output", "a.csv",
                     "--job-dir", "ja"]) == 0  # fmt: skip
        assert sorted(rec.batch) == ["third"]
        assert main(["run", *common, "--answers-dir", "ans", "--no-reuse", "--output", "b.csv",
                     "--job-dir", "jb"]) == 0  # fmt: skip
    assert sorted(rec.batch) == ["negative", "positive", "third", "third"]
    assert "2 answers from earlier previews reused" in capsys.readouterr().err
