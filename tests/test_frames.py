"""Any frame in, the same kind out: pandas, pyarrow and Polars (eager or lazy) (#14 item 2)."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from helpers import clean_env

import siraya_frames as sf
from siraya_frames._frames import read_table
from siraya_frames.emulator import Emulator

REVIEWS = ["good", "bad", "good", "meh"]


def echo(params, *, custom_id):
    return params["messages"][-1]["content"].upper()


@pytest.fixture
def run(tmp_path):
    """``sf.run`` on an in-process emulator that answers each prompt in capitals."""
    with Emulator(responder=echo) as emu, sf.SirayaClient("k", emu.base_url) as client:

        def call(df, *, via=None, **kw):
            kw = {"prompt": "{review}", "model": "m", "client": client, "progress": False,
                  "show_summary": False, "job_dir": tmp_path / "job", **kw}  # fmt: skip
            return via(**kw) if via else sf.run(df, **kw)

        yield call


def test_pandas_in_pandas_out_with_its_index_order_and_values(run):
    pdf = pd.DataFrame({"review": REVIEWS, "n": [1, 2, 3, 4]}, index=[40, 10, 30, 20])
    out = run(pdf)
    assert isinstance(out, pd.DataFrame)
    assert out.index.tolist() == [40, 10, 30, 20]
    assert out["n"].tolist() == [1, 2, 3, 4] and out["review"].tolist() == REVIEWS
    assert out["response_text"].tolist() == ["GOOD", "BAD", "GOOD", "MEH"]
    assert pdf.columns.tolist() == ["review", "n"]  # the caller's frame is untouched


def test_the_pandas_accessor_runs_and_estimates(run):
    pdf = pd.DataFrame({"review": REVIEWS}, index=list("abcd"))
    out = run(None, via=pdf.siraya.run)
    assert isinstance(out, pd.DataFrame) and out.index.tolist() == list("abcd")
    assert out["response_text"].tolist()[1] == "BAD"
    assert pdf.siraya.estimate(prompt="{review}", model="m")["unique_requests"].item() == 3


@pytest.mark.parametrize("make", [pa.table, lambda d: pa.table(d).to_reader()])
def test_pyarrow_in_a_table_out(run, make):
    out = run(make({"review": REVIEWS}))
    assert isinstance(out, pa.Table)
    assert out.column("response_text").to_pylist() == ["GOOD", "BAD", "GOOD", "MEH"]


def test_a_lazyframe_still_gives_a_dataframe(run):
    out = run(pl.LazyFrame({"review": REVIEWS}))
    assert isinstance(out, pl.DataFrame) and out["response_text"][3] == "MEH"


@pytest.mark.parametrize(
    ("rows", "named"),
    [({"review": REVIEWS}, "got a dict. Wrap it first"), (REVIEWS, "got a list"), (3, "int")],
)
def test_anything_else_is_a_clear_input_error(rows, named):
    for call in (sf.run, sf.estimate, sf.build_requests):
        with pytest.raises(sf.InputError, match=named) as info:
            call(rows, prompt="{review}", model="m", max_tokens=5)
        assert "a pandas DataFrame, a pyarrow Table" in str(info.value)


def test_build_requests_and_estimate_take_pandas_and_arrow():
    for frame in (pd.DataFrame({"review": REVIEWS}), pa.table({"review": REVIEWS})):
        built = sf.build_requests(frame, prompt="{review}", model="m", max_tokens=5)
        assert isinstance(built, pl.DataFrame) and built["custom_id"].n_unique() == 3
        assert sf.estimate(frame, prompt="{review}", model="m")["rows"].item() == 4


def test_pandas_with_non_text_column_names_is_told_to_rename():
    with pytest.raises(sf.InputError, match=r"text column names.*df.columns.map\(str\)"):
        sf.estimate(pd.DataFrame({0: ["x"]}), prompt="{0}", model="m")


def test_the_pandas_accessor_is_registered_whichever_is_imported_first():
    code = (
        "import sys, siraya_frames\n"
        "assert 'pandas' not in sys.modules, 'import siraya_frames imported pandas'\n"
        "import pandas as pd\n"
        "print(type(pd.DataFrame({'a': ['x']}).siraya).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=clean_env(), check=False)  # fmt: skip
    assert done.stdout.strip() == "SirayaPandasFrame", done.stderr


@pytest.mark.parametrize("name", ["rows.tsv", "rows.ndjson", "rows.csv.gz", "rows.tsv.gz"])
def test_the_cli_reads_tsv_ndjson_and_compressed_text(tmp_path, name):
    frame = pl.DataFrame({"review": REVIEWS, "n": [1, 2, 3, 4]})
    path = tmp_path / name
    if ".ndjson" in name:
        frame.write_ndjson(path)
    else:
        text = frame.write_csv(separator="\t" if ".tsv" in name else ",")
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    assert read_table(str(path)).equals(frame)


def test_an_unknown_file_type_names_the_ones_read(tmp_path):
    with pytest.raises(sf.InputError, match=r"'\.xlsx'; use .parquet, .csv, .tsv"):
        read_table(str(tmp_path / "rows.xlsx"))
