"""Generate the provisioned Grafana dashboards of otel-responses.

Run ``python dashboards/grafana/build_dashboards.py`` after editing; it rewrites
``otel-responses-overview.json`` and ``otel-responses-rate-limits.json`` beside it.
``tests/test_dash_dashboards.py`` fails when the committed JSON and this script disagree, and
``tests/test_dash_e2e.py`` runs every PromQL expression below against a real Prometheus.

Series names are those the OpenTelemetry Collector's ``prometheus`` exporter produces from the
library's metrics (docs/dashboards.md#series-names). ``job`` is the OTel ``service.name``.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

PROM = {"type": "prometheus", "uid": "prometheus"}
TEMPO = {"type": "tempo", "uid": "tempo"}
LOKI = {"type": "loki", "uid": "loki"}

OVERVIEW_UID = "otel-responses-overview"
RATE_LIMITS_UID = "otel-responses-rate-limits"

# Label selector shared by every query: the three template variables.
SEL = 'job=~"$service", gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
RI = "$__rate_interval"
FAILED = "failed|error|transport_error"
NOT_OK = "failed|error|transport_error|truncated|abandoned"
# LLMRateLimit*HeadroomLow fire below this share of the limit (dashboards/prometheus/alerts.yml).
HEADROOM_RATIO = 0.05
# Streams that reported cached input or reasoning output tokens (span attributes), for Tempo.
DETAIL_TOKENS_TRACEQL = (
    '{ resource.service.name =~ "$service" && span.gen_ai.request.model =~ "$model" && '
    "(span.gen_ai.usage.cache_read.input_tokens > 0 || "
    "span.gen_ai.usage.reasoning.output_tokens > 0) } | select(span.gen_ai.request.model, "
    "span.gen_ai.usage.input_tokens, span.gen_ai.usage.cache_read.input_tokens, "
    "span.gen_ai.usage.output_tokens, span.gen_ai.usage.reasoning.output_tokens)"
)


def _explore_traces_url(traceql: str) -> str:
    """A Grafana Explore link that runs a TraceQL search on the Tempo data source."""
    panes = {
        "traces": {
            "datasource": TEMPO["uid"],
            "queries": [
                {"refId": "A", "datasource": TEMPO, "queryType": "traceql", "query": traceql}
            ],
            "range": {"from": "${__from}", "to": "${__to}"},
        }
    }
    encoded = urllib.parse.quote(json.dumps(panes, separators=(",", ":")), safe="${}_.:,")
    return f"/explore?schemaVersion=1&orgId=1&panes={encoded}"


def _failed_traceql(extra: str = "") -> str:
    return (
        '{ resource.service.name =~ "$service" && span.gen_ai.provider.name =~ "$provider" && '
        f'span.gen_ai.request.model =~ "$model" && span.otel_responses.stream.outcome =~ "{NOT_OK}"'
        f"{extra} }}"
    )


class _Board:
    """Lays panels out on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._id = 0
        self._x = 0
        self._y = 0
        self._row_h = 0

    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "id": self._next_id(),
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
            self._x = 0
            self._row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self._x + w > 24:
            self._newline()
        panel["id"] = self._next_id()
        panel["gridPos"] = {"h": h, "w": w, "x": self._x, "y": self._y}
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)


def _prom_target(ref: str, expr: str, legend: str, *, exemplar: bool = False, **kw: Any) -> dict:
    target = {
        "refId": ref,
        "datasource": PROM,
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        "instant": False,
        "exemplar": exemplar,
    }
    target.update(kw)
    return target


def timeseries(
    title: str,
    description: str,
    targets: list[dict],
    unit: str,
    *,
    stack: bool = False,
    links: list[dict] | None = None,
    min_zero: bool = True,
    max_value: float | None = None,
    threshold_line: float | None = None,
) -> dict:
    defaults: dict[str, Any] = {
        "unit": unit,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if stack else 5,
            "showPoints": "never",
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        },
        "links": links or [],
    }
    if min_zero:
        defaults["min"] = 0
    if max_value is not None:
        defaults["max"] = max_value
    if threshold_line is not None:  # a red dashed line where the matching alert starts
        defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "red", "value": None}, {"color": "green", "value": threshold_line}],
        }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, description: str, expr: str, unit: str, thresholds: list[dict]) -> dict:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": [_prom_target("A", expr, "")],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": thresholds},
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "auto",
        },
    }


