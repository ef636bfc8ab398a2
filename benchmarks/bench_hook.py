"""Cost of the hook per delta event, against a bare decode of the same bytes, in one run.

    python benchmarks/bench_hook.py [--deltas 20000] [--repeat 15] [--dialect chat_completions]

Per dialect the hook reads (``ResponseStreamHook(dialect=...)``; default: every dialect it
has, with streams shaped like real recordings — see ``_sdk_cases.py``):
"bare" is what any consumer of the stream must do anyway: split the SSE frames and
``json.loads`` every payload. "hook" is ``ResponseStreamHook.feed`` over the same bytes in 4 KiB
chunks, with a real SDK TracerProvider and MeterProvider behind it (spans to an in-memory
exporter), including the end of the stream. Since the app decodes and the hook observes, the
instrumented stream costs bare + hook: the budget is hook <= 50% of bare per event, for every
dialect. Also reports peak memory (tracemalloc) of the hook for 10k and 1M deltas. Not a test:
timed in thread CPU time, the figures still move by several % between runs on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

from _sdk_cases import anthropic_stream, chat_stream, gemini_stream
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_responses import ResponseStreamHook, SSEDecoder

CHUNK = 4096


def make_stream(deltas: int) -> bytes:
    """A realistic Responses stream: named events, sequence numbers, obfuscation padding."""
    response: dict[str, object] = {
        "id": "resp_0123456789abcdef",
        "object": "response",
        "status": "in_progress",
        "model": "gpt-4o-2024-08-06",
        "output": [],
        "usage": None,
    }
    frames = [
        (
            "response.created",
            {"type": "response.created", "sequence_number": 0, "response": response},
        )
    ]
    for i in range(1, deltas + 1):
        frames.append(
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "content_index": 0,
                    "delta": " token",
                    "item_id": "msg_0415a3de5d3015560069e2f3f52bf8819297ebb188bfe644d7",
                    "logprobs": [],
                    "obfuscation": "NxNZCm3X6XN4",
                    "output_index": 0,
                    "sequence_number": i,
                },
            )
        )
    done = dict(
        response,
        status="completed",
        usage={"input_tokens": 12, "output_tokens": deltas, "total_tokens": deltas + 12},
    )
    frames.append(
        (
            "response.completed",
            {"type": "response.completed", "sequence_number": deltas + 1, "response": done},
        )
    )
    return "".join(
        f"event: {t}\ndata: {json.dumps(d, separators=(',', ':'))}\n\n" for t, d in frames
    ).encode()


STREAMS: dict[str, Callable[[int], bytes]] = {
    "responses": make_stream,
    "chat_completions": lambda n: b"".join(chat_stream(n)),
    "anthropic_messages": lambda n: b"".join(anthropic_stream(n)),
    "gemini": lambda n: b"".join(gemini_stream(n)),
}
"""Each dialect's stream of ``n`` deltas, as one body."""

DELTA_FRAMES: dict[str, bytes] = {
    "responses": b"event: response.output_text.delta\ndata: "
    b'{"type":"response.output_text.delta","delta":" token","sequence_number":%d}\n\n',
    "chat_completions": b'data: {"id":"chatcmpl-%d","object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}\n\n',
    "anthropic_messages": b'event: content_block_delta\ndata: {"type":"content_block_delta",'
    b'"index":%d,"delta":{"type":"text_delta","text":" token"}}\n\n',
    "gemini": b'data: {"candidates":[{"content":{"parts":[{"text":" token"}],"role":"model"},'
    b'"index":%d}],"modelVersion":"gemini-2.0-flash"}\n\n',
}
"""One delta frame per dialect, with a number in it, for the memory runs' generated streams."""


def dialects_of_hook() -> list[str]:
    """The dialects this version of otel-responses reads."""
    try:
        from otel_responses.dialects import DIALECTS
    except ImportError:
        return ["responses"]
    return [name for name in STREAMS if name in DIALECTS]


def chunks_of(body: bytes) -> list[bytes]:
    return [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]


def bare(chunks: list[bytes]) -> None:
    """SSE split + json.loads, as tight as plain Python gets (C-level splits)."""
    buf = b""
    loads = json.loads
    for chunk in chunks:
        buf += chunk
        *frames, buf = buf.split(b"\n\n")
        for frame in frames:
            for line in frame.split(b"\n"):
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    loads(line[6:])


