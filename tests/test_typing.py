"""The package type-checks: ``py.typed`` promises annotations that mypy accepts.

mypy runs with the ``[tool.mypy]`` settings of pyproject.toml (the package, Python 3.11, the
untyped libraries named there); its report is the failure message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error_in_the_package():
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = f"{done.stdout}{done.stderr}"
    assert done.returncode == 0, f"mypy found errors (python -m mypy):\n{report}"
    assert "Success: no issues found" in done.stdout, report
