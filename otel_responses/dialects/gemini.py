"""Google Gemini (``POST …/models/{model}:streamGenerateContent?alt=sse`` and the non-streamed
``:generateContent``), as the Gemini API (``generativelanguage.googleapis.com``) and Vertex AI
(``*aiplatform.googleapis.com``, ``/v1/projects/*/locations/*/publishers/google/models/*``)
serve it.

Every frame is a whole ``GenerateContentResponse`` (``data:`` only, no event type): candidates
with their ``content.parts``, a running ``usageMetadata`` (each frame repeats the totals so far:
the last one counts, never a sum), ``modelVersion`` and ``responseId``. The names of what a frame
means are therefore otel-responses' own:

* ``gemini.text.delta``, ``gemini.thought.delta`` (a ``thought: true`` part),
  ``gemini.function_call.delta``, ``gemini.executable_code.delta``,
  ``gemini.code_execution_result.delta``, ``gemini.inline_data.delta`` — a frame carrying
  output, named by the most specific part it carries (a function call before code, code before
  its result, a thought before text);
* ``gemini.candidate.finish`` — a frame stating a candidate's ``finishReason``: a span event
  (``index`` = the candidate's index, ``item_status`` = the reason);
* ``gemini.prompt.blocked`` — ``promptFeedback.blockReason`` with no candidates: a span event
  (``item_status`` = the block reason);
* ``error`` — an ``{"error": {"code", "message", "status"}}`` frame: ``error.type`` is its
  ``status`` (``RESOURCE_EXHAUSTED``, ``UNAVAILABLE``...), else its ``code``;
* ``gemini.chunk`` — any other frame (usage or grounding only, an empty text part): counted.

The outcome, decided when the stream closes (Gemini sends no terminator): every candidate seen
finished → ``completed`` if all stopped on ``STOP``, else ``incomplete`` (``MAX_TOKENS`` and the
stops by policy: ``SAFETY``, ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``,
``MALFORMED_FUNCTION_CALL``, ``LANGUAGE``, ``OTHER``, ``IMAGE_SAFETY``...); a blocked prompt →
``incomplete`` with the block reason as finish reason; an error frame → ``error``; anything
else is decided by how the stream closed (``truncated``, ``cancelled``...).

Usage per the GenAI semantic conventions: input = ``promptTokenCount`` (cached content
included), output = ``candidatesTokenCount`` + ``thoughtsTokenCount``, reasoning =
``thoughtsTokenCount``, cache read = ``cachedContentTokenCount``. ``toolUsePromptTokenCount``
(tool results fed back to the model) is not part of any of them.

The hot path: after the first frame (parsed in full: id, model), a frame without
``finishReason``, ``promptFeedback`` or ``error`` is a delta recognised from its raw bytes and
never parsed. Since usage is a running total repeated in every frame, the reader keeps the last
such frame's bytes (one frame: memory does not grow with the stream) and parses it once, when
the stream closes, if no later parsed frame stated the usage.

HTTP errors: ``{"error": {"code", "message", "status", "details"}}`` — or a JSON array of one
such object, as the streaming endpoint sends — give ``error.type`` = ``status``;
``RESOURCE_EXHAUSTED`` is a rate limit, whose ``google.rpc.QuotaFailure`` violation gives the
window (``RPM``/``TPM``/``RPD``/``TPD`` from its ``quotaId``), ``quotaValue`` (the limit),
``quotaId`` and ``quotaMetric``, and ``google.rpc.RetryInfo.retryDelay`` the seconds to wait.
"""

from __future__ import annotations

import re
from typing import Any

from .._redact import redact
from ._access import DeltaShape, as_mapping, code, field, integer, loads, lowered, text
from ._durations import parse_duration, retry_after
from ._facts import ErrorFacts, Event, HTTPFacts, Kind, RateLimit, Reader, RequestFacts, Sink, Usage

