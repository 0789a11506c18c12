"""The ``openai`` dialect: OpenAI's file-based Batch API, routes.

Routes (``Authorization: Bearer <key>`` when the emulator has a key). An SDK's base URL is
`Emulator.base_url` (ending in ``/v1``):

* ``POST /v1/files``: multipart upload (``purpose=batch``, ``file``) → ``file`` object;
* ``GET /v1/files/{id}`` and ``GET /v1/files/{id}/content``: uploaded files, and each
  finished batch's output file (succeeded lines) and error file (the rest);
* ``POST /v1/batches``: ``{input_file_id, endpoint: "/v1/chat/completions",
  completion_window: "24h", metadata?}`` (``Idempotency-Key`` honoured); an input file that
  fails validation gives a batch that ends ``failed`` with ``errors.data``;
* ``GET /v1/batches`` (``limit`` 1-100, default 20; ``after``), newest first;
* ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel`` (409 once ended).

Limits: 50,000 requests per batch, 200 MB per file (or the lower ``max_requests`` and
``max_bytes``). Shapes live in ``_openai_shapes``.

Examples
--------
>>> part = b'Content-Disposition: form-data; name="purpose"\\r\\n\\r\\nbatch'
>>> body = b"--b\\r\\n" + part + b"\\r\\n--b--\\r\\n"
>>> parse_multipart(body, "multipart/form-data; boundary=b")
{'purpose': (None, b'batch')}
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siraya_frames.emulator import _openai_shapes as shapes
from siraya_frames.emulator._config import OPENAI_MAX_FILE_BYTES, OPENAI_MAX_REQUESTS
from siraya_frames.emulator._files import Files, StoredFile
from siraya_frames.emulator._http import (
    JSONL_MEDIA_TYPE,
    DownloadSpec,
    Handlers,
    bearer_token,
    dumps,
    same_key,
)
from siraya_frames.emulator._model import (
    SUCCEEDED,
    Batch,
    ResultRow,
)
from siraya_frames.emulator._multipart import parse_multipart
from siraya_frames.emulator._runtime import Runtime
from siraya_frames.emulator._validate import CreateRejected, loads

LIST_DEFAULT, LIST_MAX = 20, 100
MULTIPART_SLACK = 64 * 1024
"""Bytes allowed for the multipart framing around an uploaded file."""


class OpenAIHandlers(Handlers):
    """The files and batches endpoints."""

    fault_types: ClassVar[dict[int, str]] = {
        429: "rate_limit_exceeded",
        500: "server_error",
        503: "server_error",
    }

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.files = Files(runtime.store)
        self.max_requests = min(self.config.max_requests, OPENAI_MAX_REQUESTS)
        self.max_file_bytes = min(self.config.max_bytes, OPENAI_MAX_FILE_BYTES)

    def api_routes(self) -> list[Route]:
        """The routes listed in the module docstring."""
        return [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files/{file_id}", self.retrieve_file, methods=["GET"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
            Route("/v1/batches", self.create, methods=["POST"]),
            Route("/v1/batches", self.list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
        ]

    def error(
        self,
        message: str,
        error_type: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> Response:
        """OpenAI's envelope ``{"error": {message, type, param, code}}``."""
        code = "rate_limit_exceeded" if status == 429 else None
        body = shapes.error_body(message, error_type, param, code)
        return JSONResponse(body, status_code=status, headers=headers)

    def authenticate(self, request: Request, key: str) -> Response | None:
        """``Authorization: Bearer <key>``."""
        header = request.headers.get("authorization", "")
        if same_key(bearer_token(request), key):
            return None
        message = (
            "Incorrect API key provided."
            if header
            else "You didn't provide an API key. Send 'Authorization: Bearer <your API key>'."
        )
        body = shapes.error_body(message, "invalid_request_error", None, "invalid_api_key")
        return JSONResponse(body, status_code=401)

    def _object(self, b: Batch) -> dict[str, Any]:
        counts = self.store.kind_counts(b.seq) if b.finished else {}
        return shapes.batch_object(b, counts)

    # -- files -------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """``POST /v1/files``."""
        early = self.gate(request, "upload")
        if early is not None:
            return early
        body = await self.read_body(request, self.max_file_bytes + MULTIPART_SLACK)
        if isinstance(body, Response):
            return body
        try:
            fields = parse_multipart(body, request.headers.get("content-type", ""))
        except ValueError as exc:
            return self.error(f"{exc}; send purpose and file", "invalid_request_error", 400)
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
        if purpose != "batch":
            message = f"purpose must be 'batch' (the only one emulated), got {purpose!r}"
            return self.error(message, "invalid_request_error", 400, param="purpose")
        if "file" not in fields:
            return self.error("the 'file' field is missing", "invalid_request_error", 400)
        filename, content = fields["file"]
        if len(content) > self.max_file_bytes:
            message = (
                f"The file is {len(content)} bytes; the limit is {self.max_file_bytes} bytes. "
                "Split it into several batches."
            )
            return self.error(message, "request_too_large", 413, param="file")
        stored = self.files.put(
            f"file-{uuid.uuid4().hex[:24]}",
            content,
            filename=filename or "upload.jsonl",
            purpose=purpose,
            created_at=time.time(),
        )
        return JSONResponse(shapes.file_object(stored))

    def _generated(self, file_id: str) -> tuple[Batch, bool] | None:
        """The batch and kind (True: output) of an output or error file id."""
        for prefix, is_output in ((shapes.OUTPUT_PREFIX, True), (shapes.ERROR_PREFIX, False)):
            if file_id.startswith(prefix):
                batch = self.store.get("batch_" + file_id.removeprefix(prefix))
                if batch is not None and file_id in shapes.output_ids(
                    batch, self.store.kind_counts(batch.seq)
                ):
                    return batch, is_output
        return None

    def _file_or_404(
        self, request: Request, endpoint: str
    ) -> Response | StoredFile | tuple[Batch, bool]:
        early = self.gate(request, endpoint)
        if early is not None:
            return early
        file_id = request.path_params["file_id"]
        found = self.files.get(file_id) or self._generated(file_id)
        if found is None:
            return self.error(f"No such File object: {file_id}", "invalid_request_error", 404)
        return found

    async def retrieve_file(self, request: Request) -> Response:
        """``GET /v1/files/{file_id}``."""
        found = self._file_or_404(request, "file")
        if isinstance(found, Response):
            return found
        if isinstance(found, StoredFile):
            return JSONResponse(shapes.file_object(found))
        batch, is_output = found
        size = 0
        async for lines in self.pages(batch, self._render(batch), self._keep(is_output)):
            size += sum(len(line.encode()) for line in lines)
        name = f"{batch.id}_{'output' if is_output else 'error'}.jsonl"
        file_id = request.path_params["file_id"]
        generated = StoredFile(file_id, batch.finished_at or 0.0, name, "batch_output", size)
        return JSONResponse(shapes.file_object(generated))

    async def file_content(self, request: Request) -> Response:
        """``GET /v1/files/{file_id}/content``."""
        found = self._file_or_404(request, "result_file")
        if isinstance(found, Response):
            return found
        if isinstance(found, StoredFile):
            content = self.files.content(found.id) or b""
            return Response(content, media_type="application/octet-stream")
        batch, is_output = found
        return self.jsonl_response(request, batch, "output" if is_output else "error")

    def download_spec(self, batch: Batch, which: str) -> DownloadSpec | None:
        """A batch's two downloads: ``output`` (succeeded lines) and ``error`` (the rest)."""
        if which not in ("output", "error"):
            return None
        return self._render(batch), self._keep(which == "output"), JSONL_MEDIA_TYPE

    @staticmethod
    def _render(batch: Batch) -> Callable[[ResultRow], str]:
        return lambda row: dumps(shapes.result_line(batch, row)) + "\n"

    @staticmethod
    def _keep(is_output: bool) -> Callable[[ResultRow], bool]:
        """Output files hold the succeeded lines, error files the rest."""
        return lambda row: (row.kind == SUCCEEDED) == is_output

    # -- batches -----------------------------------------------------------------------------

    def _parse(self, body: bytes | bytearray) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
        data = loads(body)
        if not isinstance(data, dict):
            raise CreateRejected("the body must be a JSON object")
        file_id = data.get("input_file_id")
        content = self.files.content(file_id) if isinstance(file_id, str) else None
        if content is None:
            raise CreateRejected(
                f"input_file_id {file_id!r} is not an uploaded file", "input_file_id"
            )
        endpoint = data.get("endpoint")
        if endpoint not in shapes.ENDPOINTS:
            raise CreateRejected(
                f"endpoint must be one of {', '.join(shapes.ENDPOINTS)}, got {endpoint!r}",
                "endpoint",
            )
        if data.get("completion_window") != "24h":
            raise CreateRejected('completion_window must be "24h"', "completion_window")
        metadata = data.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise CreateRejected("metadata must be an object of strings", "metadata")
        requests, errors = shapes.check_input_file(
            content, endpoint=endpoint, max_requests=self.max_requests
        )
        meta = {"input_file_id": file_id, "endpoint": endpoint, "metadata": metadata}
        return requests, meta | ({"errors": errors} if errors else {})

    async def create(self, request: Request) -> Response:
        """``POST /v1/batches``."""
        return await self.create_batch(
            request, self._parse, self._object, batch_id=lambda: f"batch_{uuid.uuid4().hex}"
        )

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/batches/{batch_id}``."""
        batch = self.gated_batch(request, "get")
        if isinstance(batch, Response):
            return batch
        return JSONResponse(self._object(batch))

    async def list_batches(self, request: Request) -> Response:
        """``GET /v1/batches``."""
        early = self.gate(request, "list")
        if early is not None:
            return early
        raw = request.query_params.get("limit", str(LIST_DEFAULT))
        if not raw.isdigit() or not 1 <= int(raw) <= LIST_MAX:
            message = f"limit must be an integer from 1 to {LIST_MAX}, got {raw!r}"
            return self.error(message, "invalid_request_error", 400, param="limit")
        batches, more = self.store.page(limit=int(raw), after=request.query_params.get("after"))
        data = [self._object(b) for b in batches]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": more,
            }
        )

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/batches/{batch_id}/cancel``."""
        batch = self.gated_batch(request, "cancel")
        if isinstance(batch, Response):
            return batch
        current = self.start_cancel(batch)
        if current is None:
            return self.error(
                f"Cannot cancel a batch with status '{batch.status}'; only an unfinished "
                "batch can be cancelled.",
                "invalid_request_error",
                409,
            )
        return JSONResponse(self._object(current))
