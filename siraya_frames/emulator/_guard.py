"""Read deadlines for uvicorn's h11 protocol: slow connections cannot hold the server.

uvicorn has no deadline on a request's headers: its keep-alive timer is not armed on a new
connection and is cancelled by any byte received, so a client that trickles one header line
at a time holds its connection (and a slot of ``limit_concurrency``) for ever. `guarded`
returns an h11 protocol class that closes a connection when

* its request headers are not complete ``timeout`` seconds after the connection opened (or
  after the previous response, on a kept-alive connection), or
* its request body stops arriving for ``timeout`` seconds.

Examples
--------
>>> guarded(5.0).timeout
5.0
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a body idle deadline."""

    timeout: float = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm()
        elif state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.transport.close()


def guarded(timeout: float) -> type[GuardedH11Protocol]:
    """Return the protocol class with this read deadline, in seconds."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"timeout": float(timeout)})
