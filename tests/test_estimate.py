"""estimate: counts, batches, tokens and cost a user checks before spending."""

from __future__ import annotations

import math

import polars as pl
import pytest

from siraya_frames import _plan
from siraya_frames._build import build_requests
from siraya_frames._errors import ParameterError
from siraya_frames._estimate import PRICES, PRICES_AS_OF, _price_table, estimate
from siraya_frames._plan import plan_batches, unique_requests

COLUMNS = [
    "rows",
    "requests",
    "unique_requests",
    "duplicates_saved",
    "skipped_rows",
    "batches",
    "estimated_input_tokens",
    "max_output_tokens",
    "estimated_cost_usd",
    "standard_cost_usd",
    "note",
]


@pytest.fixture
def frame() -> pl.DataFrame:
    df = pl.DataFrame({"q": ["12345678", "abcd", "12345678", None, "é😀"]})  # 8, 4, 8, -, 6 bytes
    return build_requests(df, prompt="{q}", model="openai/gpt-4o", max_tokens=100, on_null="skip")


def test_one_row_with_the_documented_columns(frame):
    est = estimate(frame)
    assert est.columns == COLUMNS
    assert est.height == 1


def test_counts(frame):
    row = estimate(frame).row(0, named=True)
    assert (row["rows"], row["requests"], row["unique_requests"]) == (5, 4, 3)
    assert (row["duplicates_saved"], row["skipped_rows"], row["batches"]) == (1, 1, 1)


def test_tokens_follow_the_documented_heuristic(frame):
    row = estimate(frame).row(0, named=True)
    # unique contents: 8, 4 and 6 UTF-8 bytes -> 2 + 1 + 2 tokens, plus 4 per message
    assert row["estimated_input_tokens"] == (2 + 4) + (1 + 4) + (2 + 4)
    assert row["max_output_tokens"] == 300


def test_system_counts_as_a_message():
    df = pl.DataFrame({"q": ["1234"]})
    reqs = build_requests(df, prompt="{q}", system="12345", model="openai/gpt-4o", max_tokens=1)
    assert estimate(reqs)["estimated_input_tokens"].item() == math.ceil(9 / 4) + 2 * 4


def test_cost_is_half_the_standard_price(frame):
    row = estimate(frame).row(0, named=True)
    price = PRICES["openai/gpt-4o"]
    standard = (17 * price["input"] + 300 * price["output"]) / 1e6
    assert row["standard_cost_usd"] == pytest.approx(standard)
    assert row["estimated_cost_usd"] == pytest.approx(standard / 2)
    assert PRICES_AS_OF in row["note"]


def test_built_in_prices():
    assert PRICES_AS_OF == "2026-11-01"
    assert PRICES["openai/gpt-4o-mini-batch"] == {
        "input": 0.15,
        "output": 0.60,
        "cache_read": 0.075,
        "cache_write": 0.15,
    }
    assert PRICES["openai/gpt-4o"] == {
        "input": 2.50,
        "output": 10.00,
        "cache_read": 1.25,
        "cache_write": 2.50,
    }
    assert PRICES["anthropic/claude-sonnet-4.5"] == {
        "input": 3.0,
        "output": 15.0,
        "cache_read": 0.30,
        "cache_write": 3.75,
    }
    assert PRICES["anthropic/claude-haiku-4.5"] == {
        "input": 1.0, "output": 5.0, "cache_read": 0.10, "cache_write": 1.25,
    }  # fmt: skip
    assert "openai/gpt-4o-mini" in PRICES


def test_cache_prices_given_or_derived_from_the_input_price():
    table = _price_table(
        {
            "mine/full": {"input": 2.0, "output": 4.0, "cache_read": 0.5, "cache_write": 3.0},
            "mine/plain": {"input": 2.0, "output": 4.0},
            "openai/gpt-4o": {"input": 5.0, "output": 20.0},  # keeps gpt-4o's 0.5x / 1x
        }
    )
    rates = ["input_price", "output_price", "cache_read_price", "cache_write_price"]
    got = {m: table.filter(pl.col("model") == m).select(rates).row(0) for m in table["model"]}
    assert got["mine/full"] == (2.0, 4.0, 0.5, 3.0)
    assert got["mine/plain"] == pytest.approx((2.0, 4.0, 0.2, 2.5))  # 0.1x and 1.25x
    assert got["openai/gpt-4o"] == pytest.approx((5.0, 20.0, 2.5, 5.0))


@pytest.mark.parametrize("bad", [{"cache_read": -1}, {"cache_write": "x"}, {"cache_read": None}])
def test_a_bad_cache_price_is_refused_naming_the_model(frame, bad):
    prices = {"mine/m": {"input": 1.0, "output": 1.0, **bad}}
    with pytest.raises(ParameterError, match=r"prices\['mine/m'\].*cache_read"):
        estimate(frame, prices=prices)


