"""Defaults and the one place where settings are resolved.

Order for every setting: the argument, then the ``SIRAYA_*`` environment variable, then the
``DEFAULT_*`` constant below. Nothing is read at import time.

Examples
--------
>>> resolve_base_url("http://127.0.0.1:8000/v1/")
'http://127.0.0.1:8000/v1'
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from siraya_frames._errors import ConfigurationError

DEFAULT_BASE_URL = "https://llm.siraya.pro/v1"
DEFAULT_TIMEOUT = 60.0
"""Seconds one API call (create, status, cancel, list, upload) may take in all: connect,
send, every read, redirects included. A server that drips bytes cannot hold a call longer."""
DEFAULT_DOWNLOAD_TIMEOUT = 3600.0
"""Seconds one results download may take in all (a stall is still cut after ``timeout``)."""
DEFAULT_MAX_RESULT_BYTES = 4 << 30
"""Bytes of one results download when the caller gives no cap (a job derives its own)."""
DEFAULT_MAX_ATTEMPTS = 6
"""Attempts of one retryable HTTP call, the first included."""
DEFAULT_MAX_RETRY_SECONDS = 300.0
"""Total seconds one HTTP call may spend retrying."""
DEFAULT_MAX_REQUESTS = 5_000
"""Requests per batch. Siraya documents no limit; 5,000 is the tightest documented by a peer
service with inline requests (OpenRouter), and keeps each create body a modest upload."""
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
"""Bytes of one create body (50 MiB). Peers allow 100 MB (OpenAI) to 256 MB (Anthropic); an
inline POST that large is fragile, so we stay well under."""
DEFAULT_MIN_POLL_INTERVAL = 2.0
"""The shortest wait between two polls that a batch's expiry can force. A batch past its
``expires_at`` but still running (clock skew, a slow service) is polled at this pace, not in
a loop. ``PollSchedule(minimum=...)`` changes it."""
DEFAULT_JOB_ROOT = ".siraya_frames"
"""Where jobs live when no ``job_dir`` is given (relative to the working directory)."""

ENV_API_KEY = "SIRAYA_API_KEY"
ENV_BASE_URL = "SIRAYA_BASE_URL"
ENV_ALLOW_HTTP = "SIRAYA_ALLOW_INSECURE_HTTP"
ENV_JOB_ROOT = "SIRAYA_JOB_ROOT"
ENV_PROTOCOL = "SIRAYA_PROTOCOL"
DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` when ``run`` is not told: the quickstart's value."""
DEFAULT_PROTOCOL = "siraya"
"""The wire protocol: ``siraya``, ``anthropic`` (Message Batches) or ``openai`` (file Batch)."""

_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def resolve_protocol(protocol: str | None) -> str:
    """Return the protocol name from the argument, ``SIRAYA_PROTOCOL`` or ``"siraya"``.

    Examples
    --------
    >>> resolve_protocol("openai")
    'openai'
    """
    return protocol or os.environ.get(ENV_PROTOCOL) or DEFAULT_PROTOCOL


def resolve_api_key(
    api_key: str | None, *, env_var: str = ENV_API_KEY, service: str = "Siraya"
) -> str:
    """Return the API key from the argument or the protocol's variable (``SIRAYA_API_KEY``).

    Raises
    ------
    ConfigurationError
        When neither is set; the message names both fixes.
    """
    key = api_key if api_key is not None else os.environ.get(env_var)
    if not key:
        raise ConfigurationError(
            f"No {service} API key: pass api_key=... to the client, or set the environment "
            f"variable {env_var} (the siraya-frames command reads it from there)."
        )
    return key


def is_loopback(host: str | None) -> bool:
    """Tell whether a host name is this machine (127.0.0.0/8, ::1 or localhost).

    Examples
    --------
    >>> is_loopback("127.0.0.5"), is_loopback("example.com")
    (True, False)
    """
    if not host:
        return False
    return host in _LOOPBACK or host.startswith("127.")


def resolve_base_url(
    base_url: str | None,
    *,
    allow_insecure_http: bool | None = None,
    env_var: str = ENV_BASE_URL,
    default: str = DEFAULT_BASE_URL,
) -> str:
    """Return the base URL from the argument, the protocol's variable (``SIRAYA_BASE_URL``)
    or its default.

    Plain ``http://`` is accepted only for loopback hosts, unless ``allow_insecure_http`` (or
    ``SIRAYA_ALLOW_INSECURE_HTTP=1``) says otherwise: the API key would travel in clear text.
    """
    url = base_url or os.environ.get(env_var) or default
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url {url!r} is not an http(s) URL; expected e.g. {default!r}."
        )
    if (
        parts.scheme == "http"
        and not is_loopback(parts.hostname)
        and not allow_insecure(allow_insecure_http)
    ):
        raise ConfigurationError(
            f"base_url {url!r} uses plain http to a host that is not this machine, so the API "
            "key would travel unencrypted. Use https, or pass allow_insecure_http=True (or set "
            f"{ENV_ALLOW_HTTP}=1) if you really mean it."
        )
    return url


