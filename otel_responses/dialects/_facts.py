"""The neutral facts a dialect reports about a stream, and the sink that receives them.

A dialect knows what a provider's events *mean*; the stream core (:mod:`otel_responses._stream`)
knows what to do with that meaning. Between them pass only the named types below — never raw
payloads keyed by span-attribute names — so the core, the recording and the integrations stay
free of any provider's vocabulary.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Protocol


class Kind(enum.Enum):
    """What one event is, as far as the stream's telemetry is concerned."""

    LIFECYCLE = "lifecycle"
    """A step of the stream worth a span event (created, item added/done, a choice finished)."""
    TERMINAL = "terminal"
    """The stream's own last word: its outcome is in :attr:`Event.outcome`."""
    ERROR = "error"
    """An error reported inside the stream (a span event; the outcome is ``error`` unless a
    terminal event says otherwise)."""


TERMINAL_OUTCOMES = ("completed", "incomplete", "failed", "error")
"""The outcomes a terminal event may state; the other four come from how the stream closed."""


class ErrorFacts(NamedTuple):
    """A provider's error, from an event or an HTTP error body."""

    code: str | None
    """The provider's code (``rate_limit_exceeded``, ``overloaded_error``, ``RESOURCE_EXHAUSTED``)
    — what ``error.type`` becomes."""
    message: str | None
    """Redacted: safe to record."""
    param: str | None = None
    rate_limited: bool = False
    """The provider says a rate limit or quota caused it."""


NO_ERROR = ErrorFacts(None, None)


@dataclass(slots=True)
class RateLimit:
    """Rate-limit and quota facts, from error messages, error details and response headers.

    Every field is optional; :meth:`merge` keeps what is already known. Organization and project
    ids are kept apart because they go on the span only, never on metrics.
    """

    window: str | None = None
    """``TPM``, ``RPM``, ``TPD``, ``RPD``, ``IPM``, ..."""
    limit: int | None = None
    used: int | None = None
    requested: int | None = None
    retry_after: float | None = None
    """Seconds to wait before retrying."""
    organization: str | None = None
    project: str | None = None
    quota_id: str | None = None
    quota_metric: str | None = None
    limit_requests: int | None = None
    limit_tokens: int | None = None
    limit_input_tokens: int | None = None
    limit_output_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    remaining_input_tokens: int | None = None
    remaining_output_tokens: int | None = None
    reset_requests: float | None = None
    """Seconds until the request budget resets."""
    reset_tokens: float | None = None
    reset_input_tokens: float | None = None
    reset_output_tokens: float | None = None

    def merge(self, other: RateLimit | None) -> None:
        """Take ``other``'s facts where this one has none."""
        if other is None:
            return
        for f in _RATE_LIMIT_FIELDS:
            if getattr(self, f) is None:
                value = getattr(other, f)
                if value is not None:
                    setattr(self, f, value)

    def known(self) -> dict[str, Any]:
        """The facts that are set, by field name."""
        return {f: v for f in _RATE_LIMIT_FIELDS if (v := getattr(self, f)) is not None}

    def __bool__(self) -> bool:
        return any(getattr(self, f) is not None for f in _RATE_LIMIT_FIELDS)


_RATE_LIMIT_FIELDS = tuple(f.name for f in fields(RateLimit))


class Usage(NamedTuple):
    """Token counts as the semantic conventions define them: ``input`` includes cached input,
    ``output`` includes reasoning; each dialect converts its provider's counting to this."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_creation: int | None = None
    reasoning: int | None = None


@dataclass(slots=True)
class Event:
    """What one non-delta event means. Only ``type`` and ``kind`` are always set."""

    type: str
    """The span event's name: the provider's event type, or a name the dialect documents."""
    kind: Kind = Kind.LIFECYCLE
    sequence: int | None = None
    index: int | None = None
    """Position of the output it concerns (output index, content block, choice, candidate)."""
    item_type: str | None = None
    item_id: str | None = None
    item_status: str | None = None
    status: str | None = None
    """The response's status as this event states it."""
    response_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    usage: Usage | None = None
    """Usage so far (running totals replace earlier ones; never summed)."""
    finish_reasons: tuple[str, ...] = ()
    """Finish reasons stated so far for the whole response, one per choice/candidate."""
    outcome: str | None = None
    """For :attr:`Kind.TERMINAL`: one of :data:`TERMINAL_OUTCOMES`."""
    error: ErrorFacts | None = None
    rate_limit: RateLimit | None = None
    output: bool = False
    """The event also carries output (text, tool-call arguments...): it counts as a delta."""
    text: str | None = None
    """Output text it carries, read only when content capture is on."""
    span_event: bool = True
    """Whether it deserves a span event; ``False`` for events that only update state."""


