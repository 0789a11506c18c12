"""Models before money: ``GET /models`` on each protocol and the emulator, ``sf.models``,
``siraya-frames models``, and ``run`` refusing an unlisted model before anything is sent."""

from __future__ import annotations

import asyncio
import doctest
import json
import logging

import anthropic
import httpx
import openai
import polars as pl
import pytest
from anthropic.types import ModelInfo
from openai.types import Model
from sdk_checks import strict

import siraya_frames as sf
from siraya_frames import _models
from siraya_frames._cli import main
from siraya_frames._errors import ConfigurationError, NotFoundError, ParameterError
from siraya_frames.emulator import Emulator
from siraya_frames.emulator import _models as emulator_models
from siraya_frames.emulator._cli import add_arguments, config_from_args

KNOWN = ["openai/gpt-4o-mini-batch", "openai/gpt-4o-batch", "anthropic/claude-haiku-4.5"]
DF = pl.DataFrame({"review": ["good", "bad"]})


def test_docstring_examples_run():
    for module in (_models, emulator_models):
        result = doctest.testmod(module)
        assert result.attempted >= 2 and result.failed == 0


# --------------------------------------------------------------------------- the listing


@pytest.mark.parametrize(
    ("dialect", "protocol"),
    [("quickstart", "siraya"), ("infron", "siraya"), ("openai", "openai"),
     ("anthropic", "anthropic")],
)  # fmt: skip
def test_each_protocol_lists_the_emulators_models(dialect: str, protocol: str) -> None:
    with (
        Emulator(dialect=dialect, models=KNOWN, api_key="k") as emu,
        sf.SirayaClient("k", emu.base_url, protocol=protocol) as client,
    ):
        assert client.models() == KNOWN
        frame = sf.models(client)
        assert emu.stats()["calls"]["models"] == 2
    assert frame["id"].to_list() == KNOWN
    assert frame.schema["created"] == pl.Datetime("us", "UTC")
    assert frame["created"].dt.year().to_list() == [2023] * 3
    named = "display_name" if protocol == "anthropic" else "owned_by"
    assert frame[named].null_count() == 0


def test_anthropic_listing_is_read_page_by_page() -> None:
    names = [f"model-{i:04d}" for i in range(1500)]
    with (
        Emulator(dialect="anthropic", models=names) as emu,
        sf.SirayaClient("k", emu.base_url, protocol="anthropic") as client,
    ):
        assert client.models() == names
        calls = [c for c in emu.calls() if c["endpoint"] == "models"]
    assert len(calls) == 2  # 1,000 a page


