"""``siraya-frames serve``: run the emulator in the foreground.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--dialect", "infron", "--error-rate", "0.1"])
>>> config_from_args(args).dialect, config_from_args(args).error_rate
('infron', 0.1)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from siraya_frames._errors import ConfigurationError
from siraya_frames.emulator._config import (
    BACKENDS,
    DEFAULT_CLI_PORT,
    DEFAULT_COMPLETION_WINDOW,
    DEFAULT_ERROR_TYPE,
    DEFAULT_HOST,
    DEFAULT_HTTP_ERROR_STATUS,
    DEFAULT_LIMIT_CONCURRENCY,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_REQUESTS,
    DEFAULT_TIMEOUT,
    DIALECTS,
    ENV_API_KEY,
    RESULTS_FORMATS,
    EmulatorConfig,
)

DESCRIPTION = """\
Run a local emulator of Siraya AI's batch API (create, status/results, cancel), with
synthetic answers and optional fault injection. Point a client at the printed base URL.

example:
  siraya-frames serve --port 8000 --api-key test-key --error-rate 0.05
  export SIRAYA_BASE_URL=http://127.0.0.1:8000/v1 SIRAYA_API_KEY=test-key

On a host other than 127.0.0.1/localhost, --api-key is required (or --insecure-no-key);
the /_emulator/* admin endpoints then need the key (closed without one).

hostile result downloads (for chaos tests; also settable at run time through
POST /_emulator/faults):
  --redirect-results         302 to the same server under another host name
                             (127.0.0.1 <-> localhost) that refuses calls carrying a key
  --drip-results-seconds S   pause S seconds between result lines (60 s at most)
  --endless-results-times N  the next N downloads repeat their lines without end
                             (cut by the server after 30 s or 1 GiB)
  --empty-results-times N    the next N downloads answer 200 with an empty body
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_arguments(p)
    >>> p.parse_args([]).port
    8000
    """
    if parser.description is None:
        parser.description = DESCRIPTION
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("--host", default=DEFAULT_HOST, help="interface to listen on (default: %(default)s)")
    add(
        "--port",
        type=int,
        default=DEFAULT_CLI_PORT,
        help="port, 0 for any free one (default: %(default)s)",
    )
    add(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (or x-api-key: KEY, anthropic) on every call "
        f"(default: ${ENV_API_KEY}, else no auth)",
    )
    add(
        "--dialect",
        choices=DIALECTS,
        default="quickstart",
        help="which documented response "
        "shapes to speak: the Siraya quickstart page, the API reference pages, Infron's "
        "status object with a result_url, Anthropic's Message Batches (SDK base URL: the "
        "root, without /v1) or OpenAI's files + batches (default: %(default)s)",
    )
    add(
        "--results-format",
        choices=RESULTS_FORMATS,
        default="anthropic",
        help="shape of each result line (default: %(default)s)",
    )
    add(
        "--backend",
        choices=BACKENDS,
        default="echo",
        help="echo: answer with the last user "
        "message (synthetic); openai-compatible: forward to --upstream-url (default: echo)",
    )
    add(
        "--upstream-url",
        default=None,
        help="chat-completions base URL for the "
        "openai-compatible backend, e.g. http://127.0.0.1:11434/v1",
    )
    add(
        "--data-dir",
        default=None,
        help="keep state in this folder so a restart keeps the "
        "batches (default: a temporary folder, removed on exit)",
    )
    add(
        "--seconds-per-request",
        type=float,
        default=0.0,
        help="time spent on each request, to watch batches progress (default: 0)",
    )
    add(
        "--error-rate",
        type=float,
        default=0.0,
        help="fraction of requests whose result is an error (default: 0)",
    )
    add(
        "--error-type",
        default=DEFAULT_ERROR_TYPE,
        help="error type of those results (default: %(default)s)",
    )
    add(
        "--http-error-rate",
        type=float,
        default=0.0,
        help="fraction of API calls answered with --http-error-status (default: 0)",
    )
    add(
        "--http-error-status",
        type=int,
        default=DEFAULT_HTTP_ERROR_STATUS,
        help="status of "
        "injected HTTP errors: 429 (with Retry-After), 500, 503 (default: %(default)s)",
    )
    add(
        "--completion-window",
        type=float,
        default=DEFAULT_COMPLETION_WINDOW,
        help="seconds before an unfinished batch expires (default: %(default)s, 24 h)",
    )
    add(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        help="most requests per batch (default: %(default)s)",
    )
    add(
        "--limit-concurrency",
        type=int,
        default=DEFAULT_LIMIT_CONCURRENCY,
        help="connections plus requests in flight; more requests get 503 (default: %(default)s)",
    )
    add(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds a client may take to send its headers, or pause in its body, before "
        "the connection is closed (default: %(default)s)",
    )
    add(
        "--insecure-no-key",
        action="store_true",
        help="serve on a non-loopback --host without --api-key (an open API; admin closed)",
    )
    add("--redirect-results", action="store_true", help="fault: redirect result downloads")
    add(
        "--drip-results-seconds",
        type=float,
        default=0.0,
        help="fault: pause between result lines (default: 0)",
    )
    add(
        "--endless-results-times",
        type=int,
        default=0,
        help="fault: endless result downloads, the next N (default: 0)",
    )
    add(
        "--empty-results-times",
        type=int,
        default=0,
        help="fault: empty result downloads, the next N (default: 0)",
    )
    add(
        "--models",
        default=None,
        metavar="A,B,...",
        help="the models GET /v1/models lists, comma-separated (default: none listed, any "
        "model answered)",
    )
    add(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="largest create body in bytes; larger gets HTTP 413 (default: %(default)s, 256 MiB)",
    )


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Return the emulator config described by parsed ``serve`` arguments."""
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get(ENV_API_KEY) or None,
        dialect=args.dialect,
        results_format=args.results_format,
        backend=args.backend,
        upstream_url=args.upstream_url,
        data_dir=args.data_dir,
        seconds_per_request=args.seconds_per_request,
        error_rate=args.error_rate,
        error_type=args.error_type,
        http_error_rate=args.http_error_rate,
        http_error_status=args.http_error_status,
        completion_window=args.completion_window,
        max_requests=args.max_requests,
        max_bytes=args.max_bytes,
        limit_concurrency=args.limit_concurrency,
        timeout=args.timeout,
        insecure_no_key=args.insecure_no_key,
        redirect_results=args.redirect_results,
        drip_results_seconds=args.drip_results_seconds,
        endless_results_times=args.endless_results_times,
        empty_results_times=args.empty_results_times,
        models=_model_names(args.models),
    ).validate()


def _model_names(text: str | None) -> tuple[str, ...] | None:
    """``--models a,b`` as names (None when not given).

    Examples
    --------
    >>> _model_names(" gpt-4o, claude-haiku-4-5 ,")
    ('gpt-4o', 'claude-haiku-4-5')
    """
    if text is None:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip())


def serve(args: argparse.Namespace) -> int:
    """Run the emulator until Ctrl-C (or SIGTERM); return the exit status.

    Prints the base URL once listening. Exit status 2: a bad option; 1: the emulator could
    not start (a damaged or unusable ``--data-dir``, a port in use), with one line saying
    why.
    """
    try:
        from siraya_frames.emulator._server import Emulator
    except ImportError as exc:
        print(
            f"siraya-frames serve: the emulator needs the 'emulator' extra ({exc.name} is "
            'missing): pip install "siraya-frames[emulator]"',
            file=sys.stderr,
        )
        return 2
    try:
        config = config_from_args(args)
    except ConfigurationError as exc:
        print(f"siraya-frames serve: {exc}", file=sys.stderr)
        return 2
    try:
        emulator = Emulator(config)
        emulator.start()
    except (ConfigurationError, OSError) as exc:
        print(f"siraya-frames serve: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    auth = "API key required" if emulator.config.api_key else "no API key required"
    if not emulator.config.loopback and not emulator.config.api_key:
        print(
            f"WARNING: serving an open API on {emulator.config.host} with no API key "
            "(--insecure-no-key); the /_emulator admin endpoints are closed.",
            file=sys.stderr,
            flush=True,
        )
    print(f"Siraya batch API emulator listening on {emulator.base_url}", flush=True)
    if emulator.config.dialect == "anthropic":
        print(f"(anthropic SDK: base_url={emulator.url}, it adds /v1 itself)", flush=True)
    print(
        f"dialect={emulator.config.dialect} results_format={emulator.config.results_format}"
        f" ({auth}); press Ctrl-C to stop.",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    print("emulator stopped", flush=True)
    return 0
