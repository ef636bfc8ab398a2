"""The real google-genai SDK over ``httpx.MockTransport``, sync and async, with and without the
instrumentation: the app sees the same objects and exceptions event by event, and every ending
is named on the span.

Only the network is mocked (``httpx.MockTransport`` serving recorded bodies): the SDK, its retry
logic, its SSE line reader and its response objects are the real ones. The async client is
given an ``httpx_async_client``, so the SDK uses httpx rather than aiohttp for it; the aiohttp
path (frames fed from the SDK's own objects) is covered by one case with a stubbed transport
response type (see :func:`test_a_non_httpx_transport_is_read_from_the_sdks_frames`).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan

from otel_responses.instrumentation import _google_genai, _httpx
from tests.conftest import FIXTURES, Telemetry
from tests.dialects.test_gemini import expected, usage_attrs

GEMINI = FIXTURES / "gemini"
STREAMS = sorted(GEMINI.glob("*.sse"))
BASE = "https://generativelanguage.googleapis.com"
VERTEX_BASE = "https://us-central1-aiplatform.googleapis.com"
KEY = "AIzaSyPLANTEDplantedPLANTED0123456789"
SSE = {"content-type": "text/event-stream"}
QUOTA = json.loads(
    (GEMINI / "ruby_llm__gemini_http_429_resource_exhausted_quota_retryinfo.http.json").read_text()
)
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def patched(telemetry: Telemetry) -> Iterator[Telemetry]:
    _google_genai.patch(telemetry.tracer_provider, telemetry.meter_provider)
    try:
        yield telemetry
    finally:
        _google_genai.unpatch()


def client(handler: Handler, *, attempts: int = 1, base: str = BASE) -> genai.Client:
    retry = types.HttpRetryOptions(attempts=attempts, initial_delay=0.0, max_delay=0.0, jitter=0.0)
    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(
            base_url=base,
            retry_options=retry,
            httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
            httpx_async_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        ),
    )


def serve(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers or SSE, content=body)

    return handler


class Pulled(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body served chunk by chunk, counting what the client pulled (read-ahead detector), and
    optionally failing after ``fail_after`` chunks."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.pulled = 0

    def _next(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.fail_after is not None and self.pulled >= self.fail_after:
                raise httpx.ReadError("connection reset")
            self.pulled += 1
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        yield from self._next()

    async def __aiter__(self) -> Any:
        for chunk in self._next():
            yield chunk


def serve_frames(body: bytes) -> Handler:
    """One frame per transport chunk: a break leaves the body unread."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE, stream=Pulled(frames_of(body)))

    return handler


def frames_of(body: bytes) -> list[bytes]:
    normalized = body.replace(b"\r\n", b"\n")
    return [p + b"\n\n" for p in normalized.split(b"\n\n") if p.strip()]


def dump(item: Any) -> Any:
    return item.model_dump(mode="json")


def consume(c: genai.Client, is_async: bool, stream: bool = True) -> tuple[list[Any], Any]:
    """The app: every object it gets, and the exception it gets (type, str) if any."""
    got: list[Any] = []
    try:
        if not stream:
            if is_async:
                got.append(
                    dump(asyncio.run(c.aio.models.generate_content(model="g", contents="x")))
                )
            else:
                got.append(dump(c.models.generate_content(model="g", contents="x")))
        elif is_async:

            async def run() -> None:
                s = await c.aio.models.generate_content_stream(model="g", contents="x")
                async for item in s:
                    got.append(dump(item))

            asyncio.run(run())
        else:
            for item in c.models.generate_content_stream(model="g", contents="x"):
                got.append(dump(item))
    except Exception as exc:
        return got, (type(exc), str(exc))
    return got, None


def both(
    telemetry: Telemetry, handler_factory: Callable[[], Handler], is_async: bool, **kw: Any
) -> tuple[list[Any], Any, ReadableSpan]:
    """Run the app uninstrumented then instrumented; assert it saw the same; the one span."""
    plain = consume(client(handler_factory(), **kw), is_async)
    _google_genai.patch(telemetry.tracer_provider, telemetry.meter_provider)
    try:
        traced = consume(client(handler_factory(), **kw), is_async)
    finally:
        _google_genai.unpatch()
    assert traced == plain
    spans = telemetry.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return traced[0], traced[1], spans[0]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


