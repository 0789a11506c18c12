"""Before submit: one estimate of exactly what run sends (Python, dry run, CLI, budget), the
one-line statement of the spend, and prompts without a column or with JSON braces (#14)."""

from __future__ import annotations

import inspect
import json
import logging
import re
from pathlib import Path

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames._cli import main
from siraya_frames._namespace import SirayaFrame, SirayaLazyFrame
from siraya_frames._pandas import SirayaPandasFrame
from siraya_frames.emulator import Emulator

SAMPLE = Path(sf.__file__).parent / "data" / "reviews.csv"
LABELS = ["positive", "negative", "neutral"]
TASK = {"prompt": "Sentiment of: {review}", "model": "openai/gpt-4o-mini-batch",
        "labels": LABELS, "max_tokens": 20}  # fmt: skip


class Recorder:
    """A model that answers 'positive' and keeps every request body it was sent."""

    def __init__(self) -> None:
        self.bodies: dict[str, dict] = {}

    def __call__(self, params: dict, *, custom_id: str) -> str:
        self.bodies[custom_id] = params
        return "positive"

    def estimate(self) -> dict:
        frame = pl.DataFrame(
            {"custom_id": list(self.bodies), "params_json": map(json.dumps, self.bodies.values())}
        )
        return sf.estimate(frame).row(0, named=True)


def _emulated_run(df, tmp_path, recorder=None, **kw):
    with (
        Emulator(responder=recorder or Recorder()) as emu,
        sf.SirayaClient("k", emu.base_url) as client,
    ):
        out = sf.run(df, client=client, job_dir=tmp_path / "job", progress=False, **kw)
        return out, emu.stats()


def _tokens(est: dict) -> tuple:
    return est["unique_requests"], est["estimated_input_tokens"], est["max_output_tokens"]


# --------------------------------------------------------------------------- the estimate


def test_the_estimate_of_run_arguments_is_what_run_sends(tmp_path):
    df = pl.read_csv(SAMPLE).head(60)
    expected = sf.estimate(df, **TASK).row(0, named=True)
    recorder = Recorder()
    _emulated_run(df, tmp_path, recorder, show_summary=False, **TASK)
    assert _tokens(recorder.estimate()) == _tokens(expected)
    # the old way left out the label instructions run adds: fewer tokens than are sent
    built = sf.estimate(sf.build_requests(df, **{k: v for k, v in TASK.items() if k != "labels"}))
    assert built["estimated_input_tokens"].item() < expected["estimated_input_tokens"]


def test_python_the_cli_and_the_budget_give_the_same_figures_on_the_sample(capsys, tmp_path):
    df = pl.read_csv(SAMPLE)
    est = sf.estimate(df, **TASK).row(0, named=True)
    assert est["rows"] == df.height and est["estimated_input_tokens"] > 15_000
    assert sf.run(df, **TASK, dry_run=True).row(0, named=True) == est
    assert df.siraya.estimate(**TASK).row(0, named=True) == est
    line = f"estimate {SAMPLE} --prompt '{TASK['prompt']}' --model {TASK['model']} "
    line += f"--labels {','.join(LABELS)} --max-tokens 20"
    for command in (line, line.replace("estimate", "run", 1) + " --dry-run"):
        assert main(_split(command)) == 0
        printed = capsys.readouterr().out
        tokens, unique = est["estimated_input_tokens"], est["unique_requests"]
        assert re.search(rf"estimated input tokens +{tokens:,}\n", printed), printed
        assert re.search(rf"unique requests +{unique:,}\n", printed), printed
    with pytest.raises(sf.BudgetExceededError) as over:
        sf.run(df, **TASK, max_cost_usd=1e-9, client=sf.SirayaClient("k", "http://127.0.0.1:9"))
    message = str(over.value)
    assert f"{est['estimated_input_tokens']:,} input tokens" in message
    assert f"${est['estimated_cost_usd']:,.4f}" in message
    assert "sf.estimate(df, prompt=..., model=..., max_tokens=..., labels=...)" in message
    assert "dry_run=True" in message and "nothing was sent" in message


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def test_a_dry_run_sends_nothing_and_makes_no_job_dir(tmp_path):
    df = pl.DataFrame({"review": ["good", "bad", "good"]})
    est, stats = _emulated_run(df, tmp_path, dry_run=True, **TASK)
    assert isinstance(est, pl.DataFrame) and est["unique_requests"].item() == 2
    assert stats["batches"] == 0 and not (tmp_path / "job").exists()


def test_the_estimate_of_a_requests_frame_still_works_and_task_arguments_need_a_prompt():
    df = pl.DataFrame({"review": ["good", "bad"]})
    requests = sf.build_requests(df, prompt="{review}", model="m", max_tokens=5)
    assert sf.estimate(requests)["requests"].item() == 2
    assert sf.estimate(requests.lazy(), protocol="anthropic")["requests"].item() == 2
    with pytest.raises(sf.InputError, match=r"got model=, labels= but no prompt="):
        sf.estimate(df, model="m", labels=LABELS)


