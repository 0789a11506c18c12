"""Extraction: a JSON object with the fields of a Polars schema, parsed into typed columns.

Pure (no I/O). ``schema={"name": pl.String, "year": pl.Int32}``: the instructions ask for a
JSON object with exactly those keys; each answer (a ```` ```json ```` fence is tolerated) must
be that object with values of the right JSON types. A row that is not valid JSON, not an
object, misses a key, has an extra key, or has a value of the wrong type gives nulls in
*every* field and a ``parse_error`` naming each problem. A JSON ``null`` value is allowed.
A null answer (a request that errored or is missing) gives nulls and no error. The schema
and the instructions are in ``_extract_schema.py`` (re-exported here).

Examples
--------
>>> import polars as pl
>>> parse_extraction(pl.Series(['{"year": 1965}', '{"year": "1965"}']), {"year": pl.Int32}).rows()
[(1965, None), (None, "field 'year': expected integer, got '1965'")]
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from siraya_frames._extract_schema import (
    _FLOAT_MAX,
    _INT_RANGES,
    PARSE_ERROR_COLUMN,
    _instance,
    extraction_instructions,
    normalize_schema,
)
from siraya_frames._labels import _answers_series

if TYPE_CHECKING:  # a dtype as Polars takes it: pl.String() or the class pl.String
    from polars._typing import PolarsDataType as DType


__all__ = [
    "PARSE_ERROR_COLUMN",
    "extraction_instructions",
    "normalize_schema",
    "parse_extraction",
]

# --------------------------------------------------------------------------------------------
# Extraction: strict conversion of decoded JSON values
# --------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value does not fit its dtype; ``path`` is filled in on the way up."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


Converter = Callable[[Any], Any]
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _show(value: Any) -> str:
    """A short rendering of a JSON value for an error message."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def _string(value: Any) -> str:
    if type(value) is str:
        return value
    raise _Invalid(f"expected string, got {_show(value)}")


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Invalid(f"expected true or false, got {_show(value)}")


def _date(value: Any) -> dt.date:
    if type(value) is str and _DATE_RE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _Invalid(f'expected a date string "YYYY-MM-DD", got {_show(value)}')


def _integer(dtype: pl.DataType) -> Converter:
    low, high = _INT_RANGES[type(dtype)]

    def convert(value: Any) -> int:
        if type(value) is int:
            number = value
        elif type(value) is float and value.is_integer():
            number = int(value)
        else:
            raise _Invalid(f"expected integer, got {_show(value)}")
        if not low <= number <= high:
            raise _Invalid(f"integer {_show(value)} out of range for {dtype} ({low} to {high})")
        return number

    return convert