def test_mixed_models_and_overridden_prices():
    df = pl.DataFrame({"q": ["abcd", "abcd"], "m": ["openai/gpt-4o", "mine/small"]})
    reqs = build_requests(df, prompt="{q}", model=pl.col("m"), max_tokens=10)
    prices = {
        "mine/small": {"input": 1.0, "output": 2.0},
        "openai/gpt-4o": {"input": 0, "output": 0},
    }
    row = estimate(reqs, prices=prices).row(0, named=True)
    assert row["unique_requests"] == 2
    assert row["standard_cost_usd"] == pytest.approx((5 * 1.0 + 10 * 2.0) / 1e6)


def test_unknown_model_gives_null_cost_and_a_note_naming_it():
    df = pl.DataFrame({"q": ["a", "b", "c"], "m": ["openai/gpt-4o", "x/unknown", "x/unknown"]})
    reqs = build_requests(df, prompt="{q}", model=pl.col("m"), max_tokens=10)
    row = estimate(reqs).row(0, named=True)
    assert row["estimated_cost_usd"] is None
    assert row["standard_cost_usd"] is None
    assert "'x/unknown' (2 requests)" in row["note"]
    assert "prices=" in row["note"]


@pytest.mark.parametrize(
    "prices", [{"m": {"input": 1.0}}, {"m": {"input": -1, "output": 1}}, {"m": 3}, ["m"]]
)
def test_bad_prices(frame, prices):
    with pytest.raises(ParameterError, match="prices"):
        estimate(frame, prices=prices)


def test_batches_use_the_planner_limits(frame):
    assert estimate(frame, max_requests=2)["batches"].item() == 2
    assert len(plan_batches(frame, max_requests=2)) == 2


def test_stored_form_gives_the_same_estimate(frame):
    stored = estimate(unique_requests(frame))
    direct = estimate(frame)
    same = ["unique_requests", "batches", "estimated_input_tokens", "max_output_tokens"]
    assert stored.select(same).equals(direct.select(same))
    assert stored["estimated_cost_usd"].item() == pytest.approx(direct["estimated_cost_usd"].item())


def test_tools_count_as_input():
    df = pl.DataFrame({"q": ["abcd"]})
    plain = build_requests(df, prompt="{q}", model="openai/gpt-4o", max_tokens=1)
    tooled = build_requests(
        df, prompt="{q}", model="openai/gpt-4o", max_tokens=1, tools=[{"name": "f"}]
    )
    extra = math.ceil((4 + len('[{"name":"f"}]')) / 4) - 1
    assert (
        estimate(tooled)["estimated_input_tokens"].item()
        == estimate(plain)["estimated_input_tokens"].item() + extra
    )


def test_lazy_and_empty():
    lazy = build_requests(pl.LazyFrame({"q": ["a"]}), prompt="{q}", model="m", max_tokens=1)
    assert estimate(lazy, prices={"m": {"input": 1, "output": 1}})["requests"].item() == 1
    empty = build_requests(
        pl.DataFrame({"q": []}, schema={"q": pl.String}), prompt="{q}", model="m", max_tokens=1
    )
    row = estimate(empty).row(0, named=True)
    assert (row["rows"], row["batches"], row["estimated_cost_usd"]) == (0, 0, 0.0)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"system": "Be brief, {q}"},
        {"system": pl.col("sys")},
        {
            "tools": [{"name": "f", "description": "é 👍", "input_schema": {"b": 1, "a": [1]}}],
            "tool_choice": {"type": "auto"},
        },
    ],
    ids=["plain", "system-template", "system-column", "tools"],
)
def test_the_params_struct_and_the_saved_json_give_the_same_estimate(extra):
    """A job re-estimates from its saved params_json; the frame from the params struct."""
    df = pl.DataFrame({"q": ["héllo 👋", "b", "b", 'q"uote'], "sys": ["s1", None, None, "s3"]})
    requests = build_requests(df, prompt="{q}", model="openai/gpt-4o", max_tokens=7, **extra)
    from_struct = estimate(requests)
    from_json = estimate(unique_requests(requests))
    columns = ["unique_requests", "batches", "estimated_input_tokens", "max_output_tokens",
               "estimated_cost_usd"]  # fmt: skip
    assert from_struct.select(columns).row(0) == from_json.select(columns).row(0)
    assert from_struct["estimated_input_tokens"].item() > 0


def test_batches_are_counted_from_the_encoded_json_as_the_planner_splits_them():
    """Sizes come from params_json lengths (no request lines made), and agree with the plan."""
    from siraya_frames._estimate import estimate_planned
    from siraya_frames._plan import request_lines

    texts = [f'{"é" * (i % 37)} "{i % 50}" ☕' for i in range(400)]
    reqs = build_requests(pl.DataFrame({"q": texts}), prompt="{q}", model="m", max_tokens=3)
    unique = unique_requests(reqs)
    lines = request_lines(unique).str.len_bytes() + 1
    assert _plan.json_line_sizes(unique).to_list() == lines.to_list()
    assert _plan.json_line_sizes(
        reqs.filter(pl.col("custom_id").is_first_distinct())
    ).to_list() == (lines.to_list())
    for limits in (
        {"max_requests": 7, "max_bytes": 10**6},
        {"max_requests": 999, "max_bytes": 900},
    ):
        planned = len(plan_batches(reqs, **limits))
        assert estimate(reqs, **limits)["batches"].item() == planned
        assert estimate_planned(reqs, unique, **limits)["batches"].item() == planned