ASYNC = [False, True]
IDS = ["sync", "async"]


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_every_transcript_through_the_sdk(path: Path, is_async: bool, telemetry: Telemetry) -> None:
    body = path.read_bytes()
    want = expected(body)
    items, error, span = both(telemetry, lambda: serve(body), is_async)
    assert error is None and len(items) == want.events
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == want.outcome
    assert a["gen_ai.response.finish_reasons"] == want.finish_reasons
    assert a.get("gen_ai.response.id") == want.response_id
    assert a.get("gen_ai.response.model") == want.model
    for key, value in usage_attrs(want.usage).items():
        assert a.get(key) == value, key
    assert a["otel_responses.events.count"] == want.events
    assert a["otel_responses.deltas.count"] == want.deltas
    assert [e.name for e in span.events] == ["otel_responses.http.attempt", *want.span_events]
    assert a["gen_ai.request.model"] == "g"
    assert a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["server.address"] == "generativelanguage.googleapis.com"
    assert a["gen_ai.request.stream"] is True
    assert span.name == "generate_content g"


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
def test_an_error_frame_mid_stream(is_async: bool, telemetry: Telemetry) -> None:
    frames = frames_of((GEMINI / "openinference__gemini-2.0-flash_text.sse").read_bytes())[:3]
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    body = b"".join(frames) + b"data: " + json.dumps(error).encode() + b"\n\n"
    items, exc, span = both(telemetry, lambda: serve(body), is_async)
    assert len(items) == 3 and exc is not None and exc[0] is errors.ServerError
    a = attributes(span)
    assert (a["otel_responses.stream.outcome"], a["error.type"]) == ("error", "UNAVAILABLE")
    assert span.status.description == "The model is overloaded."


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
def test_a_429_with_quota_and_retry_info_retried_once(is_async: bool, telemetry: Telemetry) -> None:
    def factory() -> Handler:
        return serve(QUOTA["body"].encode(), 429, {"content-type": "application/json"})

    items, exc, span = both(telemetry, factory, is_async, attempts=2)
    assert items == [] and exc is not None and exc[0] is errors.ClientError
    a = attributes(span)
    assert (a["otel_responses.stream.outcome"], a["error.type"]) == ("error", "RESOURCE_EXHAUSTED")
    assert a["http.response.status_code"] == 429
    assert a["otel_responses.http.retry_count"] == 1
    attempts = [e for e in span.events if e.name == "otel_responses.http.attempt"]
    assert len(attempts) == 2
    assert a["otel_responses.rate_limit.window"] == "TPM"
    assert a["otel_responses.rate_limit.limit"] == 1000000
    assert a["otel_responses.rate_limit.retry_after"] == 48.0
    assert a["otel_responses.rate_limit.quota_id"] == (
        "GenerateContentPaidTierInputTokensPerModelPerMinute"
    )
    assert len(telemetry.points("otel_responses.rate_limit.hits")) == 1


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
def test_a_retry_that_succeeds_is_visible(is_async: bool, telemetry: Telemetry) -> None:
    body = (GEMINI / "pydantic-ai__vertex_gemini-3-flash_flex_tier.sse").read_bytes()

    def factory() -> Handler:
        calls = iter([503, 200])

        def handler(request: httpx.Request) -> httpx.Response:
            if next(calls) == 503:
                error = {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
                return httpx.Response(503, json=error)
            return httpx.Response(200, headers=SSE, content=body)

        return handler

    items, exc, span = both(telemetry, factory, is_async, attempts=2)
    assert exc is None and len(items) == 1
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["otel_responses.http.retry_count"] == 1
    assert a["http.response.status_code"] == 200


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
def test_a_transport_error_mid_stream(is_async: bool, telemetry: Telemetry) -> None:
    body = (GEMINI / "openinference__gemini-2.0-flash_text.sse").read_bytes()

    def factory() -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, headers=SSE, stream=Pulled(frames_of(body), fail_after=4))

        return handler

    items, exc, span = both(telemetry, factory, is_async)
    assert exc is not None and exc[0] is httpx.ReadError and len(items) == 4
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "httpx.ReadError"


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
def test_no_response_at_all(is_async: bool, telemetry: Telemetry) -> None:
    def factory() -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        return handler

    _, exc, span = both(telemetry, factory, is_async, attempts=2)
    assert exc is not None and exc[0] is httpx.ConnectError
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"] == "httpx.ConnectError"
    assert a["otel_responses.http.retry_count"] == 1  # both attempts recorded


