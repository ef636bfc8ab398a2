"""The one place the tests build telemetry and streams from.

Every test file reads its telemetry back through :class:`Telemetry` (in-memory span exporter and
metric reader on private providers, never the global ones, so tests cannot see each other's
data) and builds its SSE bodies with the builders below, so that a change to how a stream is
framed or how telemetry is read back is made once. The pytest fixtures that wrap these
(``telemetry``, ``instrumented``, ``clock``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, cast

import httpx
import openai
import pytest
import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import Attributes
from typing_extensions import TypeVar

from otel_responses import (
    ContentCapture,
    ReplayResult,
    ResponseStreamHook,
    instrument,
    replay,
    uninstrument,
)
from otel_responses import _registry as names

FIXTURES = Path(__file__).parent / "fixtures"
"""Recorded transcripts (copies of ``../shared/corpus``, sources in ``fixtures/SOURCES.md``)."""
SEED = FIXTURES / "seed__failed-rate-limit.sse"
TEXT = FIXTURES / "otel-contrib__text_stream.sse"


# --- telemetry read back from memory ----------------------------------------------------------
class Telemetry(NamedTuple):
    """Private tracer and meter providers whose output the test reads back from memory."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def one_span(self) -> ReadableSpan:
        """The one span that ended, whatever its name (a second one is a failure, shown by
        name); :func:`only_span` instead looks at the stream spans only."""
        spans = self.finished()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """``(attributes, point)`` of every data point of metric ``name``."""
        data = self.metrics.get_metrics_data()
        out: list[tuple[dict[str, Any], Any]] = []
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return out

    def internal_errors(self) -> dict[tuple[str, str], int]:
        """``otel_responses.internal_errors`` counts by ``(site, error.type)``."""
        out: dict[tuple[str, str], int] = {}
        for attributes, point in self.points(names.INTERNAL_ERRORS):
            key = (str(attributes[names.INTERNAL_ERROR_SITE]), str(attributes[names.ERROR_TYPE]))
            out[key] = out.get(key, 0) + int(point.value)
        return out

    def event_type_counts(self) -> dict[str, int]:
        """``otel_responses.events`` by ``otel_responses.event.type``: what the events metric
        counted of each type."""
        return {
            str(attributes["otel_responses.event.type"]): int(point.value)
            for attributes, point in self.points("otel_responses.events")
        }

    def token_usage(self) -> dict[str, Any]:
        """``gen_ai.client.token.usage`` summed by ``gen_ai.token.type`` (``input``,
        ``output``): the tokens the metric recorded."""
        return {
            str(attributes["gen_ai.token.type"]): point.sum
            for attributes, point in self.points("gen_ai.client.token.usage")
        }

    def replay(
        self, source: str | bytes | Path, **kwargs: Any
    ) -> tuple[ReplayResult, ReadableSpan]:
        """:func:`otel_responses.replay` of ``source`` into this telemetry: its result and the
        one span it ended."""
        result = replay(
            source,
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **kwargs,
        )
        return result, self.one_span()

    def feed_hook(
        self,
        body: bytes,
        how: str,
        dialect: str | None,
        capture: ContentCapture | None = None,
    ) -> tuple[ResponseStreamHook, ReadableSpan]:
        """Feed ``body`` chunked as ``how`` (:func:`transcript_pieces`) to a hook of ``dialect``
        (``None``: detected) and end it, as :func:`otel_responses.replay` does but in any
        chunking: the hook and the one span it ended. Content capture is off unless ``capture``
        says."""
        hook = self.hook(
            model="m",
            dialect=dialect,
            capture_content=capture if capture is not None else ContentCapture(),
        )
        for piece in transcript_pieces(body, how):
            hook.feed(piece)
        hook.end()
        return hook, self.one_span()

    def replay_transcript(self, body: bytes, how: str, dialect: str | None) -> Replayed:
        """``body`` through :func:`otel_responses.replay` itself when ``how`` is ``whole`` or
        ``bytes7`` (its ``chunk_size=7``), else through :meth:`feed_hook`: both ways a
        transcript reaches the telemetry, tested with one call."""
        if how in ("whole", "bytes7"):
            result, span = self.replay(
                body, dialect=dialect, chunk_size=7 if how == "bytes7" else None
            )
            return Replayed(result.outcome, result.error_type, span)
        hook, span = self.feed_hook(body, how, dialect)
        return Replayed(hook.outcome or "", hook.error_type, span)

    def hook(self, model: str = "gpt-4o", **kwargs: Any) -> ResponseStreamHook:
        """A :class:`ResponseStreamHook` recording into this telemetry."""
        return ResponseStreamHook(
            model=model,
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **kwargs,
        )

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@contextmanager
def structlog_configured(*processors: Any) -> Iterator[None]:
    """structlog configured as an app would (``processors``, and a logger that returns what it
    is given), and put back as it was afterwards."""
    saved = structlog.get_config()
    was_configured = structlog.is_configured()
    structlog.configure(processors=list(processors), logger_factory=structlog.ReturnLoggerFactory())
    try:
        yield
    finally:
        structlog.reset_defaults()
        if was_configured:
            structlog.configure(**saved)


@contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    """structlog configured by the app, capturing every event dict that reaches the end."""
    captured: list[dict[str, Any]] = []

    def capture(logger: Any, method: str, event_dict: Any) -> str:
        captured.append(dict(event_dict))
        return ""

    with structlog_configured(capture):
        yield captured


def new_telemetry(*, keep_spans: bool = True) -> Telemetry:
    """A fresh :class:`Telemetry`. ``keep_spans=False`` leaves the span exporter unattached, for
    tests that end thousands of spans and count them with their own processor instead."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    if keep_spans:
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Telemetry(tracer_provider, meter_provider, spans, reader)


@contextmanager
def instrumenting(telemetry: Telemetry) -> Iterator[Telemetry]:
    """:func:`otel_responses.instrument` on ``telemetry``'s providers for the ``with`` block, undone
    after it: the block between an SDK call made bare and the same call made instrumented."""
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        yield telemetry
    finally:
        uninstrument()


def metric_sum(telemetry: Telemetry, name: str, **match: Any) -> float:
    """Sum of the values (counters) or counts (histograms) of ``name``'s points whose attributes
    include ``match``."""
    total = 0.0
    for attributes, point in telemetry.points(name):
        if all(attributes.get(k) == v for k, v in match.items()):
            value = getattr(point, "value", None)
            total += value if value is not None else getattr(point, "count", 0)
    return total


class _HasAttributes(Protocol):
    @property
    def attributes(self) -> Attributes: ...


def attributes(of: _HasAttributes) -> dict[str, Any]:
    """A span's or span event's attributes as a plain dict (empty when it has none), typed for
    comparisons: the SDK types each value as the union of every attribute type."""
    return dict(of.attributes or {})


def event_names(span: ReadableSpan) -> list[str]:
    return [e.name for e in span.events]


def exception_types(span: ReadableSpan) -> list[str]:
    return [
        str((e.attributes or {}).get("exception.type"))
        for e in span.events
        if e.name == "exception"
    ]


CLEAN_OUTCOMES = ("completed", "incomplete")
"""The outcomes of a stream that ended as the server meant it to: the span status stays unset."""


def assert_ending(span: ReadableSpan, outcome: str, error_type: str | None) -> dict[str, Any]:
    """The span ended as ``outcome`` with ``error_type`` (``None``: no ``error.type``), and its
    status agrees: unset after a clean outcome, ``ERROR`` with a description after any other.
    Every stream test checks these three together, so they are checked alike; the span's
    attributes are returned for the test's own checks."""
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == outcome
    assert a.get("error.type") == error_type
    if outcome in CLEAN_OUTCOMES:
        assert span.status.status_code is StatusCode.UNSET
    else:
        assert span.status.status_code is StatusCode.ERROR and span.status.description
    return a


def assert_error_span(
    span: ReadableSpan, error_type: str, description: str, outcome: str = "error"
) -> dict[str, Any]:
    """:func:`assert_ending` of a failed stream whose status description is known exactly (the
    server's error message); the span's attributes."""
    a = assert_ending(span, outcome, error_type)
    assert span.status.description == description
    return a


