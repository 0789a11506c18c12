"""The ``siraya-frames`` command, end to end, against a real ``siraya-frames serve`` process.

The emulator's echo backend answers each request with its prompt cut to ``max_tokens`` words,
so ``--prompt '{text}' --max-tokens 1`` on a column of labels gets those labels back.
"""

from __future__ import annotations

import json
import re
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from helpers import clean_env, siraya_frames_command

KEY = "cli-test-key"
TEXTS = ["positive", "negative", "neutral", "positive", "negative", "maybe"]
LABELS = "positive,negative,neutral"


# --------------------------------------------------------------------------- helpers


def launcher(kind: str) -> list[str]:
    """``script``: the installed ``siraya-frames``; ``module``: ``python -m siraya_frames._cli``."""
    if kind == "module":
        return [sys.executable, "-m", "siraya_frames._cli"]
    return siraya_frames_command()


class Server:
    """A ``siraya-frames serve`` subprocess on a free port."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [*launcher("script"), "serve", "--port", "0", "--api-key", KEY, *args],
            cwd=cwd,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.base_url = self._wait_listening()
        self.root = self.base_url.removesuffix("/v1")

    def _wait_listening(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                found = re.search(r"listening on (http://\S+/v1)", self.proc.stdout.readline())
                if found:
                    return found.group(1)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"serve did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def admin(self, method: str, path: str, **kwargs: object) -> dict:
        headers = {"Authorization": f"Bearer {KEY}"}
        response = httpx.request(method, self.root + path, headers=headers, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def batches(self) -> int:
        return self.admin("GET", "/_emulator/stats")["batches"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cwd=tmp_path_factory.mktemp("serve"))
    yield srv
    srv.stop()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    pl.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}).write_csv(tmp_path / "rows.csv")
    return tmp_path


TASK = "--prompt '{text}' --model openai/gpt-4o-mini-batch --max-tokens 1"


def cli(
    line: str, *, cwd: Path, server: Server | None = None, kind: str = "module", key: str = KEY
) -> subprocess.CompletedProcess[str]:
    """Run ``siraya-frames LINE`` ({task} in LINE is replaced by TASK) in ``cwd``."""
    env = clean_env(SIRAYA_BASE_URL=server.base_url, SIRAYA_API_KEY=key) if server else clean_env()
    args = shlex.split(line.replace("{task}", TASK))
    return subprocess.run(
        [*launcher(kind), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


# --------------------------------------------------------------------------- run, estimate


@pytest.mark.parametrize("kind", ["script", "module"])
def test_run_writes_labelled_parquet(work: Path, server: Server, kind: str) -> None:
    line = f"--quiet run rows.csv {{task}} --labels {LABELS} --output out.parquet"
    done = ok(cli(line, cwd=work, server=server, kind=kind))
    assert "Wrote 6 rows to out.parquet" in done.stdout
    out = pl.read_parquet(work / "out.parquet")
    assert out["id"].to_list() == list(range(6))
    expected = ["positive", "negative", "neutral", "positive", "negative", None]
    assert out["label"].to_list() == expected
    assert out["label_error"][5] is not None and "maybe" in out["label_error"][5]
    assert out["result_status"].unique().to_list() == ["succeeded"]


def test_run_twice_reattaches_and_sends_nothing_new(work: Path, server: Server) -> None:
    line = "--quiet run rows.csv {task} --system 'Be brief.' --output o.parquet"
    ok(cli(line, cwd=work, server=server))
    before = server.batches()
    ok(cli(line, cwd=work, server=server))
    assert server.batches() == before
    assert pl.read_parquet(work / "o.parquet")["response_text"].to_list() == TEXTS


def test_dry_run_prints_estimate_and_sends_nothing(work: Path, server: Server) -> None:
    before = server.batches()
    done = ok(cli(f"run rows.csv {{task}} --labels {LABELS} --dry-run", cwd=work, server=server))
    assert "Dry run: nothing was sent." in done.stdout
    assert re.search(r"^unique requests +4$", done.stdout, re.M), done.stdout
    assert server.batches() == before
    assert not (work / ".siraya_frames").exists()


def test_max_cost_refuses_an_expensive_run_in_one_line(work: Path, server: Server) -> None:
    before = server.batches()
    line = "run rows.csv --prompt '{text}' --model openai/gpt-4o-mini-batch --output o.parquet"
    done = cli(f"{line} --max-cost 0.0000001", cwd=work, server=server)
    assert done.returncode == 4 and "Traceback" not in done.stderr
    assert re.match(
        r"error: the run is estimated at up to \$[0-9.]+ at the batch price", done.stderr
    )
    assert "over --max-cost 1e-07; nothing was sent" in done.stderr
    assert "Raise --max-cost, lower --max-tokens" in done.stderr
    assert "max_cost_usd" not in done.stderr and "df.head" not in done.stderr
    assert server.batches() == before and not (work / "o.parquet").exists()
    ok(cli(f"--quiet {line} --max-cost 1", cwd=work, server=server))
    assert server.batches() == before + 1


def test_estimate_counts_without_a_service(work: Path) -> None:
    done = ok(cli("estimate rows.csv {task}", cwd=work))
    assert re.search(r"^rows +6$", done.stdout, re.M), done.stdout
    assert re.search(r"^duplicates saved +2$", done.stdout, re.M), done.stdout
    assert "…" not in done.stdout and "┆" not in done.stdout
    assert "batch price = 50% of standard" in done.stdout
    assert not (work / ".siraya_frames").exists()


# --------------------------------------------------------------------------- job commands


def test_no_wait_then_status_wait_results(work: Path, server: Server) -> None:
    done = ok(cli("run rows.csv {task} --job-dir jobs/a --no-wait", cwd=work, server=server))
    assert "Submitted 1 batch; the job is saved in jobs/a." in done.stdout
    assert "siraya-frames wait jobs/a" in done.stdout
    status = ok(cli("status jobs/a", cwd=work, server=server))
    assert re.search(r"Job jobs/a: \w+, \d of 4 requests done in 1 batch", status.stdout)
    assert "<JobStatus" not in status.stdout and "JobStatus(" not in status.stdout
    waited = ok(cli("wait jobs/a --quiet", cwd=work, server=server))
    assert (
        waited.stdout == "Job jobs/a: finished, 4 of 4 requests done in 1 batch; all succeeded.\n"
        # --no-wait without --output: the recipe has no file to write, so say how
        "Write the rows with their answers: siraya-frames results jobs/a --output OUT.parquet\n"
    )
    listed = ok(cli("status jobs/a --batches", cwd=work, server=server))
    assert re.search(r"^key +batch_id +status +requests +done +failed$", listed.stdout, re.M)
    assert re.search(r"^r0-b0000 +\S+ +completed +4 +4 +0$", listed.stdout, re.M), listed.stdout
    dumped = json.loads(ok(cli("status jobs/a --json", cwd=work, server=server)).stdout)
    assert (dumped["total"], dumped["done"], dumped["finished"]) == (4, 4, True)
    (batch,) = dumped["job"]["batches"]
    assert batch["status"] == "completed" and batch["outcomes"] == {"succeeded": 4}
    assert batch["batch_id"] and batch["idempotency_key"].startswith("sf-")
    got = ok(cli("results jobs/a --output r.parquet", cwd=work, server=server))
    assert "Wrote 6 rows with their answers to r.parquet: 6 succeeded" in got.stdout
    results = pl.read_parquet(work / "r.parquet")  # the rows of run, in order (recipe saved)
    assert results["text"].to_list() == TEXTS
    assert results["response_text"].to_list() == TEXTS


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server("--seconds-per-request", "0.05", cwd=tmp_path_factory.mktemp("slow"))
    yield srv
    srv.stop()


def test_cancel_stops_unfinished_requests(tmp_path: Path, slow_server: Server) -> None:
    pl.DataFrame({"text": [f"row {i}" for i in range(200)]}).write_csv(tmp_path / "many.csv")
    ok(cli("run many.csv {task} --job-dir jobs/c --no-wait", cwd=tmp_path, server=slow_server))
    cancelled = ok(cli("cancel jobs/c", cwd=tmp_path, server=slow_server))
    assert cancelled.stdout.startswith("Cancel requested. Job jobs/c: ")
    assert "Finished results stay collectable: siraya-frames wait jobs/c" in cancelled.stdout
    ok(cli("--quiet wait jobs/c", cwd=tmp_path, server=slow_server))
    ok(cli("results jobs/c --output c.parquet", cwd=tmp_path, server=slow_server))
    statuses = pl.read_parquet(tmp_path / "c.parquet")["result_status"]
    assert statuses.len() == 200
    assert (statuses == "canceled").sum() > 0
    assert set(statuses.unique()) <= {"canceled", "succeeded"}


@pytest.fixture(scope="module")
def flaky_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    args = ("--error-rate", "0.4", "--error-type", "overloaded_error")
    srv = Server(*args, cwd=tmp_path_factory.mktemp("flaky"))
    yield srv
    srv.stop()


def test_retry_resends_only_the_errored(tmp_path: Path, flaky_server: Server) -> None:
    pl.DataFrame({"text": [f"item{i}" for i in range(30)]}).write_csv(tmp_path / "items.csv")
    line = "--quiet run items.csv {task} --job-dir jobs/f --output f.parquet"
    ran = ok(cli(line, cwd=tmp_path, server=flaky_server))  # some rows usable: status 0
    first = pl.read_parquet(tmp_path / "f.parquet")
    errored = first.filter(pl.col("result_status") == "errored")
    assert errored.height > 0
    assert re.search(rf"^errored +{errored.height}$", ran.stderr, re.M), ran.stderr
    failed = "1 row" if errored.height == 1 else f"{errored.height} rows"
    assert f"{failed} did not succeed. Retry" in ran.stderr
    assert ran.stderr.rstrip().endswith(": siraya-frames retry jobs/f"), ran.stderr
    assert errored["error_type"].unique().to_list() == ["overloaded_error"]

    flaky_server.admin("POST", "/_emulator/faults", json={"error_rate": 0.0})
    retried = ok(cli("--quiet retry jobs/f", cwd=tmp_path, server=flaky_server))
    assert "finished, 30 of 30 requests done in 2 batches; all succeeded." in retried.stdout
    processed = flaky_server.admin("GET", "/_emulator/stats")["requests_processed"]
    assert processed == 30 + errored.height
    ok(cli("results jobs/f --output g.parquet", cwd=tmp_path, server=flaky_server))
    final = pl.read_parquet(tmp_path / "g.parquet")
    assert final["result_status"].unique().to_list() == ["succeeded"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "run rows.csv --prompt '{review}' --model m --output o.parquet",
            "error: column 'review' not found (used in the prompt); columns are: id, text",
        ),
        (
            "run missing.csv --prompt '{text}' --model m --output o.parquet",
            "error: missing.csv: no such file",
        ),
        (
            "run rows.csv --prompt '{text}' --model m",
            "error: run needs --output OUT.parquet for the labelled rows",
        ),
        (
            "estimate rows.csv --model m",
            "error: give the prompt with --prompt TEXT or --prompt-file FILE",
        ),
        (
            "estimate rows.csv --prompt '{text}' --model m --schema year",
            "error: --schema entry 'year' is not NAME:TYPE",
        ),
        ("status no/such/job", "error: no job in 'no/such/job'"),
    ],
)
def test_bad_input_gives_one_clear_line(work: Path, line: str, message: str) -> None:
    done = cli(line, cwd=work)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(message), done.stderr
    assert not (work / ".siraya_frames").exists()


def test_pace_flags_reach_the_client(work: Path, server: Server) -> None:
    bad = cli("run rows.csv {task} --output o.parquet --max-concurrency 0", cwd=work, server=server)
    assert bad.returncode == 2 and bad.stderr.startswith("error: max_concurrency=0"), bad.stderr
    assert "(--max-concurrency N, or SIRAYA_MAX_CONCURRENCY)" in bad.stderr
    line = "--quiet run rows.csv {task} --output o.parquet --max-concurrency 1 --rate-limit 6000"
    assert "Wrote 6 rows" in ok(cli(line, cwd=work, server=server)).stdout


def test_wrong_key_names_the_fix_without_traceback(work: Path, server: Server) -> None:
    done = cli("run rows.csv {task} --output o.parquet", cwd=work, server=server, key="wrong-key")
    assert done.returncode == 3
    # the model check (GET /models) meets the refused key before any spend is announced
    assert done.stderr.startswith("error: HTTP 401: GET /v1/models"), done.stderr
    assert "SIRAYA_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
    assert "wrong-key" not in done.stderr


def test_debug_shows_the_traceback(work: Path) -> None:
    done = cli("--debug run missing.csv --prompt '{text}' --model m --output o.parquet", cwd=work)
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert "InputError: missing.csv: no such file" in done.stderr
