"""run(): labels and extraction end to end on scripted emulator answers; re-runs pay nothing."""

from __future__ import annotations

import json

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames.emulator import Emulator

LABELS = ["positive", "negative", "neutral"]


def scripted(params, *, custom_id):
    """The model: the answer is scripted in the row itself, after 'ANSWER='."""
    text = params["messages"][-1]["content"]
    return text.split("ANSWER=", 1)[1].split("\n", 1)[0].replace("\\n", "\n")


def _run(df, tmp_path, **kw):
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:
        out = sf.run(
            df,
            client=client,
            job_dir=tmp_path / "job",
            progress=False,
            show_summary=False,
            model="openai/gpt-4o-mini-batch",
            max_tokens=50,
            **kw,
        )
        return out, emu.stats()  # fmt: skip


def test_labels_are_normalised_and_anything_else_is_null_with_the_raw_text(tmp_path):
    answers = ["Positive", "  **NEGATIVE**. ", "Label: neutral", "'positive'",
               "I think it is positive", "positive, negative", "", "unknown"]  # fmt: skip
    df = pl.DataFrame({"id": range(8), "answer": answers})
    out, _ = _run(df, tmp_path, prompt="Review ANSWER={answer}", labels=LABELS)
    assert out["id"].to_list() == list(range(8))
    assert out["label"].dtype == pl.Enum(LABELS)
    assert out["label"].to_list() == ["positive", "negative", "neutral", "positive",
                                      None, None, None, None]  # fmt: skip
    errors = out["label_error"].to_list()
    assert errors[:4] == [None] * 4
    assert "I think it is positive" in errors[4] and "two labels" in errors[5]
    assert all(e for e in errors[4:])


def test_abstain_label_is_accepted(tmp_path):
    df = pl.DataFrame({"answer": ["Unknown.", "neutral"]})
    out, _ = _run(df, tmp_path, prompt="ANSWER={answer}", labels=LABELS, abstain="unknown")
    assert out["label"].to_list() == ["unknown", "neutral"]


def test_the_request_lists_the_labels(tmp_path):
    df = pl.DataFrame({"answer": ["positive"]})
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:
        labels = {"positive": "good", "negative": "bad"}
        job = sf.run(df, prompt="ANSWER={answer}", model="m", labels=labels, client=client,
                     job_dir=tmp_path / "j", wait=False)  # fmt: skip
        body = json.loads(job._store.read_requests()["params_json"][0])
    content = body["messages"][0]["content"]
    assert "positive" in content and "negative" in content and "good" in content


def test_extraction_into_typed_columns(tmp_path):
    answers = [
        '{"name": "Dune", "year": 1965, "tags": ["sf", "desert"]}',
        '```json\\n{"name": "Emma", "year": 1815, "tags": []}\\n```',
        '{"name": "X", "year": "nineteen", "tags": []}',
        "not json at all",
        '{"name": "Y", "year": 2001}',
    ]
    df = pl.DataFrame({"answer": answers})
    schema = {"name": pl.String, "year": pl.Int32, "tags": pl.List(pl.String)}
    out, _ = _run(df, tmp_path, prompt="ANSWER={answer}", schema=schema)
    assert out.schema["year"] == pl.Int32 and out.schema["tags"] == pl.List(pl.String)
    assert out["name"].to_list() == ["Dune", "Emma", None, None, None]
    assert out["year"].to_list() == [1965, 1815, None, None, None]
    assert out["tags"].to_list()[:2] == [["sf", "desert"], []]
    errors = out["parse_error"].to_list()
    assert errors[:2] == [None, None]
    assert "year" in errors[2] and "tags" in errors[4] and errors[3]


def test_rerun_submits_nothing_and_gives_the_same_frame(tmp_path):
    df = pl.DataFrame({"answer": ["positive", "negative", "positive"]})
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:
        kw = dict(prompt="ANSWER={answer}", model="m", labels=LABELS, client=client,
                  job_dir=tmp_path / "j", progress=False, show_summary=False)  # fmt: skip
        first = sf.run(df, **kw)
        second = sf.run(df, **kw)
        assert emu.stats()["creates_accepted"] == 1
        assert emu.stats()["requests_processed"] == 2
    assert first.equals(second)


def test_output_parquet_has_provenance_and_no_key(tmp_path):
    df = pl.DataFrame({"answer": ["positive", "negative", "positive"]})
    path = tmp_path / "out.parquet"
    out, _ = _run(df, tmp_path, prompt="ANSWER={answer}", labels=LABELS, output=path)
    assert pl.read_parquet(path).equals(out)
    prov = sf.read_provenance(path)
    assert prov["prompt_template"] == "ANSWER={answer}"
    assert prov["labels"] == LABELS and prov["model"] == "openai/gpt-4o-mini-batch"
    assert prov["outcomes"] == {"succeeded": 3} and len(prov["batch_ids"]) == 1
    assert prov["unique_requests"] == 2 and prov["cost"]["batch_cost_usd"] > 0
    assert prov["submitted_at"] and prov["finished_at"]


