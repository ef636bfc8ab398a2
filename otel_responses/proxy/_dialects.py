"""Which dialect a request speaks, for routing and for tracing.

``otel_responses.dialects.for_request`` is the one authority on what is traced. Routing by dialect
falls back on a path classifier for the dialects it does not (yet) know; a build without
``for_request`` traces only Responses calls (the only dialect its hook reads).
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


def _by_path(method: str, path: str) -> str | None:
    if method.upper() != "POST":
        return None
    for pattern, name in _FALLBACK:
        if pattern.search(path):
            return name
    return None


def dialect_of(method: str, host: str | None, path: str) -> str | None:
    """The dialect a request to ``host`` for ``path`` (no query) is traced with, or ``None``
    (forwarded untraced: not an LLM call, or a dialect this build cannot read)."""
    if _FOR_REQUEST is not None:
        try:
            found = _FOR_REQUEST(method, host, path)
        except Exception:
            return None
        return None if found is None else str(found.name)
    return "responses" if _by_path(method, path) == "responses" else None


def routing_dialect(method: str, host: str | None, path: str) -> str | None:
    """The dialect a request is routed by: the traced one, else what its path looks like, so
    ``anthropic=URL`` routes even in a build that cannot yet trace Anthropic calls."""
    return dialect_of(method, host, path) or _by_path(method, path)


_GEMINI_MODEL = re.compile(r"/models/([^/:]+):(stream)?[gG]enerateContent$")


def gemini_model(path: str) -> tuple[str, bool] | None:
    """``(model, streamed)`` from a Gemini ``…/models/{model}:(stream)GenerateContent`` path."""
    found = _GEMINI_MODEL.search(path)
    if found is None:
        return None
    return found.group(1), found.group(2) is not None
