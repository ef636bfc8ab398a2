"""Generate the provisioned Grafana dashboards of otel-responses.

Run ``python dashboards/grafana/build_dashboards.py`` after editing; it rewrites
``otel-responses-overview.json`` and ``otel-responses-rate-limits.json`` beside it.
``tests/dashboards/test_dashboards.py`` fails when the committed JSON and this script disagree,
``tests/dashboards/test_e2e.py`` runs every PromQL expression below against a real Prometheus and
``tests/dashboards/test_logql.py`` checks every LogQL query the way Loki would.

Built on Grafana's own ``grafana-foundation-sdk`` (the ``11.3`` build, matching the
``grafana/grafana:11.3.1`` image of the compose stack): its typed builders produce the
dashboard schema Grafana 11.3 reads, lay panels out on the 24-column grid and serialise with
the schema's field names, so this file only says *what* each panel shows. Two things the SDK
does not do are done here: panel ids (``_number``) and the built-in annotation.

Nothing about the library is restated: Prometheus series names come from the metric
definitions in ``otel_responses._registry`` through :func:`series` (the OTel -> Prometheus
translation of the Collector's ``prometheus`` exporter, docs/dashboards.md#series-names),
label names from the registry's attribute names through :func:`label`, and outcome sets from
``otel_responses.OUTCOMES``. ``job`` is the OTel ``service.name``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap as heatmap_b
from grafana_foundation_sdk.builders import logs as logs_b
from grafana_foundation_sdk.builders import loki as loki_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import tempo as tempo_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as heatmap_m
from grafana_foundation_sdk.models import prometheus as prom_m
from grafana_foundation_sdk.models import tempo as tempo_m

import otel_responses
from otel_responses import _registry as names

HERE = Path(__file__).resolve().parent

PROM = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
TEMPO = dm.DataSourceRef(type_val="tempo", uid="tempo")
LOKI = dm.DataSourceRef(type_val="loki", uid="loki")

OVERVIEW_UID = "otel-responses-overview"
RATE_LIMITS_UID = "otel-responses-rate-limits"
RI = "$__rate_interval"
# LLMRateLimit*HeadroomLow fire below this share of the limit (dashboards/prometheus/alerts.yml).
HEADROOM_RATIO = 0.05


# ------------------------------------------------------------------ names from the library
def _metric_entries() -> dict[str, Any]:
    return {e.name: e for e in names.REGISTRY if getattr(e.kind, "value", e.kind) == "metric"}


_METRICS = _metric_entries()
# Units the Collector's prometheus exporter appends as a word; {annotations} are dropped.
_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}
_HISTOGRAM_PARTS = ("bucket", "sum", "count")


def label(attribute: str) -> str:
    """The Prometheus label (and Loki structured-metadata key) of an OTel attribute."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def series(metric: str, part: str = "") -> str:
    """The Prometheus series the Collector's ``prometheus`` exporter makes of an OTel metric.

    ``part`` is ``bucket``/``sum``/``count`` for a histogram and empty otherwise. Raises
    ``KeyError`` for a metric the registry does not define, so a dashboard cannot query a
    series the library never writes.
    """
    entry = _METRICS[metric]
    base = label(metric)
    word = _UNIT_WORDS.get(entry.unit)
    if word and not base.endswith("_" + word):
        base += "_" + word
    if entry.type == "histogram":
        if part not in _HISTOGRAM_PARTS:
            raise ValueError(f"{metric} is a histogram: pick one of {_HISTOGRAM_PARTS}")
        return f"{base}_{part}"
    if part:
        raise ValueError(f"{metric} is a {entry.type}, it has no _{part} series")
    return base + "_total" if entry.type in ("counter", "observable counter") else base


def outcomes(*picked: str) -> str:
    """A regex of outcomes, each checked against the library's ``OUTCOMES``."""
    unknown = set(picked) - set(otel_responses.OUTCOMES)
    if unknown:
        raise KeyError(f"not outcomes of otel-responses: {sorted(unknown)}")
    return "|".join(picked)


# Series and labels used below.
STREAMS = series(names.STREAMS)
HITS = series(names.RATE_LIMIT_HITS)
TTFT = names.TIME_TO_FIRST_TOKEN_METRIC
JOB = "job"
PROVIDER = label(names.PROVIDER_NAME)
DIALECT = label(names.API_TYPE)
MODEL = label(names.REQUEST_MODEL)
RESPONSE_MODEL = label(names.RESPONSE_MODEL)
OUTCOME = label(names.OUTCOME)
ERROR_TYPE = label(names.ERROR_TYPE)
WINDOW = label(names.RL_WINDOW)
QUOTA_ID = label(names.RL_QUOTA_ID)
UPSTREAM = label(names.PROXY_UPSTREAM)
TOKEN_TYPE = label(names.TOKEN_TYPE)
TOKEN_KIND = label(names.TOKEN_KIND)
EVENT_TYPE = label(names.EVENT_TYPE)
ANOMALY_KIND = label(names.ANOMALY_KIND)
SITE = label(names.INTERNAL_ERROR_SITE)
FINISH_REASON = label(names.FINISH_REASON)

