"""The README and the notebooks, executed: their examples cannot rot.

* every ```python block of the README runs, in order, in one namespace, in a temporary folder;
* every command line of the ```bash / ```console blocks that starts with ``siraya-frames``
  runs in a subprocess against a ``siraya-frames serve`` started by the test; every other
  line must be on the explicit allow-list ``SKIPPED`` below, which says why it is not run
  and what is checked instead;
* ``siraya-frames demo --rows 40`` writes the Parquet file the README promises;
* every notebook runs top to bottom with nbclient, and its key outputs are checked.
"""

from __future__ import annotations

import html
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest
from helpers import clean_env, siraya_frames_command

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = Path("siraya_frames") / "data" / "reviews.csv"

TEST_COMMAND = 'pip install -e ".[dev]" && python -m pytest -q'
DEMO_COMMAND = 'pip install -e ".[emulator]" && siraya-frames demo'

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


# --------------------------------------------------------------------------- README parsing


def readme_blocks(*languages: str) -> list[str]:
    """The bodies of the README's fenced blocks in these languages, in order."""
    text = README.read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang in languages]


def shell_lines() -> list[str]:
    """Every command line of the shell blocks: comments dropped, continuations joined."""
    lines: list[str] = []
    for block in readme_blocks("bash", "console", "sh", "shell"):
        pending = ""
        for raw in block.splitlines():
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:]
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            lines.append((pending + line).strip())
            pending = ""
        assert not pending, f"a shell block ends with a continuation: {pending!r}"
    return lines


def _check_serve_line(line: str, ctx: dict) -> None:
    """A serve line: its flags must parse with the real parser into a valid config."""
    from siraya_frames._cli import build_parser
    from siraya_frames.emulator._cli import config_from_args

    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.command == "serve"
    config_from_args(args)
    ctx["serve_lines"].append(line)


def _check_export_line(line: str, ctx: dict) -> None:
    """The export line: applied to the commands' environment, pointed at the test's serve."""
    words = shlex.split(line)
    assert words[0] == "export" and len(words) > 1, line
    for word in words[1:]:
        name, sep, value = word.partition("=")
        assert sep and name.startswith("SIRAYA_"), f"unexpected export {word!r}"
        ctx["exports"][name] = value


def _check_benchmark_line(line: str, ctx: dict) -> None:
    """A benchmark line: the script exists and accepts the flags the README shows."""
    words = shlex.split(line)
    script = ROOT / words[1]
    assert script.is_file(), f"{words[1]} does not exist"
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    for flag in (w for w in words[2:] if w.startswith("--")):
        assert flag in shown.stdout, f"{words[1]} has no flag {flag}"


def _check_partition_loop(line: str, ctx: dict) -> None:
    """The loop over partitions: its command parses with the real parser, one job each."""
    from siraya_frames._cli import build_parser

    command = line.split("; do ", 1)[1].rsplit("; done", 1)[0]
    words = shlex.split(command.replace('$(basename "$part" .parquet)', "part-0"))
    words = [w.replace("$part", "data/part-0.parquet") for w in words]
    args = build_parser().parse_args(words[1:])
    assert args.command == "run" and args.job_dir == "jobs/part-0", args


def _check_exact(expected: str) -> Callable[[str, dict], None]:
    def check(line: str, ctx: dict) -> None:
        assert line == expected, f"expected exactly {expected!r}, got {line!r}"

    return check


# Lines of the README's shell blocks that are NOT executed, why, and what is checked instead.
SKIPPED: list[tuple[str, str, Callable[[str, dict], None]]] = [
    (
        r"^pip install .*&& python -m pytest",
        "installs and runs this test suite (.ci/run runs it); the line must be exact",
        _check_exact(TEST_COMMAND),
    ),
    (
        r"^pip install .*&& siraya-frames demo",
        "installs; the demo itself runs in test_demo_writes_parquet; the line must be exact",
        _check_exact(DEMO_COMMAND),
    ),
    (
        r"^siraya-frames serve\b",
        "runs until Ctrl-C; the test starts the first serve line itself (on a free port) and "
        "parses every serve line with the real parser",
        _check_serve_line,
    ),
    (
        r"^export SIRAYA_",
        "applied to the environment of the commands, with the port of the test's serve",
        _check_export_line,
    ),
    (
        r"^for part in data/\*\.parquet; do siraya-frames run ",
        "a loop of the same run per partition (the run command itself runs above); its "
        "command must parse with the real parser",
        _check_partition_loop,
    ),
    (
        r"^python benchmarks/bench_\w+\.py\b",
        "takes minutes; the script must exist and accept the flags shown",
        _check_benchmark_line,
    ),
]


