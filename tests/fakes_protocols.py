"""In-process fakes of Anthropic's Message Batches and OpenAI's Batch API (httpx handlers).

Each fake answers exactly the documented shapes (``/work/shared/reference``): batch objects,
list pages, error envelopes, files, JSONL results. Every request is recorded in
``fake.requests``. ``fake.fault`` lets a test break one call: a function of the request
that may raise (before the fake acts) and ``fake.after`` one that may raise after it acted
(an answer lost on the way back).
"""

from __future__ import annotations

import email.parser
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY = "sk-fake-protocol-key"


class Killed(BaseException):
    """Stands for the process dying at that point (nothing catches it)."""


def answer_for(params: dict[str, Any]) -> str:
    """The fake model: the last user message's text, upper-cased."""
    content = params["messages"][-1]["content"]
    text = content if isinstance(content, str) else content[0]["text"]
    return text.upper()


@dataclass
class _Fake:
    polls_to_end: int = 1
    requests: list[httpx.Request] = field(default_factory=list)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    fault: Callable[[httpx.Request], None] | None = None
    after: Callable[[httpx.Request], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:  # one request at a time: calls may come from several threads
            self.requests.append(request)
            if self.fault is not None:
                self.fault(request)
            response = self.route(request)
            if self.after is not None:
                self.after(request)
            return response

    def route(self, request: httpx.Request) -> httpx.Response:  # pragma: no cover
        raise NotImplementedError

    def creates(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and r.url.path.endswith("batches")]


@dataclass
class FakeAnthropic(_Fake):
    """``/v1/messages/batches``: create, retrieve, results, cancel, list."""

    relative_results_url: bool = True
    cancel_after_end: str = "409"

    def _error(self, status: int, kind: str, message: str) -> httpx.Response:
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "r"}
        return httpx.Response(status, json=body)

    def _tick(self, batch: dict[str, Any]) -> None:
        """One poll of ``batch`` (a GET, or a list page that shows it): it ends after
        ``polls_to_end`` of them."""
        batch["polls"] += 1
        if batch["polls"] >= self.polls_to_end and batch["status"] == "in_progress":
            batch["status"] = "ended"

    def _object(self, batch: dict[str, Any]) -> dict[str, Any]:
        n = len(batch["requests"])
        ended = batch["status"] == "ended"
        url = f"/v1/messages/batches/{batch['id']}/results"
        if not self.relative_results_url:
            url = "https://api.anthropic.test" + url
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": batch["status"],
            "request_counts": {
                "processing": 0 if ended else n,
                "succeeded": n if ended else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "ended_at": "2024-09-24T19:00:00Z" if ended else None,
            "created_at": "2024-09-24T18:37:24.100435Z",
            "expires_at": "2024-09-25T18:37:24.100435Z",
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": url if ended else None,
        }

    def _results(self, batch: dict[str, Any]) -> bytes:
        lines = []
        for req in batch["requests"]:
            message = {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": req["params"]["model"],
                "content": [{"type": "text", "text": answer_for(req["params"])}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 3},
            }
            result = {"type": "succeeded", "message": message}
            lines.append(json.dumps({"custom_id": req["custom_id"], "result": result}))
        return ("\n".join(lines) + "\n").encode()

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-api-key") != KEY or "authorization" in request.headers:
            return self._error(401, "authentication_error", "invalid x-api-key")
        if request.headers.get("anthropic-version") != "2023-06-01":
            return self._error(400, "invalid_request_error", "anthropic-version is required")
        parts = request.url.path.removeprefix("/v1/messages/batches").strip("/").split("/")
        if request.method == "POST" and parts == [""]:
            batch_id = f"msgbatch_{len(self.batches) + 1:02d}"
            body = json.loads(request.content)
            self.batches[batch_id] = {"id": batch_id, "requests": body["requests"], "polls": 0}
            self.batches[batch_id]["status"] = "in_progress"
            return httpx.Response(200, json=self._object(self.batches[batch_id]))
        if request.method == "GET" and parts == [""]:  # a list round is a poll of each
            for listed in self.batches.values():
                self._tick(listed)
            data = [self._object(b) for b in reversed(self.batches.values())]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            page = {"data": data, "has_more": False, "first_id": first, "last_id": last}
            return httpx.Response(200, json=page)
        batch = self.batches.get(parts[0])
        if batch is None:
            return self._error(404, "not_found_error", f"no batch {parts[0]}")
        if request.method == "GET" and len(parts) == 1:
            self._tick(batch)
            return httpx.Response(200, json=self._object(batch))
        if request.method == "GET" and parts[1:] == ["results"]:
            content = self._results(batch)
            return httpx.Response(200, content=content, headers={"content-type": "x-jsonl"})
        if request.method == "POST" and parts[1:] == ["cancel"]:
            if batch["status"] == "ended":
                if self.cancel_after_end == "400":
                    msg = f"Batch {batch['id']} has already ended"
                    return self._error(400, "invalid_request_error", msg)
                return self._error(409, "invalid_request_error", "batch ended")
            batch["status"] = "canceling"
            return httpx.Response(200, json=self._object(batch))
        return self._error(404, "not_found_error", request.url.path)


