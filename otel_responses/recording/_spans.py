"""The stream's span: started at request time, never made current, ended exactly once.

Fed by the stream core while the stream runs (span events for lifecycle events, anomalies and
HTTP attempts) and once at the end with the stream's finished state. Every method catches its
own faults: a failing span costs the span, never the stream, the metrics or the logs.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import _faults
from .. import _registry as names
from .._redact import redact
from .._stream import Attempt, Ending, Stream
from ..dialects._facts import Event, Kind, RateLimit

MAX_ANOMALY_EVENTS = 32
"""Anomalies shown as span events per stream; all of them are counted regardless."""
_MAX_STACK_CHARS = 8192

RATE_LIMIT_ATTRIBUTES: Mapping[str, str] = {
    "window": names.RL_WINDOW,
    "limit": names.RL_LIMIT,
    "used": names.RL_USED,
    "requested": names.RL_REQUESTED,
    "retry_after": names.RL_RETRY_AFTER,
    "organization": names.RL_ORGANIZATION,
    "project": names.RL_PROJECT,
    "quota_id": names.RL_QUOTA_ID,
    "quota_metric": names.RL_QUOTA_METRIC,
    "limit_requests": names.RL_LIMIT_REQUESTS,
    "limit_tokens": names.RL_LIMIT_TOKENS,
    "limit_input_tokens": names.RL_LIMIT_INPUT_TOKENS,
    "limit_output_tokens": names.RL_LIMIT_OUTPUT_TOKENS,
    "remaining_requests": names.RL_REMAINING_REQUESTS,
    "remaining_tokens": names.RL_REMAINING_TOKENS,
    "remaining_input_tokens": names.RL_REMAINING_INPUT_TOKENS,
    "remaining_output_tokens": names.RL_REMAINING_OUTPUT_TOKENS,
    "reset_requests": names.RL_RESET_REQUESTS,
    "reset_tokens": names.RL_RESET_TOKENS,
    "reset_input_tokens": names.RL_RESET_INPUT_TOKENS,
    "reset_output_tokens": names.RL_RESET_OUTPUT_TOKENS,
}
"""Each :class:`RateLimit` field's span attribute."""


def rate_limit_attributes(facts: RateLimit) -> dict[str, Any]:
    return {RATE_LIMIT_ATTRIBUTES[k]: v for k, v in facts.known().items()}


def event_attributes(event: Event) -> dict[str, Any]:
    """Attributes of the span event recorded for one lifecycle event."""
    attrs: dict[str, Any] = {}
    for attr, value in (
        (names.EVENT_SEQUENCE, event.sequence),
        (names.EVENT_OUTPUT_INDEX, event.index),
        (names.EVENT_ITEM_TYPE, event.item_type),
        (names.EVENT_ITEM_ID, event.item_id),
        (names.EVENT_ITEM_STATUS, event.item_status),
        (names.EVENT_RESPONSE_STATUS, event.status),
    ):
        if value is not None:
            attrs[attr] = value
    error = event.error
    if error is not None and (event.kind is not Kind.LIFECYCLE):
        for attr, value in (
            (names.EVENT_ERROR_CODE, error.code),
            (names.EVENT_ERROR_MESSAGE, error.message),
            (names.EVENT_ERROR_PARAM, error.param),
        ):
            if value is not None:
                attrs[attr] = value
    return attrs