_GOOGLE_ERROR = re.compile(rb'\s*\[?\s*\{\s*"error"\s*:\s*\{')
_GOOGLE_STATUS = re.compile(rb'"status"\s*:\s*"[A-Z_]{3,64}"')
TEXT = "gemini.text.delta"
THOUGHT = "gemini.thought.delta"
FUNCTION_CALL = "gemini.function_call.delta"
EXECUTABLE_CODE = "gemini.executable_code.delta"
CODE_RESULT = "gemini.code_execution_result.delta"
INLINE_DATA = "gemini.inline_data.delta"
FINISH = "gemini.candidate.finish"
BLOCKED = "gemini.prompt.blocked"
CHUNK = "gemini.chunk"
ERROR = "error"
COMPLETED_REASONS = frozenset({"STOP"})
"""Finish reasons of a candidate that ended normally; any other one means ``incomplete``."""
MAX_CANDIDATES = 128
"""Candidates tracked per stream."""

_PATH = re.compile(r"(?:^|/)(?:models|tunedModels|endpoints)/[^/:]+:(stream)?[gG]enerateContent/?$")
_MODEL = re.compile(r"(?:^|/)(?:models|tunedModels|endpoints)/([^/:]{1,256}):")
_VERTEX_PATH = re.compile(r"/projects/[^/]+/locations/[^/]+/")
# Raw-byte markers (keys cannot match inside a JSON string, where their quotes are escaped).
_NOT_A_PLAIN_DELTA = (b'"finishReason"', b'"promptFeedback"', b'"error"')
_PART_MARKERS = (
    (b'"functionCall"', FUNCTION_CALL),
    (b'"executableCode"', EXECUTABLE_CODE),
    (b'"codeExecutionResult"', CODE_RESULT),
    (b'"thought": true', THOUGHT),
    (b'"thought":true', THOUGHT),
    (b'"inlineData"', INLINE_DATA),
)
_TEXT_KEY = b'"text":'
_TEXT_KEY_LEN = len(_TEXT_KEY)
_WINDOW_UNITS = (("PerMinute", "M"), ("PerDay", "D"), ("PerHour", "H"))


def _raw_text_start(data: bytes) -> int:
    """Where the first non-empty ``"text"`` string value begins, from the raw bytes; -1 if
    there is none."""
    at = data.find(_TEXT_KEY)
    while at >= 0:
        start = at + _TEXT_KEY_LEN
        rest = data[start : start + 8]
        skipped = len(rest) - len(rest.lstrip())
        if rest[skipped : skipped + 1] == b'"' and rest[skipped + 1 : skipped + 2] != b'"':
            return start + skipped + 1
        at = data.find(_TEXT_KEY, start)
    return -1


def _plain_delta(data: bytes) -> tuple[str, int] | None:
    """The delta type of a frame that is certainly nothing but output, from its raw bytes, and
    where its text value begins (-1 when it carries none); ``None`` when it must be parsed."""
    for marker in _NOT_A_PLAIN_DELTA:
        if marker in data:
            return None
    text_start = _raw_text_start(data)
    for marker, delta_type in _PART_MARKERS:
        if marker in data:
            return delta_type, text_start if delta_type == THOUGHT else -1
    return (TEXT, text_start) if text_start >= 0 else None


def _get(obj: Any, camel: str, snake: str) -> Any:
    """A field as the wire names it (``camelCase``) or as the SDK's objects do (``snake``)."""
    found = field(obj, camel)
    return field(obj, snake) if found is None else found


def _part_type(part: Any) -> str | None:
    """What one part carries, if it is output."""
    if _get(part, "functionCall", "function_call") is not None:
        return FUNCTION_CALL
    if _get(part, "executableCode", "executable_code") is not None:
        return EXECUTABLE_CODE
    if _get(part, "codeExecutionResult", "code_execution_result") is not None:
        return CODE_RESULT
    value = field(part, "text")
    if isinstance(value, str) and value:
        return THOUGHT if field(part, "thought") is True else TEXT
    if _get(part, "inlineData", "inline_data") is not None:
        return INLINE_DATA
    return None