FAILED = outcomes("failed", "error", "transport_error")
NOT_OK = outcomes("failed", "error", "transport_error", "truncated", "abandoned")
EARLY_END = outcomes("truncated", "abandoned", "cancelled")
INCOMPLETE = outcomes("incomplete")
# Provider-side failures (the provider's own codes, per dialect), as LLMProviderErrorBurst
# in alerts.yml: Anthropic overloaded_error (HTTP 529) and api_error (500), OpenAI
# server_error, Gemini UNAVAILABLE (503) and INTERNAL (500), and a bare HTTP 5xx status.
# RESOURCE_EXHAUSTED (Gemini quota, HTTP 429) is shown beside them here but is a rate limit.
PROVIDER_ERRORS = "overloaded_error|api_error|server_error|UNAVAILABLE|INTERNAL|5[0-9][0-9]"
PROVIDER_ERRORS_AND_QUOTA = PROVIDER_ERRORS + "|RESOURCE_EXHAUSTED"
# error.type values of a rate-limited stream, per dialect (what otel_responses.rate_limit.hits
# counts): OpenAI rate_limit_exceeded, Azure OpenAI RateLimitReached, Anthropic
# rate_limit_error, Gemini RESOURCE_EXHAUSTED,
# and a bare HTTP 429.
RATE_LIMIT_ERRORS = "rate_limit_exceeded|RateLimitReached|rate_limit_error|RESOURCE_EXHAUSTED|429"
# First finish reasons (otel_responses.stream.finish_reason) that mean the model was cut short,
# per dialect: a length limit (Chat length, Responses max_output_tokens, Anthropic max_tokens
# and model_context_window_exceeded, Gemini MAX_TOKENS) or a content filter, refusal or safety
# stop (Chat/Responses content_filter, Anthropic refusal, Gemini's policy stops and prompt
# block reasons). Always incomplete streams; `incomplete` alone cannot tell limits from filters.
LIMIT_REASONS = "length|max_output_tokens|max_tokens|model_context_window_exceeded|MAX_TOKENS"
FILTER_REASONS = (
    "content_filter|refusal|SAFETY|RECITATION|BLOCKLIST|PROHIBITED_CONTENT|SPII|IMAGE_SAFETY"
)
CUT_SHORT_REASONS = LIMIT_REASONS + "|" + FILTER_REASONS

# The template variables every Prometheus query filters on. openai_api_type is empty for the
# non-OpenAI dialects, which "All" (.*) admits.
SEL = f'{JOB}=~"$service", {PROVIDER}=~"$provider", {DIALECT}=~"$dialect", {MODEL}=~"$model"'


def matcher(name: str, op: str, value: str) -> str:
    """``name op "value"``, built outside f-strings (no backslashes in them before 3.12)."""
    return f'{name}{op}"{value}"'


def sel(*extra: str) -> str:
    """The variables' selector plus extra matchers, in braces."""
    return "{" + ", ".join((SEL, *extra)) + "}"


# The headroom gauges are not filtered by $dialect: the budget they report is the account's,
# shared by every API of the provider, and a hook that detects its dialect from the first event
# sets them from the response headers before it knows it (no openai_api_type label then).
GAUGE_SEL = "{" + f'{JOB}=~"$service", {PROVIDER}=~"$provider", {MODEL}=~"$model"' + "}"


def rate(metric: str, *extra: str, by: Sequence[str] = (), fn: str = "sum") -> str:
    """``fn by (...) (rate(metric{variables, extra}[$__rate_interval]))``."""
    group = f" by ({', '.join(by)})" if by else ""
    return f"{fn}{group} (rate({metric}{sel(*extra)}[{RI}]))"


def legend(*labels: str) -> str:
    return " ".join("{{" + name + "}}" for name in labels)


# ------------------------------------------------------------------ TraceQL (Tempo)
def _traceql(*conditions: str) -> str:
    base = [
        'resource.service.name =~ "$service"',
        f'span.{names.PROVIDER_NAME} =~ "$provider"',
        f'span.{names.REQUEST_MODEL} =~ "$model"',
    ]
    return "{ " + " && ".join((*base, *conditions)) + " }"


FAILED_TRACEQL = _traceql(f'span.{names.OUTCOME} =~ "{NOT_OK}"')
RATE_LIMITED_TRACEQL = _traceql(
    f'(span.{names.ERROR_TYPE} =~ "{RATE_LIMIT_ERRORS}" || span.{names.HTTP_STATUS_CODE} = 429)'
)
INCOMPLETE_TRACEQL = _traceql(f'span.{names.OUTCOME} = "{INCOMPLETE}"')
DETAIL_TOKENS_TRACEQL = (
    _traceql(f"(span.{names.CACHE_READ_TOKENS} > 0 || span.{names.REASONING_TOKENS} > 0)")
    + " | select("
    + ", ".join(
        f"span.{n}"
        for n in (
            names.REQUEST_MODEL,
            names.INPUT_TOKENS,
            names.CACHE_READ_TOKENS,
            names.OUTPUT_TOKENS,
            names.REASONING_TOKENS,
        )
    )
    + ")"
)


def explore_traces_url(traceql: str) -> str:
    """A Grafana Explore link that runs a TraceQL search on the Tempo data source."""
    panes = {
        "traces": {
            "datasource": TEMPO.uid,
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": TEMPO.type_val, "uid": TEMPO.uid},
                    "queryType": "traceql",
                    "query": traceql,
                }
            ],
            "range": {"from": "${__from}", "to": "${__to}"},
        }
    }
    encoded = urllib.parse.quote(json.dumps(panes, separators=(",", ":")), safe="${}_.:,")
    return f"/explore?schemaVersion=1&orgId=1&panes={encoded}"


def link(title: str, url: str, *, blank: bool = True) -> db.DashboardLink:
    return db.DashboardLink(title).url(url).target_blank(blank)


# ------------------------------------------------------------------ queries
def prom(
    ref: str, expr: str, legend_format: str = "", *, exemplar: bool = False
) -> prom_b.Dataquery:
    return (
        prom_b.Dataquery()
        .ref_id(ref)
        .datasource(PROM)
        .expr(expr)
        .legend_format(legend_format)
        .range()
        .exemplar(exemplar)
    )


def targets(*pairs: tuple[str, str]) -> list[prom_b.Dataquery]:
    """Range queries A, B, ... from (expr, legend) pairs."""
    return [prom(chr(ord("A") + i), expr, leg) for i, (expr, leg) in enumerate(pairs)]


