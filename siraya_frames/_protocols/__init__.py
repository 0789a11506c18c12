"""The wire protocols the clients speak, one module each, behind one interface.

Examples
--------
>>> [get_protocol(name).name for name in PROTOCOLS]
['siraya', 'anthropic', 'openai']
>>> get_protocol("gemini")  # doctest: +ELLIPSIS
Traceback (most recent call last):
siraya_frames._errors.ConfigurationError: protocol 'gemini' is not known; choose one of ...
"""

from __future__ import annotations

from siraya_frames._errors import ConfigurationError
from siraya_frames._protocols._base import WireProtocol, resolve_url
from siraya_frames._protocols.anthropic import AnthropicProtocol
from siraya_frames._protocols.openai import OpenAIProtocol
from siraya_frames._protocols.siraya import SirayaProtocol

__all__ = ["PROTOCOLS", "WireProtocol", "get_protocol", "resolve_url"]

PROTOCOLS: dict[str, WireProtocol] = {
    p.name: p for p in (SirayaProtocol(), AnthropicProtocol(), OpenAIProtocol())
}


def get_protocol(name: str | WireProtocol) -> WireProtocol:
    """The protocol called ``name`` (a protocol passes through)."""
    if isinstance(name, WireProtocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigurationError(
            f"protocol {name!r} is not known; choose one of {', '.join(PROTOCOLS)} "
            "(argument protocol=, --protocol or SIRAYA_PROTOCOL)"
        ) from None