_PRIORITY = {FUNCTION_CALL: 0, EXECUTABLE_CODE: 1, CODE_RESULT: 2, THOUGHT: 3, INLINE_DATA: 4}


def usage_of(payload: Any) -> Usage | None:
    """Usage per the conventions from a ``usageMetadata`` (see the module docstring)."""
    usage = _get(payload, "usageMetadata", "usage_metadata")
    if usage is None or isinstance(usage, (str, int, float, list)):
        return None
    prompt = integer(_get(usage, "promptTokenCount", "prompt_token_count"))
    candidates = integer(_get(usage, "candidatesTokenCount", "candidates_token_count"))
    thoughts = integer(_get(usage, "thoughtsTokenCount", "thoughts_token_count"))
    cached = integer(_get(usage, "cachedContentTokenCount", "cached_content_token_count"))
    output = None
    if candidates is not None or thoughts is not None:
        output = (candidates or 0) + (thoughts or 0)
    return Usage(input=prompt, output=output, cache_read=cached, reasoning=thoughts)


def _quota_window(quota_id: str, metric: str) -> str | None:
    """``RPM``/``TPM``/``RPD``/``TPD`` (``RPH``/``TPH``) from a quota id such as
    ``GenerateRequestsPerMinutePerProjectPerModel-FreeTier`` or
    ``GenerateContentPaidTierInputTokensPerModelPerMinute``."""
    unit = next((u for word, u in _WINDOW_UNITS if word in quota_id), None)
    if unit is None:
        return None
    both = f"{quota_id} {metric}".lower()
    if "token" in both:
        return f"TP{unit}"
    if "request" in both:
        return f"RP{unit}"
    return None


def _details(error: Any) -> RateLimit | None:
    """Quota and retry facts from an error's ``details`` (``google.rpc.QuotaFailure``,
    ``google.rpc.RetryInfo``)."""
    details = field(error, "details")
    if not isinstance(details, list):
        return None
    facts = RateLimit()
    for detail in details[:32]:
        kind = field(detail, "@type")
        if not isinstance(kind, str):
            continue
        if kind.endswith("google.rpc.QuotaFailure") and facts.quota_id is None:
            violations = field(detail, "violations")
            if isinstance(violations, list) and violations:
                first = violations[0]
                facts.quota_id = text(field(first, "quotaId"))
                facts.quota_metric = text(field(first, "quotaMetric"))
                facts.limit = integer(field(first, "quotaValue"))
                facts.window = _quota_window(facts.quota_id or "", facts.quota_metric or "")
        elif kind.endswith("google.rpc.RetryInfo") and facts.retry_after is None:
            delay = field(detail, "retryDelay")
            if isinstance(delay, str):
                facts.retry_after = parse_duration(delay)
    return facts if facts else None


def error_of(payload: Any) -> tuple[ErrorFacts, RateLimit | None]:
    """The error of a frame or body ``{"error": {...}}`` (or the bare error object)."""
    nested = field(payload, "error")
    source = nested if nested is not None and not isinstance(nested, (str, int)) else payload
    status = text(field(source, "status"))
    error_code = status or code(field(source, "code"))
    message = field(source, "message")
    return (
        ErrorFacts(
            error_code,
            redact(message) if isinstance(message, str) and message else None,
            rate_limited=status == "RESOURCE_EXHAUSTED",
        ),
        _details(source),
    )


def _first_object(body: Any) -> Any:
    """A body as a JSON object: itself, or the first element of a JSON array (the streaming
    endpoint without ``alt=sse`` answers ``[{"error": ...}]``)."""
    if isinstance(body, (bytes, str)):
        body = loads(body)
    if isinstance(body, list) and body:
        body = body[0]
    return as_mapping(body)


