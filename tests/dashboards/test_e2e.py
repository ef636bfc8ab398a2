"""End to end: every PromQL expression of the dashboards and alert rules, run by a real Prometheus.

The library's metrics are exposed by an OTel SDK ``MeterProvider`` with
``opentelemetry-exporter-prometheus`` on a loopback port, in the series names the compose
pipeline (OTLP -> Collector ``prometheus`` exporter -> Prometheus) yields; a real ``prometheus``
binary (Debian package, installed by .ci/run) scrapes it every ``SCRAPE`` seconds with the
project's alert rules loaded. Traffic of all four dialects goes through
``ResponseStreamHook``/``replay``, and Responses streams through the real ``otel-responses
proxy``, in three shapes:

* idle (no stream yet): ``LLMNoStreams`` must return data and be pending;
* healthy (completed and incomplete streams, ample rate-limit headroom): every alert expression
  must return nothing;
* burst (rate-limit failures from the stream and as HTTP 429, error events, transport errors,
  truncated, cancelled and abandoned streams, anomalies, slow first tokens, drained headroom,
  provider-side errors, drained Anthropic input/output headroom, Gemini quota 429s, plus every
  transcript in tests/fixtures under its dialect): every other alert expression, and every
  dashboard expression with its template variables substituted (picked values, "All", each
  provider), must return finite data; the alerts must be pending or firing in Prometheus.

No expression is skipped: the test fails when an alert is not assigned to a traffic shape.

Also proven here: the headroom alerts use remaining/limit where limit gauges exist and the
absolute floor where they do not (a model whose responses carry no x-ratelimit-limit-*); the
application's own structlog processor raising on some stream-end events shows up as
``otel_responses_internal_errors_total{otel_responses_internal_error_site="log"}``; and every
dashboard target with exemplars on gets, from Prometheus' /api/v1/query_exemplars, exemplars
whose trace_id/span_id are the stream spans that recorded them. opentelemetry-exporter-prometheus
drops the SDK's exemplars, so ``_ExemplarCollector`` below puts them back on the bucket samples
(prometheus_client writes them in the OpenMetrics exposition Prometheus asks for), as the
Collector's ``prometheus`` exporter does with ``enable_open_metrics: true``. That stand-in is
the one part of the compose pipeline this test does not run for real.
"""

from __future__ import annotations

import bisect
import importlib.util
import json
import math
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader, _CustomCollector
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.samples import Exemplar

import otel_responses
from otel_responses import _registry as names
from tests.proxy.support import Loop, Stack

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards" / "grafana").glob("*.json"))
ALERTS = ROOT / "dashboards" / "prometheus" / "alerts.yml"
PROMETHEUS_PROCESS = ROOT / "dashboards" / "prometheus_process.py"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

SERVICE = "otel-responses-e2e"  # OTel service.name == Prometheus job, as the Collector maps it
MODEL = "gpt-4o"
RESPONSE_MODEL = "gpt-4o-2024-08-06"
SCRAPE = 2.0  # interval and timeout: a scrape of this traffic takes >1 s on a loaded 2-core machine

# The traffic shape in which each alert must return data; in every other shape it must not.
ALERT_SHAPE = {
    "LLMStreamFailureRatioHigh": "burst",
    "LLMProviderErrorBurst": "burst",
    "LLMRateLimitBurst": "burst",
    "LLMRateLimitTokenHeadroomLow": "burst",
    "LLMRateLimitRequestHeadroomLow": "burst",
    "LLMTimeToFirstTokenP95Regression": "burst",
    "LLMStreamTruncatedOrAbandonedSpike": "burst",
    "LLMNoStreams": "idle",
}
# Real values for Grafana's template variables, as a user would pick them, and "All" (each
# variable's own allValue, as Grafana sends it).
PICKED = {
    "service": SERVICE,
    "provider": "openai",
    "dialect": "responses",
    "model": MODEL,
    "window": "TPM",
}


def _all_values() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in DASHBOARDS:
        for var in json.loads(path.read_text())["templating"]["list"]:
            out[var["name"]] = var["allValue"]
    assert set(out) == set(PICKED), (out, PICKED)
    return out


ALL = _all_values()
# Recorded streams of the other dialects, replayed under their dialect during the burst.
DIALECT_FIXTURES = ("chat_completions", "anthropic_messages", "gemini")
# Anthropic Messages streams with anthropic-ratelimit-* headers, and Gemini streams and quota
# 429s, every tick (a series' first sample is invisible to rate()).
ANTHROPIC_MODEL = "claude-haiku-4-5"
ANTHROPIC_BODY = (
    FIXTURES / "anthropic_messages" / "ruby_llm__claude-haiku-4-5_document_citations.sse"
)
GEMINI_TEXT = FIXTURES / "gemini" / "openinference__gemini-2.0-flash_text.sse"
GEMINI_QUOTA_429 = (
    FIXTURES / "gemini" / "ruby_llm__gemini_http_429_resource_exhausted_quota_retryinfo.http.json"
)


