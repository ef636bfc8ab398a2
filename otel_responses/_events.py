"""The event model: what a Responses API stream event means, whatever form it arrives in.

Events reach the hook as decoded SSE payloads (parsed here with ``json.loads``), as dicts, or as
the openai SDK's pydantic event objects; :func:`field` reads all three alike, so the telemetry
mapping never needs to know which it got.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple

from . import _registry as names
from ._ratelimit import facts_from_message
from ._redact import redact


class Kind(enum.Enum):
    DELTA = "delta"
    LIFECYCLE = "lifecycle"
    ERROR = "error"
    TERMINAL = "terminal"


TERMINAL_OUTCOMES = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}
MAX_TYPE_CHARS = 96
KINDS: dict[str, Kind] = {}
"""Memo of :func:`kind_of`; the hot path reads it directly before calling the function."""


def kind_of(event_type: str) -> Kind:
    """Classify an event type (memoised: the per-delta hot path calls this)."""
    kind = KINDS.get(event_type)
    if kind is None:
        if event_type.endswith(".delta"):
            kind = Kind.DELTA
        elif event_type in TERMINAL_OUTCOMES:
            kind = Kind.TERMINAL
        elif event_type == "error":
            kind = Kind.ERROR
        else:
            kind = Kind.LIFECYCLE
        if len(KINDS) < 1024:
            KINDS[event_type] = kind
    return kind


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK objects, ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def text_str(value: Any) -> str | None:
    """A non-empty string field, cut to 256 characters (ids, models, codes, statuses)."""
    return value[:256] if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sequence_of(payload: Any) -> int | None:
    """The event's ``sequence_number``, if it is a non-negative integer."""
    seq = field(payload, "sequence_number")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None


class ErrorInfo(NamedTuple):
    code: str | None
    message: str | None
    """Redacted: safe to record."""
    param: str | None
    rate_limit: dict[str, Any]
    """Rate-limit span attributes stated by the raw message (ids only as their attributes)."""


NO_ERROR = ErrorInfo(None, None, None, {})


def error_of(payload: Any) -> ErrorInfo:
    """The error of an ``error`` event (flat, or nested under ``error``), or of a response."""
    nested = field(payload, "error")
    source = nested if nested is not None and not isinstance(nested, str) else payload
    code = field(source, "code")
    if code is None:
        code = field(source, "type") if source is not payload else None
    message = field(source, "message")
    if not isinstance(message, str):
        message = None
    return ErrorInfo(
        text_str(code) if not isinstance(code, int) else str(code),
        redact(message) if message else None,
        text_str(field(source, "param")),
        facts_from_message(message) if message else {},
    )


def span_event_attributes(event_type: str, payload: Any) -> dict[str, Any]:
    """Attributes of the span event recorded for one lifecycle event."""
    attrs: dict[str, Any] = {}
    seq = sequence_of(payload)
    if seq is not None:
        attrs[names.EVENT_SEQUENCE] = seq
    index = _int(field(payload, "output_index"))
    if index is not None:
        attrs[names.EVENT_OUTPUT_INDEX] = index
    item = field(payload, "item")
    if item is not None:
        for key, attr in (
            ("type", names.EVENT_ITEM_TYPE),
            ("id", names.EVENT_ITEM_ID),
            ("status", names.EVENT_ITEM_STATUS),
        ):
            value = text_str(field(item, key))
            if value is not None:
                attrs[attr] = value
    response = field(payload, "response")
    if response is not None:
        status = text_str(field(response, "status"))
        if status is not None:
            attrs[names.EVENT_RESPONSE_STATUS] = status
    if event_type == "error" or event_type == "response.failed":
        err = error_of(payload if event_type == "error" else response)
        for attr, value in (
            (names.EVENT_ERROR_CODE, err.code),
            (names.EVENT_ERROR_MESSAGE, err.message),
            (names.EVENT_ERROR_PARAM, err.param),
        ):
            if value is not None:
                attrs[attr] = value
    return attrs


class Usage(NamedTuple):
    input: int | None
    output: int | None
    cached: int | None
    reasoning: int | None


def usage_of(response: Any) -> Usage | None:
    usage = field(response, "usage")
    if usage is None:
        return None
    return Usage(
        _int(field(usage, "input_tokens")),
        _int(field(usage, "output_tokens")),
        _int(field(field(usage, "input_tokens_details"), "cached_tokens")),
        _int(field(field(usage, "output_tokens_details"), "reasoning_tokens")),
    )


def incomplete_reason(response: Any) -> str | None:
    return text_str(field(field(response, "incomplete_details"), "reason"))
