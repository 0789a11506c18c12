"""What a person reads: summaries, estimates and job status as aligned lines or HTML.

Pure functions over plain values (no I/O): the terminal gets short aligned lines with
thousands separators and money as ``$0.2965``; Jupyter gets a small HTML table. Nothing is
cut off by Polars' table width, and counts agree with their noun ("1 batch", "2 batches").

Examples
--------
>>> print(aligned([("rows", "6"), ("unique requests", "4")]))
rows             6
unique requests  4
>>> plural(1, "batch"), plural(2_000, "batch"), article("empty answer")
('1 batch', '2,000 batches', 'an empty answer')
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "aligned",
    "article",
    "html_table",
    "money",
    "plural",
    "record_pairs",
    "text_table",
    "value_text",
]

_IRREGULAR = {"is": "are", "was": "were", "this": "these"}


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1 (thousands separated).

    Examples
    --------
    >>> plural(0, "row"), plural(1, "row"), plural(3, "batch"), plural(2, "more batch")
    ('0 rows', '1 row', '3 batches', '2 more batches')
    """
    head, _, last = noun.rpartition(" ")
    if n != 1:
        last = _IRREGULAR.get(
            last, last + "es" if last.endswith(("s", "sh", "ch", "x")) else last + "s"
        )
    return f"{n:,} {head} {last}" if head else f"{n:,} {last}"


def article(phrase: str) -> str:
    """``phrase`` after "a" or "an", by its first letter.

    Examples
    --------
    >>> article("error"), article("batch"), article("'image' block")
    ('an error', 'a batch', "an 'image' block")
    """
    first = phrase.lstrip("'\"`")[:1].lower()
    return f"{'an' if first and first in 'aeiou' else 'a'} {phrase}"


def money(usd: float | None) -> str:
    """Dollars to four decimals, as a person reads them (tiny amounts say so).

    Examples
    --------
    >>> money(0.29645865000000005), money(1234.5), money(1.5e-06), money(None)
    ('$0.2965', '$1,234.5000', '< $0.0001', 'unknown')
    """
    if usd is None or (isinstance(usd, float) and math.isnan(usd)):
        return "unknown"
    if 0 < usd < 0.00005:
        return "< $0.0001"
    return f"${usd:,.4f}"


def value_text(name: str, value: Any) -> str:
    """One value as text: money for ``*_usd`` names, thousands for counts.

    Examples
    --------
    >>> value_text("cost_usd", 0.5), value_text("input_tokens", 12345), value_text("x", None)
    ('$0.5000', '12,345', '—')
    """
    if name.endswith("_usd"):
        return money(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _label(name: str) -> str:
    return name.removesuffix("_usd").replace("_", " ")


def record_pairs(record: Mapping[str, Any], *, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(label, text) for each field of a one-row record (a summary, an estimate).

    Examples
    --------
    >>> record_pairs({"rows": 1200, "estimated_cost_usd": 0.29645865000000005})
    [('rows', '1,200'), ('estimated cost', '$0.2965')]
    """
    skipped = set(skip)
    return [(_label(k), value_text(k, v)) for k, v in record.items() if k not in skipped]


def aligned(pairs: Sequence[tuple[str, str]], *, indent: str = "") -> str:
    """Label and value lines, the values in one column."""
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{indent}{label:<{width}}  {value}".rstrip() for label, value in pairs)


def text_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain table with a header; every column as wide as its widest cell.

    Examples
    --------
    >>> print(text_table([{"key": "r0-b0", "requests": 1200}], ["key", "requests"]))
    key    requests
    r0-b0  1,200
    """
    cells = [[value_text(c, row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [list(columns), *cells]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def html_table(
    pairs: Sequence[tuple[str, str]] = (),
    *,
    title: str = "",
    rows: Sequence[Mapping[str, Any]] = (),
    columns: Sequence[str] = (),
    footer: str = "",
) -> str:
    """A small HTML table: label/value ``pairs``, or ``rows`` under ``columns``; escaped.

    Examples
    --------
    >>> html_table([("cost", "$0.2965")], title="Run <1>")[:64]
    '<div><b>Run &lt;1&gt;</b><table><tr><th style="text-align:left">'
    """
    esc = html.escape
    parts = ["<div>"]
    if title:
        parts.append(f"<b>{esc(title)}</b>")
    parts.append("<table>")
    for label, value in pairs:
        parts.append(f'<tr><th style="text-align:left">{esc(label)}</th><td>{esc(value)}</td></tr>')
    if columns:
        parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>")
        for row in rows:
            cells = "".join(f"<td>{esc(value_text(c, row.get(c)))}</td>" for c in columns)
            parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    if footer:
        parts.append(f"<p>{esc(footer)}</p>")
    parts.append("</div>")
    return "".join(parts)
