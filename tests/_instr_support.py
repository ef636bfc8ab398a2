"""Helpers for the instrumentation tests: SSE bodies in chosen chunkings, openai clients on
``httpx.MockTransport``, the ``instrumented`` fixture, and span look-ups."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_responses import instrument, uninstrument
from tests.conftest import FIXTURES, Telemetry

SEED = FIXTURES / "seed__failed-rate-limit.sse"
TEXT = FIXTURES / "otel-contrib__text_stream.sse"
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


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        yield telemetry
    finally:
        uninstrument()


def events_of(body: bytes) -> list[bytes]:
    """The body split into one chunk per SSE event (blank-line terminated)."""
    normalized = body.replace(b"\r\n", b"\n")
    return [part + b"\n\n" for part in normalized.split(b"\n\n") if part.strip()]


def chunked(body: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [body]
    if how == "event":
        return events_of(body)
    if how == "bytes":
        return [body[i : i + 7] for i in range(0, len(body), 7)]
    raise ValueError(how)


def text_stream(n_deltas: int, text: str = "tok") -> bytes:
    """A completed Responses stream (8 lifecycle events) with ``n_deltas`` text deltas."""
    resp = {"id": "resp_bench", "object": "response", "model": "gpt-4o-2024-08-06", "output": []}
    seq = iter(range(1_000_000))

    def ev(kind: str, **fields: Any) -> bytes:
        data = json.dumps({"type": kind, "sequence_number": next(seq), **fields})
        return f"event: {kind}\ndata: {data}\n\n".encode()

    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    out = [
        ev("response.created", response={**resp, "status": "in_progress"}),
        ev("response.in_progress", response={**resp, "status": "in_progress"}),
        ev("response.output_item.added", output_index=0, item={**item, "content": []}),
        ev("response.content_part.added", part=part, **where),
    ]
    for _ in range(n_deltas):
        out.append(ev("response.output_text.delta", delta=text, logprobs=[], **where))
    full = text * n_deltas
    done_part = {**part, "text": full}
    done_item = {**item, "status": "completed", "content": [done_part]}
    usage = {
        "input_tokens": 12,
        "output_tokens": n_deltas,
        "total_tokens": 12 + n_deltas,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    out += [
        ev("response.output_text.done", text=full, logprobs=[], **where),
        ev("response.content_part.done", part=done_part, **where),
        ev("response.output_item.done", output_index=0, item=done_item),
        ev(
            "response.completed",
            response={**resp, "status": "completed", "output": [done_item], "usage": usage},
        ),
    ]
    return b"".join(out)


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


class Server:
    """A ``MockTransport`` handler serving queued responses; records the requests."""

    def __init__(self, *responses: Callable[[httpx.Request], httpx.Response]) -> None:
        self.queue = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        make = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        return make(request)


def sse(
    body: bytes,
    how: str = "event",
    headers: dict[str, str] | None = None,
    *,
    is_async: bool = False,
) -> Callable[[httpx.Request], httpx.Response]:
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


def json_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)

    def make(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, headers={"content-type": "application/json", **(headers or {})}, content=raw
        )

    return make


def client(handler: Callable[..., Any], *, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url=BASE_URL,
        max_retries=max_retries,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def async_client(handler: Callable[..., Any], *, max_retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url=BASE_URL,
        max_retries=max_retries,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


def only_span(telemetry: Telemetry) -> ReadableSpan:
    spans = [s for s in telemetry.finished() if s.name.startswith("chat")]
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def event_names(span: ReadableSpan) -> list[str]:
    return [e.name for e in span.events]


def exception_types(span: ReadableSpan) -> list[str]:
    return [
        str((e.attributes or {}).get("exception.type"))
        for e in span.events
        if e.name == "exception"
    ]


def metric_sum(telemetry: Telemetry, name: str, **match: Any) -> float:
    total = 0.0
    for attributes, point in telemetry.points(name):
        if all(attributes.get(k) == v for k, v in match.items()):
            total += getattr(point, "value", None) or getattr(point, "count", 0)
    return total
