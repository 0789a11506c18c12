"""After submit: the job remembers run's recipe, so ``Job.output()``, ``siraya-frames wait``
and ``results --output`` give run's frame and file; the output format follows the name."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames._cli import main
from siraya_frames._output import read_output_provenance
from siraya_frames.emulator import Emulator

KEY = "sk-test-finish"
LABELS = ["positive", "negative"]
TEXTS = ["positive", "negative", "so-so", "positive", None]
ROOT = Path(__file__).resolve().parents[1]


def scripted(params, *, custom_id):
    text = params["messages"][-1]["content"].splitlines()[0]
    return '{"tags": ["a", "b"], "n": 3}' if text == "json" else text


def frame() -> pl.DataFrame:
    return pl.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})


def _run(client, job_dir, **kwargs):
    args = {"prompt": "{text}", "model": "m", "labels": LABELS, "prefix": "llm_", "on_null": "skip"}
    args.update(kwargs)
    return sf.run(frame(), client=client, job_dir=job_dir, progress=False,
                  show_summary=False, **args)  # fmt: skip


def _output_in_fresh_process(job_dir: Path, base_url: str, path: Path | None = None) -> None:
    code = textwrap.dedent(
        f"""
        import siraya_frames as sf
        client = sf.SirayaClient({KEY!r}, {base_url!r})
        out = sf.Job.open({str(job_dir)!r}, client=client).output(
            {str(path) if path else None!r}, progress=False)
        print(out.height)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(TEXTS))]


def _without_time(provenance: dict) -> dict:
    return {k: v for k, v in provenance.items() if k != "written_at"}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_output_in_a_fresh_process_gives_the_frame_and_file_of_run(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        job = _run(client, tmp_path / "job", output=target, wait=False)
        assert isinstance(job, sf.Job) and not target.exists()
        _output_in_fresh_process(job.path, emu.base_url)
        written, provenance = target.read_bytes(), read_output_provenance(target)
        again = _run(client, tmp_path / "job", output=target)  # the uninterrupted call
    assert again["llm_label"].to_list() == ["positive", "negative", None, "positive", None]
    assert again["llm_result_status"].to_list()[-1] == "skipped"
    if suffix == ".parquet":
        assert pl.read_parquet(written).equals(again)
    else:
        assert pl.read_csv(written).equals(pl.read_csv(target))
        assert pl.read_csv(written)["llm_label"].to_list() == again["llm_label"].to_list()
    assert _without_time(provenance) == _without_time(read_output_provenance(target))
    assert provenance["outcomes"] == {"succeeded": 4, "skipped": 1}


def test_output_after_ctrl_c_in_wait_gives_run_s_frame(tmp_path, monkeypatch):
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:

        def interrupted(self, *args, **kwargs):
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(sf.Job, "wait", interrupted)
            with pytest.raises(KeyboardInterrupt):
                _run(client, tmp_path / "job", output=tmp_path / "o.parquet")
        _output_in_fresh_process(tmp_path / "job", emu.base_url)
        expected = _run(client, tmp_path / "job")
    assert pl.read_parquet(tmp_path / "o.parquet").equals(expected)


def test_the_resume_hint_says_output_and_the_job_dir_is_logged_at_submit(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="siraya_frames")
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        job = _run(client, tmp_path / "job", wait=False)
    assert f"the job is saved in {job.path}" in caplog.text
    assert f"Job.open({str(job.path)!r}).output()" in job._hint()


def test_extraction_recipe_and_a_nested_column_in_csv(tmp_path):
    schema = {"tags": pl.List(pl.String), "n": pl.Int32}
    df = pl.DataFrame({"text": ["json", "json"]})
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        out = sf.run(df, prompt="{text}", model="m", schema=schema, client=client,
                     job_dir=tmp_path / "job", output=tmp_path / "o.csv", progress=False,
                     show_summary=False)  # fmt: skip
        again = sf.Job.open(tmp_path / "job", client=client).output(progress=False)
    assert out.equals(again) and out.schema["tags"] == pl.List(pl.String)
    csv = pl.read_csv(tmp_path / "o.csv")
    assert csv["tags"].to_list() == ['["a","b"]', '["a","b"]'] and csv["n"].to_list() == [3, 3]
    assert not (tmp_path / "o.csv").read_bytes().startswith(b"PAR1")


def test_a_re_run_rewrites_neither_the_inputs_nor_the_recipe(tmp_path):
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        _run(client, tmp_path / "job")
        inputs = tmp_path / "job" / "inputs.parquet"
        before = inputs.stat().st_mtime_ns
        _run(client, tmp_path / "job")
        assert inputs.stat().st_mtime_ns == before
        _run(client, tmp_path / "job", prefix="x_")  # a new prefix: saved, rows unchanged
    assert inputs.stat().st_mtime_ns == before
    assert sf.Job.open(tmp_path / "job")._state.recipe["prefix"] == "x_"


def test_output_of_a_job_without_recipe_says_what_to_do(tmp_path):
    requests = sf.build_requests(frame(), prompt="{text}", model="m", max_tokens=8, on_null="skip")
    with Emulator() as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        job = sf.submit(requests, client=client, job_dir=tmp_path / "job")
        with pytest.raises(sf.errors.JobError, match=r"no recipe .*job\.results\(\)"):
            job.output(progress=False)


def test_run_refuses_an_unknown_suffix_before_sending_anything(tmp_path):
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        with pytest.raises(sf.errors.InputError, match=r"'.*x\.xlsx'.*\.parquet, \.csv"):
            _run(client, tmp_path / "job", output=tmp_path / "x.xlsx")
        assert emu.calls() == [] and not (tmp_path / "job").exists()


def _cli(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_cli_wait_writes_the_recipe_output_and_results_writes_each_format(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SIRAYA_API_KEY", KEY)
    target = tmp_path / "out.parquet"
    with Emulator(responder=scripted) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        _run(client, tmp_path / "job", output=target, wait=False)
        url = ("--base-url", emu.base_url)
        waited = _cli(capsys, "--quiet", "wait", str(tmp_path / "job"), *url)
        assert f"Wrote {len(TEXTS)} rows with their answers to {target}" in waited
        expected = pl.read_parquet(target)
        assert expected.height == len(TEXTS) and "llm_label" in expected.columns
        for name, read in [("r.jsonl", pl.read_ndjson), ("r.arrow", pl.read_ipc)]:
            _cli(capsys, "results", str(tmp_path / "job"), "--output", str(tmp_path / name), *url)
            back = read(tmp_path / name)
            assert back.cast(expected.schema).equals(expected), name
            assert json.loads((tmp_path / f"{name}.provenance.json").read_text())["rows"] == 5
        _cli(capsys, "results", str(tmp_path / "job"), "--output", str(tmp_path / "r.csv"), *url)
        assert not (tmp_path / "r.csv").read_bytes().startswith(b"PAR1")
        csv = pl.read_csv(tmp_path / "r.csv")
        assert csv["llm_label"].to_list() == expected["llm_label"].cast(pl.String).to_list()
        calls = len(emu.calls())
        assert (
            main(["results", str(tmp_path / "job"), "--output", "x.xlsx", *url]) == 2
        )  # an input error
        assert "'x.xlsx'" in capsys.readouterr().err and len(emu.calls()) == calls
        assert not (tmp_path / "x.xlsx").exists()
