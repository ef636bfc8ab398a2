"""Chat Completions through the REAL openai SDK over ``httpx.MockTransport`` (a real loopback
server where a connection must really drop), instrumented vs uninstrumented.

For every recorded transcript and every entry point — ``chat.completions.create(stream=True)``
sync and async, ``with_raw_response``, ``with_streaming_response``, the
``chat.completions.stream()`` helper with ``get_final_completion()`` sync and async — the app
sees the same chunk objects, the same final completion and the same exceptions with and without
instrumentation, and the span says what the transcript says (expected values from the
independent reading in ``tests/dialects/test_chat_completions.py``). Only the network is
simulated: MockTransport stands in for the provider's server; nothing of the SDK or of
otel-responses is mocked.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_responses import instrument_httpx
from tests.conftest import FIXTURES, Telemetry
from tests.dialects.test_chat_completions import expected
from tests.support import (
    SSE_HEADERS,
    Server,
    SlowSSEServer,
    TranscriptReading,
    assert_abandoned_after_two_reads,
    assert_retried_then_completed,
    async_client,
    attributes,
    client,
    event_names,
    events_of,
    exception_types,
    exception_view,
    instrumenting,
    json_response,
    metric_sum,
    only_span,
    recorded_response,
    sse,
)

CHAT = FIXTURES / "chat_completions"
STREAMS = sorted(CHAT.glob("*.sse"))
HTTP_ERRORS = sorted(CHAT.glob("*.http.json"))
N2 = CHAT / "otel-contrib__gpt-4o-mini_n2_choices_include_usage.sse"
GROQ = CHAT / "pydantic-ai__groq_gpt-oss-120b_event_error_after_content.sse"
AZURE = CHAT / "dd-trace-py__azure_gpt-4o-mini_prompt_filter_results.sse"
MODEL = "gpt-4o-mini"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def dump(obj: Any) -> Any:
    return (type(obj), obj.model_dump(warnings=False))


def dump_event(event: Any) -> Any:
    """A helper event without its running ``snapshot`` (the whole completion so far: dumping it
    per event is quadratic; the final completion is compared instead)."""
    return (type(event), event.model_dump(exclude={"snapshot"}, warnings=False))


# --- the entry points: what the app sees ------------------------------------------------------
def run_create(body: bytes, how: str) -> Any:
    seen: list[Any] = []
    error: BaseException | None = None
    try:
        stream = client(sse(body, how)).chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
        for chunk in stream:
            seen.append(dump(chunk))
    except openai.APIError as exc:
        error = exc
    return seen, exception_view(error)


def run_raw(body: bytes, how: str) -> Any:
    seen: list[Any] = []
    error: BaseException | None = None
    try:
        raw = client(sse(body, how)).chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
        headers = dict(raw.headers)
        for chunk in raw.parse():
            seen.append(dump(chunk))
    except openai.APIError as exc:
        error = exc
    return headers, seen, exception_view(error)


def run_streaming_response(body: bytes, how: str) -> Any:
    api = client(sse(body, how)).chat.completions.with_streaming_response
    with api.create(model=MODEL, messages=MESSAGES, stream=True) as response:
        return b"".join(response.iter_bytes())


def run_helper(body: bytes, how: str) -> Any:
    seen: list[Any] = []
    final: Any = None
    error: BaseException | None = None
    try:
        with client(sse(body, how)).chat.completions.stream(
            model=MODEL, messages=MESSAGES
        ) as stream:
            for event in stream:
                seen.append(dump_event(event))
            final = dump(stream.get_final_completion())
    except Exception as exc:  # whatever the helper raises must be the same both ways
        error = exc
    return seen, final, exception_view(error)


async def run_async_create(body: bytes, how: str) -> Any:
    seen: list[Any] = []
    error: BaseException | None = None
    try:
        stream = await async_client(sse(body, how, is_async=True)).chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
        async for chunk in stream:
            seen.append(dump(chunk))
    except openai.APIError as exc:
        error = exc
    return seen, exception_view(error)


async def run_async_helper(body: bytes, how: str) -> Any:
    seen: list[Any] = []
    final: Any = None
    error: BaseException | None = None
    try:
        api = async_client(sse(body, how, is_async=True)).chat.completions
        async with api.stream(model=MODEL, messages=MESSAGES) as stream:
            async for event in stream:
                seen.append(dump_event(event))
            final = dump(await stream.get_final_completion())
    except Exception as exc:
        error = exc
    return seen, final, exception_view(error)


SYNC = {
    "create": run_create,
    "raw": run_raw,
    "streaming_response": run_streaming_response,
    "helper": run_helper,
}
ASYNC = {"async_create": run_async_create, "async_helper": run_async_helper}
ENTRIES = [*SYNC, *ASYNC]


def chunkings(path: Path) -> list[str]:
    small = path.stat().st_size < 50_000  # 7-byte pieces of the 500 KB files add only time
    return ["event", "whole", "bytes"] if small else ["event", "whole"]


def app_error(seen: Any) -> Any:
    """The exception view an entry point's result ends with, if any."""
    return seen[-1] if isinstance(seen, tuple) and isinstance(seen[-1], tuple) else None


