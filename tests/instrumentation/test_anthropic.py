"""The real anthropic SDK (2.x, on ``httpx2``), instrumented by ``instrument()``, against
``httpx2.MockTransport``: every recorded transcript sync and async compared with the same call
uninstrumented event by event, every entry point (``messages.create`` streamed and not,
``messages.stream()`` with ``text_stream`` / ``get_final_message()`` / ``until_done()``,
``beta.messages``, the Vertex client), and every ending (completed, incomplete, error
mid-stream, pre-stream 429/529 with headers and retries, cancelled, abandoned, transport error).

Only the network is replaced (``MockTransport``, which cannot reach Anthropic here); the SDK,
its parsing, retries and exceptions are the real ones. The in-stream ``error`` event, the 429
and 529 are constructed in the documented shapes: no recording has them (see
``fixtures/anthropic_messages/SOURCES.md``).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
import structlog
from anthropic._base_client import AsyncAPIClient, SyncAPIClient
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_responses import _faults, instrument, uninstrument
from otel_responses.dialects import anthropic_messages
from otel_responses.instrumentation import AnthropicInstrumentor
from tests.conftest import FIXTURES, Telemetry
from tests.dialects.test_anthropic_messages import Expected, expected
from tests.support import (
    Server,
    assert_abandoned_after_two_reads,
    assert_error_span,
    attributes,
    event_names,
    events_of,
    instrumenting,
)

STREAMS = sorted((FIXTURES / "anthropic_messages").glob("*.sse"))
TEXT = (
    FIXTURES / "anthropic_messages" / "dd-trace-py__claude-sonnet-4_max_tokens_cache_creation.sse"
)
BASE_URL = "https://api.anthropic.com"
KEY = "sk-ant-api03-PLANTEDkey0123456789abcdefABCDEF_-xyz"
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "request-id": "req_011Anthropic",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-input-tokens-limit": "400000",
    "anthropic-ratelimit-input-tokens-remaining": "398000",
    "anthropic-ratelimit-output-tokens-limit": "80000",
    "anthropic-ratelimit-output-tokens-remaining": "79900",
}
HEADERS_429 = {
    "request-id": "req_011Limited",
    "retry-after-ms": "1",
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-tokens-limit": "90000",
    "anthropic-ratelimit-tokens-remaining": "0",
}
ERROR_429 = {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}
ERROR_529 = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
ASK: dict[str, Any] = {
    "model": "claude-sonnet-4-20250514",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
PATCHED = [(SyncAPIClient, "request"), (SyncAPIClient, "_attempt_request"),
           (AsyncAPIClient, "request"), (AsyncAPIClient, "_attempt_request"),
           (anthropic.Stream, "__init__"), (anthropic.AsyncStream, "__init__")]  # fmt: skip
Handler = Callable[[httpx2.Request], httpx2.Response]


# --- the mock server (tests.support.Server, on httpx2) -----------------------------------------
class Pulls:
    """How many body chunks the client pulled from the server."""

    def __init__(self) -> None:
        self.n = 0


def sse(
    body: bytes,
    *,
    is_async: bool = False,
    headers: dict[str, str] | None = None,
    pulls: Pulls | None = None,
    fail_after: int | None = None,
) -> Handler:
    """One event per chunk; ``fail_after`` chunks then ``httpx2.ReadError``."""
    parts = events_of(body)

    def chunks() -> Iterator[bytes]:
        for i, part in enumerate(parts):
            if fail_after is not None and i == fail_after:
                raise httpx2.ReadError("connection reset by peer")
            if pulls is not None:
                pulls.n += 1
            yield part

    def make(request: httpx2.Request) -> httpx2.Response:
        content: Any = chunks()
        if is_async:
            sync = content

            async def agen() -> AsyncIterator[bytes]:
                for part in sync:
                    await asyncio.sleep(0)
                    yield part

            content = agen()
        return httpx2.Response(200, headers=headers or SSE_HEADERS, content=content)

    return make


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def make(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status,
            headers={"content-type": "application/json", **(headers or {})},
            content=json.dumps(body).encode(),
        )

    return make


def client(handler: Handler, *, max_retries: int = 0) -> anthropic.Anthropic:
    """The key goes out as ``x-api-key`` (set explicitly: SDK 2.x itself sends a bearer
    ``authorization`` header, which carries it too)."""
    return anthropic.Anthropic(
        api_key=KEY,
        base_url=BASE_URL,
        max_retries=max_retries,
        default_headers={"x-api-key": KEY},
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def async_client(handler: Handler, *, max_retries: int = 0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=KEY,
        base_url=BASE_URL,
        max_retries=max_retries,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )


def assert_matches(span: ReadableSpan, want: Expected) -> None:
    """The span says what the file says (values derived by the dialect test's plain reading)."""
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == want.outcome
    assert a.get("error.type") == want.error_type
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.operation.name"] == "chat"
    assert "openai.api.type" not in a
    assert a["server.address"] == "api.anthropic.com" and a["server.port"] == 443
    assert a["http.response.status_code"] == 200
    assert a["otel_responses.request_id"] == "req_011Anthropic"
    assert a["otel_responses.rate_limit.remaining_input_tokens"] == 398000
    assert a["otel_responses.rate_limit.limit_output_tokens"] == 80000
    assert a["gen_ai.response.id"] == want.response_id
    assert a["gen_ai.response.model"] == want.model
    assert a["gen_ai.response.finish_reasons"] == want.finish_reasons
    assert a["gen_ai.usage.input_tokens"] == want.input_tokens
    assert a["gen_ai.usage.output_tokens"] == want.output_tokens
    assert a.get("gen_ai.usage.cache_creation.input_tokens") == want.cache_creation
    assert a["otel_responses.events.count"] == want.events
    assert a["otel_responses.deltas.count"] == want.deltas
    assert event_names(span) == ["otel_responses.http.attempt", *want.span_events]


def dumped(events: list[Any]) -> list[Any]:
    return [e.model_dump(warnings=False) for e in events]


# --- every transcript, event by event ----------------------------------------------------------
@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_transcript_event_by_event(path: Path, telemetry: Telemetry) -> None:
    body = path.read_bytes()
    bare = dumped(list(client(Server(sse(body))).messages.create(**ASK, stream=True)))
    assert telemetry.finished() == ()
    with instrumenting(telemetry):
        stream = client(Server(sse(body))).messages.create(**ASK, stream=True)
        assert type(stream) is anthropic.Stream
        seen = dumped(list(stream))
    assert seen == bare and len(seen) == expected(body).events - expected(body).types.get(
        "ping", 0
    )  # the SDK drops pings
    span = telemetry.one_span()
    assert span.name == f"chat {ASK['model']}"
    assert attributes(span)["gen_ai.request.model"] == ASK["model"]
    assert_matches(span, expected(body))


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
async def test_async_transcript_event_by_event(path: Path, telemetry: Telemetry) -> None:
    body = path.read_bytes()
    stream = await async_client(Server(sse(body, is_async=True))).messages.create(
        **ASK, stream=True
    )
    bare = dumped([e async for e in stream])
    with instrumenting(telemetry):
        stream = await async_client(Server(sse(body, is_async=True))).messages.create(
            **ASK, stream=True
        )
        assert type(stream) is anthropic.AsyncStream
        seen = dumped([e async for e in stream])
    assert seen == bare
    assert_matches(telemetry.one_span(), expected(body))


# --- the other entry points --------------------------------------------------------------------
def test_stream_helper_text_stream_and_final_message(instrumented: Telemetry) -> None:
    body = TEXT.read_bytes()
    app = trace.get_tracer("app", tracer_provider=instrumented.tracer_provider)
    with app.start_as_current_span("app") as app_span:
        with client(Server(sse(body))).messages.stream(**ASK) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert trace.get_current_span() is app_span  # nothing leaked into the app's context
    assert text == expected(body).text
    spans = [s for s in instrumented.finished() if s.name != "app"]
    assert len(spans) == 1
    span = spans[0]
    assert span.parent is not None and span.parent.span_id == app_span.get_span_context().span_id
    a = attributes(span)
    usage = final.usage
    assert a["gen_ai.usage.input_tokens"] == (
        usage.input_tokens
        + (usage.cache_read_input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
    )
    assert a["gen_ai.usage.output_tokens"] == usage.output_tokens
    assert a["gen_ai.response.finish_reasons"] == (final.stop_reason,)
    assert a["gen_ai.response.id"] == final.id
    assert a["otel_responses.stream.outcome"] == "incomplete"  # max_tokens
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_stream_helper_until_done(instrumented: Telemetry) -> None:
    with client(Server(sse(TEXT.read_bytes()))).messages.stream(**ASK) as stream:
        stream.until_done()
    assert_matches(instrumented.one_span(), expected(TEXT.read_bytes()))


async def test_async_stream_helper(instrumented: Telemetry) -> None:
    body = TEXT.read_bytes()
    server = Server(sse(body, is_async=True))
    async with async_client(server).messages.stream(**ASK) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == expected(body).text
    a = attributes(instrumented.one_span())
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert a["otel_responses.stream.outcome"] == "incomplete"
    async with async_client(Server(sse(body, is_async=True))).messages.stream(**ASK) as stream:
        await stream.until_done()
    assert len(instrumented.finished()) == 2


def test_beta_messages(instrumented: Telemetry) -> None:
    body = FIXTURES / "anthropic_messages" / "pydantic-ai__claude-sonnet-4-5_mcp_tool_use.sse"
    server = Server(sse(body.read_bytes()))
    beta = ["mcp-client-2025-04-04"]
    events = list(client(server).beta.messages.create(**ASK, stream=True, betas=beta))
    assert server.requests[0].headers["anthropic-beta"] == beta[0]
    assert len(events) > 10
    assert_matches(instrumented.one_span(), expected(body.read_bytes()))


MESSAGE = {
    "id": "msg_01Whole",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 4,
        "output_tokens": 5,
    },
}


@pytest.mark.parametrize("is_async", [False, True])
async def test_non_streamed_create(instrumented: Telemetry, is_async: bool) -> None:
    server = Server(json_response(200, MESSAGE, {"request-id": "req_whole"}))
    if is_async:
        message = await async_client(server).messages.create(**ASK)
    else:
        message = client(server).messages.create(**ASK)
    assert message.content[0].text == "Hello"
    span = instrumented.one_span()
    a = attributes(span)
    assert a["gen_ai.request.stream"] is False
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.response.id"] == "msg_01Whole"
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.usage.input_tokens"] == 12 + 30 + 4
    assert a["gen_ai.usage.cache_read.input_tokens"] == 30
    assert a["otel_responses.request_id"] == "req_whole"


def test_vertex_client(instrumented: Telemetry) -> None:
    """``AnthropicVertex`` shares the client classes; its URL is rewritten per attempt."""
    body = TEXT.read_bytes()
    server = Server(sse(body))
    vertex = anthropic.AnthropicVertex(
        region="us-east5",
        project_id="proj",
        access_token="ya29.PLANTEDtoken",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(server)),
    )
    model = "claude-sonnet-4@20250514"
    events = list(vertex.messages.create(**{**ASK, "model": model}, stream=True))
    assert len(events) == expected(body).events - 1  # one ping
    assert server.requests[0].url.path.endswith(
        f"/publishers/anthropic/models/{model}:streamRawPredict"
    )
    a = attributes(instrumented.one_span())
    assert a["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert a["server.address"] == "us-east5-aiplatform.googleapis.com"
    assert a["gen_ai.request.model"] == model
    assert a["otel_responses.stream.outcome"] == "incomplete"


def test_other_endpoints_not_traced(instrumented: Telemetry) -> None:
    server = Server(json_response(200, {"input_tokens": 3}))
    client(server).messages.count_tokens(model="m", messages=[{"role": "user", "content": "x"}])
    assert instrumented.finished() == ()


# --- every ending ------------------------------------------------------------------------------
def error_stream() -> bytes:
    head = TEXT.read_bytes().split(b"event: message_delta")[0]
    return head + (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )


@pytest.mark.parametrize("is_async", [False, True])
async def test_error_event_mid_stream(telemetry: Telemetry, is_async: bool) -> None:
    """The SDK raises at the ``error`` event (the same exception as uninstrumented); the span
    still carries ``overloaded_error``."""

    async def consume() -> tuple[list[Any], BaseException]:
        events: list[Any] = []
        with pytest.raises(anthropic.APIStatusError) as raised:
            if is_async:
                server = Server(sse(error_stream(), is_async=True))
                stream = await async_client(server).messages.create(**ASK, stream=True)
                async for event in stream:
                    events.append(event)
            else:
                for event in client(Server(sse(error_stream()))).messages.create(
                    **ASK, stream=True
                ):
                    events.append(event)
        return events, raised.value

    bare_events, bare_exc = await consume()
    with instrumenting(telemetry):
        events, exc = await consume()
    assert dumped(events) == dumped(bare_events)
    assert (type(exc), str(exc)) == (type(bare_exc), str(bare_exc))
    span = telemetry.one_span()
    assert_error_span(span, "overloaded_error", "Overloaded")
    assert event_names(span)[-1] == "error"


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("status", "body", "exc_type"),
    [(429, ERROR_429, anthropic.RateLimitError), (529, ERROR_529, anthropic.OverloadedError)],
)
async def test_prestream_errors_with_headers(
    instrumented: Telemetry, is_async: bool, status: int, body: Any, exc_type: type
) -> None:
    server = Server(json_response(status, body, HEADERS_429))
    with pytest.raises(exc_type):
        if is_async:
            await async_client(server, max_retries=1).messages.create(**ASK, stream=True)
        else:
            client(server, max_retries=1).messages.create(**ASK, stream=True)
    assert len(server.requests) == 2  # the SDK retried once
    span = instrumented.one_span()
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "error"
    assert a["error.type"] == body["error"]["type"]
    assert a["http.response.status_code"] == status
    assert a["otel_responses.http.retry_count"] == 1
    assert event_names(span).count("otel_responses.http.attempt") == 2
    assert a["otel_responses.request_id"] == "req_011Limited"
    assert a["otel_responses.rate_limit.remaining_requests"] == 0
    assert a["otel_responses.rate_limit.limit_tokens"] == 90000
    assert a["otel_responses.rate_limit.retry_after"] == pytest.approx(0.001)