class Sink(Protocol):
    """Where a dialect's reader sends what it understood (implemented by the stream core).

    The per-delta call is :meth:`delta`: two arguments and no allocation, so a dialect can report
    a delta from a scan of its raw bytes without parsing them.
    """

    capturing: bool
    """Content capture is on: the reader should parse deltas and pass their text."""

    def delta(self, event_type: str, sequence: int | None, text: str | None = None) -> None:
        """One output delta (a token, a tool-call argument piece, a reasoning step)."""

    def count(self, event_type: str) -> None:
        """An event that carries nothing worth recording but its count (keep-alives, empty
        chunks)."""

    def event(self, event: Event) -> None:
        """A lifecycle, terminal or error event."""

    def anomaly(
        self, kind: str, event_type: str | None = None, sequence: int | None = None
    ) -> None:
        """An event that could not be understood (``undecodable``)."""

    def conclude(self, event: Event) -> None:
        """The dialect's conclusion about how the stream ended, from a terminator (``data:
        [DONE]``) or from what it saw; not an event that arrived, so it is not counted. Ignored
        if a terminal event already arrived."""


class Reader(Protocol):
    """One stream's interpreter in one dialect: the two calls that carry a stream."""

    def message(self, event_type: str, data: bytes) -> None:
        """One SSE message: its ``event:`` name (empty when absent) and its raw ``data``."""

    def close(self) -> None:
        """The stream is ending: conclude (:meth:`Sink.conclude`) what can be concluded from
        what was seen (every choice finished, say), if the stream did not say it."""

    def on_object(self, obj: Any) -> None:
        """One event as a dict or an SDK object instead of bytes."""

    def on_final(self, obj: Any) -> None:
        """A whole non-streamed response body (dict or SDK object)."""


class HTTPFacts(NamedTuple):
    """What a dialect reads from one HTTP response's headers and (error) body."""

    rate_limit: RateLimit
    request_id: str | None
    error: ErrorFacts | None
    """For an error status: the body's error, else ``None``."""


class RequestFacts(NamedTuple):
    """What a request says about the call: the model asked for, and whether it streams."""

    model: str | None
    stream: bool


def body_request_facts(body: Any) -> RequestFacts:
    """Model and stream flag from a JSON request body's ``model`` and ``stream`` fields (the
    OpenAI and Anthropic APIs)."""
    if not isinstance(body, dict):
        return RequestFacts(None, True)
    model = body.get("model")
    return RequestFacts(model[:256] if isinstance(model, str) else None, body.get("stream") is True)


class Dialect(Protocol):
    """A streaming API: its constants, how to recognise it, and a reader per stream."""

    name: str
    """``responses``, ``chat_completions``, ``anthropic_messages``, ``gemini``."""
    operation: str
    """``gen_ai.operation.name``."""
    api_type: str | None
    """``openai.api.type`` for the OpenAI APIs, else ``None``."""
    metric_types: re.Pattern[str]
    """Event types that may become a metric attribute value as they are; any other type a
    server sends is counted as ``_OTHER`` (a hostile server cannot mint label values)."""

    def provider(self, host: str | None, path: str | None = None) -> str:
        """``gen_ai.provider.name`` for a server."""

    def matches(self, method: str, host: str | None, path: str) -> bool:
        """Whether an HTTP request is a call of this API."""

    def sniff(self, event_type: str, data: bytes) -> bool:
        """Whether a first SSE message is in this dialect."""

    def sniff_object(self, obj: Any) -> bool:
        """Whether a first event given as a dict or SDK object is in this dialect."""

    def request(self, path: str, body: Any) -> RequestFacts:
        """Model and stream flag of a request, from its path and parsed JSON body (``None``
        when it could not be read)."""

    def reader(self, sink: Sink) -> Reader:
        """A reader for one stream, reporting to ``sink``."""

    def http(self, status: int, headers: Any, body: Any) -> HTTPFacts:
        """Facts of one HTTP response: rate-limit headers, request id, and the error body."""
