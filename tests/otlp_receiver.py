"""OTLP on loopback, for tests and benchmarks: real receivers — gRPC (grpcio) and HTTP/protobuf
(http.server) — that keep the decoded export requests they received, so a test can check what
went over the wire; and :func:`otlp_exporters`, the SDK's exporters aimed at such a port.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

_REQUESTS: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
_SERVICES = (
    (trace_service_pb2_grpc, "TraceService"),
    (metrics_service_pb2_grpc, "MetricsService"),
    (logs_service_pb2_grpc, "LogsService"),
)
"""The generated gRPC modules and service names of the three signals, in the order traces,
metrics, logs (their servicer classes and ``add_…_to_server`` functions are found by name)."""
_RESPONSES: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}


class Received:
    """Export requests by signal, plus the raw bytes of every request body."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, list[Any]] = {"traces": [], "metrics": [], "logs": []}
        self.raw: list[bytes] = []

    def add(self, signal: str, request: Any, raw: bytes) -> None:
        with self.lock:
            self.requests[signal].append(request)
            self.raw.append(raw)

    def spans(self) -> list[Any]:
        return [
            span
            for req in self.requests["traces"]
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def metrics(self) -> list[Any]:
        return [
            m
            for req in self.requests["metrics"]
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        ]

    def logs(self) -> list[Any]:
        return [
            r
            for req in self.requests["logs"]
            for rl in req.resource_logs
            for sl in rl.scope_logs
            for r in sl.log_records
        ]


class GrpcReceiver:
    """OTLP/gRPC trace, metrics and logs services on 127.0.0.1, on a free port."""

    def __init__(self) -> None:
        self.received = Received()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        received = self.received

        def servicer(base: type, signal: str) -> Any:
            def export(self: Any, request: Any, context: Any) -> Any:
                received.add(signal, request, request.SerializeToString())
                return _RESPONSES[signal]()

            return type(f"{signal}Servicer", (base,), {"Export": export})()

        for (module, service), signal in zip(_SERVICES, ("traces", "metrics", "logs"), strict=True):
            add = getattr(module, f"add_{service}Servicer_to_server")
            add(servicer(getattr(module, f"{service}Servicer"), signal), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


class HttpReceiver:
    """OTLP/HTTP (protobuf) ``/v1/traces``, ``/v1/metrics``, ``/v1/logs`` on 127.0.0.1."""

    def __init__(self, status: int = 200) -> None:
        self.received = Received()
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                signal = self.path.rstrip("/").rsplit("/", 1)[-1]
                if signal in _REQUESTS and receiver.status == 200:
                    request = _REQUESTS[signal]()
                    request.ParseFromString(body)
                    receiver.received.add(signal, request, body)
                    payload = _RESPONSES[signal]().SerializeToString()
                else:
                    payload = b""
                self.send_response(receiver.status if signal in _REQUESTS else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def otlp_exporters(protocol: str, port: int, timeout: float | None = None) -> tuple[Any, Any, Any]:
    """The SDK's OTLP span, metric and log exporters for a collector on 127.0.0.1:``port``,
    over ``grpc`` or ``http`` (protobuf)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import _log_exporter as grpc_logs
        from opentelemetry.exporter.otlp.proto.grpc import metric_exporter as grpc_metrics
        from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_traces

        endpoint = f"127.0.0.1:{port}"
        return (
            grpc_traces.OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=timeout),
            grpc_metrics.OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=timeout),
            grpc_logs.OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=timeout),
        )
    from opentelemetry.exporter.otlp.proto.http import _log_exporter as http_logs
    from opentelemetry.exporter.otlp.proto.http import metric_exporter as http_metrics
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_traces

    base = f"http://127.0.0.1:{port}/v1"
    return (
        http_traces.OTLPSpanExporter(endpoint=f"{base}/traces", timeout=timeout),
        http_metrics.OTLPMetricExporter(endpoint=f"{base}/metrics", timeout=timeout),
        http_logs.OTLPLogExporter(endpoint=f"{base}/logs", timeout=timeout),
    )


# --- collectors that are not there -----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def black_hole(*, accept: bool = True) -> Iterator[int]:
    """Accepts connections and never reads or answers (at most 64, for at most 120 s); with
    ``accept=False`` it only listens: the kernel completes the handshakes (up to the backlog)
    and nothing ever takes them."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    if not accept:
        server.listen(128)
        try:
            yield int(server.getsockname()[1])
        finally:
            server.close()
        return
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline and len(held) < 64:
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def http_503() -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Unavailable:
    def Export(self, request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNAVAILABLE, "collector overloaded")


@contextmanager
def grpc_unavailable() -> Iterator[int]:
    """An OTLP/gRPC collector answering every export with UNAVAILABLE."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for module, service in _SERVICES:
        base = getattr(module, f"{service}Servicer")
        add = getattr(module, f"add_{service}Servicer_to_server")
        add(type(service, (_Unavailable, base), {})(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)


@contextmanager
def collector(kind: str, protocol: str, *, accept: bool = True) -> Iterator[int]:
    """The port of a collector that is not there: ``refused`` (nothing listens), ``black_hole``
    (never answers; ``accept`` as for :func:`black_hole`), or ``unavailable`` (HTTP 503 / gRPC
    UNAVAILABLE for ``protocol``)."""
    if kind == "refused":
        yield free_port()
    elif kind == "black_hole":
        with black_hole(accept=accept) as port:
            yield port
    elif protocol == "http":
        with http_503() as port:
            yield port
    else:
        with grpc_unavailable() as port:
            yield port