def quantiles(
    metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99), *extra: str
) -> list[prom_b.Dataquery]:
    """p50/p95/p99 of a histogram, with exemplars (trace links) on the last one."""
    bucket = series(metric, "bucket")
    group = "le" + (f", {by}" if by else "")
    out = []
    for i, q in enumerate(qs):
        leg = f"p{round(q * 100)}" + (f" {{{{{by}}}}}" if by else "")
        expr = f"histogram_quantile({q}, {rate(bucket, *extra, by=(group,))})"
        out.append(prom(chr(ord("A") + i), expr, leg, exemplar=i == len(qs) - 1))
    return out


# ------------------------------------------------------------------ panels
Panel: TypeAlias = ts_b.Panel | stat_b.Panel | table_b.Panel | logs_b.Panel | heatmap_b.Panel
Cell = tuple[Panel, int, int]
"""A panel with its width and height on the 24-column grid."""


def half(panel: Panel) -> Cell:
    return panel, 12, 8


def half_tall(panel: Panel) -> Cell:
    return panel, 12, 10


def third(panel: Panel) -> Cell:
    return panel, 8, 8


def quarter(panel: Panel) -> Cell:
    return panel, 6, 4


def full(panel: Panel) -> Cell:
    return panel, 24, 8


def timeseries(
    title: str,
    description: str,
    queries: Iterable[prom_b.Dataquery],
    unit: str,
    *,
    stack: bool = False,
    links: Sequence[db.DashboardLink] = (),
    min_zero: bool = True,
    max_value: float | None = None,
    threshold_line: float | None = None,
) -> ts_b.Panel:
    panel = (
        ts_b.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .targets(list(queries))
        .unit(unit)
        .draw_style(cm.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(20 if stack else 5)
        .show_points(cm.VisibilityMode.NEVER)
        .stacking(
            cb.StackingConfig()
            .mode(cm.StackingMode.NORMAL if stack else cm.StackingMode.NONE)
            .group("A")
        )
        .legend(
            cb.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max"])
        )
        .tooltip(
            cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)
        )
        .data_links(list(links))
    )
    if min_zero:
        panel = panel.min(0)
    if max_value is not None:
        panel = panel.max(max_value)
    if threshold_line is not None:  # a red dashed line where the matching alert starts
        panel = panel.thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        ).thresholds(
            db.ThresholdsConfig()
            .mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(None, "red"), dm.Threshold(threshold_line, "green")])
        )
    return panel


def stat(
    title: str,
    description: str,
    expr: str,
    unit: str,
    steps: list[tuple[float | None, str]],
    legend_format: str = "",
) -> stat_b.Panel:
    """One big value per series of ``expr`` (named by ``legend_format``), coloured by ``steps``."""
    return (
        stat_b.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .with_target(prom("A", expr, legend_format))
        .unit(unit)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(
            db.ThresholdsConfig()
            .mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value, color) for value, color in steps])
        )
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .text_mode(cm.BigValueTextMode.AUTO)
    )


def traces_table(title: str, description: str, traceql: str, columns: str = "") -> table_b.Panel:
    query = traceql if not columns else f"{traceql} | select({columns})"
    return (
        table_b.Panel()
        .title(title)
        .description(description)
        .datasource(TEMPO)
        .with_target(
            tempo_b.TempoQuery()
            .ref_id("A")
            .datasource(TEMPO)
            .query_type("traceql")
            .query(query)
            .limit(50)
            .table_type(tempo_m.SearchTableType.TRACES)
        )
        .show_header(True)
    )


def logs(title: str, description: str, logql: str) -> logs_b.Panel:
    return (
        logs_b.Panel()
        .title(title)
        .description(description)
        .datasource(LOKI)
        .with_target(
            loki_b.Dataquery().ref_id("A").datasource(LOKI).expr(logql).query_type("range")
        )
        .show_time(True)
        .wrap_log_message(True)
        .enable_log_details(True)
        .sort_order(cm.LogsSortOrder.DESCENDING)
    )


# ------------------------------------------------------------------ variables
def variable(name: str, query: str, all_value: str) -> db.QueryVariable:
    """A multi-value Prometheus ``label_values`` variable with an "All" option.

    ``all_value`` is what Grafana sends for "All" in every query that uses the variable -
    PromQL and LogQL alike. A variable that appears in a Loki stream selector needs one that
    rejects the empty string (``.+``): Loki refuses a selector whose matchers all accept it.
    """
    return (
        db.QueryVariable(name)
        .label(name)
        .datasource(PROM)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .multi(True)
        .all_value(all_value)
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def variables(*extra: db.QueryVariable) -> list[db.QueryVariable]:
    return [
        # $service is in the Loki stream selectors ({service_name=~"$service"}): .+ not .*
        variable("service", f"label_values({STREAMS}, {JOB})", ".+"),
        variable("provider", f'label_values({STREAMS}{{{JOB}=~"$service"}}, {PROVIDER})', ".*"),
        # openai.api.type: only OpenAI-style dialects set it, so "All" must admit the empty value
        variable(
            "dialect",
            f'label_values({STREAMS}{{{JOB}=~"$service", {PROVIDER}=~"$provider"}}, {DIALECT})',
            ".*",
        ),
        variable(
            "model",
            f'label_values({STREAMS}{{{JOB}=~"$service", {PROVIDER}=~"$provider", '
            f'{DIALECT}=~"$dialect"}}, {MODEL})',
            ".*",
        ),
        *extra,
    ]


# ------------------------------------------------------------------ dashboards
def _number(panels: Iterable[Any]) -> None:
    """Unique panel ids in grid order (the SDK leaves them to the caller)."""
    for i, panel in enumerate(panels, 1):
        panel.id_val = i


def dashboard(
    uid: str,
    title: str,
    description: str,
    sections: Sequence[tuple[str, Sequence[Cell]]],
    links: Sequence[db.DashboardLink],
    variables_: Sequence[db.QueryVariable],
) -> dict[str, Any]:
    """Rows of (panel, width, height), laid out by the SDK, as Grafana 11.3 JSON."""
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["otel-responses", "llm", "openai", "anthropic", "gemini"])
        .timezone("browser")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .fiscal_year_start_month(0)
        .live_now(False)
        .links(list(links))
        .variables(list(variables_))
        .annotation(
            db.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .built_in(1)
            .type("dashboard")
        )
    )
    for row_title, panels in sections:
        board = board.with_row(db.Row(row_title))
        for panel, width, height in panels:
            board = board.with_panel(panel.span(width).height(height))
    model = board.build()
    _number(model.panels or [])
    out: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return out


