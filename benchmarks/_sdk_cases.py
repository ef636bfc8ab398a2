"""The cases the SDK benchmarks share: one per streaming dialect, each with its SDK and its peers.

A case knows how to build a stream of ``n`` deltas shaped like a real recording of its dialect
(one chunk per SSE frame), how to make its SDK read that stream from a mock transport (no
network), how to consume it the way an app does (sync and async), and which peer
instrumentations exist for that SDK. ``bench_sdk.py`` (wall clock, memory) and
``callgrind_sdk.py`` (instruction counts) both run their measurements through these cases, so a
dialect added here is measured by both: that is how issue 9 adds Anthropic Messages and Gemini.

A *variant* is what is measured against the bare SDK: ``otel-responses`` or a peer. Each variant
can be switched on and off in one process (``Variant.on()``/``off()``), which is what lets the
timing alternate bare and instrumented rounds. Whether a variant records anything for a dialect is
not assumed: ``Telemetry`` counts the spans it produced, so an instrumentation that does not cover
a dialect shows as such instead of as a free one.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

OURS = "otel-responses"


@dataclass(frozen=True)
class Peer:
    """A peer instrumentation: its benchmark name, its distribution and whether it needs --pre."""

    name: str
    dist: str
    pre: bool = False
    spec: str | None = None  # the pip requirement, when not just ``dist``

    @property
    def requirement(self) -> str:
        return self.spec or self.dist


@dataclass(frozen=True)
class Case:
    """One streaming dialect as its SDK sees it."""

    dialect: str
    sdk: str  # the SDK's distribution name, for the report
    build: Callable[[int], list[bytes]]  # n deltas -> one chunk per SSE frame
    consumers: Callable[[list[bytes]], tuple[Callable[[], int], Callable[[], Any]]]
    peers: tuple[Peer, ...]
    modules: tuple[str, ...]  # the SDK's import packages: what an instrumentor patches
    extra: tuple[Peer, ...] = ()  # the SDK itself, when the project does not install it


# --- stream shapes ------------------------------------------------------------------------------
def _sse(data: Any, event: str | None = None, pad: str = "") -> bytes:
    line = f"data: {json.dumps(data, separators=(',', ':'))}{pad}\n\n"
    return (f"event: {event}\n{line}" if event else line).encode()


def responses_stream(n_deltas: int) -> list[bytes]:
    """A completed text response with ``n_deltas`` ``response.output_text.delta`` events.

    The shape (item, content part, sequence numbers, usage details) is that of the Responses
    recordings in tests/fixtures; it is the stream earlier figures in NOTES.md were taken with.
    """
    resp = {"id": "resp_b", "object": "response", "model": "gpt-4o-2024-08-06", "output": []}
    seq = iter(range(10**9))

    def ev(kind: str, **fields: Any) -> bytes:
        data = json.dumps({"type": kind, "sequence_number": next(seq), **fields})
        return f"event: {kind}\ndata: {data}\n\n".encode()

    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    out = [
        ev("response.created", response={**resp, "status": "in_progress"}),
        ev("response.in_progress", response={**resp, "status": "in_progress"}),
        ev("response.output_item.added", output_index=0, item={**item, "content": []}),
        ev("response.content_part.added", part=part, **where),
    ]
    out += [
        ev("response.output_text.delta", delta=" tok", logprobs=[], **where)
        for _ in range(n_deltas)
    ]
    usage = {
        "input_tokens": 12,
        "output_tokens": n_deltas,
        "total_tokens": 12 + n_deltas,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    done_item = {**item, "status": "completed", "content": [{**part, "text": "…"}]}
    out += [
        ev("response.output_text.done", text="…", logprobs=[], **where),
        ev("response.content_part.done", part={**part, "text": "…"}, **where),
        ev("response.output_item.done", output_index=0, item=done_item),
        ev(
            "response.completed",
            response={**resp, "status": "completed", "output": [done_item], "usage": usage},
        ),
    ]
    return out


def chat_stream(n_deltas: int) -> list[bytes]:
    """A Chat Completions stream shaped like the recorded OpenAI gpt-5 stream
    (corpus ``chat_completions/pydantic-ai__gpt-5_moderation_chunk_after_usage.sse``, without its
    moderation chunk): role chunk, ``n_deltas`` content chunks, finish chunk, the
    ``include_usage`` chunk with empty ``choices``, ``data: [DONE]``. Every chunk carries the
    fields OpenAI sends today (``service_tier``, ``system_fingerprint``, ``usage: null``,
    ``obfuscation``)."""
    head = {
        "id": "chatcmpl-E4Rjs6IxaJVge9Ntk5keJsaeDy6vS",
        "object": "chat.completion.chunk",
        "created": 1784728648,
        "model": "gpt-5-2025-08-07",
        "service_tier": "default",
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({**head, "choices": [choice], "usage": None, **extra})

    usage = {
        "prompt_tokens": 13,
        "completion_tokens": n_deltas,
        "total_tokens": 13 + n_deltas,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    out = [chunk({"role": "assistant", "content": "", "refusal": None}, obfuscation="CVQ55DocFW")]
    # OpenAI pads each chunk with a fresh alphanumeric token of varying length.
    tokens = ("EeXxvZr", "Q9k", "uLVWXYc8", "0eqq81P", "tB", "Zr4mKq0Lx")
    out += [
        chunk({"content": " tok"}, obfuscation=tokens[i % len(tokens)] + str(i))
        for i in range(n_deltas)
    ]
    out.append(chunk({}, "stop", obfuscation="0eqq81"))
    out.append(_sse({**head, "choices": [], "usage": usage, "obfuscation": "uLVWXYc88DP"}))
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_stream(n_deltas: int) -> list[bytes]:
    """An Anthropic Messages stream shaped like the recorded claude-sonnet-4 stream (corpus
    ``anthropic_messages/dd-trace-py__claude-sonnet-4_max_tokens_cache_creation.sse``):
    ``message_start`` with cache usage, ``content_block_start``, ``ping``, ``n_deltas``
    ``content_block_delta`` frames (the API pads its JSON with spaces, kept), stop frames."""
    usage = {
        "input_tokens": 18,
        "cache_creation_input_tokens": 1031,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
        "service_tier": "standard",
    }
    message: dict[str, Any] = {
        "id": "msg_01N1s2vim6CWk85jtJPHcuea",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    pad = " " * 10
    out = [
        _sse({"type": "message_start", "message": message}, "message_start", pad),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
            pad,
        ),
        b'event: ping\ndata: {"type": "ping"}\n\n',
    ]
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": " tok"},
    }
    out += [_sse(delta, "content_block_delta", pad) for _ in range(n_deltas)]
    out += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop", pad),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n_deltas},
            },
            "message_delta",
            pad,
        ),
        _sse({"type": "message_stop"}, "message_stop", pad),
    ]
    return out


def gemini_stream(n_deltas: int) -> list[bytes]:
    """A Gemini ``streamGenerateContent?alt=sse`` stream shaped like the recorded gemini-2.0-flash
    stream (corpus ``gemini/openinference__gemini-2.0-flash_text.sse``): every frame has one
    candidate with one text part, running ``usageMetadata``, ``modelVersion`` and ``responseId``;
    the last one carries ``finishReason`` and the final token counts."""
    prompt = {"modality": "TEXT", "tokenCount": 10}

    def frame(i: int) -> bytes:
        last = i == n_deltas - 1
        candidate: dict[str, Any] = {"content": {"parts": [{"text": " tok"}], "role": "model"}}
        usage: dict[str, Any] = {
            "promptTokenCount": 10,
            "totalTokenCount": 10,
            "promptTokensDetails": [prompt],
            "serviceTier": "standard",
        }
        if last:
            candidate["finishReason"] = "STOP"
            usage.update(
                candidatesTokenCount=n_deltas,
                totalTokenCount=10 + n_deltas,
                candidatesTokensDetails=[{"modality": "TEXT", "tokenCount": n_deltas}],
            )
        return _sse(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": "gemini-2.0-flash",
                "responseId": "jNcEavSuHfWA7_UP9-uokQs",
            }
        )

    return [frame(i) for i in range(n_deltas)]


# --- SDK clients over a mock transport ----------------------------------------------------------
OPENAI_HEADERS = {
    "content-type": "text/event-stream",
    "x-request-id": "req_b",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-remaining-tokens": "29000",
}
ANTHROPIC_HEADERS = {
    "content-type": "text/event-stream",
    "request-id": "req_011CVbench",
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2026-08-01T00:00:01Z",
}
GEMINI_HEADERS = {"content-type": "text/event-stream"}


def _handlers(httpx_mod: Any, chunks: list[bytes], headers: dict[str, str]) -> tuple[Any, Any]:
    """Sync and async mock transports of ``httpx_mod`` (httpx or httpx2) that answer every
    request with ``chunks``, one body chunk per SSE frame, as a server flushing each event."""

    def handler(request: Any) -> Any:
        return httpx_mod.Response(200, headers=headers, content=iter(chunks))

    async def ahandler(request: Any) -> Any:
        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return httpx_mod.Response(200, headers=headers, content=body())

    return httpx_mod.MockTransport(handler), httpx_mod.MockTransport(ahandler)


def _count(items: Iterator[Any]) -> int:
    n = 0
    for _ in items:
        n += 1
    return n


async def _acount(items: AsyncIterator[Any]) -> int:
    n = 0
    async for _ in items:
        n += 1
    return n


def _openai_clients(chunks: list[bytes]) -> tuple[Any, Any]:
    """The openai SDK over mock transports of its default HTTP backend: httpx2 (openai 3.x builds
    on httpx2 and also accepts a legacy httpx client; ``OPENAI_BENCH_HTTPX=1`` measures that)."""
    import openai

    legacy = os.environ.get("OPENAI_BENCH_HTTPX") == "1"
    if legacy:
        import httpx as http
    else:
        import httpx2 as http  # type: ignore[no-redef]
    sync_t, async_t = _handlers(http, chunks, OPENAI_HEADERS)
    kwargs: dict[str, Any] = {
        "api_key": "sk-bench",
        "base_url": "https://api.test/v1",
        "max_retries": 0,
    }
    sync_client: Any = http.Client(transport=sync_t)
    async_client: Any = http.AsyncClient(transport=async_t)
    return (
        openai.OpenAI(http_client=sync_client, **kwargs),
        openai.AsyncOpenAI(http_client=async_client, **kwargs),
    )


def responses_consumers(chunks: list[bytes]) -> tuple[Callable[[], int], Callable[[], Any]]:
    sync, asyn = _openai_clients(chunks)

    def run() -> int:
        return _count(sync.responses.create(model="gpt-4o", input="hi", stream=True))

    async def arun() -> int:
        return await _acount(await asyn.responses.create(model="gpt-4o", input="hi", stream=True))

    return run, arun


def chat_consumers(chunks: list[bytes]) -> tuple[Callable[[], int], Callable[[], Any]]:
    sync, asyn = _openai_clients(chunks)
    kwargs: dict[str, Any] = {
        "model": "gpt-5",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    def run() -> int:
        return _count(sync.chat.completions.create(**kwargs))

    async def arun() -> int:
        return await _acount(await asyn.chat.completions.create(**kwargs))

    return run, arun


def anthropic_consumers(chunks: list[bytes]) -> tuple[Callable[[], int], Callable[[], Any]]:
    """The anthropic SDK (2.x, built on httpx2) over an ``httpx2.MockTransport``."""
    import anthropic
    import httpx2

    sync_t, async_t = _handlers(httpx2, chunks, ANTHROPIC_HEADERS)
    kwargs: dict[str, Any] = {
        "api_key": "sk-ant-bench",
        "base_url": "https://anthropic.test",
        "max_retries": 0,
    }
    sync = anthropic.Anthropic(http_client=httpx2.Client(transport=sync_t), **kwargs)
    asyn = anthropic.AsyncAnthropic(http_client=httpx2.AsyncClient(transport=async_t), **kwargs)
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }

    def run() -> int:
        return _count(sync.messages.create(**request))

    async def arun() -> int:
        return await _acount(await asyn.messages.create(**request))

    return run, arun


def gemini_consumers(chunks: list[bytes]) -> tuple[Callable[[], int], Callable[[], Any]]:
    """google-genai over httpx2 mock transports (httpx2 is the SDK's default backend when it is
    installed; ``HttpOptions`` takes the clients)."""
    import httpx2
    from google import genai
    from google.genai import types

    sync_t, async_t = _handlers(httpx2, chunks, GEMINI_HEADERS)
    options = types.HttpOptions(
        base_url="https://gemini.test/",
        httpx_client=httpx2.Client(transport=sync_t),
        httpx_async_client=httpx2.AsyncClient(transport=async_t),
    )
    client = genai.Client(api_key="bench-key", http_options=options)

    def run() -> int:
        return _count(
            client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi")
        )

    async def arun() -> int:
        stream = await client.aio.models.generate_content_stream(
            model="gemini-2.0-flash", contents="hi"
        )
        return await _acount(stream)

    return run, arun


OPENAI_PEERS = (
    Peer("official-genai-openai", "opentelemetry-instrumentation-genai-openai", pre=True),
    Peer("openllmetry", "opentelemetry-instrumentation-openai"),
    Peer("openinference", "openinference-instrumentation-openai"),
)
CASES = {
    "responses": Case(
        "responses", "openai", responses_stream, responses_consumers, OPENAI_PEERS, ("openai",)
    ),
    "chat_completions": Case(
        "chat_completions", "openai", chat_stream, chat_consumers, OPENAI_PEERS, ("openai",)
    ),
    "anthropic_messages": Case(
        "anthropic_messages",
        "anthropic",
        anthropic_stream,
        anthropic_consumers,
        (
            Peer(
                "official-genai-anthropic",
                "opentelemetry-instrumentation-genai-anthropic",
                pre=True,
            ),
            Peer("openllmetry", "opentelemetry-instrumentation-anthropic"),
            Peer("openinference", "openinference-instrumentation-anthropic"),
        ),
        ("anthropic",),
    ),
    "gemini": Case(
        "gemini",
        "google-genai",
        gemini_stream,
        gemini_consumers,
        (Peer("official-google-genai", "opentelemetry-instrumentation-google-genai"),),
        ("google.genai",),
        # The peer (1.3b0) instruments google-genai >= 1.32, < 3 only: a 3.x SDK would make it a
        # no-op, and a free one.
        extra=(Peer("google-genai", "google-genai", spec="google-genai>=1.32,<3"),),
    ),
}


# --- telemetry and the variants -----------------------------------------------------------------
class Telemetry:
    """Real SDK providers with in-memory exporters, set as the global ones (some peers read the
    globals whatever they are given); counts what a variant recorded."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
        # anthropic 2.x traces its own calls whenever a global tracer provider is set: off, so
        # that "bare" is the bare SDK and a variant is measured alone.
        os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)

    def drain(self) -> tuple[int, int]:
        """(spans, span events) recorded since the last drain; metrics are collected and
        dropped so that no run pays for an earlier one's accumulation."""
        spans = self.exporter.get_finished_spans()
        self.exporter.clear()
        self.reader.get_metrics_data()
        return len(spans), sum(len(span.events) for span in spans)


