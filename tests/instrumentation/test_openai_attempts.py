"""HTTP attempts that get no response (connection refused or reset, a timeout before the headers),
through the real openai SDK with its own retries, sync and async: each one is an
``otel_responses.http.attempt`` span event with ``error.type`` and counts towards
``otel_responses.http.retry_count``, on the one span of the call."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import openai._base_client
import pytest
from opentelemetry.trace import StatusCode

from otel_responses import instrument_httpx
from tests.support import (
    HEADERS_429,
    LIFECYCLE,
    RATE_LIMIT_429,
    Server,
    Telemetry,
    async_client,
    attributes,
    client,
    event_names,
    json_response,
    metric_sum,
    only_span,
    sse,
    text_stream,
)

ATTEMPT = "otel_responses.http.attempt"


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK backs off 0.5 s, 1 s, ... before retrying an attempt that got no response (there
    is no ``retry-after`` to follow): zero here, so the retries run at once. Nothing else of the
    SDK's retry logic changes."""
    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.0)
    yield


def raising(exc_type: type[httpx.RequestError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("no response", request=request)

    return handler


def attempts(telemetry: Telemetry) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in only_span(telemetry).events if e.name == ATTEMPT]


def _qualname(exc_type: type[BaseException]) -> str:
    return f"{exc_type.__module__}.{exc_type.__qualname__}"


async def _consume(server: Server, is_async: bool, *, max_retries: int = 2) -> list[str]:
    if is_async:
        astream = await async_client(server, max_retries=max_retries).responses.create(
            model="gpt-4o", input="x", stream=True
        )
        return [e.type async for e in astream]
    stream = client(server, max_retries=max_retries).responses.create(
        model="gpt-4o", input="x", stream=True
    )
    return [e.type for e in stream]


# --- a failed attempt, then a stream ----------------------------------------------------------
@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    "exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError]
)
async def test_failed_attempt_then_stream(
    instrumented: Telemetry, is_async: bool, exc_type: type[httpx.RequestError]
) -> None:
    server = Server(raising(exc_type), sse(text_stream(3), is_async=is_async))
    seen = await _consume(server, is_async)
    assert len(seen) == 3 + len(LIFECYCLE) and seen[-1] == "response.completed"
    assert len(server.requests) == 2  # the SDK did retry
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "completed"
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in a
    assert a["otel_responses.http.retry_count"] == 1
    assert a["http.response.status_code"] == 200
    assert attempts(instrumented) == [
        {"otel_responses.http.attempt_number": 1, "error.type": _qualname(exc_type)},
        {"otel_responses.http.attempt_number": 2, "http.response.status_code": 200},
    ]
    assert event_names(span) == [ATTEMPT, ATTEMPT, *LIFECYCLE]
    assert "exception" not in event_names(span)  # a retried attempt is not the call's failure
    assert (
        metric_sum(
            instrumented, "otel_responses.streams", **{"otel_responses.stream.outcome": "completed"}
        )
        == 1
    )


def test_connect_error_qualname_is_the_literal_httpx_name(instrumented: Telemetry) -> None:
    server = Server(raising(httpx.ConnectError), sse(text_stream(1)))
    list(client(server, max_retries=1).responses.create(model="gpt-4o", input="x", stream=True))
    assert attempts(instrumented)[0]["error.type"] == "httpx.ConnectError"


# --- every attempt fails ------------------------------------------------------------------------
@pytest.mark.parametrize("is_async", [False, True])
async def test_every_attempt_fails(instrumented: Telemetry, is_async: bool) -> None:
    server = Server(raising(httpx.ConnectError))
    with pytest.raises(openai.APIConnectionError) as raised:
        await _consume(server, is_async)
    assert type(raised.value) is openai.APIConnectionError
    assert len(server.requests) == 3
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "openai.APIConnectionError"  # the call's failure, as the app saw it
    assert span.status.status_code is StatusCode.ERROR
    assert a["otel_responses.http.retry_count"] == 2
    assert "http.response.status_code" not in a
    assert attempts(instrumented) == [
        {"otel_responses.http.attempt_number": n, "error.type": "httpx.ConnectError"}
        for n in (1, 2, 3)
    ]
    assert event_names(span) == [ATTEMPT, ATTEMPT, ATTEMPT, "exception"]
    assert (
        metric_sum(
            instrumented,
            "otel_responses.streams",
            **{"otel_responses.stream.outcome": "transport_error"},
        )
        == 1
    )