@pytest.mark.parametrize("is_async", ASYNC, ids=IDS)
def test_non_streamed_generate_content(is_async: bool, telemetry: Telemetry) -> None:
    response = {
        "candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "MAX_TOKENS"}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }

    def factory() -> Handler:
        return lambda request: httpx.Response(200, json=response)

    plain = consume(client(factory()), is_async, stream=False)
    with_patch = _patched_consume(telemetry, factory, is_async)
    assert with_patch == plain and plain[1] is None
    (span,) = telemetry.finished()
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "incomplete"
    assert a["gen_ai.request.stream"] is False
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (4, 2)
    assert a["gen_ai.response.id"] == "r1"


def _patched_consume(telemetry: Telemetry, factory: Callable[[], Handler], is_async: bool) -> Any:
    _google_genai.patch(telemetry.tracer_provider, telemetry.meter_provider)
    try:
        return consume(client(factory()), is_async, stream=False)
    finally:
        _google_genai.unpatch()


def test_cancelled_by_break_and_close(patched: Telemetry) -> None:
    body = (GEMINI / "openinference__gemini-2.0-flash_text.sse").read_bytes()
    stream = client(serve_frames(body)).models.generate_content_stream(model="g", contents="x")
    for i, _ in enumerate(stream):
        if i == 2:
            break
    assert not patched.finished()
    stream.close()  # type: ignore[attr-defined]  # a generator, typed as an Iterator
    (span,) = patched.finished()
    assert attributes(span)["otel_responses.stream.outcome"] == "cancelled"


def test_cancelled_async_by_break_and_aclose(patched: Telemetry) -> None:
    body = (GEMINI / "openinference__gemini-2.0-flash_text.sse").read_bytes()

    async def run() -> None:
        c = client(serve_frames(body))
        stream = await c.aio.models.generate_content_stream(model="g", contents="x")
        i = 0
        async for _ in stream:
            i += 1
            if i == 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(run())
    (span,) = patched.finished()
    assert attributes(span)["otel_responses.stream.outcome"] == "cancelled"


def test_abandoned_when_dropped(patched: Telemetry) -> None:
    body = (GEMINI / "openinference__gemini-2.0-flash_text.sse").read_bytes()
    stream = client(serve_frames(body)).models.generate_content_stream(model="g", contents="x")
    next(stream)
    del stream
    gc.collect()
    (span,) = patched.finished()
    assert attributes(span)["otel_responses.stream.outcome"] == "abandoned"


def test_no_read_ahead_and_no_context_leak(telemetry: Telemetry) -> None:
    """At every object the app receives, the transport has been read exactly as far as without
    the instrumentation; and the app's context holds neither our hook nor a current span."""
    body = (GEMINI / "openinference__gemini-2.0-flash_text.sse").read_bytes()

    def trace(traced: bool) -> list[int]:
        streams: list[Pulled] = []

        def handler(request: httpx.Request) -> httpx.Response:
            streams.append(Pulled([body[i : i + 50] for i in range(0, len(body), 50)]))
            return httpx.Response(200, headers=SSE, stream=streams[-1])

        before = otel_context.get_current()
        pulled = []
        for _ in client(handler).models.generate_content_stream(model="g", contents="x"):
            pulled.append(streams[0].pulled)
            assert _httpx.active.get() is None and _google_genai._CALL.get() is None
            assert otel_context.get_current() == before
        return pulled

    plain = trace(False)
    _google_genai.patch(telemetry.tracer_provider, telemetry.meter_provider)
    try:
        traced = trace(True)
    finally:
        _google_genai.unpatch()
    assert traced == plain and len(plain) == 12
    assert len(telemetry.finished()) == 1


def test_vertex_ai_client(patched: Telemetry) -> None:
    body = (GEMINI / "ruby_llm__vertex_gemini-2.5-flash_function_call.sse").read_bytes()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, headers=SSE, content=body)

    c = genai.Client(
        vertexai=True,
        api_key=KEY,
        http_options=types.HttpOptions(
            base_url=VERTEX_BASE, httpx_client=httpx.Client(transport=httpx.MockTransport(handler))
        ),
    )
    items = list(c.models.generate_content_stream(model="gemini-2.5-flash", contents="x"))
    assert len(items) == 1 and seen
    (span,) = patched.finished()
    a = attributes(span)
    assert a["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert a["gen_ai.request.model"] == "gemini-2.5-flash"
    assert a["otel_responses.stream.outcome"] == "completed"
    ((point_attrs, _),) = patched.points("otel_responses.streams")
    assert point_attrs["gen_ai.provider.name"] == "gcp.vertex_ai"


def test_a_non_httpx_transport_is_read_from_the_sdks_frames(
    patched: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with aiohttp (or requests): the response is not an httpx one, so the SDK's own frames
    are fed to the hook. Simulated by hiding httpx's Response type from the instrumentation."""
    monkeypatch.setattr(_google_genai, "_RESPONSES", ())
    body = (GEMINI / "pydantic-ai__gemini-2.5-pro_thought_parts.sse").read_bytes()
    want = expected(body)
    items = list(client(serve(body)).models.generate_content_stream(model="g", contents="x"))
    assert len(items) == want.events
    (span,) = patched.finished()
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == want.outcome
    assert a["otel_responses.events.count"] == want.events
    assert a["gen_ai.usage.reasoning.output_tokens"] == want.usage["thoughtsTokenCount"]  # type: ignore[index]


def test_the_api_key_appears_in_no_exported_byte(
    patched: Telemetry, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SDK sends the key in ``x-goog-api-key``; an error message quoting it is redacted."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("x-goog-api-key", ""))
        error = {
            "error": {
                "code": 400,
                "message": f"API key not valid: {KEY}. key={KEY}",
                "status": "INVALID_ARGUMENT",
            }
        }
        return httpx.Response(400, json=error)

    with pytest.raises(errors.ClientError):
        list(client(handler).models.generate_content_stream(model="g", contents="x"))
    assert sent == [KEY]  # the key was really on the wire
    (span,) = patched.finished()
    exported = span.to_json() + patched.metrics.get_metrics_data().to_json()  # type: ignore[union-attr]
    exported += caplog.text + "".join(capsys.readouterr())
    assert "AIza" in exported  # the masked form is there: the message was recorded
    assert KEY not in exported and KEY[4:] not in exported
    assert attributes(span)["error.type"] == "INVALID_ARGUMENT"


def test_instrument_patches_genai_and_uninstrument_restores(telemetry: Telemetry) -> None:
    from google.genai import _api_client, models

    from otel_responses import instrument, uninstrument

    before = {
        name: _api_client.BaseApiClient.__dict__[name]
        for name in ("request", "request_streamed", "_request_once", "async_request_streamed")
    }
    stream_before = models.Models.__dict__["generate_content_stream"]
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        assert (
            _api_client.BaseApiClient.__dict__["request_streamed"] is not before["request_streamed"]
        )
        body = (GEMINI / "pydantic-ai__vertex_gemini-3-flash_flex_tier.sse").read_bytes()
        list(client(serve(body)).models.generate_content_stream(model="g", contents="x"))
        assert len(telemetry.finished()) == 1
    finally:
        uninstrument()
    for name, original in before.items():
        assert _api_client.BaseApiClient.__dict__[name] is original
    assert models.Models.__dict__["generate_content_stream"] is stream_before


def test_instrument_httpx_recognises_gemini(telemetry: Telemetry) -> None:
    """A plain httpx client calling the endpoint (``key=`` in the query) is traced too, and the
    query string reaches no attribute."""
    from otel_responses.instrumentation import instrument_httpx

    body = (GEMINI / "pydantic-ai__gemini-3-flash_code_execution.sse").read_bytes()
    http = instrument_httpx(
        httpx.Client(transport=httpx.MockTransport(serve(body))),
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    url = f"{BASE}/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse&key={KEY}"
    with http.stream("POST", url, json={"contents": []}) as response:
        for _ in response.iter_bytes():
            pass
    (span,) = telemetry.finished()
    a = attributes(span)
    assert a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["gen_ai.request.model"] == "gemini-3-flash-preview"
    assert a["otel_responses.stream.outcome"] == "completed"
    assert KEY not in span.to_json()
