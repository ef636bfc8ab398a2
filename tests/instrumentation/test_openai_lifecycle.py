"""Instrument / uninstrument, the ``opentelemetry-instrument`` entry point, suppression, and
1,000 streams broken off and dropped: every span ended, nothing retained."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import openai
from openai._base_client import AsyncAPIClient, SyncAPIClient
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import SpanProcessor

from otel_responses import OpenAIResponsesInstrumentor, instrument, uninstrument
from otel_responses.instrumentation.package import _instruments
from tests.support import Server, Telemetry, attributes, client, only_span, sse, text_stream

PATCHED = [(SyncAPIClient, "request"), (SyncAPIClient, "_send_request"),
           (AsyncAPIClient, "request"), (AsyncAPIClient, "_send_request"),
           (openai.Stream, "__init__"), (openai.AsyncStream, "__init__")]  # fmt: skip


def test_uninstrument_restores_the_sdk_exactly(telemetry: Telemetry) -> None:
    before = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    instrument(tracer_provider=telemetry.tracer_provider)  # a second call changes nothing
    try:
        for (cls, name), original in before.items():
            assert cls.__dict__[name] is not original
            assert cls.__dict__[name].__wrapped__ is original
        list(
            client(Server(sse(text_stream(1)))).responses.create(model="m", input="x", stream=True)
        )
        assert len(telemetry.finished()) == 1
    finally:
        uninstrument()
    for (cls, name), original in before.items():
        assert cls.__dict__[name] is original
    list(client(Server(sse(text_stream(1)))).responses.create(model="m", input="x", stream=True))
    assert len(telemetry.finished()) == 1  # nothing traced after uninstrument
    uninstrument()  # idempotent


def test_instrumentor_api_and_entry_point(telemetry: Telemetry) -> None:
    instrumentor = OpenAIResponsesInstrumentor()
    assert instrumentor is OpenAIResponsesInstrumentor()  # BaseInstrumentor is a singleton
    assert tuple(instrumentor.instrumentation_dependencies()) == _instruments == ("openai >= 1.66",)
    found = [
        e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "openai_responses"
    ]
    assert len(found) == 1 and found[0].load() is OpenAIResponsesInstrumentor
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
        list(
            client(Server(sse(text_stream(2)))).responses.create(model="m", input="x", stream=True)
        )
    finally:
        instrumentor.uninstrument()
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert attributes(only_span(telemetry))["otel_responses.stream.outcome"] == "completed"


def test_suppress_instrumentation(telemetry: Telemetry) -> None:
    instrument(tracer_provider=telemetry.tracer_provider)
    try:
        with suppress_instrumentation():
            list(
                client(Server(sse(text_stream(1)))).responses.create(
                    model="m", input="x", stream=True
                )
            )
    finally:
        uninstrument()
    assert telemetry.finished() == ()


APP = textwrap.dedent(
    """
    import httpx, openai
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    from otel_responses import OpenAIResponsesInstrumentor
    from tests.support import sse, text_stream

    # What a distro would do; the app itself never calls instrument().
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    print("instrumented:", OpenAIResponsesInstrumentor().is_instrumented_by_opentelemetry)
    client = openai.OpenAI(
        api_key="sk-test", base_url="https://api.test/v1", max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(sse(text_stream(3)))),
    )
    print("events:", len(list(client.responses.create(model="gpt-4o", input="hi", stream=True))))
    """
)


def test_opentelemetry_instrument_picks_it_up(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        # Peers (installed by the benchmark, if it ran) register as "openai": keep them out.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
    }
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "opentelemetry-instrument"), sys.executable, str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "instrumented: True" in out
    assert "events: 11" in out
    assert '"name": "chat gpt-4o"' in out
    assert '"otel_responses.stream.outcome": "completed"' in out
    assert '"otel_responses.deltas.count": 3' in out


class _Counting(SpanProcessor):
    def __init__(self) -> None:
        self.started = 0
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1

    def on_end(self, span: Any) -> None:
        self.ended += 1


def test_thousand_streams_broken_off_and_dropped(telemetry: Telemetry) -> None:
    counting = _Counting()
    telemetry.tracer_provider.add_span_processor(counting)
    api = client(sse(text_stream(12))).responses

    def run(n: int) -> None:
        for _ in range(n):
            stream = api.create(model="gpt-4o", input="hi", stream=True)
            for i, _event in enumerate(stream):
                if i == 5:
                    break
            del stream

    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        run(50)  # warm up: caches, instruments, metric streams
        gc.collect()
        telemetry.spans.clear()
        tracemalloc.start()
        try:
            gc.collect()
            start = tracemalloc.get_traced_memory()[0]
            started_before = counting.started
            run(1000)
            gc.collect()
            assert counting.started - started_before == 1000
            assert counting.ended == counting.started  # none left open
            spans = telemetry.finished()
            assert len(spans) == 1000
            outcomes = {attributes(s)["otel_responses.stream.outcome"] for s in spans}
            assert outcomes == {"abandoned"}
            telemetry.spans.clear()
            del spans
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - start
        finally:
            tracemalloc.stop()
    finally:
        uninstrument()
    # A leaked hook, span, observer or finalizer per stream would be >1 KiB each (>1 MiB here).
    assert retained < 256 * 1024, f"{retained} bytes retained after 1,000 dropped streams"