def skip_rule(line: str) -> tuple[str, str, Callable[[str, dict], None]] | None:
    for rule in SKIPPED:
        if re.search(rule[0], line):
            return rule
    return None


# --------------------------------------------------------------------------- helpers


def start_serve(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """Start ``siraya-frames serve ARGS`` and return it with its base URL, once listening."""
    proc = subprocess.Popen(
        [*siraya_frames_command(), "serve", *args],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            found = re.search(r"listening on (http://\S+/v1)", line)
            if found:
                return proc, found.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def no_siraya_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("SIRAYA_")]:
        monkeypatch.delenv(name)


# --------------------------------------------------------------------------- README: text


def test_readme_test_command_is_the_first_pytest_line() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    first = next(line for line in lines if "pytest" in line)
    assert first.strip() == TEST_COMMAND
    assert DEMO_COMMAND in lines


def test_every_shell_line_is_run_or_explicitly_skipped() -> None:
    lines = shell_lines()
    unknown = [
        line for line in lines if not line.startswith("siraya-frames ") and not skip_rule(line)
    ]
    assert not unknown, f"README shell lines neither run nor on the SKIPPED list: {unknown}"
    assert sum(line.startswith("siraya-frames ") and not skip_rule(line) for line in lines) >= 8


# --------------------------------------------------------------------------- README: Python


def test_readme_python_blocks_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_siraya_env: None
) -> None:
    blocks = readme_blocks("python")
    assert len(blocks) >= 7
    for dialect in ("anthropic", "openai"):  # the other services' examples run too
        assert any(f'Emulator(dialect="{dialect}"' in b and f'protocol="{dialect}"' in b
                   for b in blocks)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for n, block in enumerate(blocks, 1):
        code = compile(block, f"README.md python block {n}", "exec")
        exec(code, namespace)
    labeled = pl.read_parquet(tmp_path / "labeled.parquet")
    assert labeled["label"].to_list() == ["positive", "negative", "positive", "neutral"]
    assert (tmp_path / "jobs" / "tour" / "job.sqlite3").is_file()


def test_readme_examples_for_other_services_compile() -> None:
    blocks = readme_blocks("py")  # not run: Azure needs a resource of its own
    assert blocks and all('protocol="' in block for block in blocks)
    for n, block in enumerate(blocks, 1):
        compile(block, f"README.md py block {n}", "exec")


def test_readme_pytest_plugin_example_passes(tmp_path: Path) -> None:
    (block,) = [b for b in readme_blocks("python") if "pytest_plugins" in b]
    (tmp_path / "test_readme_plugin.py").write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_plugin.py"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


# --------------------------------------------------------------------------- README: shell


