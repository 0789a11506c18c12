"""The service's models (``GET /models``), and the check that refuses an unknown model
before anything is sent.

Each protocol module says where the list lives and how one page reads
(:meth:`~siraya_frames._protocols._base.WireProtocol.models_url`, ``parse_models``):
Siraya and OpenAI answer one page ``{data: [{id, ...}]}``; Anthropic pages with
``has_more`` / ``after_id``. The pages are read by one generator of steps
(:func:`model_steps`), driven by the sync and the async client alike; at most
:data:`MAX_MODEL_PAGES` pages are read.

:func:`check_models` is what ``run`` calls before it submits: a model the listing does not
hold is refused with :class:`~siraya_frames.errors.ParameterError` naming the closest
names; a service whose listing is not available (404, 405, 501, 403, network trouble after
the retries, an answer that is not a list) is said so in the log, and the run goes on. A
wrong key (401) is raised: the create would be refused the same way. An empty
listing (the emulator by default) checks nothing.

Examples
--------
>>> closest_models("gpt-4o-mni", ["gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"])
['gpt-4o-mini', 'gpt-4o']
>>> models_frame([{"id": "m", "owned_by": "me", "created": 0}]).row(0)
('m', None, 'me', datetime.datetime(1970, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Generator, Iterable, Sequence
from typing import Any

import polars as pl

from siraya_frames._errors import APIError, AuthenticationError, ParameterError
from siraya_frames._http import HttpCall
from siraya_frames._polling import Call, adrive, drive
from siraya_frames._shapes import parse_timestamp

logger = logging.getLogger("siraya_frames")

__all__ = [
    "MAX_MODEL_PAGES",
    "AsyncModelListing",
    "ModelListing",
    "check_models",
    "closest_models",
    "models",
    "models_frame",
]

MAX_MODEL_PAGES = 50
"""Pages of ``GET /models`` read at most (Anthropic: 1,000 models a page)."""
CREATED_DTYPE = pl.Datetime("us", "UTC")
MODELS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "display_name": pl.String(),
    "owned_by": pl.String(),
    "created": CREATED_DTYPE,
}
_CACHE = "_siraya_model_ids"
"""The attribute of a client that holds its listing once read (checked once per session)."""


def model_steps() -> Generator[Call, Any, list[dict[str, Any]]]:
    """Steps reading every page of the model list; return the model objects, in order."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(MAX_MODEL_PAGES):
        page, after = yield Call("models_page", (after,))
        found.extend(page)
        if after is None:
            break
    else:
        logger.warning(
            "the model list has more than %s pages; read the first ones", MAX_MODEL_PAGES
        )
    return found


