"""The real openai SDK, instrumented, against ``httpx.MockTransport``: every entry point, sync and
async, and every way a stream ends, asserted on span, status, error.type, outcome, span events
and metrics."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.responses import AsyncResponseStream, ResponseStream
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from tests.support import (
    HEADERS_429,
    LIFECYCLE,
    RATE_LIMIT_429,
    SEED,
    SSE_HEADERS,
    TEXT,
    Server,
    Telemetry,
    assert_abandoned_after_two_reads,
    assert_error_span,
    assert_retried_then_completed,
    async_client,
    attributes,
    client,
    event_names,
    events_of,
    exception_types,
    json_response,
    metric_sum,
    only_span,
    sse,
    text_stream,
)


def _seed_one_chunk_after_created() -> bytes:
    """The seed with its ``error`` and ``response.failed`` events in one chunk."""
    return SEED.read_bytes()


# --- completed streams, every entry point -----------------------------------------------------
def test_create_stream_completed(instrumented: Telemetry) -> None:
    body = text_stream(5)
    server = Server(sse(body))
    with trace.get_tracer(
        "app", tracer_provider=instrumented.tracer_provider
    ).start_as_current_span("app") as app_span:
        stream = client(server).responses.create(model="gpt-4o", input="hi", stream=True)
        assert type(stream) is openai.Stream
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        assert trace.get_current_span() is app_span  # nothing leaked into the app's context
    assert texts == ["tok"] * 5
    span = only_span(instrumented)
    a = attributes(span)
    assert span.name == "chat gpt-4o"
    assert span.kind is trace.SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == app_span.get_span_context().span_id
    assert span.status.status_code is StatusCode.UNSET
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["server.address"] == "api.test" and a["server.port"] == 443
    assert a["http.response.status_code"] == 200
    assert a["otel_responses.request_id"] == "req_abc123"
    assert a["otel_responses.rate_limit.remaining_tokens"] == 29000
    assert a["otel_responses.rate_limit.reset_tokens"] == 360.0
    assert a["otel_responses.deltas.count"] == 5
    assert a["gen_ai.usage.output_tokens"] == 5
    assert a["gen_ai.response.id"] == "resp_bench"
    assert a["otel_responses.http.retry_count"] == 0
    assert "error.type" not in a
    assert event_names(span) == ["otel_responses.http.attempt", *LIFECYCLE]
    assert (
        metric_sum(
            instrumented, "otel_responses.streams", **{"otel_responses.stream.outcome": "completed"}
        )
        == 1
    )
    assert metric_sum(instrumented, "otel_responses.rate_limit.remaining_tokens") == 29000
    assert (
        metric_sum(
            instrumented,
            "otel_responses.events",
            **{"otel_responses.event.type": "response.output_text.delta"},
        )
        == 5
    )
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_async_create_stream_completed(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(3), is_async=True))
    stream = await async_client(server).responses.create(model="gpt-4o", input="hi", stream=True)
    assert type(stream) is openai.AsyncStream
    seen = [e.type async for e in stream]
    assert seen.count("response.output_text.delta") == 3
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["otel_responses.deltas.count"] == 3
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_stream_manager_final_response(instrumented: Telemetry) -> None:
    server = Server(sse(TEXT.read_bytes()))
    with client(server).responses.stream(model="gpt-4o-mini", input="hi") as stream:
        assert type(stream) is ResponseStream
        final = stream.until_done().get_final_response()
    assert final.status == "completed"
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.response.id"] == final.id
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens  # type: ignore[union-attr]


async def test_async_stream_manager_final_response(instrumented: Telemetry) -> None:
    server = Server(sse(TEXT.read_bytes(), is_async=True))
    async with async_client(server).responses.stream(model="gpt-4o-mini", input="hi") as stream:
        assert type(stream) is AsyncResponseStream
        final = await stream.get_final_response()
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.response.id"] == final.id


def test_with_raw_response_stream(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(4)))
    raw = client(server).responses.with_raw_response.create(model="gpt-4o", input="hi", stream=True)
    assert raw.headers["x-request-id"] == "req_abc123"
    assert sum(1 for e in raw.parse() if e.type == "response.output_text.delta") == 4
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["otel_responses.deltas.count"] == 4


def test_with_streaming_response_lines(instrumented: Telemetry) -> None:
    body = text_stream(2)
    server = Server(sse(body))
    api = client(server).responses.with_streaming_response
    with api.create(model="gpt-4o", input="hi", stream=True) as resp:
        read = b"".join(resp.iter_bytes())
    assert read == body
    assert attributes(only_span(instrumented))["otel_responses.stream.outcome"] == "completed"


def _final_body() -> dict[str, Any]:
    return {
        "id": "resp_ns",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4o-2024-08-06",
        "status": "completed",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 11,
            "output_tokens": 7,
            "total_tokens": 18,
            "input_tokens_details": {"cached_tokens": 3},
            "output_tokens_details": {"reasoning_tokens": 2},
        },
    }


@pytest.mark.parametrize("raw", [False, True])
def test_non_streamed_create(instrumented: Telemetry, raw: bool) -> None:
    server = Server(json_response(200, _final_body(), {"x-request-id": "req_ns"}))
    api = client(server).responses
    if raw:
        result = api.with_raw_response.create(model="gpt-4o", input="hi").parse()
    else:
        result = api.create(model="gpt-4o", input="hi")
    assert type(result) is openai.types.responses.Response
    assert result.id == "resp_ns"
    span = only_span(instrumented)
    a = attributes(span)
    assert a["gen_ai.request.stream"] is False
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.response.id"] == "resp_ns"
    assert a["gen_ai.usage.input_tokens"] == 11 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.usage.cache_read.input_tokens"] == 3
    assert a["otel_responses.request_id"] == "req_ns"
    assert a["otel_responses.deltas.count"] == 0
    assert span.status.status_code is StatusCode.UNSET
    assert not instrumented.points("gen_ai.client.operation.time_per_output_chunk")
    assert (
        metric_sum(instrumented, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 1
    )


async def test_async_non_streamed_create(instrumented: Telemetry) -> None:
    server = Server(json_response(200, _final_body()))
    result = await async_client(server).responses.create(model="gpt-4o", input="hi")
    assert result.id == "resp_ns"
    a = attributes(only_span(instrumented))
    assert a["gen_ai.request.stream"] is False and a["otel_responses.stream.outcome"] == "completed"


def test_other_endpoints_not_traced(instrumented: Telemetry) -> None:
    server = Server(json_response(200, {"object": "list", "data": []}))
    client(server).models.list()
    assert instrumented.finished() == ()


# --- the seed: what the SDK hides, the span shows ---------------------------------------------
@pytest.mark.parametrize("is_async", [False, True])
async def test_seed_event_by_event(instrumented: Telemetry, is_async: bool) -> None:
    """One chunk per event: the SDK raises at ``error``; ``response.failed`` was never read."""
    server = Server(sse(SEED.read_bytes(), "event", is_async=is_async))
    seen: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        if is_async:
            stream = await async_client(server).responses.create(
                model="gpt-4o", input="x", stream=True
            )
            async for e in stream:
                seen.append(e.type)
        else:
            for e in client(server).responses.create(model="gpt-4o", input="x", stream=True):
                seen.append(e.type)
    assert seen == ["response.created", "response.in_progress"]
    assert raised.value.message == "Foobar"
    span = only_span(instrumented)
    assert_error_span(span, "unknown-error", "Foobar")
    assert "response.failed" not in event_names(span)
    assert event_names(span)[-1] == "error"
    assert (
        metric_sum(instrumented, "otel_responses.streams", **{"error.type": "unknown-error"}) == 1
    )


@pytest.mark.parametrize("is_async", [False, True])
async def test_seed_failed_bytes_already_received(instrumented: Telemetry, is_async: bool) -> None:
    """``error`` and ``response.failed`` arrive in one chunk: the app still sees APIError, the
    span has the ``response.failed`` it had received: ``rate_limit_exceeded`` and its facts."""
    events = events_of(SEED.read_bytes())
    body_chunks = [*events[:2], b"".join(events[2:])]
    server = Server(sse(b"".join(body_chunks), "whole", is_async=is_async))
    with pytest.raises(openai.APIError) as raised:
        if is_async:
            stream = await async_client(server).responses.create(
                model="gpt-4o", input="x", stream=True
            )
            async for _ in stream:
                pass
        else:
            for _ in client(server).responses.create(model="gpt-4o", input="x", stream=True):
                pass
    assert raised.value.message == "Foobar"
    span = only_span(instrumented)
    a = attributes(span)
    assert a["error.type"] == "rate_limit_exceeded"
    assert a["otel_responses.stream.outcome"] == "failed"
    assert a["otel_responses.rate_limit.window"] == "TPM"
    assert a["otel_responses.rate_limit.limit"] == 1
    assert a["otel_responses.rate_limit.requested"] == 30
    assert event_names(span)[-2:] == ["error", "response.failed"]
    assert metric_sum(instrumented, "otel_responses.rate_limit.hits") == 1


# --- the app stops reading ---------------------------------------------------------------------
def test_break_and_close_is_cancelled(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(20)))
    stream = client(server).responses.create(model="gpt-4o", input="hi", stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    assert instrumented.finished() == ()  # still open: the app holds the stream
    stream.close()
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.ERROR
    assert exception_types(span) == []
    assert a["otel_responses.deltas.count"] < 20


def test_leaving_stream_manager_early_is_cancelled(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(20)))
    with client(server).responses.stream(model="gpt-4o", input="hi") as stream:
        next(iter(stream))
    assert attributes(only_span(instrumented))["otel_responses.stream.outcome"] == "cancelled"


@pytest.mark.parametrize("entry", ["create", "stream"])
def test_app_exception_in_loop_is_cancelled_and_recorded(
    instrumented: Telemetry, entry: str
) -> None:
    server = Server(sse(text_stream(20)))
    api = client(server).responses
    ctx: Any = (
        api.create(model="gpt-4o", input="hi", stream=True)
        if entry == "create"
        else api.stream(model="gpt-4o", input="hi")
    )
    with pytest.raises(KeyError, match="boom"), ctx as stream:
        for i, _ in enumerate(stream):
            if i == 2:
                raise KeyError("boom")
    span = only_span(instrumented)
    assert attributes(span)["otel_responses.stream.outcome"] == "cancelled"
    assert attributes(span)["error.type"] == "KeyError"
    assert exception_types(span) == ["KeyError"]


async def test_async_app_exception_in_loop(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(20), is_async=True))
    stream = await async_client(server).responses.create(model="gpt-4o", input="hi", stream=True)
    with pytest.raises(ValueError, match="stop"):
        async with stream:
            async for e in stream:
                if e.type == "response.output_text.delta":
                    raise ValueError("stop")
    span = only_span(instrumented)
    assert attributes(span)["otel_responses.stream.outcome"] == "cancelled"
    assert exception_types(span) == ["ValueError"]


async def test_asyncio_cancelled_while_waiting_is_cancelled(instrumented: Telemetry) -> None:
    started = asyncio.Event()
    events = events_of(text_stream(5))

    async def slow_body() -> Any:
        yield events[0]
        yield events[1]
        started.set()
        await asyncio.Event().wait()  # the server goes quiet
        yield b""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE_HEADERS, content=slow_body())

    api = async_client(handler).responses

    async def consume() -> None:
        stream = await api.create(model="gpt-4o", input="hi", stream=True)
        async for _ in stream:
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "cancelled"
    assert a["error.type"] == "asyncio.exceptions.CancelledError"
    assert exception_types(span) == []  # cancellation is not an error the app made


@pytest.mark.parametrize("entry", ["create", "raw", "manager"])
def test_dropped_without_close_is_abandoned(instrumented: Telemetry, entry: str) -> None:
    server = Server(sse(text_stream(20)))
    api = client(server).responses
    opens: dict[str, Callable[[], Any]] = {
        "create": lambda: api.create(model="gpt-4o", input="hi", stream=True),
        "raw": lambda: api.with_raw_response.create(
            model="gpt-4o", input="hi", stream=True
        ).parse(),
        "manager": lambda: api.stream(model="gpt-4o", input="hi").__enter__(),
    }
    assert_abandoned_after_two_reads(instrumented, opens[entry])


async def test_async_dropped_without_close_is_abandoned(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(20), is_async=True))
    stream = await async_client(server).responses.create(model="gpt-4o", input="hi", stream=True)
    await stream.__anext__()
    del stream
    gc.collect()
    assert attributes(only_span(instrumented))["otel_responses.stream.outcome"] == "abandoned"


# --- before the stream: HTTP errors and retries ------------------------------------------------
@pytest.mark.parametrize("is_async", [False, True])
async def test_prestream_429(instrumented: Telemetry, is_async: bool) -> None:
    server = Server(json_response(429, RATE_LIMIT_429, HEADERS_429))
    with pytest.raises(openai.RateLimitError) as raised:
        if is_async:
            await async_client(server).responses.create(model="gpt-4o", input="x", stream=True)
        else:
            client(server).responses.create(model="gpt-4o", input="x", stream=True)
    assert raised.value.code == "rate_limit_exceeded"
    span = only_span(instrumented)
    a = attributes(span)
    assert a["error.type"] == "rate_limit_exceeded"
    assert a["otel_responses.stream.outcome"] == "error"
    assert a["http.response.status_code"] == 429
    assert a["otel_responses.request_id"] == "req_429"
    assert a["otel_responses.rate_limit.retry_after"] == 1.4
    assert a["otel_responses.rate_limit.remaining_tokens"] == 50
    assert a["otel_responses.rate_limit.window"] == "TPM"
    assert a["otel_responses.rate_limit.used"] == 29950
    assert a["otel_responses.http.retry_count"] == 0
    assert span.status.status_code is StatusCode.ERROR
    assert (
        metric_sum(
            instrumented, "otel_responses.rate_limit.hits", **{"error.type": "rate_limit_exceeded"}
        )
        == 1
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, b"", "500"),
        (
            400,
            {
                "error": {
                    "code": "invalid_prompt",
                    "message": "bad",
                    "type": "invalid_request_error",
                }
            },
            "invalid_prompt",
        ),
        (
            401,
            {
                "error": {
                    "code": "invalid_api_key",
                    "message": "no",
                    "type": "invalid_request_error",
                }
            },
            "invalid_api_key",
        ),
        (
            429,
            {
                "error": {
                    "code": "insufficient_quota",
                    "message": "quota",
                    "type": "insufficient_quota",
                }
            },
            "insufficient_quota",
        ),
    ],
)
def test_prestream_http_errors(
    instrumented: Telemetry, status: int, body: Any, expected: str
) -> None:
    server = Server(json_response(status, body))
    with pytest.raises(openai.APIStatusError) as raised:
        client(server).responses.create(model="gpt-4o", input="x", stream=True)
    assert raised.value.status_code == status
    a = attributes(only_span(instrumented))
    assert a["error.type"] == expected
    assert a["http.response.status_code"] == status
    assert a["otel_responses.stream.outcome"] == "error"


@pytest.mark.parametrize("is_async", [False, True])
async def test_retries_429_429_200(instrumented: Telemetry, is_async: bool) -> None:
    fast = {**HEADERS_429, "retry-after-ms": "1", "retry-after": "0"}
    server = Server(
        json_response(429, RATE_LIMIT_429, fast),
        json_response(429, RATE_LIMIT_429, fast),
        sse(text_stream(3), is_async=is_async),
    )
    if is_async:
        stream = await async_client(server, max_retries=2).responses.create(
            model="gpt-4o", input="x", stream=True
        )
        n = len([e async for e in stream])
    else:
        n = len(
            list(
                client(server, max_retries=2).responses.create(
                    model="gpt-4o", input="x", stream=True
                )
            )
        )
    assert n == 3 + len(LIFECYCLE)
    attempts = assert_retried_then_completed(instrumented, server, [429, 429, 200])
    assert attempts[0]["otel_responses.rate_limit.retry_after"] == 0.001


def test_retries_exhausted(instrumented: Telemetry) -> None:
    fast = {**HEADERS_429, "retry-after-ms": "1"}
    server = Server(json_response(429, RATE_LIMIT_429, fast))
    with pytest.raises(openai.RateLimitError):
        client(server, max_retries=1).responses.create(model="gpt-4o", input="x", stream=True)
    a = attributes(only_span(instrumented))
    assert a["otel_responses.http.retry_count"] == 1
    assert a["error.type"] == "rate_limit_exceeded"


def test_connection_error_before_stream(instrumented: Telemetry) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(openai.APIConnectionError):
        client(handler).responses.create(model="gpt-4o", input="x", stream=True)
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "openai.APIConnectionError"


def test_truncated_stream(instrumented: Telemetry) -> None:
    events = events_of(text_stream(3))
    server = Server(sse(b"".join(events[:-1])))
    assert len(list(client(server).responses.create(model="gpt-4o", input="x", stream=True))) == 10
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "truncated"
    assert a["gen_ai.response.finish_reasons"] == ("error",)


def test_request_body_model_and_azure(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(1)))
    az = openai.AzureOpenAI(  # type: ignore[call-overload]  # an httpx client: see tests/support.py
        api_key="k",
        api_version="2025-04-01-preview",
        azure_endpoint="https://myres.openai.azure.com",
        http_client=httpx.Client(transport=httpx.MockTransport(server)),
        max_retries=0,
    )
    list(az.responses.create(model="my-deploy", input="x", stream=True))
    a = attributes(only_span(instrumented))
    assert a["gen_ai.request.model"] == "my-deploy"
    assert a["server.address"] == "myres.openai.azure.com"
    assert a["otel_responses.stream.outcome"] == "completed"
    assert json.loads(server.requests[0].content)["model"] == "my-deploy"
