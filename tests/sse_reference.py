"""A deliberately simple whole-body SSE decoder (WHATWG), the oracle for the incremental one.

Used by the decoder tests, the property tests and the fuzzer (``fuzz/fuzz_hook.py``).
"""

from __future__ import annotations

import re


def reference_events(
    body: bytes, max_line: int | None = None
) -> list[tuple[str, bytes, bytes | None]]:
    """``(event type or "", data, last event id)`` for each event dispatched from a complete
    body. With ``max_line``, a line longer than that many bytes, or data adding up to more,
    drops its whole frame (the decoder's bound)."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    lines = re.split(rb"\r\n|\r|\n", body)
    lines.pop()  # the text after the last line end is an unterminated line: never processed
    out: list[tuple[str, bytes, bytes | None]] = []
    data: list[bytes] = []
    last_id: bytes | None = None
    event, broken, size = b"", False, 0
    for line in lines:
        if line == b"":
            if data and not broken:
                out.append((event.decode("utf-8", "replace"), b"\n".join(data), last_id))
            event, data, broken, size = b"", [], False, 0
            continue
        if max_line is not None and len(line) > max_line:
            broken = True
            continue
        if line.startswith(b":"):
            continue
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            event = value
        elif name == b"data":
            size += len(value) + 1
            if max_line is not None and size > max_line:
                broken = True
                continue
            data.append(value)
        elif name == b"id" and b"\0" not in value:
            last_id = value
    return out


def reference_decode(body: bytes) -> list[tuple[str, bytes]]:
    """``(event type or "", data)`` for each dispatched event of a complete body."""
    return [(event, data) for event, data, _ in reference_events(body)]


def reference_text(body: bytes, max_line: int | None = None) -> list[tuple[str, str, str | None]]:
    """:func:`reference_events` with data and ids as text (invalid UTF-8 replaced)."""
    return [
        (
            event,
            data.decode("utf-8", "replace"),
            None if i is None else i.decode("utf-8", "replace"),
        )
        for event, data, i in reference_events(body, max_line)
    ]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
