"""The three wire protocols, end to end through in-process fakes of the real services."""

from __future__ import annotations

import json

import httpx
import polars as pl
import pytest
from fakes_protocols import KEY, FakeAnthropic, FakeOpenAI, Killed

import siraya_frames as sf
from siraya_frames import _errors as errors
from siraya_frames._cli import main as cli_main
from siraya_frames._client import AsyncSirayaClient, SirayaClient
from siraya_frames._http import RetryPolicy
from siraya_frames._plan import unique_requests
from siraya_frames._polling import drive
from siraya_frames._protocols._chat import _fast_exprs, _python_line, chat_lines
from siraya_frames._store import JobStore

NO_WAIT = RetryPolicy(max_attempts=2, sleep=lambda s: None)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("SIRAYA_PROTOCOL", "SIRAYA_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SIRAYA_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def client_for(fake, protocol: str, **kw) -> SirayaClient:
    base = (
        "https://api.anthropic.test/v1" if protocol == "anthropic" else "https://api.openai.test/v1"
    )
    return SirayaClient(
        KEY, base, protocol=protocol, transport=fake.transport(), retry=NO_WAIT, **kw
    )


def frame(texts=("good", "bad", "good")) -> pl.DataFrame:
    return pl.DataFrame({"text": list(texts)})


def run(df, client, tmp_path, **kw) -> pl.DataFrame:
    return sf.run(
        df,
        prompt="{text}",
        model="m-1",
        max_tokens=8,
        client=client,
        job_dir=tmp_path / "job",
        progress=False,
        show_summary=False,
        **kw,
    )


def no_sleep(monkeypatch):
    monkeypatch.setitem(drive.__kwdefaults__, "sleep", lambda s: None)


# ---------------------------------------------------------------------- anthropic


def test_anthropic_run_end_to_end_speaks_message_batches(tmp_path, monkeypatch):
    no_sleep(monkeypatch)
    fake = FakeAnthropic(polls_to_end=2)
    out = run(frame(), client_for(fake, "anthropic"), tmp_path)
    assert out["response_text"].to_list() == ["GOOD", "BAD", "GOOD"]
    assert out["result_status"].to_list() == ["succeeded"] * 3
    paths = [(r.method, r.url.path) for r in fake.requests]
    assert paths[0] == ("GET", "/v1/models")  # the model check (this fake lists none: 404)
    assert paths[1] == ("POST", "/v1/messages/batches")
    assert ("GET", "/v1/messages/batches/msgbatch_01") in paths
    # the relative results_url, resolved against the base URL, with the key (same origin)
    assert paths[-1] == ("GET", "/v1/messages/batches/msgbatch_01/results")
    for request in fake.requests:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
    body = json.loads(fake.requests[1].content)
    assert [r["params"]["messages"][0]["content"] for r in body["requests"]] == ["good", "bad"]
    assert fake.requests[1].headers["idempotency-key"]


def test_anthropic_rfc3339_expiry_is_saved_as_unix_seconds(tmp_path):
    fake = FakeAnthropic(polls_to_end=99)
    job = sf.submit(
        sf.build_requests(frame(), prompt="{text}", model="m", max_tokens=4),
        client=client_for(fake, "anthropic"),
        job_dir=tmp_path / "job",
    )
    job.status()
    record = JobStore(job.path).load().batches[0]
    assert record.expires_at == pytest.approx(1727289444.100435)
    assert record.status == "in_progress"


def test_anthropic_error_envelope_gives_type_message_and_the_right_key_hint(tmp_path):
    fake = FakeAnthropic()
    client = SirayaClient(
        "wrong", "https://api.anthropic.test/v1", protocol="anthropic", transport=fake.transport()
    )
    with pytest.raises(errors.AuthenticationError) as info:
        client.get_batch("msgbatch_x")
    assert info.value.error_type == "authentication_error"
    assert "invalid x-api-key" in str(info.value)
    assert "ANTHROPIC_API_KEY" in str(info.value)
    assert "wrong" not in str(info.value)


def test_cancel_answered_400_already_ended_is_harmless_and_results_still_come(
    tmp_path, monkeypatch
):
    no_sleep(monkeypatch)
    fake = FakeAnthropic(polls_to_end=1, cancel_after_end="400")
    client = client_for(fake, "anthropic")
    requests = sf.build_requests(frame(), prompt="{text}", model="m", max_tokens=4)
    job = sf.submit(requests, client=client, job_dir=tmp_path / "job")
    fake.batches["msgbatch_01"]["status"] = "ended"  # it ended before the cancel arrived
    job.cancel()
    assert job.wait(progress=False).results()["result_status"].to_list() == ["succeeded"] * 2


def test_cancel_answered_another_400_still_raises(tmp_path):
    fake = FakeAnthropic(polls_to_end=99)
    client = client_for(fake, "anthropic")
    requests = sf.build_requests(frame(), prompt="{text}", model="m", max_tokens=4)
    job = sf.submit(requests, client=client, job_dir=tmp_path / "job")
    original = fake.route

    def refuse(request):
        if request.url.path.endswith("/cancel"):
            return fake._error(400, "invalid_request_error", "malformed batch id")
        return original(request)

    fake.route = refuse
    with pytest.raises(errors.APIStatusError, match="malformed batch id"):
        job.cancel()


def test_missing_key_names_the_protocols_variable(monkeypatch):
    with pytest.raises(errors.ConfigurationError, match=r"api_key=.*ANTHROPIC_API_KEY"):
        SirayaClient(protocol="anthropic")
    with pytest.raises(errors.ConfigurationError, match=r"api_key=.*OPENAI_API_KEY"):
        SirayaClient(protocol="openai")
    monkeypatch.setenv("SIRAYA_API_KEY", "siraya-key")
    with pytest.raises(errors.ConfigurationError, match="OPENAI_API_KEY"):
        SirayaClient(protocol="openai")  # the Siraya key never goes to another service


def test_protocol_resolution_argument_then_env_then_default(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "o")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a")
    monkeypatch.setenv("SIRAYA_API_KEY", "s")
    assert SirayaClient().protocol == "siraya"
    assert SirayaClient().base_url == "https://llm.siraya.pro/v1"
    monkeypatch.setenv("SIRAYA_PROTOCOL", "openai")
    assert SirayaClient().protocol == "openai"
    assert SirayaClient().base_url == "https://api.openai.com/v1"
    assert SirayaClient(protocol="anthropic").base_url == "https://api.anthropic.com/v1"
    assert AsyncSirayaClient(protocol="anthropic").protocol == "anthropic"
    monkeypatch.setenv("SIRAYA_PROTOCOL", "gemini")
    with pytest.raises(errors.ConfigurationError, match="siraya, anthropic, openai"):
        SirayaClient()


# ---------------------------------------------------------------------- openai


def test_openai_run_end_to_end_uploads_creates_and_reads_both_files(tmp_path, monkeypatch):
    no_sleep(monkeypatch)
    fake = FakeOpenAI(polls_to_end=2)
    df = frame(["good", "FAIL me", "good"])
    out = run(df, client_for(fake, "openai"), tmp_path, system="be brief", temperature=0.5)
    assert out["result_status"].to_list() == ["succeeded", "errored", "succeeded"]
    assert out["response_text"].to_list() == ["GOOD", None, "GOOD"]
    (upload,) = fake.uploads()
    assert upload.headers["authorization"] == f"Bearer {KEY}"
    lines = [json.loads(x) for x in fake.contents["file-001"].decode().splitlines()]
    ids = unique_requests(
        sf.build_requests(
            df, prompt="{text}", model="m-1", max_tokens=8, system="be brief", temperature=0.5
        )
    )["custom_id"].to_list()
    assert lines[0] == {
        "custom_id": ids[0],
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "m-1",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "good"},
            ],
            "max_completion_tokens": 8,
            "temperature": 0.5,
        },
    }
    assert [line["custom_id"] for line in lines] == ids  # the same ids on every protocol
    (create,) = fake.creates()
    job = JobStore(tmp_path / "job").load()
    assert json.loads(create.content) == {
        "input_file_id": "file-001",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"siraya_frames_key": job.batches[0].idempotency_key},
    }
    assert create.headers["idempotency-key"] == job.batches[0].idempotency_key
    assert job.protocol == "openai"
    assert job.batches[0].input_file_id == "file-001"
    fetched = [r.url.path for r in fake.requests if r.url.path.endswith("/content")]
    assert fetched == ["/v1/files/file-002/content", "/v1/files/file-003/content"]


