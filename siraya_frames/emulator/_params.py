"""Per-request parameter checks of the ``anthropic`` and ``openai`` dialects.

The real services accept a batch whose requests have bad parameters and report each one as
an errored result (``invalid_request_error``) once the batch has ended; only a malformed body
is refused at create time (see ``_validate``). These pure functions return the message of the
first problem of one request's params, or None.

Examples
--------
>>> anthropic_problem({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
'max_tokens: Field required'
>>> openai_problem({"model": "m", "messages": [{"role": "robot", "content": "hi"}]})
"messages[0].role: 'robot' is not one of system, developer, user, assistant, tool"
>>> checker_for("quickstart") is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ANTHROPIC_ROLES = ("user", "assistant")
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
MIN_THINKING_BUDGET = 1024
"""Anthropic's smallest ``thinking.budget_tokens``."""

Checker = Callable[[dict[str, Any]], "str | None"]


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _messages_problem(messages: Any, roles: tuple[str, ...]) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}]: Input should be an object"
        if message.get("role") not in roles:
            return f"messages[{i}].role: {message.get('role')!r} is not one of {', '.join(roles)}"
    return None


def anthropic_problem(params: dict[str, Any]) -> str | None:
    """Return the first problem of Messages API params, or None."""
    if not isinstance(params.get("model"), str) or not params["model"]:
        return "model: Field required"
    if "max_tokens" not in params:
        return "max_tokens: Field required"
    if not _positive_int(params["max_tokens"]):
        return f"max_tokens: must be an integer >= 1, got {params['max_tokens']!r}"
    problem = _messages_problem(params.get("messages"), ANTHROPIC_ROLES)
    if problem:
        return problem
    if params.get("messages", [{}])[0].get("role") != "user":
        return "messages: the first message must use the 'user' role"
    thinking = params.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or not _positive_int(budget) or budget < MIN_THINKING_BUDGET:
            return f"thinking.budget_tokens: must be >= {MIN_THINKING_BUDGET}, got {budget!r}"
        if budget >= params["max_tokens"]:
            return "max_tokens: must be greater than thinking.budget_tokens"
    return None


def openai_problem(params: dict[str, Any]) -> str | None:
    """Return the first problem of chat-completions params, or None."""
    if not isinstance(params.get("model"), str) or not params["model"]:
        return "model: you must provide a model parameter"
    for name in ("max_tokens", "max_completion_tokens"):
        if name in params and params[name] is not None and not _positive_int(params[name]):
            return f"{name}: must be an integer >= 1, got {params[name]!r}"
    return _messages_problem(params.get("messages"), OPENAI_ROLES)


def checker_for(dialect: str) -> Checker | None:
    """Return the per-request check of a dialect (None: checked at create time instead)."""
    return {"anthropic": anthropic_problem, "openai": openai_problem}.get(dialect)
