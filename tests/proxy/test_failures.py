"""How calls through the proxy end when something breaks: the client hangs up, the upstream is
down, silent or cut off. Each is one span with the outcome the README's table gives."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Telemetry
from tests.proxy.support import SECRET, Loop, Stack, free_port

FIXTURE = "pydantic-ai__reasoning_summary_stream.sse"
BODY = json.dumps({"model": "o3-mini", "input": "hi", "stream": True})


def _headers(**extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {SECRET}",
        "Content-Type": "application/json",
        "x-fixture": FIXTURE,
        **extra,
    }


def _attrs(telemetry: Telemetry) -> dict[str, object]:
    (span,) = telemetry.finished()
    return dict(span.attributes or {})


def _wait(condition: object, loop: Loop, timeout: float = 10.0) -> None:
    """Until ``condition()`` holds (bounded wait for work the proxy does after the client)."""

    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    loop.run(asyncio.wait_for(poll(), timeout))


@contextlib.contextmanager
def _held_stream(
    stack: Stack, loop: Loop, after: int
) -> Iterator[tuple[asyncio.Event, httpx.Response]]:
    """A streamed call through the proxy whose upstream stops, thinking, after ``after``
    events (``held`` is set then); the client hangs up when the block ends."""
    held = loop.call(asyncio.Event)
    stack.fake.held = held
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            stack.url + "/v1/responses",
            content=BODY,
            headers=_headers(**{"x-hold-after": str(after)}),
        ) as response,
    ):
        yield held, response


def test_client_disconnect_cancels_span_and_upstream(
    stack: Stack, loop: Loop, telemetry: Telemetry
) -> None:
    with _held_stream(stack, loop, 20) as (held, response):
        assert response.status_code == 200
        got = b""
        chunks = response.iter_raw()  # kept referenced: dropping it would close the response
        while got.count(b"\n\n") < 20:
            got += next(chunks)
        _wait(held.is_set, loop)  # the upstream is mid-stream, thinking
        assert stack.fake.disconnected == 0
        assert telemetry.finished() == ()
    # the client is gone: the proxy closes its upstream request, the span is cancelled
    _wait(lambda: stack.fake.disconnected == 1, loop)
    _wait(lambda: len(telemetry.finished()) == 1, loop)
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "cancelled"


def test_upstream_down_is_502_and_transport_error(loop: Loop, telemetry: Telemetry) -> None:
    dead = free_port()  # nothing listens there
    down = Stack(
        loop,
        upstream_specs=[f"http://127.0.0.1:{dead}"],
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    try:
        response = httpx.post(down.url + "/v1/responses", content=BODY, headers=_headers())
        assert response.status_code == 502
        assert b"unreachable" in response.content
        attrs = _attrs(telemetry)
        assert attrs["otel_responses.stream.outcome"] == "transport_error"
        assert "ClientConnectorError" in str(attrs["error.type"])
        # a non-LLM path is forwarded the same way, with no span
        assert httpx.get(down.url + "/v1/models").status_code == 502
        assert len(telemetry.finished()) == 1
    finally:
        down.close()


@pytest.fixture
def impatient(loop: Loop, telemetry: Telemetry) -> Iterator[Stack]:
    running = Stack(
        loop,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        read_timeout=0.3,
    )
    yield running
    running.close()


def test_upstream_silent_before_headers_is_504(impatient: Stack, telemetry: Telemetry) -> None:
    response = httpx.post(
        impatient.url + "/v1/responses", content=BODY, headers=_headers(**{"x-silent": "1"})
    )
    assert response.status_code == 504
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "transport_error"
    assert "Timeout" in str(attrs["error.type"])


def test_upstream_silent_mid_stream_aborts_client(impatient: Stack, telemetry: Telemetry) -> None:
    with pytest.raises(httpx.RemoteProtocolError):  # the body is broken off, never "complete"
        httpx.post(
            impatient.url + "/v1/responses",
            content=BODY,
            headers=_headers(**{"x-hold-after": "10"}),
            timeout=30,
        )
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "transport_error"
    assert "Timeout" in str(attrs["error.type"])


def test_upstream_cut_mid_stream_aborts_client(stack: Stack, telemetry: Telemetry) -> None:
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            stack.url + "/v1/responses",
            content=BODY,
            headers=_headers(**{"x-cut-after": "30"}),
            timeout=30,
        ) as response,
    ):
        for chunk in response.iter_raw():
            received += chunk
    assert received.count(b"\n\n") == 30  # everything the upstream sent got through
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "transport_error"
    assert attrs["error.type"] == "aiohttp.client_exceptions.ClientPayloadError"


def test_headers_do_not_wait_for_the_body(stack: Stack, loop: Loop, telemetry: Telemetry) -> None:
    """The proxy holds the response headers back only to send them with body bytes already
    there: an upstream that answers and then thinks before its first event still gets its
    status and headers to the client at once."""
    with _held_stream(stack, loop, 0) as (held, response):
        # the stream() call returns on the headers: no body byte was sent yet
        _wait(held.is_set, loop)
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "req_fake"
        assert response.headers["content-type"] == "text/event-stream"
        assert telemetry.finished() == ()
    _wait(lambda: len(telemetry.finished()) == 1, loop)
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "cancelled"
    assert attrs["http.response.status_code"] == 200
