"""Anthropic Messages (``POST /v1/messages`` with ``stream: true``), as the Anthropic API serves
it, and as Vertex AI serves Claude (``…/publishers/anthropic/models/{model}:streamRawPredict``,
``:rawPredict`` when not streamed). Bedrock streams AWS event-stream frames, not SSE: not here.

Every frame names itself twice (``event: content_block_delta`` and ``"type"`` in its data). Span
events (lifecycle) are ``message_start`` (id, model, input usage), ``content_block_start`` /
``content_block_stop`` (``index``, the block's ``type`` and ``id``: ``text``, ``thinking``,
``tool_use``, ``server_tool_use``, ``web_search_tool_result``, ``mcp_tool_use``...),
``message_delta`` (the stop reason, cumulative usage) and ``message_stop`` (terminal); ``error``
is an error event (``error.type`` = the error's ``type``: ``overloaded_error``, ``api_error``,
``rate_limit_error``...); ``ping`` is a keep-alive, counted only.

Deltas are named ``content_block_delta.<delta type>`` — ``content_block_delta.text_delta``,
``.input_json_delta``, ``.thinking_delta``, ``.citations_delta``, ``.compaction_delta`` — so the
per-type counts tell text from tool arguments from reasoning; a delta without a readable type is
``content_block_delta``. ``content_block_delta.signature_delta`` (the opaque signature closing a
thinking block) is counted but is no output: it neither starts the time to first token nor counts
as a delta. Derived events that the SDK's ``MessageStream`` yields beside the raw ones (``text``,
``thinking``, ``input_json``, ``citation``, ``signature``, ``compaction``) repeat a raw event and
are ignored when given to :meth:`~otel_responses.ResponseStreamHook.on_event`.

The outcome: ``message_stop`` → ``completed`` for the stop reasons ``end_turn``,
``stop_sequence``, ``tool_use``, ``pause_turn`` (and any reason not listed below), ``incomplete``
for ``max_tokens``, ``refusal``, ``model_context_window_exceeded``; the stop reason (from
``message_delta``) is the finish reason. An ``error`` event → ``error``. No ``message_stop`` →
decided by how the stream closed (``truncated``, ``cancelled``...).

Usage, per the GenAI semantic conventions for Anthropic: input = ``input_tokens`` +
``cache_read_input_tokens`` + ``cache_creation_input_tokens`` (Anthropic counts the cached parts
apart from ``input_tokens``), cache read and cache creation as their own counts, output =
``output_tokens`` (cumulative in ``message_delta``: the last value counts), reasoning =
``output_tokens_details.thinking_tokens`` when stated. ``message_delta`` may restate the input
counts; each count keeps the last value stated, as the SDK's own accumulation does.

The hot path: a ``content_block_delta`` frame is a delta whose type is read from its raw bytes
(``"delta":{"type":"text_delta"`` as the API writes it, padding after the JSON included) and never
parsed unless content capture is on; every other frame is parsed.

Before the stream: error bodies ``{"type":"error","error":{"type","message"}}`` (429
``rate_limit_error``, 529 ``overloaded_error``, 500 ``api_error``, 401 ``authentication_error``...)
give ``error.type``; headers ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
{limit,remaining,reset}`` (reset: an RFC 3339 instant, recorded as seconds until it),
``retry-after`` and ``request-id`` (else the body's ``request_id``) the rate-limit facts.
"""

from __future__ import annotations

import re
from typing import Any

from .._redact import redact
from ._access import MAX_TYPE_CHARS, as_mapping, field, integer, loads, lowered, text
from ._access import type_of_payload as _type_of_payload
from ._durations import header_int, retry_after, seconds_until
from ._facts import (
    ErrorFacts,
    Event,
    HTTPFacts,
    Kind,
    RateLimit,
    Reader,
    RequestFacts,
    Sink,
    Usage,
    body_request_facts,
)

