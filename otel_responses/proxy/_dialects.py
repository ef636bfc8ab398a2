"""Which dialect a request speaks, for routing and for tracing: the dialects' own answer.

``otel_responses.dialects.for_request`` is the one authority (each dialect recognises its own
requests); the proxy adds no path rules of its own.
"""

from __future__ import annotations

from ..dialects import for_request


def dialect_of(method: str, host: str | None, path: str) -> str | None:
    """The dialect a request to ``host`` for ``path`` (no query) is traced and routed by, or
    ``None`` (forwarded untraced: not an LLM call otel-responses reads)."""
    found = for_request(method, host, path)
    return None if found is None else found.name
