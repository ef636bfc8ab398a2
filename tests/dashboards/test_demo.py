"""examples/demo.py: the compose stack's traffic generator."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo.py"


def _demo_module() -> Any:
    spec = importlib.util.spec_from_file_location("otel_responses_demo", DEMO)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_every_ending_the_dashboards_show() -> None:
    demo_mod = _demo_module()
    reader = InMemoryMetricReader()
    demo = demo_mod.Demo(
        TracerProvider(), MeterProvider(metric_readers=[reader]), speed=1000, seed=7
    )
    assert demo.seed is not None, "examples/ must ship the rate-limited seed transcript"
    assert demo.errors, "examples/ must ship *.http.json transcripts"
    text = next(t for t in demo.streams if t.name == "otel-contrib__text_stream.sse")
    assert demo.play(text) == "completed"
    assert demo.play(text, cut=0.5) == "truncated"
    assert demo.play(text, cut=0.5, ending="cancel") == "cancelled"
    assert demo.play(text, cut=0.5, ending="abandon") == "abandoned"
    assert demo.play(text, cut=0.5, ending="fail") == "transport_error"
    assert demo.play(demo.seed) == "failed"
    headers, body = demo_mod.rate_limit_429("gpt-4o", "RPM")
    demo.http_error(429, headers, body, "gpt-4o")
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        m.name: [dict(p.attributes or {}) for p in m.data.data_points]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    windows = {
        p.get("otel_responses.rate_limit.window") for p in points["otel_responses.rate_limit.hits"]
    }
    assert {"TPM", "RPM"} <= windows
    assert "otel_responses.rate_limit.retry_after" in points
    assert "otel_responses.rate_limit.remaining_tokens" in points


def test_incident_window_and_mix() -> None:
    demo_mod = _demo_module()
    demo = demo_mod.Demo(
        TracerProvider(), MeterProvider(), speed=1000, cycle_s=100, incident=(0, 100), seed=3
    )
    assert demo.in_incident()
    for _ in range(150):
        demo.step()
    assert demo.outcomes["failed"] + demo.outcomes["error"] > 0.15 * 150
    assert demo.outcomes["truncated"] > 0
    assert demo.outcomes["completed"] > 0.3 * 150


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[dict[str, list[bytes]]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_main_exports_all_three_signals_over_otlp() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            **os.environ,
            "OTEL_SERVICE_NAME": "demo-under-test",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "DEMO_DURATION_S": "3",
            "DEMO_SPEED": "20",
            "DEMO_CYCLE_S": "60",
            "DEMO_INCIDENT_S": "0-30",
            "PYTHONPATH": str(ROOT),
        }
        proc = subprocess.run(
            [sys.executable, str(DEMO)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    got = _Receiver.received
    assert set(got) >= {"/v1/traces", "/v1/metrics", "/v1/logs"}, set(got)

    metrics = ExportMetricsServiceRequest()
    names = set()
    services = set()
    for body in got["/v1/metrics"]:
        metrics.ParseFromString(body)
        for rm in metrics.resource_metrics:
            services |= {
                a.value.string_value for a in rm.resource.attributes if a.key == "service.name"
            }
            names |= {m.name for sm in rm.scope_metrics for m in sm.metrics}
    assert services == {"demo-under-test"}
    assert {
        "otel_responses.streams",
        "otel_responses.rate_limit.hits",
        "gen_ai.client.operation.duration",
    } <= names

    spans = ExportTraceServiceRequest()
    outcomes = set()
    for body in got["/v1/traces"]:
        spans.ParseFromString(body)
        for rs in spans.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    outcomes |= {
                        a.value.string_value
                        for a in span.attributes
                        if a.key == "otel_responses.stream.outcome"
                    }
    assert {"completed", "failed"} <= outcomes, outcomes

    logs = ExportLogsServiceRequest()
    bodies = set()
    linked = 0
    for body in got["/v1/logs"]:
        logs.ParseFromString(body)
        for rl in logs.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    bodies.add(record.body.string_value)
                    linked += len(record.trace_id) == 16
    assert "otel_responses.stream.failure" in bodies and "otel_responses.stream.end" in bodies
    assert "otel_responses.stream.start" not in bodies  # debug events are filtered
    assert linked, "log records must carry their stream's trace id"