def _anthropic_headers(*, input_left: int, output_left: int) -> dict[str, str]:
    return {
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-requests-remaining": "3990",
        "anthropic-ratelimit-tokens-limit": "480000",
        "anthropic-ratelimit-tokens-remaining": str(input_left + output_left),
        "anthropic-ratelimit-input-tokens-limit": "400000",
        "anthropic-ratelimit-input-tokens-remaining": str(input_left),
        "anthropic-ratelimit-output-tokens-limit": "80000",
        "anthropic-ratelimit-output-tokens-remaining": str(output_left),
        "request-id": "req_e2e_anthropic",
    }


ANTHROPIC_HEALTHY = _anthropic_headers(input_left=390000, output_left=79000)
ANTHROPIC_DRAINED = _anthropic_headers(input_left=4000, output_left=800)  # 1% of each limit
# Panels that only one provider's streams feed: checked at that provider (and at "All").
PROVIDER_ONLY = {
    "otel_responses_rate_limit_remaining_input_tokens": {"provider": "anthropic"},
    "otel_responses_rate_limit_remaining_output_tokens": {"provider": "anthropic"},
    "otel_responses_rate_limit_limit_input_tokens": {"provider": "anthropic"},
    "otel_responses_rate_limit_limit_output_tokens": {"provider": "anthropic"},
    "otel_responses_rate_limit_quota_id": {"provider": "gcp.gemini"},
}


def _promql_regex(value: str) -> str:
    """A picked value as Grafana's Prometheus data source puts it in a regex matcher: regex
    metacharacters escaped, and the backslashes escaped again for the PromQL string."""
    return re.escape(value).replace("\\", "\\\\")


# Streams sent through the real otel-responses proxy (default upstream: a local server that
# replays recorded transcripts) during the burst.
PROXIED = ("otel-contrib__text_stream.sse", "pydantic-ai__web_search_stream.sse")
# Grafana's interval macros. The test's traffic spans ~30 s, so 1m covers all of it.
MACROS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
BURST_TICKS = 8  # x 4 rate-limit hits and 4 provider errors per tick
SLOW_TTFT = 11.0  # above the 10 s ceiling of LLMTimeToFirstTokenP95Regression
# Panels that must show a positive value on burst traffic, not just a finite one.
POSITIVE = {
    "Cached and reasoning tokens / s",
    "Prompt-cache hit share and reasoning share",
    "otel-responses internal errors / s",
}


# ------------------------------------------------------------------ synthesized SSE traffic
def _sse(events: list[dict[str, Any]]) -> bytes:
    out = []
    for seq, event in enumerate(events):
        event = {"type": event["type"], "sequence_number": seq, **event}
        out.append(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
    return "".join(out).encode()


def _response(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_e2e",
        "object": "response",
        "model": RESPONSE_MODEL,
        "status": status,
        **extra,
    }


USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 128},
    "total_tokens": 1500,
}


def _head() -> list[dict[str, Any]]:
    return [
        {"type": "response.created", "response": _response("in_progress")},
        {"type": "response.in_progress", "response": _response("in_progress")},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "msg_1", "type": "message", "status": "in_progress"},
        },
    ]


def _deltas(n: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": f"word{i} ",
        }
        for i in range(n)
    ]


def _tail(terminal: str, **response: Any) -> list[dict[str, Any]]:
    return [
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"id": "msg_1", "type": "message", "status": "completed"},
        },
        {"type": terminal, "response": _response(terminal.split(".")[1], **response)},
    ]


