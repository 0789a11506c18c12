"""A poll round: list pages instead of one GET per batch (where the protocol lists), the
batches not seen polled alone, and the batches predicted to end soonest first."""

from __future__ import annotations

import math

import polars as pl
import pytest

import siraya_frames as sf
from siraya_frames._polling import drive
from siraya_frames._protocols import get_protocol
from siraya_frames._rounds import EXTRA_LIST_PAGES, by_predicted_end, list_round
from siraya_frames._shapes import BatchState, BatchStatus
from siraya_frames._state import BatchRecord
from siraya_frames._store import JobState, JobStore
from siraya_frames._wait import poll_steps
from siraya_frames.emulator import Emulator

KEY = "sk-test-rounds"
FAST = sf.PollSchedule(initial=0.01, factor=1.0, maximum=0.01, minimum=0.01)


def _requests(n: int) -> pl.DataFrame:
    frame = pl.DataFrame({"text": [f"row {i}" for i in range(n)]})
    return sf.build_requests(frame, prompt="Say {text}", model="m-1", max_tokens=8)


def _count(emu: Emulator, *, listing: bool) -> int:
    """GETs of the batch list (``listing``) or of single batches, since the last reset."""
    paths = [c["path"].rstrip("/") for c in emu.calls() if c["method"] == "GET"]
    if listing:
        return sum(p.endswith("/batches") for p in paths)
    return sum("/batches/" in p and "/" not in p.split("/batches/", 1)[1] for p in paths)


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_a_poll_round_reads_list_pages_not_one_get_per_batch(tmp_path, monkeypatch, protocol):
    wire = type(get_protocol(protocol))
    monkeypatch.setattr(wire, "list_page_size", 3)  # 7 batches: three pages at most
    with Emulator(api_key=KEY, dialect=protocol, seconds_per_request=3600.0) as emu:
        client = sf.SirayaClient(KEY, emu.base_url, protocol=protocol)
        job = sf.submit(_requests(7), client=client, job_dir=tmp_path / "j", max_requests=1)
        before_lists, before_gets = _count(emu, listing=True), _count(emu, listing=False)
        job.status()  # one poll round over 7 unfinished batches
        lists = _count(emu, listing=True) - before_lists
        gets = _count(emu, listing=False) - before_gets
    assert 1 <= lists <= math.ceil(7 / 3) and gets == 0
    assert job.status(refresh=False).total == 7


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_list_rounds_take_a_job_to_its_results(tmp_path, protocol):
    with Emulator(api_key=KEY, dialect=protocol) as emu:
        client = sf.SirayaClient(KEY, emu.base_url, protocol=protocol)
        job = sf.submit(_requests(6), client=client, job_dir=tmp_path / "j", max_requests=2)
        out = job.wait(progress=False, schedule=FAST).results()
        assert _count(emu, listing=True) >= 1
    assert out["result_status"].to_list() == ["succeeded"] * 6


def test_the_siraya_protocol_polls_each_batch_with_a_get(tmp_path):
    with Emulator(api_key=KEY, seconds_per_request=3600.0) as emu:
        client = sf.SirayaClient(KEY, emu.base_url)
        job = sf.submit(_requests(3), client=client, job_dir=tmp_path / "j", max_requests=1)
        job.status()
        assert _count(emu, listing=True) == 0 and _count(emu, listing=False) == 3


class Pages:
    """A list endpoint with ``pages`` (lists of batch ids), then nothing more."""

    def __init__(self, pages: list[list[str]]) -> None:
        self.pages, self.calls = pages, []

    def list_batches(self, *, after=None):
        i = len(self.calls)
        self.calls.append(after)
        states = [BatchState(b, BatchStatus.IN_PROGRESS) for b in self.pages[i]]
        return states, (f"cursor{i}" if i + 1 < len(self.pages) else None)


def _rec(key: str, **kw) -> BatchRecord:
    return BatchRecord(key, 0, f"idem-{key}", 100, status="in_progress", batch_id=key, **kw)