def dashboard_link(title: str, uid: str) -> db.DashboardLink:
    return (
        db.DashboardLink(title)
        .type(dm.DashboardLinkType.LINK)
        .icon("dashboard")
        .url(f"/d/{uid}")
        .keep_time(True)
        .include_vars(True)
    )


def traces_link(title: str, traceql: str, tooltip: str = "") -> db.DashboardLink:
    return (
        db.DashboardLink(title)
        .type(dm.DashboardLinkType.LINK)
        .icon("external link")
        .url(explore_traces_url(traceql))
        .target_blank(True)
        .tooltip(tooltip)
    )


# ------------------------------------------------------------------ overview sections
Section = tuple[str, list[Cell]]


def summary_section() -> Section:
    all_rate = rate(STREAMS)
    return (
        "Summary",
        [
            quarter(
                stat(
                    "Streams / s",
                    "Ended streams per second, all outcomes.",
                    all_rate,
                    "reqps",
                    [(None, "blue")],
                )
            ),
            quarter(
                stat(
                    "Failure ratio",
                    f"Share of streams that ended {FAILED.replace('|', ', ')}.",
                    f"({rate(STREAMS, matcher(OUTCOME, '=~', FAILED))} or vector(0)) / {all_rate}",
                    "percentunit",
                    [(None, "green"), (0.05, "orange"), (0.1, "red")],
                )
            ),
            quarter(
                stat(
                    "p95 time to first token",
                    "Request to the first output delta, every dialect.",
                    f"histogram_quantile(0.95, {rate(series(TTFT, 'bucket'), by=('le',))})",
                    "s",
                    [(None, "green"), (4, "orange"), (10, "red")],
                )
            ),
            quarter(
                stat(
                    "Rate-limit hits / min",
                    "Streams ended by a rate limit or quota (rate_limit_exceeded, "
                    "rate_limit_error, RESOURCE_EXHAUSTED or HTTP 429).",
                    f"{rate(HITS)} * 60",
                    "short",
                    [(None, "green"), (1, "orange"), (5, "red")],
                )
            ),
        ],
    )


def streams_section() -> Section:
    all_rate = rate(STREAMS)
    failed = f'{OUTCOME}=~"{FAILED}"'
    return (
        "Streams",
        [
            half(
                timeseries(
                    "Streams / s by outcome",
                    f"{names.STREAMS} by {names.OUTCOME}.",
                    targets((rate(STREAMS, by=(OUTCOME,)), legend(OUTCOME))),
                    "reqps",
                    stack=True,
                )
            ),
            half(
                timeseries(
                    "Failure ratio by error.type",
                    f"{FAILED} streams by error.type, as a share of all streams. Click a series "
                    "for the traces of those failures.",
                    targets(
                        (
                            f"{rate(STREAMS, failed, by=(ERROR_TYPE,))} "
                            f"/ ignoring ({ERROR_TYPE}) group_left {all_rate}",
                            legend(ERROR_TYPE),
                        )
                    ),
                    "percentunit",
                    stack=True,
                    links=[
                        link(
                            "Traces of ${__field.labels.error_type} failures",
                            explore_traces_url(
                                _traceql(
                                    f'span.{names.ERROR_TYPE} = "${{__field.labels.error_type}}"'
                                )
                            ),
                        )
                    ],
                )
            ),
            half(
                timeseries(
                    "Truncated, abandoned and cancelled streams / s",
                    "truncated: the bytes ended with no terminal event; abandoned: the "
                    "application dropped the stream unfinished; cancelled: the application "
                    "stopped reading or raised.",
                    targets(
                        (rate(STREAMS, f'{OUTCOME}=~"{EARLY_END}"', by=(OUTCOME,)), legend(OUTCOME))
                    ),
                    "reqps",
                    stack=True,
                )
            ),
            half(
                timeseries(
                    "Streams / s by model",
                    "Ended streams by requested and served model.",
                    targets(
                        (
                            rate(STREAMS, by=(MODEL, RESPONSE_MODEL)),
                            "{{gen_ai_request_model}} → {{gen_ai_response_model}}",
                        )
                    ),
                    "reqps",
                )
            ),
        ],
    )