def check_span(telemetry: Telemetry, want: TranscriptReading, how: str, raised: Any) -> None:
    """The span says what the transcript says. Exception: the chat helper itself fails on some
    servers' chunks (Azure's choice without ``delta``, a chunk without ``choices``, ``length``)
    and raises into the app's loop; unless the hook had already read the stream's end (always
    so when the body came in one piece), that is the app's loop ending early: ``cancelled``,
    with the exception's class as ``error.type`` and the exception recorded."""
    span = only_span(telemetry)
    a = attributes(span)
    assert span.name == f"chat {MODEL}"
    ending = (a["otel_responses.stream.outcome"], a.get("error.type"))
    if raised is not None and not issubclass(raised[0], openai.APIError) and how != "whole":
        name = raised[0].__qualname__
        if raised[0].__module__ != "builtins":
            name = f"{raised[0].__module__}.{name}"
        if ending[0] == "cancelled":
            assert ending[1] == name
            assert exception_types(span) == [name]
            return
    assert ending == (want.outcome, want.error_type)
    failed = want.outcome not in ("completed", "incomplete")
    assert (span.status.status_code is StatusCode.ERROR) == failed
    assert a["openai.api.type"] == "chat_completions"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.request.stream"] is True
    assert a["server.address"] == "api.test"
    assert a["http.response.status_code"] == 200
    assert a["otel_responses.request_id"] == "req_abc123"
    assert a.get("gen_ai.response.id") == want.response_id
    assert a.get("gen_ai.response.model") == want.model
    if want.usage is not None:
        assert a["gen_ai.usage.output_tokens"] == want.usage["completion_tokens"]
    assert a["otel_responses.events.count"] == want.events
    assert a["otel_responses.deltas.count"] == want.deltas
    assert event_names(span)[0] == "otel_responses.http.attempt"
    assert event_names(span)[1:] == want.span_events
    if not failed and want.finish_reasons:
        assert a["gen_ai.response.finish_reasons"] == want.finish_reasons


BIG = 100_000
"""The two transcripts above this size (833 and 1997 chunks) are not run through the chat
helper: its running snapshot makes it quadratic in the chunk count (tens of seconds each, all
in the SDK); every other entry point reads them."""
CASES = [
    (path, entry)
    for path in STREAMS
    for entry in ENTRIES
    if "helper" not in entry or path.stat().st_size < BIG
]


@pytest.mark.parametrize(("path", "entry"), CASES, ids=[f"{p.stem}-{e}" for p, e in CASES])
async def test_same_chunks_instrumented(telemetry: Telemetry, path: Path, entry: str) -> None:
    body = path.read_bytes()
    want = expected(body)
    hows = chunkings(path)
    if entry in SYNC:
        bare = {how: SYNC[entry](body, how) for how in hows}
    else:
        bare = {how: await ASYNC[entry](body, how) for how in hows}
    assert telemetry.finished() == ()
    with instrumenting(telemetry):
        for how in hows:
            if entry in SYNC:
                seen = SYNC[entry](body, how)
            else:
                seen = await ASYNC[entry](body, how)
            assert seen == bare[how], how
            check_span(telemetry, want, how, app_error(seen))
            telemetry.spans.clear()
    if entry == "streaming_response":
        assert bare["whole"] == body
    elif entry in ("create", "async_create"):
        chunks, error = bare["event"]
        assert len(chunks) == want.events - (1 if want.outcome == "error" else 0)
        assert (error is not None) == (want.outcome == "error")
        if error is not None:
            assert error[0] is openai.APIError  # at the data object with a top-level "error"


