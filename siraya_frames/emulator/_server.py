"""`Emulator`: the emulator running on a real socket, in background threads.

uvicorn serves the app from its own thread and event loop; a worker thread processes the
batches. State lives in SQLite under ``data_dir`` (a temporary folder unless given).

Examples
--------
>>> import httpx
>>> with Emulator() as emu:
...     body = {"requests": [{"custom_id": "r1", "params": {"model": "m", "max_tokens": 9,
...             "messages": [{"role": "user", "content": "hello there"}]}}]}
...     batch_id = httpx.post(emu.base_url + "/batches", json=body).json()["batch_id"]
...     _ = emu.wait(batch_id)
...     line = httpx.get(f"{emu.base_url}/batches/{batch_id}").json()
>>> line["result"]["message"]["content"][0]["text"]
'hello there'
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from siraya_frames._errors import ConfigurationError
from siraya_frames.emulator._app import build_app
from siraya_frames.emulator._backends import Backend, make_backend
from siraya_frames.emulator._config import (
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_HEADER_BYTES,
    EmulatorConfig,
)
from siraya_frames.emulator._faults import Faults
from siraya_frames.emulator._guard import guarded
from siraya_frames.emulator._model import EXPIRED, EXPIRED_RESULT
from siraya_frames.emulator._runtime import Runtime
from siraya_frames.emulator._shapes import batch_object
from siraya_frames.emulator._store import Store
from siraya_frames.emulator._worker import Worker

DB_NAME = "emulator.sqlite3"
START_TIMEOUT = 10.0


def open_store(data_dir: Path) -> Store:
    """Open (or create) the state in ``data_dir``.

    Raises
    ------
    ConfigurationError
        When the folder cannot be created or written, is a file, or holds a damaged
        database: one message naming the path and the fix.
    """
    where = f"data_dir {str(data_dir)!r}"
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigurationError(f"{where} is a file, not a folder; give a folder's path")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"{where} cannot be created ({exc.strerror}); choose another"
        ) from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{where} is not writable; fix its permissions or choose another")
    try:
        return Store(str(data_dir / DB_NAME))
    except (sqlite3.Error, OSError) as exc:
        raise ConfigurationError(
            f"{where}: {DB_NAME} cannot be opened as the emulator's database ({exc}); move the "
            "damaged file away or choose another folder"
        ) from None


class Emulator:
    """A local Siraya batch API, on ``http://127.0.0.1:<free port>/v1``.

    Parameters
    ----------
    config
        All options at once; keyword ``options`` override its fields (see `EmulatorConfig`
        for every option and its default, e.g. ``api_key``, ``dialect``,
        ``results_format``, ``seconds_per_request``, ``error_rate``, ``responder``).

    Examples
    --------
    >>> with Emulator(dialect="infron", api_key="k") as emu:
    ...     emu.base_url.startswith("http://127.0.0.1:"), emu.stats()["batches"]
    (True, 0)
    """

    def __init__(self, config: EmulatorConfig | None = None, **options: Any) -> None:
        self.config = dataclasses.replace(config or EmulatorConfig(), **options).validate()
        self._owns_dir = self.config.data_dir is None
        self._data_dir = Path(self.config.data_dir) if self.config.data_dir else None
        if self._data_dir is not None:
            open_store(self._data_dir).close()
        self._port = self.config.port
        self._faults: Faults | None = None
        self._runtime: Runtime | None = None
        self._worker: Worker | None = None
        self._backend: Backend | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app: Any = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Emulator {state} {self.url} dialect={self.config.dialect!r}>"

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321``."""
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:54321/v1``.

        Give it to `SirayaClient` and to ``openai.OpenAI(base_url=...)``; the Anthropic SDK
        adds ``/v1`` itself, so give ``anthropic.Anthropic(base_url=...)`` `url` instead.
        """
        return self.url + "/v1"

    @property
    def data_dir(self) -> Path:
        """The folder holding the SQLite state."""
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="siraya-emulator-"))
        return self._data_dir

    @property
    def app(self) -> Any:
        """The running ASGI app, for in-process async clients.

        ``httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app))`` talks to the same
        state as `base_url`, with no socket. A dropped connection or a cut stream then
        surfaces as ``httpx.RemoteProtocolError`` raised by the app.
        """
        self._live()
        return self._app

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start serving (again, on the same port and data after a `stop`); return self."""
        if self.running:
            return self
        store = open_store(self.data_dir)
        runtime = Runtime(self.config, store, faults=self._faults)
        self._backend = make_backend(self.config)
        self._worker = Worker(runtime, self._backend)
        runtime.wake_worker = self._worker.wake
        runtime.backend = self._backend
        self._runtime = runtime
        self._app = build_app(runtime)
        sock = self._bind()
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=guarded(self.config.timeout),
            loop="asyncio",  # the same loop whatever is installed (uvicorn[standard]: uvloop)
            limit_concurrency=self.config.limit_concurrency,
            # uvicorn annotates an int but only passes it to call_later: seconds, float ok
            timeout_keep_alive=min(DEFAULT_KEEP_ALIVE, self.config.timeout),  # type: ignore[arg-type]
            h11_max_incomplete_event_size=DEFAULT_MAX_HEADER_BYTES,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="siraya-emulator-http"
        )
        self._thread.daemon = True
        self._thread.start()
        self._worker.start()
        self._wait_started()
        return self

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self._port))
        sock.listen(128)
        self._port = sock.getsockname()[1]
        return sock

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start on {self.url}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving and processing; the data directory is kept (see `close`)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        if self._worker is not None:
            self._worker.stop()
        if self._backend is not None:
            self._backend.close()
        if self._runtime is not None:
            self._faults = self._runtime.faults
            self._runtime.store.close()
        self._server = self._thread = self._worker = self._backend = self._runtime = None

    def close(self) -> None:
        """Stop, and remove the data directory if it was a temporary one."""
        self.stop()
        if self._owns_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    # -- test helpers ------------------------------------------------------------------------

    def _live(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the emulator is not running; call start() or use `with`")
        return self._runtime

    @property
    def faults(self) -> Faults:
        """The current fault settings."""
        return self._live().faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change fault settings while running (see `Faults`); return the new settings.

        Examples
        --------
        >>> with Emulator() as emu:
        ...     emu.set_faults(fail_next_calls=2, http_error_status=503).fail_next_calls
        2
        """
        return self._live().set_faults(**changes)

    def stats(self) -> dict[str, Any]:
        """Return counters: batches, creates accepted/replayed/rejected, calls per endpoint..."""
        return self._live().stats()

    def calls(self) -> list[dict[str, Any]]:
        """Return the recent HTTP calls: method, path, endpoint, status, authorization, host."""
        return self._live().calls()

    def batch(self, batch_id: str) -> dict[str, Any]:
        """Return a batch as the OpenAI-style object, whatever the dialect.

        Raises
        ------
        KeyError
            For an unknown batch id.
        """
        found = self._live().store.get(batch_id)
        if found is None:
            raise KeyError(batch_id)
        return batch_object(found) | {"total": found.total}

    def expire(self, batch_id: str) -> dict[str, Any]:
        """Expire a batch now: its unprocessed requests end ``expired``."""
        store = self._live().store
        found = store.get(batch_id)
        if found is None:
            raise KeyError(batch_id)
        store.close_pending(found.seq, EXPIRED_RESULT, EXPIRED, time.time())
        return self.batch(batch_id)

    def wait(self, batch_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Block until a batch has ended; return it (see `batch`).

        Raises
        ------
        TimeoutError
            When it has not ended within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.batch(batch_id)
            if found["status"] in ("completed", "cancelled", "expired", "failed"):
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} still {found['status']} after {timeout} s")
            time.sleep(0.01)