class SpanRecorder:
    """One stream's span."""

    def __init__(
        self,
        tracer: trace.Tracer | None,
        name: str,
        attributes: dict[str, Any],
        counter: Any,
        start_time: int | None,
    ) -> None:
        self._counter = counter
        self._anomaly_events = 0
        self.span: trace.Span = trace.INVALID_SPAN
        if tracer is not None:
            try:
                self.span = tracer.start_span(
                    name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start_time
                )
            except Exception as exc:
                _faults.report("start", exc, counter)

    def _fault(self, exc: BaseException) -> None:
        _faults.report("span", exc, self._counter)

    def rename(self, name: str, attributes: Mapping[str, Any]) -> None:
        """The dialect became known after the span started."""
        try:
            self.span.update_name(name)
            self.span.set_attributes(attributes)
        except Exception as exc:
            self._fault(exc)

    # --- while the stream runs (the core's Observer) ---------------------------------------
    def lifecycle(self, event: Event) -> None:
        try:
            self.span.add_event(event.type, event_attributes(event))
        except Exception as exc:
            self._fault(exc)

    def anomaly(self, kind: str, event_type: str | None, sequence: int | None) -> None:
        self._anomaly_events += 1
        if self._anomaly_events > MAX_ANOMALY_EVENTS:
            return  # a hostile stream must not cost a span event per bad event
        attributes: dict[str, Any] = {names.ANOMALY_KIND: kind}
        if event_type:
            attributes[names.EVENT_TYPE] = event_type
        if sequence is not None:
            attributes[names.EVENT_SEQUENCE] = sequence
        try:
            self.span.add_event(names.ANOMALY_EVENT, attributes)
        except Exception as exc:
            self._fault(exc)

    def identity(self, response_id: str | None, model: str | None, tier: str | None) -> None:
        try:
            span = self.span
            if response_id:
                span.set_attribute(names.RESPONSE_ID, response_id)
            if model:
                span.set_attribute(names.RESPONSE_MODEL, model)
            if tier:
                span.set_attribute(names.SERVICE_TIER, tier)
        except Exception as exc:
            self._fault(exc)

    def attempt(self, attempt: Attempt) -> None:
        attributes: dict[str, Any] = {names.HTTP_ATTEMPT_NUMBER: attempt.number}
        for attr, value in (
            (names.HTTP_STATUS_CODE, attempt.status),
            (names.RL_RETRY_AFTER, attempt.retry_after),
            (names.ERROR_TYPE, attempt.error_type),
        ):
            if value is not None:
                attributes[attr] = value
        try:
            span = self.span
            if attempt.status is not None:
                span.set_attribute(names.HTTP_STATUS_CODE, attempt.status)
            span.add_event(names.HTTP_ATTEMPT_EVENT, attributes)
            if attempt.request_id:
                span.set_attribute(names.REQUEST_ID, attempt.request_id[:128])
        except Exception as exc:
            self._fault(exc)

    # --- the end ---------------------------------------------------------------------------
    def finish(
        self,
        stream: Stream,
        ending: Ending,
        finish_reasons: list[str],
        extra: Mapping[str, Any],
    ) -> None:
        """Set the final attributes and status, record the exception, end the span."""
        span = self.span
        try:
            if ending.exception is not None:
                self._record_exception(ending.exception)
            span.set_attributes(_final_attributes(stream, ending, finish_reasons))
            if extra:
                span.set_attributes(extra)
            if ending.error_type is not None:
                span.set_status(Status(StatusCode.ERROR, ending.description))
        except Exception as exc:
            self._fault(exc)
        try:
            span.end()
        except Exception as exc:
            _faults.report("end", exc, self._counter)
            try:  # once more: a span left open would never be exported
                span.end()
            except Exception as again:
                _faults.report("end", again, self._counter)

    def _record_exception(self, exc: BaseException) -> None:
        try:
            # The SDK's default stack trace ends with str(exc), unredacted: replace it.
            stack = redact("".join(traceback.format_exception(exc)), limit=_MAX_STACK_CHARS)
            self.span.record_exception(
                exc, {"exception.message": redact(str(exc)), "exception.stacktrace": stack}
            )
        except Exception as fault:
            self._fault(fault)


def _final_attributes(stream: Stream, ending: Ending, finish_reasons: list[str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        names.OUTCOME: ending.outcome,
        names.EVENT_COUNT: stream.n_events,
        names.DELTA_COUNT: stream.n_deltas,
    }
    if finish_reasons:
        attrs[names.FINISH_REASONS] = finish_reasons
    if ending.error_type is not None:
        attrs[names.ERROR_TYPE] = ending.error_type
    if stream.attempts:
        attrs[names.HTTP_RETRY_COUNT] = stream.attempts - 1
    if stream.anomalies:
        attrs[names.ANOMALY_COUNT] = sum(stream.anomalies.values())
    ttfc = stream.seconds(stream.first_chunk_ns)
    if ttfc is not None:
        attrs[names.TIME_TO_FIRST_CHUNK] = ttfc
    ttft = stream.seconds(stream.first_delta_ns)
    if ttft is not None:
        attrs[names.TIME_TO_FIRST_TOKEN] = ttft
    usage = stream.usage
    if usage is not None:
        for attr, value in (
            (names.INPUT_TOKENS, usage.input),
            (names.OUTPUT_TOKENS, usage.output),
            (names.CACHE_READ_TOKENS, usage.cache_read),
            (names.CACHE_CREATION_TOKENS, usage.cache_creation),
            (names.REASONING_TOKENS, usage.reasoning),
        ):
            if value is not None:
                attrs[attr] = value
    attrs.update(rate_limit_attributes(stream.rate_limit))
    return attrs
