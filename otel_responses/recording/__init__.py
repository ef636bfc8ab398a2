"""Telemetry recording: what the stream core concluded, as spans, metrics, logs and content.

Fed by :class:`otel_responses._stream.Stream` (it implements the core's ``Observer`` while the
stream runs, and :meth:`Recorder.finish` records the finished state). It knows no provider: the
names it writes come from the registry, the values from the core's neutral state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace

from .. import _faults
from .. import _registry as names
from .._config import ContentCapture
from .._stream import Attempt, Ending, Stream
from ..dialects._facts import Event, RateLimit
from ._content import output_messages
from ._instruments import Instruments, instruments_for, tracer_for
from ._logs import StreamLog
from ._metrics import record_headroom, record_stream
from ._spans import SpanRecorder

__all__ = ["Recorder", "instruments_for", "tracer_for"]


class Recorder:
    """One stream's span, metrics and logs."""

    def __init__(
        self,
        *,
        span_name: str,
        span_attributes: dict[str, Any],
        common: dict[str, Any],
        model: str | None,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        capture: ContentCapture,
        metric_types: re.Pattern[str],
        start_time: int | None,
    ) -> None:
        self.metric_types = metric_types
        """Event types recorded by name on metrics (the dialect's)."""
        self.common = common
        """Attributes on every metric point of the stream."""
        self.capture = capture
        self.instruments: Instruments | None = None
        try:
            # Apart from the tracer's: a broken meter costs the metrics, not the span.
            self.instruments = instruments_for(meter_provider)
        except Exception as exc:
            _faults.report("start", exc)
        counter = self.instruments.internal_errors if self.instruments else None
        tracer = None
        try:
            tracer = tracer_for(tracer_provider)
        except Exception as exc:
            _faults.report("start", exc, counter)
        self.spans = SpanRecorder(tracer, span_name, span_attributes, counter, start_time)
        self.log = StreamLog(self.spans.span, model, counter)

    @property
    def span(self) -> trace.Span:
        return self.spans.span

    def fault(self, site: str, exc: BaseException) -> None:
        """Report an internal fault at ``site``, counted on this stream's meter."""
        instruments = self.instruments
        _faults.report(site, exc, instruments.internal_errors if instruments else None)

    def retitle(
        self, span_name: str, attributes: Mapping[str, Any], metric_types: re.Pattern[str]
    ) -> None:
        """The dialect became known: the span's name and the stream's attributes change."""
        self.metric_types = metric_types
        self.common.update(
            {k: v for k, v in attributes.items() if k in names.COMMON_METRIC_ATTRIBUTES}
        )
        self.spans.rename(span_name, attributes)

    # --- the core's Observer -------------------------------------------------------------
    def lifecycle(self, event: Event) -> None:
        self.spans.lifecycle(event)

    def anomaly(self, kind: str, event_type: str | None, sequence: int | None) -> None:
        self.spans.anomaly(kind, event_type, sequence)

    def first_token(self, seconds: float) -> None:
        self.log.first_token(seconds)

    def identity(self, response_id: str | None, model: str | None, tier: str | None) -> None:
        self.spans.identity(response_id, model, tier)

    def attempt(self, attempt: Attempt) -> None:
        self.spans.attempt(attempt)

    # --- per response and at the end -----------------------------------------------------
    def headroom(self, facts: RateLimit) -> None:
        if self.instruments is None:
            return
        try:
            record_headroom(self.instruments, facts, self.common)
        except Exception as exc:
            _faults.report("metrics", exc, self.instruments.internal_errors)

    def finish(self, stream: Stream, ending: Ending) -> None:
        """Record the ended stream: span attributes and status, metrics, logs; end the span."""
        counter = self.instruments.internal_errors if self.instruments else None
        reasons = _finish_reasons(stream, ending)
        extra: dict[str, Any] = {}
        if self.capture.enabled and stream.text:
            try:
                messages = output_messages(stream.text, reasons[0] if reasons else "stop")
                if self.capture.on_span:
                    extra[names.OUTPUT_MESSAGES] = messages
                if self.capture.as_log_event:
                    self.log.content(messages)
            except Exception as exc:
                _faults.report("content", exc, counter)
        self.spans.finish(stream, ending, reasons, extra)
        if self.instruments is not None:
            try:
                record_stream(
                    self.instruments,
                    stream,
                    ending,
                    self.common,
                    self.span,
                    self.metric_types,
                    reasons,
                )
            except Exception as exc:
                _faults.report("metrics", exc, counter)
        self.log.end(stream, ending, str(self.common.get(names.PROVIDER_NAME, "")))


def _finish_reasons(stream: Stream, ending: Ending) -> list[str]:
    """The provider's reasons when the stream ended normally; ``error`` when it failed."""
    if ending.error_type is not None:
        return ["error"]
    return list(stream.finish_reasons)
