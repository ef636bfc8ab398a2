"""Which dialect a request speaks, for routing and for tracing.

``otel_responses.dialects.for_request`` is the one authority. While a build lacks it, a path
classifier stands in for routing, and only Responses calls are traced (the only dialect the hook
of such a build understands).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_FALLBACK = (
    (re.compile(r"/responses$"), "responses"),
    (re.compile(r"/chat/completions$"), "chat_completions"),
    (re.compile(r"/messages$"), "anthropic_messages"),
    (re.compile(r"/models/[^/]+:(?:stream)?[gG]enerateContent$"), "gemini"),
)


def _load() -> Callable[[str, str | None, str], Any] | None:
    try:
        from .. import dialects
    except ImportError:
        return None
    found: Callable[[str, str | None, str], Any] | None = getattr(dialects, "for_request", None)
    return found


_FOR_REQUEST = _load()


def dialect_of(method: str, host: str | None, path: str) -> str | None:
    """The dialect name of a request to ``host`` for ``path`` (no query), or ``None``."""
    if _FOR_REQUEST is not None:
        try:
            found = _FOR_REQUEST(method, host, path)
        except Exception:
            return None
        return None if found is None else str(found.name)
    if method.upper() != "POST":
        return None
    for pattern, name in _FALLBACK:
        if pattern.search(path):
            return name
    return None


def traced(dialect: str | None) -> bool:
    """Whether a request of ``dialect`` gets a span (non-LLM paths are forwarded untraced)."""
    if dialect is None:
        return False
    return _FOR_REQUEST is not None or dialect == "responses"


_GEMINI_MODEL = re.compile(r"/models/([^/:]+):(stream)?[gG]enerateContent$")


def gemini_model(path: str) -> tuple[str, bool] | None:
    """``(model, streamed)`` from a Gemini ``…/models/{model}:(stream)GenerateContent`` path."""
    found = _GEMINI_MODEL.search(path)
    if found is None:
        return None
    return found.group(1), found.group(2) is not None
