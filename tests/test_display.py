"""What a Python user sees: the run's summary, ``JobStatus``, HTML in Jupyter, warnings at
their own line and once, plurals; and the small traps (the /v1 hint, a socket left open,
the README's job block run twice)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import polars as pl
import pytest
from helpers import clean_env

import siraya_frames as sf
from siraya_frames._report import RunSummary
from siraya_frames.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]


def first_word(params, *, custom_id):
    return params["messages"][-1]["content"].split()[0]


def run(df, tmp_path, emu, **kw):
    with sf.SirayaClient("k", emu.base_url) as client:
        kw = {"prompt": "{t}", "model": "openai/gpt-4o-mini-batch", "max_tokens": 4,
              "client": client, "job_dir": tmp_path / "job", "progress": False, **kw}  # fmt: skip
        return sf.run(df, **kw)


# --------------------------------------------------------------------------- summary


def test_run_summary_in_a_terminal_is_whole_aligned_and_rounded(tmp_path, capsys):
    df = pl.DataFrame({"t": ["positive", "negative", "positive"]})
    with Emulator(responder=first_word) as emu:
        run(df, tmp_path, emu, labels=["positive", "negative"])
    err = capsys.readouterr().err
    assert "…" not in err and "┆" not in err
    expected = [("rows", "3"), ("unique requests", "2"), ("succeeded", "3"),
                ("missing or expired", "0"), ("parsed", "3"), ("input tokens", None)]  # fmt: skip
    for label, value in expected:
        line = next(ln for ln in err.splitlines() if ln.startswith(label + " "))
        assert value is None or line.split()[-1] == value, line
    cost = next(ln for ln in err.splitlines() if ln.startswith("cost "))
    assert cost.endswith("< $0.0001") or "$0." in cost
    assert "e-0" not in err and "000000" not in err


def test_summary_money_and_thousands():
    frame = pl.DataFrame({"rows": [1_200_000], "input_tokens": [98_765_432],
                          "cost_usd": [0.29645865000000005], "note": ["as of today"]})  # fmt: skip
    text = RunSummary(frame).text()
    assert text.splitlines() == [
        "rows          1,200,000",
        "input tokens  98,765,432",
        "cost          $0.2965",
        "as of today",
    ]
    html = RunSummary(frame)._repr_html_()
    assert "<table>" in html and "$0.2965" in html and "98,765,432" in html


def test_failed_rows_end_the_summary_with_the_retry_call(tmp_path, capsys):
    df = pl.DataFrame({"t": ["a", "b"]})
    emulator = Emulator(error_rate=1.0, error_type="overloaded_error")
    with emulator as emu, pytest.warns(sf.ResultsWarning):
        run(df, tmp_path, emu)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    job = str(tmp_path / "job")
    assert (
        last
        == f"2 rows did not succeed. Retry them: siraya_frames.Job.open({job!r}).retry_failed()"
    )


# --------------------------------------------------------------------------- JobStatus


def test_job_status_reads_as_sentences_and_shows_as_html(tmp_path):
    df = pl.DataFrame({"t": ["a", "b", "a"]})
    with Emulator(responder=first_word) as emu:
        run(df, tmp_path, emu, show_summary=False)
        job = sf.Job.open(tmp_path / "job")  # its own client: the saved status needs none
        status = job.status(refresh=False)
        html = job._repr_html_()
    path = str(tmp_path / "job")
    assert str(status) == f"Job {path}: finished, 2 of 2 requests done in 1 batch; all succeeded."
    assert repr(status) == (
        f"JobStatus(path={path!r}, finished=True, done=2, total=2, failed=0, batches=1)"
    )
    assert "<table>" in status._repr_html_() and "r0-b0000" in status._repr_html_()
    assert html == status._repr_html_()
    assert sf.JobStatus is type(status)


# --------------------------------------------------------------------------- warnings


def test_a_warning_points_at_the_callers_line_and_is_not_logged_too(tmp_path, caplog):
    df = pl.DataFrame({"t": ["maybe"]})
    with Emulator(responder=first_word) as emu, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.WARNING, logger="siraya_frames"):
            run(df, tmp_path, emu, labels=["yes", "no"], show_summary=False)
    (w,) = [w for w in caught if issubclass(w.category, sf.ResultsWarning)]
    assert w.filename == __file__
    assert str(w.message).startswith("1 row succeeded but no answer gave a label")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_nothing_succeeded_names_the_retry_call_in_singular(tmp_path):
    df = pl.DataFrame({"t": ["a"]})
    emulator = Emulator(error_rate=1.0, error_type="overloaded_error")
    with emulator as emu, pytest.warns(sf.ResultsWarning) as caught:
        run(df, tmp_path, emu, show_summary=False)
    message = str(caught[0].message)
    assert message.startswith("none of the 1 requested row succeeded")
    assert f"siraya_frames.Job.open({str(tmp_path / 'job')!r}).retry_failed()" in message
    assert caught[0].filename == __file__


# --------------------------------------------------------------------------- small traps


def test_a_base_url_without_v1_gets_a_hint_and_the_path_once(tmp_path):
    df = pl.DataFrame({"t": ["a"]})
    with Emulator() as emu:
        root = emu.base_url.removesuffix("/v1")
        with sf.SirayaClient("k", root) as client, pytest.raises(sf.errors.NotFoundError) as err:
            sf.run(df, prompt="{t}", model="m", client=client, job_dir=tmp_path / "j",
                   progress=False)  # fmt: skip
    assert str(err.value) == (
        f"HTTP 404: POST /batches: Not Found (did you mean {root}/v1? the API paths start with /v1)"
    )


def test_run_without_a_client_leaves_no_socket_open(tmp_path):
    script = textwrap.dedent(
        """
        import gc, os, polars as pl, siraya_frames as sf
        from siraya_frames.emulator import Emulator
        with Emulator(api_key="k") as emu:
            os.environ.update(SIRAYA_BASE_URL=emu.base_url, SIRAYA_API_KEY="k")
            df = pl.DataFrame({"t": ["a", "b"]})
            out = sf.run(df, prompt="{t}", model="m", max_tokens=4, job_dir="job",
                         progress=False, show_summary=False)
            job = sf.Job.open("job")
            job.status()
            gc.collect()
        print(out.height)
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", script],
        cwd=tmp_path, env=clean_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2\n"
    assert "ResourceWarning" not in done.stderr and "unclosed" not in done.stderr, done.stderr