class GeminiReader:
    """One Gemini stream (or non-streamed response)."""

    __slots__ = ("_blocked", "_error", "_last", "_reasons", "_seen", "_shape", "_sink", "_started")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._started = False
        self._error = False
        self._blocked: str | None = None
        self._seen: set[int] = set()
        self._reasons: dict[int, str] = {}
        self._last: bytes | None = None
        """The last frame taken on the fast path, while no later frame was parsed."""
        self._shape = DeltaShape()

    def message(self, event_type: str, data: bytes) -> None:
        sink = self._sink
        if self._started and not sink.capturing:
            shape = self._shape
            delta_type = shape.match(data) or shape.verify(data, _plain_delta)
            if delta_type is not None:
                self._last = data
                sink.delta(delta_type, None)
                return
        payload = loads(data)
        if isinstance(payload, list):  # a JSON array of responses (or of one error)
            objects = [p for p in payload[:MAX_CANDIDATES] if isinstance(p, dict)]
            if objects:
                for obj in objects:
                    self.on_object(obj)
                return
        if isinstance(payload, dict):
            self.on_object(payload)
        else:
            sink.anomaly("undecodable", event_type or None)

    def on_object(self, obj: Any) -> None:
        sink = self._sink
        self._started = True
        event = Event(CHUNK, span_event=False)
        error = field(obj, "error")
        if error is not None and not isinstance(error, (str, int)):
            event.type, event.kind, event.span_event = ERROR, Kind.ERROR, True
            event.error, event.rate_limit = error_of(obj)
            self._error = True
        event.response_id = text(_get(obj, "responseId", "response_id"))
        event.model = text(_get(obj, "modelVersion", "model_version"))
        event.usage = usage_of(obj)
        if event.usage is not None:
            self._last = None  # this frame states the usage so far
        output = self._read_candidates(obj, event)
        if event.type == CHUNK:
            blocked = self._block_reason(obj)
            if event.item_status is not None:
                event.type, event.span_event = FINISH, True
            elif blocked is not None:
                event.type, event.span_event = BLOCKED, True
                event.item_status = blocked
            elif output is not None:
                event.type = output
        event.output = output is not None
        if self._reasons:
            event.finish_reasons = tuple(self._reasons[i] for i in sorted(self._reasons))
        if not event.span_event and not (
            event.response_id or event.model or event.usage or event.text
        ):
            if event.output:
                sink.delta(event.type, None)
            else:
                sink.count(CHUNK)
            return
        sink.event(event)

    def _block_reason(self, obj: Any) -> str | None:
        if self._seen:
            return None
        feedback = _get(obj, "promptFeedback", "prompt_feedback")
        reason = text(_enum(_get(feedback, "blockReason", "block_reason")))
        if reason is not None:
            self._blocked = reason
        return reason

    def _read_candidates(self, obj: Any, event: Event) -> str | None:
        """Record the candidates' finish reasons (the last one stated goes on ``event``);
        return the delta type of the frame's most specific output part."""
        candidates = field(obj, "candidates")
        if not isinstance(candidates, list):
            return None
        output: str | None = None
        capturing = self._sink.capturing
        texts: list[str] = []
        for position, candidate in enumerate(candidates[:MAX_CANDIDATES]):
            index = integer(field(candidate, "index"))
            index = position if index is None else index
            if len(self._seen) < MAX_CANDIDATES:
                self._seen.add(index)
            parts = field(field(candidate, "content"), "parts")
            if isinstance(parts, list):
                for part in parts[:MAX_CANDIDATES]:
                    found = _part_type(part)
                    if found is None:
                        continue
                    if output is None or _PRIORITY.get(found, 9) < _PRIORITY.get(output, 9):
                        output = found
                    if capturing and found == TEXT and index == 0:
                        texts.append(field(part, "text"))
            reason = text(_enum(_get(candidate, "finishReason", "finish_reason")))
            if reason:
                self._reasons[index] = reason
                event.index = index
                event.item_status = reason
        if texts:
            event.text = "".join(texts)
        return output

    def _conclusion(self) -> Event:
        event = Event("gemini.end", Kind.TERMINAL, span_event=False)
        reasons = tuple(self._reasons[i] for i in sorted(self._reasons))
        if self._error:
            event.outcome = None  # the error event decides
        elif self._blocked is not None and not self._seen:
            event.outcome, reasons = "incomplete", (self._blocked,)
        elif self._seen and self._seen <= self._reasons.keys():
            event.outcome = (
                "completed" if all(r in COMPLETED_REASONS for r in reasons) else "incomplete"
            )
        event.finish_reasons = reasons
        last = self._last
        if last is not None:
            self._last = None
            payload = loads(last)
            event.usage = usage_of(payload)
            event.response_id = text(_get(payload, "responseId", "response_id"))
            event.model = text(_get(payload, "modelVersion", "model_version"))
        return event

    def close(self) -> None:
        event = self._conclusion()
        if event.outcome is not None or event.usage is not None or event.finish_reasons:
            self._sink.conclude(event)

    def on_final(self, obj: Any) -> None:
        self.on_object(obj)
        self.close()


