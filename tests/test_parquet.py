"""Parquet output: atomic, with provenance a user can read back."""

from __future__ import annotations

import polars as pl

import siraya_frames as sf


def test_provenance_round_trips_and_counts_shared_answers_once(tmp_path):
    df = pl.DataFrame(
        {
            "custom_id": ["a", "a", "b", None],
            "result_status": ["succeeded", "succeeded", "errored", None],
            "input_tokens": [10, 10, 5, None],
            "output_tokens": [2, 2, 0, None],
        }
    )
    path = tmp_path / "out.parquet"
    sf.write_parquet(df, path, provenance={"prompt_template": "{x}"})
    prov = sf.read_provenance(path)
    assert prov["rows"] == 4
    assert prov["outcomes"] == {"succeeded": 2, "errored": 1, "skipped": 1}
    assert (prov["input_tokens"], prov["output_tokens"]) == (15, 2)
    assert prov["prompt_template"] == "{x}" and prov["library"] == "siraya-frames"
    assert len(prov["params_hash"]) == 32  # the same ids in another order: the same hash
    sf.write_parquet(df.reverse(), tmp_path / "again.parquet")
    assert sf.read_provenance(tmp_path / "again.parquet")["params_hash"] == prov["params_hash"]
    assert pl.read_parquet(path).equals(df)


def test_overwrite_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.parquet"
    sf.write_parquet(pl.DataFrame({"a": [1]}), path)
    sf.write_parquet(pl.DataFrame({"a": [2]}), path)
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    assert pl.read_parquet(path)["a"].to_list() == [2]


def test_a_file_without_provenance_reads_as_empty(tmp_path):
    path = tmp_path / "plain.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    assert sf.read_provenance(path) == {}


def test_values_json_cannot_hold_are_written_as_text(tmp_path):
    path = tmp_path / "x.parquet"
    sf.write_parquet(pl.DataFrame({"a": [1]}), path, provenance={"input": tmp_path / "in.csv"})
    assert sf.read_provenance(path)["input"] == str(tmp_path / "in.csv")


def test_the_file_gets_the_usual_permissions(tmp_path):
    import os

    path = tmp_path / "out.parquet"
    sf.write_parquet(pl.DataFrame({"a": [1]}), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_provenance_totals_the_cache_tokens_counting_a_shared_answer_once(tmp_path):
    path = tmp_path / "out.parquet"
    df = pl.DataFrame(
        {
            "custom_id": ["a", "a", "b"],
            "result_status": ["succeeded"] * 3,
            "input_tokens": [10, 10, 5],
            "output_tokens": [2, 2, 1],
            "cache_read_input_tokens": [100, 100, None],
            "cache_creation_input_tokens": [0, 0, 40],
        }
    )
    sf.write_parquet(df, path)
    prov = sf.read_provenance(path)
    assert (prov["input_tokens"], prov["output_tokens"]) == (15, 3)
    assert (prov["cache_read_input_tokens"], prov["cache_creation_input_tokens"]) == (100, 40)


def test_a_lazy_frame_is_written_by_the_streaming_sink_with_its_provenance(tmp_path, monkeypatch):
    """write_parquet sinks a LazyFrame (was: collected whole, then copied to Arrow)."""
    source = tmp_path / "joined.parquet"
    pl.DataFrame(
        {
            "custom_id": ["a", "a", "b", None],
            "result_status": ["succeeded", "succeeded", "errored", None],
            "input_tokens": [10, 10, 7, None],
        }
    ).write_parquet(source)

    collected: list[list[str]] = []
    collect = pl.LazyFrame.collect

    def spy(self, *args, **kwargs):
        frame = collect(self, *args, **kwargs)
        collected.append(frame.columns)
        return frame

    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    sf.write_parquet(pl.scan_parquet(source), tmp_path / "out.parquet", provenance={"k": 1})
    monkeypatch.undo()
    assert collected and all(len(columns) < 3 for columns in collected)  # counts, never rows
    facts = sf.read_provenance(tmp_path / "out.parquet")
    assert facts["rows"] == 4 and facts["k"] == 1
    assert facts["outcomes"] == {"succeeded": 2, "errored": 1, "skipped": 1}
    assert facts["input_tokens"] == 17
    assert pl.read_parquet(tmp_path / "out.parquet").equals(pl.read_parquet(source))
