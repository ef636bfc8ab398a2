"""Streaming dialects: what each provider's events mean, one small module each.

A :class:`Dialect` names its API (``gen_ai.operation.name``, ``openai.api.type``, the provider for
a host), recognises its HTTP requests and its first SSE message, reads HTTP response headers and
error bodies, and makes a :class:`Reader` per stream, which turns raw SSE messages (or SDK
objects) into the neutral facts of :mod:`._facts` and reports them to the stream core's
:class:`Sink`. The stream core, the recording and the integrations know no provider.

To add a dialect: a module with a class satisfying :class:`Dialect`, listed in :data:`DIALECTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import anthropic_messages, chat_completions, gemini, responses
from ._facts import (
    Dialect,
    ErrorFacts,
    Event,
    HTTPFacts,
    Kind,
    RateLimit,
    Reader,
    RequestFacts,
    Sink,
    Usage,
)

DIALECTS: Mapping[str, Dialect] = {
    d.name: d
    for d in (
        responses.DIALECT,
        chat_completions.DIALECT,
        anthropic_messages.DIALECT,
        gemini.DIALECT,
    )
}
"""Every dialect by name, in the order they are tried."""
DEFAULT = responses.DIALECT
"""Assumed when nothing says otherwise (the library's first dialect)."""

__all__ = [
    "DEFAULT",
    "DIALECTS",
    "Dialect",
    "ErrorFacts",
    "Event",
    "HTTPFacts",
    "Kind",
    "RateLimit",
    "Reader",
    "RequestFacts",
    "Sink",
    "Usage",
    "detect",
    "detect_object",
    "for_request",
    "get",
]


def get(name: str) -> Dialect:
    """The dialect called ``name``; ``ValueError`` naming the known ones otherwise."""
    found = DIALECTS.get(name)
    if found is None:
        known = ", ".join(repr(n) for n in DIALECTS)
        raise ValueError(f"unknown dialect {name!r}; known dialects: {known}")
    return found


def for_request(method: str, host: str | None, path: str) -> Dialect | None:
    """The dialect of an HTTP request (by method and URL path), or ``None`` if it is not a
    call of a streaming API otel-responses knows."""
    for dialect in DIALECTS.values():
        if dialect.matches(method, host, path):
            return dialect
    return None


def detect(event_type: str, data: bytes) -> Dialect | None:
    """The dialect of a stream, from its first SSE message; ``None`` if none claims it."""
    for dialect in DIALECTS.values():
        if dialect.sniff(event_type, data):
            return dialect
    return None


def detect_object(obj: Any) -> Dialect | None:
    """The dialect of a stream, from its first event as a dict or SDK object."""
    for dialect in DIALECTS.values():
        if dialect.sniff_object(obj):
            return dialect
    return None