def quantiles(metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> list[dict]:
    """p50/p95/p99 targets of a histogram, with exemplars (trace links) on the last one."""
    group = f"le{', ' + by if by else ''}"
    out = []
    for i, q in enumerate(qs):
        legend = f"p{round(q * 100)}" + (f" {{{{{by}}}}}" if by else "")
        expr = f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{SEL}}}[{RI}])))"
        out.append(_prom_target(chr(ord("A") + i), expr, legend, exemplar=i == len(qs) - 1))
    return out


def traces_table(title: str, description: str, traceql: str, columns: str = "") -> dict:
    query = traceql if not columns else f"{traceql} | select({columns})"
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": TEMPO,
        "targets": [
            {
                "refId": "A",
                "datasource": TEMPO,
                "queryType": "traceql",
                "query": query,
                "limit": 50,
                "tableType": "traces",
            }
        ],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
    }


def logs(title: str, description: str, logql: str) -> dict:
    return {
        "type": "logs",
        "title": title,
        "description": description,
        "datasource": LOKI,
        "targets": [{"refId": "A", "datasource": LOKI, "expr": logql, "queryType": "range"}],
        "options": {
            "showTime": True,
            "wrapLogMessage": True,
            "enableLogDetails": True,
            "sortOrder": "Descending",
        },
    }


def _variable(name: str, label: str, query: str) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "options": [],
    }


def _templating(extra: list[dict] | None = None) -> dict:
    return {
        "list": [
            _variable("service", "service", "label_values(otel_responses_streams_total, job)"),
            _variable(
                "provider",
                "provider",
                'label_values(otel_responses_streams_total{job=~"$service"}, gen_ai_provider_name)',
            ),
            _variable(
                "model",
                "model",
                "label_values(otel_responses_streams_total"
                '{job=~"$service", gen_ai_provider_name=~"$provider"}, gen_ai_request_model)',
            ),
            *(extra or []),
        ]
    }


def _dashboard(
    uid: str, title: str, description: str, board: _Board, links: list[dict], templating: dict
) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["otel-responses", "llm", "openai"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": links,
        "templating": templating,
        "panels": board.panels,
    }