@pytest.fixture
def readme_serve(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """The README's first serve line, started on a free port; yields (base_url, its args)."""
    serve_lines = [line for line in shell_lines() if line.startswith("siraya-frames serve")]
    args = shlex.split(serve_lines[0])[2:]
    assert "--port" in args, "the README's serve line should name its port"
    port_at = args.index("--port") + 1
    readme_args = list(args)
    args[port_at] = "0"
    proc, base_url = start_serve(args, tmp_path)
    try:
        yield base_url, readme_args
    finally:
        stop_serve(proc)


def test_readme_shell_tour_runs(tmp_path: Path, readme_serve: tuple[str, list[str]]) -> None:
    base_url, serve_args = readme_serve
    readme_port = serve_args[serve_args.index("--port") + 1]
    (tmp_path / SAMPLE.parent).mkdir(parents=True)
    shutil.copy(ROOT / SAMPLE, tmp_path / SAMPLE)
    ctx: dict = {"exports": {}, "serve_lines": []}
    ran, outputs = [], []
    for line in shell_lines():
        rule = skip_rule(line)
        if rule is not None:
            rule[2](line, ctx)
            continue
        assert line.startswith("siraya-frames "), line
        here = urlsplit(base_url).netloc
        env = {k: v.replace(f"127.0.0.1:{readme_port}", here) for k, v in ctx["exports"].items()}
        words = shlex.split(line)
        done = subprocess.run(
            [*siraya_frames_command(), *words[1:]],
            cwd=tmp_path,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        # the README says so: on the echo backend no answer is a label, so a labelling run
        # or preview has nothing usable and exits 1 (a run's output is still written)
        usable = not (words[1] in ("run", "preview") and "--labels" in words)
        assert done.returncode == (0 if usable else 1), f"{line}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"{line}\n{done.stderr}"
        ran.append(line)
        if "--output" in words:
            outputs.append(words[words.index("--output") + 1])
    assert ctx["exports"]["SIRAYA_BASE_URL"] == f"http://127.0.0.1:{readme_port}/v1"
    assert ctx["exports"]["SIRAYA_API_KEY"] == serve_args[serve_args.index("--api-key") + 1]
    assert {line.split()[1] for line in ran} >= {
        "preview",
        "estimate",
        "run",
        "status",
        "wait",
        "results",
        "retry",
        "cancel",
    }
    assert outputs
    for output in outputs:
        assert pl.read_parquet(tmp_path / output).height > 0, output
    labeled = pl.read_parquet(tmp_path / "labeled.parquet")
    assert labeled.height == pl.read_csv(ROOT / SAMPLE).height
    assert {"label", "label_error", "result_status"} <= set(labeled.columns)
    assert labeled["result_status"].unique().to_list() == ["succeeded"]
    assert labeled["label"].null_count() == labeled.height  # the README says so: echo backend


def test_demo_writes_parquet(tmp_path: Path) -> None:
    done = subprocess.run(
        [*siraya_frames_command(), "--quiet", "demo", "--rows", "40"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = pl.read_parquet(tmp_path / "demo_labeled.parquet")
    assert out.height == 40
    assert {"review", "product", "label", "label_error", "result_status"} <= set(out.columns)
    assert out.schema["label"] == pl.Enum(["positive", "negative", "neutral"])
    assert out["result_status"].unique().to_list() == ["succeeded"]
    assert out["label"].drop_nulls().len() > 0
    assert "Wrote 40 rows to demo_labeled.parquet" in done.stdout


# --------------------------------------------------------------------------- notebooks


@pytest.fixture(scope="session")
def python3_kernel() -> str:
    """The ``python3`` kernel spec; installed for this user if Jupyter cannot find one."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"],
            check=True,
            capture_output=True,
        )
    assert "python3" in KernelSpecManager().find_kernel_specs()
    return "python3"


WIDGET = "application/vnd.jupyter.widget-view+json"


def run_notebook(name: str, kernel: str, workdir: Path) -> dict[str, str]:
    """Execute a notebook; return the text output of each tagged cell, by tag, and its
    HTML output (what Jupyter draws for a frame, an evaluation or a chart) as ``TAG:html``."""
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear outputs"
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name=kernel, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    tagged: dict[str, str] = {"widgets": ""}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {cell.source[:80]!r} raised {errors[0]['ename']}"
        warned = [o.text for o in cell.outputs if o.get("name") == "stderr" and "Warn" in o.text]
        assert not warned, f"{name}: {cell.source[:80]!r} warned: {warned}"
        widgets = [o for o in cell.outputs if WIDGET in o.get("data", {})]
        tagged["widgets"] += "w" * len(widgets)  # progress bars shown as widgets
        text = "".join(
            o.get("text", "")
            if o.output_type == "stream"
            else o.get("data", {}).get("text/plain", "")
            for o in cell.outputs
            if o not in widgets
        )
        shown = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
        for tag in cell.metadata.get("tags", []):
            tagged[tag] = text
            tagged[f"{tag}:html"] = shown
    return tagged


def test_quickstart_notebook(tmp_path: Path, python3_kernel: str, no_siraya_env: None) -> None:
    out = run_notebook("quickstart.ipynb", python3_kernel, tmp_path)
    # estimate first, with run's arguments: the same count run announces before it sends
    estimated = re.search(r"│ 150\s+┆\s+(\d+)\s+┆", out["estimate"])  # rows, unique_requests
    assert estimated, out["estimate"]
    assert f"Sending {estimated.group(1)} requests in 1 batch" in out["run"]
    counts = json.loads(out["label-counts"].splitlines()[0].replace("'", '"'))
    assert set(counts) == {"positive", "negative", "neutral"}
    assert sum(counts.values()) == 150
    assert out["widgets"], "the progress bar is an ipywidgets widget"


def test_resume_notebook(tmp_path: Path, python3_kernel: str, no_siraya_env: None) -> None:
    out = run_notebook("resume.ipynb", python3_kernel, tmp_path)
    # resumed to the file: Job.open(...).output() waited, gave the rows and wrote the file
    assert "finished, 120 of 120 requests done in 1 batch" in out["resumed"]
    assert "batches created on the service: 1" in out["resumed"]
    assert "120 rows written to labeled.parquet" in out["resumed"]
    assert "batches created on the service: 1" in out["reattached"]
    spend, counts = out["errored"].splitlines()[:2]  # the spend line, then the counts
    assert spend.startswith("Sending 120 requests in 1 batch"), spend
    before = json.loads(counts.replace("'", '"'))
    assert before["errored"] > 0 and sum(before.values()) == 120
    assert "{'succeeded': 120}" in out["after-retry"]
    assert len(out["widgets"]) >= 3, "wait, run and retry_failed show widget progress bars"
    assert "finished, 120 of 120 requests done in 2 batches; all succeeded." in out["after-retry"]
    assert "120" in out["summary"]


def chart_spec(shown: str) -> dict:
    """The Vega-Lite spec that Altair's HTML output hands to vegaEmbed (what is drawn)."""
    at = shown.index("})(", shown.index("vegaEmbed")) + 3
    spec, _ = json.JSONDecoder().raw_decode(shown, at)
    return spec


def headline(shown: str, pattern: str) -> re.Match:
    """The headline an evaluation or agreement shows above its tables, matched."""
    found = re.search(pattern, html.unescape(shown))
    assert found, f"no line like {pattern!r} in {html.unescape(shown)[:300]!r}"
    return found


def test_prompt_iteration_notebook(
    tmp_path: Path, python3_kernel: str, no_siraya_env: None
) -> None:
    out = run_notebook("prompt_iteration.ipynb", python3_kernel, tmp_path)
    sample = pl.read_csv(ROOT / SAMPLE)
    previewed = sample.head(20).select("product", "review").n_unique()
    unique = sample.select("product", "review").n_unique()
    rest = unique - previewed

    # 1. the preview says what it sent, at the standard price
    assert out["preview"].startswith(
        f"preview: 20 rows, {previewed} unique requests: {previewed} sent, 0 reused"
    ), out["preview"][:200]
    assert "at the standard (non-batch) price" in out["preview"]

    # 2. the first prompt: every label right, but some answers are not a label
    first = headline(
        out["evaluate-first:html"],
        r"20 rows: accuracy ([\d.]+)%, coverage ([\d.]+)%, accuracy on labelled rows 100\.0%",
    )
    accuracy, coverage = float(first.group(1)), float(first.group(2))
    assert accuracy == coverage and 0 < coverage < 100
    unlabelled = round(20 * (100 - coverage) / 100)

    # the confusion matrix is drawn: a Vega-Lite heatmap of truth x predicted
    spec = chart_spec(out["confusion:html"])
    assert "vega-lite" in spec["$schema"] and spec["mark"]["type"] == "rect"
    (cells,) = spec["datasets"].values()
    assert sum(c["count"] for c in cells) == 20
    assert sum(c["count"] for c in cells if c["predicted"] == "(no label)") == unlabelled

    # 3. the second prompt labels every row
    headline(out["evaluate-second:html"], r"20 rows: accuracy 100\.0%, coverage 100\.0%")

    # 4. the two prompts differ exactly on the rows the first left unlabelled
    agree = headline(
        out["agreement:html"],
        r"20 rows: agreement ([\d.]+)%, Cohen's kappa ([\d.]+), (\d+) disagreements",
    )
    assert float(agree.group(1)) == coverage and int(agree.group(3)) == unlabelled
    assert 0 < float(agree.group(2)) < 1

    # 5. the batch run reuses the 20 previewed answers: the service answers only the rest
    spend = out["run"].splitlines()[0]
    assert spend.startswith(f"Sending {rest} requests in 1 batch"), spend
    assert spend.endswith(f"{previewed} answers from earlier previews reused, not paid again.")
    assert f"requests answered in the batch: {rest}" in out["run"]
    headline(out["run:html"], rf"{sample.height} rows: accuracy 100\.0%, coverage 100\.0%")
    assert out["widgets"], "the batch's progress bar is an ipywidgets widget"