COMPLETED = _sse(_head() + _deltas(12) + _tail("response.completed", usage=USAGE))
INCOMPLETE = _sse(
    _head()
    + _deltas(6)
    + _tail("response.incomplete", usage=USAGE, incomplete_details={"reason": "max_output_tokens"})
)
RATE_LIMITED = _sse(
    [
        *_head()[:2],
        {
            "type": "response.failed",
            "response": _response(
                "failed",
                error={
                    "code": "rate_limit_exceeded",
                    "message": "Rate limit reached for gpt-4o in organization org-e2e on tokens "
                    "per min (TPM): Limit 30000, Used 29950, Requested 750. Please try again in "
                    "1.4s.",
                },
            ),
        },
    ]
)
# The reasoning model whose first tokens slow down during the burst.
SLOW_MODEL = "o4-mini"
COMPLETED_SLOW_MODEL = COMPLETED.replace(RESPONSE_MODEL.encode(), b"o4-mini-2025-04-16")
ERROR_EVENT = _sse(
    _head()
    + _deltas(2)
    + [{"type": "error", "code": "server_error", "message": "The server had an error"}]
)
TRUNCATED = COMPLETED[: COMPLETED.index(b"event: response.output_text.delta") + 200]
ANOMALOUS = (
    COMPLETED[: COMPLETED.index(b"event: response.output_item.done")]
    + b"event: response.output_text.delta\ndata: {not json\n\n"
    + COMPLETED[COMPLETED.index(b"event: response.output_item.done") :]
    + b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":99,"delta":"late"}\n\n'
)
LOW_HEADERS = {  # the shared budget is nearly spent: what successful calls see in a burst
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-remaining-requests": "3",
    "x-ratelimit-limit-tokens": "800000",
    "x-ratelimit-remaining-tokens": "1200",
}
# A deployment whose responses carry remaining but no limit headers (a gateway that forwards
# only some x-ratelimit-* headers): the headroom alerts fall back to absolute floors for it.
NO_LIMIT_MODEL = "gpt-4o-gateway"
NO_LIMIT_HEALTHY = {
    "x-ratelimit-remaining-requests": "900",
    "x-ratelimit-remaining-tokens": "150000",
}
NO_LIMIT_LOW = {"x-ratelimit-remaining-requests": "2", "x-ratelimit-remaining-tokens": "1200"}
HEALTHY_HEADERS = {
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-remaining-requests": "4990",
    "x-ratelimit-limit-tokens": "800000",
    "x-ratelimit-remaining-tokens": "790000",
    "x-ratelimit-reset-requests": "12ms",
    "x-ratelimit-reset-tokens": "1s",
}
DRAINED_HEADERS = {
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-limit-tokens": "800000",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-requests": "6m0s",
    "x-ratelimit-reset-tokens": "20s",
    "retry-after": "20",
    "x-request-id": "req_e2e",
}
BODY_429 = json.dumps(
    {
        "error": {
            "type": "requests",
            "code": "rate_limit_exceeded",
            "param": None,
            "message": "Rate limit reached for gpt-4o in organization org-e2e on requests per min "
            "(RPM): Limit 5000, Used 5000, Requested 1. Please try again in 120ms.",
        }
    }
)


# ------------------------------------------------------------------ the application's side
class _ExemplarCollector(_CustomCollector):
    """opentelemetry-exporter-prometheus' collector plus the SDK's histogram exemplars.

    The exporter (0.66b2) builds bucket samples from each point's counts and drops
    ``point.exemplars``; this puts each exemplar on the bucket sample it fell in, labelled
    ``trace_id``/``span_id`` in hex as the Collector's prometheus exporter labels them.
    prometheus_client writes them only in the OpenMetrics format, which Prometheus asks for.
    """

    def _translate_metric(
        self,
        metric: Any,
        scope_attrs: Any,
        resource_attrs: Any,
        metric_family_id_metric_family: dict[str, Any],
    ) -> None:
        super()._translate_metric(
            metric=metric,
            scope_attrs=scope_attrs,
            resource_attrs=resource_attrs,
            metric_family_id_metric_family=metric_family_id_metric_family,
        )
        if not isinstance(metric.data, HistogramData):
            return
        prefix = self._resolve_metric_name(metric.name) + "|"
        families = [
            f
            for key, f in metric_family_id_metric_family.items()
            if key.startswith(prefix) and key.endswith("|HistogramMetricFamily")
        ]
        assert len(families) == 1, (metric.name, list(metric_family_id_metric_family))
        family = families[0]
        keys, rows, _ = self._collect_data_points(metric.data, scope_attrs, resource_attrs)
        # bucket sample indices by label set, built once: a scan per point is quadratic and,
        # with a few hundred label sets, outlasts the 1 s scrape
        by_labels: dict[frozenset[tuple[str, str]], list[int]] = {}
        for i, sample in enumerate(family.samples):
            if sample.name == family.name + "_bucket":
                key = frozenset((k, v) for k, v in sample.labels.items() if k != "le")
                by_labels.setdefault(key, []).append(i)
        for point, row in zip(metric.data.data_points, rows, strict=True):
            labels = dict(zip(keys, row, strict=True))
            buckets = by_labels.get(frozenset(labels.items()), [])
            assert len(buckets) == len(point.explicit_bounds) + 1, (metric.name, labels)
            for ex in point.exemplars:
                if not ex.trace_id:
                    continue
                i = buckets[bisect.bisect_left(point.explicit_bounds, ex.value)]
                family.samples[i] = family.samples[i]._replace(
                    exemplar=Exemplar(
                        {"trace_id": f"{ex.trace_id:032x}", "span_id": f"{ex.span_id:016x}"},
                        ex.value,
                        ex.time_unix_nano / 1e9,
                    )
                )


