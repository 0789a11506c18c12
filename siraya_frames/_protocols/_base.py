"""The one small interface every wire protocol implements.

A protocol is a stateless value: the endpoints, the auth headers, how request lines are
made and framed, how a batch object becomes a :class:`~siraya_frames._shapes.BatchState`,
where the results live, the error envelope, the limits, the default base URL and the
environment variables. The clients and the lifecycle steps call only this interface.

Examples
--------
>>> from siraya_frames._protocols import get_protocol
>>> proto = get_protocol("anthropic")
>>> proto.batch_url("https://api.anthropic.com/v1", "msgbatch_1")
'https://api.anthropic.com/v1/messages/batches/msgbatch_1'
>>> sorted(proto.auth_headers("k"))
['anthropic-version', 'x-api-key']
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode, urljoin

from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._guards import loads, path_segment
from siraya_frames._http import error_detail
from siraya_frames._lines_common import unrecognized
from siraya_frames._lines_openai import chat_completion_row
from siraya_frames._plan import JSON_REQUESTS, RequestEncoding
from siraya_frames._shapes import BatchState

__all__ = ["METADATA_KEY", "WireProtocol", "decode_object", "resolve_url"]

METADATA_KEY = "siraya_frames_key"
"""The batch metadata key that holds the job's Idempotency-Key (protocols with metadata)."""

_MAX_DEPTH = 64


def resolve_url(base_url: str, url: str) -> str:
    """An absolute URL: ``url`` as it is, or resolved against the service's base URL.

    Examples
    --------
    >>> resolve_url("https://h.example/v1", "/v1/messages/batches/x/results")
    'https://h.example/v1/messages/batches/x/results'
    >>> resolve_url("https://h.example/v1", "https://files.example/x")
    'https://files.example/x'
    """
    return urljoin(base_url.rstrip("/") + "/", url)


def _depth(obj: Any, limit: int) -> None:
    stack = [(obj, 0)]
    while stack:
        value, level = stack.pop()
        if level > limit:
            raise ValueError(f"nested deeper than {limit} levels")
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)


def decode_object(body: bytes, *, what: str, batch_id: str | None = None) -> dict[str, Any]:
    """Decode a JSON object from the server (depth-bounded), or raise UnexpectedResponseError.

    Examples
    --------
    >>> decode_object(b'{"id": "b"}', what="the batch")
    {'id': 'b'}
    """
    obj = loads(body, what=what, batch_id=batch_id)
    try:
        _depth(obj, _MAX_DEPTH)
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"{what} is nested too deep ({exc}): {body[:200]!r}", batch_id=batch_id
        ) from exc
    if not isinstance(obj, dict):
        raise UnexpectedResponseError(
            f"{what} was {type(obj).__name__}, not a JSON object", batch_id=batch_id
        )
    return obj


