"""``run`` end to end on every wire protocol, through the emulator speaking that protocol.

Each test drives the real client over a real socket against ``Emulator(dialect=...)``: the
Siraya dialects (``quickstart`` here; all of them in ``test_job.py``), Anthropic Message
Batches and OpenAI's file-based Batch API. What is asserted is what a user sees: labelled
rows in their order, the outcome of each row, the token columns, the Parquet file and its
provenance, and how many batches the service was asked to make.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import siraya_frames as sf
from siraya_frames import _errors as errors
from siraya_frames.emulator import Emulator

KEY = "sk-e2e-RECOGNISABLE-5d2a91"
FAST = sf.PollSchedule(initial=0.02, factor=1.5, maximum=0.2, minimum=0.02)
RETRY = sf.RetryPolicy(max_attempts=8, initial_wait=0.01, max_wait=0.05)
PROTOCOLS = ["siraya", "anthropic", "openai"]
BATCH_APIS = ["anthropic", "openai"]  # the two protocols of other services
LABELS = ["positive", "negative", "neutral"]
TEXTS = ["good kettle", "bad kettle", "a kettle", "good kettle", "bad lid", "a lid"]
EXPECTED = ["positive", "negative", "neutral", "positive", "negative", "neutral"]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("SIRAYA", "ANTHROPIC", "OPENAI"):
        for suffix in ("API_KEY", "BASE_URL"):
            monkeypatch.delenv(f"{name}_{suffix}", raising=False)
    monkeypatch.delenv("SIRAYA_PROTOCOL", raising=False)


def emulator(protocol: str, **options) -> Emulator:
    """The emulator speaking ``protocol`` (Siraya's quickstart dialect for ``siraya``)."""
    dialect = "quickstart" if protocol == "siraya" else protocol
    return Emulator(api_key=KEY, dialect=dialect, **options)


def client(emu: Emulator, protocol: str, **kw) -> sf.SirayaClient:
    return sf.SirayaClient(KEY, emu.base_url, protocol=protocol, retry=RETRY, **kw)


def last_user_text(params: dict) -> str:
    content = params["messages"][-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def sentiment(params, *, custom_id):
    """The fake model: a label from the words of the review, with markup models add."""
    text = last_user_text(params).split("Text:")[-1]
    if "good" in text:
        return "**Positive**"
    return "Negative." if "bad" in text else "neutral"


def frame() -> pl.DataFrame:
    return pl.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})


def run(df: pl.DataFrame, tmp_path: Path, **kw) -> pl.DataFrame:
    kw.setdefault("prompt", "Sentiment of this review. Text: {text}")
    kw.setdefault("model", "m-1")
    kw.setdefault("max_tokens", 16)
    return sf.run(df, job_dir=tmp_path / "job", progress=False, show_summary=False, **kw)


