"""OpenAI Chat Completions (``POST …/chat/completions`` with ``stream: true``), as OpenAI and
every OpenAI-compatible server (Azure, vLLM, Ollama, Groq, OpenRouter, DeepSeek, Mistral, xAI,
LM Studio...) stream it.

Chunks carry no event type, so the names of what they mean are otel-responses' own:

* ``chat.completion.start`` — the first chunk (id, model): a span event;
* ``chat.completion.{content,reasoning,tool_call,refusal,audio}.delta`` — deltas;
* ``chat.completion.choice.finish`` — a chunk stating a choice's ``finish_reason``: a span event;
* ``chat.completion.usage`` — the usage chunk (``stream_options.include_usage``; servers that
  repeat running totals in every chunk: the last value counts, never a sum): a span event;
* ``chat.completion.filter`` — Azure's ``prompt_filter_results``, a ``moderation`` chunk;
* ``error`` — an error in the stream, as ``data: {"error": …}``, an ``event: error`` frame
  (Groq) or an ``error`` object inside a chunk (OpenRouter): ``error.type`` is its ``code``,
  else its ``type``;
* ``chat.completion.chunk`` — any other chunk (role only, empty delta): counted only;
* ``ping`` — a keep-alive ``{"type":"ping"}`` some servers send: counted only;
* ``data: [DONE]`` is a terminator, not an event.

The outcome: an error in the stream → ``error``; otherwise a body that ends with ``[DONE]`` or
with a finish reason on every choice ends normally — ``incomplete`` if a choice stopped on
``length`` or ``content_filter``, else ``completed``; a body with neither is ``truncated``.

The hot path: a chunk that carries only a delta is recognised from its raw bytes (compact JSON as
servers write it) and never parsed; anything else — the first chunk, finish reasons, usage,
errors, spaced or unusual JSON — is parsed and interpreted in full.
"""

from __future__ import annotations

import re
from typing import Any

from ._access import DeltaShape, field, integer, loads, text, type_of_payload
from ._facts import Event, Kind, Reader, Sink, Usage
from ._openai import OpenAIAPI, error_of

START = "chat.completion.start"
CHUNK = "chat.completion.chunk"
FINISH = "chat.completion.choice.finish"
USAGE = "chat.completion.usage"
FILTER = "chat.completion.filter"
CONTENT = "chat.completion.content.delta"
REASONING = "chat.completion.reasoning.delta"
TOOL_CALL = "chat.completion.tool_call.delta"
REFUSAL = "chat.completion.refusal.delta"
AUDIO = "chat.completion.audio.delta"
KEEP_ALIVE = "ping"
INCOMPLETE_REASONS = frozenset({"length", "content_filter"})
"""Finish reasons that mean the output was cut short (``incomplete``)."""
MAX_CHOICES = 128
"""Choices tracked per stream (``n`` is at most 128 in the API)."""

_PATH = re.compile(r"/chat/completions/?$")
# Raw-byte markers of a chunk that carries only a delta (see the module docstring).
_NOT_A_PLAIN_DELTA = (b'"usage":{', b'"error"', b'"prompt_filter_results"', b'"moderation"')
_FINISH_KEY = b'"finish_reason":'
_OBFUSCATION = b'"obfuscation":"'
"""OpenAI pads every chunk with a fresh random token here (the learned delta shape ignores it)."""
_FINISH_KEY_LEN = len(_FINISH_KEY)
_DELTA_MARKERS = (
    (b'"content":"', CONTENT),
    (b'"reasoning_content":"', REASONING),
    (b'"reasoning":"', REASONING),
    (b'"refusal":"', REFUSAL),
)


def _plain_delta(data: bytes) -> tuple[str, int] | None:
    """The delta type of a chunk that is certainly nothing but a delta, from its raw bytes, and
    where its text value begins (-1 for tool-call arguments); ``None`` when it must be parsed.
    A marker cannot match inside a JSON string, where its quotes would be escaped."""
    for marker in _NOT_A_PLAIN_DELTA:
        if marker in data:
            return None
    at = data.find(_FINISH_KEY)
    if at >= 0 and (
        data[at + _FINISH_KEY_LEN : at + _FINISH_KEY_LEN + 4] != b"null"
        or data.find(_FINISH_KEY, at + _FINISH_KEY_LEN) >= 0  # several choices: parse them
    ):
        return None
    for marker, delta_type in _DELTA_MARKERS:
        at = data.find(marker)
        if at >= 0 and data[at + len(marker) : at + len(marker) + 1] != b'"':
            return delta_type, at + len(marker)  # a non-empty string value
    if b'"tool_calls":[{' in data:
        return TOOL_CALL, -1
    return None


def _has_text(value: Any) -> bool:
    """``delta.content`` with text: a non-empty string, or an array of typed parts (Mistral's
    ``[{"type": "thinking", "thinking": [...]}]``) that is not empty."""
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, list) and bool(value)


def _delta_type(delta: Any) -> str | None:
    """What a choice's ``delta`` carries, if it carries output."""
    if delta is None:
        return None
    content = field(delta, "content")
    if _has_text(content):
        return REASONING if isinstance(content, list) and _is_thinking(content) else CONTENT
    for key in ("reasoning_content", "reasoning"):
        if _has_text(field(delta, key)):
            return REASONING
    tool_calls = field(delta, "tool_calls")
    if isinstance(tool_calls, list) and tool_calls:
        return TOOL_CALL
    if _has_text(field(delta, "refusal")):
        return REFUSAL
    audio = field(delta, "audio")
    if audio is not None and (field(audio, "data") or field(audio, "transcript")):
        return AUDIO
    return None


def _is_thinking(parts: list[Any]) -> bool:
    return all(field(part, "type") == "thinking" for part in parts)