def providers_section() -> Section:
    by_provider = (PROVIDER,)
    per_provider = rate(STREAMS, by=by_provider)
    cut_short = rate(STREAMS, matcher(FINISH_REASON, "=~", CUT_SHORT_REASONS), by=by_provider)
    proxied = matcher(UPSTREAM, "!=", "")
    return (
        "Providers and dialects",
        [
            third(
                timeseries(
                    "Streams / s by provider and dialect",
                    f"{names.PROVIDER_NAME} and {names.API_TYPE} (the OpenAI-style API: "
                    "responses, chat_completions; empty for Anthropic Messages and Gemini).",
                    targets((rate(STREAMS, by=(PROVIDER, DIALECT)), legend(PROVIDER, DIALECT))),
                    "reqps",
                    stack=True,
                )
            ),
            third(
                timeseries(
                    "Failure ratio by provider",
                    f"Streams that ended {FAILED} as a share of each provider's streams.",
                    targets(
                        (
                            f"{rate(STREAMS, matcher(OUTCOME, '=~', FAILED), by=by_provider)} "
                            f"/ {per_provider}",
                            legend(PROVIDER),
                        )
                    ),
                    "percentunit",
                )
            ),
            third(
                timeseries(
                    "p95 time to first token by provider",
                    "Request to the first output delta (Responses *.delta, Chat Completions "
                    "content, Anthropic content_block_delta, Gemini text parts).",
                    targets(
                        (
                            f"histogram_quantile(0.95, "
                            f"{rate(series(TTFT, 'bucket'), by=('le', PROVIDER))})",
                            legend(PROVIDER),
                        )
                    ),
                    "s",
                )
            ),
            half(
                timeseries(
                    "Provider-side errors / s by provider and error.type",
                    "Streams the provider failed: Anthropic overloaded_error (529) and "
                    "api_error, OpenAI server_error, Gemini UNAVAILABLE and INTERNAL, bare HTTP "
                    "5xx - and Gemini RESOURCE_EXHAUSTED (quota). LLMProviderErrorBurst fires on "
                    "these (without RESOURCE_EXHAUSTED, which is a rate limit).",
                    targets(
                        (
                            rate(
                                STREAMS,
                                f'{ERROR_TYPE}=~"{PROVIDER_ERRORS_AND_QUOTA}"',
                                by=(PROVIDER, ERROR_TYPE),
                            ),
                            legend(PROVIDER, ERROR_TYPE),
                        )
                    ),
                    "reqps",
                    stack=True,
                    links=[
                        link(
                            "Traces of ${__field.labels.error_type} errors",
                            explore_traces_url(
                                _traceql(
                                    f'span.{names.ERROR_TYPE} = "${{__field.labels.error_type}}"'
                                )
                            ),
                        )
                    ],
                )
            ),
            half(
                timeseries(
                    "Finish reasons by provider",
                    f"Ended streams by provider and first finish reason ({names.FINISH_REASON}: "
                    "stop, length, tool_calls, max_output_tokens, content_filter; Anthropic "
                    "end_turn, tool_use, max_tokens, refusal; Gemini STOP, MAX_TOKENS, SAFETY; "
                    "error for a stream the provider failed; _OTHER for a value that is not a "
                    "plain word). (none): no finish reason - truncated, cancelled, abandoned, "
                    "transport errors and HTTP errors. Click a series for the traces of "
                    "incomplete streams with their finish reasons.",
                    targets(
                        (
                            # streams with no finish reason get "(none)", not an empty legend
                            f"label_replace({rate(STREAMS, by=(PROVIDER, FINISH_REASON))}, "
                            f'"{FINISH_REASON}", "(none)", "{FINISH_REASON}", "")',
                            legend(PROVIDER, FINISH_REASON),
                        )
                    ),
                    "reqps",
                    stack=True,
                    links=[
                        link(
                            "Traces of incomplete streams (finish reasons)",
                            explore_traces_url(
                                INCOMPLETE_TRACEQL + f" | select(span.{names.FINISH_REASONS})"
                            ),
                        )
                    ],
                )
            ),
            (
                stat(
                    "Length-limit, content-filter and refusal stops by provider",
                    "Share of each provider's streams whose first finish reason cut the answer "
                    f"short: a length limit ({LIMIT_REASONS.replace('|', ', ')}) or a filter, "
                    f"refusal or safety stop ({FILTER_REASONS.replace('|', ', ')}). 0 for a "
                    "provider with streams but no such stop.",
                    f"({cut_short} or 0 * {per_provider}) / {per_provider}",
                    "percentunit",
                    [(None, "green"), (0.05, "orange"), (0.2, "red")],
                    legend(PROVIDER),
                ),
                24,
                4,
            ),
            half(
                timeseries(
                    "Proxied streams / s by upstream",
                    f"Streams through otel-responses proxy, by {names.PROXY_UPSTREAM} (the "
                    "upstream's name) and outcome. Empty without the proxy.",
                    targets(
                        (
                            rate(STREAMS, proxied, by=(UPSTREAM, OUTCOME)),
                            legend(UPSTREAM, OUTCOME),
                        )
                    ),
                    "reqps",
                    stack=True,
                )
            ),
            half(
                timeseries(
                    "Proxied p95 time to first token by upstream",
                    "Request to the first output delta of proxied streams, per upstream.",
                    targets(
                        (
                            "histogram_quantile(0.95, "
                            + rate(series(TTFT, "bucket"), proxied, by=("le", UPSTREAM))
                            + ")",
                            legend(UPSTREAM),
                        )
                    ),
                    "s",
                )
            ),
        ],
    )


def latency_section() -> Section:
    return (
        "Latency",
        [
            half(
                timeseries(
                    "Time to first token",
                    f"{TTFT}: request to the first output delta. Exemplars (p99) link to traces.",
                    quantiles(TTFT),
                    "s",
                )
            ),
            half(
                timeseries(
                    "Time to first chunk",
                    f"{names.TIME_TO_FIRST_CHUNK_METRIC}: request to the first SSE event.",
                    quantiles(names.TIME_TO_FIRST_CHUNK_METRIC),
                    "s",
                )
            ),
            half(
                timeseries(
                    "Time per output chunk",
                    f"{names.TIME_PER_OUTPUT_CHUNK}: mean gap between output deltas, one "
                    "point per stream.",
                    quantiles(names.TIME_PER_OUTPUT_CHUNK),
                    "s",
                )
            ),
            half(
                timeseries(
                    "Stream duration",
                    f"{names.OPERATION_DURATION}: request to the end of the stream.",
                    quantiles(names.OPERATION_DURATION),
                    "s",
                )
            ),
        ],
    )


