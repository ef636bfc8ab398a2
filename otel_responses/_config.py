"""Settings read from the standard environment variables, with otel-responses' own defaults."""

from __future__ import annotations

import os
from typing import NamedTuple

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CAPTURE_MAX_ENV = "OTEL_RESPONSES_CAPTURE_MAX_CHARS"
DEFAULT_CAPTURE_MAX_CHARS = 8192

_SPAN_MODES = {"true", "span_only", "span_and_event"}
_EVENT_MODES = {"event_only", "span_and_event"}
_KNOWN_MODES = _SPAN_MODES | _EVENT_MODES | {"false", "no_content", ""}


class ContentCapture(NamedTuple):
    """Whether output text is recorded, where, and up to how many characters."""

    on_span: bool = False
    as_log_event: bool = False
    max_chars: int = DEFAULT_CAPTURE_MAX_CHARS

    @property
    def enabled(self) -> bool:
        return self.on_span or self.as_log_event


def content_capture_from_env() -> ContentCapture:
    """Read ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` as the GenAI conventions
    define it (``no_content``, ``span_only``, ``event_only``, ``span_and_event``; legacy
    ``true``). Off unless set; an unknown value is treated as off, never as on."""
    mode = os.environ.get(CAPTURE_ENV, "").strip().lower()
    if mode not in _KNOWN_MODES:
        mode = ""
    raw_max = os.environ.get(CAPTURE_MAX_ENV, "").strip()
    valid = raw_max.isascii() and raw_max.isdigit()  # "²".isdigit() is true, int("²") raises
    max_chars = int(raw_max) if valid else DEFAULT_CAPTURE_MAX_CHARS
    return ContentCapture(mode in _SPAN_MODES, mode in _EVENT_MODES, max_chars)
