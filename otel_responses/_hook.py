"""``ResponseStreamHook``: one streamed LLM call in, one span with span events, metrics and logs
out — in any dialect.

It wires the layers together and isolates their faults: the SSE decoder (:mod:`._sse`) splits the
body into messages; the dialect's reader (:mod:`.dialects`) says what each means; the stream core
(:mod:`._stream`) keeps the state and decides the outcome; the recorder (:mod:`.recording`) turns
that into telemetry. Every public method catches its own faults (reported through :mod:`._faults`)
and returns normally; nothing here alters or holds the app's data.

One ending, exactly once: whichever of :meth:`end`, :meth:`cancel`, :meth:`fail` or
:meth:`abandon` comes first ends the span; later calls do nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.util.types import AttributeValue

from . import _faults
from . import _registry as names
from ._config import ContentCapture, content_capture_from_env
from ._sse import DEFAULT_MAX_LINE_BYTES, SSEDecoder
from ._stream import Stream, is_transport_error, now_ns
from .dialects import DEFAULT, Dialect, Reader, detect, detect_object, get
from .recording import Recorder


class _Detecting:
    """The reader of a stream whose dialect is not known yet (a null object, so the per-event
    path never checks for "not yet known"). The first message a dialect claims decides it;
    messages none claims (a keep-alive, a terminator) are held — a few, bounded — and handed to
    the dialect's reader once it is known, or to the default's when the stream ends first."""

    __slots__ = ("_held", "_held_bytes", "_hook")

    MAX_HELD = 16
    MAX_HELD_BYTES = 64 * 1024

    def __init__(self, hook: ResponseStreamHook) -> None:
        self._hook = hook
        self._held: list[tuple[str, bytes]] = []
        self._held_bytes = 0

    def message(self, event_type: str, data: bytes) -> None:
        hook = self._hook
        if hook._reader is not self:  # settled by an earlier message of the same chunk
            hook._reader.message(event_type, data)
            return
        dialect = detect(event_type, data)
        if dialect is None and self._hold(event_type, data):
            return
        self.settle(dialect).message(event_type, data)

    def _hold(self, event_type: str, data: bytes) -> bool:
        if len(self._held) >= self.MAX_HELD or self._held_bytes + len(data) > self.MAX_HELD_BYTES:
            return False
        self._held.append((event_type, data))
        self._held_bytes += len(data)
        return True

    def settle(self, dialect: Dialect | None) -> Reader:
        """Settle on ``dialect`` (the default if ``None``) and pass on what was held."""
        hook = self._hook
        reader = hook._use(dialect)
        held, self._held = self._held, []
        for event_type, data in held:
            hook._on_message(event_type, data)
        return reader

    def on_object(self, obj: Any) -> None:
        self.settle(detect_object(obj)).on_object(obj)

    def on_final(self, obj: Any) -> None:
        self.settle(detect_object(obj)).on_final(obj)

    def close(self) -> None:
        self.settle(None).close()


class ResponseStreamHook:
    """Observes one streamed LLM call and turns it into telemetry.

    Create it when the request starts (its span starts then), hand it the HTTP response with
    :meth:`on_response` if you have one (one call per attempt; :meth:`on_attempt_failed` for an
    attempt that got none), then either raw body bytes (:meth:`feed`) or events
    (:meth:`on_event`: SSE messages, dicts, or SDK event objects), and end it with :meth:`end`
    (the body ended), :meth:`cancel`, :meth:`fail` or :meth:`abandon` — or use it as a context
    manager, which picks the ending from the exception leaving the block.

    ``dialect`` is ``"responses"``, ``"chat_completions"``, ``"anthropic_messages"``,
    ``"gemini"`` (see :data:`otel_responses.dialects.DIALECTS`); when omitted it is detected from
    the first event (Responses until then). ``attributes`` go on the span and on every metric
    point of the stream (keep them low-cardinality). ``start_time`` is when the call began, in
    nanoseconds since the epoch (``time.time_ns()``, as OpenTelemetry takes a span's start), for
    a hook made after the request went out — the proxy sends first and starts the span while the
    upstream works: the span, its duration and the time to the first chunk still count from
    ``start_time``; by default they count from the hook's creation. ``max_line_bytes`` bounds
    the SSE line the hook buffers (a longer one is dropped and counted as an
    ``oversized_line`` anomaly). An unknown dialect, a ``start_time`` that is not a past time
    or a ``max_line_bytes`` that is not positive raises ``ValueError`` here, at construction —
    the only errors the hook ever raises.

    The span is never made current: the app's context is left exactly as it was.
    """

    feed: Callable[[bytes], None]
    """Raw response-body bytes, in any chunking: ``hook.feed(chunk)``.

    It is the SSE decoder's own ``feed`` (one call less per chunk on the hot path), which
    reports whatever fails — a chunk that is not bytes, an event the dialect chokes on — as an
    internal error and never raises."""

    def __init__(
        self,
        *,
        dialect: str | Dialect | None = None,
        model: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        stream: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: ContentCapture | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        attributes: Mapping[str, AttributeValue] | None = None,
        start_time: int | None = None,
    ) -> None:
        chosen = get(dialect) if isinstance(dialect, str) else dialect
        start_ns = now_ns()
        if start_time is not None:
            ago = -1
            if isinstance(start_time, int) and not isinstance(start_time, bool) and start_time > 0:
                ago = time.time_ns() - start_time
            if ago < 0:
                raise ValueError(f"start_time must be a past time.time_ns(), got {start_time!r}")
            start_ns -= ago  # the monotonic clock's reading at start_time
        if max_line_bytes <= 0:  # (checked before the span starts: no span is left open)
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes!r}")
        self._lock = threading.Lock()
        self._ended = False
        self.outcome: str | None = None
        """How the stream ended (see :data:`otel_responses.OUTCOMES`); ``None`` until then."""
        self.error_type: str | None = None
        """The ``error.type`` recorded at the end, if any."""
        self._model = model
        self._server_address = server_address
        capture = capture_content if capture_content is not None else ContentCapture()
        if capture_content is None:
            try:
                capture = content_capture_from_env()
            except Exception as exc:
                _faults.report("start", exc)
        self.dialect: Dialect = chosen or DEFAULT
        """The stream's dialect (until detected: the default, Responses)."""
        identity = self._identity(self.dialect)
        if chosen is None:  # openai.api.type only once the dialect is settled: it can't be unset
            identity.pop(names.API_TYPE, None)
        common: dict[str, Any] = dict(identity)
        if model:
            common[names.REQUEST_MODEL] = model
        if server_address:
            common[names.SERVER_ADDRESS] = server_address
        if server_port is not None:
            common[names.SERVER_PORT] = server_port
        if attributes:
            common.update(attributes)
        span_attributes = {**common, names.REQUEST_STREAM: stream}
        self._recorder = Recorder(
            span_name=self._span_name(self.dialect),
            span_attributes=span_attributes,
            common={k: v for k, v in common.items() if v is not None},
            model=model,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            capture=capture,
            metric_types=self.dialect.metric_types,
            start_time=start_time,
        )
        self._stream = Stream(
            self._recorder,
            capturing=capture.enabled,
            max_chars=capture.max_chars,
            start_ns=start_ns,
        )
        self._reader: Reader = (
            self.dialect.reader(self._stream) if chosen is not None else _Detecting(self)
        )
        self._decoder = SSEDecoder(
            self._reader.message,
            max_line_bytes=max_line_bytes,
            # Callables of the stream and the recorder, not of the hook: no reference cycle
            # through the hook, so a stream's objects are freed when it is dropped, not at the
            # collector's next pass.
            on_oversized=partial(self._stream.anomaly, "oversized_line"),
            on_error=partial(self._recorder.fault, "event"),
        )
        self.feed = self._decoder.feed

    # --- identity ------------------------------------------------------------------------
    def _identity(self, dialect: Dialect) -> dict[str, Any]:
        identity: dict[str, Any] = {
            names.OPERATION_NAME: dialect.operation,
            names.PROVIDER_NAME: dialect.provider(self._server_address),
        }
        if dialect.api_type is not None:
            identity[names.API_TYPE] = dialect.api_type
        return identity

    def _span_name(self, dialect: Dialect) -> str:
        return f"{dialect.operation} {self._model}" if self._model else dialect.operation

    def _use(self, dialect: Dialect | None) -> Reader:
        """Settle the dialect detected from the stream (the default when none claims it) and
        hand over to its reader (once: later calls return that reader)."""
        if not isinstance(self._reader, _Detecting):
            return self._reader
        if dialect is not None:
            self.dialect = dialect
        settled = self.dialect
        self._recorder.retitle(
            self._span_name(settled), self._identity(settled), settled.metric_types
        )
        reader = self._reader = self.dialect.reader(self._stream)
        self._decoder.redirect(reader.message)
        return reader

    # --- input -----------------------------------------------------------------------------
    def on_response(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
    ) -> None:
        """Record one HTTP response (one attempt: call again for each retry the client makes).

        Records the status, the request id and rate-limit headers (the last attempt's are the
        span's), a ``otel_responses.http.attempt`` span event, and for an error status the
        body's error when ``body`` is given.
        """
        try:
            facts = self.dialect.http(status_code, headers, body)
            self._stream.response(status_code, facts)
            if headers:
                self._recorder.headroom(facts.rate_limit)
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
            self._stream.attempt_failed(exc)
        except Exception as fault:
            self._fault("on_attempt_failed", fault)

    def on_final_response(self, response: Any) -> None:
        """A whole (non-streamed) response object or dict: its id, model, usage and status
        stand in for the terminal event a stream would have sent."""
        try:
            self._reader.on_final(response)
        except Exception as exc:
            self._fault("on_final_response", exc)

    def on_event(self, event: Any) -> None:
        """One event: an SSE message (``.event``/``.data``), a dict, or an SDK event object."""
        try:
            data = getattr(event, "data", None)
            if isinstance(data, str) and hasattr(event, "event"):
                self._on_message(getattr(event, "event", None) or "", data.encode())
            else:
                self._reader.on_object(event)
        except Exception as exc:
            self._fault("on_event", exc)

    def _on_message(self, event_type: str, data: bytes) -> None:
        try:
            self._reader.message(event_type, data)
        except Exception as exc:
            self._fault("event", exc)

    # --- endings ---------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def span(self) -> trace.Span:
        """The stream's span (ended once the hook has ended)."""
        return self._recorder.span

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
        elif is_transport_error(exc):
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
            self._reader.close()  # (an unsettled stream settles on the default here)
        except Exception as fault:
            self._fault("end", fault)
        try:
            ending = self._stream.decide(reason, exc)
            self.outcome = ending.outcome
            self.error_type = ending.error_type
            self._recorder.finish(self._stream, ending)
        except Exception as fault:
            self._fault("end", fault)
            try:
                self.span.end()
            except Exception as fault2:
                self._fault("end", fault2)

    def _fault(self, site: str, exc: BaseException) -> None:
        self._recorder.fault(site, exc)
