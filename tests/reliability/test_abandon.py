"""Abandonment and cancellation at scale.

* 10,000 streams made through the real openai SDK (sync ``create``, ``with_raw_response``,
  ``responses.stream()``, and async ``create``) over ``httpx.MockTransport``, each read for 0 to 6
  events and then dropped without closing. Nothing in the test ends a hook: every span must be
  ended by the library's own abandonment detection (the ``weakref.finalize`` anchors in
  ``otel_responses/instrumentation/_httpx.py``) as ``abandoned``, exactly once, none left open,
  and neither the library's objects nor the process's allocated memory blocks may grow.
* 10,000 hooks ended by two competing endings each (broken off, cancelled, failed): the first
  ending wins, the second does nothing.
* 2,500 asyncio tasks cancelled while awaiting their next chunk.

Spans are tallied by a span processor in constant memory (no exporter keeping 10,000 spans), so
the tally cannot mask or fake growth. Memory is checked with ``sys.getallocatedblocks()`` (every
live object is at least one block, so retaining even one object per stream shows as 10,000
blocks), not tracemalloc, whose tracing makes the SDK run about three times slower.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import sys
import weakref
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_responses import ResponseStreamHook, _faults, instrument, uninstrument
from tests.support import FIXTURES, Telemetry, async_client, client, new_telemetry, sse, text_stream

BODIES = [p.read_bytes()[:4000] for p in sorted(FIXTURES.glob("*.sse"))]
N = 10_000
N_ASYNC = N // 4
OUTCOME = "otel_responses.stream.outcome"
LEAK_BLOCKS = 2_000
"""Allowed growth of allocated blocks over a whole run: caches settle within a few hundred
(measured: 41 to 790 over 10,000 SDK streams); one object retained per stream would be 10,000."""


class Tally(SpanProcessor):
    """Open spans by id and ended spans' outcomes; an end of a span that is not open (never
    started, or ended before) is a stray end. Memory bounded by the open spans."""

    def __init__(self) -> None:
        self.open: set[int] = set()
        self.started = 0
        self.ended = 0
        self.stray_ends = 0
        self.outcomes: Counter[str] = Counter()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started += 1
        self.open.add(span.get_span_context().span_id)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1
        context = span.get_span_context()
        try:
            self.open.remove(context.span_id if context is not None else 0)
        except KeyError:
            self.stray_ends += 1
        self.outcomes[str((span.attributes or {}).get(OUTCOME))] += 1


class World(NamedTuple):
    """Telemetry that keeps no spans (there are 10,000) and the :class:`Tally` counting them."""

    telemetry: Telemetry
    tally: Tally


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # pytest's log capture keeps every record it sees; keep the streams' warnings out of it.
    monkeypatch.setattr(logging.getLogger("otel_responses"), "disabled", True)
    made = World(new_telemetry(keep_spans=False), Tally())
    made.telemetry.tracer_provider.add_span_processor(made.tally)
    yield made
    made.telemetry.shutdown()


def _live_hooks() -> int:
    return sum(isinstance(o, ResponseStreamHook) for o in gc.get_objects())


def _finalizers() -> int:
    """Pending ``weakref.finalize`` callbacks of the process (CPython keeps them in a dict)."""
    registry: dict[Any, Any] = getattr(weakref.finalize, "_registry", {})
    return len(registry)


# --- through the openai SDK: the library's own abandonment detection --------------------------

BODY = text_stream(12)
ENTRIES = ("create", "raw", "manager")


def _drop_sync(api: Any, i: int) -> None:
    entry = ENTRIES[i % len(ENTRIES)]
    model = f"drop-{entry}"
    stream: Any
    if entry == "create":
        stream = api.create(model=model, input="hi", stream=True)
    elif entry == "raw":
        stream = api.with_raw_response.create(model=model, input="hi", stream=True).parse()
    else:
        stream = api.stream(model=model, input="hi").__enter__()
    events = iter(stream)
    for _ in range(i % 7):  # 0 to 6 of the stream's 20 events: never to its end
        next(events)
    # Dropped without close(): only the garbage collector can tell the library.


async def _drop_async(api: Any, i: int) -> None:
    stream = await api.create(model="drop-async", input="hi", stream=True)
    for _ in range(i % 7):
        await stream.__anext__()


def test_ten_thousand_sdk_streams_dropped_are_abandoned_by_the_library(world: World) -> None:
    tally = world.tally
    sync_api = client(sse(BODY)).responses
    async_api = async_client(sse(BODY, is_async=True)).responses
    instrument(
        tracer_provider=world.telemetry.tracer_provider,
        meter_provider=world.telemetry.meter_provider,
    )
    try:
        for i in range(600):  # warm-up: the SDK's and our caches, instruments, metric streams
            _drop_sync(sync_api, i)
        gc.collect()
        assert tally.outcomes == {"abandoned": 600} and not tally.open
        faults_before = _faults.fault_counts()
        finalizers_before = _finalizers()
        blocks_before = sys.getallocatedblocks()
        started_before = tally.started

        for i in range(N - N_ASYNC):
            _drop_sync(sync_api, i)

        async def drop_many() -> None:
            for i in range(N_ASYNC):
                await _drop_async(async_api, i)
            # Collect inside the loop: when ``asyncio.run`` ends, the loop itself closes every
            # async generator still alive (``shutdown_asyncgens``), which reads as ``cancelled``.
            gc.collect()

        asyncio.run(drop_many())
        gc.collect()
        growth = sys.getallocatedblocks() - blocks_before
    finally:
        uninstrument()
    assert tally.started - started_before == N
    assert tally.stray_ends == 0, "a span was ended twice"
    assert not tally.open, f"{len(tally.open)} spans left open"
    assert tally.ended == tally.started
    assert tally.outcomes == {"abandoned": N + 600}
    assert _live_hooks() == 0
    assert _finalizers() == finalizers_before, "a finalizer outlived its stream"
    assert _faults.fault_counts() == faults_before
    assert growth < LEAK_BLOCKS, f"{growth} more blocks allocated after {N} streams"


# --- competing endings on the hook --------------------------------------------------------------

WAYS = ("broken_off", "cancelled", "failed")


def _end_twice(i: int, rng: random.Random, world: World) -> str | None:
    hook = ResponseStreamHook(
        model="gpt-4o",
        tracer_provider=world.telemetry.tracer_provider,
        meter_provider=world.telemetry.meter_provider,
    )
    body = BODIES[i % len(BODIES)]
    cut = rng.randrange(len(body))
    for start in range(0, cut, 512):
        hook.feed(body[start : min(start + 512, cut)])
    way = WAYS[i % len(WAYS)]
    if way == "broken_off":
        hook.cancel()
        hook.abandon()  # a finalizer running later must not end it again
    elif way == "cancelled":
        hook.close_with(asyncio.CancelledError())
        hook.end()
    else:
        hook.fail(ConnectionResetError("peer reset"))
        hook.cancel()
    return hook.outcome


def test_ten_thousand_hooks_end_exactly_once_without_growth(world: World) -> None:
    tally = world.tally
    rng = random.Random(5)
    for i in range(1_000):  # warm-up
        _end_twice(i, rng, world)
    gc.collect()
    faults_before = _faults.fault_counts()
    blocks_before = sys.getallocatedblocks()
    tally.outcomes.clear()
    reported: Counter[str] = Counter()
    for i in range(N):
        reported[str(_end_twice(i, rng, world))] += 1
    gc.collect()
    growth = sys.getallocatedblocks() - blocks_before
    assert tally.started == tally.ended == N + 1_000
    assert tally.stray_ends == 0, "a span was ended twice"
    assert not tally.open
    # What the spans say, not what the test did: the first ending decided, unless the stream's
    # own terminal event (inside the cut) decided first.
    assert tally.outcomes == reported
    assert "abandoned" not in tally.outcomes, "a second ending overrode the first"
    assert tally.outcomes["cancelled"] > N // 2 and tally.outcomes["transport_error"] > N // 6
    assert _live_hooks() == 0
    assert _faults.fault_counts() == faults_before
    assert growth < LEAK_BLOCKS, f"{growth} more blocks allocated after {N} streams"


async def test_asyncio_tasks_cancelled_mid_stream_end_their_spans(world: World) -> None:
    """2,500 concurrent consumer tasks, each cancelled while awaiting its next chunk."""
    tally = world.tally
    hooks: list[ResponseStreamHook] = []

    async def consume(i: int) -> None:
        hook = ResponseStreamHook(model="m", tracer_provider=world.telemetry.tracer_provider)
        hooks.append(hook)
        body = BODIES[i % len(BODIES)]
        try:
            for start in range(0, len(body), 256):
                hook.feed(body[start : start + 256])
                await asyncio.sleep(0 if start < 1024 else 3600)
            hook.end()
        except BaseException as exc:
            hook.close_with(exc)
            raise

    tasks = [asyncio.ensure_future(consume(i)) for i in range(2_500)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert tally.started == 2_500 and tally.ended == 0
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert tally.ended == 2_500 and tally.stray_ends == 0 and not tally.open
    assert tally.outcomes == {"cancelled": 2_500}
    assert {h.error_type for h in hooks} == {"asyncio.exceptions.CancelledError"}
