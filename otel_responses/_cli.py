"""``otel-responses``: replay recorded streams; print or check the telemetry registry.

With no ``OTEL_EXPORTER_OTLP_*ENDPOINT`` set, ``replay`` keeps the telemetry in memory and prints
what it says (the embedded default: no services needed). With one set, it exports spans, metrics
and logs over OTLP, set up by ``otel_responses.configure()`` from the standard ``OTEL_*``
variables, and prints one line a stream. If the export fails (nothing listening, no answer, an
error status), it says so in one line on stderr, naming where it was going, and exits with
status 1 after at most ``OTEL_RESPONSES_EXIT_TIMEOUT`` seconds (default 2) of flushing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._configure import Configured, configure
from ._registry_markdown import render_markdown
from ._replay import replay
from ._summary import format_metrics, format_span
from .dialects import DIALECTS

_TRANSCRIPT_SUFFIXES = (".sse", ".http.json")
_SERVICE_NAME = "otel-responses-replay"


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


def _export_setup() -> Configured:
    """The OTLP set-up: ``configure()``, the one set-up path of apps, the demo and the proxy.
    Not global and not instrumenting (a command, not an app); every log event is exported."""
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return configure(
        service_name=None if named else _SERVICE_NAME,
        instrument=False,
        set_global=False,
        log_level=logging.DEBUG,
    )


def _replay_command(args: argparse.Namespace) -> int:
    paths = _expand(args.paths)
    if not paths:
        print("otel-responses: error: no transcripts given", file=sys.stderr)
        return 2
    export = _otlp_configured()
    span_exporter = InMemorySpanExporter()
    metric_reader = InMemoryMetricReader()
    captured: list[MutableMapping[str, Any]] = []
    handle: Configured | None = None
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    if export:
        handle = _export_setup()
        tracer_provider, meter_provider = handle.tracer_provider, handle.meter_provider
    else:
        named = os.environ.get("OTEL_SERVICE_NAME")
        resource = Resource.create({} if named else {SERVICE_NAME: _SERVICE_NAME})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        meter_provider = MeterProvider(metric_readers=[metric_reader], resource=resource)

        def collect(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
            captured.append(dict(event_dict))
            raise structlog.DropEvent

        structlog.configure(processors=[structlog.processors.add_log_level, collect])
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
                    dialect=args.dialect,
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
        if handle is None:
            tracer_provider.shutdown()
            meter_provider.shutdown()
        elif not handle.shutdown(report=False):
            print(f"otel-responses: error: export failed: {handle.dropped}", file=sys.stderr)
            status = status or 1
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
        "--dialect",
        choices=sorted(DIALECTS),
        default=None,
        help="the streams' dialect (default: detected from each transcript's content)",
    )
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