def test_openai_limits_split_by_max_requests(tmp_path, monkeypatch):
    no_sleep(monkeypatch)
    fake = FakeOpenAI()
    df = frame([f"t{i}" for i in range(5)])
    out = run(df, client_for(fake, "openai"), tmp_path, max_requests=2)
    assert out["response_text"].to_list() == [f"T{i}" for i in range(5)]
    assert len(fake.uploads()) == 3 and len(fake.creates()) == 3


def test_openai_parameter_without_equivalent_is_refused_before_anything_is_sent(tmp_path):
    fake = FakeOpenAI()
    with pytest.raises(errors.ParameterError) as info:
        run(frame(), client_for(fake, "openai"), tmp_path, top_k=5)
    assert "'top_k'" in str(info.value) and "protocol='anthropic'" in str(info.value)
    sent = lambda: {r.url.path for r in fake.requests}  # noqa: E731
    assert sent() <= {"/v1/models"}  # at most the (free) model check: no upload, no batch
    with pytest.raises(errors.ParameterError, match="at most 4 stop sequences"):
        run(frame(), client_for(fake, "openai"), tmp_path, stop_sequences=list("abcde"))
    assert sent() <= {"/v1/models"}


def test_chat_translation_of_tools_tool_choice_and_blocks():
    params = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "metadata": {"user_id": "u1"},
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "f"},
        "stop_sequences": ["x"],
        "top_p": 0.9,
    }
    line = json.loads(_python_line("a", json.dumps(params)))
    assert line["body"] == {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_completion_tokens": 5,
        "metadata": {"user_id": "u1"},
        "stop": ["x"],
        "top_p": 0.9,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
            }
        ],
    }
    image = {**params, "messages": [{"role": "user", "content": [{"type": "image"}]}]}
    with pytest.raises(errors.ParameterError, match="'image' content block"):
        _python_line("a", json.dumps(image))