class ModelListing:
    """The model list, for :class:`~siraya_frames.SirayaClient` (a mixin)."""

    wire: Any
    base_url: str
    _call: Any

    def models_page(self, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /models``: the model objects and the next page's cursor."""
        call = HttpCall("GET", self.wire.models_url(self.base_url, after), kind="models")
        return self._call(call)

    def model_list(self) -> list[dict[str, Any]]:
        """Every model object the service lists (``id``, and what else it gives)."""
        found = drive(model_steps(), self)
        setattr(self, _CACHE, [m["id"] for m in found])
        return found

    def models(self) -> list[str]:
        """The ids of the service's models (``GET /models``, every page).

        Examples
        --------
        >>> from siraya_frames import SirayaClient
        >>> from siraya_frames.emulator import Emulator
        >>> with Emulator(models=["m-1", "m-2"]) as emu, SirayaClient("k", emu.base_url) as c:
        ...     c.models()
        ['m-1', 'm-2']
        """
        return [m["id"] for m in self.model_list()]


class AsyncModelListing:
    """The model list, for :class:`~siraya_frames.AsyncSirayaClient` (a mixin)."""

    wire: Any
    base_url: str
    _call: Any

    async def models_page(
        self, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """See :meth:`ModelListing.models_page`."""
        call = HttpCall("GET", self.wire.models_url(self.base_url, after), kind="models")
        return await self._call(call)

    async def model_list(self) -> list[dict[str, Any]]:
        """See :meth:`ModelListing.model_list`."""
        found = await adrive(model_steps(), self)
        setattr(self, _CACHE, [m["id"] for m in found])
        return found

    async def models(self) -> list[str]:
        """See :meth:`ModelListing.models`."""
        return [m["id"] for m in await self.model_list()]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def models_frame(found: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """The model objects as a frame: ``id``, ``display_name``, ``owned_by``, ``created``
    (UTC; from ``created`` unix seconds or ``created_at`` RFC 3339), null where not given."""
    rows = []
    for m in found:
        seconds = parse_timestamp(m.get("created", m.get("created_at")))
        rows.append(
            {
                "id": m["id"],
                "display_name": _text(m.get("display_name")),
                "owned_by": _text(m.get("owned_by")),
                "created": int(seconds * 1_000_000) if seconds is not None else None,
            }
        )
    frame = pl.DataFrame(rows, schema={**MODELS_SCHEMA, "created": pl.Int64()}, orient="row")
    return frame.with_columns(pl.col("created").cast(CREATED_DTYPE))


def models(client: Any = None, *, protocol: str | None = None) -> pl.DataFrame:
    """List the service's models (``GET /models``).

    Parameters
    ----------
    client
        A :class:`~siraya_frames.SirayaClient`; by default one for ``protocol`` from its
        environment variables (``SIRAYA_API_KEY``, ``SIRAYA_BASE_URL``...).
    protocol
        The wire protocol when no ``client`` is passed (``siraya``, ``anthropic``, ``openai``).

    Returns
    -------
    pl.DataFrame
        One row per model: ``id``, ``display_name``, ``owned_by``, ``created`` (null where
        the service does not say).

    Raises
    ------
    APIError
        When the service does not list its models (e.g. :class:`NotFoundError`).

    Examples
    --------
    >>> import siraya_frames as sf
    >>> from siraya_frames.emulator import Emulator
    >>> with Emulator(models=["m-1"]) as emu, sf.SirayaClient("k", emu.base_url) as client:
    ...     sf.models(client)["id"].to_list()
    ['m-1']
    """
    if client is not None:
        return models_frame(client.model_list())
    from siraya_frames._client import SirayaClient

    with SirayaClient(protocol=protocol) as own:
        return models_frame(own.model_list())


def closest_models(name: str, known: Sequence[str], n: int = 3) -> list[str]:
    """The known names closest to ``name`` (case ignored), best first."""
    by_lower = {k.lower(): k for k in known}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[m] for m in matches]


def _listed(client: Any) -> list[str] | None:
    """The client's listing (read once per client), or None when it is not available."""
    cached = getattr(client, _CACHE, None)
    if cached is not None:
        return cached
    try:
        return client.models()
    except AuthenticationError:
        raise  # a wrong key: the create would be refused the same way
    except APIError as exc:
        logger.warning("could not check the model names: %s; going on", exc)
        setattr(client, _CACHE, [])  # said once per client
        return None


def _unknown_model(name: str, known: Sequence[str], where: str) -> ParameterError:
    near = closest_models(name, known)
    hint = f"closest: {', '.join(map(repr, near))}" if near else f"{len(known)} are listed"
    return ParameterError(
        f"model {name!r} is not one of the models {where} lists ({hint}); nothing was sent. "
        "Fix the name: model= in Python, --model on the command line "
        "(siraya_frames.models() or `siraya-frames models` lists them)"
    )


def check_models(client: Any, names: Iterable[Any], *, protocol: str | None = None) -> None:
    """Refuse, before anything is sent, a model the service does not list.

    Parameters
    ----------
    client
        The client the run will use, or None (one is made for ``protocol`` and closed).
    names
        The model names the requests use (nulls ignored).

    Raises
    ------
    ParameterError
        For the first name the listing does not hold: it names the closest names and the fix.

    Examples
    --------
    >>> class Listing:
    ...     def models(self):
    ...         return ["gpt-4o-mini", "gpt-4o"]
    >>> check_models(Listing(), ["gpt-4o"])
    >>> check_models(Listing(), ["gpt-4o-mni"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    siraya_frames._errors.ParameterError: model 'gpt-4o-mni' ... (closest: 'gpt-4o-mini', ...
    """
    wanted = sorted({n for n in names if isinstance(n, str)})
    if not wanted:
        return
    if client is None:
        from siraya_frames._client import SirayaClient

        with SirayaClient(protocol=protocol) as own:
            return check_models(own, wanted)
    known = _listed(client)
    if not known:
        return
    listed = set(known)
    where = f"the service at {client.base_url}" if hasattr(client, "base_url") else "the service"
    for name in wanted:
        if name not in listed:
            raise _unknown_model(name, known, where)
    logger.debug("model(s) %s are listed by the service", wanted)