def tokens_section() -> Section:
    usage_sum = series(names.TOKEN_USAGE, "sum")
    details_sum = series(names.TOKEN_DETAILS, "sum")
    return (
        "Tokens",
        [
            third(
                timeseries(
                    "Tokens / s (input, output)",
                    f"{names.TOKEN_USAGE} summed per {names.TOKEN_TYPE}. Cached input and "
                    "reasoning output tokens are part of input/output; they are broken out on "
                    "the right.",
                    targets((rate(usage_sum, by=(TOKEN_TYPE,)), legend(TOKEN_TYPE))),
                    "short",
                    stack=True,
                )
            ),
            third(
                timeseries(
                    "Cached and reasoning tokens / s",
                    f"{names.TOKEN_DETAILS} by {names.TOKEN_KIND}: cache_read (input tokens "
                    "served from the prompt cache), cache_creation (written to it, Anthropic) "
                    "and reasoning (output tokens spent reasoning). Subsets of input/output, "
                    "not extra tokens. Click a series for the traces of streams that report "
                    "them.",
                    targets((rate(details_sum, by=(TOKEN_KIND,)), legend(TOKEN_KIND))),
                    "short",
                    links=[
                        link(
                            "Traces of streams with cached or reasoning tokens",
                            explore_traces_url(DETAIL_TOKENS_TRACEQL),
                        )
                    ],
                )
            ),
            third(
                timeseries(
                    "Prompt-cache hit share and reasoning share",
                    "Cached input tokens as a share of input tokens, and reasoning tokens as a "
                    f"share of output tokens ({names.TOKEN_DETAILS} over {names.TOKEN_USAGE}).",
                    targets(
                        (
                            f"{rate(details_sum, matcher(TOKEN_KIND, '=', 'cache_read'))} "
                            f"/ {rate(usage_sum, matcher(TOKEN_TYPE, '=', 'input'))}",
                            "cached / input",
                        ),
                        (
                            f"{rate(details_sum, matcher(TOKEN_KIND, '=', 'reasoning'))} "
                            f"/ {rate(usage_sum, matcher(TOKEN_TYPE, '=', 'output'))}",
                            "reasoning / output",
                        ),
                    ),
                    "percentunit",
                    max_value=1,
                )
            ),
            half(
                timeseries(
                    "Tokens per stream (p50, p95)",
                    f"Distribution of {names.TOKEN_USAGE} per stream.",
                    quantiles(names.TOKEN_USAGE, TOKEN_TYPE, (0.5, 0.95)),
                    "short",
                )
            ),
            half(
                timeseries(
                    "Cached and reasoning tokens per stream (p50, p95)",
                    f"Distribution of {names.TOKEN_DETAILS} per stream that reports them. "
                    "Exemplars (p95) link to the stream's trace.",
                    quantiles(names.TOKEN_DETAILS, TOKEN_KIND, (0.5, 0.95)),
                    "short",
                )
            ),
        ],
    )


def health_section() -> Section:
    internal = series(names.INTERNAL_ERRORS)
    return (
        "Events and instrumentation health",
        [
            third(
                timeseries(
                    "SSE event mix / s",
                    f"{names.EVENTS} by {names.EVENT_TYPE}.",
                    targets((rate(series(names.EVENTS), by=(EVENT_TYPE,)), legend(EVENT_TYPE))),
                    "short",
                    stack=True,
                )
            ),
            third(
                timeseries(
                    "Stream anomalies / s",
                    f"{names.ANOMALIES} by kind: undecodable, after_terminal, "
                    "repeated_sequence, oversized_line. They never change a stream's outcome.",
                    targets(
                        (rate(series(names.ANOMALIES), by=(ANOMALY_KIND,)), legend(ANOMALY_KIND))
                    ),
                    "short",
                    stack=True,
                )
            ),
            third(
                timeseries(
                    "otel-responses internal errors / s",
                    f"{names.INTERNAL_ERRORS} by site (start, on_response, feed, event, end, "
                    "span, metrics, log, ...) and error.type: faults inside the instrumentation "
                    "- including a structlog processor of the application that raises on its "
                    "log events - swallowed so the stream is untouched; that stream's telemetry "
                    "at that site is lost. Empty is healthy. The metric has no provider/model "
                    "labels, so only $service filters it.",
                    targets(
                        (
                            f"sum by ({SITE}, {ERROR_TYPE}) "
                            f'(rate({internal}{{{JOB}=~"$service"}}[{RI}]))',
                            legend(SITE, ERROR_TYPE),
                        )
                    ),
                    "short",
                    stack=True,
                )
            ),
        ],
    )


# Headroom gauge pairs per header family: (what, remaining metric, limit metric, header).
HEADROOM = (
    (
        "requests",
        names.REMAINING_REQUESTS,
        names.LIMIT_REQUESTS,
        "x-ratelimit-*-requests / anthropic-ratelimit-requests-*",
    ),
    (
        "tokens",
        names.REMAINING_TOKENS,
        names.LIMIT_TOKENS,
        "x-ratelimit-*-tokens / anthropic-ratelimit-tokens-*",
    ),
    (
        "input tokens",
        names.REMAINING_INPUT_TOKENS,
        names.LIMIT_INPUT_TOKENS,
        "anthropic-ratelimit-input-tokens-*",
    ),
    (
        "output tokens",
        names.REMAINING_OUTPUT_TOKENS,
        names.LIMIT_OUTPUT_TOKENS,
        "anthropic-ratelimit-output-tokens-*",
    ),
)


def headroom_ratio(remaining: str, limit: str, by: Sequence[str]) -> str:
    """remaining / limit of one header family; the two gauges of a response share labels."""
    return f"min by ({', '.join(by)}) ({series(remaining)}{GAUGE_SEL} / {series(limit)}{GAUGE_SEL})"


