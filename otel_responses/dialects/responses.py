"""The OpenAI Responses API (``POST /v1/responses`` with ``stream: true``).

Events name themselves (``event: response.output_text.delta`` and ``"type"`` in the data) and
carry a ``sequence_number``. ``*.delta`` events are deltas, read from their raw bytes without
parsing; ``response.completed``/``.incomplete``/``.failed`` are terminal; ``error`` (flat or
nested shape) is an error; everything else (``response.created``, ``*.added``, ``*.done``,
tool-call phases such as ``response.web_search_call.searching``) is a lifecycle event.
"""

from __future__ import annotations

import re
from typing import Any

from ._access import MAX_TYPE_CHARS, field, integer, loads, text, type_of_payload
from ._facts import Event, Kind, Reader, Sink, Usage
from ._openai import OpenAIAPI, error_of

_TERMINAL = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}
_SEQ_KEY = b'"sequence_number":'
_TEXT_DELTA = "response.output_text.delta"
_PATH = re.compile(r"/responses/?$")
_RESUME_PATH = re.compile(r"/responses/[A-Za-z0-9_\-]+/?$")
_DELTAS: dict[str, bool] = {}
"""Memo: is this event type a delta (the per-event hot path reads it)."""


def _is_delta(event_type: str) -> bool:
    found = _DELTAS.get(event_type)
    if found is None:
        found = event_type.endswith(".delta")
        if len(_DELTAS) < 1024:
            _DELTAS[event_type] = found
    return found


def _sequence(payload: Any) -> int | None:
    seq = field(payload, "sequence_number")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None


def usage_of(response: Any) -> Usage | None:
    usage = field(response, "usage")
    if usage is None:
        return None
    return Usage(
        input=integer(field(usage, "input_tokens")),
        output=integer(field(usage, "output_tokens")),
        cache_read=integer(field(field(usage, "input_tokens_details"), "cached_tokens")),
        reasoning=integer(field(field(usage, "output_tokens_details"), "reasoning_tokens")),
    )


def _with_response(event: Event, response: Any) -> Event:
    """Fill ``event`` with what a ``response`` object states."""
    if response is None:
        return event
    event.status = text(field(response, "status"))
    event.response_id = text(field(response, "id"))
    event.model = text(field(response, "model"))
    event.service_tier = text(field(response, "service_tier"))
    event.usage = usage_of(response)
    return event


def _terminal(event: Event, outcome: str, response: Any) -> None:
    event.kind = Kind.TERMINAL
    event.outcome = outcome
    if outcome == "failed":
        event.error, event.rate_limit = error_of(response)
    elif outcome == "incomplete":
        reason = text(field(field(response, "incomplete_details"), "reason"))
        event.finish_reasons = (reason or "incomplete",)
    else:
        event.finish_reasons = ("stop",)


def interpret(event_type: str, payload: Any) -> Event:
    """What one non-delta event means."""
    event = Event(event_type, sequence=_sequence(payload))
    event.index = integer(field(payload, "output_index"))
    item = field(payload, "item")
    if item is not None:
        event.item_type = text(field(item, "type"))
        event.item_id = text(field(item, "id"))
        event.item_status = text(field(item, "status"))
    response = field(payload, "response")
    _with_response(event, response)
    outcome = _TERMINAL.get(event_type)
    if outcome is not None:
        _terminal(event, outcome, response)
    elif event_type == "error":
        event.kind = Kind.ERROR
        event.error, event.rate_limit = error_of(payload)
    return event


class ResponsesReader:
    """One Responses stream."""

    __slots__ = ("_sink",)

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def message(self, event_type: str, data: bytes) -> None:
        sink = self._sink
        if not event_type:
            if data == b"[DONE]":
                return  # some servers end with Chat's terminator: not an event
            event_type = type_of_payload(data)
            if not event_type:
                sink.anomaly("undecodable")
                return
        delta = _DELTAS.get(event_type)
        if delta is None:
            event_type = event_type[:MAX_TYPE_CHARS]
            delta = _is_delta(event_type)
        if delta:
            # The sequence_number read from the raw JSON, not parsed: the key cannot match
            # inside a JSON string (its quotes would be escaped there), so the last occurrence
            # is the event's own field, and its value ends at the next "," or "}". (Inline: a
            # Python call costs some hundreds of instructions on a path of about 14 k.
            # rpartition/partition rather than rfind/find: on CPython 3.11 these parse their
            # arguments with a format string built per call, the dearest step here.)
            _, key, tail = data.rpartition(_SEQ_KEY)
            seq = None
            if key:
                try:
                    seq = int(tail.partition(b",")[0].rstrip(b"} \t\r\n"))
                except ValueError:
                    pass
                else:
                    if seq < 0:
                        seq = None
            if sink.capturing and event_type == _TEXT_DELTA:
                payload = loads(data)
                if isinstance(payload, dict):
                    sink.delta(event_type, seq, _delta_text(payload))
                else:  # counted as the delta it names, its text lost: an anomaly
                    sink.delta(event_type, seq)
                    sink.anomaly("undecodable", event_type)
            else:
                sink.delta(event_type, seq)
            return
        payload = loads(data)
        if isinstance(payload, dict):
            sink.event(interpret(event_type, payload))
        else:
            sink.anomaly("undecodable", event_type)

    def on_object(self, obj: Any) -> None:
        sink = self._sink
        event_type = field(obj, "type")
        if not isinstance(event_type, str) or not event_type:
            sink.anomaly("undecodable")
            return
        event_type = event_type[:MAX_TYPE_CHARS]
        if _is_delta(event_type):
            captured = _delta_text(obj) if sink.capturing and event_type == _TEXT_DELTA else None
            sink.delta(event_type, _sequence(obj), captured)
        else:
            sink.event(interpret(event_type, obj))

    def on_final(self, obj: Any) -> None:
        event = _with_response(Event("response", span_event=False), obj)
        outcome = _TERMINAL.get(f"response.{event.status}")
        if outcome is not None:
            _terminal(event, outcome, obj)
        self._sink.conclude(event)

    def close(self) -> None:
        pass  # a Responses stream says its own last word


def _delta_text(payload: Any) -> str | None:
    found = field(payload, "delta")
    return found if isinstance(found, str) else None


class Responses(OpenAIAPI):
    """The dialect object (see :class:`otel_responses.dialects.Dialect`)."""

    name = "responses"
    api_type: str | None = "responses"
    metric_types = re.compile(r"response\.[a-z0-9_.]{1,80}|error")

    def matches(self, method: str, host: str | None, path: str) -> bool:
        method = method.upper()
        return (method == "POST" and _PATH.search(path) is not None) or (
            method == "GET" and _RESUME_PATH.search(path) is not None
        )

    def sniff(self, event_type: str, data: bytes) -> bool:
        if event_type:
            return event_type.startswith("response.")
        return data.startswith(b'{"type":"response.')

    def sniff_object(self, obj: Any) -> bool:
        found = field(obj, "type")
        return isinstance(found, str) and found.startswith("response.")

    def reader(self, sink: Sink) -> Reader:
        return ResponsesReader(sink)


DIALECT = Responses()