@pytest.mark.parametrize("is_async", [False, True])
async def test_every_attempt_times_out(instrumented: Telemetry, is_async: bool) -> None:
    server = Server(raising(httpx.ConnectTimeout))
    with pytest.raises(openai.APITimeoutError):
        await _consume(server, is_async, max_retries=1)
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "openai.APITimeoutError"
    assert a["otel_responses.http.retry_count"] == 1
    assert [x["error.type"] for x in attempts(instrumented)] == ["httpx.ConnectTimeout"] * 2


def test_429_then_no_response_is_a_transport_error(instrumented: Telemetry) -> None:
    """The last attempt decides: the call failed on the connection, not on the 429 before it
    (which stays visible as the first attempt)."""
    fast = {**HEADERS_429, "retry-after-ms": "1", "retry-after": "0"}
    server = Server(json_response(429, RATE_LIMIT_429, fast), raising(httpx.ConnectError))
    with pytest.raises(openai.APIConnectionError):
        client(server, max_retries=1).responses.create(model="gpt-4o", input="x", stream=True)
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "openai.APIConnectionError"
    assert a["otel_responses.http.retry_count"] == 1
    assert attempts(instrumented) == [
        {
            "otel_responses.http.attempt_number": 1,
            "http.response.status_code": 429,
            "otel_responses.rate_limit.retry_after": 0.001,
        },
        {"otel_responses.http.attempt_number": 2, "error.type": "httpx.ConnectError"},
    ]
    assert not instrumented.points("otel_responses.rate_limit.hits")


# --- a real refused connection on loopback, through the SDK's default client (httpx2) ----------
def _refusing_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting to it is refused


@pytest.mark.parametrize("is_async", [False, True])
async def test_refused_on_loopback_with_default_http_client(
    instrumented: Telemetry, is_async: bool
) -> None:
    base_url = f"http://127.0.0.1:{_refusing_port()}/v1"
    kwargs: dict[str, Any] = {"api_key": "sk-test", "base_url": base_url, "max_retries": 2}
    with pytest.raises(openai.APIConnectionError) as raised:
        if is_async:
            async with openai.AsyncOpenAI(**kwargs) as aclient:
                await aclient.responses.create(model="gpt-4o", input="x", stream=True)
        else:
            with openai.OpenAI(**kwargs) as sclient:
                sclient.responses.create(model="gpt-4o", input="x", stream=True)
    cause = raised.value.__cause__
    assert cause is not None
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["server.address"] == "127.0.0.1"
    assert a["otel_responses.http.retry_count"] == 2
    assert [x["error.type"] for x in attempts(instrumented)] == [_qualname(type(cause))] * 3
    assert type(cause).__name__ == "ConnectError"


# --- what is not a failed attempt ---------------------------------------------------------------
async def test_cancelled_while_connecting_is_not_a_failed_attempt(instrumented: Telemetry) -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.create_task(
        async_client(hang, max_retries=2).responses.create(model="gpt-4o", input="x", stream=True)
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "cancelled"
    assert "otel_responses.http.retry_count" not in a  # no attempt was completed or failed
    assert attempts(instrumented) == []


# --- plain httpx, no SDK ------------------------------------------------------------------------
def test_instrument_httpx_attempt_without_response(telemetry: Telemetry) -> None:
    http = instrument_httpx(
        httpx.Client(transport=httpx.MockTransport(raising(httpx.ConnectError))),
        tracer_provider=telemetry.tracer_provider,
    )
    with pytest.raises(httpx.ConnectError):
        http.post("https://api.test/v1/responses", json={"model": "gpt-4o", "stream": True})
    a = attributes(only_span(telemetry))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "httpx.ConnectError"
    assert a["otel_responses.http.retry_count"] == 0
    assert attempts(telemetry) == [
        {"otel_responses.http.attempt_number": 1, "error.type": "httpx.ConnectError"}
    ]


async def test_instrument_httpx_async_attempt_without_response(telemetry: Telemetry) -> None:
    http = instrument_httpx(
        httpx.AsyncClient(transport=httpx.MockTransport(raising(httpx.ReadTimeout))),
        tracer_provider=telemetry.tracer_provider,
    )
    with pytest.raises(httpx.ReadTimeout):
        await http.post("https://api.test/v1/responses", json={"model": "gpt-4o", "stream": True})
    a = attributes(only_span(telemetry))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert attempts(telemetry) == [
        {"otel_responses.http.attempt_number": 1, "error.type": "httpx.ReadTimeout"}
    ]