def overview_rate_limits_section() -> Section:
    return (
        "Rate limits and quotas",
        [
            half(
                timeseries(
                    "Rate-limit hits / s by provider, window and model",
                    f"{names.RATE_LIMIT_HITS}. Drill down in the rate-limit dashboard.",
                    targets(
                        (rate(HITS, by=(PROVIDER, WINDOW, MODEL)), legend(PROVIDER, MODEL, WINDOW))
                    ),
                    "short",
                    stack=True,
                    links=[
                        link(
                            "Rate-limit drill-down",
                            f"/d/{RATE_LIMITS_UID}?${{__url_time_range}}&${{__all_variables}}",
                            blank=False,
                        )
                    ],
                )
            ),
            half(
                timeseries(
                    "Retry-after",
                    f"{names.RATE_LIMIT_RETRY_AFTER}: seconds the provider asked to wait.",
                    quantiles(names.RATE_LIMIT_RETRY_AFTER, "", (0.5, 0.95)),
                    "s",
                )
            ),
            half(
                timeseries(
                    "Headroom left (remaining / limit)",
                    "Remaining over limit per model and header family: OpenAI-style "
                    "x-ratelimit-* requests and tokens, Anthropic requests, tokens, input and "
                    "output tokens. The headroom alerts fire below the dashed 5% line (after 5 "
                    "minutes). Empty for providers that send no limit headers (Gemini sends "
                    "none; its quota hits are on the rate-limit dashboard).",
                    targets(
                        *(
                            (headroom_ratio(rem, lim, (MODEL,)), f"{{{{{MODEL}}}}} {what}")
                            for what, rem, lim, _ in HEADROOM
                        )
                    ),
                    "percentunit",
                    max_value=1,
                    threshold_line=HEADROOM_RATIO,
                )
            ),
            half(
                timeseries(
                    "Remaining requests and tokens",
                    "Last value seen per model and header family; a gauge keeps its value until "
                    "the next response.",
                    targets(
                        *(
                            (
                                f"min by ({MODEL}) ({series(rem)}{GAUGE_SEL})",
                                f"{{{{{MODEL}}}}} {what}",
                            )
                            for what, rem, _, _ in HEADROOM
                        )
                    ),
                    "short",
                )
            ),
        ],
    )


def overview_traces_section() -> Section:
    return (
        "Failed streams: traces and logs",
        [
            half_tall(
                traces_table(
                    "Traces of failed, truncated and abandoned streams",
                    "From Tempo; click a trace id to open it.",
                    FAILED_TRACEQL,
                    f"span.{names.PROVIDER_NAME}, span.{names.OUTCOME}, "
                    f"span.{names.ERROR_TYPE}, span.{names.REQUEST_MODEL}",
                )
            ),
            half_tall(
                logs(
                    "Stream failure and end logs",
                    "structlog events of otel-responses from Loki: the line is the event name, "
                    "the fields (error_type, gen_ai_provider_name, outcome, ...) are structured "
                    "metadata; the trace_id field links to Tempo. Filtered by $service and "
                    "$provider.",
                    f'{{service_name=~"$service"}} '
                    f"|~ `{re.escape(names.LOG_FAILURE)}|{re.escape(names.LOG_END)}` "
                    f'| {PROVIDER}=~"$provider"',
                )
            ),
        ],
    )


def overview() -> dict[str, Any]:
    links = [
        dashboard_link("Rate-limit drill-down", RATE_LIMITS_UID),
        traces_link(
            "Failed-stream traces",
            FAILED_TRACEQL,
            "TraceQL search for failed, truncated and abandoned streams in Tempo",
        ),
    ]
    return dashboard(
        OVERVIEW_UID,
        "otel-responses: LLM streams overview",
        "Streamed LLM calls (OpenAI Responses and Chat Completions, Anthropic Messages, Gemini) "
        "instrumented by otel-responses.",
        [
            summary_section(),
            streams_section(),
            providers_section(),
            latency_section(),
            tokens_section(),
            health_section(),
            overview_rate_limits_section(),
            overview_traces_section(),
        ],
        links,
        variables(),
    )


# ------------------------------------------------------------------ rate-limit dashboard
WSEL = f'{WINDOW}=~"$window"'


def hits_section() -> Section:
    hits_table = (
        table_b.Panel()
        .title("Hits in the time range")
        .description("Rate-limit hits per provider, model and window over the selected range.")
        .datasource(PROM)
        .with_target(
            prom_b.Dataquery()
            .ref_id("A")
            .datasource(PROM)
            .expr(f"sum by ({PROVIDER}, {MODEL}, {WINDOW}) (increase({HITS}{sel(WSEL)}[$__range]))")
            .legend_format("")
            .instant()
            .format(prom_m.PromQueryFormat.TABLE)
            .exemplar(False)
        )
        .unit("short")
        .decimals(0)
        .show_header(True)
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {
                        PROVIDER: "provider",
                        MODEL: "model",
                        WINDOW: "window",
                        "Value": "hits",
                    },
                },
            )
        )
    )
    return (
        "Hits",
        [
            half(
                timeseries(
                    "Hits / s by window",
                    f"{names.RATE_LIMIT_HITS} by {names.RL_WINDOW} (TPM, RPM, TPD, RPD, IPM; "
                    "from an OpenAI message or a Gemini quota id).",
                    targets((rate(HITS, WSEL, by=(WINDOW,)), legend(WINDOW))),
                    "short",
                    stack=True,
                )
            ),
            half(
                timeseries(
                    "Hits / s by provider, model and error.type",
                    "rate_limit_exceeded (OpenAI), rate_limit_error (Anthropic), "
                    "RESOURCE_EXHAUSTED (Gemini) or HTTP 429, per model.",
                    targets(
                        (
                            rate(HITS, WSEL, by=(PROVIDER, MODEL, ERROR_TYPE)),
                            legend(PROVIDER, MODEL, ERROR_TYPE),
                        )
                    ),
                    "short",
                    stack=True,
                )
            ),
            half(
                timeseries(
                    "Gemini quota hits / s by quota id",
                    f"{names.RATE_LIMIT_HITS} by {names.RL_QUOTA_ID}: the QuotaFailure "
                    "violation's quotaId (e.g. "
                    "GenerateRequestsPerMinutePerProjectPerModel-FreeTier).",
                    targets(
                        (
                            rate(HITS, WSEL, f'{QUOTA_ID}!=""', by=(PROVIDER, QUOTA_ID)),
                            legend(PROVIDER, QUOTA_ID),
                        )
                    ),
                    "short",
                    stack=True,
                )
            ),
            half(
                timeseries(
                    "Share of streams rate-limited, by provider",
                    "Rate-limit hits as a share of each provider's ended streams.",
                    targets(
                        (
                            f"{rate(HITS, WSEL, by=(PROVIDER,))} / {rate(STREAMS, by=(PROVIDER,))}",
                            legend(PROVIDER),
                        )
                    ),
                    "percentunit",
                )
            ),
            full(hits_table),
        ],
    )


