"""Every option of the emulator, with its default, in one place.

`EmulatorConfig` holds what is fixed at start (dialect, result format, backend, limits, data
directory). `Faults` holds what a test may change while the emulator runs (error rates, delays,
dropped connections); ``Emulator.set_faults`` and ``POST /_emulator/faults`` replace its fields.

Examples
--------
>>> cfg = EmulatorConfig(dialect="infron", error_rate=0.1)
>>> cfg.validate().dialect, cfg.faults().error_rate
('infron', 0.1)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from siraya_frames._errors import ConfigurationError
from siraya_frames.emulator._faults import (
    API_ENDPOINTS,
    DEFAULT_COMPLETION_WINDOW,
    DEFAULT_ERROR_TYPE,
    DEFAULT_HTTP_ERROR_STATUS,
    DEFAULT_RETRY_AFTER,
    Faults,
    check_faults,
    fault_names,
)

__all__ = [
    "API_ENDPOINTS",
    "DEFAULT_COMPLETION_WINDOW",
    "DEFAULT_ERROR_TYPE",
    "DEFAULT_HTTP_ERROR_STATUS",
    "DEFAULT_RETRY_AFTER",
    "EmulatorConfig",
    "Faults",
    "fault_names",
]

DIALECTS = ("quickstart", "reference", "infron", "anthropic", "openai")
"""Wire dialects: Siraya's three (see ``_shapes``), Anthropic Message Batches (``_anthropic``)
and OpenAI's file-based Batch API (``_openai``)."""
RESULTS_FORMATS = ("anthropic", "openai")
"""Shapes of one result line in a JSONL result file."""
BACKENDS = ("echo", "openai-compatible")
"""Where answers come from; a ``responder`` callable overrides both."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_CLI_PORT = 8000
DEFAULT_MAX_REQUESTS = 100_000
"""Requests per batch (Anthropic's documented limit)."""
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Bytes of one create body (Anthropic's documented 256 MB)."""
OPENAI_MAX_REQUESTS = 50_000
"""Requests per batch of the ``openai`` dialect (OpenAI's documented limit)."""
OPENAI_MAX_FILE_BYTES = 200 * 1024 * 1024
"""Bytes of one uploaded file of the ``openai`` dialect (OpenAI's documented 200 MB)."""
DEFAULT_UPSTREAM_CONCURRENCY = 4
DEFAULT_LIMIT_CONCURRENCY = 256
"""Connections plus requests in flight before new requests get 503 (uvicorn's limit)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds a connection may take to send its request headers, or pause in its body."""
DEFAULT_KEEP_ALIVE = 5.0
"""Seconds an idle kept-alive connection stays open."""
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
"""Bytes of request line plus headers (h11's incomplete event size)."""
DEFAULT_UPSTREAM_TIMEOUT = 60.0
ENV_API_KEY = "SIRAYA_EMULATOR_API_KEY"

Responder = Callable[..., Any]
"""``responder(params, *, custom_id) -> str | dict``; see ``_backends.ResponderBackend``."""


@dataclass
class EmulatorConfig(Faults):
    """Everything the emulator is started with.

    It inherits the fault fields of `Faults`: their values here are the starting values of
    the faults; the rest is fixed until the emulator is restarted.

    Attributes
    ----------
    host : str
        Interface to listen on (``127.0.0.1``).
    port : int
        Port to listen on; 0 picks a free one.
    api_key : str or None
        When set, every API and admin call needs ``Authorization: Bearer <api_key>``
        (``x-api-key: <api_key>`` on the anthropic dialect).
    dialect : str
        ``quickstart`` (Siraya quickstart page), ``reference`` (Siraya API reference pages),
        ``infron`` (Infron/OneRouter status object with a ``result_url``), ``anthropic``
        (Message Batches, ``x-api-key`` auth; SDK base URL: `Emulator.url`) or ``openai``
        (files + batches, Bearer auth; SDK base URL: `Emulator.base_url`).
    results_format : str
        ``anthropic`` or ``openai`` result lines (JSONL dialects only).
    backend : str
        ``echo`` (synthetic answers) or ``openai-compatible`` (forwards to ``upstream_url``).
    upstream_url, upstream_api_key, upstream_model : str or None
        The chat-completions server (e.g. ``http://127.0.0.1:11434/v1``), its key, and a
        model name that replaces each request's model (None keeps it).
    upstream_concurrency : int
        Requests in flight at once to the upstream.
    upstream_timeout : float
        Seconds allowed for one upstream call.
    responder : callable or None
        ``responder(params, *, custom_id)`` returning the answer text or an error dict;
        overrides ``backend``.
    data_dir : str or None
        Folder of the SQLite state; None makes a temporary one removed on close.
    max_requests, max_bytes : int
        Create-time limits: more requests gives 400, a larger body 413 (the openai dialect
        caps them at its own 50,000 requests and 200 MB per file).
    result_host : str or None
        Host name written in infron ``result_url``s (None: the host the client called).
    seed : int
        Seed of the error draws, so runs are reproducible.
    limit_concurrency : int
        Connections plus requests in flight at once; more requests get 503.
    timeout : float
        Seconds a connection may take to send its request headers, or pause in its body,
        before it is closed (slow clients cannot hold the server).
    insecure_no_key : bool
        Allow a non-loopback ``host`` without ``api_key`` (the API is then open to anyone
        who can reach it; the ``/_emulator/*`` admin endpoints stay closed).
    models : sequence of str or None
        The models ``GET /v1/models`` lists (in the dialect's shape). None (default) lists
        none: the emulator answers any model, and a client checks no name against it.
    """

    host: str = DEFAULT_HOST
    port: int = 0
    api_key: str | None = None
    dialect: str = "quickstart"
    results_format: str = "anthropic"
    backend: str = "echo"
    upstream_url: str | None = None
    upstream_api_key: str | None = None
    upstream_model: str | None = None
    upstream_concurrency: int = DEFAULT_UPSTREAM_CONCURRENCY
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    responder: Responder | None = None
    data_dir: str | os.PathLike[str] | None = None
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_bytes: int = DEFAULT_MAX_BYTES
    result_host: str | None = None
    seed: int = 0
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    insecure_no_key: bool = False
    models: Sequence[str] | None = None

    @property
    def loopback(self) -> bool:
        """Whether ``host`` is a loopback interface (reachable from this machine only)."""
        return is_loopback(self.host)

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["api_key"] is not None:
            shown["api_key"] = "***"
        if shown["upstream_api_key"] is not None:
            shown["upstream_api_key"] = "***"
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"EmulatorConfig({inner})"

    def faults(self) -> Faults:
        """Return the starting fault settings held by this config."""
        values = {name: getattr(self, name) for name in fault_names()}
        return check_faults(Faults(**values))

    def validate(self) -> EmulatorConfig:
        """Check the choices; return self or raise ``ConfigurationError`` naming the fix."""
        _check_choice("dialect", self.dialect, DIALECTS)
        _check_choice("results_format", self.results_format, RESULTS_FORMATS)
        _check_choice("backend", self.backend, BACKENDS)
        if self.backend == "openai-compatible" and self.responder is None and not self.upstream_url:
            raise ConfigurationError(
                "backend 'openai-compatible' needs upstream_url (e.g. http://127.0.0.1:11434/v1)"
            )
        if self.max_requests < 1 or self.max_bytes < 1 or self.upstream_concurrency < 1:
            raise ConfigurationError("max_requests, max_bytes, upstream_concurrency must be >= 1")
        if self.limit_concurrency < 1 or not 0 < self.timeout < float("inf"):
            raise ConfigurationError(
                "limit_concurrency must be >= 1 and timeout a finite number of seconds > 0 "
                f"(got {self.limit_concurrency!r}, {self.timeout!r})"
            )
        if not self.loopback and not self.api_key and not self.insecure_no_key:
            raise ConfigurationError(
                f"host {self.host!r} is reachable from other machines and no API key is set: "
                f"give api_key (--api-key or ${ENV_API_KEY}), serve on 127.0.0.1, or pass "
                "insecure_no_key=True (--insecure-no-key) to serve an open API on purpose"
            )
        _check_models(self.models)
        self.faults()
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback interface.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(f"{name} {value!r} is not one of: {', '.join(allowed)}")


def _check_models(models: Sequence[str] | None) -> None:
    if models is None:
        return
    if isinstance(models, str) or not all(isinstance(m, str) and m.strip() for m in models):
        raise ConfigurationError(
            f"models must be a list of model names (non-empty strings), got {models!r}; "
            "e.g. models=['openai/gpt-4o-mini-batch'] (serve: --models a,b)"
        )