class _ExemplarReader(PrometheusMetricReader):
    def __init__(self) -> None:
        super().__init__(registry=CollectorRegistry())  # its own collector is swapped out
        self._collector = _ExemplarCollector()
        self._collector._callback = self.collect  # type: ignore[assignment]  # private slot
        self._registry = REGISTRY
        REGISTRY.register(self._collector)


# The application's structlog set-up: a processor that maps each stream outcome to an alert
# severity and, like real code, forgot some outcomes. It raises KeyError on the stream-end
# events of truncated, abandoned and cancelled streams (burst traffic only), which
# otel-responses counts as internal errors at site "log".
SEVERITY = {
    "completed": "info",
    "incomplete": "info",
    "failed": "error",
    "error": "error",
    "transport_error": "error",
}


def _severity(logger: Any, method: str, event_dict: Any) -> Any:
    outcome = event_dict.get(names.OUTCOME)
    if outcome is not None:
        event_dict["severity"] = SEVERITY[outcome]
    return event_dict


# ------------------------------------------------------------------ processes and HTTP
def _prometheus_process() -> Any:
    """dashboards/prometheus_process.py, the starter measure_alert_timeline.py uses too."""
    spec = importlib.util.spec_from_file_location("prometheus_process", PROMETHEUS_PROCESS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get(base: str, path: str, **params: Any) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 400/422: the body says why (parse errors)
        return json.loads(exc.read())


class Prom:
    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> dict[str, Any]:
        answer: dict[str, Any] = _get(self.base, "/api/v1/query", query=expr)
        return answer

    def series(self, match: str) -> list[dict[str, str]]:
        answer = _get(self.base, "/api/v1/series", **{"match[]": match, "start": time.time() - 600})
        assert answer["status"] == "success", (match, answer)
        data: list[dict[str, str]] = answer["data"]
        return data

    def exemplars(self, expr: str) -> list[dict[str, Any]]:
        now = time.time()
        answer = _get(self.base, "/api/v1/query_exemplars", query=expr, start=now - 600, end=now)
        assert answer["status"] == "success", (expr, answer)
        return answer["data"] or []

    def alerts(self) -> dict[str, str]:
        answer = _get(self.base, "/api/v1/alerts")
        return {a["labels"]["alertname"]: a["state"] for a in answer["data"]["alerts"]}

    def wait_scrapes(self, n: int = 3) -> None:
        """Wait until the target has been scraped ``n`` more times (and rules evaluated)."""
        start = self._scrapes()
        deadline = time.monotonic() + 10 * n * SCRAPE + 10
        while self._scrapes() < start + n:
            assert time.monotonic() < deadline, "Prometheus stopped scraping the exporter"
            time.sleep(0.2)
        time.sleep(1.5 * SCRAPE)  # one more rule evaluation after the last scrape

    def _scrapes(self) -> float:
        answer = self.query(f'count_over_time(up{{job="{SERVICE}"}}[10m])')
        result = answer["data"]["result"] if answer["status"] == "success" else []
        return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Prom, MeterProvider, TracerProvider, InMemorySpanExporter]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "the `prometheus` binary is required (Debian package `prometheus`; .ci/run installs it)"
        )
    # The app side: OTel SDK -> Prometheus exposition on loopback.
    reader = _ExemplarReader()
    resource = Resource.create({"service.name": SERVICE, "service.instance.id": "e2e-1"})
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    tracer_provider = TracerProvider(resource=resource)
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    saved_structlog, structlog_was_configured = structlog.get_config(), structlog.is_configured()
    structlog.configure(
        processors=[_severity, structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    prometheus_process = _prometheus_process()
    app_port = prometheus_process.free_port()
    server, thread = start_http_server(app_port, addr="127.0.0.1", registry=REGISTRY)

    tmp = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": f"{SCRAPE:g}s", "evaluation_interval": f"{SCRAPE:g}s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": SERVICE,
                "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}],
            }
        ],
    }
    try:
        # A failed start raises with Prometheus' log as the message.
        with prometheus_process.start(
            binary, config, tmp, ("--enable-feature=exemplar-storage",)
        ) as prometheus:
            yield Prom(prometheus.base), meter_provider, tracer_provider, spans
    finally:
        structlog.reset_defaults()
        if structlog_was_configured:
            structlog.configure(**saved_structlog)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        meter_provider.shutdown()
        tracer_provider.shutdown()


