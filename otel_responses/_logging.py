"""structlog integration: trace-correlated log events, and their export as OTel log records.

otel-responses logs through structlog so that an app that configured structlog gets the stream's
lifecycle in its own pipeline. An app that did not configure structlog must not find the
library printing to its stdout (structlog's default), so the events then go to the standard
library logger ``otel_responses``, where logging's own levels and handlers decide.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider

from ._version import __version__

EventDict = MutableMapping[str, Any]

_STDLIB_NAME = "otel_responses"


def add_trace_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add ``trace_id``/``span_id`` (hex) of the current span.

    Add it to your own chain (``structlog.configure(processors=[..., add_trace_context, ...])``)
    to correlate your app's logs with its traces; fields already set are left alone, so the
    stream events otel-responses logs keep the ids of their own stream's span.
    """
    if "trace_id" not in event_dict:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event_dict["trace_id"] = format(ctx.trace_id, "032x")
            event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


_SEVERITY = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "warn": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "exception": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}


class OTelLogProcessor:
    """structlog processor that also emits each event as an OpenTelemetry log record.

    Put it before the renderer; it passes the event dict on unchanged. The record's body is the
    event name, its attributes the other fields, and its trace context the ``trace_id``/
    ``span_id`` fields (or the current span), so exported logs link to the stream's trace.
    """

    def __init__(self, logger_provider: LoggerProvider | None = None) -> None:
        provider = logger_provider if logger_provider is not None else get_logger_provider()
        self._logger = provider.get_logger("otel_responses", __version__)

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        attributes = {
            key: value if isinstance(value, (str, bool, int, float)) else str(value)
            for key, value in event_dict.items()
            if key not in ("event", "trace_id", "span_id")
        }
        self._logger.emit(
            body=str(event_dict.get("event", "")),
            severity_number=_SEVERITY.get(method_name, SeverityNumber.INFO),
            severity_text=method_name.upper(),
            attributes=attributes,
            context=_context_of(event_dict),
        )
        return event_dict


def _context_of(event_dict: EventDict) -> Any:
    trace_id = event_dict.get("trace_id")
    span_id = event_dict.get("span_id")
    if not isinstance(trace_id, str) or not isinstance(span_id, str):
        return None
    try:
        span_context = trace.SpanContext(
            int(trace_id, 16),
            int(span_id, 16),
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


_fallback = logging.getLogger(_STDLIB_NAME)
# A library's logger stays silent until the app configures logging (the stdlib's advice for
# libraries): without this, every failed stream would print a warning through the last-resort
# handler.
_fallback.addHandler(logging.NullHandler())
_fallback_logger = structlog.wrap_logger(
    _fallback,
    processors=[
        structlog.stdlib.filter_by_level,  # first: a disabled level costs no rendering
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.KeyValueRenderer(key_order=["event"]),
    ],
)


def get_logger() -> Any:
    """The logger otel-responses writes to (see the module docstring for which one)."""
    if structlog.is_configured():
        return structlog.get_logger(_STDLIB_NAME)
    return _fallback_logger


def may_log(level: int) -> bool:
    """Whether an event at ``level`` (a :mod:`logging` level) can reach a handler: a configured
    structlog filters for itself; the standard library logger's level is read here, so that a
    stream's events cost nothing while nothing would receive them (each would otherwise be
    built, then dropped by ``filter_by_level``)."""
    return structlog.is_configured() or _fallback.isEnabledFor(level)