# --- non-streamed, Azure, providers ---------------------------------------------------------
COMPLETION = {
    "id": "chatcmpl-ns",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}


@pytest.mark.parametrize("raw", [False, True])
async def test_non_streamed_create(instrumented: Telemetry, raw: bool) -> None:
    server = Server(json_response(200, COMPLETION, {"x-request-id": "req_ns"}))
    api = client(server).chat.completions
    if raw:
        result = api.with_raw_response.create(model=MODEL, messages=MESSAGES).parse()
    else:
        result = api.create(model=MODEL, messages=MESSAGES)
    assert type(result) is openai.types.chat.ChatCompletion
    assert result.choices[0].message.content == "Hello!"
    span = only_span(instrumented)
    a = attributes(span)
    assert a["gen_ai.request.stream"] is False
    assert a["openai.api.type"] == "chat_completions"
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.response.id"] == "chatcmpl-ns"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 11 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.usage.cache_read.input_tokens"] == 3
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    assert a["otel_responses.request_id"] == "req_ns"
    assert span.status.status_code is StatusCode.UNSET
    # A whole completion is not a stream of tokens: no delta, no first token (as for Responses).
    assert a["otel_responses.deltas.count"] == 0
    assert "otel_responses.time_to_first_token" not in a
    assert not instrumented.points("otel_responses.time_to_first_token")


async def test_async_non_streamed_create(instrumented: Telemetry) -> None:
    server = Server(json_response(200, COMPLETION))
    api = async_client(server).chat.completions
    result = await api.create(model=MODEL, messages=MESSAGES)
    assert result.id == "chatcmpl-ns"
    a = attributes(only_span(instrumented))
    assert a["gen_ai.request.stream"] is False
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


def test_azure_deployment_path(instrumented: Telemetry) -> None:
    server = Server(sse(AZURE.read_bytes()))
    az = openai.AzureOpenAI(  # type: ignore[call-overload]  # httpx, typed as the SDK's httpx2
        api_key="k",
        api_version="2024-10-21",
        azure_endpoint="https://myres.openai.azure.com",
        http_client=httpx.Client(transport=httpx.MockTransport(server)),
        max_retries=0,
    )
    chunks = list(az.chat.completions.create(model="my-deploy", messages=MESSAGES, stream=True))
    assert server.requests[0].url.path == "/openai/deployments/my-deploy/chat/completions"
    want = expected(AZURE.read_bytes())
    assert len(chunks) == want.events
    span = only_span(instrumented)
    a = attributes(span)
    assert span.name == "chat my-deploy"
    assert a["gen_ai.provider.name"] == "azure.ai.openai"
    assert a["server.address"] == "myres.openai.azure.com"
    assert a["gen_ai.request.model"] == "my-deploy"
    assert a["gen_ai.response.model"] == want.model
    assert a["otel_responses.stream.outcome"] == "completed"
    assert a["otel_responses.deltas.count"] == want.deltas


@pytest.mark.parametrize(
    ("base_url", "provider"),
    [
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.mistral.ai/v1", "mistral_ai"),
        ("https://api.x.ai/v1", "x_ai"),
        ("https://api.openai.com/v1", "openai"),
        ("https://openrouter.ai/api/v1", "openai"),
        ("http://localhost:8000/v1", "openai"),
    ],
)
def test_provider_by_host(instrumented: Telemetry, base_url: str, provider: str) -> None:
    server = Server(sse(N2.read_bytes()))
    list(
        client(server, base_url=base_url).chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
    )
    a = attributes(only_span(instrumented))
    assert a["gen_ai.provider.name"] == provider
    assert a["otel_responses.stream.outcome"] == "completed"
    ((point_attrs, _),) = instrumented.points("otel_responses.streams")
    assert point_attrs["gen_ai.provider.name"] == provider


