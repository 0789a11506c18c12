"""The chaos scenario of benchmarks/bench_chaos.py at a size CI can afford."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "chaos", Path(__file__).parent.parent / "benchmarks" / "bench_chaos.py"
)
chaos = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(chaos)


def test_every_fault_at_once_loses_no_row_and_pays_nothing_twice(tmp_path):
    report = chaos.run_chaos(1500, tmp_path, max_requests=100)
    assert report["rows"] == 1650 and report["unique_requests"] == 1500
    assert report["batches_created"] >= 15  # 15 planned, plus the retry rounds
    assert report["dropped_creates"] >= 1 and report["cut_downloads"] >= 1
    assert report["first_pass_failures"].get("errored", 0) > 0
    assert report["first_pass_failures"].get("expired", 0) > 0


def test_a_hostile_results_host_loses_no_row_leaks_no_key_and_buys_nothing_twice(tmp_path):
    report = chaos.run_hostile_chaos(1000, tmp_path, max_requests=100)
    assert report["rows"] == 1100 and report["batches_created"] == 10
    assert report["redirected_downloads"] >= 10
    assert report["empty_downloads"] == 2 and report["endless_downloads"] == 2
    assert report["status_answers_with_a_hostile_id"] >= 1
