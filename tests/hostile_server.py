"""A small real HTTP server on 127.0.0.1 that misbehaves on purpose (tests only).

Each path is one behaviour: drip a body one byte at a time, stream a results file for ever,
redirect elsewhere. Every loop is bounded in time and bytes, so a client that does not stop
by itself still ends the test (and fails it) instead of hanging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LINE = b'{"custom_id":"a","result":{"type":"canceled"}}\n'
MAX_SECONDS = 12.0
"""The longest any misbehaviour lasts: past it the server ends the answer itself."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, dict[str, str]]]

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _record(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._record()
        name = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        getattr(self, f"_{name}", self._not_found)()

    def _not_found(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drip(self) -> None:
        """A status object, one byte every 0.2 s, then its end once MAX_SECONDS have passed."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "b", "status": "in_progress"')
        deadline = time.monotonic() + MAX_SECONDS
        while time.monotonic() < deadline:
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.2)
        self.wfile.write(b"}")
        self.close_connection = True

    def _endless(self) -> None:
        """Result lines without end (chunked), for at most MAX_SECONDS or 2 GiB."""
        self.send_response(200)
        self.send_header("Content-Type", "application/jsonl")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = LINE * 20_000
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        deadline, sent = time.monotonic() + MAX_SECONDS, 0
        try:
            while time.monotonic() < deadline and sent < 2 << 30:
                self.wfile.write(frame)
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up: what a client that stops in time does
        self.close_connection = True

    def _to_file_host(self) -> None:
        """302 to the same server under another origin name (localhost vs 127.0.0.1)."""
        port = self.server.server_address[1]
        self.send_response(302)
        self.send_header("Location", f"http://localhost:{port}/files/results")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _to_empty(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/files/empty")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _results(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(2 * len(LINE)))
        self.end_headers()
        self.wfile.write(LINE * 2)

    def _empty(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _html(self) -> None:
        page = b"<html><body>Sign in to continue</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


@contextmanager
def hostile_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """Yield ``(root URL, requests seen)`` of a misbehaving server on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
