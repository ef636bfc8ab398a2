"""The app's stream throughput and latency with the OTLP collector down or slow.

    python benchmarks/bench_collector_down.py [--streams 400] [--rounds 5] [--transcript F]

Scenarios (each over OTLP/gRPC and OTLP/HTTP, spans + metrics + logs, BatchSpanProcessor and
BatchLogRecordProcessor with max_queue_size=2048, exporter timeout 2 s):
  bare        no instrumentation: the app only parses the stream (openai's SSE decoder)
  ok          a loopback OTLP receiver that answers at once
  refused     nothing listens on the port
  black_hole  the port accepts and never answers
  unavailable 503 (HTTP) / UNAVAILABLE (gRPC)

The app reads each stream chunk by chunk through openai's SSE decoder and json-parses each
event (the least any app does; the openai SDK's pydantic parsing costs ~60 us more per event),
while the hook is fed the same chunks, as the httpx instrumentation does. Reported per scenario:
streams/s and per-stream latency (median, p99) of the app's read loop; scenarios take turns per
round, and each one's best round is kept (the least disturbed by the rest of the machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
from openai._streaming import SSEDecoder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_responses import OTelLogProcessor, ResponseStreamHook  # noqa: E402
from tests.otlp_receiver import GrpcReceiver, HttpReceiver, collector, otlp_exporters  # noqa: E402

BODY = (ROOT / "tests" / "fixtures" / "otel-contrib__text_stream.sse").read_bytes()
# --transcript replaces BODY: a longer stream shows the per-stream cost against real work.
CHUNK = 256


Providers = tuple["TracerProvider", "MeterProvider", "LoggerProvider"]


def pipeline(protocol: str, port: int) -> Providers:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    spans, metrics, logs = otlp_exporters(protocol, port, timeout=2)
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans, max_queue_size=2048))
    meter_provider = MeterProvider(
        metric_readers=[
            PeriodicExportingMetricReader(
                metrics,
                export_interval_millis=1000,
                export_timeout_millis=2000,
            )
        ],
        shutdown_on_exit=False,
    )
    logger_provider = LoggerProvider(shutdown_on_exit=False)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs, max_queue_size=2048))
    return tracer_provider, meter_provider, logger_provider


def run(n: int, providers: Providers | None) -> list[float]:
    latencies = []
    chunks = [BODY[i : i + CHUNK] for i in range(0, len(BODY), CHUNK)]
    for _ in range(n):
        start = time.perf_counter()
        hook = (
            ResponseStreamHook(
                model="gpt-4o", tracer_provider=providers[0], meter_provider=providers[1]
            )
            if providers
            else None
        )

        def source(hook: ResponseStreamHook | None = hook) -> Iterator[bytes]:
            for chunk in chunks:
                if hook is not None:
                    hook.feed(chunk)
                yield chunk

        for event in SSEDecoder().iter_bytes(source()):
            json.loads(event.data)  # the least an app does with an event
        if hook is not None:
            hook.end()
        latencies.append(time.perf_counter() - start)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--transcript", type=Path, help="SSE file to stream (default: a short one)")
    args = parser.parse_args()
    if args.transcript is not None:
        global BODY
        BODY = args.transcript.read_bytes()
    scenarios = ["bare"] + [
        f"{kind}/{protocol}"
        for protocol in ("grpc", "http")
        for kind in ("ok", "refused", "black_hole", "unavailable")
    ]
    best: dict[str, list[float]] = {}
    with ExitStack() as stack:
        setups: dict[str, Providers | None] = {"bare": None}
        for name in scenarios[1:]:
            kind, protocol = name.split("/")
            if kind == "ok":
                receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
                stack.enter_context(receiver)
                port = receiver.port
            else:
                port = stack.enter_context(collector(kind, protocol))
            providers = pipeline(protocol, port)
            setups[name] = providers
        ok_http = setups["ok/http"]
        assert ok_http is not None
        structlog.configure(
            processors=[OTelLogProcessor(ok_http[2]), lambda lg, m, e: ""],
            logger_factory=structlog.ReturnLoggerFactory(),
        )
        for name in scenarios:  # warm-up
            run(50, setups[name])
        for _ in range(args.rounds):
            for name in scenarios:
                lat = run(args.streams, setups[name])
                if name not in best or sum(lat) < sum(best[name]):
                    best[name] = lat
        base = sum(best["bare"]) / len(best["bare"])
        print(f"{len(BODY)} B stream in {CHUNK} B chunks, {args.streams} streams x {args.rounds}")
        print(f"{'scenario':24} {'streams/s':>10} {'median ms':>10} {'p99 ms':>8} {'vs bare':>8}")
        for name in scenarios:
            lat = sorted(best[name])
            mean = sum(lat) / len(lat)
            print(
                f"{name:24} {1 / mean:10.0f} {statistics.median(lat) * 1e3:10.3f} "
                f"{lat[int(len(lat) * 0.99)] * 1e3:8.3f} {mean / base - 1:+8.1%}"
            )
        ok = {p: sum(best[f"ok/{p}"]) / len(best[f"ok/{p}"]) for p in ("grpc", "http")}
        print("\ncollector down vs collector up (same protocol):")
        for name in scenarios[1:]:
            kind, protocol = name.split("/")
            if kind != "ok":
                mean = sum(best[name]) / len(best[name])
                print(f"  {name:24} {mean / ok[protocol] - 1:+6.1%}")
        started = time.monotonic()
        for setup in setups.values():
            if setup:
                for provider in setup:
                    provider.shutdown()
        print(f"\nshutdown of all 8 pipelines: {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