def assert_abandoned_after_two_reads(
    telemetry: Telemetry, open_stream: Callable[[], Any]
) -> ReadableSpan:
    """Open a stream with ``open_stream``, read two items, then drop every reference to it
    without closing it and collect the garbage: while the app holds it nothing has ended; once
    collected, its one span ends ``abandoned`` with an error status. The span is returned.
    (``open_stream`` makes the stream here so that no caller's variable keeps it alive.)"""
    stream = open_stream()
    it = iter(stream)
    next(it)
    next(it)
    assert telemetry.finished() == ()
    del stream, it
    gc.collect()
    span = telemetry.one_span()
    assert attributes(span)["otel_responses.stream.outcome"] == "abandoned"
    assert span.status.status_code is StatusCode.ERROR
    return span


def only_span(telemetry: Telemetry) -> ReadableSpan:
    """The one stream span (its name starts with the operation, ``chat``)."""
    spans = [s for s in telemetry.finished() if s.name.startswith("chat")]
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# --- a clock the test moves -------------------------------------------------------------------
T0 = 1_000_000_000_000
"""The fake clock's origin (ns); far from 0 so that a start time of 0 cannot pass for it."""


class Clock:
    """A ``perf_counter_ns`` that reads ``T0 + now`` and moves only by :meth:`at`."""

    def __init__(self) -> None:
        self.ns = T0

    def __call__(self) -> int:
        return self.ns

    def at(self, seconds: float) -> None:
        self.ns = T0 + round(seconds * 1e9)


# --- SSE bodies -------------------------------------------------------------------------------
def frame(payload: Mapping[str, Any], *, named: bool = True, compact: bool = False) -> bytes:
    """One SSE event carrying ``payload`` as JSON; ``named`` adds the ``event:`` line with the
    payload's ``type`` (Responses servers send it, some proxies drop it). ``compact`` writes the
    JSON without spaces, as the Anthropic API does (its raw-bytes fast path expects that)."""
    text = json.dumps(payload, separators=(",", ":")) if compact else json.dumps(payload)
    data = f"data: {text}\n\n"
    if named and "type" in payload:
        return f"event: {payload['type']}\n{data}".encode()
    return data.encode()


def frames(*payloads: Mapping[str, Any], named: bool = True, compact: bool = False) -> bytes:
    return b"".join(frame(p, named=named, compact=compact) for p in payloads)


def responses_event(kind: str, seq: int | None, **fields: Any) -> bytes:
    """One named Responses event of type ``kind``; ``seq=None`` leaves out ``sequence_number``."""
    payload: dict[str, Any] = {"type": kind}
    if seq is not None:
        payload["sequence_number"] = seq
    return frame({**payload, **fields})


RESPONSE = {"id": "resp_1", "object": "response", "model": "gpt-4o-2024-08-06", "output": []}
"""A Responses ``response`` object before its status and output."""
WHERE = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
"""Where the deltas of a one-message, one-part response go."""