_PATCHABLE = (types.FunctionType, types.BuiltinFunctionType, staticmethod, classmethod, property)


class SdkSnapshot:
    """The functions and methods of the SDK's modules and classes, by identity, so that they can
    be put back if an instrumentor's ``uninstrument()`` leaves some patched.

    Without this, bare and instrumented rounds cannot alternate in one process for every peer:
    OpenLLMetry 0.62's ``uninstrument()`` leaves ``Completions.create`` wrapped (measured: a
    "bare" round after it still produces its span, and instrumenting again wraps twice). Only
    attributes that existed before and were functions/descriptors are compared, so modules the
    instrumentor imports later and pydantic's lazily built schemas are left alone.
    """

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self.saved: dict[tuple[Any, str], Any] = {}
        for module in self._modules():
            for name, value in list(vars(module).items()):
                if isinstance(value, type) and value.__module__ == module.__name__:
                    for attr, member in list(vars(value).items()):
                        if self._patchable(attr, member):
                            self.saved[(value, attr)] = member
                elif self._patchable(name, value):
                    self.saved[(module, name)] = value

    def _modules(self) -> list[Any]:
        return [
            module
            for name, module in list(sys.modules.items())
            if module is not None
            and any(name == p or name.startswith(p + ".") for p in self.prefixes)
        ]

    @staticmethod
    def _patchable(name: str, value: Any) -> bool:
        if name.startswith("__"):
            return False
        # By type only: the SDK has lazy proxies (openai's numpy proxy) that import on any
        # attribute access, even ``__class__``.
        kind = type(value)
        return issubclass(kind, _PATCHABLE) or hasattr(kind, "__wrapped__")

    def restore(self) -> list[str]:
        """Put back what differs; the qualified names of what had to be."""
        restored = []
        for (owner, name), value in self.saved.items():
            if vars(owner).get(name) is not value:
                setattr(owner, name, value)
                where = owner.__qualname__ if isinstance(owner, type) else owner.__name__
                restored.append(f"{getattr(owner, '__module__', '')}:{where}.{name}")
        return restored


