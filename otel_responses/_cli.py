"""``otel-responses``: replay recorded streams; print or check the telemetry registry.

With no ``OTEL_EXPORTER_OTLP_*ENDPOINT`` set, ``replay`` keeps the telemetry in memory and prints
what it says (the embedded default: no services needed). With one set, it exports spans, metrics
and logs over OTLP, honouring the standard ``OTEL_*`` variables, and prints one line a stream.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._logging import OTelLogProcessor
from ._registry import render_markdown
from ._replay import replay
from ._summary import format_metrics, format_span

_TRANSCRIPT_SUFFIXES = (".sse", ".http.json")
_FLUSH_TIMEOUT_MS = 10_000


def _expand(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.name.endswith(_TRANSCRIPT_SUFFIXES))
        else:
            out.append(path)
    return out


def _otlp_configured() -> bool:
    return any(
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}ENDPOINT")
        for signal in ("", "TRACES_", "METRICS_", "LOGS_")
    )


def _protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _otlp_exporters() -> tuple[SpanExporter, MetricExporter, LogRecordExporter]:
    """OTLP span, metric and log exporters, each over the protocol its variables ask for;
    endpoints, headers, timeouts and compression come from the standard ``OTEL_*`` variables."""
    from opentelemetry.exporter.otlp.proto.grpc import _log_exporter as grpc_logs
    from opentelemetry.exporter.otlp.proto.grpc import metric_exporter as grpc_metrics
    from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_traces
    from opentelemetry.exporter.otlp.proto.http import _log_exporter as http_logs
    from opentelemetry.exporter.otlp.proto.http import metric_exporter as http_metrics
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_traces

    grpc = {signal: _protocol(signal) == "grpc" for signal in ("TRACES", "METRICS", "LOGS")}
    return (
        grpc_traces.OTLPSpanExporter() if grpc["TRACES"] else http_traces.OTLPSpanExporter(),
        grpc_metrics.OTLPMetricExporter() if grpc["METRICS"] else http_metrics.OTLPMetricExporter(),
        grpc_logs.OTLPLogExporter() if grpc["LOGS"] else http_logs.OTLPLogExporter(),
    )


def _resource() -> Resource:
    default = (
        {SERVICE_NAME: "otel-responses-replay"} if not os.environ.get("OTEL_SERVICE_NAME") else {}
    )
    return Resource.create(default)


Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]


def _replay_command(args: argparse.Namespace) -> int:
    paths = _expand(args.paths)
    if not paths:
        print("otel-responses: error: no transcripts given", file=sys.stderr)
        return 2
    export = _otlp_configured()
    resource = _resource()
    span_exporter = InMemorySpanExporter()
    metric_reader: Any
    log_processors: list[Processor] = [structlog.processors.add_log_level]
    logger_provider: LoggerProvider | None = None
    captured: list[MutableMapping[str, Any]] = []
    tracer_provider = TracerProvider(resource=resource)
    if export:
        otlp_spans, otlp_metrics, otlp_logs = _otlp_exporters()
        tracer_provider.add_span_processor(BatchSpanProcessor(otlp_spans))
        metric_reader = PeriodicExportingMetricReader(otlp_metrics)
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(otlp_logs))
        log_processors.append(OTelLogProcessor(logger_provider))
        log_processors.append(structlog.processors.KeyValueRenderer(key_order=["event"]))
        structlog.configure(
            processors=log_processors, logger_factory=structlog.PrintLoggerFactory(sys.stderr)
        )
    else:
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        metric_reader = InMemoryMetricReader()

        def collect(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
            captured.append(dict(event_dict))
            raise structlog.DropEvent

        log_processors.append(collect)
        structlog.configure(processors=log_processors)
    meter_provider = MeterProvider(metric_readers=[metric_reader], resource=resource)
    status = 0
    try:
        for path in paths:
            try:
                result = replay(
                    path,
                    tracer_provider=tracer_provider,
                    meter_provider=meter_provider,
                    model=args.model,
                    chunk_size=args.chunk_size,
                )
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                print(f"otel-responses: error: cannot read {path}: {reason}", file=sys.stderr)
                status = 2
                continue
            if export:
                print(
                    f"{result.source}: outcome={result.outcome} "
                    f"error.type={result.error_type or '-'} trace_id={result.trace_id}"
                )
                continue
            spans = span_exporter.get_finished_spans()
            span_exporter.clear()
            logs = [entry for entry in captured if entry.get("trace_id") == result.trace_id]
            captured.clear()
            print(f"== {result.source}")
            for span in spans:
                print(format_span(span, logs))
            print()
        if not export:
            print(format_metrics(metric_reader.get_metrics_data()))
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown(timeout_millis=_FLUSH_TIMEOUT_MS)
        if logger_provider is not None:
            logger_provider.shutdown()
        structlog.reset_defaults()
    return status


def _registry_command(args: argparse.Namespace) -> int:
    text = render_markdown()
    if args.check is None:
        sys.stdout.write(text)
        return 0
    try:
        current = Path(args.check).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"otel-responses: error: cannot read {args.check}: {exc.strerror}", file=sys.stderr)
        return 2
    if current != text:
        print(
            f"otel-responses: {args.check} is out of date; regenerate it with "
            f"`otel-responses registry > {args.check}`",
            file=sys.stderr,
        )
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-responses", description="OpenTelemetry for streamed LLM responses."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rp = commands.add_parser(
        "replay",
        help="replay recorded SSE transcripts through the hook",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a .sse or .http.json transcript, or a folder of them",
    )
    rp.add_argument("--model", help="request model to record (default: the transcript's)")
    rp.add_argument(
        "--chunk-size", type=int, default=None, help="feed the body in chunks of this many bytes"
    )
    rp.set_defaults(run=_replay_command)
    reg = commands.add_parser("registry", help="print docs/telemetry.md from the code")
    reg.add_argument("--check", metavar="FILE", help="fail if FILE differs from the registry")
    reg.set_defaults(run=_registry_command)
    from .proxy._command import add_parser as add_proxy_parser

    add_proxy_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "chunk_size", None) is not None and args.chunk_size <= 0:
        print("otel-responses: error: --chunk-size must be positive", file=sys.stderr)
        return 2
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