def until(predicate, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# --------------------------------------------------------------------------- run


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_run_labels_every_row_in_order_and_writes_parquet(tmp_path, protocol):
    out_path = tmp_path / "labeled.parquet"
    with emulator(protocol, responder=sentiment) as emu, client(emu, protocol) as c:
        out = run(frame(), tmp_path, labels=LABELS, client=c, output=out_path, max_requests=2)
        stats = emu.stats()
    assert out["id"].to_list() == list(range(6))
    assert out["label"].cast(pl.String).to_list() == EXPECTED
    assert out["label_error"].null_count() == 6
    assert out["result_status"].to_list() == ["succeeded"] * 6
    assert out["input_tokens"].min() > 0 and out["output_tokens"].min() > 0
    assert out["response_text"][0] == "**Positive**"
    assert stats["batches"] == 3  # 5 unique requests, 2 per batch; the repeat costs nothing
    assert_frame_equal(pl.read_parquet(out_path), out)
    provenance = sf.read_provenance(out_path)
    assert provenance["protocol"] == protocol
    assert provenance["outcomes"] == {"succeeded": 6}
    assert len(provenance["batch_ids"]) == 3 == len(set(out["batch_id"]))
    assert KEY not in out_path.read_bytes().decode("latin-1")


def calls_a_tool(params, *, custom_id):
    text = last_user_text(params)
    if "weather" in text:
        return {"tool_calls": [{"name": "get_weather", "input": {"city": "Paris"}}]}
    return {"text": "no tool needed"}


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_tool_calls_come_back_as_json_per_row(tmp_path, protocol):
    df = pl.DataFrame({"q": ["weather in Paris?", "hello"]})
    tools = [
        {
            "name": "get_weather",
            "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    with emulator(protocol, responder=calls_a_tool) as emu, client(emu, protocol) as c:
        out = run(df, tmp_path, prompt="{q}", client=c, tools=tools)
    calls = json.loads(out["tool_calls"][0])
    assert [(call["name"], call["input"]) for call in calls] == [("get_weather", {"city": "Paris"})]
    assert out["stop_reason"][0] == {"anthropic": "tool_use", "openai": "tool_calls"}[protocol]
    assert out["tool_calls"][1] is None and out["response_text"][1] == "no tool needed"


def test_openai_shared_system_prompt_is_read_from_the_cache(tmp_path):
    system = "You label product reviews. Answer with one word. " * 4
    with emulator("openai") as emu, client(emu, "openai", max_concurrency=1) as c:
        out = run(frame(), tmp_path, client=c, system=system, max_requests=1)  # in order
    n = out["cache_read_input_tokens"][1]
    # the first request (rows 0 and 3 share it) is uncached; every later one reads the prefix
    assert n > 0 and out["cache_read_input_tokens"].to_list() == [0, n, n, 0, n, n]
    assert out["input_tokens"][0] == out["input_tokens"][1] + n  # input excludes the cache
    assert out["cache_creation_input_tokens"].null_count() == 6  # OpenAI reports no writes


def test_anthropic_cache_control_blocks_write_then_read_the_cache(tmp_path):
    """``build_requests`` has no ``cache_control``; a hand-made requests frame carries it."""
    system = [
        {"type": "text", "text": "A long shared instruction. " * 8},
        {"type": "text", "text": "Label reviews.", "cache_control": {"type": "ephemeral"}},
    ]
    params = [
        {"model": "m-1", "max_tokens": 8, "system": system,
         "messages": [{"role": "user", "content": text}]}
        for text in ("first", "second", "third")
    ]  # fmt: skip
    requests = pl.DataFrame(
        {"custom_id": ["r-1", "r-2", "r-3"], "params_json": [json.dumps(p) for p in params]}
    )
    with emulator("anthropic") as emu, client(emu, "anthropic") as c:
        job = sf.submit(requests, client=c, job_dir=tmp_path / "job", max_requests=1)
        out = job.wait(progress=False, schedule=FAST).results()
    writes = out["cache_creation_input_tokens"].to_list()
    reads = out["cache_read_input_tokens"].to_list()
    assert writes[0] > 0 and writes[1:] == [0, 0]
    assert reads == [0, writes[0], writes[0]]
    assert out["response_text"].to_list() == ["first", "second", "third"]


# --------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_cancel_midway_gives_canceled_rows_that_retry_failed_does_not_resend(tmp_path, protocol):
    df = pl.DataFrame({"text": [f"row {i}" for i in range(30)]})
    with emulator(protocol, seconds_per_request=0.03) as emu, client(emu, protocol) as c:
        job = run(df, tmp_path, client=c, wait=False)
        until(lambda: emu.batch(job.batch_ids[0])["request_counts"]["completed"] >= 2)
        job.cancel()
        results = job.wait(progress=False, schedule=FAST).results()
        counts = dict(results["result_status"].value_counts().iter_rows())
        assert set(counts) == {"succeeded", "canceled"} and sum(counts.values()) == 30
        assert counts["canceled"] >= 10
        canceled = results.filter(pl.col("result_status") == "canceled")
        assert canceled["response_text"].null_count() == canceled.height
        job.retry_failed(progress=False)
        assert emu.stats()["batches"] == 1  # canceled rows are not resent by default
        assert job.results()["result_status"].to_list() == results["result_status"].to_list()


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_expired_rows_are_resent_by_retry_failed(tmp_path, protocol):
    df = pl.DataFrame({"text": [f"row {i}" for i in range(20)]})
    with emulator(protocol, seconds_per_request=0.02) as emu, client(emu, protocol) as c:
        job = run(df, tmp_path, prompt="{text}", client=c, wait=False)
        until(lambda: emu.batch(job.batch_ids[0])["request_counts"]["completed"] >= 2)
        emu.expire(job.batch_ids[0])
        first = job.wait(progress=False, schedule=FAST).results()
        expired = first.filter(pl.col("result_status") == "expired")
        assert set(first["result_status"]) == {"succeeded", "expired"} and expired.height >= 5
        emu.set_faults(seconds_per_request=0.0)
        job.retry_failed(progress=False)
        final = job.results()
        assert emu.stats()["batches"] == 2
        assert emu.stats()["requests_processed"] == 20  # only the expired ones went again
    assert final["result_status"].to_list() == ["succeeded"] * 20
    assert final["response_text"].to_list() == df["text"].to_list()


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_a_request_the_service_refuses_is_an_errored_row(tmp_path, protocol):
    """A role the service does not know: that request errors, the batch goes on."""
    params = [
        {"model": "m-1", "max_tokens": 8, "messages": [{"role": role, "content": text}]}
        for role, text in (("user", "fine"), ("robot", "beep"), ("user", "also fine"))
    ]
    requests = pl.DataFrame(
        {"custom_id": ["r-1", "r-2", "r-3"], "params_json": [json.dumps(p) for p in params]}
    )
    with emulator(protocol) as emu, client(emu, protocol) as c:
        job = sf.submit(requests, client=c, job_dir=tmp_path / "job")
        out = job.wait(progress=False, schedule=FAST).results()
        assert out["result_status"].to_list() == ["succeeded", "errored", "succeeded"]
        assert out["error_type"][1] == "invalid_request_error"
        assert "robot" in out["error_message"][1]
        job.retry_failed(progress=False)  # invalid requests are not resent by default
        assert emu.stats()["batches"] == 1


def test_anthropic_conversation_opening_with_the_assistant_errors_that_row_only(tmp_path):
    df = pl.DataFrame(
        {
            "conv": [
                [{"role": "user", "content": "hi"}],
                [{"role": "assistant", "content": "I start"}, {"role": "user", "content": "ok"}],
            ]
        }
    )
    with emulator("anthropic") as emu, client(emu, "anthropic") as c:
        out = run(df, tmp_path, prompt=None, messages="conv", client=c)
    assert out["result_status"].to_list() == ["succeeded", "errored"]
    assert out["error_type"][1] == "invalid_request_error"
    assert "first message must use the 'user' role" in out["error_message"][1]


# --------------------------------------------------------------------------- resume


class Killed(BaseException):
    """Stands for the process dying at that point (nothing catches it)."""


class KillOnSecondCreate(httpx.BaseTransport):
    """A real socket transport that 'dies' on the second batch create, before or after it."""

    def __init__(self, when: str) -> None:
        self.inner, self.when, self.creates = httpx.HTTPTransport(), when, 0
        self.lock = threading.Lock()  # creates may be sent from several threads

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        is_create = request.method == "POST" and request.url.path.endswith("/batches")
        with self.lock:
            self.creates += is_create
            second = is_create and self.creates == 2
        if second and self.when == "before sending":
            raise Killed
        response = self.inner.handle_request(request)
        if second and self.when == "answer lost":
            response.read()
            raise Killed
        return response

    def close(self) -> None:
        self.inner.close()


def _kill_then_resume(tmp_path, protocol: str, when: str) -> tuple[pl.DataFrame, dict]:
    df = pl.DataFrame({"text": [f"row {i}" for i in range(6)]})
    with emulator(protocol) as emu:
        dying = client(emu, protocol, transport=KillOnSecondCreate(when))
        with pytest.raises(Killed), dying:
            run(df, tmp_path, client=dying, max_requests=2)
        with client(emu, protocol) as fresh:
            job = sf.Job.open(tmp_path / "job", client=fresh).wait(progress=False, schedule=FAST)
            out = job.results()
        return out, emu.stats()


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_killed_between_creates_resumes_creating_each_batch_once(tmp_path, protocol):
    out, stats = _kill_then_resume(tmp_path, protocol, "before sending")
    assert stats["batches"] == 3 and stats["creates_replayed"] == 0
    assert out["result_status"].to_list() == ["succeeded"] * 6


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_killed_after_a_create_was_accepted_resumes_without_buying_it_again(tmp_path, protocol):
    """openai: the accepted batch is found on the list by its metadata key. anthropic: the
    resume sends the create again with the same Idempotency-Key, which the emulator honours;
    the real service documents no such key (README, "Anthropic: the one window")."""
    out, stats = _kill_then_resume(tmp_path, protocol, "answer lost")
    assert stats["batches"] == 3
    # openai finds it without sending the create again; anthropic's resend is a replay
    assert stats["creates_replayed"] == {"openai": 0, "anthropic": 1}[protocol]
    assert out["result_status"].to_list() == ["succeeded"] * 6


@pytest.mark.parametrize("protocol", BATCH_APIS)
def test_a_killed_waiting_process_is_resumed_without_a_new_batch(tmp_path, protocol):
    job_dir = tmp_path / "job"
    texts = [f"row {i}" for i in range(40)]
    pl.DataFrame({"text": texts}).write_parquet(tmp_path / "rows.parquet")
    with emulator(protocol, seconds_per_request=0.01) as emu:
        script = textwrap.dedent(f"""
            import polars as pl, siraya_frames as sf
            client = sf.SirayaClient({KEY!r}, {emu.base_url!r}, protocol={protocol!r})
            job = sf.run(pl.read_parquet({str(tmp_path / "rows.parquet")!r}), prompt="{{text}}",
                         model="m-1", max_tokens=8, client=client, job_dir={str(job_dir)!r},
                         max_requests=15, wait=False)
            print("submitted", flush=True)
            job.wait(progress=False)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "submitted"
        proc.kill()
        proc.wait()
        with client(emu, protocol) as c:
            job = sf.Job.open(job_dir, client=c).wait(progress=False, schedule=FAST)
        assert emu.stats()["batches"] == 3
    assert job.protocol == protocol
    assert job.results()["response_text"].to_list() == texts


def test_async_wait_on_openai_gives_the_same_rows(tmp_path):
    df = pl.DataFrame({"text": [f"row {i}" for i in range(9)]})
    with emulator("openai") as emu, client(emu, "openai") as c:
        job = run(df, tmp_path, prompt="{text}", client=c, wait=False, max_requests=4)

        async def main():
            async with sf.AsyncSirayaClient(KEY, emu.base_url, protocol="openai") as aclient:
                await job.wait_async(aclient, progress=False, schedule=FAST)

        asyncio.run(main())
        assert emu.stats()["batches"] == 3
    out = job.results()
    assert out["result_status"].to_list() == ["succeeded"] * 9
    assert out["response_text"].to_list() == df["text"].to_list()


# --------------------------------------------------------------------------- protocol choice


def test_siraya_protocol_env_var_chooses_the_protocol(tmp_path, monkeypatch):
    with emulator("openai", responder=sentiment) as emu:
        monkeypatch.setenv("SIRAYA_PROTOCOL", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        out = run(frame(), tmp_path, labels=LABELS)
        assert emu.stats()["batches"] == 1
    assert out["label"].cast(pl.String).to_list() == EXPECTED
    assert sf.Job.open(tmp_path / "job", client=None).protocol == "openai"


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("top_k", 5, "'top_k'"),
        ("thinking", {"type": "enabled", "budget_tokens": 1024}, "'thinking'"),
        ("stop_sequences", list("abcde"), "at most 4 stop sequences"),
    ],
)
def test_openai_incompatible_params_are_refused_by_estimate_and_the_budget(
    tmp_path, monkeypatch, param, value, match
):
    requests = sf.build_requests(frame(), prompt="{text}", model="m-1", max_tokens=8,
                                 **{param: value})  # fmt: skip
    sf.estimate(requests, protocol="anthropic")  # fine where the parameter exists
    with pytest.raises(errors.ParameterError, match=match) as info:
        sf.estimate(requests, protocol="openai")
    assert requests["custom_id"][0] in str(info.value)  # names the request
    monkeypatch.setenv("SIRAYA_PROTOCOL", "openai")
    with pytest.raises(errors.ParameterError, match=match):
        sf.estimate(requests)  # argument, then SIRAYA_PROTOCOL
    monkeypatch.delenv("SIRAYA_PROTOCOL")
    with emulator("openai") as emu, client(emu, "openai") as c:
        with pytest.raises(errors.ParameterError, match=match):
            run(frame(), tmp_path, client=c, max_cost_usd=1.0, prices={"m-1": {
                "input": 1.0, "output": 1.0}}, **{param: value})  # fmt: skip
        assert emu.stats()["batches"] == 0 and emu.calls() == []


# --------------------------------------------------------------------------- the command line


def test_cli_run_protocol_openai_against_serve_dialect_openai(tmp_path):
    from helpers import clean_env
    from test_cli import KEY as CLI_KEY
    from test_cli import Server

    frame().write_csv(tmp_path / "rows.csv")
    server = Server("--dialect", "openai", cwd=tmp_path)
    try:
        env = clean_env(OPENAI_API_KEY=CLI_KEY, OPENAI_BASE_URL=server.base_url)

        def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "siraya_frames._cli", "--quiet", "run", "rows.csv"]
            task = ["--prompt", "{text}", "--model", "m-1", "--max-tokens", "1"]
            done = subprocess.run(
                [*command, *task, "--labels", "good,bad,a", *args],
                cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            return done

        assert "Wrote 6 rows" in cli("--protocol", "openai", "--output", "out.parquet").stdout
        assert server.batches() == 1
        out = pl.read_parquet(tmp_path / "out.parquet")
        assert out["label"].cast(pl.String).to_list() == ["good", "bad", "a", "good", "bad", "a"]
        assert sf.read_provenance(tmp_path / "out.parquet")["protocol"] == "openai"
        # SIRAYA_PROTOCOL instead of the flag: the same job is re-attached, nothing is sent
        cli("--output", "again.parquet", SIRAYA_PROTOCOL="openai")
        assert server.batches() == 1
        assert_frame_equal(pl.read_parquet(tmp_path / "again.parquet"), out)
    finally:
        server.stop()


def test_cli_estimate_and_dry_run_count_batches_with_the_protocols_limits(
    tmp_path, monkeypatch, capsys
):
    from siraya_frames._cli import main as cli_main
    from siraya_frames._protocols.openai import OpenAIProtocol

    monkeypatch.setattr(OpenAIProtocol, "max_requests", 2)
    frame().write_csv(tmp_path / "rows.csv")
    task = [str(tmp_path / "rows.csv"), "--prompt", "{text}", "--model", "m-1"]

    def batches(*argv: str) -> int:
        assert cli_main(list(argv)) == 0
        found = [line.split() for line in capsys.readouterr().out.splitlines()]
        return int(next(row[-1] for row in found if len(row) == 2 and row[0] == "batches"))

    assert batches("estimate", *task) == 1  # (the table once elided this row as "…")
    assert batches("estimate", *task, "--protocol", "openai") == 3  # 5 unique, 2 per batch
    assert batches("run", *task, "--protocol", "openai", "--dry-run") == 3
    monkeypatch.setenv("SIRAYA_PROTOCOL", "openai")
    assert batches("estimate", *task) == 3


def test_the_frame_namespace_estimate_takes_the_protocol():
    df = frame()
    task = {"prompt": "{text}", "model": "m-1", "max_tokens": 8, "top_k": 3}
    assert df.siraya.estimate(**task)["requests"].item() == 6
    with pytest.raises(errors.ParameterError, match="'top_k'"):
        df.siraya.estimate(**task, protocol="openai")
