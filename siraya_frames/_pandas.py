"""``pdf.siraya`` on pandas DataFrames, registered without importing pandas.

pandas is optional and costs about half a second to import, more than siraya_frames itself,
so ``import siraya_frames`` never imports it. :func:`install` registers the accessor at once
when pandas is already imported; otherwise it leaves a one-shot hook on ``sys.meta_path``
that registers it right after pandas finishes importing (the post-import hook pattern of
``wrapt``), so ``import siraya_frames`` then ``import pandas`` works as well as the other
order. When pandas is not installed, the hook is never triggered and costs nothing.

Examples
--------
>>> import pandas as pd, siraya_frames
>>> pdf = pd.DataFrame({"text": ["hi", "hi", "yo"]}, index=[7, 8, 9])
>>> pdf.siraya.estimate(prompt="{text}", model="m")["unique_requests"][0]
2
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from siraya_frames._namespace import _Namespace

logger = logging.getLogger("siraya_frames")

__all__ = ["SirayaPandasFrame", "install"]


class SirayaPandasFrame(_Namespace):
    """``pdf.siraya``: build_requests, estimate and run on a pandas DataFrame.

    ``run`` gives back a pandas DataFrame with this frame's index; ``build_requests`` a
    Polars one (the requests frame is Polars everywhere).
    """


def _register(pandas: ModuleType) -> None:
    if getattr(pandas.DataFrame, "siraya", None) is SirayaPandasFrame:
        return
    pandas.api.extensions.register_dataframe_accessor("siraya")(SirayaPandasFrame)


class _AfterPandasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: on the first ``import pandas`` it wraps the real loader's
    ``exec_module`` so the accessor is registered once pandas is fully imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pandas":
            return None
        sys.meta_path.remove(self)  # one shot; and the search below must not find us again
        spec = importlib.util.find_spec(fullname)  # the other finders, as import would
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            exec_module(module)
            try:
                _register(module)
            except (AttributeError, ImportError) as exc:  # an odd pandas: no accessor, no crash
                logger.debug("pdf.siraya not registered: %s", exc)

        spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register ``pdf.siraya`` now if pandas is imported, else right after it is."""
    pandas: Any = sys.modules.get("pandas")
    if pandas is not None and hasattr(pandas, "api"):
        _register(pandas)
    elif not any(isinstance(f, _AfterPandasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterPandasImport())
