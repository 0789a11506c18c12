"""Ids: the polars-hash plugin and the xxhash fallback give the same ids, always."""

from __future__ import annotations

import logging

import polars as pl
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from siraya_frames import _ids
from siraya_frames._build import build_requests, custom_ids, encode_params


@pytest.fixture
def fallback(monkeypatch):
    """Make the plugin fail to load, as after a Polars upgrade it does not support."""

    def broken(json):
        raise ImportError("polars_hash: plugin built for another Polars")

    _ids.plugin_ok.cache_clear()
    monkeypatch.setattr(_ids, "hex_digest", broken)
    yield
    _ids.plugin_ok.cache_clear()


def test_the_plugin_is_used_here():
    assert _ids.plugin_ok()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(), st.text(min_size=200, max_size=600))))
def test_plugin_digests_equal_xxhash_hexdigests(texts):
    series = pl.Series("json", texts, dtype=pl.String)
    expected = [None if t is None else xxhash.xxh3_128_hexdigest(t.encode()) for t in texts]
    plugin = series.to_frame().select(_ids.hex_digest(pl.col("json"))).to_series()
    assert plugin.to_list() == expected
    assert _ids.python_digests(series).to_list() == expected


def test_a_broken_plugin_falls_back_to_the_same_ids(fallback, caplog):
    df = pl.DataFrame({"q": ["a", "b", "a", None, "é👍\n"]})
    kwargs = {"prompt": "{q}", "model": "m", "max_tokens": 4, "on_null": "skip"}
    with caplog.at_level(logging.WARNING, logger="siraya_frames"):
        slow = build_requests(df, **kwargs)
    assert "computing ids with xxhash" in caplog.text
    assert "another Polars" in caplog.text
    json = encode_params(slow["params"])
    expected = [None if j is None else "sf" + xxhash.xxh3_128_hexdigest(j.encode()) for j in json]
    assert slow["custom_id"].to_list() == expected
    assert slow["custom_id"].to_list()[0] == slow["custom_id"].to_list()[2]
    assert slow["custom_id"][3] is None


def test_a_plugin_that_disagrees_is_not_used(monkeypatch, caplog):
    _ids.plugin_ok.cache_clear()
    real = _ids.hex_digest
    monkeypatch.setattr(_ids, "hex_digest", lambda json: real(json).str.reverse())
    try:
        with caplog.at_level(logging.WARNING, logger="siraya_frames"):
            assert not _ids.plugin_ok()
        assert "disagrees with xxhash" in caplog.text
        ids = custom_ids(pl.Series("params", [{"model": "m", "max_tokens": 1}]))
        assert ids.to_list() == ["sf690fc135049a5fcc071c374a3787fd8e"]
    finally:
        _ids.plugin_ok.cache_clear()


@pytest.mark.parametrize("dedupe", [True, False])
def test_both_paths_give_the_same_ids_for_a_large_frame(dedupe, monkeypatch):
    n = 50_000  # more than one chunk per thread
    df = pl.DataFrame({"q": [f"text {i % 7_000} ✓" for i in range(n)]})
    fast = build_requests(df, prompt="{q}", model="m", max_tokens=4, dedupe=dedupe)
    _ids.plugin_ok.cache_clear()
    monkeypatch.setattr(_ids, "plugin_ok", lambda: False)
    slow = build_requests(df, prompt="{q}", model="m", max_tokens=4, dedupe=dedupe)
    assert fast["custom_id"].to_list() == slow["custom_id"].to_list()
    assert fast["custom_id"].n_unique() == (7_000 if dedupe else n)


def test_number_repeats_counts_each_id_separately():
    ids = pl.Series("custom_id", ["a", "b", "a", None, "b", "a", None])
    assert _ids.number_repeats(ids).to_list() == ["a", "b", "a-1", None, "b-1", "a-2", None]


@pytest.mark.parametrize("n", [0, 1, 6, 7, 20])
def test_joined_ids_hash_a_chunk_at_a_time_as_they_did_whole(monkeypatch, n):
    """Job ids and params hashes must not change when the ids are hashed in chunks."""

    monkeypatch.setattr(_ids, "_JOIN_CHUNK", 3)
    ids = pl.Series([f"sf{i:032x}" for i in range(n)], dtype=pl.String)
    digest = xxhash.xxh3_128(b"base\n")
    _ids.update_joined(digest, ids)
    assert digest.hexdigest() == xxhash.xxh3_128(b"base\n" + "\n".join(ids).encode()).hexdigest()