def test_summary_counts_unique_requests_once(tmp_path):
    df = pl.DataFrame({"answer": ["positive", "negative", "positive", "meh"]})
    out, _ = _run(df, tmp_path, prompt="ANSWER={answer}", labels=LABELS)
    summary = sf.summarize(out, model="openai/gpt-4o-mini-batch")
    row = summary.row(0, named=True)
    assert (row["rows"], row["unique_requests"], row["succeeded"], row["parsed"]) == (4, 3, 4, 3)
    unique = out.unique("custom_id")
    assert row["input_tokens"] == unique["input_tokens"].sum()
    assert row["cost_usd"] == pytest.approx(row["saved_vs_standard_usd"])
    assert sf.summarize(out)["note"][0].startswith("no price")


def test_summary_prices_input_cache_read_cache_write_and_output_each_at_its_rate():
    out = pl.DataFrame(
        {
            "custom_id": ["a", "a", "b"],
            "result_status": ["succeeded"] * 3,
            "input_tokens": [1_000, 1_000, 200],
            "cache_read_input_tokens": [10_000, 10_000, None],
            "cache_creation_input_tokens": [0, 0, 4_000],
            "output_tokens": [100, 100, 50],
        }
    )
    row = sf.summarize(out, model="anthropic/claude-haiku-4.5").row(0, named=True)
    # Haiku 4.5 per million: input 1.00, cache read 0.10, cache write 1.25, output 5.00;
    # "a" counted once: 1,200 input, 10,000 read, 4,000 written, 150 output.
    standard = (1_200 * 1.00 + 10_000 * 0.10 + 4_000 * 1.25 + 150 * 5.00) / 1e6
    assert standard == pytest.approx(0.00795)
    assert row["cost_usd"] == pytest.approx(0.003975)  # the batch price: half
    assert (row["input_tokens"], row["cache_read_input_tokens"]) == (1_200, 10_000)
    assert (row["cache_creation_input_tokens"], row["output_tokens"]) == (4_000, 150)
    mine = {"my/m": {"input": 2.0, "output": 8.0}}  # cache: 0.1x and 1.25x the input price
    row = sf.summarize(out, model="my/m", prices=mine).row(0, named=True)
    assert row["cost_usd"] == pytest.approx((1_200 * 2 + 10_000 * 0.2 + 4_000 * 2.5 + 150 * 8)
                                            / 1e6 / 2)  # fmt: skip


def test_summary_of_a_frame_without_cache_columns_counts_them_zero():
    out = pl.DataFrame({"custom_id": ["a"], "result_status": ["succeeded"],
                        "input_tokens": [1_000_000], "output_tokens": [0]})  # fmt: skip
    row = sf.summarize(out, model="openai/gpt-4o").row(0, named=True)
    assert row["cost_usd"] == pytest.approx(1.25) and row["cache_read_input_tokens"] == 0


def test_namespace_on_dataframe_and_lazyframe(tmp_path):
    df = pl.DataFrame({"answer": ["neutral", "negative"]})
    req = df.lazy().siraya.build_requests(prompt="ANSWER={answer}", model="m", max_tokens=5)
    assert isinstance(req, pl.LazyFrame) and req.collect().height == 2
    assert df.siraya.estimate(prompt="{answer}", model="m", max_tokens=5)["rows"][0] == 2
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:
        out = df.siraya.run(prompt="ANSWER={answer}", model="m", labels=LABELS, client=client,
                            job_dir=tmp_path / "j", progress=False, show_summary=False)  # fmt: skip
    assert out["label"].to_list() == ["neutral", "negative"]


def test_labels_and_schema_together_is_a_clear_error(tmp_path):
    with pytest.raises(sf.InputError, match="not both"):
        client = sf.SirayaClient("k", "http://127.0.0.1:9/v1")
        sf.run(pl.DataFrame({"a": ["x"]}), prompt="{a}", model="m", labels=LABELS,
               schema={"x": pl.String}, client=client)  # fmt: skip


def test_label_column_clash_suggests_prefix(tmp_path):
    df = pl.DataFrame({"answer": ["positive"], "label": ["gold"]})
    with pytest.raises(sf.InputError, match="prefix"):
        _run(df, tmp_path, prompt="ANSWER={answer}", labels=LABELS)
    assert not (tmp_path / "job").exists()  # refused before anything was sent
    out, _ = _run(df, tmp_path, prompt="ANSWER={answer}", labels=LABELS, prefix="llm_")
    assert out["llm_label"].to_list() == ["positive"] and out["label"].to_list() == ["gold"]


