"""Strict checks of emulator JSON against the official SDKs' pydantic models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar

import pydantic

M = TypeVar("M", bound=pydantic.BaseModel)


def strict(model: type[M], obj: dict[str, Any]) -> M:
    """Validate ``obj`` as ``model`` (strict JSON mode) and fail on any field the model,
    or any nested model, does not declare (the SDK models would keep it as an extra)."""
    parsed = model.model_validate_json(json.dumps(obj), strict=True)
    unknown = list(_extras(parsed, model.__name__))
    assert not unknown, f"fields unknown to the SDK: {unknown}"
    return parsed


def _extras(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, pydantic.BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}"
        for name in type(value).model_fields:
            yield from _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _extras(item, f"{path}[{i}]")


def raw_json(raw: Any) -> Any:
    """The JSON body of an SDK ``with_raw_response`` answer."""
    return json.loads(raw.http_response.content)
