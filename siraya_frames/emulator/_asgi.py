"""The ASGI edge: the outermost middleware that logs every call, and dropping a connection.

Examples
--------
>>> ENDPOINT
'siraya_emulator.endpoint'
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siraya_frames.emulator._runtime import Runtime

RAW_SEND = "siraya_emulator.raw_send"
"""Scope key of the server's own ``send``, through which a connection can be dropped."""
DROPPED = "siraya_emulator.dropped"
LOG_NOW = "siraya_emulator.log_now"
ENDPOINT = "siraya_emulator.endpoint"


async def drop_connection(scope: Scope, *, flush: bool) -> None:
    """Close the client connection now, with no (further) answer.

    ``flush`` sends what was already written first (a cut stream); otherwise the connection
    is aborted (a dropped create). Outside uvicorn (e.g. ``httpx.ASGITransport``), raises
    ``httpx.RemoteProtocolError``, which is what a client would have seen.
    """
    scope[DROPPED] = True
    log_now = scope.get(LOG_NOW)
    if log_now is not None:
        log_now(None)
    cycle = getattr(scope.get(RAW_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise httpx.RemoteProtocolError("connection dropped by the emulator (fault injection)")
    if flush:
        transport.close()
    else:
        transport.abort()
    for _ in range(400):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.005)


class Outermost:
    """Keeps the server's ``send`` in the scope and logs each call."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[RAW_SEND] = send
        logged: list[bool] = []

        def log(status: int | None) -> None:
            if logged:
                return
            logged.append(True)
            headers = dict(scope.get("headers") or [])
            self.runtime.log_call(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "endpoint": scope.get(ENDPOINT, "other"),
                    "status": None if scope.get(DROPPED) else status,
                    "authorization": b"authorization" in headers or b"x-api-key" in headers,
                    "host": headers.get(b"host", b"").decode("latin-1"),
                }
            )

        scope[LOG_NOW] = log

        async def send_and_log(message: Message) -> None:
            if message["type"] == "http.response.start":
                log(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_log)
        finally:
            log(None)