def test_a_list_round_stops_once_every_batch_was_seen():
    pages = Pages([["x", "a"], ["b", "y"], ["z"]])
    found = drive(list_round([_rec("a"), _rec("b")], page_size=2), pages)
    assert sorted(found) == ["a", "b"] and pages.calls == [None, "cursor0"]


def test_a_list_round_stops_at_its_page_bound_and_leaves_the_rest_unseen():
    pages = Pages([["other"]] * 10 + [["a"]])
    found = drive(list_round([_rec("a")], page_size=100), pages)
    assert found == {} and len(pages.calls) == 1 + EXTRA_LIST_PAGES


def test_a_failing_list_leaves_every_batch_to_its_get():
    class Broken:
        def list_batches(self, *, after=None):
            raise sf.NotFoundError("no list here", status_code=404)

    assert drive(list_round([_rec("a"), _rec("b")], page_size=100), Broken()) == {}


def test_batches_not_seen_on_the_list_are_polled_with_a_get(tmp_path, monkeypatch):
    with Emulator(api_key=KEY, dialect="openai", seconds_per_request=3600.0) as emu:
        client = sf.SirayaClient(KEY, emu.base_url, protocol="openai")
        job = sf.submit(_requests(4), client=client, job_dir=tmp_path / "j", max_requests=1)
        monkeypatch.setattr(type(client.wire), "list_page_size", 1)  # 4 pages needed...
        monkeypatch.setattr("siraya_frames._rounds.EXTRA_LIST_PAGES", -2)  # ...2 read
        before = _count(emu, listing=False)
        job.status()
        assert _count(emu, listing=False) - before == 2  # the two never listed
    assert job.status(refresh=False).total == 4


def test_polls_go_first_to_the_batches_predicted_to_end_soonest():
    now = 100.0
    ended = _rec("ended")
    ended.status = "completed"
    quick, slow = _rec("quick", done=90), _rec("slow", done=20)
    expiring, unknown = _rec("expiring", expires_at=now + 60), _rec("unknown")
    seen = {"quick": (0.0, 0), "slow": (0.0, 0), "expiring": (0.0, 0), "unknown": (0.0, 0)}
    order = by_predicted_end([unknown, slow, expiring, quick, ended], seen, now)
    # quick: 10 left at 0.9/s (11 s); slow: 80 left at 0.2/s (400 s); then by expiry
    assert [r.key for r in order] == ["ended", "quick", "slow", "expiring", "unknown"]


def test_the_sooner_batch_is_polled_first(tmp_path):
    """Through ``poll_steps``: the order of the GETs a round sends (one at a time)."""
    store = JobStore(tmp_path / "j")
    state = JobState(job_id="j", base_url="u", max_requests=9, max_bytes=9)
    state.batches = [_rec("late", done=10), _rec("soon", done=80)]
    store.save_job(state, batches=state.batches)
    seen = {"late": (0.0, 0), "soon": (0.0, 0)}

    class Recorder:
        def __init__(self):
            self.order = []

        def get_batch(self, batch_id, **kw):
            self.order.append(batch_id)
            return BatchState(batch_id, BatchStatus.IN_PROGRESS)

    client = Recorder()
    drive(poll_steps(store, state, clock=lambda: 10.0, width=1, seen=seen), client)
    assert client.order == ["soon", "late"]


def test_an_async_poll_round_reads_the_list_too(tmp_path):
    import asyncio

    from siraya_frames._polling import adrive

    with Emulator(api_key=KEY, dialect="anthropic", seconds_per_request=3600.0) as emu:
        client = sf.SirayaClient(KEY, emu.base_url, protocol="anthropic")
        job = sf.submit(_requests(6), client=client, job_dir=tmp_path / "j", max_requests=2)
        store = JobStore(job.path)
        state = store.load()

        async def one_round():
            async with sf.AsyncSirayaClient(KEY, emu.base_url, protocol="anthropic") as aclient:
                await adrive(poll_steps(store, state, width=4), aclient)

        asyncio.run(one_round())
        assert _count(emu, listing=True) == 1 and _count(emu, listing=False) == 0
    assert [rec.status for rec in store.load().batches] == ["in_progress"] * 3
