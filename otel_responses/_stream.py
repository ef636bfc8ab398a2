"""The stream core: one stream's state, the admission of its events, and its outcome.

It knows no provider. A dialect's reader tells it what each event means (through the
:class:`~otel_responses.dialects.Sink` methods); the transport tells it about HTTP attempts and
how the stream closed; it decides the outcome — one of :data:`OUTCOMES` — with the same
precedence for every dialect: what the stream said first (a terminal event, then an error event
or an HTTP error), and only then how it was closed.

Deltas are the hot path: a delta costs a counter (of the run of deltas of one type, added to the
per-type counts when the type changes) and a clock reading; the SDK is not
touched until the stream ends, so cost and memory do not grow with the stream's length (per-type
counts are capped at :data:`MAX_EVENT_TYPES` entries, captured text at its character bound).
"""

from __future__ import annotations

import time
from typing import NamedTuple, Protocol

from ._redact import redact
from .dialects._facts import ErrorFacts, Event, HTTPFacts, Kind, RateLimit, Usage

OUTCOMES = (
    "completed",
    "incomplete",
    "failed",
    "error",
    "truncated",
    "transport_error",
    "cancelled",
    "abandoned",
)
"""Every value of ``otel_responses.stream.outcome``."""
MAX_EVENT_TYPES = 64
"""Distinct event types counted per stream; further types are counted as ``_OTHER``."""
OTHER = "_OTHER"
_DESCRIPTIONS = {
    "truncated": "stream ended without a terminal event",
    "cancelled": "the consumer stopped reading before the stream ended",
    "abandoned": "the stream was dropped before it ended",
    "transport_error": "the connection failed during the stream",
}
_TRANSPORT_SUFFIXES = ("TransportError", "ConnectionError", "TimeoutError", "Timeout")
_TRANSPORT_NAMES = frozenset({"IncompleteRead", "TimeoutException", "ClientPayloadError"})
CANCELLATIONS = frozenset({"CancelledError", "GeneratorExit", "KeyboardInterrupt"})
now_ns = time.perf_counter_ns


def qualname(exc: BaseException) -> str:
    """An exception's ``error.type``: its qualified class name."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the connection failing (timeouts, resets, protocol errors), by the
    names HTTP clients give these classes (``httpx.TransportError``, ``*ConnectionError``,
    ``*TimeoutError``...), so the core needs no client imported."""
    for cls in type(exc).__mro__:
        name = cls.__name__
        if name.endswith(_TRANSPORT_SUFFIXES) or name in _TRANSPORT_NAMES:
            return True
    return False


class Observer(Protocol):
    """What the stream reports while it runs (implemented by the span recorder)."""

    def lifecycle(self, event: Event) -> None: ...

    def anomaly(self, kind: str, event_type: str | None, sequence: int | None) -> None: ...

    def first_token(self, seconds: float) -> None: ...

    def identity(self, response_id: str | None, model: str | None, tier: str | None) -> None:
        """New values of the response's id, model or service tier (``None``: unchanged)."""

    def attempt(self, attempt: Attempt) -> None: ...


class Attempt(NamedTuple):
    """One HTTP attempt of the call: answered (``status``) or not (``error_type``)."""

    number: int
    status: int | None = None
    retry_after: float | None = None
    error_type: str | None = None
    request_id: str | None = None


class Ending(NamedTuple):
    """How the stream ended, decided once."""

    outcome: str
    error_type: str | None
    """``None`` for ``completed``/``incomplete``."""
    description: str
    provider_error: ErrorFacts | None
    exception: BaseException | None
    """The exception to record on the span, if any."""
    end_ns: int

    @property
    def failed(self) -> bool:
        return self.error_type is not None