def _number(dtype: pl.DataType) -> Converter:
    limit = _FLOAT_MAX[type(dtype)]

    def convert(value: Any) -> float:
        if type(value) not in (int, float):
            raise _Invalid(f"expected number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not abs(number) <= limit or not math.isfinite(number):
            raise _Invalid(f"number {_show(value)} out of range for {dtype}")
        return number

    return convert


def _enum(dtype: pl.Enum) -> Converter:
    allowed = frozenset(dtype.categories.to_list())
    choices = ", ".join(repr(c) for c in dtype.categories)

    def convert(value: Any) -> str:
        if type(value) is str and value in allowed:
            return value
        raise _Invalid(f"expected one of {choices}, got {_show(value)}")

    return convert


def _nullable(convert: Converter) -> Converter:
    return lambda value: None if value is None else convert(value)


def _list(dtype: pl.List) -> Converter:
    item = _nullable(_converter(dtype.inner))

    def convert(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Invalid(f"expected array, got {_show(value)}")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except _Invalid as exc:
                raise _Invalid(exc.message, f"[{index}]{exc.path}") from None
        return out

    return convert


def _struct(dtype: pl.Struct) -> Converter:
    fields = {f.name: _nullable(_converter(f.dtype)) for f in dtype.fields}

    def convert(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Invalid(f"expected object, got {_show(value)}")
        problems = _key_problems(value, fields)
        if problems:
            raise _Invalid("; ".join(problems))
        out = {}
        for name, field in fields.items():
            try:
                out[name] = field(value[name])
            except _Invalid as exc:
                raise _Invalid(exc.message, f".{name}{exc.path}") from None
        return out

    return convert


def _converter(dtype: DType) -> Converter:
    """A function checking one non-null decoded JSON value against ``dtype`` and converting it."""
    dtype = _instance(dtype)
    kind = type(dtype)
    if kind in _INT_RANGES:
        return _integer(dtype)
    if kind in _FLOAT_MAX:
        return _number(dtype)
    if isinstance(dtype, pl.Enum):
        return _enum(dtype)
    if isinstance(dtype, pl.List):
        return _list(dtype)
    if isinstance(dtype, pl.Struct):
        return _struct(dtype)
    return {pl.String: _string, pl.Boolean: _boolean, pl.Date: _date}[kind]


def _key_problems(obj: dict[str, Any], fields: Mapping[str, Any]) -> list[str]:
    """Missing and unexpected keys of a decoded object, as messages (empty when exact)."""
    if obj.keys() == fields.keys():
        return []
    missing = [f"missing field {name!r}" for name in fields if name not in obj]
    extra = [f"unexpected field {_show(name)}" for name in obj if name not in fields]
    return missing + extra


# --------------------------------------------------------------------------------------------
# Extraction: parsing answers
# --------------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        duplicate = next(name for name in names if names.count(name) > 1)
        raise _DuplicateKey(f"duplicate key {_show(duplicate)}")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates, parse_constant=_no_constant
)
_FENCE_RE = r"(?s)^```[\w-]*(.*?)```$"


def _unfenced(raw: pl.Expr) -> pl.Expr:
    """The answer without surrounding whitespace and one surrounding ```` ``` ```` fence."""
    return raw.str.strip_chars().str.replace(_FENCE_RE, "$1").str.strip_chars()


@dataclass(frozen=True)
class _RowParser:
    """Parses one answer into a tuple of field values, or raises :class:`_Invalid`."""

    fields: dict[str, Converter]

    def __call__(self, text: str) -> tuple[Any, ...]:
        obj = self._decode(text)
        problems = _key_problems(obj, self.fields)
        values = []
        for name, convert in self.fields.items():
            if name not in obj:
                continue
            try:
                values.append(convert(obj[name]))
            except _Invalid as exc:
                problems.append(f"field '{name}{exc.path}': {exc.message}")
        if problems:
            raise _Invalid("; ".join(problems))
        return tuple(values)

    @staticmethod
    def _decode(text: str) -> dict[str, Any]:
        if not text:
            raise _Invalid("invalid JSON: empty answer")
        try:
            obj = _DECODER.decode(text)
        except _DuplicateKey as exc:
            raise _Invalid(f"invalid JSON object: {exc}") from None
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                reason = f"{exc.msg} at char {exc.pos}"
            else:
                reason = str(exc)
            raise _Invalid(f"invalid JSON ({reason}): {_show(text)}") from None
        if type(obj) is not dict:
            kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}
            got = kind.get(type(obj), "number")
            raise _Invalid(f"expected a JSON object, got {got}: {_show(text)}")
        return obj


def _parse_rows(texts: list[str | None], parse: _RowParser) -> tuple[list[tuple], list]:
    """Values per row (all None for invalid or null rows) and the error per row."""
    empty = (None,) * len(parse.fields)
    rows: list[tuple] = []
    errors: list[str | None] = []
    for text in texts:
        if text is None:
            rows.append(empty)
            errors.append(None)
            continue
        try:
            rows.append(parse(text))
            errors.append(None)
        except _Invalid as exc:
            rows.append(empty)
            errors.append(exc.message)
    return rows, errors


def _list_column(name: str, values: list[Any], dtype: pl.List) -> pl.Series:
    """A List column from Python lists, built from one flat inner column and offsets: Polars
    builds a Series per row otherwise (~20x slower). Falls back where Arrow lacks the inner
    type (Int128)."""
    flat: list[Any] = []
    offsets, nulls = [0], []
    for value in values:
        nulls.append(value is None)
        if value is not None:
            flat.extend(value)
        offsets.append(len(flat))
    try:
        inner = pl.Series(flat, dtype=_instance(dtype.inner)).to_arrow()
    except pa.ArrowException:
        return pl.Series(name, values, dtype=dtype)
    array = pa.LargeListArray.from_arrays(
        pa.array(offsets, pa.int64()), inner, mask=pa.array(nulls, pa.bool_())
    )
    return pl.Series(name, array).cast(dtype)


def _column(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    if isinstance(dtype, pl.List):
        return _list_column(name, values, dtype)
    return pl.Series(name, values, dtype=dtype)


def parse_extraction(
    answers: pl.Series | Sequence[str | None], schema: Mapping[str, Any]
) -> pl.DataFrame:
    """Parse JSON answers into one typed column per schema field, strictly.

    Each answer must be one JSON object (surrounding whitespace and one ```` ```json ````
    fence are tolerated, nothing else) with exactly the schema's keys. JSON types must fit:
    a string for String and Date (``"YYYY-MM-DD"``), a number for floats, an integer for
    integers (``2019.0`` is accepted, ``2019.5`` and ``"2019"`` are not), ``true``/``false``
    for Boolean, an array for List, an object with exactly its keys for Struct, one of the
    categories for Enum. JSON ``null`` is allowed anywhere and gives a null value.

    A row breaking any rule (invalid JSON, not an object, a missing or extra key, a duplicate
    key, a value of the wrong type or out of range) gets null in **every** field and a
    ``parse_error`` listing the problems, e.g. ``"field 'year': expected integer, got
    'nineteen'"``. A null answer gives nulls and a null ``parse_error``.

    Parameters
    ----------
    answers
        The model's answers (a String Series, or a list of str / None).
    schema
        Field name -> polars dtype (see :func:`normalize_schema`).

    Returns
    -------
    pl.DataFrame
        One column per field with the schema's dtype, then ``parse_error`` (String); one row
        per answer, in order.

    Examples
    --------
    >>> answers = ['```json\\n{"title": "Dune", "year": 1965.0}\\n```', '{"title": "X"}']
    >>> parse_extraction(answers, {"title": pl.String, "year": pl.Int32}).rows()
    [('Dune', 1965, None), (None, None, "missing field 'year'")]
    """
    fields = normalize_schema(schema)
    series = _answers_series(answers)
    texts = series.to_frame("a").select(_unfenced(pl.col("a"))).to_series().to_list()
    parse = _RowParser({name: _nullable(_converter(dtype)) for name, dtype in fields.items()})
    rows, errors = _parse_rows(texts, parse)
    columns = zip(*rows, strict=True) if rows else [[] for _ in fields]
    data = [
        _column(name, list(values), dtype)
        for (name, dtype), values in zip(fields.items(), columns, strict=True)
    ]
    data.append(pl.Series(PARSE_ERROR_COLUMN, errors, dtype=pl.String))
    return pl.DataFrame(data)