class _Ours:
    """otel-responses as an app turns it on: the package's one-line ``instrument()``, whatever
    SDKs it covers."""

    def instrument(self, **providers: Any) -> None:
        import otel_responses

        otel_responses.instrument(**providers)

    def uninstrument(self) -> None:
        import otel_responses

        otel_responses.uninstrument()


class Variant:
    """otel-responses or one peer, switched on and off in this process.

    ``off()`` calls the instrumentors' ``uninstrument()`` and then puts back, from a snapshot
    taken before the first ``on()``, any SDK function it left patched; ``leftovers`` names them
    (reported: it is a fact about the peer)."""

    def __init__(self, name: str, case: Case, telemetry: Telemetry) -> None:
        self.name = name
        self.telemetry = telemetry
        self.instrumentors: list[Any] = []
        self.snapshot: SdkSnapshot | None = None
        self.modules = case.modules
        self.leftovers: set[str] = set()
        if name == OURS:
            self.dist = "otel-responses"
            self.instrumentors = [_Ours()]
            return
        peer = next((p for p in case.peers if p.name == name), None)
        if peer is None:
            raise SystemExit(f"{name}: not a peer of {case.dialect}")
        self.dist = peer.dist
        self.instrumentors = [
            e.load()()
            for e in md.entry_points(group="opentelemetry_instrumentor")
            if e.dist is not None and _norm(e.dist.name) == peer.dist
        ]
        if not self.instrumentors:
            raise SystemExit(f"{peer.dist}: no opentelemetry_instrumentor entry point")

    @property
    def version(self) -> str:
        return md.version(self.dist)

    def on(self) -> None:
        if self.snapshot is None:
            self.snapshot = SdkSnapshot((*self.modules, "httpx", "httpx2"))
        for instrumentor in self.instrumentors:
            instrumentor.instrument(
                tracer_provider=self.telemetry.tracer_provider,
                meter_provider=self.telemetry.meter_provider,
            )

    def off(self) -> None:
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        if self.snapshot is not None:
            self.leftovers.update(self.snapshot.restore())


def _norm(dist: str) -> str:
    return dist.lower().replace("_", "-")


def versions(case: Case) -> str:
    """The SDK and OpenTelemetry versions a figure was taken with."""
    return (
        f"{case.sdk} {md.version(case.sdk)}, opentelemetry-sdk {md.version('opentelemetry-sdk')}, "
        f"Python {sys.version.split()[0]}"
    )
