"""Scrubbing of secrets and account ids from text that reaches telemetry.

Error messages are provider prose and can quote anything, including an API key ("Incorrect API
key provided: sk-...") or the organization and project ids of a rate-limit message. Every message
otel-responses records passes through :func:`redact`; the ids are recorded separately, only as the
documented span attributes.
"""

from __future__ import annotations

import re

_SECRETS = (
    (re.compile(r"\bsk-[A-Za-z0-9_*\-]+"), "sk-***"),
    (re.compile(r"\bAIza[A-Za-z0-9_\-]{12,}"), "AIza***"),  # Google API keys
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE), r"\1 ***"),
    (re.compile(r"\b(api[_-]?key|authorization)(\s*[:=]\s*)\S+", re.IGNORECASE), r"\1\2***"),
    (re.compile(r"\borg-[A-Za-z0-9]+"), "org-***"),
    (re.compile(r"\bproj_[A-Za-z0-9]+"), "proj_***"),
)
_KEYS_AND_TOKENS = _SECRETS[:4]
MAX_MESSAGE_CHARS = 1024


def scrub_secrets(text: str) -> str:
    """``text`` with API keys and authorization tokens masked (no truncation, ids kept)."""
    for pattern, replacement in _KEYS_AND_TOKENS:
        text = pattern.sub(replacement, text)
    return text


def redact(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with keys, tokens and account ids masked, cut to ``limit`` characters."""
    text = text[: limit * 4]
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text[:limit]
