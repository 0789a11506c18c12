"""What a person sees from ``siraya-frames``: exit statuses, options anywhere, ``-p``,
``--prices``, fixes in the command line's words, warnings once, ``--version``.

The commands run in-process (``_cli.main``) against an in-process emulator on a real port;
``tests/test_cli.py`` runs them as subprocesses against ``siraya-frames serve``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames import _cli, _cli_jobs
from siraya_frames._cli_args import EXIT_CODES
from siraya_frames._cli_words import cli_words
from siraya_frames.emulator import Emulator

KEY = "out-key"
TEXTS = ["positive", "negative", "positive"]


class Recorder:
    """A stand-in model that answers each prompt's first word and keeps each request."""

    def __init__(self, answer: str | None = None) -> None:
        self.seen: list[dict[str, Any]] = []
        self.answer = answer

    def __call__(self, params: dict[str, Any], *, custom_id: str) -> str:
        self.seen.append(params)
        return self.answer or params["messages"][-1]["content"].split()[0]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in __import__("os").environ if k.startswith("SIRAYA_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    pl.DataFrame({"text": TEXTS}).write_csv(tmp_path / "rows.csv")
    return tmp_path


def start(monkeypatch: pytest.MonkeyPatch, emu: Emulator, *, key: bool = True) -> None:
    monkeypatch.setenv("SIRAYA_BASE_URL", emu.base_url)
    if key:
        monkeypatch.setenv("SIRAYA_API_KEY", KEY)


@pytest.fixture
def model() -> Recorder:
    return Recorder()


@pytest.fixture
def emu(here: Path, model: Recorder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(api_key=KEY, responder=model) as server:
        start(monkeypatch, server)
        yield server


def sfc(line: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``siraya-frames LINE`` in-process: (exit status, stdout, stderr)."""
    import shlex

    code = _cli.main(shlex.split(line))
    out, err = capsys.readouterr()
    return code, out, err


TASK = "--prompt '{text}' --model openai/gpt-4o-mini-batch --max-tokens 2"


# --------------------------------------------------------------------------- options


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"siraya-frames {sf.__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--quiet", "--base-url", "http://127.0.0.1:9/v1", "--rate-limit", "6", "status", "j"],
        ["status", "j", "--quiet", "--base-url", "http://127.0.0.1:9/v1", "--rate-limit", "6"],
        ["--quiet", "status", "j", "--base-url", "http://127.0.0.1:9/v1", "--rate-limit", "6"],
    ],
)
def test_global_options_work_before_or_after_the_command(argv: list[str]) -> None:
    args = _cli.build_parser().parse_args(argv)
    assert (args.quiet, args.base_url, args.rate_limit) == (True, "http://127.0.0.1:9/v1", 6.0)


def test_global_options_default_when_not_given_and_after_wins() -> None:
    parse = _cli.build_parser().parse_args
    args = parse(["status", "j"])
    assert (args.quiet, args.base_url, args.protocol, args.client_api_key) == (
        False,
        None,
        None,
        None,
    )
    assert parse(["--protocol", "openai", "status", "j", "--protocol", "anthropic"]).protocol == (
        "anthropic"
    )
    served = parse(["--quiet", "serve", "--api-key", "k", "--port", "0"])
    assert served.quiet and served.api_key == "k" and served.client_api_key is None


def test_help_lists_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _cli.main(["--help"])
    shown = capsys.readouterr().out
    assert EXIT_CODES.splitlines()[0] in shown
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for line in EXIT_CODES.splitlines()[1:]:
        code = line.split()[0]
        if code.isdigit():
            assert f"| {code} |" in readme, code


def test_options_after_the_command_reach_the_run(
    emu: Emulator, model: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("SIRAYA_API_KEY")  # the key comes from --api-key, after the command
    line = f"run rows.csv {TASK} --output o.parquet --quiet --api-key {KEY} --max-concurrency 1"
    code, out, err = sfc(line, capsys)
    assert code == 0, err
    assert out == "Wrote 3 rows to o.parquet\n"
    assert KEY not in out + err
    assert pl.read_parquet("o.parquet")["response_text"].to_list() == TEXTS


def test_param_reaches_the_request_body(
    emu: Emulator, model: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    line = (
        f"--quiet run rows.csv {TASK} --output o.parquet -p temperature=0 "
        "-p 'stop_sequences=[\"END\"]' -p top_p=0.5"
    )
    code, _, err = sfc(line, capsys)
    assert code == 0, err
    assert model.seen, "the emulator got no request"
    for params in model.seen:
        assert params["temperature"] == 0
        assert params["stop_sequences"] == ["END"]
        assert params["top_p"] == 0.5


def test_bad_param_says_key_value(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = sfc(f"estimate rows.csv {TASK} -p temperature", capsys)
    assert code == 2
    assert err.startswith("error: -p 'temperature' is not KEY=VALUE; e.g. -p temperature=0")


def test_max_requests_splits_batches(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    pl.DataFrame({"text": [f"w{i}" for i in range(5)]}).write_csv("five.csv")
    code, out, _ = sfc(f"estimate five.csv {TASK} --max-requests 2", capsys)
    assert code == 0 and re.search(r"^batches +3$", out, re.M), out
    code, out, err = sfc(
        f"--quiet run five.csv {TASK} --max-requests 2 --job-dir j --no-wait", capsys
    )
    assert code == 0, err
    assert "Submitted 3 batches; the job is saved in j." in out
    assert emu.stats()["creates_accepted"] == 3


# --------------------------------------------------------------------------- prices


PRICES = '{"my/model": {"input": 1000, "output": 2000}}'


def test_prices_inline_or_from_a_file(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = "--prompt '{text}' --model my/model --max-tokens 2"
    code, out, _ = sfc(f"estimate rows.csv {task}", capsys)
    assert code == 0 and re.search(r"^estimated cost +unknown$", out, re.M), out
    assert "--prices FILE|JSON" in out and "prices={" not in out
    code, inline, _ = sfc(f"estimate rows.csv {task} --prices '{PRICES}'", capsys)
    (here / "prices.json").write_text(PRICES)
    code2, from_file, _ = sfc(f"estimate rows.csv {task} --prices prices.json", capsys)
    assert code == code2 == 0
    cost = re.search(r"^estimated cost +(\$[0-9.,]+)$", inline, re.M)
    assert cost and cost.group(1) != "$0.0000", inline
    assert re.search(r"\$\d+\.\d{4}$", cost.group(1))
    assert inline == from_file


def test_bad_prices_say_what_is_expected(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = sfc(f"estimate rows.csv {TASK} --prices nothere.json", capsys)
    assert code == 2 and "--prices 'nothere.json': neither JSON nor a file" in err


def test_budget_without_a_price_names_the_cli_fix(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    line = "run rows.csv --prompt '{text}' --model my/model --output o.parquet --max-cost 1"
    code, _, err = sfc(line, capsys)
    assert code == 4, err
    assert "--prices FILE|JSON" in err and "--max-cost 1" in err
    assert "prices={" not in err and "max_cost_usd" not in err
    assert emu.stats()["creates_accepted"] == 0
    code, _, err = sfc(f"--quiet {line} --prices '{PRICES}' --max-cost 100", capsys)
    assert code == 0, err


# --------------------------------------------------------------------------- exit statuses


def test_no_key_names_the_option_and_the_variable(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = sfc(f"run rows.csv {TASK} --output o.parquet", capsys)
    assert code == 2
    assert err.startswith("error: No Siraya API key: set the environment variable SIRAYA_API_KEY")
    assert "--api-key" in err and "api_key=" not in err


def test_nothing_usable_exits_1_with_one_warning(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(api_key=KEY, responder=Recorder(answer="maybe")) as server:
        start(monkeypatch, server)
        line = f"--quiet run rows.csv {TASK} --labels positive,negative --job-dir j -o"
        code, out, err = sfc(line.replace(" -o", " --output o.parquet"), capsys)
    assert code == 1
    assert out == "Wrote 3 rows to o.parquet\n" and Path("o.parquet").is_file()
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert warnings == [
        "warning: 3 rows succeeded but no answer gave a label or parsed as the schema; look at "
        "the response_text column and the label_error / parse_error column, and make the "
        "prompt ask for the exact format"
    ]
    assert "WARNING" not in err and "_cli.py" not in err
    assert re.search(r"^parsed +0$", err, re.M), err


def test_service_error_exits_3_with_the_v1_hint(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    root = emu.base_url.removesuffix("/v1")
    code, _, err = sfc(f"--quiet run rows.csv {TASK} --output o.parquet --base-url {root}", capsys)
    assert code == 3
    first = err.splitlines()[0]
    hint = f"(did you mean {root}/v1? the API paths start with /v1)"
    assert first == f"error: HTTP 404: POST /batches: Not Found {hint}"
    assert "siraya_frames.Job.open" not in err and "siraya-frames wait" in err


def test_timeout_exits_5(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(api_key=KEY, seconds_per_request=5) as server:
        start(monkeypatch, server)
        code, _, err = sfc(f"run rows.csv {TASK} --job-dir j --no-wait", capsys)
        assert code == 0, err
        code, _, err = sfc("--quiet wait j --timeout 0.2", capsys)
    assert code == 5, err
    assert err.startswith("error: ")


def test_ctrl_c_exits_130(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli_jobs, "_job", interrupted)
    assert sfc("status j", capsys)[0] == 130


# --------------------------------------------------------------------------- readable output


def test_status_and_cancel_print_sentences_and_tables(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = sfc(f"--quiet run rows.csv {TASK} --output o.parquet --job-dir j", capsys)
    assert code == 0, err
    assert re.search(r"^succeeded +3$", err, re.M) and "…" not in err, err
    assert re.search(r"^cost +(\$\d+\.\d{4}|< \$0\.0001)$", err, re.M), err
    code, out, _ = sfc("status j", capsys)
    lines = out.splitlines()
    assert re.fullmatch(r"key +batch_id +status +requests +done +failed", lines[0])
    assert lines[-1] == "Job j: finished, 2 of 2 requests done in 1 batch; all succeeded."
    code, out, _ = sfc("cancel j", capsys)
    assert out.startswith("Cancel requested. Job j: finished, 2 of 2 requests done in 1 batch")
    for text in (out, err):
        assert "JobStatus" not in text and "┆" not in text


def test_every_python_fix_the_cli_can_meet_is_reworded() -> None:
    """A fix worded for Python in the package must have its command-line wording."""
    package = Path(sf.__file__).parent
    found = set()
    for path in package.glob("*.py"):
        for name in re.findall(r"\bpass (\w+)=", path.read_text(encoding="utf-8")):
            found.add(name)
    examples = {
        "api_key": "pass api_key=... to the client, or set the environment variable "
        "SIRAYA_API_KEY (the siraya-frames command reads it from there).",
        "allow_insecure_http": "Use https, or pass allow_insecure_http=True (or set "
        "SIRAYA_ALLOW_INSECURE_HTTP=1) if you really mean it.",
        "prices": "no price for model 'm'; pass prices={'<model>': {'input': <usd/1M>, "
        "'output': <usd/1M>}} to estimate the cost.",
        "prefix": "pass prefix='llm_' (or another) to run() so the new columns get distinct",
        "on_null": "fill them, or pass on_null='skip' (no request for those rows)",
        "model": "pass model='<model name>' (or the requests frame) to summarize",
        "labels": "pass labels= or schema=, not both (one run labels or extracts)",
    }
    # messages=: the command line always builds from --prompt; strict=: read_results only;
    # label= and on=: evaluate and agreement, which have no command
    python_only = {"messages", "strict", "label", "on"}
    assert found - python_only <= set(examples), f"new Python-only fixes: {found - set(examples)}"
    for name, message in examples.items():
        assert f"pass {name}=" in message
        assert f"{name}=" not in cli_words(message), cli_words(message)
    assert json.dumps(cli_words("x")) == '"x"'
