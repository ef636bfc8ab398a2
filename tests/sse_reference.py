"""A deliberately simple whole-body SSE decoder (WHATWG), the oracle for the incremental one."""

from __future__ import annotations

import re


def reference_decode(body: bytes) -> list[tuple[str, bytes]]:
    """``(event type or "", data)`` for each dispatched event of a complete body."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    lines = re.split(rb"\r\n|\r|\n", body)
    # The text after the last line end is an unterminated line: never processed.
    lines = lines[:-1]
    out: list[tuple[str, bytes]] = []
    event = b""
    data: list[bytes] = []
    for line in lines:
        if line == b"":
            if data:
                out.append((event.decode("utf-8", "replace"), b"\n".join(data)))
            event, data = b"", []
            continue
        if line.startswith(b":"):
            continue
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            event = value
        elif name == b"data":
            data.append(value)
    return out
