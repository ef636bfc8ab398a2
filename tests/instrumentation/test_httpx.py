"""Transport failures through a real HTTP server on loopback (the SDK's own default client and
a legacy ``httpx`` client), and :func:`otel_responses.instrument_httpx` for apps without the SDK."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from otel_responses import instrument_httpx
from otel_responses.instrumentation import ObservingTransport, uninstrument_httpx
from tests.support import (
    SEED,
    SlowSSEServer,
    Telemetry,
    attributes,
    events_of,
    exception_types,
    json_response,
    only_span,
    sse,
    text_stream,
)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[SlowSSEServer]:
    made = SlowSSEServer(request.param, events_of(text_stream(10))[:5])
    yield made
    made.close()


def _sdk(port: int, legacy_httpx: bool, timeout: float) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url=f"http://127.0.0.1:{port}/v1",
        max_retries=0,
        timeout=timeout,
        # The SDK takes an httpx client (its annotation names only its own httpx2 fork).
        http_client=httpx.Client(timeout=timeout) if legacy_httpx else None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("legacy_httpx", [False, True], ids=["sdk-default-client", "httpx"])
@pytest.mark.parametrize(
    ("server", "raised", "cause"),
    [
        ("drop", openai.APIConnectionError, "RemoteProtocolError"),
        ("stall", openai.APITimeoutError, "ReadTimeout"),
    ],
    indirect=["server"],
)
def test_transport_error_mid_stream(
    instrumented: Telemetry,
    server: SlowSSEServer,
    legacy_httpx: bool,
    raised: type[Exception],
    cause: str,
) -> None:
    seen = 0
    stream = _sdk(server.port, legacy_httpx, 0.5).responses.create(
        model="gpt-4o", input="hi", stream=True
    )
    with pytest.raises(raised):
        for _ in stream:
            seen += 1
    assert seen == 5
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"].endswith(cause)
    assert a["otel_responses.request_id"] == "req_slow"
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    assert span.status.status_code is StatusCode.ERROR
    assert [t.rpartition(".")[2] for t in exception_types(span)] == [cause]
    assert a["otel_responses.events.count"] == 5


@pytest.mark.parametrize("server", ["drop"], indirect=True)
async def test_async_transport_error_mid_stream(
    instrumented: Telemetry, server: SlowSSEServer
) -> None:
    api = openai.AsyncOpenAI(
        api_key="sk-test", base_url=f"http://127.0.0.1:{server.port}/v1", max_retries=0
    ).responses
    stream = await api.create(model="gpt-4o", input="hi", stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass
    a = attributes(only_span(instrumented))
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"].endswith("RemoteProtocolError")


# --- instrument_httpx: any httpx client, no SDK ------------------------------------------------
def _post(client: httpx.Client, url: str = "https://api.test/v1/responses") -> httpx.Response:
    return client.post(url, json={"model": "gpt-4o", "input": "hi", "stream": True})


@pytest.mark.parametrize("how", ["event", "bytes", "whole"])
def test_instrument_httpx_bytes_identical(telemetry: Telemetry, how: str) -> None:
    body = text_stream(6)
    handler = sse(body, how)

    def read(instrumented_client: bool) -> tuple[list[bytes], list[str]]:
        client = httpx.Client(transport=httpx.MockTransport(handler))
        if instrumented_client:
            instrument_httpx(
                client,
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
            )
        request = client.build_request(
            "POST", "https://api.test/v1/responses", json={"model": "gpt-4o", "stream": True}
        )
        response = client.send(request, stream=True)
        chunks = list(response.iter_raw())
        response.close()
        with client.stream(
            "POST", "https://api.test/v1/responses", json={"model": "gpt-4o", "stream": True}
        ) as again:
            lines = list(again.iter_lines())
        return chunks, lines

    bare = read(False)
    assert telemetry.finished() == ()
    assert read(True) == bare
    assert b"".join(bare[0]) == body
    spans = telemetry.finished()
    assert len(spans) == 2
    for span in spans:
        a = attributes(span)
        assert a["otel_responses.stream.outcome"] == "completed"
        assert a["gen_ai.request.model"] == "gpt-4o"
        assert a["otel_responses.deltas.count"] == 6
        assert a["otel_responses.request_id"] == "req_abc123"


async def test_instrument_httpx_async(telemetry: Telemetry) -> None:
    body = SEED.read_bytes()
    client = httpx.AsyncClient(transport=httpx.MockTransport(sse(body, "bytes", is_async=True)))
    assert instrument_httpx(client, tracer_provider=telemetry.tracer_provider) is client
    async with client.stream(
        "POST", "https://api.test/v1/responses", json={"model": "gpt-4o"}
    ) as r:
        read = b"".join([chunk async for chunk in r.aiter_bytes()])
    assert read == body
    span = only_span(telemetry)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "failed"  # the raw reader sees every byte
    assert a["error.type"] == "rate_limit_exceeded"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_instrument_httpx_ignores_other_requests_and_uninstruments(telemetry: Telemetry) -> None:
    handler = sse(text_stream(1))
    client = instrument_httpx(
        httpx.Client(transport=httpx.MockTransport(handler)),
        tracer_provider=telemetry.tracer_provider,
    )
    instrument_httpx(client)  # a second call does not wrap twice
    assert isinstance(client._transport, ObservingTransport)
    assert not isinstance(client._transport.inner, ObservingTransport)
    client.post("https://api.test/v1/embeddings", json={"model": "gpt-4o"}).read()
    client.post("https://api.test/v1/responses/compact", json={"model": "gpt-4o"}).read()
    assert telemetry.finished() == ()
    uninstrument_httpx(client)
    assert isinstance(client._transport, httpx.MockTransport)
    _post(client).read()
    assert telemetry.finished() == ()


def test_instrument_httpx_error_and_non_streamed(telemetry: Telemetry) -> None:
    bodies: list[Any] = [
        json_response(
            429, {"error": {"code": "rate_limit_exceeded", "message": "slow"}}, {"retry-after": "3"}
        ),
        json_response(
            200,
            {
                "id": "resp_j",
                "model": "gpt-4o",
                "status": "completed",
                "usage": {"input_tokens": 2, "output_tokens": 3},
            },
        ),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return bodies.pop(0)(request)  # type: ignore[no-any-return]

    client = instrument_httpx(
        httpx.Client(transport=httpx.MockTransport(handler)),
        tracer_provider=telemetry.tracer_provider,
    )
    assert client.post("https://api.test/v1/responses", json={"model": "gpt-4o"}).status_code == 429
    assert (
        client.post("https://api.test/v1/responses", json={"model": "gpt-4o"}).json()["id"]
        == "resp_j"
    )
    first, second = telemetry.finished()
    assert attributes(first)["error.type"] == "rate_limit_exceeded"
    assert attributes(first)["otel_responses.rate_limit.retry_after"] == 3.0
    assert attributes(first)["otel_responses.stream.outcome"] == "error"
    assert attributes(second)["otel_responses.stream.outcome"] == "completed"
    assert attributes(second)["gen_ai.request.stream"] is False
    assert attributes(second)["gen_ai.usage.output_tokens"] == 3


def test_instrument_httpx_dropped_and_closed(telemetry: Telemetry) -> None:
    client = instrument_httpx(
        httpx.Client(transport=httpx.MockTransport(sse(text_stream(10)))),
        tracer_provider=telemetry.tracer_provider,
    )
    request = client.build_request("POST", "https://api.test/v1/responses", json={"model": "m"})
    response = client.send(request, stream=True)
    raw = response.iter_raw()
    next(raw)
    response.close()
    assert attributes(only_span(telemetry))["otel_responses.stream.outcome"] == "cancelled"
    telemetry.spans.clear()
    response = client.send(
        client.build_request("POST", "https://api.test/v1/responses"), stream=True
    )
    del response, raw
    gc.collect()
    assert attributes(only_span(telemetry))["otel_responses.stream.outcome"] == "abandoned"


def test_headers_are_passed_through(telemetry: Telemetry) -> None:
    handler = sse(text_stream(1))
    bare = _post(httpx.Client(transport=httpx.MockTransport(handler)))
    client = instrument_httpx(
        httpx.Client(transport=httpx.MockTransport(handler)),
        tracer_provider=telemetry.tracer_provider,
    )
    response = _post(client)
    assert response.headers.multi_items() == bare.headers.multi_items()
    assert response.content == bare.content
    assert attributes(only_span(telemetry))["otel_responses.rate_limit.remaining_requests"] == 499
