"""Hostile result downloads: a redirect to another origin, a slow drip, an endless stream.

Each is a small wrapper over the stream of rendered chunks of a download, bounded so that a
broken client cannot hang a test for ever.

Examples
--------
>>> other_host("127.0.0.1"), other_host("localhost"), other_host("::1")
('localhost', '127.0.0.1', 'localhost')
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

DRIP_CAP_SECONDS = 60.0
"""A dripped download pauses for this long at most, then sends the rest at once."""
ENDLESS_CAP_SECONDS = 30.0
ENDLESS_CAP_BYTES = 1024**3
"""An endless download is stopped by the server after this long or this many bytes."""
REDIRECT_PATH = "/files/redirected/{batch_id}/{which}"
"""Route of the redirected file host: serves a download only to a call without a key."""


def other_host(host: str) -> str:
    """Return the other name of this loopback server: ``localhost`` ↔ ``127.0.0.1``."""
    return "localhost" if host in ("127.0.0.1", "::1") else "127.0.0.1"


def redirect_url(*, scheme: str, host: str, port: int | None, path: str, sig: str) -> str:
    """Return the URL of a download on the other origin of the same server.

    Examples
    --------
    >>> redirect_url(scheme="http", host="127.0.0.1", port=80, path="/f/b/all", sig="s")
    'http://localhost:80/f/b/all?sig=s'
    """
    netloc = other_host(host) + (f":{port}" if port else "")
    return f"{scheme}://{netloc}{path}?sig={sig}"


async def drip(chunks: AsyncIterator[str], pause: float) -> AsyncIterator[str]:
    """Yield the lines of ``chunks`` one at a time, ``pause`` seconds apart (capped)."""
    deadline = time.monotonic() + DRIP_CAP_SECONDS
    async for chunk in chunks:
        for line in chunk.splitlines(keepends=True):
            if time.monotonic() < deadline:
                await asyncio.sleep(pause)
            yield line


async def endless(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield ``chunks``, then repeat the last one until the time or byte cap."""
    deadline = time.monotonic() + ENDLESS_CAP_SECONDS
    sent = 0
    last = "\n"
    async for chunk in chunks:
        last = chunk or last
        sent += len(chunk)
        yield chunk
    while time.monotonic() < deadline and sent < ENDLESS_CAP_BYTES:
        sent += len(last)
        yield last
        await asyncio.sleep(0)
