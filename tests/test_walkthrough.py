"""A new user's walkthrough of preview, run, the output formats and the job commands: the
defects found at the seams between them, each pinned by what the user saw.

The commands run in-process (``_cli.main``) against an in-process emulator on a real port.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import _cli, errors
from siraya_frames.emulator import Emulator

KEY = "walk-key"
ROOT = Path(__file__).resolve().parent.parent
ROWS = pl.DataFrame({"review": ["good", "bad", "fine", "awful", "great"]})


def first_word(params: dict[str, Any], *, custom_id: str) -> str:
    return params["messages"][-1]["content"].split()[0]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SIRAYA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIRAYA_RATE_LIMIT", "0")
    monkeypatch.setenv("SIRAYA_JOB_ROOT", str(tmp_path / "jobs"))
    monkeypatch.setenv("SIRAYA_ANSWERS_DIR", str(tmp_path / "answers"))
    monkeypatch.chdir(tmp_path)
    ROWS.write_csv(tmp_path / "rows.csv")
    return tmp_path


def sync_calls(emu: Emulator) -> int:
    return sum(1 for c in emu.calls() if c["endpoint"] in ("messages", "chat_completions"))


def task(client: sf.SirayaClient) -> dict[str, Any]:
    return {"prompt": "{review}", "model": "m", "max_tokens": 8, "client": client,
            "show_summary": False}  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".arrow"])
def test_cli_run_writing_a_non_parquet_output_ends_with_its_summary(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    # was: the file written, then a pyarrow traceback ("Parquet magic bytes not found")
    # and exit 1, from reading the job id back out of the CSV as if it were Parquet
    with Emulator(responder=first_word) as emu:
        monkeypatch.setenv("SIRAYA_BASE_URL", emu.base_url)
        monkeypatch.setenv("SIRAYA_API_KEY", KEY)
        status = _cli.main(["--quiet", "run", "rows.csv", "--prompt", "{review}", "--model",
                            "m", "--max-tokens", "8", "--output", f"out{suffix}"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Traceback" not in err and "succeeded" in err
    assert sf.read_provenance(f"out{suffix}")["job_id"]


def test_read_provenance_of_a_csv_output_reads_its_sidecar(here: Path) -> None:
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        sf.run(ROWS, **task(client), progress=False, output="out.csv")
    assert sf.read_provenance("out.csv")["outcomes"] == {"succeeded": 5}
    assert sf.read_provenance("none.csv") == {}


def test_cli_run_with_base_url_shows_no_unclosed_socket_warning(here: Path) -> None:
    # was: "warning: unclosed <socket.socket fd=6, ... raddr=('127.0.0.1', 8765)>"
    code = "import sys; from siraya_frames._cli import main; sys.exit(main(sys.argv[1:]))"
    pl.DataFrame({"review": [f"r{i}" for i in range(300)]}).write_csv(here / "rows.csv")
    with Emulator(responder=first_word, seconds_per_request=0.01) as emu:  # a few polls
        done = subprocess.run(
            [sys.executable, "-c", code, "--quiet", "--base-url", emu.base_url, "run",
             "rows.csv", "--prompt", "{review}", "--model", "m", "--max-tokens", "8",
             "--output", "out.parquet"],
            env={**os.environ, "SIRAYA_API_KEY": KEY, "PYTHONPATH": str(ROOT)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "unclosed" not in done.stderr and "succeeded" in done.stderr


def test_cli_help_names_every_output_format(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "results"):
        with pytest.raises(SystemExit):
            _cli.main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert ".csv" in out and ".jsonl" in out and ".arrow" in out, command


@pytest.mark.parametrize("sample", ["head", "random"])
def test_preview_of_a_pandas_frame_keeps_the_chosen_rows_index(here: Path, sample: str) -> None:
    # was: the index (here the review ids) replaced by 0..n-1: no way to tell which rows
    pdf = ROWS.to_pandas().set_axis(pd.Index([101, 102, 103, 104, 105], name="review_id"))
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        out = sf.preview(pdf, n=3, sample=sample, seed=1, **task(client))
    assert isinstance(out, pd.DataFrame)
    assert out.index.name == "review_id"
    assert [pdf.loc[i, "review"] for i in out.index] == out["response_text"].tolist()
    if sample == "head":
        assert out.index.tolist() == [101, 102, 103]


def test_a_torn_answer_store_part_is_skipped_with_a_warning(
    here: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # was: polars ComputeError "File out of specification" from preview and from run
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        sf.preview(ROWS, n=2, **task(client))
        sf.preview(ROWS.tail(2), n=2, **task(client))
        torn = sorted((here / "answers").glob("*/part-*.parquet"))[0]
        torn.write_bytes(torn.read_bytes()[:100])
        with caplog.at_level(logging.WARNING, logger="siraya_frames"):
            out = sf.preview(ROWS, n=5, **task(client))
            ran = sf.run(ROWS, **task(client), progress=False)
        assert sync_calls(emu) == 2 + 2 + 3  # the torn part's 2 sent again; the others reused
        assert emu.stats()["requests_processed"] == 0  # run took all 5 from the store
    assert out["response_text"].to_list() == ROWS["review"].to_list()
    assert ran["result_status"].to_list() == ["succeeded"] * 5
    assert str(torn) in caplog.text and "unreadable" in caplog.text


def test_preview_that_cannot_keep_its_answers_still_returns_them(
    here: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # was: JobStoreError "... re-run the same call (nothing is lost)" after paying: the
    # answers were lost, and re-running paid for them again
    (here / "a-file").write_text("not a folder")
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        with caplog.at_level(logging.WARNING, logger="siraya_frames"):
            out = sf.preview(ROWS, n=3, answers_dir=here / "a-file" / "store", **task(client))
        assert sync_calls(emu) == 3
    assert out["response_text"].to_list() == ["good", "bad", "fine"]
    assert "not kept for reuse" in caplog.text and "a-file" in caplog.text
    assert "nothing is lost" not in caplog.text


def test_job_output_without_its_input_rows_says_how_to_get_them_back(here: Path) -> None:
    # was: "has no recipe (it was made by submit() or by an older version)": it had one
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        job = sf.run(ROWS, **task(client), job_dir="job", wait=False, progress=False)
        job.wait(progress=False)
        (here / "job" / "inputs.parquet").unlink()
        with pytest.raises(errors.JobError) as caught:
            sf.Job.open("job", client=client).output(progress=False)
        message = str(caught.value)
        assert "inputs.parquet" in message and "re-run the same run() call" in message
        assert "no recipe" not in message
        again = sf.run(ROWS, **task(client), job_dir="job", progress=False)  # as it says
        assert emu.stats()["creates_accepted"] == 1
        assert sf.Job.open("job", client=client).output(progress=False).height == 5
    assert again["response_text"].to_list() == ROWS["review"].to_list()


@pytest.mark.parametrize("call", [sf.run, sf.estimate, sf.preview])
def test_an_unknown_argument_is_refused_by_name_before_anything_is_sent(
    here: Path, call: Any
) -> None:
    # was: TypeError "build_requests() got an unexpected keyword argument 'temprature'"
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        extra = {} if call is sf.estimate else {"client": client}
        with pytest.raises(errors.ParameterError) as caught:
            call(ROWS, prompt="{review}", model="m", temprature=0, **extra)
        assert emu.calls() == []
    name = call.__name__
    assert f"{name}() got an unknown argument 'temprature'" in str(caught.value)
    assert "temperature" in str(caught.value)


@pytest.mark.parametrize("previewed", [2, 5])
def test_status_counts_the_answers_a_job_took_from_the_store(here: Path, previewed: int) -> None:
    # was: "finished, 3 of 3 requests done" for 5 rows (2 previewed), and "0 of 0 requests
    # done in 0 batches" when every answer came from the preview
    with Emulator(responder=first_word) as emu, sf.SirayaClient(KEY, emu.base_url) as client:
        sf.preview(ROWS, n=previewed, **task(client))
        job = sf.run(ROWS, **task(client), job_dir="job", progress=False, wait=False)
        status = job.wait(progress=False).status()
        assert sync_calls(emu) == previewed
    assert (status.total, status.done, status.failed, status.finished) == (5, 5, 0, True)
    assert "5 of 5 requests done" in str(status) and "all succeeded" in str(status)


def test_preview_command_exits_1_when_no_answer_gives_a_label(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pl.DataFrame({"review": ["so-so", "meh"]}).write_csv(here / "in.csv")
    with Emulator(responder=first_word) as emu:
        base = ["--base-url", emu.base_url, "--api-key", "k", "preview", "in.csv",
                "--prompt", "{review}", "--model", "m", "-n", "2"]  # fmt: skip
        unlabelled = _cli.main([*base, "--labels", "positive,negative"])
        answered = _cli.main(base)  # no labels asked: the answers themselves are usable
    out = capsys.readouterr().out
    assert (unlabelled, answered) == (1, 0)
    assert "so-so" in out and "no label in answer" in out


def test_status_counts_what_the_service_has_done_in_a_running_batch(tmp_path: Path) -> None:
    from siraya_frames._collect import outcome_totals
    from siraya_frames._store import BatchRecord, JobState

    running = BatchRecord("r0-b0000", 0, "k0", 315, status="in_progress", done=224, failed=3)
    state = JobState("j", "u", 9, 9, n_requests=315, batches=[running])
    total, done, failed = outcome_totals(state)  # as `siraya-frames status` says it
    assert (total, done, failed) == (315, 224, 3)  # was 0 done while the table showed 224


NO_NUMPY_RUN = """
import sys
sys.modules["numpy"] = None  # what `pip install siraya-frames[emulator]` has: no numpy
import tempfile
import polars as pl
import siraya_frames as sf
from siraya_frames.emulator import Emulator

