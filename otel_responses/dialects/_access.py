"""Reading fields alike from parsed JSON, dicts and SDK objects, with bounded, typed results.

Events reach a dialect as raw JSON (parsed here), as dicts, or as SDK (pydantic) objects;
:func:`field` reads all three, so a dialect's interpretation is written once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_TEXT = 256
"""Ids, models, codes and statuses are cut to this many characters."""
MAX_TYPE_CHARS = 96
"""Event type names are cut to this many characters."""


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK objects, ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def text(value: Any) -> str | None:
    """A non-empty string field, cut to :data:`MAX_TEXT` characters."""
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def code(value: Any) -> str | None:
    """An error code, which some providers send as a number (``429``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def integer(value: Any) -> int | None:
    """A non-negative integer field (``bool`` is not one)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)  # Google's int64 fields arrive as JSON strings
    return None


def loads(data: bytes | str) -> Any:
    """Parsed JSON, or ``None`` for bad JSON, bad UTF-8 or nesting too deep (hostile input is
    an anomaly to count, never a fault)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def as_mapping(body: Any) -> Mapping[str, Any] | None:
    """An HTTP body (bytes, text or already parsed) as a JSON object, if it is one."""
    if isinstance(body, (bytes, str)):
        body = loads(body)
    return body if isinstance(body, Mapping) else None


def lowered(headers: Any) -> dict[str, str]:
    """Header names lower-cased, values as bounded strings (any mapping or httpx headers)."""
    if not headers:
        return {}
    try:
        items = headers.items()
    except AttributeError:
        return {}
    return {str(k).lower(): str(v)[:MAX_TEXT] for k, v in items}


_TYPE_PREFIX = b'{"type":"'
_TYPE_PREFIX_LEN = len(_TYPE_PREFIX)


def type_of_payload(data: bytes) -> str:
    """The ``"type"`` of a JSON event sent without an ``event:`` line: read from its first
    bytes when it starts with it (as the Responses and Anthropic APIs write it), else parsed;
    ``""`` when it has none."""
    if data.startswith(_TYPE_PREFIX):
        end = data.find(b'"', _TYPE_PREFIX_LEN)
        if 0 < end <= _TYPE_PREFIX_LEN + MAX_TYPE_CHARS and b"\\" not in data[:end]:
            return data[_TYPE_PREFIX_LEN:end].decode("utf-8", "replace")
    payload = loads(data)
    found = payload.get("type") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else ""