def text_events(
    deltas: list[str],
    *,
    response: Mapping[str, Any] = RESPONSE,
    usage: Mapping[str, Any] | None = None,
    lifecycle: bool = True,
) -> list[bytes]:
    """A completed Responses stream of text ``deltas``, one SSE event per list item.

    With ``lifecycle`` the 8 lifecycle events of a real stream surround the deltas
    (:data:`LIFECYCLE`); without, only ``response.created``, the deltas and ``response.completed``.
    """
    seq = itertools.count()
    resp = dict(response)
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    full = "".join(deltas)
    done_part = {**part, "text": full}
    done_item = {**item, "status": "completed", "content": [done_part]}
    if usage is None:
        usage = {
            "input_tokens": 12,
            "output_tokens": len(deltas),
            "total_tokens": 12 + len(deltas),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
    out = [
        responses_event("response.created", next(seq), response={**resp, "status": "in_progress"})
    ]
    if lifecycle:
        out += [
            responses_event(
                "response.in_progress", next(seq), response={**resp, "status": "in_progress"}
            ),
            responses_event(
                "response.output_item.added",
                next(seq),
                output_index=0,
                item={**item, "content": []},
            ),
            responses_event("response.content_part.added", next(seq), part=part, **WHERE),
        ]
    out += [
        responses_event("response.output_text.delta", next(seq), delta=d, logprobs=[], **WHERE)
        for d in deltas
    ]
    if lifecycle:
        out += [
            responses_event(
                "response.output_text.done", next(seq), text=full, logprobs=[], **WHERE
            ),
            responses_event("response.content_part.done", next(seq), part=done_part, **WHERE),
            responses_event("response.output_item.done", next(seq), output_index=0, item=done_item),
        ]
    completed = {**resp, "status": "completed", "usage": dict(usage)}
    if lifecycle:
        completed["output"] = [done_item]
    out.append(responses_event("response.completed", next(seq), response=completed))
    return out


def text_stream(n_deltas: int, text: str = "tok") -> bytes:
    """A completed Responses stream (8 lifecycle events) with ``n_deltas`` text deltas."""
    return b"".join(text_events([text] * n_deltas, response={**RESPONSE, "id": "resp_bench"}))


LIFECYCLE = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
"""The lifecycle events of :func:`text_stream`, in order."""


def events_of(body: bytes) -> list[bytes]:
    """The body split into one chunk per SSE event (blank-line terminated)."""
    normalized = body.replace(b"\r\n", b"\n")
    return [part + b"\n\n" for part in normalized.split(b"\n\n") if part.strip()]


def chunked(body: bytes, how: str) -> list[bytes]:
    """``body`` whole, one SSE event per chunk, or in 7-byte pieces that split lines and UTF-8."""
    if how == "whole":
        return [body]
    if how == "event":
        return events_of(body)
    if how == "bytes":
        return [body[i : i + 7] for i in range(0, len(body), 7)]
    raise ValueError(how)


# --- recorded transcripts through the hook ----------------------------------------------------
def to_crlf(body: bytes) -> bytes:
    """``body`` with every line ending CRLF."""
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def swap_line_endings(body: bytes) -> bytes:
    """``body`` in LF if it is written in CRLF, else in CRLF (for a corpus written in CRLF)."""
    lf = body.replace(b"\r\n", b"\n")
    return lf if lf != body else to_crlf(lf)


LINE_ENDINGS: dict[str, Callable[[bytes], bytes]] = {
    "crlf": to_crlf,
    "swapped_eol": swap_line_endings,
}
"""The line-ending rewrites a transcript chunking may start with (see :func:`transcript_pieces`)."""


def transcript_pieces(body: bytes, how: str) -> list[bytes]:
    """``body`` in the chunking ``how`` of the dialect transcript tests: ``whole``, ``event`` or
    ``bytes7`` (7-byte pieces), optionally after a rewrite of :data:`LINE_ENDINGS` named first
    (``crlf`` is ``crlf`` whole, ``crlf_bytes7`` the rewritten body in 7-byte pieces), so that a
    CR and its LF fall in different chunks too."""
    for name, rewrite in LINE_ENDINGS.items():
        if how == name or how.startswith(f"{name}_"):
            body, how = rewrite(body), how[len(name) + 1 :] or "whole"
            break
    return chunked(body, "bytes" if how == "bytes7" else how)


class Replayed(NamedTuple):
    """How a transcript ended, as the caller was told, and the span it left."""

    outcome: str
    error_type: str | None
    span: ReadableSpan


@dataclass(frozen=True)
class StreamReading:
    """What a dialect test's independent reading of a transcript says, whatever the dialect
    (the dialect's reading adds its usage): what :func:`assert_transcript` checks, and the ids,
    finish reasons and text the dialect's own checks compare."""

    events: int
    """The events the stream holds (each dialect says what is one)."""
    types: dict[str, int]
    span_events: list[str]
    deltas: int
    outcome: str
    error_type: str | None
    response_id: str | None
    model: str | None
    finish_reasons: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class TranscriptReading(StreamReading):
    """The reading of a transcript of a dialect whose usage is one object (Chat Completions'
    ``usage``, Gemini's ``usageMetadata``), kept as the stream last stated it."""

    usage: dict[str, Any] | None


def assert_all_in_sources(folder: Path, paths: list[Path]) -> None:
    """Every transcript in ``paths`` is named in ``folder``'s ``SOURCES.md``, where its origin
    is recorded: a copy with no stated source fails here."""
    rows = (folder / "SOURCES.md").read_text()
    for path in paths:
        assert f"`{path.name}`" in rows, path.name


TestT = TypeVar("TestT", bound=Callable[..., Any])


def parametrize_transcripts(
    streams: list[Path], dialect: str, chunkings: list[str]
) -> Callable[[TestT], TestT]:
    """Run a dialect's transcript test on every transcript in ``streams``, in every chunking of
    ``chunkings`` (:func:`transcript_pieces`), with the dialect detected and named ``dialect``:
    its arguments ``path``, ``how``, ``dialect``, its ids ``<stem>-<how>-detected|named``."""

    def mark(test: TestT) -> TestT:
        marked = pytest.mark.parametrize("path", streams, ids=lambda p: p.stem)(test)
        marked = pytest.mark.parametrize("how", chunkings)(marked)
        marked = pytest.mark.parametrize("dialect", [None, dialect], ids=["detected", "named"])(
            marked
        )
        return cast("TestT", marked)

    return mark


def assert_transcript(
    telemetry: Telemetry, body: bytes, how: str, dialect: str | None, want: StreamReading
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replay ``body`` (:meth:`Telemetry.replay_transcript`) and assert what every dialect's
    transcript test asserts alike, against its own reading ``want``: the ending (told to the
    caller, on the span, on the ``otel_responses.streams`` point, with :func:`assert_ending`'s
    status), the span events, the event and delta counts, the time to first token exactly when
    there is a delta, and the events metric by type. Returns the span's and the streams point's
    attributes for the dialect's own checks."""
    replayed = telemetry.replay_transcript(body, how, dialect)
    assert (replayed.outcome, replayed.error_type) == (want.outcome, want.error_type)
    a = assert_ending(replayed.span, want.outcome, want.error_type)
    assert event_names(replayed.span) == want.span_events
    assert "otel_responses.anomalies.count" not in a
    assert a["otel_responses.events.count"] == want.events
    assert a["otel_responses.deltas.count"] == want.deltas
    assert ("otel_responses.time_to_first_token" in a) == (want.deltas > 0)
    counted = telemetry.event_type_counts()
    assert counted == want.types
    assert sum(counted.values()) == want.events
    ((stream_attrs, stream_point),) = telemetry.points("otel_responses.streams")
    assert stream_point.value == 1
    assert stream_attrs["otel_responses.stream.outcome"] == want.outcome
    assert stream_attrs.get("error.type") == want.error_type
    return a, stream_attrs


# --- an openai SDK on httpx.MockTransport -----------------------------------------------------
BASE_URL = "https://api.test/v1"
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "x-request-id": "req_abc123",
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "29000",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-reset-tokens": "6m0s",
}
RATE_LIMIT_429 = {
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-X on tokens per min (TPM): "
        "Limit 30000, Used 29950, Requested 750. Please try again in 1.4s.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
HEADERS_429 = {
    "x-request-id": "req_429",
    "retry-after": "2",
    "retry-after-ms": "1400",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "50",
    "x-ratelimit-reset-tokens": "1.4s",
}

Handler = Callable[[httpx.Request], httpx.Response]
# Defaults (PEP 696, through typing_extensions, in the test extra): a bare
# ``Server`` annotation means the httpx one.
RequestT = TypeVar("RequestT", default=httpx.Request)
ResponseT = TypeVar("ResponseT", default=httpx.Response)


class Server(Generic[RequestT, ResponseT]):
    """A ``MockTransport`` handler serving queued responses (the last one repeats); records the
    requests. Generic in the HTTP library, so that the anthropic SDK's ``httpx2`` is served by
    the same one as ``httpx``."""

    def __init__(self, *responses: Callable[[RequestT], ResponseT]) -> None:
        self.queue = list(responses)
        self.requests: list[RequestT] = []

    def __call__(self, request: RequestT) -> ResponseT:
        self.requests.append(request)
        make = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        return make(request)


def sse(
    body: bytes,
    how: str = "event",
    headers: dict[str, str] | None = None,
    *,
    is_async: bool = False,
) -> Handler:
    """A handler answering 200 with ``body`` streamed in the chunking ``how``."""
    parts = chunked(body, how)

    def make(request: httpx.Request) -> httpx.Response:
        content: Any
        if is_async:

            async def agen() -> AsyncIterator[bytes]:
                for part in parts:
                    await asyncio.sleep(0)
                    yield part

            content = agen()
        else:
            content = iter(parts)
        return httpx.Response(200, headers=headers or SSE_HEADERS, content=content)

    return make


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)

    def make(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, headers={"content-type": "application/json", **(headers or {})}, content=raw
        )

    return make


def client(
    handler: Callable[..., Any], *, max_retries: int = 0, base_url: str = BASE_URL
) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url=base_url,
        max_retries=max_retries,
        # The SDK takes an httpx client (its annotation names only its own httpx2 fork).
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),  # type: ignore[arg-type]
    )


