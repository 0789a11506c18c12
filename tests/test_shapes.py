"""Every documented response shape normalises to one BatchState."""

from __future__ import annotations

import json

import pytest

from siraya_frames._errors import UnexpectedResponseError
from siraya_frames._shapes import (
    BatchStatus,
    batch_id_of,
    normalize_status,
    parse_batch_object,
    parse_get_body,
)

QUICKSTART_CREATE = {
    "batch": {
        "cancelled_at": None, "completion_window": "24h", "created_at": 1765972352,
        "expires_at": 1766058749, "id": "batch_a34c321b", "object": "batch",
        "request_counts": {"completed": 0, "failed": 0, "total": 0}, "status": "validating",
    },
    "batch_id": "batch_a34c321b",
    "file_id": "file-1",
    "task_id": 2,
    "task_status": "NOT_START",
}  # fmt: skip

INFRON_DONE = {
    "batch_id": "batch_x", "completed_count": 3, "failed_count": 0, "status": "SUCCESS",
    "total_requests": 3, "task_id": 2, "progress": "100%",
    "result_url": "https://resource.example/batch_x.jsonl",
}  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("validating", "pending"), ("pending", "pending"), ("NOT_START", "pending"),
        ("in_progress", "in_progress"), ("processing", "in_progress"), ("RUNNING", "in_progress"),
        ("finalizing", "finalizing"), ("completed", "completed"), ("SUCCESS", "completed"),
        ("ended", "completed"), ("failed", "failed"), ("FAILED", "failed"),
        ("expired", "expired"), ("cancelling", "cancelling"), ("canceling", "cancelling"),
        ("cancelled", "cancelled"), ("canceled", "cancelled"), ("CANCELLED", "cancelled"),
        ("TIMEOUT_EXCEEDED", "expired"), ("CANCELLATION_REQUESTED", "cancelling"),
    ],
)  # fmt: skip
def test_every_documented_status_maps_to_one_enum(raw, expected):
    assert normalize_status(raw).value == expected


def test_unknown_status_is_reported_not_dropped(caplog):
    state = parse_batch_object({"id": "b9", "status": "teleporting"})
    assert state.status is BatchStatus.UNKNOWN
    assert state.raw_status == "teleporting"
    assert not state.status.is_terminal
    assert "teleporting" in caplog.text and "b9" in caplog.text


def test_wrapped_quickstart_create_response():
    state = parse_batch_object(QUICKSTART_CREATE)
    assert state.batch_id == "batch_a34c321b"
    assert state.status is BatchStatus.PENDING
    assert state.raw_status == "validating"
    assert state.expires_at == 1766058749.0
    assert (state.total, state.done, state.failed) == (0, 0, 0)


def test_flat_reference_create_and_cancel_responses():
    created = parse_batch_object({"id": "batch_abc123", "object": "batch", "status": "pending"})
    assert (created.batch_id, created.status) == ("batch_abc123", BatchStatus.PENDING)
    cancelled = parse_batch_object({"id": "batch_abc123", "status": "cancelled", "cancelled_at": 1})
    assert cancelled.status is BatchStatus.CANCELLED and cancelled.status.is_terminal


def test_infron_status_object_has_counts_and_result_url():
    state = parse_batch_object(INFRON_DONE)
    assert state.batch_id == "batch_x"
    assert state.status is BatchStatus.COMPLETED
    assert (state.total, state.done, state.failed) == (3, 3, 0)
    assert state.result_url == "https://resource.example/batch_x.jsonl"
    assert not state.has_results


def test_anthropic_counts():
    state = parse_batch_object({
        "id": "msgbatch_1", "processing_status": "in_progress",
        "request_counts": {"processing": 2, "succeeded": 3, "errored": 1, "canceled": 0,
                           "expired": 0},
    })  # fmt: skip
    assert (state.status, state.total, state.done, state.failed) == (
        BatchStatus.IN_PROGRESS, 6, 4, 1,
    )  # fmt: skip


def test_batch_id_from_every_place():
    assert batch_id_of({"batch": {"id": "a"}}) == "a"
    assert batch_id_of({"batch_id": "b"}) == "b"
    assert batch_id_of({"id": "c"}) == "c"
    assert batch_id_of({"status": "pending"}) is None


def test_get_body_jsonl_results_are_results():
    body = b'{"custom_id":"a","result":{"type":"succeeded"}}\n{"custom_id":"b","result":{}}\n'
    state = parse_get_body(body, batch_id="b1")
    assert state.status is BatchStatus.COMPLETED and state.results == body


def test_get_body_inline_results_document():
    doc = {"id": "b1", "status": "completed", "results": [{"custom_id": "r1", "response": {}}]}
    state = parse_get_body(json.dumps(doc).encode(), batch_id="b1")
    assert state.status is BatchStatus.COMPLETED
    assert json.loads(state.results) == {"results": doc["results"]}


def test_get_body_status_object_is_status():
    state = parse_get_body(b'{"id":"b1","status":"in_progress"}', batch_id="b1")
    assert state.status is BatchStatus.IN_PROGRESS and not state.has_results


@pytest.mark.parametrize("body", [b"", b"   \n", b"<html>bad gateway</html>", b"[1,2]"])
def test_get_body_garbage_is_a_clear_error(body):
    with pytest.raises(UnexpectedResponseError, match="b1"):
        parse_get_body(body, batch_id="b1")


def test_object_without_status_or_results_is_a_clear_error():
    with pytest.raises(UnexpectedResponseError, match="no batch status"):
        parse_batch_object({"id": "b1"})