work = tempfile.mkdtemp()
df = pl.DataFrame({"review": ["good", "bad", "good"]})
with Emulator() as emu, sf.SirayaClient("k", emu.base_url) as client:
    out = sf.run(df, prompt="{review}", model="m", client=client, job_dir=work + "/job",
                 output=work + "/out.csv", progress=False, show_summary=False)
    again = sf.Job.open(work + "/job", client=client).output()
print(out.height, again.height, sf.read_provenance(work + "/out.csv")["outcomes"])
"""


def test_run_and_resume_need_no_numpy() -> None:
    # the demo crashed in a fresh `.[emulator]` venv: the recipe hashed its rows with
    # Series.to_numpy(), and numpy is not a dependency
    done = subprocess.run(
        [sys.executable, "-c", NO_NUMPY_RUN], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3", "{'succeeded':", "3}"]


def test_the_preview_line_of_one_row_is_singular() -> None:
    from siraya_frames._lines_common import RESULT_SCHEMA
    from siraya_frames._preview import _cost_line

    models = pl.DataFrame(schema={"custom_id": pl.String, "model": pl.String})
    line = _cost_line(1, 1, pl.DataFrame(schema=RESULT_SCHEMA), 1, models, None)
    assert line.startswith("preview: 1 row, 1 unique request: 0 sent, 1 reused")  # was "1 rows"
