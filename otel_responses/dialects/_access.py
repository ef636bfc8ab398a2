"""Reading fields alike from parsed JSON, dicts and SDK objects, with bounded, typed results.

Events reach a dialect as raw JSON (parsed here), as dicts, or as SDK (pydantic) objects;
:func:`field` reads all three, so a dialect's interpretation is written once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

MAX_TEXT = 256
"""Ids, models, codes and statuses are cut to this many characters."""
MAX_TYPE_CHARS = 96
"""Event type names are cut to this many characters."""


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK objects, ``None`` when absent."""
    if type(obj) is dict:  # parsed JSON: spared the ABC check below, dear in CPython 3.11
        return obj.get(name)
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


_UTF8_BOM = b"\xef\xbb\xbf"


def loads(data: bytes | str) -> Any:
    """Parsed JSON, or ``None`` for bad JSON, bad UTF-8 or nesting too deep (hostile input is
    an anomaly to count, never a fault).

    Bytes are decoded as UTF-8 here (an SSE stream is UTF-8 by definition; a leading BOM is
    dropped as ``json.loads`` would): ``json.loads`` given bytes first guesses among UTF-8, -16
    and -32 with several ``startswith`` calls, which cost more than the decoding itself."""
    try:
        if isinstance(data, bytes):
            if data[:3] == _UTF8_BOM:
                data = data[3:]
            data = data.decode()
        return json.loads(data)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
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
    if data[:_TYPE_PREFIX_LEN] == _TYPE_PREFIX:
        name, quote, _ = data[_TYPE_PREFIX_LEN : _TYPE_PREFIX_LEN + MAX_TYPE_CHARS + 1].partition(
            b'"'
        )
        if quote and 92 not in name:  # no backslash: the name is as written
            return name.decode("utf-8", "replace")
    payload = loads(data)
    found = payload.get("type") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else ""


_DIGITS = b"0123456789"


def string_end(data: bytes, start: int) -> int:
    """Index of the quote that closes the JSON string whose contents begin at ``start``; -1 if
    it does not close in ``data``."""
    # partition, not find: CPython 3.11 parses find's arguments with a format built per call.
    text, quote, _ = data[start:].partition(b'"')
    if not quote:
        return -1
    at = start + len(text)
    while at > start and data[at - 1] == 92:  # after a backslash: escaped, unless escaped itself
        slashes = len(data[start:at]) - len(data[start:at].rstrip(b"\\"))
        if slashes % 2 == 0:
            break
        at = data.find(b'"', at + 1)
        if at < 0:
            break
    return at


class DeltaShape:
    """The shape of the last delta frame a dialect verified in full: a later frame with the same
    bytes before its text and the same bytes after it — running counters' digits and a padding
    token aside — is the same kind of delta. Two comparisons instead of a scan
    for every marker a delta must not carry (finish reasons, usage, errors...), which is what
    makes the raw-bytes path of data-only dialects (Chat Completions, Gemini) cheap: their
    chunks repeat the response's id, model and choice index around each token.

    ``padding`` is the opening of a JSON string member the dialect's server fills with a fresh
    alphanumeric token in every frame (OpenAI's ``b'"obfuscation":"'``); its value is left out
    of the shape."""

    __slots__ = ("_after", "_before", "_head", "_head_len", "_kind", "_padding", "_tail")

    def __init__(self, padding: bytes = b"") -> None:
        self._padding = padding
        self._head = b""
        self._head_len = 0
        self._tail = b""
        self._before = self._after = b""
        """The bytes before and after the padding token of the last tail that had the learned
        shape: the same bytes around a new token are the same shape, found without removing
        the digits of the whole tail."""
        self._kind = ""

    def learn(self, data: bytes, value_start: int, kind: str) -> None:
        """``data`` is a verified delta of ``kind`` whose text value begins at ``value_start``."""
        end = string_end(data, value_start)
        if end < 0:
            return
        self._head = data[:value_start]
        self._head_len = value_start
        self._tail = _tail_shape(data[end + 1 :], self._padding)
        self._kind = kind

    def verify(
        self, data: bytes, full_check: Callable[[bytes], tuple[str, int] | None]
    ) -> str | None:
        """The kind of delta ``data`` is by ``full_check`` (which gives the kind and where the
        text begins, -1 for none), whose answer is then learned; ``None`` when it is no plain
        delta. For a frame :meth:`match` did not recognise: ``match(d) or verify(d, check)``
        costs the hot path one call."""
        found = full_check(data)
        if found is None:
            return None
        kind, value_start = found
        if value_start >= 0:
            self.learn(data, value_start, kind)
        return kind

    def match(self, data: bytes) -> str | None:
        """The kind of delta ``data`` is, if it has the learned shape; ``None`` otherwise (an
        empty text is no output: the full check decides it)."""
        head = self._head
        n = self._head_len
        if not head or data[:n] != head:
            return None
        # The per-delta hot path: partition, not find (CPython 3.11 parses find's arguments
        # with a format built per call), at the first quote after the text...
        text, quote, tail = data[n:].partition(b'"')
        if text[-1:] == b"\\":  # ...unless it may be escaped: then the JSON string's end
            end = string_end(data, n)
            text, tail = data[n : max(end, n)], data[end + 1 :]
            quote = b'"' if end >= 0 else b""
        if not text or not quote:
            return None
        padding = self._padding
        if not padding:
            return self._kind if _tail_shape(tail, padding) == self._tail else None
        before, key, rest = tail.partition(padding)
        if key:
            token, quote, after = rest.partition(b'"')
            if quote and after == self._after and before == self._before and token.isalnum():
                return self._kind
        if _tail_shape(tail, padding) != self._tail:
            return None
        if key and quote and token.isalnum():
            self._before, self._after = before, after
        return self._kind


def _tail_shape(tail: bytes, padding: bytes) -> bytes:
    """What follows a frame's text, with digits and the padding token removed."""
    before, key, rest = tail.partition(padding) if padding else (tail, b"", b"")
    if key:
        value, quote, after = rest.partition(b'"')
        if not quote or not value.isalnum():
            return tail  # not the plain token the API writes: compared as it is
        tail = before + key + quote + after
    return tail.translate(None, _DIGITS)