MESSAGE_START = "message_start"
BLOCK_START = "content_block_start"
BLOCK_DELTA = "content_block_delta"
BLOCK_STOP = "content_block_stop"
MESSAGE_DELTA = "message_delta"
MESSAGE_STOP = "message_stop"
PING = "ping"
ERROR = "error"
TEXT_DELTA = "content_block_delta.text_delta"
SIGNATURE_DELTA = "content_block_delta.signature_delta"
COMPLETED_REASONS = frozenset({"end_turn", "stop_sequence", "tool_use", "pause_turn"})
INCOMPLETE_REASONS = frozenset({"max_tokens", "refusal", "model_context_window_exceeded"})
"""Stop reasons that mean the output was cut short (``incomplete``); any other is
``completed``."""
DERIVED_EVENTS = frozenset(
    {"text", "thinking", "input_json", "citation", "signature", "compaction"}
)
"""Convenience events of the SDK's ``MessageStream`` that repeat a raw event: ignored."""
KNOWN_DELTAS = ("text", "input_json", "thinking", "signature", "citations", "compaction")

_PATH = re.compile(r"/v1/messages/?$")
_VERTEX_PATH = re.compile(r"/publishers/anthropic/models/([^/:]{1,256}):(stream)?[rR]awPredict/?$")
_DELTA_KEY = b'"delta":{"type":"'
_DELTA_NAME = re.compile(rb"[a-z_]{1,40}")
_DELTA_NAMES: dict[bytes, str] = {}
"""Memo: raw delta type bytes → the delta's event type (the per-delta hot path reads it)."""
_SNIFF_TYPES = frozenset({MESSAGE_START, BLOCK_START, BLOCK_DELTA, BLOCK_STOP, MESSAGE_DELTA})
_SNIFF_PREFIXES = tuple(b'{"type":"' + t.encode() + b'"' for t in _SNIFF_TYPES)
_RATE_LIMIT_KINDS = ("requests", "tokens", "input_tokens", "output_tokens")


def _raw_delta_type(data: bytes) -> str | None:
    """The delta's event type from the raw bytes of a ``content_block_delta`` frame, or
    ``None`` when it must be parsed. The key cannot match inside a JSON string (its quotes would
    be escaped there), and the frame's own ``delta`` comes before anything nested in it.
    (``partition``, not ``find``: CPython 3.11 parses ``find``'s arguments with a format built
    per call, dearer than the search.)"""
    _, key, rest = data.partition(_DELTA_KEY)
    if not key:
        return None
    raw, quote, _ = rest[:41].partition(b'"')
    if not quote:
        return None
    found = _DELTA_NAMES.get(raw)
    if found is None:
        if _DELTA_NAME.fullmatch(raw) is None:
            return None
        found = f"{BLOCK_DELTA}.{raw.decode('ascii')}"
        if len(_DELTA_NAMES) < 256:
            _DELTA_NAMES[raw] = found
    return found


def _delta_type(payload: Any) -> str:
    """The delta's event type from a parsed ``content_block_delta`` (dict or SDK object)."""
    found = field(field(payload, "delta"), "type")
    if isinstance(found, str) and _DELTA_NAME.fullmatch(found.encode("utf-8", "replace")):
        return f"{BLOCK_DELTA}.{found}"
    return BLOCK_DELTA


def outcome_of(stop_reason: str | None) -> str:
    """``incomplete`` for a stop reason that cut the output short, else ``completed``."""
    return "incomplete" if stop_reason in INCOMPLETE_REASONS else "completed"


def error_of(payload: Any) -> ErrorFacts:
    """The error of an ``error`` event or body (``{"type":"error","error":{"type","message"}}``,
    or the bare inner object); ``error.type`` is the error's ``type``."""
    nested = field(payload, "error")
    source = nested if nested is not None and not isinstance(nested, (str, int)) else payload
    kind = text(field(source, "type"))
    if kind == "error" and source is payload:
        kind = None  # a bare envelope without its error object
    message = field(source, "message")
    return ErrorFacts(
        kind,
        redact(message) if isinstance(message, str) and message else None,
        rate_limited=kind == "rate_limit_error",
    )