def allow_insecure(allow_insecure_http: bool | None) -> bool:
    """The argument, else ``SIRAYA_ALLOW_INSECURE_HTTP`` (1, true or yes), else False."""
    if allow_insecure_http is not None:
        return allow_insecure_http
    return os.environ.get(ENV_ALLOW_HTTP, "").lower() in ("1", "true", "yes")


def resolve_job_root(job_root: str | os.PathLike[str] | None = None) -> str:
    """Return the folder under which default job directories are made."""
    return os.fspath(job_root or os.environ.get(ENV_JOB_ROOT) or DEFAULT_JOB_ROOT)


DEFAULT_MAX_CONCURRENCY = 4
"""Calls (creates, polls, downloads) one client has in flight at once. Small: the budget
that binds is the service's requests per minute (``rate_limit``), not our connections."""
ENV_MAX_CONCURRENCY = "SIRAYA_MAX_CONCURRENCY"
ENV_RATE_LIMIT = "SIRAYA_RATE_LIMIT"


def _number(value: str, env_var: str) -> float:
    try:
        return float(value)
    except ValueError:
        message = f"{env_var}={value!r} is not a number; unset it or fix it"
        raise ConfigurationError(message) from None


def resolve_max_concurrency(max_concurrency: int | None) -> int:
    """Return the calls in flight at once: the argument, ``SIRAYA_MAX_CONCURRENCY`` or 4.

    Examples
    --------
    >>> resolve_max_concurrency(8)
    8
    """
    env = os.environ.get(ENV_MAX_CONCURRENCY)
    value = max_concurrency if max_concurrency is not None else env
    value = DEFAULT_MAX_CONCURRENCY if value is None or value == "" else value
    number = _number(value, ENV_MAX_CONCURRENCY) if isinstance(value, str) else value
    if number != int(number) or int(number) < 1:
        raise ConfigurationError(
            f"max_concurrency={value!r}: give a whole number of calls of at least 1 "
            f"(argument max_concurrency=, or {ENV_MAX_CONCURRENCY})"
        )
    return int(number)


def resolve_rate_limit(
    rate_limit: float | None, *, default: float | None, base_url: str
) -> float | None:
    """Return the requests per minute of a client, or None for no limit.

    The argument, then ``SIRAYA_RATE_LIMIT``, then the protocol's ``default`` (not applied
    to a service on this machine: the emulator or a local server has no such budget);
    0 means no limit.

    Examples
    --------
    >>> resolve_rate_limit(None, default=50, base_url="https://api.anthropic.com/v1")
    50
    >>> resolve_rate_limit(None, default=50, base_url="http://127.0.0.1:8000/v1") is None
    True
    >>> resolve_rate_limit(0, default=50, base_url="https://api.anthropic.com/v1") is None
    True
    """
    env = os.environ.get(ENV_RATE_LIMIT)
    if rate_limit is None and env:
        rate_limit = _number(env, ENV_RATE_LIMIT)
    if rate_limit is None:
        return None if is_loopback(urlsplit(base_url).hostname) else default
    if not rate_limit >= 0:
        raise ConfigurationError(
            f"rate_limit={rate_limit!r}: give requests per minute (a positive number), or 0 "
            f"for no limit (argument rate_limit=, or {ENV_RATE_LIMIT})"
        )
    return rate_limit or None


ENV_ANSWERS_DIR = "SIRAYA_ANSWERS_DIR"
DEFAULT_ANSWERS_FOLDER = "answers"
"""The answer store's folder under the job root (``<job root>/answers``) by default."""


def resolve_answers_dir(answers_dir: str | os.PathLike[str] | None = None) -> str:
    """Return the answer store's folder: the argument, ``SIRAYA_ANSWERS_DIR``, else
    ``<job root>/answers``.

    Examples
    --------
    >>> resolve_answers_dir("/tmp/a")
    '/tmp/a'
    """
    if answers_dir or os.environ.get(ENV_ANSWERS_DIR):
        return os.fspath(answers_dir or os.environ[ENV_ANSWERS_DIR])
    return os.path.join(resolve_job_root(), DEFAULT_ANSWERS_FOLDER)