def test_the_readme_job_block_runs_twice_in_the_same_folder(tmp_path, monkeypatch):
    from test_docs import readme_blocks

    for name in [k for k in __import__("os").environ if k.startswith("SIRAYA_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # a new emulator, on a new port, each time
        namespace: dict = {"__name__": "readme"}
        for n, block in enumerate(readme_blocks("python"), 1):
            exec(compile(block, f"README.md python block {n}", "exec"), namespace)
    assert (tmp_path / "jobs" / "tour" / "job.sqlite3").is_file()


def test_a_finished_job_follows_the_emulator_to_a_new_port_but_not_elsewhere(tmp_path):
    df = pl.DataFrame({"t": ["a", "b"]})
    with Emulator(responder=first_word) as first:
        out = run(df, tmp_path, first, show_summary=False)
    with Emulator(responder=first_word) as second:
        again = run(df, tmp_path, second, show_summary=False)
        assert second.stats()["creates_accepted"] == 0
    assert again["response_text"].to_list() == out["response_text"].to_list() == ["a", "b"]
    with Emulator(responder=first_word, seconds_per_request=5) as slow:
        run(df, tmp_path, slow, job_dir=tmp_path / "slow", wait=False)
    with Emulator(responder=first_word) as other, pytest.raises(sf.errors.JobError) as err:
        run(df, tmp_path, other, job_dir=tmp_path / "slow", wait=False)
    assert "was submitted to" in str(err.value)


def test_gitignore_covers_what_the_shell_tour_leaves():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"jobs/", "emulator-state/"} <= set(ignored)


def test_articles_and_plurals_in_messages():
    with pytest.raises(sf.errors.InputError) as err:
        sf.build_requests(pl.DataFrame({"t": ["a"]}), prompt="x {} y", model="m", max_tokens=4)
    assert "template has an empty placeholder '{}'" in str(err.value)
    requests = sf.build_requests(pl.DataFrame({"t": ["a"]}), prompt="{t}", model="m", max_tokens=4)
    stray = pl.DataFrame({"custom_id": ["zz"], "result_status": ["succeeded"]})
    with pytest.warns(sf.ResultsWarning, match=r"^1 result had a custom_id that is not"):
        sf.join_results(requests, stray)
