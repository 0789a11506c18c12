"""Warnings shown once, at the caller's own line (not at a line inside siraya_frames).

``warnings.warn(..., skip_file_prefixes=...)`` does this from Python 3.12 on; the floor is
3.11, so :func:`user_stacklevel` walks the stack to the first frame outside the package.
The message goes to ``warnings`` only (logged at INFO): a terminal shows it once, not
once as a log line and again as a warning.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warn_user("nothing parsed", UserWarning)
>>> caught[0].filename == __file__ or caught[0].filename.startswith("<doctest")
True
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

__all__ = ["user_stacklevel", "warn_user"]

logger = logging.getLogger("siraya_frames")

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _inside_package(filename: str) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(_PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by our caller point at the first
    frame outside siraya_frames (1 = the caller of this function)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _inside_package(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn_user(message: str, category: type[Warning]) -> None:
    """Warn once, at the user's line, and log the message at INFO (not WARNING)."""
    logger.info("%s", message)
    warnings.warn(message, category, stacklevel=user_stacklevel())