class Stream:
    """One stream's state. Implements the dialects' :class:`~otel_responses.dialects.Sink`."""

    def __init__(
        self, observer: Observer, *, capturing: bool, max_chars: int, start_ns: int
    ) -> None:
        self.observer = observer
        self.capturing = capturing
        self.start_ns = start_ns
        """When the call began, on :func:`now_ns`'s clock."""
        self.first_chunk_ns = 0
        self.first_delta_ns = 0
        self.last_delta_ns = 0
        self.n_events = 0
        self.n_deltas = 0
        self.last_seq = -1
        self.counts: dict[str, int] = {}
        self.anomalies: dict[str, int] = {}
        self.terminal: Event | None = None
        self.error_event: ErrorFacts | None = None
        self.attempts = 0
        self.http_status: int | None = None
        self.http_error: ErrorFacts | None = None
        self.request_id: str | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.usage: Usage | None = None
        self.finish_reasons: tuple[str, ...] = ()
        self.rate_limit = RateLimit()
        self._max_chars = max_chars
        self.text: list[str] = []
        self.text_chars = 0
        self._run_type: str | None = None
        self._run = 0

    # --- the dialect's reports (Sink) ----------------------------------------------------
    def arrived(self) -> None:
        """One more event arrived (counted before it is understood)."""
        self.n_events += 1
        if not self.first_chunk_ns:
            self.first_chunk_ns = now_ns()

    def delta(self, event_type: str, sequence: int | None, text: str | None = None) -> None:
        if (
            event_type is self._run_type
            and text is None
            and self.terminal is None
            and (sequence is None or sequence > self.last_seq)
        ):
            # The per-delta hot path: another delta of the type before it, in order, with no
            # text to keep. It adds to a run that _flush() counts when a delta of another type
            # arrives or the stream is decided; the counts are read only then. (``is``: types
            # are interned by the SSE decoder and the dialects; an equal type that is not the
            # same object only takes the path below.)
            self._run += 1
            self.last_delta_ns = now_ns()
            if sequence is not None:
                self.last_seq = sequence
            return
        if self._run:
            self._flush()
        self.n_events += 1
        now = now_ns()
        if not self.first_chunk_ns:
            self.first_chunk_ns = now
        if self.terminal is not None or (sequence is not None and sequence <= self.last_seq):
            self._admit(event_type, sequence)  # records the anomaly
            return
        if sequence is not None:
            self.last_seq = sequence
        counts = self.counts
        count = counts.get(event_type)
        if count is not None:
            counts[event_type] = count + 1
        else:
            self._admit(event_type, None)
        self._output(text, now)
        # (A type counted as _OTHER, past MAX_EVENT_TYPES, starts no run.)
        self._run_type = event_type if event_type in counts else None

    def _flush(self) -> None:
        """Count the run of deltas :meth:`delta` took on its hot path."""
        run = self._run
        self._run = 0
        if self._run_type is not None:  # (always, when there is a run)
            self.counts[self._run_type] += run
        self.n_events += run
        self.n_deltas += run

    def count(self, event_type: str) -> None:
        self.arrived()
        self._admit(event_type, None)

    def event(self, event: Event) -> None:
        self.arrived()
        if not self._admit(event.type, event.sequence):
            return
        # The stream's state first, the observer's calls last: a failing span must not cost
        # the outcome its terminal event.
        if event.kind is Kind.TERMINAL:
            self.terminal = event
        elif event.kind is Kind.ERROR and self.error_event is None:
            self.error_event = event.error
        self._note(event)
        if event.output:
            self._output(event.text, now_ns())
        if event.span_event:
            self.observer.lifecycle(event)

    def anomaly(
        self, kind: str, event_type: str | None = None, sequence: int | None = None
    ) -> None:
        if kind == "undecodable":
            self.arrived()
        self.anomalies[kind] = self.anomalies.get(kind, 0) + 1
        self.observer.anomaly(kind, event_type, sequence)

    def conclude(self, event: Event) -> None:
        if self.terminal is None:
            self.terminal = event
            self._note(event)

    def _admit(self, event_type: str, seq: int | None) -> bool:
        """Count an event, unless it is late (after the terminal event) or repeats a sequence
        number: those are anomalies, recorded and otherwise ignored."""
        if self.terminal is not None:
            self.anomaly("after_terminal", event_type, seq)
            return False
        if seq is not None:
            if seq <= self.last_seq:
                self.anomaly("repeated_sequence", event_type, seq)
                return False
            self.last_seq = seq
        counts = self.counts
        count = counts.get(event_type)
        if count is not None:
            counts[event_type] = count + 1
        elif len(counts) < MAX_EVENT_TYPES:
            counts[event_type] = 1
        else:
            counts[OTHER] = counts.get(OTHER, 0) + 1
        return True

    def _output(self, text: str | None, now: int) -> None:
        self.n_deltas += 1
        self.last_delta_ns = now
        if not self.first_delta_ns:
            self.first_delta_ns = now
            self.observer.first_token((now - self.start_ns) / 1e9)
        if text and self.capturing:
            room = self._max_chars - self.text_chars
            if room > 0:
                self.text.append(text[:room])
                self.text_chars += min(len(text), room)

    def _note(self, event: Event) -> None:
        if event.usage is not None:
            self.usage = event.usage
        if event.finish_reasons:
            self.finish_reasons = event.finish_reasons
        if event.rate_limit is not None:
            self.rate_limit.merge(event.rate_limit)
        new_id = None
        if self.response_id is None and event.response_id:
            self.response_id = new_id = event.response_id
        new_model = event.model if event.model and event.model != self.response_model else None
        if new_model:
            self.response_model = new_model
        if new_id or new_model or event.service_tier:
            self.observer.identity(new_id, new_model, event.service_tier)

    # --- the transport's reports -----------------------------------------------------------
    def response(self, status: int, http: HTTPFacts) -> None:
        """One HTTP attempt answered (the last attempt's facts are the stream's)."""
        self.attempts += 1
        self.http_status = status
        self.rate_limit = http.rate_limit
        self.http_error = http.error
        if http.request_id:
            self.request_id = http.request_id
        self.observer.attempt(
            Attempt(self.attempts, status, http.rate_limit.retry_after, None, http.request_id)
        )

    def attempt_failed(self, exc: BaseException) -> None:
        """One HTTP attempt that got no response."""
        self.attempts += 1
        self.http_status = None
        self.http_error = None
        self.rate_limit = RateLimit()
        self.observer.attempt(Attempt(self.attempts, error_type=qualname(exc)))

    # --- the ending --------------------------------------------------------------------------
    def decide(self, reason: str | None, exc: BaseException | None) -> Ending:
        """Outcome, ``error.type``, status description and the provider's error.

        What the stream said decides first (terminal event, then an error event or HTTP
        error), then how it was closed; ``error.type`` prefers the provider's code.
        """
        end_ns = now_ns()
        if self._run:
            self._flush()
        terminal = self.terminal
        terminal_error = terminal.error if terminal is not None else None
        errors = [e for e in (terminal_error, self.error_event, self.http_error) if e is not None]
        provider_error = errors[0] if errors else None
        if terminal is not None and terminal.outcome is not None:
            outcome = terminal.outcome
        elif self.error_event is not None or self.http_error is not None:
            outcome = "error"
        else:
            outcome = reason or "truncated"
        recorded = (
            exc
            if exc is not None
            and outcome in ("cancelled", "transport_error")
            and type(exc).__name__ not in CANCELLATIONS
            else None
        )
        if outcome in ("completed", "incomplete"):
            return Ending(outcome, None, "", provider_error, recorded, end_ns)
        error_type = next((e.code for e in errors if e.code), None)
        if error_type is None and exc is not None and outcome in ("cancelled", "transport_error"):
            error_type = qualname(exc)
        if error_type is None and self.http_status is not None and self.http_status >= 400:
            error_type = str(self.http_status)
        description = (
            next((e.message for e in errors if e.message), "")
            or (redact(str(exc)) if exc is not None else "")
            or _DESCRIPTIONS.get(outcome, outcome)
        )
        return Ending(outcome, error_type or OTHER, description, provider_error, recorded, end_ns)

    def rate_limited(self, ending: Ending) -> bool:
        """Whether the stream ended on a rate limit or quota."""
        error = ending.provider_error
        if error is not None and error.rate_limited and ending.failed:
            return True
        return self.http_status == 429 and ending.outcome == "error"

    # --- derived figures ---------------------------------------------------------------------
    def seconds(self, ns: int) -> float | None:
        return (ns - self.start_ns) / 1e9 if ns else None

    def time_per_output_chunk(self) -> float | None:
        """Mean time between deltas (one figure per stream: the hot path never calls the SDK)."""
        if self.n_deltas < 2:
            return None
        return (self.last_delta_ns - self.first_delta_ns) / (self.n_deltas - 1) / 1e9
