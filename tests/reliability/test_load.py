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
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
from opentelemetry import trace

from otel_responses import _registry as names
from tests.support import RESPONSE, Telemetry, async_client, attributes, text_events
from tests.support import client as sync_client

N_ASYNC = 1_000
N_THREADS = 100
PER_THREAD = 3


def stream_body(name: str) -> list[bytes]:
    """Stream ``name``'s own response id, text and usage, one SSE event per chunk."""
    n = int(name.rsplit("-", 1)[1]) % 7 + 2
    usage = {"input_tokens": n, "output_tokens": 10 * n, "total_tokens": 11 * n}
    return text_events(
        [f"<{name}:{k}>" for k in range(n)],
        response={**RESPONSE, "id": f"resp_{name}"},
        usage=usage,
        lifecycle=False,
    )


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


def check(telemetry: Telemetry, names_: list[str]) -> None:
    finished = telemetry.finished()
    app = {s.context.span_id: s for s in finished if s.name.startswith("app ")}
    streams = [s for s in finished if s.name.startswith("chat")]
    assert len(app) == len(names_) and len(streams) == len(names_)
    seen = set()
    for span in streams:
        assert span.parent is not None
        parent = app[span.parent.span_id]  # its parent is an app span...
        name = parent.name.removeprefix("app ")
        got = attributes(span)
        assert got[names.RESPONSE_ID] == f"resp_{name}"  # ...of its own stream
        assert got[names.REQUEST_ID] == f"req_{name}"
        n = int(name.rsplit("-", 1)[1]) % 7 + 2
        assert got[names.OUTPUT_TOKENS] == 10 * n
        assert got[names.DELTA_COUNT] == n
        assert got[names.OUTCOME] == "completed"
        assert span.context.trace_id == parent.context.trace_id
        seen.add(name)
    assert seen == set(names_), "every stream has exactly one span"


async def test_thousand_concurrent_async_streams(instrumented: Telemetry) -> None:
    client = async_client(lambda r: handler(r, is_async=True))
    app_tracer = instrumented.tracer_provider.get_tracer("app")
    texts: dict[str, str] = {}

    async def one(i: int) -> None:
        name = f"a-{i}"
        with app_tracer.start_as_current_span(f"app {name}") as mine:
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
    check(instrumented, names_)


def test_hundred_threads_of_sync_streams(instrumented: Telemetry) -> None:
    client = sync_client(handler)
    app_tracer = instrumented.tracer_provider.get_tracer("app")
    texts: dict[str, str] = {}
    lock = threading.Lock()
    start = threading.Barrier(N_THREADS)

    def worker(t: int) -> None:
        start.wait(timeout=60)
        for k in range(PER_THREAD):
            name = f"t{t}_{k}-{t * PER_THREAD + k}"
            with app_tracer.start_as_current_span(f"app {name}") as mine:
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
    check(instrumented, names_)
