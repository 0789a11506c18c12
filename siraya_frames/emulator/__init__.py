"""A local emulator of Siraya AI's batch API, for tests, demos and chaos runs.

Running it needs the ``emulator`` extra (``pip install "siraya-frames[emulator]"``: starlette
and uvicorn). Names are imported lazily, so ``siraya_frames.emulator._cli`` (the ``serve``
options) can be imported without that extra.

Examples
--------
>>> from siraya_frames.emulator import Emulator
>>> with Emulator(api_key="test-key") as emu:
...     emu.base_url.endswith("/v1")
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siraya_frames.emulator._app import build_app
    from siraya_frames.emulator._backends import (
        EchoBackend,
        OpenAICompatibleBackend,
        ResponderBackend,
        chat_completions_body,
    )
    from siraya_frames.emulator._config import EmulatorConfig
    from siraya_frames.emulator._faults import Faults, fault_names
    from siraya_frames.emulator._model import Outcome
    from siraya_frames.emulator._server import Emulator

__all__ = [
    "EchoBackend",
    "Emulator",
    "EmulatorConfig",
    "Faults",
    "OpenAICompatibleBackend",
    "Outcome",
    "ResponderBackend",
    "build_app",
    "chat_completions_body",
    "fault_names",
]

_HOME = {
    "EchoBackend": "_backends",
    "Emulator": "_server",
    "EmulatorConfig": "_config",
    "Faults": "_faults",
    "OpenAICompatibleBackend": "_backends",
    "Outcome": "_model",
    "ResponderBackend": "_backends",
    "build_app": "_app",
    "chat_completions_body": "_backends",
    "fault_names": "_faults",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'siraya_frames.emulator' has no attribute {name!r}")
    module = importlib.import_module(f"siraya_frames.emulator.{_HOME[name]}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
