"""Load through the instrumented openai SDK: 1,000 concurrent async streams and 100 threads of
sync streams, on ``httpx.MockTransport``.

Each request names its stream (``user``); the mock server answers with a response id, text and
usage of that stream only, and interleaves the streams (every chunk yields to the event loop).
Every stream runs under its own app span. Proven: every stream gets exactly one span; each span's
``gen_ai.response.id``, usage and text match its own stream; its parent is its own app span (the
span the app had current, so no context crosstalk); the app's current span is unchanged after the
stream; the app reads exactly the events served. Throughput against uninstrumented is measured in
``benchmarks/bench_collector_down.py``, not asserted here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_responses import _registry as names
from otel_responses import instrument, uninstrument

N_ASYNC = 1_000
N_THREADS = 100
PER_THREAD = 3


def stream_body(name: str) -> list[bytes]:
    n = int(name.rsplit("-", 1)[1]) % 7 + 2
    resp = {"id": f"resp_{name}", "object": "response", "model": "gpt-4o-2024-08-06", "output": []}
    seq = iter(range(1000))

    def ev(kind: str, **fields: Any) -> bytes:
        data = json.dumps({"type": kind, "sequence_number": next(seq), **fields})
        return f"event: {kind}\ndata: {data}\n\n".encode()

    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    out = [ev("response.created", response={**resp, "status": "in_progress"})]
    out += [
        ev("response.output_text.delta", delta=f"<{name}:{k}>", logprobs=[], **where)
        for k in range(n)
    ]
    usage = {"input_tokens": n, "output_tokens": 10 * n, "total_tokens": 11 * n}
    out.append(ev("response.completed", response={**resp, "status": "completed", "usage": usage}))
    return out


def expected_text(name: str) -> str:
    n = int(name.rsplit("-", 1)[1]) % 7 + 2
    return "".join(f"<{name}:{k}>" for k in range(n))


def handler(request: httpx.Request, *, is_async: bool = False) -> httpx.Response:
    name = json.loads(request.content)["user"]
    parts = stream_body(name)
    headers = {"content-type": "text/event-stream", "x-request-id": f"req_{name}"}
    if is_async:

        async def agen() -> AsyncIterator[bytes]:
            for part in parts:
                await asyncio.sleep(0)  # interleave the streams
                yield part

        return httpx.Response(200, headers=headers, content=agen())
    return httpx.Response(200, headers=headers, content=iter(parts))


class World:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.app_tracer = self.tracer_provider.get_tracer("app")

    def check(self, names_: list[str]) -> None:
        finished = self.spans.get_finished_spans()
        app = {s.context.span_id: s for s in finished if s.name.startswith("app ")}
        streams = [s for s in finished if s.name.startswith("chat")]
        assert len(app) == len(names_) and len(streams) == len(names_)
        seen = set()
        for span in streams:
            parent = app[span.parent.span_id]  # its parent is an app span...
            name = parent.name.removeprefix("app ")
            assert span.attributes[names.RESPONSE_ID] == f"resp_{name}"  # ...of its own stream
            assert span.attributes[names.REQUEST_ID] == f"req_{name}"
            n = int(name.rsplit("-", 1)[1]) % 7 + 2
            assert span.attributes[names.OUTPUT_TOKENS] == 10 * n
            assert span.attributes[names.DELTA_COUNT] == n
            assert span.attributes[names.OUTCOME] == "completed"
            assert span.context.trace_id == parent.context.trace_id
            seen.add(name)
        assert seen == set(names_), "every stream has exactly one span"


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    instrument(tracer_provider=w.tracer_provider, meter_provider=w.meter_provider)
    try:
        yield w
    finally:
        uninstrument()


async def test_thousand_concurrent_async_streams(world: World) -> None:
    client = openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="https://api.test/v1",
        max_retries=0,
        http_client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: handler(r, is_async=True))
        ),
    )
    texts: dict[str, str] = {}

    async def one(i: int) -> None:
        name = f"a-{i}"
        with world.app_tracer.start_as_current_span(f"app {name}") as mine:
            stream = await client.responses.create(
                model="gpt-4o", input="hi", user=name, stream=True
            )
            got = []
            async for event in stream:
                assert trace.get_current_span() is mine, "the app's context is its own"
                if event.type == "response.output_text.delta":
                    got.append(event.delta)
            texts[name] = "".join(got)

    await asyncio.gather(*(one(i) for i in range(N_ASYNC)))
    await client.close()
    names_ = [f"a-{i}" for i in range(N_ASYNC)]
    assert texts == {n: expected_text(n) for n in names_}, "the app reads what was served"
    world.check(names_)


def test_hundred_threads_of_sync_streams(world: World) -> None:
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    texts: dict[str, str] = {}
    lock = threading.Lock()
    start = threading.Barrier(N_THREADS)

    def worker(t: int) -> None:
        start.wait(timeout=60)
        for k in range(PER_THREAD):
            name = f"t{t}_{k}-{t * PER_THREAD + k}"
            with world.app_tracer.start_as_current_span(f"app {name}") as mine:
                got = []
                with client.responses.create(
                    model="gpt-4o", input="hi", user=name, stream=True
                ) as stream:
                    for event in stream:
                        assert trace.get_current_span() is mine
                        if event.type == "response.output_text.delta":
                            got.append(event.delta)
                assert trace.get_current_span() is mine
            with lock:
                texts[name] = "".join(got)

    with ThreadPoolExecutor(N_THREADS) as pool:
        for future in [pool.submit(worker, t) for t in range(N_THREADS)]:
            future.result(timeout=120)
    client.close()
    names_ = [f"t{t}_{k}-{t * PER_THREAD + k}" for t in range(N_THREADS) for k in range(PER_THREAD)]
    assert texts == {n: expected_text(n) for n in names_}
    world.check(names_)