def _form(request: httpx.Request) -> dict[str, Any]:
    """The fields of a multipart form: name -> (filename, bytes) or text."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser().parsebytes(head + request.content)
    fields: dict[str, Any] = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True)
        fields[name] = (filename, data) if filename else data.decode()
    return fields


@dataclass
class FakeOpenAI(_Fake):
    """``/v1/files``, ``/v1/batches``: upload, create, retrieve, file content, cancel, list."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> Any:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return httpx.Response(status, json=body)

    def uploads(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and r.url.path == "/v1/files"]

    def _file(self, name: str, content: bytes, purpose: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1:03d}"
        self.contents[file_id] = content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": 1_700_000_000,
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }
        return self.files[file_id]

    def _tick(self, batch: dict[str, Any]) -> None:
        """One poll of ``batch`` (a GET, or a list page that shows it)."""
        batch["polls"] += 1
        if batch["polls"] >= self.polls_to_end and batch["status"] == "validating":
            self._finish(batch)

    def _finish(self, batch: dict[str, Any]) -> None:
        out, err = [], []
        for line in self.contents[batch["input_file_id"]].decode().splitlines():
            req = json.loads(line)
            text = req["body"]["messages"][-1]["content"]
            if "FAIL" in text:
                body = {"error": {"message": "bad request", "type": "invalid_request_error"}}
                status = 400
                target = err
            else:
                status, target = 200, out
                body = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": req["body"]["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text.upper()},
                        }
                    ],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
                }
            response = {"status_code": status, "request_id": "req", "body": body}
            target.append(
                {
                    "id": "batch_req_1",
                    "custom_id": req["custom_id"],
                    "response": response,
                    "error": None,
                }
            )
        for kind, lines in (("output_file_id", out), ("error_file_id", err)):
            if lines:
                content = "".join(json.dumps(x) + "\n" for x in lines).encode()
                batch[kind] = self._file(f"{batch['id']}_{kind}.jsonl", content, "batch_output")[
                    "id"
                ]
        batch["status"] = "completed"
        batch["request_counts"] = {
            "total": len(out) + len(err),
            "completed": len(out),
            "failed": len(err),
        }
        batch["completed_at"] = 1_700_000_100

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return self._error(401, "Incorrect API key provided", "invalid_request_error")
        path = request.url.path
        if request.method == "POST" and path == "/v1/files":
            form = _form(request)
            if form.get("purpose") != "batch" or "file" not in form:
                return self._error(400, "purpose=batch and a file are required")
            name, content = form["file"]
            return httpx.Response(200, json=self._file(name, content, "batch"))
        if request.method == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            file_id = path.split("/")[3]
            if file_id not in self.contents:
                return self._error(404, f"No such File object: {file_id}")
            return httpx.Response(200, content=self.contents[file_id])
        if request.method == "POST" and path == "/v1/batches":
            body = json.loads(request.content)
            if (
                body.get("input_file_id") not in self.files
                or body.get("endpoint") != "/v1/chat/completions"
            ):
                return self._error(400, "input_file_id and endpoint are required")
            batch_id = f"batch_{len(self.batches) + 1:02d}"
            n = len(self.contents[body["input_file_id"]].splitlines())
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body["endpoint"],
                "errors": None,
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": 1_700_000_000,
                "expires_at": 1_700_086_400,
                "request_counts": {"total": n, "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
                "polls": 0,
            }
            return httpx.Response(200, json=self._public(self.batches[batch_id]))
        if request.method == "GET" and path == "/v1/batches":  # a list round: a poll of each
            for listed in self.batches.values():
                self._tick(listed)
            data = [self._public(b) for b in reversed(self.batches.values())]
            page = {"object": "list", "data": data, "has_more": False}
            page |= {
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
            return httpx.Response(200, json=page)
        parts = path.removeprefix("/v1/batches/").split("/")
        batch = self.batches.get(parts[0])
        if batch is None:
            return self._error(404, f"No batch found with id '{parts[0]}'.")
        if request.method == "GET" and len(parts) == 1:
            self._tick(batch)
            return httpx.Response(200, json=self._public(batch))
        if request.method == "POST" and parts[1:] == ["cancel"]:
            if batch["status"] == "completed":
                return self._error(400, "Cannot cancel a batch with status 'completed'.")
            batch["status"] = "cancelling"
            return httpx.Response(200, json=self._public(batch))
        return self._error(404, path)

    def _public(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if k != "polls"}