def _delta_text(delta: Any) -> str | None:
    content = field(delta, "content")
    return content if isinstance(content, str) and content else None


def usage_of(payload: Any) -> Usage | None:
    usage = field(payload, "usage")
    if usage is None or isinstance(usage, (str, int)):
        return None
    cached = integer(field(field(usage, "prompt_tokens_details"), "cached_tokens"))
    if cached is None:
        cached = integer(field(usage, "prompt_cache_hit_tokens"))  # DeepSeek
    return Usage(
        input=integer(field(usage, "prompt_tokens")),
        output=integer(field(usage, "completion_tokens")),
        cache_read=cached,
        reasoning=integer(field(field(usage, "completion_tokens_details"), "reasoning_tokens")),
    )


class ChatReader:
    """One Chat Completions stream (or non-streamed completion)."""

    __slots__ = ("_done", "_error", "_reasons", "_seen", "_shape", "_sink", "_started")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._started = False
        self._done = False
        self._error = False
        self._seen: set[int] = set()
        self._reasons: dict[int, str] = {}
        self._shape = DeltaShape(padding=_OBFUSCATION)

    def message(self, event_type: str, data: bytes) -> None:
        sink = self._sink
        shape = self._shape
        plain = self._started and event_type != "error" and not sink.capturing
        if plain:
            delta_type = shape.match(data)  # first: most frames are deltas of a learned shape
            if delta_type is not None:
                sink.delta(delta_type, None)
                return
        if data == b"[DONE]":
            if not self._done:
                self._done = True
                sink.conclude(self._conclusion())
            return
        if data[:7] == b'{"type"' and type_of_payload(data) == KEEP_ALIVE:
            sink.count(KEEP_ALIVE)  # some servers' keep-alive: counted, not an anomaly
            return
        if plain:
            delta_type = shape.verify(data, _plain_delta)
            if delta_type is not None:
                sink.delta(delta_type, None)
                return
        payload = loads(data)
        if isinstance(payload, dict):
            self.on_object(payload, event_type == "error")
        else:
            sink.anomaly("undecodable", event_type or None)

    def on_object(self, obj: Any, error_frame: bool = False) -> None:
        sink = self._sink
        event = Event(CHUNK)
        error = field(obj, "error")
        if error_frame or (error is not None and not isinstance(error, (str, int))):
            event.type, event.kind = "error", Kind.ERROR
            event.error, event.rate_limit = error_of(obj)
            self._error = True
        elif not self._started:
            event.type = START
        self._started = True
        event.response_id = text(field(obj, "id"))
        event.model = text(field(obj, "model"))
        event.service_tier = text(field(obj, "service_tier"))
        event.usage = usage_of(obj)
        output = self._read_choices(obj, event)
        if event.type == CHUNK:
            if event.item_status is not None:
                event.type = FINISH
            elif event.usage is not None:
                event.type = USAGE
            elif field(obj, "prompt_filter_results") or field(obj, "moderation"):
                event.type = FILTER
            elif output is not None:
                sink.delta(output, None, event.text)
                return
            else:
                sink.count(CHUNK)
                return
        event.output = output is not None
        if self._reasons:
            event.finish_reasons = tuple(self._reasons[i] for i in sorted(self._reasons))
        sink.event(event)

    def _read_choices(self, obj: Any, event: Event) -> str | None:
        """Record the choices' finish reasons (the last one stated goes on ``event`` as its
        index and ``item_status``); return the delta type of the first choice with output."""
        choices = field(obj, "choices")
        if not isinstance(choices, list):
            return None
        output: str | None = None
        for position, choice in enumerate(choices[:MAX_CHOICES]):
            index = integer(field(choice, "index"))
            index = position if index is None else index
            if len(self._seen) < MAX_CHOICES:
                self._seen.add(index)
            delta = field(choice, "delta")  # (a non-streamed completion's message is no delta)
            found = _delta_type(delta)
            if found is not None and output is None:
                output = found
                if self._sink.capturing:
                    event.text = _delta_text(delta)
            reason = text(field(choice, "finish_reason"))
            if reason:
                self._reasons[index] = reason
                event.index = index
                event.item_status = reason
        return output

    def _conclusion(self) -> Event:
        reasons = tuple(self._reasons[i] for i in sorted(self._reasons))
        if self._error:
            outcome = "error"
        elif any(r in INCOMPLETE_REASONS for r in reasons):
            outcome = "incomplete"
        else:
            outcome = "completed"
        return Event("[DONE]", Kind.TERMINAL, outcome=outcome, finish_reasons=reasons)

    def close(self) -> None:
        if not self._done and self._seen and self._seen <= set(self._reasons):
            self._done = True
            self._sink.conclude(self._conclusion())

    def on_final(self, obj: Any) -> None:
        self.on_object(obj)
        self._done = True
        self._sink.conclude(self._conclusion())


class ChatCompletions(OpenAIAPI):
    """The dialect object (see :class:`otel_responses.dialects.Dialect`)."""

    name = "chat_completions"
    api_type: str | None = "chat_completions"
    metric_types = re.compile(r"chat\.completion\.[a-z_.]{1,40}|error|ping")

    def matches(self, method: str, host: str | None, path: str) -> bool:
        return method.upper() == "POST" and _PATH.search(path) is not None

    def sniff(self, event_type: str, data: bytes) -> bool:
        return b'"chat.completion.chunk"' in data or (
            data.startswith(b"{") and b'"choices"' in data
        )

    def sniff_object(self, obj: Any) -> bool:
        return field(obj, "object") == "chat.completion.chunk" or field(obj, "choices") is not None

    def reader(self, sink: Sink) -> Reader:
        return ChatReader(sink)


DIALECT = ChatCompletions()
