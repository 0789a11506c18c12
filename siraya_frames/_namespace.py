"""The ``df.siraya`` namespace on Polars DataFrames and LazyFrames.

Registered when ``siraya_frames`` is imported.

Examples
--------
>>> import polars as pl, siraya_frames
>>> df = pl.DataFrame({"text": ["hi", "hi"]})
>>> df.siraya.build_requests(prompt="{text}", model="m", max_tokens=5)["custom_id"].n_unique()
1
"""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["SirayaFrame", "SirayaLazyFrame"]


class _Namespace:
    def __init__(self, frame: pl.DataFrame | pl.LazyFrame) -> None:
        self._frame = frame

    def build_requests(self, **kwargs: Any) -> Any:
        """:func:`siraya_frames.build_requests` on this frame."""
        from siraya_frames._build import build_requests

        return build_requests(self._frame, **kwargs)

    def estimate(
        self, *, prices: Any = None, protocol: str | None = None, **kwargs: Any
    ) -> pl.DataFrame:
        """Build the requests with ``kwargs`` and :func:`siraya_frames.estimate` them."""
        from siraya_frames._estimate import estimate

        return estimate(self.build_requests(**kwargs), prices, protocol=protocol)

    def run(self, **kwargs: Any) -> Any:
        """:func:`siraya_frames.run` on this frame."""
        from siraya_frames._run import run

        return run(self._frame, **kwargs)


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