def test_retry_then_stream_completes(instrumented: Telemetry) -> None:
    body = TEXT.read_bytes()
    server = Server(json_response(529, ERROR_529, HEADERS_429), sse(body))
    events = list(client(server, max_retries=2).messages.create(**ASK, stream=True))
    assert len(events) == expected(body).events - 1
    span = instrumented.one_span()
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "incomplete"
    assert "error.type" not in a
    assert a["otel_responses.http.retry_count"] == 1
    assert event_names(span)[:2] == ["otel_responses.http.attempt"] * 2


def test_break_and_close_is_cancelled(instrumented: Telemetry) -> None:
    with client(Server(sse(TEXT.read_bytes()))).messages.stream(**ASK) as stream:
        for _ in stream.text_stream:
            break
    span = instrumented.one_span()
    assert attributes(span)["otel_responses.stream.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.ERROR


def test_dropped_without_close_is_abandoned(instrumented: Telemetry) -> None:
    server = Server(sse(TEXT.read_bytes()))
    assert_abandoned_after_two_reads(
        instrumented, lambda: client(server).messages.create(**ASK, stream=True)
    )


async def test_async_dropped_without_close_is_abandoned(instrumented: Telemetry) -> None:
    server = Server(sse(TEXT.read_bytes(), is_async=True))
    stream = await async_client(server).messages.create(**ASK, stream=True)
    await stream.__anext__()
    del stream
    gc.collect()
    assert attributes(instrumented.one_span())["otel_responses.stream.outcome"] == "abandoned"


def test_transport_error_mid_stream(telemetry: Telemetry) -> None:
    def consume() -> tuple[int, BaseException]:
        n = 0
        with pytest.raises(Exception) as raised:
            for _ in client(Server(sse(TEXT.read_bytes(), fail_after=4))).messages.create(
                **ASK, stream=True
            ):
                n += 1
        return n, raised.value

    bare_n, bare_exc = consume()
    with instrumenting(telemetry):
        n, exc = consume()
    assert (n, type(exc), str(exc)) == (bare_n, type(bare_exc), str(bare_exc))
    a = attributes(telemetry.one_span())
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "httpx2.ReadError"


def test_no_read_ahead(telemetry: Telemetry) -> None:
    """After two events the instrumented client has pulled exactly as many chunks as the
    uninstrumented one: the hook reads nothing the app did not ask for."""

    def pulled_after_two() -> int:
        pulls = Pulls()
        stream = client(Server(sse(TEXT.read_bytes(), pulls=pulls))).messages.create(
            **ASK, stream=True
        )
        it = iter(stream)
        next(it)
        next(it)
        n = pulls.n
        stream.close()
        return n

    bare = pulled_after_two()
    with instrumenting(telemetry):
        assert pulled_after_two() == bare < len(events_of(TEXT.read_bytes()))


# --- instrumenting and uninstrumenting -------------------------------------------------------
def test_uninstrument_restores_the_sdk_exactly(telemetry: Telemetry) -> None:
    import openai._base_client as oai

    before = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}
    openai_before = oai.SyncAPIClient.__dict__["_send_request"]
    instrument(tracer_provider=telemetry.tracer_provider)
    instrument(tracer_provider=telemetry.tracer_provider)  # a second call changes nothing
    try:
        for (cls, name), original in before.items():
            assert cls.__dict__[name].__wrapped__ is original
        assert oai.SyncAPIClient.__dict__["_send_request"].__wrapped__ is openai_before
    finally:
        uninstrument()
    for (cls, name), original in before.items():
        assert cls.__dict__[name] is original
    assert oai.SyncAPIClient.__dict__["_send_request"] is openai_before
    list(client(Server(sse(TEXT.read_bytes()))).messages.create(**ASK, stream=True))
    assert telemetry.finished() == ()


