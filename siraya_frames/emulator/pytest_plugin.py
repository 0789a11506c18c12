"""pytest fixtures for the emulator.

Enable with ``pytest_plugins = ["siraya_frames.emulator.pytest_plugin"]`` in a conftest.

* ``siraya_emulator``: a running `Emulator` with the default options (function scope);
* ``siraya_emulator_factory``: ``make(**options) -> Emulator``, started; every emulator it
  made is closed at the end of the test.

Examples
--------
A test using them::

    def test_labels(siraya_emulator_factory):
        emu = siraya_emulator_factory(api_key="k", error_rate=0.2)
        ...  # point the client at emu.base_url
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from siraya_frames.emulator._server import Emulator


@pytest.fixture
def siraya_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Make started emulators with the given options; close them all afterwards."""
    made: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        emulator = Emulator(**options).start()
        made.append(emulator)
        return emulator

    yield make
    for emulator in reversed(made):
        emulator.close()


@pytest.fixture
def siraya_emulator(siraya_emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A running emulator with the default options (quickstart dialect, echo answers)."""
    return siraya_emulator_factory()
