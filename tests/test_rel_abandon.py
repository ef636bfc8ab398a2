"""Abandonment and cancellation at scale: 10,000 streams broken off, cancelled, failed or dropped.

Every span is ended exactly once (a span processor tracks every start and end by span id, and
every hook is ended a second time to prove later endings do nothing), no span is left open, and
neither traced memory (tracemalloc, after a warm-up) nor the number of live hooks grows.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import tracemalloc
import weakref
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_responses import ResponseStreamHook, _faults

FIXTURES = Path(__file__).parent / "fixtures"
BODIES = [p.read_bytes()[:4000] for p in sorted(FIXTURES.glob("*.sse"))]
N = 10_000
WAYS = ("broken_off", "cancelled", "failed", "dropped")


class OpenSpans(SpanProcessor):
    """Open spans by id; an end of a span not open (never started, or ended before) is counted
    as a stray end. Constant memory, so it cannot mask or fake growth."""

    def __init__(self) -> None:
        self.open: set[int] = set()
        self.started = 0
        self.ended = 0
        self.stray_ends = 0

    def on_start(self, span, parent_context=None) -> None:  # type: ignore[no-untyped-def]
        self.started += 1
        self.open.add(span.context.span_id)

    def on_end(self, span) -> None:  # type: ignore[no-untyped-def]
        self.ended += 1
        try:
            self.open.remove(span.context.span_id)
        except KeyError:
            self.stray_ends += 1


class Owner:
    """Stands for the app's stream object: dropping it abandons the hook (weakref.finalize)."""

    def __init__(self, hook: ResponseStreamHook) -> None:
        self.hook = hook
        weakref.finalize(self, hook.abandon)


@pytest.fixture(scope="module")
def world():
    spans = OpenSpans()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(spans)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return spans, tracer_provider, meter_provider


def _stream(i: int, rng: random.Random, world, live: weakref.WeakSet) -> str:
    _spans, tracer_provider, meter_provider = world
    hook = ResponseStreamHook(
        model="gpt-4o", tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    live.add(hook)
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
    elif way == "failed":
        hook.fail(ConnectionResetError("peer reset"))
        hook.cancel()
    else:
        owner = Owner(hook)
        del hook
        del owner  # the finalizer abandons the hook now, and nothing else refers to it
        return "abandoned"
    assert hook.ended
    return hook.outcome  # type: ignore[return-value]


def test_ten_thousand_streams_end_exactly_once_without_growth(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest's log capture keeps every record it sees; keep the streams' warnings out of it.
    monkeypatch.setattr(logging.getLogger("otel_responses"), "disabled", True)
    spans = world[0]
    live: weakref.WeakSet = weakref.WeakSet()
    rng = random.Random(5)
    faults_before = _faults.fault_counts()
    for i in range(1_000):  # warm-up: caches, instruments, metric streams
        _stream(i, rng, world, live)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    outcomes: Counter[str] = Counter()
    for i in range(N):
        outcomes[_stream(i, rng, world, live)] += 1
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert spans.started == N + 1_000
    assert spans.ended == N + 1_000 and spans.stray_ends == 0, "every span ended exactly once"
    assert not spans.open, f"{len(spans.open)} spans left open"
    assert len(live) == 0, "no hook outlives its stream"
    assert _faults.fault_counts() == faults_before
    assert outcomes["abandoned"] == N // 4
    assert sum(outcomes.values()) == N
    # Retaining anything per stream (a hook is several KiB) would show as megabytes here.
    assert growth < 256 * 1024, f"{growth} bytes retained after {N} streams"


async def test_asyncio_tasks_cancelled_mid_stream_end_their_spans(world) -> None:
    """2,500 concurrent consumer tasks, each cancelled while awaiting its next chunk."""
    spans, tracer_provider, _meter_provider = world
    started = spans.started
    ends_before = spans.ended
    hooks: list[ResponseStreamHook] = []

    async def consume(i: int) -> None:
        hook = ResponseStreamHook(model="m", tracer_provider=tracer_provider)
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
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert spans.started - started == 2_500
    assert spans.ended - ends_before == 2_500
    assert spans.stray_ends == 0 and not spans.open
    assert {h.outcome for h in hooks} == {"cancelled"}
    assert {h.error_type for h in hooks} == {"asyncio.exceptions.CancelledError"}