def test_instrumentor_api_and_entry_point(telemetry: Telemetry) -> None:
    assert tuple(AnthropicInstrumentor().instrumentation_dependencies()) == ("anthropic >= 1.0",)
    found = [
        e
        for e in entry_points(group="opentelemetry_instrumentor")
        if e.name == "anthropic_messages"
    ]
    assert len(found) == 1 and found[0].load() is AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    try:
        list(client(Server(sse(TEXT.read_bytes()))).messages.create(**ASK, stream=True))
    finally:
        AnthropicInstrumentor().uninstrument()
    assert attributes(telemetry.one_span())["otel_responses.stream.outcome"] == "incomplete"


# --- faults and secrets --------------------------------------------------------------------------
def test_a_fault_in_the_dialect_costs_telemetry_not_the_app(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected: the reader raises on every lifecycle event. The app's events are unchanged,
    the fault is counted, and the span still ends, once."""
    body = TEXT.read_bytes()
    bare = dumped(list(client(Server(sse(body))).messages.create(**ASK, stream=True)))

    def boom(self: Any, event_type: str, payload: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(anthropic_messages.MessagesReader, "_interpret", boom)
    before = sum(_faults.fault_counts().values())
    with instrumenting(telemetry):
        seen = dumped(list(client(Server(sse(body))).messages.create(**ASK, stream=True)))
    assert seen == bare
    assert sum(_faults.fault_counts().values()) > before
    span = telemetry.one_span()
    assert attributes(span)["otel_responses.deltas.count"] == expected(body).deltas


def test_planted_key_is_never_exported(telemetry: Telemetry) -> None:
    """The key goes out in the ``x-api-key`` request header and comes back quoted in an error
    message, in-stream and before the stream; no exported span, metric or log byte holds it."""
    quoted = json.dumps(
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"invalid x-api-key: {KEY}"},
        }
    ).encode()
    in_stream = TEXT.read_bytes().split(b"event: message_delta")[0] + b"event: error\ndata: "
    in_stream += quoted + b"\n\n"
    with structlog.testing.capture_logs() as logs, instrumenting(telemetry):
        server = Server(sse(in_stream))
        with pytest.raises(anthropic.APIStatusError):
            list(client(server).messages.create(**ASK, stream=True))
        assert server.requests[0].headers["x-api-key"] == KEY
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
        before = Server(json_response(401, json.loads(quoted), {"request-id": "req_x"}))
        with pytest.raises(anthropic.AuthenticationError):
            client(before).messages.create(**ASK, stream=True)
    spans = telemetry.finished()
    assert len(spans) == 2
    assert {attributes(s)["error.type"] for s in spans} == {"authentication_error"}
    exported = encode_spans(spans).SerializeToString()
    metrics = telemetry.metrics.get_metrics_data()
    exported += (metrics.to_json() if metrics is not None else "").encode()
    exported += repr(logs).encode()
    assert b"invalid x-api-key" in exported  # the redacted message is there: right bytes read
    for secret in (KEY, "PLANTEDkey", "sk-ant-api03"):
        assert secret.encode() not in exported, secret


# --- plain httpx2 clients ------------------------------------------------------------------------
def test_instrument_httpx_recognises_the_messages_endpoint(telemetry: Telemetry) -> None:
    """An app calling the API with httpx2 directly: ``instrument_httpx`` traces
    ``POST /v1/messages`` by its path, and leaves ``count_tokens`` alone."""
    from otel_responses import instrument_httpx

    body = TEXT.read_bytes()
    server = Server(sse(body), json_response(200, {"input_tokens": 3}))
    http = instrument_httpx(
        httpx2.Client(transport=httpx2.MockTransport(server)),
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    request = {**ASK, "stream": True}
    with http.stream("POST", f"{BASE_URL}/v1/messages", json=request) as response:
        received = b"".join(response.iter_bytes())
    assert received == b"".join(events_of(body))
    http.post(f"{BASE_URL}/v1/messages/count_tokens", json=ASK)
    span = telemetry.one_span()
    assert_matches(span, expected(body))
    assert attributes(span)["gen_ai.request.model"] == ASK["model"]


async def test_asyncio_cancelled_while_waiting_is_cancelled(instrumented: Telemetry) -> None:
    """The task is cancelled while the SDK awaits the next chunk: ``cancelled``, and the
    cancellation is not recorded as an exception the app made."""
    parts = events_of(TEXT.read_bytes())
    stalled = asyncio.Event()

    def make(request: httpx2.Request) -> httpx2.Response:
        async def agen() -> AsyncIterator[bytes]:
            yield parts[0]
            yield parts[1]
            stalled.set()
            await asyncio.Event().wait()  # the server goes quiet
            yield parts[2]

        return httpx2.Response(200, headers=SSE_HEADERS, content=agen())

    got: list[Any] = []

    async def consume() -> None:
        stream = await async_client(Server(make)).messages.create(**ASK, stream=True)
        async for event in stream:
            got.append(event)

    task = asyncio.create_task(consume())
    await stalled.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(got) == 2
    span = instrumented.one_span()
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "cancelled"
    assert a["error.type"] == "asyncio.exceptions.CancelledError"
    assert "exception" not in event_names(span)


def test_aws_hosts_are_not_traced(instrumented: Telemetry) -> None:
    """The SDK's Bedrock client (botocore is not installed here, so a client on its host
    stands in) calls ``/v1/messages`` too but streams AWS event-stream frames: not traced."""
    server = Server(json_response(200, MESSAGE))
    bedrock_host = anthropic.Anthropic(
        api_key=KEY,
        base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(server)),
    )
    bedrock_host.messages.create(**ASK)
    assert len(server.requests) == 1
    assert instrumented.finished() == ()