def test_polars_path_gives_the_python_bytes():
    df = pl.DataFrame(
        {
            "q": ['a "quoted" é \\ \\"', "b\nnew line\t👋", "c"],
            "t": [0.1, None, 1.0],
            "s": ["sys", None, 'say "x"'],
        }
    )
    reqs = sf.build_requests(
        df,
        prompt="{q}",
        model="m",
        max_tokens=3,
        system=pl.col("s"),
        temperature=pl.col("t"),
        stop_sequences=["a", '"b"', "c", "d"],
        top_p=0.5,
    )
    unique = unique_requests(reqs)
    _line, ok = _fast_exprs()
    assert unique.select(ok).to_series().all()  # every row goes the Polars way
    fast = chat_lines(unique).to_list()
    slow = [_python_line(i, p) for i, p in unique.iter_rows()]
    assert fast == slow
    assert json.loads(fast[1])["body"]["messages"] == [
        {"role": "user", "content": "b\nnew line\t👋"}
    ]
    assert json.loads(fast[0])["body"]["messages"][0] == {"role": "system", "content": "sys"}


def test_an_unknown_parameter_or_five_stops_go_the_python_way_and_are_refused():
    base = '{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"x"}]'
    unknown = pl.DataFrame({"custom_id": ["u"], "params_json": [base + ',"service_tier":"auto"}']})
    with pytest.raises(errors.ParameterError, match="'service_tier' of request 'u'"):
        chat_lines(unknown)
    stops = base + ',"stop_sequences":["1","2","3","4","5"]}'
    with pytest.raises(errors.ParameterError, match="at most 4"):
        chat_lines(pl.DataFrame({"custom_id": ["s"], "params_json": [stops]}))


# ---------------------------------------------------------------------- resume safety (openai)


def _submit(fake, tmp_path):
    requests = sf.build_requests(frame(), prompt="{text}", model="m", max_tokens=4)
    return sf.submit(requests, client=client_for(fake, "openai"), job_dir=tmp_path / "job")


def _kill_on(kind: str, when: str = "before"):
    def hook(request: httpx.Request) -> None:
        is_create = request.method == "POST" and request.url.path == "/v1/batches"
        is_get = request.method == "GET" and request.url.path.startswith("/v1/batches/")
        if {"create": is_create, "get": is_get}[kind]:
            raise Killed(f"killed {when} {kind}")

    return hook


def _resume(fake, tmp_path, monkeypatch) -> pl.DataFrame:
    no_sleep(monkeypatch)
    fake.fault = fake.after = None
    job = sf.Job.open(tmp_path / "job", client=client_for(fake, "openai"))
    return job.wait(progress=False).results()


@pytest.mark.parametrize(
    "where", ["after upload", "create sent, answer lost", "after create recorded"]
)
def test_openai_resume_creates_exactly_one_batch_and_uploads_once(tmp_path, monkeypatch, where):
    fake = FakeOpenAI()
    if where == "after upload":
        fake.fault = _kill_on("create")
    elif where == "create sent, answer lost":
        fake.after = _kill_on("create", "after")
    else:
        fake.fault = _kill_on("get")
    with pytest.raises(Killed):
        job = _submit(fake, tmp_path)
        job.wait(progress=False)
    out = _resume(fake, tmp_path, monkeypatch)
    assert out["result_status"].to_list() == ["succeeded"] * 2
    assert len(fake.batches) == 1
    assert len(fake.uploads()) == 1