def overview() -> dict:
    b = _Board()
    streams = f"otel_responses_streams_total{{{SEL}}}"
    all_rate = f"sum(rate({streams}[{RI}]))"

    b.row("Summary")
    b.add(
        stat(
            "Streams / s",
            "Ended streams per second, all outcomes.",
            all_rate,
            "reqps",
            [{"color": "blue", "value": None}],
        ),
        6,
        4,
    )
    b.add(
        stat(
            "Failure ratio",
            "Share of streams that ended failed, error or transport_error.",
            "(sum(rate(otel_responses_streams_total"
            f'{{{SEL}, otel_responses_stream_outcome=~"{FAILED}"}}'
            f"[{RI}])) or vector(0)) / {all_rate}",
            "percentunit",
            [
                {"color": "green", "value": None},
                {"color": "orange", "value": 0.05},
                {"color": "red", "value": 0.1},
            ],
        ),
        6,
        4,
    )
    b.add(
        stat(
            "p95 time to first token",
            "Request to the first *.delta event.",
            f"histogram_quantile(0.95, sum by (le) "
            f"(rate(otel_responses_time_to_first_token_seconds_bucket{{{SEL}}}[{RI}])))",
            "s",
            [
                {"color": "green", "value": None},
                {"color": "orange", "value": 4},
                {"color": "red", "value": 10},
            ],
        ),
        6,
        4,
    )
    b.add(
        stat(
            "Rate-limit hits / min",
            "Streams ended by a rate limit (rate_limit_exceeded or HTTP 429).",
            f"sum(rate(otel_responses_rate_limit_hits_total{{{SEL}}}[{RI}])) * 60",
            "short",
            [
                {"color": "green", "value": None},
                {"color": "orange", "value": 1},
                {"color": "red", "value": 5},
            ],
        ),
        6,
        4,
    )

    b.row("Streams")
    b.add(
        timeseries(
            "Streams / s by outcome",
            "otel_responses.streams by otel_responses.stream.outcome.",
            [
                _prom_target(
                    "A",
                    f"sum by (otel_responses_stream_outcome) (rate({streams}[{RI}]))",
                    "{{otel_responses_stream_outcome}}",
                )
            ],
            "reqps",
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Failure ratio by error.type",
            "Failed/error/transport_error streams by error.type, as a share of all streams. "
            "Click a series for the traces of those failures.",
            [
                _prom_target(
                    "A",
                    f"sum by (error_type) (rate(otel_responses_streams_total{{{SEL}, "
                    f'otel_responses_stream_outcome=~"{FAILED}"}}[{RI}])) '
                    f"/ ignoring (error_type) group_left {all_rate}",
                    "{{error_type}}",
                )
            ],
            "percentunit",
            stack=True,
            links=[
                {
                    "title": "Traces of ${__field.labels.error_type} failures",
                    "url": _explore_traces_url(
                        '{ resource.service.name =~ "$service" && '
                        'span.gen_ai.request.model =~ "$model" && '
                        'span.error.type = "${__field.labels.error_type}" }'
                    ),
                    "targetBlank": True,
                }
            ],
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Truncated, abandoned and cancelled streams / s",
            "truncated: the bytes ended with no terminal event; abandoned: the application dropped "
            "the stream unfinished; cancelled: the application stopped reading or raised.",
            [
                _prom_target(
                    "A",
                    "sum by (otel_responses_stream_outcome) (rate(otel_responses_streams_total"
                    f"{{{SEL}, "
                    f'otel_responses_stream_outcome=~"truncated|abandoned|cancelled"}}[{RI}]))',
                    "{{otel_responses_stream_outcome}}",
                )
            ],
            "reqps",
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Streams / s by model",
            "Ended streams by requested and served model.",
            [
                _prom_target(
                    "A",
                    f"sum by (gen_ai_request_model, gen_ai_response_model) (rate({streams}[{RI}]))",
                    "{{gen_ai_request_model}} → {{gen_ai_response_model}}",
                )
            ],
            "reqps",
        ),
        12,
        8,
    )

    b.row("Latency")
    b.add(
        timeseries(
            "Time to first token",
            "otel_responses.time_to_first_token: request to the first *.delta event. "
            "Exemplars (p99) link to traces.",
            quantiles("otel_responses_time_to_first_token_seconds"),
            "s",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Time to first chunk",
            "gen_ai.client.operation.time_to_first_chunk: request to the first SSE event.",
            quantiles("gen_ai_client_operation_time_to_first_chunk_seconds"),
            "s",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Time per output chunk",
            "gen_ai.client.operation.time_per_output_chunk: mean gap between *.delta events, "
            "one point per stream.",
            quantiles("gen_ai_client_operation_time_per_output_chunk_seconds"),
            "s",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Stream duration",
            "gen_ai.client.operation.duration: request to the end of the stream.",
            quantiles("gen_ai_client_operation_duration_seconds"),
            "s",
        ),
        12,
        8,
    )

    b.row("Tokens")
    b.add(
        timeseries(
            "Tokens / s (input, output)",
            "gen_ai.client.token.usage summed per gen_ai.token.type. Cached input and reasoning "
            "output tokens are part of input/output; they are broken out on the right.",
            [
                _prom_target(
                    "A",
                    "sum by (gen_ai_token_type) "
                    f"(rate(gen_ai_client_token_usage_sum{{{SEL}}}[{RI}]))",
                    "{{gen_ai_token_type}}",
                )
            ],
            "short",
            stack=True,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Cached and reasoning tokens / s",
            "otel_responses.token.usage.details by otel_responses.token.kind: cache_read (input "
            "tokens served from the prompt cache) and reasoning (output tokens spent "
            "reasoning). Subsets of input/output, not extra tokens. Click a series for the "
            "traces of streams that report them.",
            [
                _prom_target(
                    "A",
                    "sum by (otel_responses_token_kind) "
                    f"(rate(otel_responses_token_usage_details_sum{{{SEL}}}[{RI}]))",
                    "{{otel_responses_token_kind}}",
                )
            ],
            "short",
            links=[
                {
                    "title": "Traces of streams with cached or reasoning tokens",
                    "url": _explore_traces_url(DETAIL_TOKENS_TRACEQL),
                    "targetBlank": True,
                }
            ],
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Prompt-cache hit share and reasoning share",
            "Cached input tokens as a share of input tokens, and reasoning tokens as a share of "
            "output tokens (otel_responses.token.usage.details over gen_ai.client.token.usage).",
            [
                _prom_target(
                    "A",
                    "sum(rate(otel_responses_token_usage_details_sum"
                    f'{{{SEL}, otel_responses_token_kind="cache_read"}}[{RI}])) '
                    "/ sum(rate(gen_ai_client_token_usage_sum"
                    f'{{{SEL}, gen_ai_token_type="input"}}[{RI}]))',
                    "cached / input",
                ),
                _prom_target(
                    "B",
                    "sum(rate(otel_responses_token_usage_details_sum"
                    f'{{{SEL}, otel_responses_token_kind="reasoning"}}[{RI}])) '
                    "/ sum(rate(gen_ai_client_token_usage_sum"
                    f'{{{SEL}, gen_ai_token_type="output"}}[{RI}]))',
                    "reasoning / output",
                ),
            ],
            "percentunit",
            max_value=1,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Tokens per stream (p50, p95)",
            "Distribution of gen_ai.client.token.usage per stream.",
            quantiles("gen_ai_client_token_usage", by="gen_ai_token_type", qs=(0.5, 0.95)),
            "short",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Cached and reasoning tokens per stream (p50, p95)",
            "Distribution of otel_responses.token.usage.details per stream that reports them. "
            "Exemplars (p95) link to the stream's trace.",
            quantiles(
                "otel_responses_token_usage_details", by="otel_responses_token_kind", qs=(0.5, 0.95)
            ),
            "short",
        ),
        12,
        8,
    )

    b.row("Events and instrumentation health")
    b.add(
        timeseries(
            "SSE event mix / s",
            "otel_responses.events by otel_responses.event.type.",
            [
                _prom_target(
                    "A",
                    f"sum by (otel_responses_event_type) "
                    f"(rate(otel_responses_events_total{{{SEL}}}[{RI}]))",
                    "{{otel_responses_event_type}}",
                )
            ],
            "short",
            stack=True,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Stream anomalies / s",
            "otel_responses.anomalies by kind: undecodable, after_terminal, repeated_sequence, "
            "oversized_line. They never change a stream's outcome.",
            [
                _prom_target(
                    "A",
                    f"sum by (otel_responses_anomaly_kind) "
                    f"(rate(otel_responses_anomalies_total{{{SEL}}}[{RI}]))",
                    "{{otel_responses_anomaly_kind}}",
                )
            ],
            "short",
            stack=True,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "otel-responses internal errors / s",
            "otel_responses.internal_errors by site (start, on_response, feed, event, end, span, "
            "metrics, log, ...) and error.type: faults inside the instrumentation - including a "
            "structlog processor of the application that raises on its log events - swallowed "
            "so the stream is untouched; that stream's telemetry at that site is lost. Empty is "
            "healthy. The metric has no provider/model labels, so only $service filters it.",
            [
                _prom_target(
                    "A",
                    "sum by (otel_responses_internal_error_site, error_type) "
                    f'(rate(otel_responses_internal_errors_total{{job=~"$service"}}[{RI}]))',
                    "{{otel_responses_internal_error_site}} {{error_type}}",
                )
            ],
            "short",
            stack=True,
        ),
        8,
        8,
    )

    b.row("Rate limits")
    b.add(
        timeseries(
            "Rate-limit hits / s by window and model",
            "otel_responses.rate_limit.hits. Drill down in the rate-limit dashboard.",
            [
                _prom_target(
                    "A",
                    "sum by (otel_responses_rate_limit_window, gen_ai_request_model) "
                    f"(rate(otel_responses_rate_limit_hits_total{{{SEL}}}[{RI}]))",
                    "{{gen_ai_request_model}} {{otel_responses_rate_limit_window}}",
                )
            ],
            "short",
            stack=True,
            links=[
                {
                    "title": "Rate-limit drill-down",
                    "url": f"/d/{RATE_LIMITS_UID}?${{__url_time_range}}&${{__all_variables}}",
                }
            ],
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Retry-after",
            "otel_responses.rate_limit.retry_after: seconds the provider asked to wait.",
            quantiles("otel_responses_rate_limit_retry_after_seconds", qs=(0.5, 0.95)),
            "s",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Headroom left (remaining / limit)",
            "x-ratelimit-remaining-* over x-ratelimit-limit-* per model: the share of the "
            "request and token budget left. The headroom alerts fire below the dashed 5% line "
            "(after 5 minutes). Empty for providers that send no limit headers; see the "
            "absolute panels.",
            [
                _prom_target(
                    "A",
                    "min by (gen_ai_request_model) "
                    f"(otel_responses_rate_limit_remaining_requests{{{SEL}}} "
                    f"/ otel_responses_rate_limit_limit_requests{{{SEL}}})",
                    "{{gen_ai_request_model}} requests",
                ),
                _prom_target(
                    "B",
                    "min by (gen_ai_request_model) "
                    f"(otel_responses_rate_limit_remaining_tokens{{{SEL}}} "
                    f"/ otel_responses_rate_limit_limit_tokens{{{SEL}}})",
                    "{{gen_ai_request_model}} tokens",
                ),
            ],
            "percentunit",
            max_value=1,
            threshold_line=HEADROOM_RATIO,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Remaining requests (x-ratelimit-remaining-requests)",
            "Last value seen per model; the gauge keeps its value until the next response.",
            [
                _prom_target(
                    "A",
                    "min by (gen_ai_request_model) "
                    f"(otel_responses_rate_limit_remaining_requests{{{SEL}}})",
                    "{{gen_ai_request_model}}",
                )
            ],
            "short",
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Remaining tokens (x-ratelimit-remaining-tokens)",
            "Last value seen per model; the gauge keeps its value until the next response.",
            [
                _prom_target(
                    "A",
                    "min by (gen_ai_request_model) "
                    f"(otel_responses_rate_limit_remaining_tokens{{{SEL}}})",
                    "{{gen_ai_request_model}}",
                )
            ],
            "short",
        ),
        8,
        8,
    )

    b.row("Failed streams: traces and logs")
    b.add(
        traces_table(
            "Traces of failed, truncated and abandoned streams",
            "From Tempo; click a trace id to open it.",
            _failed_traceql(),
            "span.otel_responses.stream.outcome, span.error.type, span.gen_ai.request.model",
        ),
        12,
        10,
    )
    b.add(
        logs(
            "Stream failure and end logs",
            "structlog events of otel-responses from Loki; the trace_id field links to Tempo.",
            '{service_name=~"$service"} |~ "otel_responses.stream.(failure|end)"',
        ),
        12,
        10,
    )

    links = [
        {
            "title": "Rate-limit drill-down",
            "type": "link",
            "icon": "dashboard",
            "url": f"/d/{RATE_LIMITS_UID}",
            "keepTime": True,
            "includeVars": True,
            "targetBlank": False,
            "asDropdown": False,
            "tags": [],
            "tooltip": "",
        },
        {
            "title": "Failed-stream traces",
            "type": "link",
            "icon": "external link",
            "url": _explore_traces_url(_failed_traceql()),
            "keepTime": False,
            "includeVars": False,
            "targetBlank": True,
            "asDropdown": False,
            "tags": [],
            "tooltip": "TraceQL search for failed, truncated and abandoned streams in Tempo",
        },
    ]
    return _dashboard(
        OVERVIEW_UID,
        "otel-responses: LLM streams overview",
        "Streamed OpenAI Responses API calls instrumented by otel-responses.",
        b,
        links,
        _templating(),
    )


