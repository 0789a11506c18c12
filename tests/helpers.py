"""Helpers and data shared by several test modules."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

QUICKSTART_PARAMS = {
    "model": "openai/gpt-4o-mini-batch",
    "max_tokens": 1024,
    "metadata": {"ANY_ADDITIONAL_PROPERTY": "text"},
    "stop_sequences": ["text"],
    "system": "text",
    "temperature": 1,
    "tool_choice": None,
    "tools": [],
    "top_k": 1,
    "top_p": 1,
    "thinking": {"budget_tokens": 1024, "type": "enabled"},
}
"""The quickstart page's request parameters, verbatim (None is the page's JSON null),
without ``messages``; the page's first question is ``QUICKSTART_QUESTIONS[0]``."""
QUICKSTART_QUESTIONS = ["How to learn nestjs?", "How to learn Reactjs?", "How to learn Nextjs?"]


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
