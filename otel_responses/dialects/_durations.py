"""Durations and instants as providers write them, in seconds.

Go-style durations (``6m0s``, ``1.4s``, ``120ms``: OpenAI's ``x-ratelimit-reset-*``, Groq's
``2m59.56s``, Google's ``RetryInfo.retryDelay`` ``48.9s``), ``retry-after``/``retry-after-ms``
(seconds or an HTTP date) and RFC 3339 instants (Anthropic's ``*-reset`` headers). The standard
library parses the dates; no maintained library parses Go durations, so that is done here.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import datetime

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``6m0s``, ``1.4s``, ``120ms``) or a bare number of seconds.

    Returns ``None`` for anything else, including negative or empty input.
    """
    text = text.strip()[:64]
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if value >= 0 and value == value and value != float("inf") else None
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def seconds_until(instant: str, now: float | None = None) -> float | None:
    """Seconds from ``now`` (default: the clock) to an RFC 3339 instant; 0 if it has passed."""
    text = instant.strip()[:64]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date), in seconds; from
    lower-cased headers."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        seconds = parse_duration(millis)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer header (ASCII digits only: ``"²".isdigit()`` is true)."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    return int(value[:18]) if value.isascii() and value.isdigit() else None
