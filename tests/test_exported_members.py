"""The public surface: every name in __all__ exists, the list is sorted, nothing leaks."""

from __future__ import annotations

import siraya_frames as sf
import siraya_frames.emulator as emulator


def _isort_style(name: str) -> tuple[int, str]:
    """CONSTANTS, then Classes, then functions (ruff's RUF022 order)."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete():
    assert sf.__all__ == sorted(sf.__all__, key=_isort_style)
    for name in sf.__all__:
        assert hasattr(sf, name), name
    public = {n for n in dir(sf) if not n.startswith("_")}
    assert public - set(sf.__all__) <= {"annotations", "emulator"}  # emulator: a subpackage


def test_emulator_all_is_sorted_and_complete():
    assert emulator.__all__ == sorted(emulator.__all__)
    for name in emulator.__all__:
        assert hasattr(emulator, name), name


def test_every_error_is_one_tree():
    for name in dir(sf.errors):
        obj = getattr(sf.errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, sf.SirayaError), name


def test_evaluation_and_models_are_public():
    names = {"evaluate", "agreement", "models", "plot_confusion", "plot_labels"}
    assert names <= set(sf.__all__)
    assert {"LabelEvaluation", "ExtractionEvaluation", "Agreement"} <= set(sf.__all__)


def test_preview_is_exported():
    assert sf.preview.__module__ == "siraya_frames._preview"
    assert "preview" in sf.__all__