def _enum(value: Any) -> Any:
    """An SDK enum member's value (``FinishReason.STOP`` → ``"STOP"``); other values as they
    are."""
    found = getattr(value, "value", None)
    return found if isinstance(found, str) else value


class Gemini:
    """The dialect object (see :class:`otel_responses.dialects.Dialect`)."""

    name = "gemini"
    operation = "generate_content"
    api_type: str | None = None
    metric_types = re.compile(r"gemini\.[a-z_.]{1,40}|error")

    def provider(self, host: str | None, path: str | None = None) -> str:
        """``gcp.vertex_ai`` for Vertex AI hosts (``aiplatform.googleapis.com`` and its regional
        ``*-aiplatform.googleapis.com``) or a Vertex resource path; else ``gcp.gemini``."""
        if host and host.lower().rstrip(".").endswith("aiplatform.googleapis.com"):
            return "gcp.vertex_ai"
        if path and _VERTEX_PATH.search(path) and "/publishers/" in path:
            return "gcp.vertex_ai"
        return "gcp.gemini"

    def matches(self, method: str, host: str | None, path: str) -> bool:
        return method.upper() == "POST" and _PATH.search(path.partition("?")[0]) is not None

    def sniff(self, event_type: str, data: bytes) -> bool:
        head = data[:64]
        if head.startswith(b"{") and (
            b'"candidates"' in data or b'"promptFeedback"' in data or b'"usageMetadata"' in data
        ):
            return True
        # Google's error shape (a frame, or an HTTP error body): ``status`` beside the code.
        return _GOOGLE_ERROR.match(data) is not None and _GOOGLE_STATUS.search(data) is not None

    def sniff_object(self, obj: Any) -> bool:
        return (
            field(obj, "candidates") is not None
            or _get(obj, "promptFeedback", "prompt_feedback") is not None
            or _get(obj, "usageMetadata", "usage_metadata") is not None
        )

    def request(self, path: str, body: Any) -> RequestFacts:
        """The model is in the path (``…/models/gemini-2.5-flash:streamGenerateContent``), and
        so is streaming."""
        path = path.partition("?")[0]
        found = _MODEL.search(path)
        return RequestFacts(found.group(1) if found else None, ":streamGenerateContent" in path)

    def reader(self, sink: Sink) -> Reader:
        return GeminiReader(sink)

    def http(self, status: int, headers: Any, body: Any) -> HTTPFacts:
        h = lowered(headers)
        rate_limit = RateLimit(retry_after=retry_after(h))
        request_id = h.get("x-request-id") or h.get("x-goog-request-id") or None
        error = None
        if status >= 400:
            parsed = _first_object(body)
            if parsed is not None and field(parsed, "error") is not None:
                error, stated = error_of(parsed)
                rate_limit.merge(stated)
            else:
                error = ErrorFacts(None, None)
        return HTTPFacts(rate_limit, request_id, error)


DIALECT = Gemini()