def test_a_run_over_its_budget_is_refused_before_anything_is_sent(tmp_path):
    df = pl.DataFrame({"answer": [f"positive {i}" for i in range(200)]})
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:
        kw = {"prompt": "ANSWER={answer}", "model": "openai/gpt-4o-mini-batch", "client": client,
              "job_dir": tmp_path / "job", "progress": False, "show_summary": False}  # fmt: skip
        with pytest.raises(sf.BudgetExceededError) as over:
            sf.run(df, max_tokens=1000, max_cost_usd=0.01, **kw)
        assert emu.stats()["batches"] == 0
        estimated = sf.estimate(
            sf.build_requests(df, prompt="ANSWER={answer}", model=kw["model"], max_tokens=1000)
        )["estimated_cost_usd"].item()
        assert f"${estimated:,.4f}" in str(over.value) and "max_cost_usd=0.01" in str(over.value)
        assert "nothing was sent" in str(over.value) and "lower max_tokens" in str(over.value)
        out = sf.run(df, max_tokens=5, max_cost_usd=0.01, **kw)  # within the budget
        assert out["result_status"].to_list() == ["succeeded"] * 200
        assert emu.stats()["batches"] == 1


def test_a_budget_for_a_model_without_a_price_asks_for_prices(tmp_path):
    df = pl.DataFrame({"answer": ["positive"]})
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:
        kw = {"prompt": "ANSWER={answer}", "max_tokens": 5, "client": client,
              "job_dir": tmp_path / "job", "progress": False, "show_summary": False}  # fmt: skip
        with pytest.raises(
            sf.BudgetExceededError, match=r"cannot be checked: no price for model 'acme/x'"
        ):
            sf.run(df, model="acme/x", max_cost_usd=1.0, **kw)
        assert emu.stats()["batches"] == 0
        prices = {"acme/x": {"input": 1.0, "output": 2.0}}
        out = sf.run(df, model="acme/x", max_cost_usd=1.0, prices=prices, **kw)
    assert out["response_text"].to_list() == ["positive"]


def test_a_run_where_nothing_succeeded_says_so(tmp_path):
    df = pl.DataFrame({"answer": ["a", "b", "c"]})
    emulator = Emulator(error_rate=1.0, error_type="overloaded_error")
    with (
        emulator as emu,
        sf.SirayaClient("k", emu.base_url) as client,
        pytest.warns(sf.ResultsWarning) as caught,
    ):
        out = sf.run(df, prompt="ANSWER={answer}", model="m", max_tokens=5, client=client,
                     job_dir=tmp_path / "job", progress=False, show_summary=False)  # fmt: skip
    message = str(caught[0].message)
    assert "none of the 3 requested rows succeeded" in message
    assert "most common error: 'overloaded_error' (3 rows)" in message
    assert "retry_failed" in message
    assert out["result_status"].to_list() == ["errored"] * 3


def test_a_run_where_no_answer_gives_a_label_says_so(tmp_path):
    df = pl.DataFrame({"answer": ["I am not sure", "maybe"]})
    with pytest.warns(sf.ResultsWarning, match="2 rows succeeded but no answer gave a label"):
        out, _ = _run(df, tmp_path, prompt="ANSWER={answer}", labels=LABELS)
    assert out["label"].null_count() == 2


def test_another_task_in_the_same_job_dir_is_refused_but_more_rows_are_welcome(tmp_path):
    df = pl.DataFrame({"answer": ["positive", "negative"]})
    more = pl.DataFrame({"answer": ["positive", "negative", "neutral"]})
    with Emulator(responder=scripted) as emu, sf.SirayaClient("k", emu.base_url) as client:

        def run(frame, **kw):
            args = {"prompt": "ANSWER={answer}", "labels": LABELS, "max_tokens": 50,
                    "model": "openai/gpt-4o-mini-batch", **kw}  # fmt: skip
            return sf.run(frame, client=client, job_dir=tmp_path / "job", progress=False,
                          show_summary=False, **args)  # fmt: skip

        assert run(df)["label"].to_list() == ["positive", "negative"]
        assert run(more)["label"].to_list() == ["positive", "negative", "neutral"]
        for other, differs in [
            ({"prompt": "Say ANSWER={answer}"}, "prompt_template 'ANSWER={answer}' vs 'Say"),
            ({"model": "openai/gpt-4o-batch"}, "model 'openai/gpt-4o-mini-batch' vs 'openai/"),
            ({"labels": ["positive", "negative"]}, "labels ["),
            ({"max_tokens": 60}, "params {'max_tokens': 50} vs {'max_tokens': 60}"),
            ({"system": "Be brief."}, "'system': 'Be brief.'"),
        ]:
            with pytest.raises(sf.errors.JobMismatchError) as caught:
                run(more, **other)
            message = str(caught.value)
            assert differs in message, message
            assert str(tmp_path / "job") in message and "another job_dir" in message
        assert emu.stats()["batches"] == 2  # nothing was sent for the refused runs
