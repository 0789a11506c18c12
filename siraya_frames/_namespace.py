"""The ``df.siraya`` namespace on Polars DataFrames and LazyFrames (and pandas: ``_pandas.py``).

Registered when ``siraya_frames`` is imported. ``run`` and ``estimate`` carry the full typed
signatures of :func:`siraya_frames.run` and :func:`siraya_frames.estimate`, written out so
editors complete them; a test checks they stay equal (minus ``df``).

Examples
--------
>>> import polars as pl, siraya_frames
>>> df = pl.DataFrame({"text": ["hi", "hi"]})
>>> df.siraya.build_requests(prompt="{text}", model="m", max_tokens=5)["custom_id"].n_unique()
1
>>> df.siraya.estimate(prompt="{text}", model="m", labels=["a", "b"])["unique_requests"][0]
1
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames._config import DEFAULT_MAX_TOKENS

if TYPE_CHECKING:
    from siraya_frames._client import SirayaClient
    from siraya_frames._frames import FrameOut
    from siraya_frames._job import Job

__all__ = ["SirayaFrame", "SirayaLazyFrame"]


class _Namespace:
    """What ``df.siraya`` offers on every kind of frame (Polars eager and lazy, pandas)."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    def build_requests(self, **kwargs: Any) -> Any:
        """:func:`siraya_frames.build_requests` on this frame."""
        from siraya_frames._build import build_requests

        return build_requests(self._frame, **kwargs)

    def estimate(
        self,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        *,
        prompt: str | None = None,
        model: str | pl.Expr | None = None,
        max_tokens: int | pl.Expr = DEFAULT_MAX_TOKENS,
        messages: str | None = None,
        system: str | pl.Expr | None = None,
        labels: Sequence[str] | Mapping[str, str] | None = None,
        abstain: str | None = None,
        schema: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        job_dir: str | os.PathLike[str] | None = None,
        client: SirayaClient | None = None,
        wait: bool = True,
        timeout: float | None = None,
        progress: bool = True,
        show_summary: bool = True,
        prefix: str = "",
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_cost_usd: float | None = None,
        protocol: str | None = None,
        max_result_bytes: int | None = None,
        reuse: bool = True,
        answers_dir: str | os.PathLike[str] | None = None,
        **params: Any,
    ) -> pl.DataFrame:
        """:func:`siraya_frames.estimate` of what ``run`` with these arguments would send."""
        from siraya_frames._estimate import estimate

        args = {k: v for k, v in locals().items() if k not in ("self", "params", "estimate")}
        return estimate(self._frame, **args, **params)

    def run(
        self,
        *,
        prompt: str | None = None,
        model: str | pl.Expr,
        max_tokens: int | pl.Expr = DEFAULT_MAX_TOKENS,
        messages: str | None = None,
        system: str | pl.Expr | None = None,
        labels: Sequence[str] | Mapping[str, str] | None = None,
        abstain: str | None = None,
        schema: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        job_dir: str | os.PathLike[str] | None = None,
        client: SirayaClient | None = None,
        wait: bool = True,
        timeout: float | None = None,
        progress: bool = True,
        show_summary: bool = True,
        prefix: str = "",
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_cost_usd: float | None = None,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        protocol: str | None = None,
        max_result_bytes: int | None = None,
        dry_run: bool = False,
        reuse: bool = True,
        answers_dir: str | os.PathLike[str] | None = None,
        **params: Any,
    ) -> FrameOut | Job | pl.DataFrame:
        """:func:`siraya_frames.run` on this frame (the result is of this frame's kind)."""
        from siraya_frames._run import run

        args = {k: v for k, v in locals().items() if k not in ("self", "params", "run")}
        return run(self._frame, **args, **params)


@pl.api.register_dataframe_namespace("siraya")
class SirayaFrame(_Namespace):
    """``df.siraya``: build_requests, estimate, run and join_results on a DataFrame."""

    def join_results(self, results: pl.DataFrame, **kwargs: Any) -> pl.DataFrame:
        """:func:`siraya_frames.join_results` with this frame as the requests."""
        from siraya_frames._join import join_results

        return join_results(self._frame, results, **kwargs)


@pl.api.register_lazyframe_namespace("siraya")
class SirayaLazyFrame(_Namespace):
    """``lf.siraya``: build_requests (lazy), estimate and run on a LazyFrame."""
