"""Collector down or slow: bounded queues, prompt exit, export resumes when it comes back.

Collectors simulated on 127.0.0.1: a refused port, a black hole (accepts, never answers) and a
collector answering 503 (HTTP) / UNAVAILABLE (gRPC). For each, over OTLP/gRPC and OTLP/HTTP, a
child process runs 3,000 streams through the hook with spans, metrics and logs exported in the
background; over the last 2,000 its allocated memory blocks must not grow (spans and log records
are dropped beyond the SDK's bounded queues, and the SDK must report the drop), which a control
run with queues too large to fill shows the measurement would catch. The exit must be
prompt (a generous liveness bound, not a performance figure; throughput and latency are measured
in ``benchmarks/bench_collector_down.py``). Then, in process, a real loopback OTLP receiver is
started on the port the exporters were pointed at while it was down: export resumes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_responses import ResponseStreamHook
from otel_responses import _registry as names
from tests.otlp_receiver import HttpReceiver, collector, free_port, otlp_exporters

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
TEXT = FIXTURES / "otel-contrib__text_stream.sse"
EXIT_BOUND_S = 30.0  # liveness: the child's exporters time out after 2 s per signal

# --- the app, in a child process ------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import gc, logging, sys, time, structlog
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_responses import OTelLogProcessor, ResponseStreamHook

    protocol, port, body_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, sys.argv[4])
    QUEUE = int(sys.argv[5])
    WARM, STREAMS = 1000, 2000
    from tests.otlp_receiver import otlp_exporters
    spans, metrics, logs = otlp_exporters(protocol, port, timeout=2)
    bsp = BatchSpanProcessor(
        spans,
        max_queue_size=QUEUE, max_export_batch_size=min(QUEUE, 64),
        schedule_delay_millis=200, export_timeout_millis=2000,
    )
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(bsp)
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        metrics,
        export_interval_millis=300, export_timeout_millis=2000,
    )])
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        logs,
        max_queue_size=QUEUE, max_export_batch_size=min(QUEUE, 64),
        schedule_delay_millis=200, export_timeout_millis=2000,
    ))
    structlog.configure(
        processors=[OTelLogProcessor(logger_provider), lambda l, m, e: ""],
        logger_factory=structlog.ReturnLoggerFactory(),
    )

    class Dropped(logging.Handler):
        # Counts the SDK's "Queue full, dropping ..." warnings: loss is reported, not hidden.
        count = 0
        def emit(self, record):
            if record.getMessage().startswith("Queue full"):
                Dropped.count += 1
    logging.getLogger("opentelemetry").addHandler(Dropped())

    body = open(body_path, "rb").read()
    def streams(n):
        for i in range(n):
            hook = ResponseStreamHook(
                model="gpt-4o", tracer_provider=tracer_provider, meter_provider=meter_provider
            )
            for start in range(0, len(body), 4096):
                hook.feed(body[start:start + 4096])
            hook.end()
    streams(WARM)
    gc.collect()
    before = sys.getallocatedblocks()
    streams(STREAMS)
    gc.collect()
    growth = sys.getallocatedblocks() - before
    print("streams done, drop warnings", Dropped.count, "block growth", growth, flush=True)
    # Exit without an explicit shutdown: the providers' atexit hooks flush, bounded by timeouts.
    """
)


QUEUE = 128
LEAK_LIMIT = 20_000
"""Allowed growth of allocated blocks over the 2,000 measured streams. Measured with the queues
bounded at 128: -4,881 to +3,504 in the six scenarios; with an unbounded queue against a black
hole: about +290,000 (each retained span and log record is ~150 blocks)."""


