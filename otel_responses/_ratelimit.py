"""Rate-limit facts from OpenAI error messages and ``x-ratelimit-*`` / ``retry-after`` headers.

The API states the facts only in prose ("... on tokens per min (TPM): Limit 30000, Used 29950,
Requested 750. Please try again in 1.4s.") and in headers whose durations use Go's format
("6m0s", "1.4s", "120ms"); no library parses either, so it is done here.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from . import _registry as names

_WINDOW = re.compile(r"\(([A-Z]{3})\)")
_WINDOW_WORDS = re.compile(r"\b(tokens|requests|images) per (min|day)", re.IGNORECASE)
_WORD_WINDOWS = {
    ("tokens", "min"): "TPM",
    ("tokens", "day"): "TPD",
    ("requests", "min"): "RPM",
    ("requests", "day"): "RPD",
    ("images", "min"): "IPM",
}
_LIMIT = re.compile(r"\bLimit:? (\d+)")
_USED = re.compile(r"\bUsed:? (\d+)")
_REQUESTED = re.compile(r"\bRequested:? (\d+)")
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+)", re.IGNORECASE)
_ORG = re.compile(r"\borganization (org-[A-Za-z0-9]+)")
_PROJECT = re.compile(r"\bproject (proj_[A-Za-z0-9]+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_MAX_TEXT = 4096  # longer inputs are cut before any regex runs: bounded work on hostile input


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


def facts_from_message(message: str) -> dict[str, Any]:
    """Span attributes stated by a rate-limit error message; empty if it states none."""
    message = message[:_MAX_TEXT]
    facts: dict[str, Any] = {}
    window = _WINDOW.search(message)
    if window is not None:
        facts[names.RL_WINDOW] = window.group(1)
    else:
        words = _WINDOW_WORDS.search(message)
        if words is not None:
            facts[names.RL_WINDOW] = _WORD_WINDOWS[(words.group(1).lower(), words.group(2).lower())]
    for pattern, attr in (
        (_LIMIT, names.RL_LIMIT),
        (_USED, names.RL_USED),
        (_REQUESTED, names.RL_REQUESTED),
    ):
        match = pattern.search(message)
        if match is not None:
            facts[attr] = int(match.group(1)[:18])
    retry = _TRY_AGAIN.search(message)
    if retry is not None:
        seconds = parse_duration(retry.group(1))
        if seconds is not None:
            facts[names.RL_RETRY_AFTER] = seconds
    org = _ORG.search(message)
    if org is not None:
        facts[names.RL_ORGANIZATION] = org.group(1)
    project = _PROJECT.search(message)
    if project is not None:
        facts[names.RL_PROJECT] = project.group(1)
    return facts


_INT_HEADERS = (
    ("x-ratelimit-limit-requests", names.RL_LIMIT_REQUESTS),
    ("x-ratelimit-limit-tokens", names.RL_LIMIT_TOKENS),
    ("x-ratelimit-remaining-requests", names.RL_REMAINING_REQUESTS),
    ("x-ratelimit-remaining-tokens", names.RL_REMAINING_TOKENS),
)
_DURATION_HEADERS = (
    ("x-ratelimit-reset-requests", names.RL_RESET_REQUESTS),
    ("x-ratelimit-reset-tokens", names.RL_RESET_TOKENS),
)


def facts_from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    """Span attributes from HTTP response headers (names matched case-insensitively)."""
    lowered = {str(k).lower(): str(v)[:128] for k, v in headers.items()}
    facts: dict[str, Any] = {}
    for header, attr in _INT_HEADERS:
        value = lowered.get(header)
        if value is not None and value.strip().isascii() and value.strip().isdigit():
            facts[attr] = int(value.strip()[:18])
    for header, attr in _DURATION_HEADERS:
        value = lowered.get(header)
        seconds = parse_duration(value) if value is not None else None
        if seconds is not None:
            facts[attr] = seconds
    retry_after = _retry_after(lowered)
    if retry_after is not None:
        facts[names.RL_RETRY_AFTER] = retry_after
    return facts


def _retry_after(headers: Mapping[str, str]) -> float | None:
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
