"""The fault settings a test may change while the emulator runs, and their checks.

Every value is checked for its type, for being finite, and for its range before it replaces
the running settings: a bad value raises ``ConfigurationError`` naming the field, and the
running faults stay as they were.

Examples
--------
>>> Faults().replaced(error_rate=0.25).error_rate
0.25
>>> try:
...     Faults().replaced(seconds_per_request=float("nan"))
... except ConfigurationError as exc:
...     print(exc)
seconds_per_request must be a finite number >= 0, got nan
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from siraya_frames._errors import ConfigurationError

DEFAULT_COMPLETION_WINDOW = 24 * 3600.0
"""Seconds after creation at which an unfinished batch expires (Siraya: "24h")."""
DEFAULT_ERROR_TYPE = "api_error"
DEFAULT_HTTP_ERROR_STATUS = 429
DEFAULT_RETRY_AFTER = 1.0
MAX_DRIP_SECONDS = 10.0
"""Largest pause between two dripped result lines."""

API_ENDPOINTS = (
    *("create", "get", "cancel", "result_file", "list", "delete", "upload", "file"),
    *("messages", "chat_completions"),
)
"""Names of the endpoints that HTTP faults can hit (``http_error_endpoints``)."""


@dataclass
class Faults:
    """Fault injection settings; every field may change while the emulator runs.

    Attributes
    ----------
    seconds_per_request : float
        Time the worker spends on each request (0: as fast as possible).
    error_rate : float
        Fraction of requests whose result is ``errored``. The draw is a seeded hash of
        ``(seed, task_id, custom_id)``: the same run gives the same errors, and a retry in a new
        batch gets a fresh draw.
    error_type : str
        The error type of those results (``api_error``, ``overloaded_error``...).
    error_custom_ids : tuple of str
        custom_ids that always end ``errored`` (with ``error_type``), whatever the rate.
    http_error_rate : float
        Fraction of API calls answered with ``http_error_status`` instead (seeded draw).
    http_error_status : int
        429 (sent with ``Retry-After``), 500, 503 (with ``Retry-After``) or any error status.
    retry_after : float
        Seconds sent in the ``Retry-After`` header of 429 and 503 answers.
    fail_next_calls : int
        The next N API calls fail with ``http_error_status``; counts down to 0.
    http_error_endpoints : tuple of str or None
        Restrict HTTP faults to these endpoints (``create``, ``get``, ``cancel``,
        ``result_file``; on the anthropic and openai dialects also ``list``, ``delete``,
        ``upload``, ``file``; the synchronous ``messages`` and ``chat_completions``); None
        means all of them.
    drop_after_create : int
        The next N accepted creates are stored, then the connection is dropped with no
        answer (``True`` means 1).
    cut_results_after : int or None
        Cut every results download after this many lines (None: never).
    cut_results_times : int or None
        Only cut the next N downloads (None: every download while ``cut_results_after``).
    completion_window : float
        Seconds after creation at which a new batch expires.
    redirect_results : bool
        Result downloads answer 302 to the same server under another host name
        (``127.0.0.1`` ↔ ``localhost``), where the file is served only to a call WITHOUT an
        API key: a client that forwards its key to another origin gets a 400 there.
    drip_results_seconds : float
        Pause between two lines of a result download (0 to 10; a download drips for 60 s
        at most, then sends the rest at once).
    endless_results_times : int
        The next N result downloads repeat their lines without end (the server stops each
        one after 30 s or 1 GiB).
    empty_results_times : int
        The next N result downloads answer 200 with an empty body.
    """

    seconds_per_request: float = 0.0
    error_rate: float = 0.0
    error_type: str = DEFAULT_ERROR_TYPE
    error_custom_ids: tuple[str, ...] = ()
    http_error_rate: float = 0.0
    http_error_status: int = DEFAULT_HTTP_ERROR_STATUS
    retry_after: float = DEFAULT_RETRY_AFTER
    fail_next_calls: int = 0
    http_error_endpoints: tuple[str, ...] | None = None
    drop_after_create: int = 0
    cut_results_after: int | None = None
    cut_results_times: int | None = None
    completion_window: float = DEFAULT_COMPLETION_WINDOW
    redirect_results: bool = False
    drip_results_seconds: float = 0.0
    endless_results_times: int = 0
    empty_results_times: int = 0

    def replaced(self, **changes: Any) -> Faults:
        """Return a copy with ``changes`` applied and checked.

        Examples
        --------
        >>> Faults().replaced(fail_next_calls=2, http_error_status=503).fail_next_calls
        2
        """
        unknown = sorted(set(changes) - set(fault_names()))
        if unknown:
            raise ConfigurationError(
                f"unknown fault option(s) {', '.join(unknown)}; "
                f"valid ones are: {', '.join(fault_names())}"
            )
        return check_faults(dataclasses.replace(self, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["error_custom_ids"] = list(self.error_custom_ids)
        if self.http_error_endpoints is not None:
            out["http_error_endpoints"] = list(self.http_error_endpoints)
        return out


def fault_names() -> list[str]:
    """Return the names of the fault options, sorted.

    Examples
    --------
    >>> "error_rate" in fault_names()
    True
    """
    return sorted(f.name for f in fields(Faults))


def _number(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    real = isinstance(value, int | float) and not isinstance(value, bool)
    above = real and (value > low if low_open else value >= low)
    if above and math.isfinite(value) and value <= high:
        return float(value)
    if math.isinf(high):
        bound = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        bound = f"between {low:g} and {high:g} (a finite number)"
    raise ConfigurationError(f"{name} must be {bound}, got {value!r}")


def _count(name: str, value: Any, low: int = 0, high: int = 2**31) -> int:
    if isinstance(value, bool) and name == "drop_after_create":
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be a whole number from {low} to {high}, got {value!r}"
        )
    return value


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(f"{name} must be a list of strings, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        raise ConfigurationError(f"{name} must be a list of strings, got {value!r}")
    return tuple(value)


def check_faults(f: Faults) -> Faults:
    """Check every field of ``f`` (type, finite, range); return it with values normalised.

    Raises
    ------
    ConfigurationError
        Naming the first wrong field, its value and what it must be.
    """
    inf = math.inf
    f.seconds_per_request = _number("seconds_per_request", f.seconds_per_request, 0, inf)
    f.error_rate = _number("error_rate", f.error_rate, 0, 1)
    f.http_error_rate = _number("http_error_rate", f.http_error_rate, 0, 1)
    f.retry_after = _number("retry_after", f.retry_after, 0, inf)
    f.completion_window = _number("completion_window", f.completion_window, 0, inf, low_open=True)
    f.drip_results_seconds = _number("drip_results_seconds", f.drip_results_seconds, 0, 10)
    if not isinstance(f.error_type, str) or not f.error_type:
        raise ConfigurationError(f"error_type must be a non-empty string, got {f.error_type!r}")
    f.http_error_status = _count("http_error_status", f.http_error_status, 400, 599)
    for name in ("fail_next_calls", "drop_after_create", "endless_results_times"):
        setattr(f, name, _count(name, getattr(f, name)))
    f.empty_results_times = _count("empty_results_times", f.empty_results_times)
    for name in ("cut_results_after", "cut_results_times"):
        if getattr(f, name) is not None:
            setattr(f, name, _count(name, getattr(f, name)))
    if not isinstance(f.redirect_results, bool):
        raise ConfigurationError(
            f"redirect_results must be true or false, got {f.redirect_results!r}"
        )
    f.error_custom_ids = _strings("error_custom_ids", f.error_custom_ids)
    if f.http_error_endpoints is not None:
        f.http_error_endpoints = _strings("http_error_endpoints", f.http_error_endpoints)
        bad = sorted(set(f.http_error_endpoints) - set(API_ENDPOINTS))
        if bad:
            raise ConfigurationError(
                f"unknown endpoint(s) {', '.join(bad)} in http_error_endpoints; "
                f"valid ones are: {', '.join(API_ENDPOINTS)}"
            )
    return f
