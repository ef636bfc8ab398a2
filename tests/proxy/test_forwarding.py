"""The real proxy on loopback in front of a local upstream replaying recorded transcripts:
bytes through the proxy are the bytes of a direct call, requests reach the upstream unchanged
(bar hop-by-hop headers and Host), and each LLM call is one span with the right outcome."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from otel_responses import ResponseStreamHook
from otel_responses.proxy import _server
from tests.conftest import Telemetry
from tests.proxy.support import SECRET, Stack

RESPONSES = "/v1/responses"


def _post(
    base: str, fixture: str, *, stream: bool = True, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = json.dumps({"model": "gpt-4o", "input": "hi", "stream": stream})
    return httpx.post(
        base + RESPONSES + "?api-version=2025-01-01",
        content=body,
        headers={
            "Authorization": f"Bearer {SECRET}",
            "Content-Type": "application/json",
            "x-fixture": fixture,
            **(headers or {}),
        },
        timeout=30,
    )


def test_stream_bytes_identical_and_one_completed_span(stack: Stack, telemetry: Telemetry) -> None:
    fixture = "pydantic-ai__web_search_stream.sse"
    direct = _post(stack.upstream, fixture)
    proxied = _post(stack.url, fixture)
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content
    assert proxied.headers["content-type"] == "text/event-stream"
    spans = telemetry.finished()
    assert len(spans) == 1
    attrs = dict(spans[0].attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == stack.upstream_port
    assert spans[0].name == "chat gpt-4o"
    assert attrs["otel_responses.proxy.upstream"] == "default"
    # the upstream's name is on the stream's metric points too
    points = telemetry.points("gen_ai.client.operation.duration")
    assert [p["otel_responses.proxy.upstream"] for p, _ in points] == ["default"]


def test_span_starts_when_forwarding_began_though_the_hook_is_made_later(
    stack: Stack, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy sends the request, then makes the hook while the upstream works; the span is
    dated back to the forwarding's start. A hook made 50 ms late shows it: the span still
    starts before that, and before the request reached the upstream."""
    made_at: list[int] = []
    make = _server.new_hook

    def late_hook(**kwargs: Any) -> ResponseStreamHook:
        made_at.append(time.time_ns())
        time.sleep(0.05)
        return make(**kwargs)

    monkeypatch.setattr(_server, "new_hook", late_hook)
    assert _post(stack.url, "pydantic-ai__web_search_stream.sse").status_code == 200
    (span,) = telemetry.finished()
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= made_at[0]
    assert span.start_time < stack.fake.seen[-1].received_ns
    ((_, duration),) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.sum >= (made_at[0] + 50_000_000 - span.start_time) / 1e9


def test_request_reaches_upstream_unchanged_but_hop_by_hop(stack: Stack) -> None:
    _post(
        stack.url,
        "otel-contrib__text_stream.sse",
        headers={
            "Connection": "keep-alive, x-private-hop",
            "x-private-hop": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "x-app": "kept",
        },
    )
    seen = stack.fake.seen[-1]
    headers = {k.lower(): v for k, v in seen.headers}
    assert seen.method == "POST"
    assert seen.path == RESPONSES
    assert seen.query == "api-version=2025-01-01"
    assert json.loads(seen.body) == {"model": "gpt-4o", "input": "hi", "stream": True}
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert headers["x-app"] == "kept"
    assert headers["host"] == f"127.0.0.1:{stack.upstream_port}"
    for hop in ("x-private-hop", "keep-alive", "te"):
        assert hop not in headers
    assert headers["content-length"] == str(len(seen.body))


def test_failed_stream_keeps_provider_code(stack: Stack, telemetry: Telemetry) -> None:
    direct = _post(stack.upstream, "seed__failed-rate-limit.sse")
    proxied = _post(stack.url, "seed__failed-rate-limit.sse")
    assert proxied.content == direct.content
    (span,) = telemetry.finished()
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "failed"
    assert attrs["error.type"] == "rate_limit_exceeded"


def test_http_error_relayed_and_recorded(stack: Stack, telemetry: Telemetry) -> None:
    fixture = "ruby_llm__azure_foundry_429.http.json"
    direct = _post(stack.upstream, fixture)
    proxied = _post(stack.url, fixture)
    assert proxied.status_code == direct.status_code == 429
    assert proxied.content == direct.content
    assert proxied.headers["retry-after"] == "1"
    (span,) = telemetry.finished()
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "error"
    assert attrs["error.type"] == "RateLimitReached"
    assert attrs["http.response.status_code"] == 429


def test_repeated_response_headers_kept(stack: Stack) -> None:
    fixture = "dd-trace-py__http_401_invalid_api_key.http.json"
    direct = _post(stack.upstream, fixture)
    proxied = _post(stack.url, fixture)
    assert proxied.status_code == 401
    assert proxied.content == direct.content
    cookies = proxied.headers.get_list("set-cookie")
    assert len(cookies) == 2 and cookies == direct.headers.get_list("set-cookie")


def test_non_streamed_call_is_a_span(stack: Stack, telemetry: Telemetry) -> None:
    fixture = "pydantic-ai__function_call_stream.sse"
    direct = _post(stack.upstream, fixture, stream=False)
    proxied = _post(stack.url, fixture, stream=False)
    assert proxied.headers["content-type"].startswith("application/json")
    assert proxied.content == direct.content
    (span,) = telemetry.finished()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"


def test_callers_traceparent_is_the_parent(stack: Stack, telemetry: Telemetry) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    _post(
        stack.url,
        "otel-contrib__text_stream.sse",
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    (span,) = telemetry.finished()
    assert f"{span.context.trace_id:032x}" == trace_id
    assert span.parent is not None and f"{span.parent.span_id:016x}" == parent
    # the caller's context was detached again: a call without traceparent starts a new trace
    _post(stack.url, "otel-contrib__text_stream.sse")
    second = telemetry.finished()[1]
    assert second.parent is None
    assert f"{second.context.trace_id:032x}" != trace_id


def test_non_llm_path_forwarded_not_traced(stack: Stack, telemetry: Telemetry) -> None:
    direct = httpx.get(stack.upstream + "/v1/models")
    proxied = httpx.get(stack.url + "/v1/models")
    assert proxied.status_code == direct.status_code == 404
    assert proxied.content == direct.content
    assert stack.fake.seen[-1].path == "/v1/models"
    assert telemetry.finished() == ()


@pytest.mark.parametrize("mode", ["content-length", "chunked"])
def test_body_bound_413(loop: object, telemetry: Telemetry, mode: str) -> None:
    from tests.proxy.support import Loop

    assert isinstance(loop, Loop)
    small = Stack(loop, tracer_provider=telemetry.tracer_provider, max_body_bytes=1000)
    try:
        body = b'{"model":"gpt-4o","input":"' + b"x" * 2000 + b'"}'
        content = body if mode == "content-length" else iter([body[:600], body[600:]])
        response = httpx.post(small.url + RESPONSES, content=content, headers={"x-fixture": "x"})
        assert response.status_code == 413
        assert small.fake.seen == []  # nothing forwarded
        assert telemetry.finished() == ()
    finally:
        small.close()