def test_estimate_accepts_every_run_argument():
    df = pl.DataFrame({"review": ["good"]})
    extra = {"output": "o.parquet", "job_dir": "j", "wait": False, "timeout": 1.0,
             "progress": False, "show_summary": False, "max_cost_usd": 1.0,
             "max_result_bytes": 10, "on_null": "skip", "temperature": 0}  # fmt: skip
    assert sf.estimate(df, **TASK, **extra)["requests"].item() == 1
    assert not Path("j").exists() and not Path("o.parquet").exists()


# --------------------------------------------------------------------------- the spend line


def test_run_says_what_it_is_about_to_spend_then_what_its_job_holds(tmp_path, capsys, caplog):
    df = pl.DataFrame({"review": ["good", "bad", "good"]})
    with Emulator(responder=Recorder()) as emu, sf.SirayaClient("k", emu.base_url) as client:
        kw = {**TASK, "client": client, "job_dir": tmp_path / "job", "progress": False}

        with caplog.at_level(logging.INFO, logger="siraya_frames"):
            sf.run(df, **kw)
        err = capsys.readouterr().err
        said = "Sending 2 requests in 1 batch, up to $"
        assert said in err and "at the batch price (estimate; prices as of" in err
        assert any(said in r.getMessage() for r in caplog.records)
        sf.run(df, **kw)  # the same call again
        err = capsys.readouterr().err
        assert "Sending" not in err
        assert "Re-attaching to the job in" in err and "holds 2 requests in 1 batch" in err
        assert "nothing new to send" in err
        sf.run(pl.concat([df, pl.DataFrame({"review": ["meh"]})]), **kw)
        err = capsys.readouterr().err
        assert "holds 2 requests in 1 batch; sending 1 request in 1 batch, up to $" in err


def test_no_spend_line_without_the_summary_but_still_logged(tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="siraya_frames"):
        _emulated_run(pl.DataFrame({"review": ["a"]}), tmp_path, show_summary=False, **TASK)
    assert "Sending" not in capsys.readouterr().err
    assert any("Sending 1 request in 1 batch" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- prompts


def test_a_prompt_without_a_column_is_sent_once_and_fills_every_row(tmp_path):
    df = pl.DataFrame({"id": [1, 2, 3, 4]})
    out, stats = _emulated_run(df, tmp_path, prompt="Say hi", model="m", show_summary=False)
    assert stats["batches"] == 1 and out["custom_id"].n_unique() == 1
    assert out["id"].to_list() == [1, 2, 3, 4]
    assert out["response_text"].to_list() == ["positive"] * 4


def test_the_cli_runs_a_prompt_without_a_column(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pl.DataFrame({"id": [1, 2, 3]}).write_csv("rows.csv")
    with Emulator(responder=Recorder()) as emu:
        monkeypatch.setenv("SIRAYA_API_KEY", "k")
        code = main(["--quiet", "run", "rows.csv", "--prompt", "Say hi", "--model", "m",
                     "--base-url", emu.base_url, "--output", "out.parquet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert pl.read_parquet("out.parquet")["response_text"].to_list() == ["positive"] * 3


def test_a_json_prompt_is_refused_before_any_spend_showing_the_doubled_braces(tmp_path):
    df = pl.DataFrame({"review": ["good"]})
    with pytest.raises(sf.InputError) as info:
        _emulated_run(df, tmp_path, prompt='{review} Reply as {"label": "pos"}', model="m")
    assert '{review} Reply as {{"label": "pos"}}' in str(info.value)
    assert not (tmp_path / "job").exists()


# --------------------------------------------------------------------------- df.siraya


@pytest.mark.parametrize("namespace", [SirayaFrame, SirayaLazyFrame, SirayaPandasFrame])
def test_the_namespace_has_the_typed_signatures_of_run_and_estimate(namespace):
    for method, function in ((namespace.run, sf.run), (namespace.estimate, sf.estimate)):
        mine = list(inspect.signature(method).parameters.values())[1:]  # minus self
        theirs = list(inspect.signature(function).parameters.values())[1:]  # minus df
        assert mine == theirs
        assert inspect.signature(method).return_annotation == (
            inspect.signature(function).return_annotation
        )


def test_estimate_takes_every_argument_run_takes_but_dry_run():
    run = inspect.signature(sf.run).parameters
    est = inspect.signature(sf.estimate).parameters
    assert set(est) == set(run) - {"dry_run"}
    for name in set(est) - {"df", "prices", "model"}:
        assert (est[name].default, est[name].annotation) == (
            run[name].default,
            run[name].annotation,
        )


def test_df_siraya_estimate_with_labels():
    df = pl.DataFrame({"review": ["good", "bad"]})
    est = df.siraya.estimate(labels=["pos", "neg"], prompt="{review}", model="m")
    assert est["unique_requests"].item() == 2
    assert est.equals(sf.estimate(df, labels=["pos", "neg"], prompt="{review}", model="m"))


def test_the_default_job_dir_is_found_to_say_it_is_a_re_attach(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIRAYA_JOB_ROOT", str(tmp_path / "jobs"))
    df = pl.DataFrame({"review": ["good", "bad"]})
    with Emulator(responder=Recorder()) as emu, sf.SirayaClient("k", emu.base_url) as client:
        for _ in range(2):
            sf.run(df, **TASK, client=client, progress=False)
    err = capsys.readouterr().err
    assert err.count("Sending 2 requests") == 1 and err.count("Re-attaching") == 1
