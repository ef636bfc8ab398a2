"""The per-stream hook: SSE events in, one span with span events, metrics and log events out.

Design constraints, from the library's promises:

* **Never break the stream.** Every public method catches its own faults (reported through
  :mod:`._faults`) and returns normally; nothing here alters or holds the app's data.
* **Deltas are metrics, not span events.** A ``*.delta`` event costs a type lookup, a counter in
  a small dict, a clock read and (for the anomaly check) a sequence-number scan of the raw bytes;
  its JSON is not parsed unless content capture is on. The SDK is touched once per stream, when it
  ends, so a stream's cost on the metrics SDK does not grow with its length, and neither does its
  memory: per-type counts are capped at ``MAX_EVENT_TYPES`` entries.
* **One ending, exactly once.** Whichever of :meth:`end`, :meth:`cancel`, :meth:`fail` or
  :meth:`abandon` comes first ends the span; later calls do nothing. The outcome is decided by
  what the stream said first (a terminal event, else an ``error`` event or HTTP error) and only
  then by how it was closed.
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _events as ev
from . import _faults
from . import _registry as names
from ._config import ContentCapture, content_capture_from_env
from ._events import Kind
from ._logging import get_logger
from ._ratelimit import facts_from_headers
from ._redact import redact, scrub_secrets
from ._sse import DEFAULT_MAX_LINE_BYTES, SSEDecoder
from ._telemetry import Instruments, instruments_for, tracer_for

MAX_EVENT_TYPES = 64
"""Distinct event types counted per stream; further types are counted as ``_OTHER``."""
MAX_ANOMALY_EVENTS = 32
"""Anomalies shown as span events per stream; all of them are counted regardless."""
_MAX_STACK_CHARS = 8192

_SEQ_KEY = b'"sequence_number":'
_SEQ_KEY_LEN = len(_SEQ_KEY)
_DELTA = Kind.DELTA
_now = time.perf_counter_ns
_KINDS = ev.KINDS
_TYPE_PREFIX = b'{"type":"'
_METRIC_TYPE = re.compile(r"(?:response\.[a-z0-9_.]{1,80}|error)")
_TRANSPORT_ERRORS = frozenset(
    {
        "TransportError",  # httpx: timeouts, network and protocol errors
        "APIConnectionError",  # openai: wraps the above (APITimeoutError is a subclass)
        "ConnectionError",
        "TimeoutError",
        "IncompleteRead",
    }
)
_CANCELLATIONS = frozenset({"CancelledError", "GeneratorExit", "KeyboardInterrupt"})
_OUTCOME_DESCRIPTIONS = {
    "truncated": "stream ended without a terminal event",
    "cancelled": "the consumer stopped reading before the stream ended",
    "abandoned": "the stream was dropped before it ended",
    "transport_error": "the connection failed during the stream",
}


def _qualname(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _is_transport_error(exc: BaseException) -> bool:
    return any(cls.__name__ in _TRANSPORT_ERRORS for cls in type(exc).__mro__)


def _key(common: Mapping[str, Any], name: str, value: str) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted({**common, name: value}.items()))


class ResponseStreamHook:
    """Observes one streamed Responses API call and turns it into telemetry.

    Create it when the request starts (its span starts then), hand it the HTTP response with
    :meth:`on_response` if you have one (one call per attempt; :meth:`on_attempt_failed` for an
    attempt that got none), then either raw body bytes (:meth:`feed`) or events
    (:meth:`on_event`: SSE messages, dicts, or openai SDK event objects), and end it with
    :meth:`end` (the body ended), :meth:`cancel`, :meth:`fail` or :meth:`abandon` — or use it as
    a context manager, which picks the ending from the exception leaving the block.

    The span is never made current: the app's context is left exactly as it was.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        stream: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: ContentCapture | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._lock = threading.Lock()
        self._ended = False
        self.outcome: str | None = None
        """How the stream ended (see :data:`otel_responses.OUTCOMES`); ``None`` until then."""
        self.error_type: str | None = None
        """The ``error.type`` recorded at the end, if any."""
        self._start_ns = _now()
        self._first_chunk_ns = 0
        self._chunk_ns = 0
        self._first_delta_ns = 0
        self._last_delta_ns = 0
        self._n_events = 0
        self._n_deltas = 0
        self._last_seq = -1
        self._counts: dict[str, int] = {}
        self._anomalies: dict[str, int] = {}
        self._terminal: str | None = None
        self._terminal_error: ev.ErrorInfo | None = None
        self._error_event: ev.ErrorInfo | None = None
        self._http_status: int | None = None
        self._attempts = 0
        self._http_error: ev.ErrorInfo | None = None
        self._incomplete_reason: str | None = None
        self._response_id: str | None = None
        self._response_model: str | None = None
        self._usage: ev.Usage | None = None
        self._rate_limit: dict[str, Any] = {}
        self._text: list[str] = []
        self._text_chars = 0
        self._decoder: SSEDecoder | None = None
        self._max_line_bytes = max_line_bytes
        self._instruments: Instruments | None = None
        self._span: trace.Span = trace.INVALID_SPAN
        self._log: Any = None
        self._common: dict[str, Any] = {names.OPERATION_NAME: "chat", names.PROVIDER_NAME: "openai"}
        if model:
            self._common[names.REQUEST_MODEL] = model
        if server_address:
            self._common[names.SERVER_ADDRESS] = server_address
        if server_port is not None:
            self._common[names.SERVER_PORT] = server_port
        self._capture = capture_content if capture_content is not None else ContentCapture()
        self._capturing = False
        try:
            if capture_content is None:
                self._capture = content_capture_from_env()
            self._capturing = self._capture.enabled
        except Exception as exc:
            self._fault("start", exc)
        try:
            # Apart from the tracer's block: a broken meter costs the metrics, not the span.
            self._instruments = instruments_for(meter_provider)
        except Exception as exc:
            self._fault("start", exc)
        try:
            attributes = dict(self._common)
            attributes[names.REQUEST_STREAM] = stream
            attributes[names.API_TYPE] = "responses"
            self._span = tracer_for(tracer_provider).start_span(
                f"chat {model}" if model else "chat", kind=SpanKind.CLIENT, attributes=attributes
            )
            ctx = self._span.get_span_context()
            ids = (
                {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}
                if ctx.is_valid
                else {}  # no SDK configured: no ids rather than zeros
            )
            self._log = get_logger().bind(**ids)
            self._log.debug(
                names.LOG_START,
                **({names.REQUEST_MODEL: model} if model else {}),
            )
        except Exception as exc:
            self._fault("start", exc)

    # --- input -----------------------------------------------------------------------------
    def on_response(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
    ) -> None:
        """Record one HTTP response (one attempt: call again for each retry the client makes).

        Records the status, ``x-request-id`` and rate-limit headers (the last attempt's are the
        span's), a ``otel_responses.http.attempt`` span event, and for an error status the
        body's error (``{"error": {"code", "message", ...}}``) when ``body`` is given.
        """
        try:
            self._attempts += 1
            self._http_status = status_code
            facts = facts_from_headers(headers) if headers else {}
            self._rate_limit = dict(facts)
            # The stream's state first, the SDK calls after: a failing span or gauge must not
            # cost the outcome its HTTP error.
            self._http_error = self._error_from_body(body) if status_code >= 400 else None
            span = self._span
            span.set_attribute(names.HTTP_STATUS_CODE, status_code)
            attempt: dict[str, Any] = {
                names.HTTP_STATUS_CODE: status_code,
                names.HTTP_ATTEMPT_NUMBER: self._attempts,
            }
            if names.RL_RETRY_AFTER in facts:
                attempt[names.RL_RETRY_AFTER] = facts[names.RL_RETRY_AFTER]
            span.add_event(names.HTTP_ATTEMPT_EVENT, attempt)
            if headers:
                request_id = next(
                    (str(v)[:128] for k, v in headers.items() if str(k).lower() == "x-request-id"),
                    None,
                )
                if request_id:
                    span.set_attribute(names.REQUEST_ID, request_id)
                self._record_headroom(facts)
        except Exception as exc:
            self._fault("on_response", exc)

    def on_attempt_failed(self, exc: BaseException) -> None:
        """Record one HTTP attempt that got no response (connection refused or reset, timeout):
        counted like an :meth:`on_response` attempt (so ``otel_responses.http.retry_count``
        includes it), with an ``otel_responses.http.attempt`` span event carrying ``error.type``.

        Call it for every such attempt, whether the client then retries or gives up; it does not
        end the hook (the call's own ending does: :meth:`close_with` with the client's exception,
        or the stream of a later attempt). Like :meth:`on_response`, the last attempt is the
        one that counts, so an HTTP error of an earlier attempt stops deciding the outcome.
        """
        try:
            self._attempts += 1
            self._http_status = None
            self._http_error = None
            self._rate_limit = {}
            self._span.add_event(
                names.HTTP_ATTEMPT_EVENT,
                {names.HTTP_ATTEMPT_NUMBER: self._attempts, names.ERROR_TYPE: _qualname(exc)},
            )
        except Exception as fault:
            self._fault("on_attempt_failed", fault)

    def on_final_response(self, response: Any) -> None:
        """A whole (non-streamed) response object or dict: its id, model, usage and status
        stand in for the terminal event a stream would have sent."""
        try:
            self._note_response(response)
            outcome = ev.TERMINAL_OUTCOMES.get(f"response.{ev.field(response, 'status')}")
            if outcome is not None and self._terminal is None:
                self._note_terminal(outcome, response)
        except Exception as exc:
            self._fault("on_final_response", exc)

    def feed(self, chunk: bytes) -> None:
        """Raw response-body bytes, in any chunking."""
        try:
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = SSEDecoder(
                    self._on_message,
                    max_line_bytes=self._max_line_bytes,
                    on_oversized=self._on_oversized,
                )
            # One clock read per chunk: the events in it arrived together.
            self._chunk_ns = _now()
            decoder.feed(chunk)
        except Exception as exc:
            self._fault("feed", exc)

    def on_event(self, event: Any) -> None:
        """One event: an SSE message (``.event``/``.data``), a dict, or an SDK event object."""
        try:
            self._chunk_ns = now = _now()
            data = getattr(event, "data", None)
            if isinstance(data, str) and hasattr(event, "event"):
                self._on_message(getattr(event, "event", None) or "", data.encode())
                return
            if not self._first_chunk_ns:
                self._first_chunk_ns = now
            self._n_events += 1
            event_type = ev.field(event, "type")
            if not isinstance(event_type, str) or not event_type:
                self._anomaly("undecodable", None, None)
                return
            event_type = event_type[: ev.MAX_TYPE_CHARS]
            kind = ev.kind_of(event_type)
            if kind is Kind.DELTA:
                self._delta(event_type, ev.sequence_of(event), event, now)
            else:
                self._lifecycle(event_type, kind, event)
        except Exception as exc:
            self._fault("on_event", exc)

    # --- the per-event path ---------------------------------------------------------------
    def _on_message(self, event_type: str, data: bytes) -> None:
        try:
            now = self._chunk_ns
            if not self._first_chunk_ns:
                self._first_chunk_ns = now
            self._n_events += 1
            if not event_type:
                if data == b"[DONE]":
                    return
                event_type = self._type_from_payload(data)
                if not event_type:
                    self._anomaly("undecodable", None, None)
                    return
            kind = _KINDS.get(event_type)
            if kind is None:
                event_type = event_type[: ev.MAX_TYPE_CHARS]
                kind = ev.kind_of(event_type)
            if kind is _DELTA:
                # The sequence number, read from the raw JSON without parsing it. The key cannot
                # match inside a JSON string (its quotes would be escaped there), so the last
                # occurrence is the event's own field; its value ends at the next "," or "}".
                seq: int | None = None
                at = data.rfind(_SEQ_KEY)
                if at >= 0:
                    at += _SEQ_KEY_LEN
                    end = data.find(b",", at)
                    try:
                        seq = int(data[at:end] if end > 0 else data[at:].rstrip(b"} \t\r\n"))
                    except ValueError:
                        seq = None
                    if seq is not None and seq < 0:
                        seq = None
                self._delta(event_type, seq, data, now)
                return
            try:
                payload = json.loads(data)
            except (ValueError, RecursionError):  # bad JSON, bad UTF-8, or nested too deep
                payload = None
            if isinstance(payload, dict):
                self._lifecycle(event_type, kind, payload)
            else:
                self._anomaly("undecodable", event_type, None)
        except Exception as exc:
            # Caught per message, so one bad event cannot cost the rest of its chunk.
            self._fault("event", exc)

    def _type_from_payload(self, data: bytes) -> str:
        if data.startswith(_TYPE_PREFIX):
            end = data.find(b'"', len(_TYPE_PREFIX))
            if 0 < end <= len(_TYPE_PREFIX) + ev.MAX_TYPE_CHARS and b"\\" not in data[:end]:
                return data[len(_TYPE_PREFIX) : end].decode("utf-8", "replace")
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            return ""
        found = payload.get("type") if isinstance(payload, dict) else None
        return found if isinstance(found, str) else ""

    def _admit(self, event_type: str, seq: int | None) -> bool:
        """Count an event, unless it is late (after the terminal event) or repeats a sequence
        number: those are anomalies, recorded and otherwise ignored."""
        if self._terminal is not None:
            self._anomaly("after_terminal", event_type, seq)
            return False
        if seq is not None:
            if seq <= self._last_seq:
                self._anomaly("repeated_sequence", event_type, seq)
                return False
            self._last_seq = seq
        counts = self._counts
        count = counts.get(event_type)
        if count is not None:
            counts[event_type] = count + 1
        elif len(counts) < MAX_EVENT_TYPES:
            counts[event_type] = 1
        else:
            counts[names.OTHER] = counts.get(names.OTHER, 0) + 1
        return True

    def _delta(self, event_type: str, seq: int | None, payload: Any, now: int) -> None:
        if not self._admit(event_type, seq):
            return
        self._n_deltas += 1
        self._last_delta_ns = now
        if not self._first_delta_ns:
            self._first_delta_ns = now
            if self._log is not None:
                self._log.debug(
                    names.LOG_FIRST_TOKEN,
                    **{names.TIME_TO_FIRST_TOKEN: (now - self._start_ns) / 1e9},
                )
        if self._capturing and event_type == "response.output_text.delta":
            self._capture_text(payload)

    def _capture_text(self, payload: Any) -> None:
        room = self._capture.max_chars - self._text_chars
        if room <= 0:
            return
        if isinstance(payload, bytes):
            try:
                payload = json.loads(payload)
            except (ValueError, RecursionError):  # hostile input: an anomaly, not a fault
                self._anomaly("undecodable", "response.output_text.delta", None)
                return
        text = ev.field(payload, "delta")
        if isinstance(text, str):
            self._text.append(text[:room])
            self._text_chars += min(len(text), room)

    def _lifecycle(self, event_type: str, kind: Kind, payload: Any) -> None:
        seq = ev.sequence_of(payload)
        if not self._admit(event_type, seq):
            return
        # The stream's state first, the span calls last: a failing span must not cost the
        # outcome its terminal event.
        response = ev.field(payload, "response")
        if kind is Kind.TERMINAL:
            self._note_terminal(ev.TERMINAL_OUTCOMES[event_type], response)
        elif kind is Kind.ERROR and self._error_event is None:
            self._error_event = ev.error_of(payload)
            self._note_rate_limit(self._error_event)
        if response is not None:
            self._note_response(response)
        self._span.add_event(event_type, ev.span_event_attributes(event_type, payload))

    def _note_terminal(self, outcome: str, response: Any) -> None:
        self._terminal = outcome
        if outcome == "failed":
            self._terminal_error = ev.error_of(response)
            self._note_rate_limit(self._terminal_error)
        elif outcome == "incomplete":
            self._incomplete_reason = ev.incomplete_reason(response)

    def _note_response(self, response: Any) -> None:
        usage = ev.usage_of(response)
        if usage is not None:
            self._usage = usage
        new_id = None
        if self._response_id is None:
            self._response_id = new_id = ev.text_str(ev.field(response, "id"))
        model = ev.text_str(ev.field(response, "model"))
        new_model = model if model and model != self._response_model else None
        if new_model:
            self._response_model = new_model
        tier = ev.text_str(ev.field(response, "service_tier"))
        if new_id:
            self._span.set_attribute(names.RESPONSE_ID, new_id)
        if new_model:
            self._span.set_attribute(names.RESPONSE_MODEL, new_model)
        if tier:
            self._span.set_attribute(names.SERVICE_TIER, tier)

    def _note_rate_limit(self, error: ev.ErrorInfo) -> None:
        for key, value in error.rate_limit.items():
            self._rate_limit.setdefault(key, value)

    def _error_from_body(self, body: bytes | str | Mapping[str, Any] | None) -> ev.ErrorInfo:
        if isinstance(body, (bytes, str)):
            try:
                body = json.loads(body)
            except (ValueError, RecursionError):
                body = None
        info = ev.error_of(body) if isinstance(body, Mapping) else ev.NO_ERROR
        self._note_rate_limit(info)
        return info

    def _on_oversized(self) -> None:
        self._anomaly("oversized_line", None, None)

    def _anomaly(self, kind: str, event_type: str | None, seq: int | None) -> None:
        self._anomalies[kind] = self._anomalies.get(kind, 0) + 1
        if sum(self._anomalies.values()) > MAX_ANOMALY_EVENTS:
            return  # a hostile stream must not cost a span event per bad event
        attributes: dict[str, Any] = {names.ANOMALY_KIND: kind}
        if event_type:
            attributes[names.EVENT_TYPE] = event_type[: ev.MAX_TYPE_CHARS]
        if seq is not None:
            attributes[names.EVENT_SEQUENCE] = seq
        self._span.add_event(names.ANOMALY_EVENT, attributes)

    def _record_headroom(self, facts: Mapping[str, Any]) -> None:
        instruments = self._instruments
        if instruments is None:
            return
        for attr, gauge in (
            (names.RL_REMAINING_REQUESTS, instruments.remaining_requests),
            (names.RL_REMAINING_TOKENS, instruments.remaining_tokens),
            (names.RL_LIMIT_REQUESTS, instruments.limit_requests),
            (names.RL_LIMIT_TOKENS, instruments.limit_tokens),
        ):
            value = facts.get(attr)
            if value is not None:
                gauge.set(value, self._common)

    # --- endings ---------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def span(self) -> trace.Span:
        """The stream's span (ended once the hook has ended)."""
        return self._span

    def end(self) -> None:
        """The body ended: the outcome follows from the events seen (``truncated`` if none
        was terminal)."""
        self._finish(None, None)

    def cancel(self, exc: BaseException | None = None) -> None:
        """The app stopped reading (closed early, or raised ``exc`` in its loop)."""
        self._finish("cancelled", exc)

    def fail(self, exc: BaseException) -> None:
        """The transport failed with ``exc`` (timeout, dropped connection, ...)."""
        self._finish("transport_error", exc)

    def abandon(self) -> None:
        """The stream object was dropped unfinished (called from a finalizer)."""
        self._finish("abandoned", None)

    def close_with(self, exc: BaseException | None) -> None:
        """End from an exception of unknown origin: transport errors are ``transport_error``,
        anything else (including cancellation) ``cancelled``; ``None`` means the body ended."""
        if exc is None:
            self.end()
        elif _is_transport_error(exc):
            self.fail(exc)
        else:
            self.cancel(exc)

    def __enter__(self) -> ResponseStreamHook:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.close_with(exc)

    def _finish(self, reason: str | None, exc: BaseException | None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        try:
            self._end_span(reason, exc)
        except Exception as fault:
            self._fault("end", fault)
            try:
                self._span.end()
            except Exception as fault2:
                self._fault("end", fault2)

    def _decide(
        self, reason: str | None, exc: BaseException | None
    ) -> tuple[str, str | None, str, ev.ErrorInfo | None]:
        """Outcome, ``error.type``, status description and the provider's error, if any.

        What the stream said decides first (terminal event, then an ``error`` event or HTTP
        error), then how it was closed; ``error.type`` prefers the provider's code.
        """
        errors = [
            e for e in (self._terminal_error, self._error_event, self._http_error) if e is not None
        ]
        provider_error = errors[0] if errors else None
        if self._terminal is not None:
            outcome = self._terminal
        elif self._error_event is not None or self._http_error is not None:
            outcome = "error"
        else:
            outcome = reason or "truncated"
        if outcome in ("completed", "incomplete"):
            return outcome, None, "", provider_error
        error_type = next((e.code for e in errors if e.code), None)
        if error_type is None and exc is not None and outcome in ("cancelled", "transport_error"):
            error_type = _qualname(exc)
        if error_type is None and self._http_status is not None and self._http_status >= 400:
            error_type = str(self._http_status)
        description = (
            next((e.message for e in errors if e.message), "")
            or (redact(str(exc)) if exc is not None else "")
            or _OUTCOME_DESCRIPTIONS.get(outcome, outcome)
        )
        return outcome, error_type or names.OTHER, description, provider_error

    def _record_exception(self, exc: BaseException) -> None:
        try:
            # The SDK's default stack trace ends with str(exc), unredacted: replace it.
            stack = redact("".join(traceback.format_exception(exc)), limit=_MAX_STACK_CHARS)
            self._span.record_exception(
                exc, {"exception.message": redact(str(exc)), "exception.stacktrace": stack}
            )
        except Exception as fault:
            self._fault("span", fault)

    def _final_attributes(
        self, outcome: str, error_type: str | None, ttfc: float | None, ttft: float | None
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            names.OUTCOME: outcome,
            names.EVENT_COUNT: self._n_events,
            names.DELTA_COUNT: self._n_deltas,
            names.FINISH_REASONS: [self._finish_reason(outcome)],
        }
        if error_type is not None:
            attrs[names.ERROR_TYPE] = error_type
        if self._attempts:
            attrs[names.HTTP_RETRY_COUNT] = self._attempts - 1
        if self._anomalies:
            attrs[names.ANOMALY_COUNT] = sum(self._anomalies.values())
        if ttfc is not None:
            attrs[names.TIME_TO_FIRST_CHUNK] = ttfc
        if ttft is not None:
            attrs[names.TIME_TO_FIRST_TOKEN] = ttft
        usage = self._usage
        if usage is not None:
            for attr, value in (
                (names.INPUT_TOKENS, usage.input),
                (names.OUTPUT_TOKENS, usage.output),
                (names.CACHE_READ_TOKENS, usage.cached),
                (names.REASONING_TOKENS, usage.reasoning),
            ):
                if value is not None:
                    attrs[attr] = value
        attrs.update(self._rate_limit)
        if self._capturing and self._text:
            self._emit_content(attrs, outcome)
        return attrs

    def _end_span(self, reason: str | None, exc: BaseException | None) -> None:
        end_ns = _now()
        outcome, error_type, description, provider_error = self._decide(reason, exc)
        self.outcome = outcome
        self.error_type = error_type
        if (
            exc is not None
            and outcome in ("cancelled", "transport_error")
            and type(exc).__name__ not in _CANCELLATIONS
        ):
            self._record_exception(exc)
        start = self._start_ns
        duration = (end_ns - start) / 1e9
        ttfc = (self._first_chunk_ns - start) / 1e9 if self._first_chunk_ns else None
        ttft = (self._first_delta_ns - start) / 1e9 if self._first_delta_ns else None
        span = self._span
        try:  # a failing span costs the span's attributes, not the metrics and logs
            span.set_attributes(self._final_attributes(outcome, error_type, ttfc, ttft))
            if error_type is not None:
                span.set_status(Status(StatusCode.ERROR, description))
        except Exception as fault:
            self._fault("span", fault)
        try:
            self._record_metrics(outcome, error_type, duration, ttfc, ttft)
        except Exception as fault:
            self._fault("metrics", fault)
        try:
            self._log_end(outcome, error_type, description, duration, provider_error)
        except Exception as fault:
            self._fault("log", fault)
        span.end()

    def _finish_reason(self, outcome: str) -> str:
        if outcome == "completed":
            return "stop"
        if outcome == "incomplete":
            return self._incomplete_reason or "incomplete"
        return "error"

    def _emit_content(self, attrs: dict[str, Any], outcome: str) -> None:
        messages = json.dumps(
            [
                {
                    "role": "assistant",
                    # Opted-in content is the model's text, but never a key or token it quotes.
                    "parts": [{"type": "text", "content": scrub_secrets("".join(self._text))}],
                    "finish_reason": self._finish_reason(outcome),
                }
            ]
        )
        if self._capture.on_span:
            attrs[names.OUTPUT_MESSAGES] = messages
        if self._capture.as_log_event and self._log is not None:
            self._log.info(names.LOG_CONTENT, **{names.OUTPUT_MESSAGES: messages})

    def _record_metrics(
        self,
        outcome: str,
        error_type: str | None,
        duration: float,
        ttfc: float | None,
        ttft: float | None,
    ) -> None:
        instruments = self._instruments
        if instruments is None:
            return
        common = self._common
        ended = dict(common)
        if self._response_model:
            ended[names.RESPONSE_MODEL] = self._response_model
        if error_type is not None:
            ended[names.ERROR_TYPE] = error_type
        # In the span's context, so that histogram points carry exemplars linking to the trace.
        ctx = trace.set_span_in_context(self._span)
        instruments.duration.record(duration, ended, ctx)
        usage = self._usage
        if usage is not None:
            for token_type, value in (("input", usage.input), ("output", usage.output)):
                if value is not None:
                    attrs = {**ended, names.TOKEN_TYPE: token_type}
                    instruments.token_usage.record(value, attrs, ctx)
            for kind, value in (("cache_read", usage.cached), ("reasoning", usage.reasoning)):
                if value is not None:
                    attrs = {**ended, names.TOKEN_KIND: kind}
                    instruments.token_details.record(value, attrs, ctx)
        if ttfc is not None:
            instruments.time_to_first_chunk.record(ttfc, ended, ctx)
        if ttft is not None:
            instruments.time_to_first_token.record(ttft, ended, ctx)
        if self._n_deltas >= 2:
            mean_gap = (self._last_delta_ns - self._first_delta_ns) / (self._n_deltas - 1) / 1e9
            instruments.time_per_output_chunk.record(mean_gap, ended, ctx)
        instruments.streams.add(1, {**ended, names.OUTCOME: outcome}, ctx)
        for event_type, count in self._counts.items():
            metric_type = event_type if _METRIC_TYPE.fullmatch(event_type) else names.OTHER
            instruments.events.add(
                count,
                _key(common, names.EVENT_TYPE, metric_type),
                _key(common, names.EVENT_TYPE, names.OTHER),
            )
        for kind, count in self._anomalies.items():
            instruments.anomalies.add(
                count,
                _key(common, names.ANOMALY_KIND, kind),
                _key(common, names.ANOMALY_KIND, names.OTHER),
            )
        if error_type == "rate_limit_exceeded" or (self._http_status == 429 and outcome == "error"):
            hit = dict(common)
            hit[names.ERROR_TYPE] = error_type
            window = self._rate_limit.get(names.RL_WINDOW)
            if window is not None:
                hit[names.RL_WINDOW] = window
            instruments.rate_limit_hits.add(1, hit, ctx)
            retry_after = self._rate_limit.get(names.RL_RETRY_AFTER)
            if retry_after is not None:
                hit.pop(names.ERROR_TYPE)
                instruments.retry_after.record(retry_after, hit, ctx)

    def _log_end(
        self,
        outcome: str,
        error_type: str | None,
        description: str,
        duration: float,
        provider_error: ev.ErrorInfo | None,
    ) -> None:
        log = self._log
        if log is None:
            return
        if provider_error is not None and error_type is not None:
            facts = {
                k: v
                for k, v in self._rate_limit.items()
                if k
                in (
                    names.RL_WINDOW,
                    names.RL_LIMIT,
                    names.RL_USED,
                    names.RL_REQUESTED,
                    names.RL_RETRY_AFTER,
                )
            }
            log.warning(
                names.LOG_FAILURE,
                **{names.ERROR_TYPE: error_type, names.EVENT_ERROR_MESSAGE: description},
                **facts,
            )
        log.info(
            names.LOG_END,
            **{
                names.OUTCOME: outcome,
                "duration_s": round(duration, 6),
                names.EVENT_COUNT: self._n_events,
            },
            **({names.ERROR_TYPE: error_type} if error_type is not None else {}),
        )

    def _fault(self, site: str, exc: BaseException) -> None:
        instruments = self._instruments
        _faults.report(site, exc, instruments.internal_errors if instruments else None)
