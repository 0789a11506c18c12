"""Results downloads on disk: the part file a body streams into, the pieces of a multi-file
result joined into one file, and the test that tells a results file from a status answer.

Examples
--------
>>> _urls("https://x/results.jsonl")
['https://x/results.jsonl']
>>> _inline_document(b'{"results": []}')
True
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from siraya_frames._errors import JobStoreError, UnexpectedResponseError
from siraya_frames._guards import redact
from siraya_frames._http import HttpCall, part_path
from siraya_frames._shapes import BatchState, BatchStatus

__all__ = ["HEAD_BYTES", "open_part"]

HEAD_BYTES = 65536
"""How much of a download's start is read to tell results from a status answer."""


def _inline_document(head: bytes) -> bool:
    """A JSON document with a ``results`` array (the Siraya reference shape)."""
    return head.lstrip().startswith(b"{") and b'"results"' in head


def _not_results(call: HttpCall, head: bytes, key: str) -> UnexpectedResponseError:
    what = "was empty" if not head.strip() else f"holds no result line: {head[:120]!r}"
    return UnexpectedResponseError(
        redact(
            f"the results download of batch {call.batch_id} from {urlsplit(call.url).path} "
            f"{what}; it is not taken for results (nothing is resent). The next poll fetches "
            "it again",
            key,
        ),
        batch_id=call.batch_id,
    )


@contextmanager
def open_part(part: Path) -> Iterator[BinaryIO]:
    """The temporary file a download streams into; removed if anything fails (a full disk
    becomes a :class:`JobStoreError` naming the file)."""
    try:
        with part.open("wb") as fh:
            yield fh
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _disk_error(part, exc) from exc
        raise


def _disk_error(part: Path, exc: OSError) -> JobStoreError:
    return JobStoreError(
        f"could not write {str(part)!r}: {exc}; free space (or fix the permissions) and re-run "
        "the same call (nothing is lost)",
        path=str(part),
    )


def _join_parts(parts: Sequence[Path], sink: Path, batch_id: str | None) -> BatchState:
    """Concatenate downloaded result files (each ending in a newline) into ``sink``."""
    tmp = part_path(sink.with_name(sink.name + ".all"))
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out)
            if part.stat().st_size and not _ends_with_newline(part):
                out.write(b"\n")
    os.replace(tmp, sink)
    for part in parts:
        part.unlink(missing_ok=True)
    return BatchState(batch_id, BatchStatus.COMPLETED, results_path=str(sink))


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _urls(url: str | Sequence[str]) -> list[str]:
    return [url] if isinstance(url, str) else list(url)


def _piece(sink: Path, i: int) -> Path:
    return sink.with_name(f".{sink.name}.{i}.download")