@pytest.fixture(scope="module")
def proxy(stack: Any) -> Iterator[Stack]:
    """The real otel-responses proxy, recording into the same providers as the app."""
    _, meter_provider, tracer_provider, _ = stack
    loop = Loop()
    running = Stack(loop, tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield running
    finally:
        running.close()
        loop.close()


# ------------------------------------------------------------------ expressions under test
def _alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def _dashboard_targets() -> list[tuple[str, str, dict[str, Any]]]:
    """(dashboard, panel title, target) of every Prometheus query of every panel."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel.get("datasource") or {}
                if ds.get("type") == "prometheus":
                    out.append((path.name, panel["title"], target))
    return out


def _dashboard_exprs() -> list[tuple[str, str, str]]:
    return [(board, title, t["expr"]) for board, title, t in _dashboard_targets()]


def _variable_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for var in board["templating"]["list"]:
            if var.get("type") == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                out.append((path.name, var["name"], query))
    return out


def _substitute(expr: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in MACROS:
            return MACROS[name]
        assert name in values, f"no test value for ${name} in {expr}"
        return values[name]

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)
    assert "$" not in out, out
    return out


def _finite(answer: dict[str, Any]) -> list[dict[str, Any]]:
    data = answer["data"]
    if data["resultType"] == "scalar":
        return [data["result"]] if math.isfinite(float(data["result"][1])) else []
    return [s for s in data["result"] if math.isfinite(float(s["value"][1]))]


# ------------------------------------------------------------------ traffic
def _stream(
    body: bytes,
    providers: tuple[MeterProvider, TracerProvider],
    *,
    model: str = MODEL,
    headers: dict[str, str] | None = None,
    ending: str = "end",
) -> str | None:
    mp, tp = providers
    hook = otel_responses.ResponseStreamHook(model=model, meter_provider=mp, tracer_provider=tp)
    hook.on_response(200, headers or HEALTHY_HEADERS)
    for i in range(0, len(body), 512):
        hook.feed(body[i : i + 512])
    if ending == "cancel":
        hook.cancel()
    elif ending == "abandon":
        hook.abandon()
    elif ending == "fail":
        hook.fail(ConnectionResetError("connection reset by peer"))
    else:
        hook.end()
    return hook.outcome


def _healthy_tick(
    providers: tuple[MeterProvider, TracerProvider],
    headers: dict[str, str] = HEALTHY_HEADERS,
    no_limit_headers: dict[str, str] = NO_LIMIT_HEALTHY,
) -> None:
    assert _stream(COMPLETED, providers, model=NO_LIMIT_MODEL, headers=no_limit_headers) == (
        "completed"
    )
    for _ in range(4):
        assert _stream(COMPLETED, providers, headers=headers) == "completed"
    assert _stream(INCOMPLETE, providers, headers=headers) == "incomplete"
    assert _stream(COMPLETED, providers, model="gpt-4o-mini", headers=headers) == "completed"
    assert (
        _stream(COMPLETED_SLOW_MODEL, providers, model=SLOW_MODEL, headers=headers) == "completed"
    )
    _other_dialects(providers, ANTHROPIC_HEALTHY)


def _other_dialects(
    providers: tuple[MeterProvider, TracerProvider], anthropic_headers: dict[str, str]
) -> None:
    mp, tp = providers
    hook = otel_responses.ResponseStreamHook(
        dialect="anthropic_messages", model=ANTHROPIC_MODEL, meter_provider=mp, tracer_provider=tp
    )
    hook.on_response(200, anthropic_headers)
    hook.feed(ANTHROPIC_BODY.read_bytes())
    hook.end()
    assert hook.outcome == "completed", hook.error_type
    result = otel_responses.replay(
        GEMINI_TEXT, dialect="gemini", meter_provider=mp, tracer_provider=tp
    )
    assert result.outcome == "completed", result


def _burst_tick(providers: tuple[MeterProvider, TracerProvider]) -> None:
    mp, tp = providers
    _healthy_tick(providers, LOW_HEADERS, NO_LIMIT_LOW)
    for _ in range(3):
        assert _stream(RATE_LIMITED, providers, headers=DRAINED_HEADERS) == "failed"
    hook = otel_responses.ResponseStreamHook(model=MODEL, meter_provider=mp, tracer_provider=tp)
    hook.on_response(429, DRAINED_HEADERS, BODY_429)
    hook.end()
    assert (hook.outcome, hook.error_type) == ("error", "rate_limit_exceeded")
    for _ in range(2):  # provider-side errors: an error event mid-stream, a bare 503
        assert _stream(ERROR_EVENT, providers, headers=LOW_HEADERS) == "error"
        hook = otel_responses.ResponseStreamHook(model=MODEL, meter_provider=mp, tracer_provider=tp)
        hook.on_response(503, {"content-type": "text/html"}, b"<html>Service Unavailable</html>")
        hook.end()
        assert (hook.outcome, hook.error_type) == ("error", "503")
    assert _stream(COMPLETED[:400], providers, headers=LOW_HEADERS, ending="fail") == (
        "transport_error"
    )
    assert _stream(TRUNCATED, providers, headers=LOW_HEADERS) == "truncated"
    assert _stream(TRUNCATED, providers, headers=LOW_HEADERS, ending="abandon") == "abandoned"
    assert _stream(TRUNCATED, providers, headers=LOW_HEADERS, ending="cancel") == "cancelled"
    assert _stream(ANOMALOUS, providers, headers=LOW_HEADERS) == "completed"
    _other_dialects(providers, ANTHROPIC_DRAINED)
    result = otel_responses.replay(
        GEMINI_QUOTA_429, dialect="gemini", meter_provider=mp, tracer_provider=tp
    )
    assert (result.outcome, result.error_type) == ("error", "RESOURCE_EXHAUSTED"), result


def _fixture_transcripts() -> list[tuple[Path, str]]:
    found = sorted(FIXTURES.glob("*.sse")) + sorted(FIXTURES.glob("*.http.json"))
    assert any(p.suffix == ".sse" for p in found), f"no *.sse transcripts in {FIXTURES}"
    assert any(p.name.endswith(".http.json") for p in found), f"no *.http.json in {FIXTURES}"
    out = [(p, "responses") for p in found]
    for dialect in DIALECT_FIXTURES:
        more = sorted((FIXTURES / dialect).glob("*.sse"))
        assert more, f"no {dialect} transcripts"
        more += sorted((FIXTURES / dialect).glob("*.http.json"))
        out += [(p, dialect) for p in more]
    return out


def _proxied(proxy: Any) -> None:
    """Responses streams through the real proxy (model gpt-4o, so PICKED selects them)."""
    for fixture in PROXIED:
        response = httpx.post(
            proxy.url + "/v1/responses",
            content=json.dumps({"model": MODEL, "input": "hi", "stream": True}),
            headers={"Content-Type": "application/json", "x-fixture": fixture},
            timeout=30,
        )
        assert response.status_code == 200, response.text


# ------------------------------------------------------------------ the test
def _provider_only(expr: str) -> dict[str, str]:
    """The picked values of a panel only one provider feeds (see PROVIDER_ONLY), else none."""
    return next((pick for series, pick in PROVIDER_ONLY.items() if series in expr), {})


def test_every_dashboard_and_alert_expression_against_real_prometheus(
    stack: Any, proxy: Stack
) -> None:
    prom, mp, tp, spans = stack
    providers = (mp, tp)
    rules = _alert_rules()
    assert {r["alert"] for r in rules} == set(ALERT_SHAPE), "assign every alert a traffic shape"
    dashboard_exprs = _dashboard_exprs()
    assert len(dashboard_exprs) >= 20
    failures: list[str] = []

    def check_alerts(shape: str) -> None:
        for rule in rules:
            answer = prom.query(rule["expr"])
            if answer["status"] != "success":
                failures.append(f"{rule['alert']} does not run: {answer}")
                continue
            got = _finite(answer)
            if ALERT_SHAPE[rule["alert"]] == shape and not got:
                failures.append(f"{rule['alert']} returned no data on {shape} traffic")
            if ALERT_SHAPE[rule["alert"]] != shape and got:
                failures.append(f"{rule['alert']} returned {got} on {shape} traffic")

    # --- idle: the exporter is scraped but no stream ended yet
    prom.wait_scrapes(2)
    assert not prom.series("otel_responses_streams_total")
    check_alerts("idle")
    assert prom.alerts().get("LLMNoStreams") in ("pending", "firing"), prom.alerts()

    # --- healthy
    until = time.monotonic() + 6 * SCRAPE
    while time.monotonic() < until:
        _healthy_tick(providers)
        time.sleep(0.25 * SCRAPE)
    prom.wait_scrapes(3)
    check_alerts("healthy")
    assert not prom.alerts(), prom.alerts()
    assert not prom.series("otel_responses_internal_errors_total"), "faults on healthy traffic"

    # --- burst: slow first tokens of the reasoning model overlap a burst of failures
    split = COMPLETED_SLOW_MODEL.index(b"event: response.output_text.delta")
    slow = []
    for _ in range(40):
        hook = otel_responses.ResponseStreamHook(
            model=SLOW_MODEL, meter_provider=mp, tracer_provider=tp
        )
        hook.on_response(200, LOW_HEADERS)
        hook.feed(COMPLETED_SLOW_MODEL[:split])
        slow.append(hook)
    started = time.monotonic()
    for path, dialect in _fixture_transcripts():  # the recorded corpus, under its own models
        result = otel_responses.replay(path, meter_provider=mp, tracer_provider=tp, dialect=dialect)
        assert result.outcome in otel_responses.OUTCOMES, (path, result)
    ticks = 0
    # rate(x[5m]) divides by the whole 5 minutes: the burst needs enough ticks for the alerts'
    # per-minute thresholds (>5 rate-limit hits, >3 provider errors), however slow the machine
    while time.monotonic() - started < SLOW_TTFT or ticks < BURST_TICKS:
        ticks += 1
        _burst_tick(providers)
        _proxied(proxy)  # every tick: a series' first sample is invisible to rate()
        time.sleep(0.5 * SCRAPE)
    for hook in slow:
        hook.feed(COMPLETED_SLOW_MODEL[split:])
        hook.end()
        assert hook.outcome == "completed"
    for _ in range(3):  # keep the burst going across the scrapes that see the slow streams
        _burst_tick(providers)
        time.sleep(0.5 * SCRAPE)
    prom.wait_scrapes(3)
    check_alerts("burst")
    active = prom.alerts()
    for name, shape in ALERT_SHAPE.items():
        if shape == "burst" and active.get(name) not in ("pending", "firing"):
            failures.append(f"Prometheus does not hold {name} pending/firing: {active}")
    failures += _check_headroom_branches(prom, {r["alert"]: r["expr"] for r in rules})

    # --- every dashboard expression, with picked values and with "All"
    for values in (PICKED, ALL):
        for board, title, expr in dashboard_exprs:
            only = {k: _promql_regex(v) for k, v in _provider_only(expr).items()}
            only = only if values is PICKED else {}
            # a provider's own panel, picked: that provider, any dialect and model
            query = _substitute(
                expr,
                {**values, **only, **dict.fromkeys(("dialect", "model") if only else (), ".*")},
            )
            answer = prom.query(query)
            if answer["status"] != "success":
                failures.append(f"{board} / {title}: does not run: {answer.get('error')}")
            elif not _finite(answer):
                failures.append(
                    f"{board} / {title}: no data for {query}: {answer['data']['result'][:2]}"
                )
            elif title in POSITIVE and not any(float(s["value"][1]) > 0 for s in _finite(answer)):
                failures.append(f"{board} / {title}: only zeros for {query}")
        # template variables: label_values(selector, label) must offer the picked value
        for board, name, var_query in _variable_queries():
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var_query.strip(), re.S)
            assert m, f"{board}: variable {name} is not label_values(selector, label)"
            selector, label = _substitute(m.group(1), values), m.group(2)
            offered = {s.get(label) for s in prom.series(selector)} - {None}
            if PICKED[name] not in offered:
                failures.append(f"{board}: ${name} offers {offered}, not {PICKED[name]}")

    failures += _check_per_provider(prom, dashboard_exprs)
    if failures:  # scrapes that failed or ran long (a loaded machine) explain missing series
        health = {
            q: _finite(prom.query(f'{q}({m}{{job="{SERVICE}"}}[10m])'))
            for q, m in (("min_over_time", "up"), ("max_over_time", "scrape_duration_seconds"))
        }
        failures.append(f"scrape health: {health}")
    assert not failures, "\n".join(failures)
    _check_series_names(prom)
    _check_internal_errors(prom)
    _check_exemplars(prom, spans)


def _check_per_provider(prom: Prom, exprs: list[tuple[str, str, str]]) -> list[str]:
    """$provider at each provider of the traffic: every expression runs, and every panel that
    breaks streams down by provider shows that provider."""
    offered = {s["gen_ai_provider_name"] for s in prom.series("otel_responses_streams_total")}
    assert "openai" in offered, offered
    out = []
    for provider in sorted(offered):
        values = {**ALL, "service": SERVICE, "provider": _promql_regex(provider)}
        for board, title, expr in exprs:
            answer = prom.query(_substitute(expr, values))
            if answer["status"] != "success":
                out.append(f"{board} / {title} at {provider}: {answer.get('error')}")
            elif (
                "by (gen_ai_provider_name" in expr
                and not _provider_only(expr)
                and "otel_responses_rate_limit_hits_total" not in expr
                and "error_type=~" not in expr
                and not any(
                    s["metric"].get("gen_ai_provider_name") == provider for s in _finite(answer)
                )
            ):
                out.append(f"{board} / {title}: no series for provider {provider}")
    return out


def _check_headroom_branches(prom: Prom, exprs: dict[str, str]) -> list[str]:
    """Ratio where the limit gauge exists, absolute floor where it does not, never both."""
    out = []
    for alert in ("LLMRateLimitTokenHeadroomLow", "LLMRateLimitRequestHeadroomLow"):
        got = {
            (s["metric"]["gen_ai_request_model"], s["metric"]["headroom"]): float(s["value"][1])
            for s in _finite(prom.query(exprs[alert]))
        }
        if (MODEL, "ratio") not in got or not got[(MODEL, "ratio")] < 0.05:
            out.append(f"{alert}: no ratio below 5% for {MODEL}: {got}")
        if (NO_LIMIT_MODEL, "absolute") not in got:
            out.append(f"{alert}: no absolute fallback for {NO_LIMIT_MODEL}: {got}")
        if (MODEL, "absolute") in got or (NO_LIMIT_MODEL, "ratio") in got:
            out.append(f"{alert}: a model on the wrong branch: {got}")
    return out


def _check_internal_errors(prom: Prom) -> None:
    """The user's processor raising on truncated/abandoned/cancelled stream ends: site "log"."""
    answer = prom.query(
        "sum by (otel_responses_internal_error_site, error_type) "
        f'(increase(otel_responses_internal_errors_total{{job="{SERVICE}"}}[5m]))'
    )
    got = {
        (s["metric"]["otel_responses_internal_error_site"], s["metric"]["error_type"]): float(
            s["value"][1]
        )
        for s in _finite(answer)
    }
    assert set(got) == {("log", "KeyError")}, got
    assert got[("log", "KeyError")] > 0, got


def _check_exemplars(prom: Prom, spans: InMemorySpanExporter) -> None:
    """What Grafana asks for a panel with exemplars on: each returns exemplars of real streams.

    /api/v1/query_exemplars takes the panel's own expression; each exemplar's trace_id and
    span_id must be a stream span this test ended, and for time to first token its value must
    be that span's otel_responses.time_to_first_token.
    """
    finished = {
        (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}"): s
        for s in spans.get_finished_spans()
    }
    targets = [(b, t, target) for b, t, target in _dashboard_targets() if target.get("exemplar")]
    assert len(targets) >= 7, targets
    failures = []
    for board, title, target in targets:
        query = _substitute(target["expr"], PICKED)
        found = [ex for series in prom.exemplars(query) for ex in series["exemplars"]]
        if not found:
            failures.append(f"{board} / {title}: no exemplars for {query}")
            continue
        for ex in found:
            key = (ex["labels"].get("trace_id"), ex["labels"].get("span_id"))
            span = finished.get(key)
            if span is None:
                failures.append(f"{board} / {title}: exemplar {ex} is no stream span")
            elif "time_to_first_token" in query:
                ttft = (span.attributes or {}).get(names.TIME_TO_FIRST_TOKEN)
                if not isinstance(ttft, float) or not math.isclose(
                    float(ex["value"]), ttft, rel_tol=1e-9
                ):
                    failures.append(
                        f"{board} / {title}: exemplar {ex} is not its span's TTFT {ttft}"
                    )
    assert not failures, "\n".join(failures)


def _check_series_names(prom: Prom) -> None:
    """The series names docs/dashboards.md#series-names promises exist, with their labels."""
    names = set(_get(prom.base, "/api/v1/label/__name__/values")["data"])
    promised = {
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
        "gen_ai_client_operation_time_per_output_chunk_seconds_bucket",
        "otel_responses_streams_total",
        "otel_responses_events_total",
        "otel_responses_time_to_first_token_seconds_bucket",
        "otel_responses_rate_limit_hits_total",
        "otel_responses_rate_limit_retry_after_seconds_bucket",
        "otel_responses_rate_limit_remaining_requests",
        "otel_responses_rate_limit_remaining_tokens",
        "otel_responses_rate_limit_limit_requests",
        "otel_responses_rate_limit_limit_tokens",
        "otel_responses_token_usage_details_bucket",
        "otel_responses_anomalies_total",
        "otel_responses_internal_errors_total",
        "target_info",
    }
    assert promised <= names, promised - names
    completed = (
        'otel_responses_streams_total{otel_responses_stream_outcome="completed", '
        'gen_ai_provider_name="openai"}'
    )
    labels = prom.series(completed)[0]
    for label in (
        "job",
        "instance",
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "openai_api_type",
        "gen_ai_request_model",
        "gen_ai_response_model",
        "otel_responses_stream_outcome",
    ):
        assert label in labels, labels
    assert labels["job"] == SERVICE
    streams = prom.series("otel_responses_streams_total")
    dialects = {s.get("openai_api_type") for s in streams}
    assert dialects == {"responses", "chat_completions", None}, dialects  # None: not OpenAI
    providers = {s["gen_ai_provider_name"] for s in streams}
    assert {"openai", "anthropic", "gcp.gemini"} <= providers, providers
    quota_ids = {
        s.get("otel_responses_rate_limit_quota_id")
        for s in prom.series("otel_responses_rate_limit_hits_total")
    }
    assert "GenerateContentPaidTierInputTokensPerModelPerMinute" in quota_ids, quota_ids
    upstreams = {
        s.get("otel_responses_proxy_upstream") for s in prom.series("otel_responses_streams_total")
    }
    assert "default" in upstreams, upstreams  # the proxy's default upstream
    kinds = {
        s["otel_responses_token_kind"]
        for s in prom.series("otel_responses_token_usage_details_count")
    }
    assert kinds == {"cache_read", "cache_creation", "reasoning"}, kinds  # Anthropic writes