def test_groq_rate_limit_headers_with_durations(instrumented: Telemetry) -> None:
    headers = {
        "content-type": "text/event-stream",
        "x-request-id": "req_groq",
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-remaining-requests": "999",
        "x-ratelimit-limit-tokens": "250000",
        "x-ratelimit-remaining-tokens": "249970",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-reset-tokens": "7.2ms",
    }
    server = Server(sse(GROQ.read_bytes(), headers=headers))
    api = client(server, base_url="https://api.groq.com/openai/v1").chat.completions
    with pytest.raises(openai.APIError) as raised:
        list(api.create(model="openai/gpt-oss-120b", messages=MESSAGES, stream=True))
    assert raised.value.message == "Tool choice is required, but model did not call a tool"
    a = attributes(only_span(instrumented))
    assert a["gen_ai.provider.name"] == "groq"
    assert a["error.type"] == "tool_use_failed"
    assert a["otel_responses.rate_limit.reset_requests"] == pytest.approx(179.56)
    assert a["otel_responses.rate_limit.reset_tokens"] == pytest.approx(0.0072)
    assert a["otel_responses.rate_limit.remaining_requests"] == 999
    assert a["otel_responses.rate_limit.limit_tokens"] == 250000
    assert metric_sum(instrumented, "otel_responses.rate_limit.remaining_tokens") == 249970


# --- HTTP errors and retries -------------------------------------------------------------------
@pytest.mark.parametrize("path", HTTP_ERRORS, ids=lambda p: p.stem)
def test_same_http_errors_instrumented(telemetry: Telemetry, path: Path) -> None:
    recorded = json.loads(path.read_text())
    _, handler = recorded_response(recorded)

    def run() -> Any:
        with pytest.raises(openai.APIStatusError) as raised:
            client(handler).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        return exception_view(raised.value)

    bare = run()
    with instrumenting(telemetry):
        assert run() == bare
    span = only_span(telemetry)
    a = attributes(span)
    error = json.loads(recorded["body"])["error"]
    code = error.get("code")
    assert a["error.type"] == str(code if code is not None else error.get("type"))
    assert a["http.response.status_code"] == recorded["status"]
    assert a["otel_responses.stream.outcome"] == "error"
    assert a["openai.api.type"] == "chat_completions"
    assert span.status.status_code is StatusCode.ERROR
    assert metric_sum(telemetry, "otel_responses.rate_limit.hits") == (
        1 if recorded["status"] == 429 else 0
    )


RATE_LIMIT_429 = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, "
        "Used 3, Requested 1. Please try again in 20s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


@pytest.mark.parametrize("is_async", [False, True])
async def test_retries_429_429_200(instrumented: Telemetry, is_async: bool) -> None:
    fast = {"retry-after-ms": "1", "x-ratelimit-remaining-requests": "0"}
    body = N2.read_bytes()
    server = Server(
        json_response(429, RATE_LIMIT_429, fast),
        json_response(429, RATE_LIMIT_429, fast),
        sse(body, is_async=is_async),
    )
    if is_async:
        stream = await async_client(server, max_retries=2).chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
        n = len([c async for c in stream])
    else:
        api = client(server, max_retries=2).chat.completions
        n = len(list(api.create(model=MODEL, messages=MESSAGES, stream=True)))
    assert n == expected(body).events
    attempts = assert_retried_then_completed(instrumented, server, [429, 429, 200])
    assert attempts[0]["otel_responses.rate_limit.retry_after"] == 0.001
    assert metric_sum(instrumented, "otel_responses.rate_limit.hits") == 0  # it succeeded


# --- endings -------------------------------------------------------------------------------------
def test_break_and_close_is_cancelled(instrumented: Telemetry) -> None:
    server = Server(sse(N2.read_bytes()))
    stream = client(server).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    for i, _ in enumerate(stream):
        if i == 5:
            break
    assert instrumented.finished() == ()  # the app still holds the stream
    stream.close()
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.ERROR
    assert exception_types(span) == []
    assert a["otel_responses.deltas.count"] < expected(N2.read_bytes()).deltas