def providers() -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def new_hook(dialect: str, tp: TracerProvider, mp: MeterProvider) -> ResponseStreamHook:
    return ResponseStreamHook(
        dialect=dialect, model="gpt-4o", tracer_provider=tp, meter_provider=mp
    )


def hook_run(dialect: str, chunks: list[bytes], tp: TracerProvider, mp: MeterProvider) -> None:
    hook = new_hook(dialect, tp, mp)
    for chunk in chunks:
        hook.feed(chunk)
    hook.end()


def decoder_only(chunks: list[bytes]) -> None:
    decoder = SSEDecoder(lambda event, data: None)
    for chunk in chunks:
        decoder.feed(chunk)


def timed(cases: dict[str, Callable[[], None]], repeat: int) -> dict[str, list[float]]:
    """Seconds of each case in each round, in this thread's CPU time (time spent while other
    processes had the core is not counted: the machine is shared); the cases take turns within
    each round, so what remains of the load's effect (caches) hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            gc.collect()
            start = time.thread_time()
            fn()
            times[name].append(time.thread_time() - start)
    return times


def peak_memory(dialect: str, deltas: int, tp: TracerProvider, mp: MeterProvider) -> int:
    """Peak bytes the hook allocates while observing a stream of ``deltas`` deltas, fed in
    chunks generated on the fly (so the stream itself is never held in memory)."""
    frame = DELTA_FRAMES[dialect]
    per_chunk = 100
    gc.collect()
    tracemalloc.start()
    hook = new_hook(dialect, tp, mp)
    for start in range(1, deltas + 1, per_chunk):
        hook.feed(b"".join(frame % i for i in range(start, start + per_chunk)))
    hook.end()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure(dialect: str, deltas: int, repeat: int, with_memory: bool) -> None:
    """Print the figures of one dialect."""
    body = STREAMS[dialect](deltas)
    chunks = chunks_of(body)
    events = body.count(b"\n\n")  # SSE frames, [DONE] included
    tp, mp = providers()
    hook_run(dialect, chunks, tp, mp)  # warm caches (instruments, type tables)
    times = timed({
        "bare decode (split + json.loads)": lambda: bare(chunks),
        "otel-responses SSEDecoder only": lambda: decoder_only(chunks),
        "otel-responses hook (feed + end)": lambda: hook_run(dialect, chunks, tp, mp),
    }, repeat)  # fmt: skip
    rows = [(name, (min(t), statistics.median(t))) for name, t in times.items()]
    print(f"\n## {dialect}: {deltas} deltas, {events} frames, {len(body):,} bytes, "
          f"{len(chunks)} chunks")  # fmt: skip
    for name, (low, median) in rows:
        print(f"  {name:36s} {low / events * 1e6:6.2f} us/event (median "
              f"{median / events * 1e6:6.2f})  {events / low:12,.0f} events/s")  # fmt: skip
    bare_t, _, hook_t = times.values()
    ratio = min(hook_t) / min(bare_t)
    per_round = sorted(h / b for h, b in zip(hook_t, bare_t, strict=True))
    print(f"  hook cost / bare decode cost = {ratio:.2f} (fastest runs), per round median "
          f"{statistics.median(per_round):.2f} [{per_round[0]:.2f}-{per_round[-1]:.2f}] "
          f"(budget <= 0.50); instrumented stream = {1 + ratio:.2f} x bare")  # fmt: skip
    if with_memory:
        small = peak_memory(dialect, 10_000, tp, mp)
        large = peak_memory(dialect, 1_000_000, tp, mp)
        print(f"  peak memory of the hook: 10k deltas {small / 1024:.1f} KiB, "
              f"1M deltas {large / 1024:.1f} KiB")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deltas", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dialect", action="append", choices=sorted(STREAMS),
                        help="repeatable; default: every dialect the hook reads")  # fmt: skip
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    args = parser.parse_args()
    known = dialects_of_hook()
    print(f"python {sys.version.split()[0]}; best/median of {args.repeat}; chunks of {CHUNK} B")
    for dialect in args.dialect or known:
        if dialect not in known:
            print(f"\n## {dialect}: otel-responses does not read this dialect yet")
            continue
        measure(dialect, args.deltas, args.repeat, not args.no_memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