def retry_after_section() -> Section:
    retry_bucket = series(names.RATE_LIMIT_RETRY_AFTER, "bucket")
    heat = (
        heatmap_b.Panel()
        .title("Retry-after distribution")
        .description("Hits per retry-after bucket.")
        .datasource(PROM)
        .with_target(
            prom_b.Dataquery()
            .ref_id("A")
            .datasource(PROM)
            .expr(f"sum by (le) (increase({retry_bucket}{sel(WSEL)}[{RI}]))")
            .legend_format("{{le}}")
            .range()
            .format(prom_m.PromQueryFormat.HEATMAP)
            .exemplar(False)
        )
        .calculate(False)
        .y_axis(heatmap_b.YAxisConfig().unit("s"))
        .cell_gap(1)
        .color(
            heatmap_b.HeatmapColorOptions()
            .mode(heatmap_m.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
        )
    )
    return (
        "Retry-after",
        [
            half(
                timeseries(
                    "Retry-after by window (p50, p95)",
                    f"{names.RATE_LIMIT_RETRY_AFTER}: retry-after-ms, retry-after, the "
                    "message's 'try again in', or Gemini's RetryInfo.retryDelay.",
                    quantiles(names.RATE_LIMIT_RETRY_AFTER, WINDOW, (0.5, 0.95), WSEL),
                    "s",
                )
            ),
            half(heat),
        ],
    )


def headroom_section() -> Section:
    panels: list[Cell] = []
    for what, remaining, limit, header in HEADROOM:
        panels.append(
            half(
                timeseries(
                    f"Share of the {what} limit left, by model and instance",
                    f"{header}: remaining / limit, last values seen by each instance. "
                    "LLMRateLimit*HeadroomLow fire below the dashed 5% line for 5 minutes; "
                    "without limit headers they fall back to the remaining counts below.",
                    targets(
                        (
                            headroom_ratio(remaining, limit, (MODEL, "instance")),
                            legend(MODEL, "instance"),
                        )
                    ),
                    "percentunit",
                    max_value=1,
                    threshold_line=HEADROOM_RATIO,
                )
            )
        )
    for what, remaining, _, header in HEADROOM:
        panels.append(
            half(
                timeseries(
                    f"Remaining {what} by model and instance",
                    f"{header} remaining, last value seen by each instance.",
                    targets(
                        (
                            f"min by ({MODEL}, instance) ({series(remaining)}{GAUGE_SEL})",
                            legend(MODEL, "instance"),
                        )
                    ),
                    "short",
                )
            )
        )
    return "Headroom", panels


def rate_limited_section() -> Section:
    return (
        "Rate-limited streams: traces and logs",
        [
            half_tall(
                traces_table(
                    "Traces of rate-limited streams",
                    "Window, quota id, limit, requested tokens and retry-after are span "
                    "attributes.",
                    RATE_LIMITED_TRACEQL,
                    ", ".join(
                        f"span.{n}"
                        for n in (
                            names.PROVIDER_NAME,
                            names.RL_WINDOW,
                            names.RL_QUOTA_ID,
                            names.RL_LIMIT,
                            names.RL_REQUESTED,
                            names.RL_RETRY_AFTER,
                        )
                    ),
                )
            ),
            half_tall(
                logs(
                    "Rate-limit failure logs",
                    f"{names.LOG_FAILURE} log events of rate-limited streams. The line is only "
                    "the event name; error_type, the provider, window and quota id are "
                    "structured metadata, which the filters use.",
                    f'{{service_name=~"$service"}} |= "{names.LOG_FAILURE}" '
                    f'| {ERROR_TYPE}=~"{RATE_LIMIT_ERRORS}" '
                    f'| {PROVIDER}=~"$provider" | {WINDOW}=~"$window"',
                )
            ),
        ],
    )


def rate_limits() -> dict[str, Any]:
    window = variable("window", f'label_values({HITS}{{{JOB}=~"$service"}}, {WINDOW})', ".*")
    links = [
        dashboard_link("Overview", OVERVIEW_UID),
        traces_link("Rate-limited traces", RATE_LIMITED_TRACEQL),
    ]
    return dashboard(
        RATE_LIMITS_UID,
        "otel-responses: rate limits",
        "Rate-limit and quota hits, retry-after and remaining headroom of streamed LLM calls, "
        "for every header family (OpenAI x-ratelimit-*, Anthropic anthropic-ratelimit-*, "
        "Gemini quota ids).",
        [hits_section(), retry_after_section(), headroom_section(), rate_limited_section()],
        links,
        variables(window),
    )


DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
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
