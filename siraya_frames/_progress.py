"""The progress bar of ``wait``: requests done out of total (Jupyter and terminals)."""

from __future__ import annotations

from typing import Any

from siraya_frames._store import JobState
from siraya_frames._wait import is_finished

__all__ = ["Progress"]


def _tqdm() -> Any:
    """tqdm.auto (a widget in Jupyter) when ipywidgets is there; else the text bar, which
    works in notebooks too, instead of tqdm.auto's "IProgress not found" warning."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


class Progress:
    """A progress bar of requests done out of total (Jupyter and terminals)."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled:
            self.bar = _tqdm()(total=total, desc=desc, unit="req", dynamic_ncols=True)

    def __call__(self, state: JobState) -> None:
        if self.bar is None:
            return
        done = sum(r.n_requests if is_finished(r) else r.done for r in state.batches)
        self.bar.n = min(done, self.bar.total)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
