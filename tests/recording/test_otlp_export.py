"""Spans, metrics and logs of a replayed stream go over the wire to a real OTLP receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_responses import OTelLogProcessor, replay
from tests.otlp_receiver import GrpcReceiver, HttpReceiver, Received, otlp_exporters
from tests.support import FIXTURES

SEED = FIXTURES / "seed__failed-rate-limit.sse"


def _attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = (
            list(v.string_value for v in value.array_value.values)
            if kind == "array_value"
            else getattr(value, kind)
        )
    return out


def _check_seed(received: Received) -> None:
    (span,) = received.spans()
    attrs = _attrs(span.attributes)
    assert span.name == "chat gpt-4o-2024-08-06"
    assert span.kind == 3  # SPAN_KIND_CLIENT
    assert span.status.code == 2  # STATUS_CODE_ERROR
    assert attrs["error.type"] == "rate_limit_exceeded"
    assert attrs["otel_responses.stream.outcome"] == "failed"
    assert attrs["otel_responses.rate_limit.window"] == "TPM"
    assert attrs["otel_responses.rate_limit.limit"] == 1
    assert attrs["otel_responses.rate_limit.requested"] == 30
    assert [e.name for e in span.events] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]
    assert _attrs(span.events[2].attributes)["otel_responses.event.error.code"] == "unknown-error"
    metrics = {m.name: m for m in received.metrics()}
    assert {
        "gen_ai.client.operation.duration",
        "otel_responses.streams",
        "otel_responses.events",
        "otel_responses.rate_limit.hits",
    } <= set(metrics)
    (hit,) = metrics["otel_responses.rate_limit.hits"].sum.data_points
    assert hit.as_int == 1
    assert _attrs(hit.attributes)["otel_responses.rate_limit.window"] == "TPM"
    (duration,) = metrics["gen_ai.client.operation.duration"].histogram.data_points
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    logs = received.logs()
    bodies = [r.body.string_value for r in logs]
    assert bodies == [
        "otel_responses.stream.start",
        "otel_responses.stream.failure",
        "otel_responses.stream.end",
    ]
    for record in logs:  # every log record carries the stream's trace context
        assert record.trace_id == span.trace_id and record.span_id == span.span_id
    failure = _attrs(logs[1].attributes)
    assert failure["error.type"] == "rate_limit_exceeded"
    assert failure["otel_responses.rate_limit.window"] == "TPM"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_export_over_the_wire(protocol: str) -> None:
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    with receiver:
        spans, metrics, logs = otlp_exporters(protocol, receiver.port)
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        meter_provider = MeterProvider(
            metric_readers=[PeriodicExportingMetricReader(metrics, export_interval_millis=60_000)]
        )
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                OTelLogProcessor(logger_provider),
                lambda *_: (_ for _ in ()).throw(structlog.DropEvent),
            ]
        )
        try:
            replay(SEED, tracer_provider=tracer_provider, meter_provider=meter_provider)
        finally:
            structlog.reset_defaults()
        tracer_provider.shutdown()
        meter_provider.shutdown()  # final collection and export
        logger_provider.shutdown()
        _check_seed(receiver.received)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``otel-responses`` as a user would, with no OTEL_* settings but ``env``'s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-m", "otel_responses._cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_cli_exports_when_an_endpoint_is_configured(protocol: str) -> None:
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    with receiver:
        done = _cli(
            "replay",
            str(SEED),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_SERVICE_NAME="cli-test",
        )
        assert done.returncode == 0, done.stderr
        assert "outcome=failed error.type=rate_limit_exceeded" in done.stdout
        _check_seed(receiver.received)
        (request,) = receiver.received.requests["traces"]
        resource = _attrs(request.resource_spans[0].resource.attributes)
        assert resource["service.name"] == "cli-test"


def test_cli_summary_without_endpoint() -> None:
    done = _cli("replay", str(FIXTURES))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("== ") == 24
    assert "outcome=failed  status=ERROR" in out and "error.type=rate_limit_exceeded" in out
    assert "otel_responses.rate_limit.window = TPM" in out
    assert "otel_responses.event.error.code=unknown-error" in out
    assert "metrics (all streams above):" in out and "otel_responses.streams" in out


def test_cli_missing_file_is_one_line_and_nonzero(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sse"
    done = _cli("replay", str(missing), str(SEED))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"otel-responses: error: cannot read {missing}: No such file or directory"
    ]
    assert "Traceback" not in done.stderr
    assert "rate_limit_exceeded" in done.stdout  # the readable file was still replayed


def test_cli_rejects_bad_arguments_without_traceback(tmp_path: Path) -> None:
    done = _cli("replay", "--chunk-size", "0", str(SEED))
    assert done.returncode == 2 and "--chunk-size must be positive" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli("replay", str(empty))
    assert done.returncode == 2 and "no transcripts" in done.stderr
    assert "Traceback" not in done.stderr