def rate_limits() -> dict:
    b = _Board()
    wsel = f'{SEL}, otel_responses_rate_limit_window=~"$window"'
    hits = f"otel_responses_rate_limit_hits_total{{{wsel}}}"

    b.row("Hits")
    b.add(
        timeseries(
            "Hits / s by window",
            "otel_responses.rate_limit.hits by otel_responses.rate_limit.window (TPM, RPM, TPD, "
            "RPD, IPM).",
            [
                _prom_target(
                    "A",
                    f"sum by (otel_responses_rate_limit_window) (rate({hits}[{RI}]))",
                    "{{otel_responses_rate_limit_window}}",
                )
            ],
            "short",
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Hits / s by model and error.type",
            "rate_limit_exceeded (from the stream) versus HTTP 429 codes, per model.",
            [
                _prom_target(
                    "A",
                    f"sum by (gen_ai_request_model, error_type) (rate({hits}[{RI}]))",
                    "{{gen_ai_request_model}} {{error_type}}",
                )
            ],
            "short",
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Share of streams rate-limited",
            "Rate-limit hits as a share of all ended streams.",
            [
                _prom_target(
                    "A",
                    f"sum(rate({hits}[{RI}])) "
                    f"/ sum(rate(otel_responses_streams_total{{{SEL}}}[{RI}]))",
                    "rate-limited",
                )
            ],
            "percentunit",
        ),
        12,
        8,
    )
    b.add(
        {
            "type": "table",
            "title": "Hits in the time range",
            "description": "Rate-limit hits per model and window over the selected time range.",
            "datasource": PROM,
            "targets": [
                _prom_target(
                    "A",
                    "sum by (gen_ai_request_model, otel_responses_rate_limit_window) "
                    f"(increase({hits}[$__range]))",
                    "",
                    range=False,
                    instant=True,
                    format="table",
                )
            ],
            "fieldConfig": {"defaults": {"unit": "short", "decimals": 0}, "overrides": []},
            "options": {"showHeader": True},
            "transformations": [
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "renameByName": {
                            "gen_ai_request_model": "model",
                            "otel_responses_rate_limit_window": "window",
                            "Value": "hits",
                        },
                    },
                }
            ],
        },
        12,
        8,
    )

    b.row("Retry-after")
    b.add(
        timeseries(
            "Retry-after by window (p50, p95)",
            "otel_responses.rate_limit.retry_after: retry-after-ms, retry-after, or the message's "
            "'try again in'.",
            quantiles(
                "otel_responses_rate_limit_retry_after_seconds",
                by="otel_responses_rate_limit_window",
                qs=(0.5, 0.95),
            ),
            "s",
        ),
        12,
        8,
    )
    b.add(
        {
            "type": "heatmap",
            "title": "Retry-after distribution",
            "description": "Hits per retry-after bucket.",
            "datasource": PROM,
            "targets": [
                _prom_target(
                    "A",
                    "sum by (le) (increase(otel_responses_rate_limit_retry_after_seconds_bucket"
                    f"{{{wsel}}}[{RI}]))",
                    "{{le}}",
                    format="heatmap",
                )
            ],
            "fieldConfig": {"defaults": {}, "overrides": []},
            "options": {
                "calculate": False,
                "yAxis": {"unit": "s"},
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges"},
            },
        },
        12,
        8,
    )

    b.row("Headroom")
    for kind, header in (("requests", "requests"), ("tokens", "tokens")):
        b.add(
            timeseries(
                f"Share of the {kind} limit left, by model and instance",
                f"x-ratelimit-remaining-{header} / x-ratelimit-limit-{header}, last values seen "
                "by each instance. LLMRateLimit*HeadroomLow fire below the dashed 5% line for 5 "
                "minutes; without limit headers they fall back to the absolute panels below.",
                [
                    _prom_target(
                        "A",
                        "min by (gen_ai_request_model, instance) "
                        f"(otel_responses_rate_limit_remaining_{kind}{{{SEL}}} "
                        f"/ otel_responses_rate_limit_limit_{kind}{{{SEL}}})",
                        "{{gen_ai_request_model}} {{instance}}",
                    )
                ],
                "percentunit",
                max_value=1,
                threshold_line=HEADROOM_RATIO,
            ),
            12,
            8,
        )
    b.add(
        timeseries(
            "Remaining requests by model and instance",
            "x-ratelimit-remaining-requests, last value seen by each instance.",
            [
                _prom_target(
                    "A",
                    "min by (gen_ai_request_model, instance) "
                    f"(otel_responses_rate_limit_remaining_requests{{{SEL}}})",
                    "{{gen_ai_request_model}} {{instance}}",
                )
            ],
            "short",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Remaining tokens by model and instance",
            "x-ratelimit-remaining-tokens, last value seen by each instance.",
            [
                _prom_target(
                    "A",
                    "min by (gen_ai_request_model, instance) "
                    f"(otel_responses_rate_limit_remaining_tokens{{{SEL}}})",
                    "{{gen_ai_request_model}} {{instance}}",
                )
            ],
            "short",
        ),
        12,
        8,
    )

    b.row("Rate-limited streams: traces and logs")
    rl_traceql = (
        '{ resource.service.name =~ "$service" && span.gen_ai.request.model =~ "$model" && '
        '(span.error.type = "rate_limit_exceeded" || span.http.response.status_code = 429) }'
    )
    b.add(
        traces_table(
            "Traces of rate-limited streams",
            "Window, limit, requested tokens and retry-after are span attributes.",
            rl_traceql,
            "span.otel_responses.rate_limit.window, span.otel_responses.rate_limit.limit, "
            "span.otel_responses.rate_limit.requested, span.otel_responses.rate_limit.retry_after",
        ),
        12,
        10,
    )
    b.add(
        logs(
            "Rate-limit failure logs",
            "otel_responses.stream.failure log events naming a rate-limit window.",
            '{service_name=~"$service"} |= "otel_responses.stream.failure" |~ "rate_limit|429"',
        ),
        12,
        10,
    )

    window = _variable(
        "window",
        "window",
        'label_values(otel_responses_rate_limit_hits_total{job=~"$service"}, '
        "otel_responses_rate_limit_window)",
    )
    links = [
        {
            "title": "Overview",
            "type": "link",
            "icon": "dashboard",
            "url": f"/d/{OVERVIEW_UID}",
            "keepTime": True,
            "includeVars": True,
            "targetBlank": False,
            "asDropdown": False,
            "tags": [],
            "tooltip": "",
        },
        {
            "title": "Rate-limited traces",
            "type": "link",
            "icon": "external link",
            "url": _explore_traces_url(rl_traceql),
            "keepTime": False,
            "includeVars": False,
            "targetBlank": True,
            "asDropdown": False,
            "tags": [],
            "tooltip": "",
        },
    ]
    return _dashboard(
        RATE_LIMITS_UID,
        "otel-responses: rate limits",
        "Rate-limit hits, retry-after and remaining headroom of streamed LLM calls.",
        b,
        links,
        _templating([window]),
    )


DASHBOARDS = {
    "otel-responses-overview.json": overview,
    "otel-responses-rate-limits.json": rate_limits,
}


def render() -> dict[str, str]:
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