def async_client(handler: Callable[..., Any], *, max_retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url=BASE_URL,
        max_retries=max_retries,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),  # type: ignore[arg-type]
    )


def recorded_response(recorded: Mapping[str, Any]) -> tuple[list[tuple[str, str]], Handler]:
    """A recorded HTTP response (an ``*.http.json`` transcript, read) as the headers it is served
    with and a handler serving it. Headers that describe the recorded transfer (length,
    chunking, compression) are left out: the body is stored decoded and whole."""
    headers = [
        (name, value)
        for name, values in recorded["headers"].items()
        if name.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        for value in (values if isinstance(values, list) else [values])
    ]

    def make(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            recorded["status"], headers=headers, content=recorded["body"].encode()
        )

    return headers, make


def exception_view(exc: BaseException | None) -> Any:
    """What the app can see of an SDK exception (class, text, body, status, code): compared
    between a call made bare and the same call instrumented."""
    if exc is None:
        return None
    return (
        type(exc),
        str(exc),
        getattr(exc, "body", None),
        getattr(exc, "status_code", None),
        getattr(exc, "code", None),
    )


def assert_retried_then_completed(
    telemetry: Telemetry, server: Server[Any, Any], statuses: list[int]
) -> list[dict[str, Any]]:
    """The one stream span of a call the SDK made once a status in ``statuses`` (the last one
    answered with the stream, which completed): a request and an ``otel_responses.http.attempt``
    event each, numbered from 1, the retries counted, no ``error.type``. Returns the attempt
    events' attributes for the facts each test sets on them."""
    assert len(server.requests) == len(statuses)
    span = only_span(telemetry)
    a = attributes(span)
    assert a["otel_responses.http.retry_count"] == len(statuses) - 1
    assert a["otel_responses.stream.outcome"] == "completed"
    assert "error.type" not in a
    attempts = [attributes(e) for e in span.events if e.name == "otel_responses.http.attempt"]
    assert [e["http.response.status_code"] for e in attempts] == statuses
    assert [e["otel_responses.http.attempt_number"] for e in attempts] == [
        n + 1 for n in range(len(statuses))
    ]
    return attempts


# --- a real HTTP server on loopback -----------------------------------------------------------
class SlowSSEServer:
    """Streams a few SSE events slowly (chunked), then drops the connection or goes quiet."""

    def __init__(self, behaviour: str, events: list[bytes]) -> None:
        self.behaviour = behaviour
        self.events = events
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"x-request-id: req_slow\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            for event in self.events:
                time.sleep(0.02)
                conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
            if self.behaviour == "stall":
                self.stop.wait(5)
        except OSError:
            pass
        finally:
            conn.close()  # "drop": no terminating zero-length chunk

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