class WireProtocol:
    """What one batch protocol says on the wire. Subclasses override what differs."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    env_api_key: ClassVar[str]
    env_base_url: ClassVar[str]
    max_requests: ClassVar[int]
    """Requests per batch the planner uses by default."""
    max_bytes: ClassVar[int]
    """Bytes per batch payload (body or file) the planner uses by default."""
    encoding: ClassVar[RequestEncoding] = JSON_REQUESTS
    uploads_file: ClassVar[bool] = False
    """True when the requests are uploaded as a file before the create."""
    finds_lost_creates: ClassVar[bool] = False
    """True when the list endpoint can find a batch whose create answer was lost."""
    honours_idempotency_key: ClassVar[bool] = False
    """True when a create resent with the same ``Idempotency-Key`` returns the first batch."""
    lists_for_polling: ClassVar[bool] = False
    """True when a poll round reads batch statuses from the list endpoint, page by page,
    instead of one GET per batch (the list objects carry everything a GET does)."""
    list_page_size: ClassVar[int] = 100
    """Batches per list page (the most the service allows)."""
    rate_limit: ClassVar[float] = 120.0
    """Requests per minute a client spends by default (``rate_limit=`` overrides it)."""
    batches_path: ClassVar[str] = "/batches"
    sync_path: ClassVar[str] = "/messages"
    """The synchronous endpoint (one request, answered now) :func:`~siraya_frames.preview`
    calls: Anthropic's Messages API by default."""

    # ---- endpoints
    def create_url(self, base_url: str) -> str:
        return f"{base_url}{self.batches_path}"

    def batch_url(self, base_url: str, batch_id: str) -> str:
        return f"{base_url}{self.batches_path}/{path_segment(batch_id)}"

    def cancel_url(self, base_url: str, batch_id: str) -> str:
        return f"{self.batch_url(base_url, batch_id)}/cancel"

    def list_url(self, base_url: str, after: str | None) -> str:
        query = {"limit": self.list_page_size, **({"after": after} if after else {})}
        return f"{base_url}{self.batches_path}?{urlencode(query)}"

    def upload_url(self, base_url: str) -> str:
        return f"{base_url}/files"

    def file_content_url(self, base_url: str, file_id: str) -> str:
        return f"{base_url}/files/{path_segment(file_id, what='file id')}/content"

    def models_url(self, base_url: str, after: str | None) -> str:
        """``GET /models``: the service's models (one page; ``after`` where it pages)."""
        return f"{base_url}/models"

    # ---- requests
    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def create_body(
        self, payload: bytes, *, input_file_id: str | None, metadata: dict[str, str]
    ) -> bytes:
        """The create body: by default the planned payload itself."""
        return payload

    # ---- answers
    def error_detail(self, body: bytes) -> tuple[str, str | None]:
        """(message, error type) of an error answer."""
        return error_detail(body)

    def parse_batch(self, obj: dict[str, Any], *, batch_id: str | None) -> BatchState:
        raise NotImplementedError  # pragma: no cover

    def parse_get_body(self, body: bytes, *, batch_id: str) -> BatchState:
        """The state in a ``GET`` answer (a batch object, unless the protocol says more)."""
        obj = decode_object(body, what="the batch GET answer", batch_id=batch_id)
        return self.parse_batch(obj, batch_id=batch_id)

    def parse_list(self, body: bytes) -> tuple[list[BatchState], str | None]:
        """The batches of one list page, and the cursor of the next page (or None)."""
        obj = decode_object(body, what="the batch list")
        data = obj.get("data")
        if not isinstance(data, list):
            raise UnexpectedResponseError(f"the batch list has no data array: {body[:200]!r}")
        states = [self.parse_batch(b, batch_id=None) for b in data if isinstance(b, dict)]
        more = obj.get("has_more") is True and states
        return states, (obj.get("last_id") or states[-1].batch_id) if more else None

    def parse_models(self, body: bytes) -> tuple[list[dict[str, Any]], str | None]:
        """The models of one ``GET /models`` page (objects with a string ``id``), and the
        cursor of the next page (or None): ``{data: [...], has_more, last_id}``."""
        obj = decode_object(body, what="the model list")
        data = obj.get("data")
        if not isinstance(data, list):
            raise UnexpectedResponseError(f"the model list has no data array: {body[:200]!r}")
        models = [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        more = obj.get("has_more") is True and models
        return models, (obj.get("last_id") or models[-1]["id"]) if more else None

    def parse_file(self, body: bytes) -> str:
        """The id of an uploaded file."""
        obj = decode_object(body, what="the file upload answer")
        if not isinstance(obj.get("id"), str) or not obj["id"]:
            raise UnexpectedResponseError(f"the file upload answer has no id: {body[:200]!r}")
        return obj["id"]

    # ---- the synchronous call (preview)
    def sync_url(self, base_url: str) -> str:
        return f"{base_url}{self.sync_path}"

    def sync_auth_headers(self, api_key: str) -> dict[str, str]:
        """The auth headers of the synchronous call (by default the batch calls')."""
        return self.auth_headers(api_key)

    def sync_body(self, params_json: str, *, custom_id: str) -> bytes:
        """The body of the synchronous call: the request's Messages params as they are."""
        return params_json.encode()

    def parse_sync(self, body: bytes, *, custom_id: str) -> tuple[Any, ...]:
        """One results row (:data:`~siraya_frames._lines_common.RESULT_SCHEMA` order) of a
        synchronous answer: an Anthropic ``message`` or an OpenAI ``chat.completion`` (read
        as the batch result lines read them), else an ``unrecognized_result`` errored row."""
        obj = decode_object(body, what=f"the answer to request {custom_id!r}")
        found = chat_completion_row(custom_id, obj)
        if found is not None:
            return found
        return unrecognized(custom_id, f"the answer to request {custom_id!r}", obj)[0]

    def __repr__(self) -> str:
        return f"<protocol {self.name}>"