def test_pages_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def endless(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        n = len(seen)
        return httpx.Response(
            200, json={"data": [{"id": f"m{n}"}], "has_more": True, "last_id": f"m{n}"}
        )

    monkeypatch.setattr(_models, "MAX_MODEL_PAGES", 3)
    transport = httpx.MockTransport(endless)
    with sf.SirayaClient(
        "k", "https://api.example/v1", protocol="anthropic", transport=transport
    ) as client:
        assert client.models() == ["m1", "m2", "m3"]
    assert len(seen) == 3
    assert seen[1].endswith("after_id=m1")


def test_async_client_lists_the_models() -> None:
    async def main_(url: str) -> list[str]:
        async with sf.AsyncSirayaClient("k", url) as client:
            return await client.models()

    with Emulator(models=KNOWN) as emu:
        assert asyncio.run(main_(emu.base_url)) == KNOWN


def test_default_emulator_lists_none_and_a_bad_page_is_refused() -> None:
    with Emulator(dialect="anthropic") as emu:
        assert httpx.get(f"{emu.base_url}/models").json()["data"] == []
        bad = httpx.get(f"{emu.base_url}/models", params={"limit": 0})
    assert bad.status_code == 400
    assert "limit" in bad.json()["error"]["message"]


def test_listing_needs_the_key_and_run_stops_on_a_wrong_one(tmp_path) -> None:
    with (
        Emulator(models=KNOWN, api_key="right") as emu,
        sf.SirayaClient("wrong", emu.base_url) as client,
    ):
        with pytest.raises(sf.AuthenticationError):
            client.models()
        with pytest.raises(sf.AuthenticationError, match="GET /v1/models"):
            _run(client, tmp_path)
        assert [c["endpoint"] for c in emu.calls()] == ["models", "models"]


def test_emulator_models_option_is_checked_and_read_from_the_cli() -> None:
    with pytest.raises(ConfigurationError, match="list of model names"):
        Emulator(models="gpt-4o")
    parser = __import__("argparse").ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--models", "a, b,"])).models == ("a", "b")
    assert config_from_args(parser.parse_args([])).models is None


def test_official_sdks_read_the_listing() -> None:
    with Emulator(dialect="openai", models=KNOWN, api_key="k") as emu:
        sdk = openai.OpenAI(api_key="k", base_url=emu.base_url)
        assert [m.id for m in sdk.models.list()] == KNOWN
        raw = httpx.get(f"{emu.base_url}/models", headers={"Authorization": "Bearer k"}).json()
        assert raw["object"] == "list"
        for item in raw["data"]:
            strict(Model, item)
    with Emulator(dialect="anthropic", models=KNOWN, api_key="k") as emu:
        sdk_a = anthropic.Anthropic(api_key="k", base_url=emu.url)
        assert [m.id for m in sdk_a.models.list(limit=2)] == KNOWN  # two pages
        page = httpx.get(f"{emu.base_url}/models", headers={"x-api-key": "k"}).json()
        assert page["has_more"] is False and page["last_id"] == KNOWN[-1]
        for item in page["data"]:
            strict(ModelInfo, item)


# --------------------------------------------------------------------------- the check in run


def _run(client: sf.SirayaClient, tmp_path, **kwargs):
    args = {"prompt": "{review}", "model": "openai/gpt-4o-mini-batch", "progress": False,
            "show_summary": False, "job_dir": tmp_path / "job"}  # fmt: skip
    return sf.run(DF, client=client, **{**args, **kwargs})


def test_an_unknown_model_is_refused_before_any_request(tmp_path) -> None:
    with Emulator(models=KNOWN) as emu, sf.SirayaClient("k", emu.base_url) as client:
        with pytest.raises(ParameterError) as caught:
            _run(client, tmp_path, model="openai/gpt-4o-mni-batch")
        calls = [c["endpoint"] for c in emu.calls()]
        assert emu.stats()["batches"] == 0
    assert calls == ["models"]  # the listing, and no create
    message = str(caught.value)
    assert "'openai/gpt-4o-mni-batch' is not one of the models" in message
    assert "closest: 'openai/gpt-4o-mini-batch'" in message
    assert "nothing was sent" in message and "model=" in message and "--model" in message


def test_an_unknown_model_in_a_model_column_is_refused(tmp_path) -> None:
    df = DF.with_columns(model=pl.Series([KNOWN[0], "claude-haiku"]))
    with Emulator(models=KNOWN) as emu, sf.SirayaClient("k", emu.base_url) as client:
        with pytest.raises(ParameterError, match=r"'claude-haiku'.*anthropic/claude-haiku-4\.5"):
            sf.run(df, prompt="{review}", model=pl.col("model"), client=client,
                   job_dir=tmp_path / "j", progress=False, show_summary=False)  # fmt: skip
        assert emu.stats()["batches"] == 0


def test_a_listed_model_runs_and_the_listing_is_read_once_per_client(tmp_path) -> None:
    with Emulator(models=KNOWN) as emu, sf.SirayaClient("k", emu.base_url) as client:
        out = _run(client, tmp_path)
        again = _run(client, tmp_path)  # re-attaches: nothing sent, nothing listed again
        assert emu.stats()["calls"]["models"] == 1
        assert emu.stats()["batches"] == 1
    assert out["response_text"].to_list() == again["response_text"].to_list()
    assert out.height == 2


def test_run_goes_on_when_the_listing_is_not_available(tmp_path, caplog) -> None:
    with Emulator() as emu:
        upstream = httpx.HTTPTransport()

        def no_models(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/models"):
                return httpx.Response(404, json={"error": {"message": "no such route"}})
            return upstream.handle_request(request)

        transport = httpx.MockTransport(no_models)
        with sf.SirayaClient("k", emu.base_url, transport=transport) as client:
            with caplog.at_level(logging.WARNING, logger="siraya_frames"):
                out = _run(client, tmp_path, model="any-model")
            assert emu.stats()["batches"] == 1
    assert out["result_status"].to_list() == ["succeeded", "succeeded"]
    warned = [r.getMessage() for r in caplog.records if "could not check" in r.getMessage()]
    assert len(warned) == 1 and "404" in warned[0]


def test_sf_models_says_when_there_is_no_listing() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(404, json={"error": "no"}))
    client = sf.SirayaClient("k", "https://api.example/v1", transport=transport)
    with client, pytest.raises(NotFoundError):
        sf.models(client)


# --------------------------------------------------------------------------- the command


def test_models_command_prints_one_id_per_line(monkeypatch, capsys) -> None:
    with Emulator(models=KNOWN, api_key="k") as emu:
        monkeypatch.setenv("SIRAYA_API_KEY", "k")
        monkeypatch.setenv("SIRAYA_BASE_URL", emu.base_url)
        assert main(["models"]) == 0
        assert capsys.readouterr().out.splitlines() == KNOWN
        assert main(["models", "--long"]) == 0
        assert "owned_by" in capsys.readouterr().out


def test_models_command_says_when_listing_is_not_available(monkeypatch, capsys) -> None:
    with Emulator(api_key="k") as emu:
        monkeypatch.setenv("SIRAYA_API_KEY", "k")
        monkeypatch.setenv("SIRAYA_BASE_URL", emu.url + "/elsewhere")
        assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert "does not list its models" in err and "404" in err


def test_run_command_refuses_an_unknown_model(monkeypatch, tmp_path, capsys) -> None:
    src = tmp_path / "in.csv"
    DF.write_csv(src)
    with Emulator(models=KNOWN, api_key="k") as emu:
        monkeypatch.setenv("SIRAYA_API_KEY", "k")
        monkeypatch.setenv("SIRAYA_BASE_URL", emu.base_url)
        out, job = str(tmp_path / "o.parquet"), str(tmp_path / "j")
        code = main(["--quiet", "run", str(src), "--prompt", "{review}", "--model", "gpt4o-mini",
                     "--output", out, "--job-dir", job])  # fmt: skip
        assert emu.stats()["batches"] == 0
    assert code == 2  # a usage or input error (see siraya-frames --help)
    assert "--model" in capsys.readouterr().err


def test_models_frame_reads_both_time_shapes() -> None:
    frame = _models.models_frame(
        [{"id": "a", "created": 1700000000}, {"id": "b", "created_at": "2023-11-14T22:13:20Z"},
         {"id": "c", "created": "soon", "display_name": 3}]
    )  # fmt: skip
    assert frame["created"].to_list()[0] == frame["created"].to_list()[1]
    assert frame.row(2) == ("c", None, None, None)
    assert json.dumps(_models.closest_models("GPT-4O", ["gpt-4o", "gpt-4o-mini"])) == (
        '["gpt-4o", "gpt-4o-mini"]'
    )
