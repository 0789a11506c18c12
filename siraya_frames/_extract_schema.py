"""Extraction: the schema (checked, normalised) and the instructions it makes for the model.

Pure (no I/O). Parsing the answers back into typed columns is in ``_extract.py``.

Examples
--------
>>> import polars as pl
>>> normalize_schema({"year": pl.Int32})
{'year': Int32}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from siraya_frames._errors import InputError

if TYPE_CHECKING:  # a dtype as Polars takes it: pl.String() or the class pl.String
    from polars._typing import PolarsDataType as DType


__all__ = ["PARSE_ERROR_COLUMN", "extraction_instructions", "normalize_schema"]

PARSE_ERROR_COLUMN = "parse_error"


# --------------------------------------------------------------------------------------------
# Extraction: the schema
# --------------------------------------------------------------------------------------------

_FIELD_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUPPORTED = (
    "String, Boolean, Int8..Int128, UInt8..UInt128, Float16/32/64, Date, Enum, "
    "List of a supported type, Struct of supported types"
)
_INT_RANGES: dict[type[pl.DataType], tuple[int, int]] = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
    pl.Int128: (-(2**127), 2**127 - 1),
    pl.UInt8: (0, 2**8 - 1),
    pl.UInt16: (0, 2**16 - 1),
    pl.UInt32: (0, 2**32 - 1),
    pl.UInt64: (0, 2**64 - 1),
    pl.UInt128: (0, 2**128 - 1),
}
_FLOAT_MAX: dict[type[pl.DataType], float] = {
    pl.Float16: 65504.0,
    pl.Float32: 3.4028234663852886e38,
    pl.Float64: math.inf,
}


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not _FIELD_NAME_RE.fullmatch(name):
        raise InputError(
            f"{where}field name {name!r} is not an identifier; use letters, digits and "
            "underscores, not starting with a digit (e.g. 'publication_year')"
        )


def _instance(dtype: Any) -> pl.DataType:
    """``pl.String`` -> ``pl.String()`` (polars keeps inner and field dtypes as classes)."""
    return dtype() if isinstance(dtype, type) else dtype


def _check_dtype(dtype: DType, path: str) -> None:
    """Raise :class:`InputError` unless ``dtype`` (at ``path``) can be extracted."""
    dtype = _instance(dtype)
    if isinstance(dtype, pl.List):
        _check_dtype(dtype.inner, f"{path}[]")
    elif isinstance(dtype, pl.Struct):
        if not dtype.fields:
            raise InputError(f"field '{path}': a Struct needs at least one field")
        for field in dtype.fields:
            _check_name(field.name, f"in field '{path}': ")
            _check_dtype(field.dtype, f"{path}.{field.name}")
    elif isinstance(dtype, pl.Enum):
        if len(dtype.categories) == 0:
            raise InputError(f"field '{path}': an Enum needs at least one category")
    elif type(dtype) not in (*_INT_RANGES, *_FLOAT_MAX, pl.String, pl.Boolean, pl.Date):
        raise InputError(f"field '{path}': dtype {dtype} is not supported; use {_SUPPORTED}")


def normalize_schema(schema: Mapping[str, Any]) -> dict[str, pl.DataType]:
    """Check an extraction schema and return it with fully specified dtype instances.

    Parameters
    ----------
    schema
        A dict or ``pl.Schema`` of field name -> dtype. Dtypes may be classes
        (``pl.String``), instances (``pl.List(pl.Int32)``) or Python types (``str``).

    Returns
    -------
    dict of str to pl.DataType
        Same names and order.

    Raises
    ------
    InputError
        When the schema is empty, a name is not an identifier or is ``parse_error``, or a
        dtype is not one of: String, Boolean, integers, floats, Date, Enum, List, Struct.

    Examples
    --------
    >>> normalize_schema({"title": pl.String, "tags": pl.List(str)})
    {'title': String, 'tags': List(String)}
    """
    if not isinstance(schema, Mapping):
        raise InputError(
            f"schema must be a dict of field name -> polars dtype, got {type(schema).__name__}"
        )
    if not schema:
        raise InputError('schema is empty; pass at least one field, e.g. {"name": pl.String}')
    result: dict[str, pl.DataType] = {}
    for name, dtype in schema.items():
        _check_name(name, "")
        if name == PARSE_ERROR_COLUMN:
            raise InputError(f"field name {name!r} is reserved for the error column; rename it")
        try:
            resolved = pl.Schema({name: dtype})[name]
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"field '{name}': {dtype!r} is not a supported dtype ({exc}); use {_SUPPORTED}"
            ) from exc
        _check_dtype(resolved, name)
        result[name] = resolved
    return result


# --------------------------------------------------------------------------------------------
# Extraction: instructions
# --------------------------------------------------------------------------------------------


def _describe(dtype: DType) -> str:
    """The JSON type expected for ``dtype``, in words."""
    dtype = _instance(dtype)
    kind = type(dtype)
    if kind is pl.String:
        return "string"
    if kind is pl.Boolean:
        return "true or false"
    if kind is pl.Date:
        return 'string, a date as "YYYY-MM-DD"'
    if kind in _FLOAT_MAX:
        return "number"
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if high < 2**16:
            return f"integer from {low} to {high}"
        return "integer" if low < 0 else "integer, 0 or more"
    if isinstance(dtype, pl.Enum):
        return "string, one of " + ", ".join(json.dumps(c) for c in dtype.categories)
    if isinstance(dtype, pl.List):
        return f"array (each item: {_describe(dtype.inner)})"
    if not isinstance(dtype, pl.Struct):  # _check_dtype allows nothing else
        raise InputError(f"cannot describe the dtype {dtype} for the model")
    fields = ", ".join(f'"{f.name}" ({_describe(f.dtype)})' for f in dtype.fields)
    return f"object with exactly the keys {fields}"


def extraction_instructions(schema: Mapping[str, Any]) -> str:
    """Return the instructions that make a model answer with one JSON object.

    Parameters
    ----------
    schema
        Field name -> polars dtype (see :func:`normalize_schema`).

    Returns
    -------
    str
        Deterministic text listing every key with its JSON type.

    Examples
    --------
    >>> print(extraction_instructions({"title": pl.String, "year": pl.Int32}))
    Answer with a JSON object with exactly these keys:
    - "title": string
    - "year": integer
    Use null for a value that is unknown or absent.
    Answer with only the JSON object: no code fences, no text before or after it.
    """
    fields = normalize_schema(schema)
    lines = ["Answer with a JSON object with exactly these keys:"]
    lines += [f"- {json.dumps(name)}: {_describe(dtype)}" for name, dtype in fields.items()]
    lines.append("Use null for a value that is unknown or absent.")
    lines.append("Answer with only the JSON object: no code fences, no text before or after it.")
    return "\n".join(lines)