def _run_child(kind: str, protocol: str, queue: int, script: Path) -> tuple[str, float, Any]:
    """Run the app against a dead collector: its report line, the seconds from that line to its
    exit (``inf`` if it was killed after the line), and the finished process."""
    with collector(kind, protocol) as port:
        child = subprocess.Popen(
            [sys.executable, str(script), protocol, str(port), str(TEXT), str(ROOT), str(queue)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        exit_s = float("inf")
        try:
            line = child.stdout.readline()  # type: ignore[union-attr]
            done = time.monotonic()
            assert line.startswith("streams done"), child.stderr.read()  # type: ignore[union-attr]
            if queue == QUEUE:
                child.wait(timeout=120)
                exit_s = time.monotonic() - done
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return line, exit_s, child


def _report(line: str) -> tuple[int, int]:
    """``(drop warnings, block growth)`` from the child's report line."""
    words = line.split()
    return int(words[words.index("warnings") + 1]), int(words[-1])


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("kind", ["refused", "black_hole", "unavailable"])
def test_app_memory_stays_bounded_and_it_exits_promptly(
    kind: str, protocol: str, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(CHILD)
    line, exit_s, child = _run_child(kind, protocol, QUEUE, script)
    assert child.returncode == 0, child.stderr.read()
    dropped, growth = _report(line)
    # Nothing reaches the collector, so the app's memory is what would grow: spans and log
    # records are dropped beyond the queues instead, and the SDK says so.
    assert growth < LEAK_LIMIT, f"{growth} blocks more after 2,000 streams with the collector down"
    assert dropped >= 1, "spans were dropped silently"
    assert exit_s < EXIT_BOUND_S, f"exit took {exit_s:.1f}s after the streams"


def test_the_memory_check_sees_an_unbounded_queue(tmp_path: Path) -> None:
    """The same app with queues too large to fill (1,000,000) against a black hole: everything
    is retained, and the measurement above must see it (otherwise it could not fail)."""
    script = tmp_path / "app.py"
    script.write_text(CHILD)
    line, _, _ = _run_child("black_hole", "http", 1_000_000, script)
    dropped, growth = _report(line)
    assert dropped == 0
    assert growth > 5 * LEAK_LIMIT, growth


# --- the collector comes back ---------------------------------------------------------------


class _Counting:
    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.metric_names: set[str] = set()
        self.lock = threading.Lock()


@contextmanager
def grpc_receiver_on(port: int) -> Iterator[_Counting]:
    got = _Counting()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            with got.lock:
                got.spans += [s for rs in request.resource_spans for ss in rs.scope_spans
                              for s in ss.spans]  # fmt: skip
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            with got.lock:
                got.metric_names |= {m.name for rm in request.resource_metrics
                                     for sm in rm.scope_metrics for m in sm.metrics}  # fmt: skip
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_traces: Callable[..., Any] = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
    add_metrics: Callable[..., Any] = metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server
    add_traces(Traces(), server)
    add_metrics(Metrics(), server)
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    server.start()
    try:
        yield got
    finally:
        server.stop(grace=None)


def _pipeline(protocol: str, port: int) -> tuple[TracerProvider, MeterProvider]:
    spans, metrics, _logs = otlp_exporters(protocol, port, timeout=2)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            spans, max_queue_size=256, max_export_batch_size=64, schedule_delay_millis=100
        )
    )
    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)
    return tracer_provider, MeterProvider(metric_readers=[reader])


def _streams(tracer_provider: TracerProvider, meter_provider: MeterProvider, model: str) -> None:
    body = TEXT.read_bytes()
    for _ in range(20):
        hook = ResponseStreamHook(
            model=model, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        hook.feed(body)
        hook.end()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_export_resumes_when_the_collector_comes_back(protocol: str) -> None:
    port = free_port()
    tracer_provider, meter_provider = _pipeline(protocol, port)
    try:
        _streams(tracer_provider, meter_provider, "while-down")
        tracer_provider.force_flush(5_000)  # fails: nothing listens
        meter_provider.force_flush(5_000)
        receiver_cm = grpc_receiver_on(port) if protocol == "grpc" else _http_receiver_on(port)
        with receiver_cm as got:
            # Batches exported before the exporter's channel reconnects are dropped after its
            # timeout (the SDK's design: loss bounded by the queue). Keep streaming until a span
            # gets through, then every span of the next streams must arrive.
            deadline = time.monotonic() + 60
            resumed = False
            while not resumed and time.monotonic() < deadline:
                _streams(tracer_provider, meter_provider, "after-up")
                tracer_provider.force_flush(5_000)
                with got.lock:
                    resumed = any(s.name == "chat after-up" for s in got.spans)
            assert resumed, "export resumed within 60 s of the collector coming back"
            _streams(tracer_provider, meter_provider, "steady")
            assert tracer_provider.force_flush(10_000)
            assert meter_provider.force_flush(10_000)
            with got.lock:
                steady = [s for s in got.spans if s.name == "chat steady"]
                metric_names = set(got.metric_names)
        assert len(steady) == 20, "once resumed, every span is exported"
        assert names.STREAMS in metric_names
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


@contextmanager
def _http_receiver_on(port: int) -> Iterator[Any]:
    """The shared loopback OTLP/HTTP receiver, bound to the port the exporters already use."""
    receiver = HttpReceiver()
    handler = receiver._server.RequestHandlerClass
    receiver._server.server_close()
    receiver._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    receiver._thread = threading.Thread(target=receiver._server.serve_forever, daemon=True)
    with receiver:
        yield _LiveCounting(receiver)


class _LiveCounting:
    def __init__(self, receiver: HttpReceiver) -> None:
        self._received = receiver.received
        self.lock = receiver.received.lock

    @property
    def spans(self) -> list[Any]:
        return [s for req in self._received.requests["traces"] for rs in req.resource_spans
                for ss in rs.scope_spans for s in ss.spans]  # fmt: skip

    @property
    def metric_names(self) -> set[str]:
        return {m.name for req in self._received.requests["metrics"]
                for rm in req.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics}  # fmt: skip


def test_http_collector_answering_503_then_200_resumes() -> None:
    with HttpReceiver(status=503) as receiver:
        tracer_provider, meter_provider = _pipeline("http", receiver.port)
        try:
            _streams(tracer_provider, meter_provider, "while-503")
            tracer_provider.force_flush(5_000)
            assert receiver.received.spans() == []
            receiver.status = 200
            _streams(tracer_provider, meter_provider, "after-200")
            assert tracer_provider.force_flush(10_000)
            assert meter_provider.force_flush(10_000)
        finally:
            tracer_provider.shutdown()
            meter_provider.shutdown()
    after = [s for s in receiver.received.spans() if s.name == "chat after-200"]
    assert len(after) == 20
    assert names.STREAMS in {m.name for m in receiver.received.metrics()}
