"""Content-addressed ``custom_id``s: ``prefix`` + XXH3-128 of the canonical request JSON.

The digest is XXH3-128 of the UTF-8 bytes, written as ``xxhash.xxh3_128_hexdigest`` writes it
(the canonical big-endian form, 32 lowercase hex digits), so anyone can re-derive an id with
one line of Python. Polars' own ``hash`` is not used: it is not stable across versions.

Polars computes the digests through the ``polars-hash`` plugin, in the same expression as the
JSON encoding and on all of Polars' threads: about 0.1 s for 1M strings, against about 0.3 s
for a Python loop over ``xxhash`` (most of it spent making a Python object per string). The
plugin is compiled against Polars, so before its first use it is checked against ``xxhash`` on
reference strings. If it cannot load (a Polars release it does not support yet, say) or gives
other digests, :func:`plugin_ok` is false and the same ids come from ``xxhash`` in Python:
slower, never different. A changed id would send a request again, and pay for it twice.
The plugin is imported on first use; importing it adds its namespaces (``nchash``, ``chash``
and others) to ``pl.Expr``.

Examples
--------
>>> import polars as pl
>>> json = pl.Series("json", ['{"model":"m","max_tokens":1}', None])
>>> json.to_frame().select(hex_digest(pl.col("json"))).to_series().to_list()
['690fc135049a5fcc071c374a3787fd8e', None]
>>> python_digests(json).to_list()
['690fc135049a5fcc071c374a3787fd8e', None]
"""

from __future__ import annotations

import functools
import logging

import polars as pl
import xxhash

logger = logging.getLogger("siraya_frames")

_CHECKS = ("", "{}", '{"model":"m","max_tokens":1}', 'é "👍" \\ \n' * 40)
"""Reference strings for the plugin check: empty, short, and long multi-byte UTF-8."""


def hex_digest(json: pl.Expr) -> pl.Expr:
    """The hex XXH3-128 digest of each string of ``json`` through the plugin (null stays null).

    Only for when :func:`plugin_ok` is true.

    Examples
    --------
    >>> pl.select(hex_digest(pl.lit("{}"))).item() == xxhash.xxh3_128_hexdigest(b"{}")
    True
    """
    from polars_hash import NonCryptographicHashingNameSpace as Hashes

    binary = Hashes(json).xxh3_128(return_binary=True, byte_order="big")
    return binary.bin.encode("hex")


@functools.cache
def plugin_ok() -> bool:
    """Tell whether the plugin loads and agrees with ``xxhash`` (checked once per process).

    Examples
    --------
    >>> isinstance(plugin_ok(), bool)
    True
    """
    checks = pl.Series("json", _CHECKS)
    try:
        got = checks.to_frame().select(hex_digest(pl.col("json"))).to_series().to_list()
    except Exception as exc:  # ImportError, or a plugin that Polars cannot load
        logger.warning("polars-hash unavailable (%s); computing ids with xxhash (slower)", exc)
        return False
    if got != _python_hexes(checks):
        logger.warning("polars-hash disagrees with xxhash; computing ids with xxhash (slower)")
        return False
    return True


def python_digests(json: pl.Series) -> pl.Series:
    """The hex digests of :func:`hex_digest` by ``xxhash`` in a Python loop (the fallback).

    Examples
    --------
    >>> python_digests(pl.Series(["{}", None])).to_list()[1] is None
    True
    """
    return pl.Series("json", _python_hexes(json), dtype=pl.String)


def _python_hexes(json: pl.Series) -> list[str | None]:
    blobs = json.cast(pl.Binary).to_list()  # bytes objects: ~20x faster than str to_list
    digest = xxhash.xxh3_128_hexdigest
    if json.null_count():
        return [None if b is None else digest(b) for b in blobs]
    return list(map(digest, blobs))


def number_repeats(ids: pl.Series) -> pl.Series:
    """Give the k-th repeat (k >= 1) of an id the suffix ``-<k>`` (for ``dedupe=False``).

    Examples
    --------
    >>> number_repeats(pl.Series(["sfab", "sfab", None, "sfab"])).to_list()
    ['sfab', 'sfab-1', None, 'sfab-2']
    """
    name = ids.name
    repeat = pl.int_range(pl.len()).over(name)
    numbered = pl.when(repeat > 0).then(pl.col(name) + "-" + repeat.cast(pl.String))
    return ids.to_frame().select(numbered.otherwise(pl.col(name))).to_series()


_JOIN_CHUNK = 200_000
"""Strings joined (by Polars) then hashed at a time, in :func:`update_joined`."""


def update_joined(digest: object, strings: pl.Series, sep: str = "\n") -> None:
    """``digest.update(sep.join(strings).encode())``, a chunk at a time: the same digest
    without a Python object per string, nor the whole joined text at once.

    Examples
    --------
    >>> ids = pl.Series(["a", "bc", "d"])
    >>> digest = xxhash.xxh3_64()
    >>> update_joined(digest, ids)
    >>> digest.hexdigest() == xxhash.xxh3_64(b"a\\nbc\\nd").hexdigest()
    True
    """
    for start in range(0, len(strings), _JOIN_CHUNK):
        text = strings.slice(start, _JOIN_CHUNK).str.join(sep).item()
        digest.update(((sep if start else "") + text).encode())  # type: ignore[attr-defined]