def test_openai_lost_create_answer_is_found_without_a_restart(tmp_path, monkeypatch):
    fake = FakeOpenAI()

    def lose_answer(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/v1/batches":
            raise httpx.ReadTimeout("the answer was lost", request=request)

    fake.after = lose_answer
    job = _submit(fake, tmp_path)
    assert len(fake.creates()) == 1  # not retried blindly: looked for on the list instead
    assert job.batch_ids == ["batch_01"]
    assert [r.url.path for r in fake.requests][-1] == "/v1/batches"  # the list


# ---------------------------------------------------------------------- jobs and protocols


def test_job_records_its_protocol_and_open_uses_it(tmp_path, monkeypatch):
    fake = FakeOpenAI(polls_to_end=99)
    job = _submit(fake, tmp_path)
    assert job.protocol == "openai"
    assert JobStore(job.path).load().protocol == "openai"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("SIRAYA_API_KEY", "siraya-key")
    opened = sf.Job.open(job.path)
    assert opened._sync_client().protocol == "openai"
    assert opened._sync_client().base_url == "https://api.openai.test/v1"


def test_a_client_of_another_protocol_is_refused(tmp_path):
    job = _submit(FakeOpenAI(polls_to_end=99), tmp_path)
    other = client_for(FakeAnthropic(), "anthropic")
    with pytest.raises(errors.JobError, match=r"speaks protocol 'openai'.*'anthropic'"):
        sf.Job.open(job.path, client=other)


def test_an_old_job_dir_without_protocol_is_siraya(tmp_path):
    job = _submit(FakeOpenAI(polls_to_end=99), tmp_path)
    data = JobStore(job.path).load().to_dict()
    del data["protocol"]
    (job.path / "job.json").write_text(json.dumps(data))  # a job dir of the job.json days
    (job.path / "job.sqlite3").unlink()
    assert JobStore(job.path).load().protocol == "siraya"
    assert (job.path / "job.json.migrated").is_file() and not (job.path / "job.json").exists()


def test_run_protocol_argument_makes_the_client(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake = FakeOpenAI()
    monkeypatch.setattr(
        "siraya_frames._job_submit.SirayaClient",
        lambda protocol=None: client_for(fake, protocol),
    )
    job = sf.run(
        frame(),
        prompt="{text}",
        model="m",
        max_tokens=4,
        job_dir=tmp_path / "job",
        protocol="openai",
        wait=False,
        progress=False,
    )
    assert job.protocol == "openai" and len(fake.uploads()) == 1


def test_cli_protocol_flag_reaches_the_client(tmp_path, capsys):
    data = tmp_path / "rows.csv"
    frame().write_csv(data)
    code = cli_main(
        [
            "run",
            str(data),
            "--prompt",
            "{text}",
            "--model",
            "m",
            "--no-wait",
            "--protocol",
            "anthropic",
            "--job-dir",
            str(tmp_path / "job"),
        ]
    )
    assert code == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


# ---------------------------------------------------------------------- siraya regressions


def test_siraya_relative_result_url_is_resolved_and_fetched_with_the_key(tmp_path, monkeypatch):
    no_sleep(monkeypatch)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path == "/v1/models":  # the model check: no listing here
            return httpx.Response(404, json={"error": {"message": "not found"}})
        if request.method == "POST":
            body = json.loads(request.content)
            handler.ids = [r["custom_id"] for r in body["requests"]]
            return httpx.Response(200, json={"id": "batch_r", "status": "pending"})
        if request.url.path == "/v1/batches/batch_r":
            return httpx.Response(
                200, json={"id": "batch_r", "status": "completed", "result_url": "/v1/files/r"}
            )
        lines = [
            {
                "custom_id": i,
                "result": {
                    "type": "succeeded",
                    "message": {
                        "content": [{"type": "text", "text": "ok"}],
                        "model": "m",
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 1, "output_tokens": 1},
                    },
                },
            }
            for i in handler.ids
        ]
        return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines))

    client = SirayaClient(KEY, "https://llm.test/v1", transport=httpx.MockTransport(handler))
    out = run(frame(), client, tmp_path)
    assert out["response_text"].to_list() == ["ok"] * 3
    assert seen[-1] == ("/v1/files/r", f"Bearer {KEY}")


def test_openai_resume_with_the_async_client_creates_once(tmp_path):
    import asyncio

    fake = FakeOpenAI()
    fake.fault = _kill_on("create")
    with pytest.raises(Killed):
        _submit(fake, tmp_path)
    fake.fault = None
    aclient = AsyncSirayaClient(
        KEY, "https://api.openai.test/v1", protocol="openai", transport=fake.transport()
    )
    job = sf.Job.open(tmp_path / "job", client=client_for(fake, "openai"))
    asyncio.run(job.wait_async(aclient, progress=False))
    assert job.results()["response_text"].to_list() == ["GOOD", "BAD"]
    assert len(fake.batches) == 1 and len(fake.uploads()) == 1
    other = AsyncSirayaClient(KEY, "https://x.test/v1", protocol="anthropic")
    with pytest.raises(errors.JobError, match="speaks protocol 'openai'"):
        asyncio.run(job.wait_async(other, progress=False))
