"""Helpers shared by the tests that run the command line (test_cli.py, test_docs.py)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def siraya_frames_command() -> list[str]:
    """The installed ``siraya-frames`` script (next to this Python first)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    script = shutil.which("siraya-frames", path=path)
    assert script, "the siraya-frames script is not installed: pip install -e '.[dev]'"
    return [script]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any SIRAYA_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIRAYA_")}
    env.update(extra)
    return env
