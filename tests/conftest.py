"""What every test shares: no default requests-per-minute budget.

The clients' default budget (``rate_limit``: anthropic 50, openai 300, siraya 120 a minute)
applies to any service not on this machine, and the fake services of these tests answer at
made-up https hosts: with the budget they would sleep for real. ``tests/test_ratelimit.py``
sets it explicitly where it is what is tested.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_default_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIRAYA_RATE_LIMIT", "0")