class _Counts:
    """The usage counts stated so far (each the last value stated)."""

    __slots__ = ("cache_creation", "cache_read", "input", "output", "reasoning")

    def __init__(self) -> None:
        self.input: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.output: int | None = None
        self.reasoning: int | None = None

    def update(self, usage: Any) -> Usage | None:
        """Take the counts ``usage`` states; the usage so far per the conventions."""
        if usage is None or isinstance(usage, (str, int, float, list)):
            return None
        for name, key in (
            ("input", "input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
            ("output", "output_tokens"),
        ):
            value = integer(field(usage, key))
            if value is not None:
                setattr(self, name, value)
        thinking = integer(field(field(usage, "output_tokens_details"), "thinking_tokens"))
        if thinking is not None:
            self.reasoning = thinking
        parts = [v for v in (self.input, self.cache_read, self.cache_creation) if v is not None]
        return Usage(
            input=sum(parts) if parts else None,
            output=self.output,
            cache_read=self.cache_read,
            cache_creation=self.cache_creation,
            reasoning=self.reasoning,
        )


class MessagesReader:
    """One Anthropic Messages stream (or non-streamed message)."""

    __slots__ = ("_counts", "_sink", "_stop")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._stop: str | None = None
        self._counts = _Counts()

    def message(self, event_type: str, data: bytes) -> None:
        sink = self._sink
        if not event_type:
            event_type = _type_of_payload(data)
            if not event_type:
                sink.anomaly("undecodable")
                return
        if event_type == BLOCK_DELTA:
            if not sink.capturing:
                delta_type = _raw_delta_type(data)
                if delta_type is not None:
                    if delta_type == SIGNATURE_DELTA:
                        sink.count(delta_type)
                    else:
                        sink.delta(delta_type, None)
                    return
            payload = loads(data)
            if isinstance(payload, dict):
                self._delta(payload)
            else:  # counted as the delta it names, its type and text lost: an anomaly
                sink.delta(BLOCK_DELTA, None)
                sink.anomaly("undecodable", BLOCK_DELTA)
            return
        if event_type == PING:
            sink.count(PING)
            return
        payload = loads(data)
        if isinstance(payload, dict):
            sink.event(self._interpret(event_type[:MAX_TYPE_CHARS], payload))
        else:
            sink.anomaly("undecodable", event_type[:MAX_TYPE_CHARS])

    def _delta(self, payload: Any) -> None:
        delta_type = _delta_type(payload)
        if delta_type == SIGNATURE_DELTA:
            self._sink.count(delta_type)
            return
        captured = None
        if self._sink.capturing and delta_type == TEXT_DELTA:
            found = field(field(payload, "delta"), "text")
            captured = found if isinstance(found, str) else None
        self._sink.delta(delta_type, None, captured)

    def _interpret(self, event_type: str, payload: Any) -> Event:
        """What one non-delta event means."""
        event = Event(event_type)
        if event_type == MESSAGE_START:
            message = field(payload, "message")
            event.response_id = text(field(message, "id"))
            event.model = text(field(message, "model"))
            event.usage = self._counts.update(field(message, "usage"))
        elif event_type in (BLOCK_START, BLOCK_STOP):
            event.index = integer(field(payload, "index"))
            block = field(payload, "content_block")
            if block is not None:
                event.item_type = text(field(block, "type"))
                event.item_id = text(field(block, "id"))
        elif event_type == MESSAGE_DELTA:
            reason = text(field(field(payload, "delta"), "stop_reason"))
            if reason is not None:
                self._stop = reason
                event.finish_reasons = (reason,)
            event.usage = self._counts.update(field(payload, "usage"))
        elif event_type == MESSAGE_STOP:
            event.kind = Kind.TERMINAL
            event.outcome = outcome_of(self._stop)
            event.finish_reasons = (self._stop,) if self._stop else ()
        elif event_type == ERROR:
            event.kind = Kind.ERROR
            event.error = error_of(payload)
        return event

    def on_object(self, obj: Any) -> None:
        sink = self._sink
        event_type = field(obj, "type")
        if not isinstance(event_type, str) or not event_type:
            sink.anomaly("undecodable")
            return
        if event_type == BLOCK_DELTA:
            self._delta(obj)
        elif event_type == PING:
            sink.count(PING)
        elif event_type not in DERIVED_EVENTS:
            sink.event(self._interpret(event_type[:MAX_TYPE_CHARS], obj))

    def on_final(self, obj: Any) -> None:
        """A whole message (``{"type": "message", "content": [...], "stop_reason", "usage"}``)."""
        reason = text(field(obj, "stop_reason"))
        event = Event(
            "message",
            Kind.TERMINAL,
            response_id=text(field(obj, "id")),
            model=text(field(obj, "model")),
            usage=self._counts.update(field(obj, "usage")),
            outcome=outcome_of(reason),
            finish_reasons=(reason,) if reason else (),
            span_event=False,
        )
        if field(obj, "type") == ERROR:
            event.kind, event.outcome, event.error = Kind.ERROR, "error", error_of(obj)
        self._sink.conclude(event)

    def close(self) -> None:
        pass  # the stream says its own last word (message_stop); no terminator to wait for


def rate_limit_of(headers: Any) -> RateLimit:
    """``anthropic-ratelimit-*`` and ``retry-after`` headers (names matched case-insensitively;
    resets are RFC 3339 instants, recorded as seconds from now)."""
    h = lowered(headers)
    facts = RateLimit(retry_after=retry_after(h))
    for kind in _RATE_LIMIT_KINDS:
        prefix = f"anthropic-ratelimit-{kind.replace('_', '-')}-"
        setattr(facts, f"limit_{kind}", header_int(h, prefix + "limit"))
        setattr(facts, f"remaining_{kind}", header_int(h, prefix + "remaining"))
        reset = h.get(prefix + "reset")
        if reset:
            setattr(facts, f"reset_{kind}", seconds_until(reset))
    return facts


class AnthropicMessages:
    """The dialect object (see :class:`otel_responses.dialects.Dialect`)."""

    name = "anthropic_messages"
    operation = "chat"
    api_type: str | None = None
    metric_types = re.compile(
        r"message_start|message_delta|message_stop|content_block_(?:start|stop|delta)|ping|error"
        r"|content_block_delta\.(?:" + "|".join(KNOWN_DELTAS) + r")_delta"
    )

    def provider(self, host: str | None, path: str | None = None) -> str:
        """``gcp.vertex_ai`` for Claude on Vertex AI (``*aiplatform.googleapis.com``, or a
        ``…/publishers/anthropic/models/…:rawPredict`` path); else ``anthropic``."""
        if host and host.lower().rstrip(".").endswith("aiplatform.googleapis.com"):
            return "gcp.vertex_ai"
        if path and _VERTEX_PATH.search(path.partition("?")[0]):
            return "gcp.vertex_ai"
        return "anthropic"

    def matches(self, method: str, host: str | None, path: str) -> bool:
        """``POST …/v1/messages`` or a Vertex ``…:rawPredict`` path — but not on AWS hosts:
        the SDK's Bedrock client calls ``/v1/messages`` too, then rewrites it and streams AWS
        event-stream frames, which no dialect here reads."""
        path = path.partition("?")[0]
        if host and host.lower().rstrip(".").endswith(".amazonaws.com"):
            return False
        return method.upper() == "POST" and (
            _PATH.search(path) is not None or _VERTEX_PATH.search(path) is not None
        )

    def sniff(self, event_type: str, data: bytes) -> bool:
        if event_type:
            return event_type in _SNIFF_TYPES
        return data.startswith(_SNIFF_PREFIXES)

    def sniff_object(self, obj: Any) -> bool:
        found = field(obj, "type")
        return isinstance(found, str) and found in _SNIFF_TYPES

    def request(self, path: str, body: Any) -> RequestFacts:
        """The body's ``model`` and ``stream``; on Vertex the model is in the path and
        ``:streamRawPredict`` says it streams."""
        facts = body_request_facts(body)
        vertex = _VERTEX_PATH.search(path.partition("?")[0])
        if vertex is None:
            return facts
        model = facts.model or vertex.group(1).replace("%3B", ";")[:256]
        return RequestFacts(model, facts.stream or vertex.group(2) is not None)

    def reader(self, sink: Sink) -> Reader:
        return MessagesReader(sink)

    def http(self, status: int, headers: Any, body: Any) -> HTTPFacts:
        rate_limit = rate_limit_of(headers)
        request_id = lowered(headers).get("request-id") or None
        error = None
        if status >= 400:
            parsed = as_mapping(body)
            error = error_of(parsed) if parsed is not None else ErrorFacts(None, None)
            if request_id is None and parsed is not None:
                request_id = text(parsed.get("request_id"))
        return HTTPFacts(rate_limit, request_id, error)


DIALECT = AnthropicMessages()