def test_leaving_the_helper_early_is_cancelled(instrumented: Telemetry) -> None:
    server = Server(sse(N2.read_bytes()))
    with client(server).chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        next(iter(stream))
    assert attributes(only_span(instrumented))["otel_responses.stream.outcome"] == "cancelled"


@pytest.mark.parametrize("entry", ["create", "raw", "helper"])
def test_dropped_without_close_is_abandoned(instrumented: Telemetry, entry: str) -> None:
    server = Server(sse(N2.read_bytes()))
    api = client(server).chat.completions
    opens: dict[str, Callable[[], Any]] = {
        "create": lambda: api.create(model=MODEL, messages=MESSAGES, stream=True),
        "raw": lambda: api.with_raw_response.create(
            model=MODEL, messages=MESSAGES, stream=True
        ).parse(),
        "helper": lambda: api.stream(model=MODEL, messages=MESSAGES).__enter__(),
    }
    assert_abandoned_after_two_reads(instrumented, opens[entry])


async def test_async_dropped_without_close_is_abandoned(instrumented: Telemetry) -> None:
    server = Server(sse(N2.read_bytes(), is_async=True))
    stream = await async_client(server).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    await stream.__anext__()
    del stream
    gc.collect()
    assert attributes(only_span(instrumented))["otel_responses.stream.outcome"] == "abandoned"


@pytest.mark.parametrize("legacy_httpx", [False, True], ids=["sdk-default-client", "httpx"])
def test_connection_dropped_mid_stream_is_transport_error(
    instrumented: Telemetry, legacy_httpx: bool
) -> None:
    """A real server on loopback sends five chunks, then closes the connection without the
    chunked encoding's last chunk."""
    server = SlowSSEServer("drop", events_of(N2.read_bytes())[:5])
    try:
        sdk = openai.OpenAI(
            api_key="sk-test",
            base_url=f"http://127.0.0.1:{server.port}/v1",
            max_retries=0,
            timeout=5,
            http_client=httpx.Client(timeout=5) if legacy_httpx else None,  # type: ignore[arg-type]
        )
        seen = 0
        stream = sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):
            for _ in stream:
                seen += 1
    finally:
        server.close()
    assert seen == 5
    span = only_span(instrumented)
    a = attributes(span)
    assert a["otel_responses.stream.outcome"] == "transport_error"
    assert a["error.type"].endswith("RemoteProtocolError")
    assert a["openai.api.type"] == "chat_completions"
    assert a["otel_responses.events.count"] == 5
    assert span.status.status_code is StatusCode.ERROR


# --- instrument_httpx: any httpx client ----------------------------------------------------------
@pytest.mark.parametrize("how", ["event", "bytes", "whole"])
def test_instrument_httpx_observes_a_chat_stream_byte_identically(
    telemetry: Telemetry, how: str
) -> None:
    body = N2.read_bytes()
    url = "https://api.test/v1/chat/completions"
    request_body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    def read(observed: bool) -> tuple[list[bytes], list[str]]:
        http = httpx.Client(transport=httpx.MockTransport(sse(body, how)))
        if observed:
            instrument_httpx(
                http,
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
            )
        response = http.send(http.build_request("POST", url, json=request_body), stream=True)
        raw = list(response.iter_raw())
        response.close()
        with http.stream("POST", url, json=request_body) as again:
            lines = list(again.iter_lines())
        return raw, lines

    bare = read(False)
    assert telemetry.finished() == ()
    assert read(True) == bare
    assert b"".join(bare[0]) == body
    want = expected(body)
    spans = telemetry.finished()
    assert len(spans) == 2
    for span in spans:
        a = attributes(span)
        assert a["openai.api.type"] == "chat_completions"
        assert a["gen_ai.request.model"] == MODEL
        assert a["otel_responses.stream.outcome"] == "completed"
        assert a["gen_ai.response.finish_reasons"] == want.finish_reasons == ("stop", "stop")
        assert a["otel_responses.deltas.count"] == want.deltas
        assert a["otel_responses.events.count"] == want.events
        assert a["otel_responses.request_id"] == SSE_HEADERS["x-request-id"]
