"""Static checks of the provisioned Grafana dashboards (their PromQL runs in test_e2e.py)."""

from __future__ import annotations

import importlib.util
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
BUILTIN = {
    "__rate_interval",
    "__interval",
    "__range",
    "__from",
    "__to",
    "__all_variables",
    "__url_time_range",
    "__field",
    "__value",
    "__series",
    "__data",
    "__dashboard",
}
PANEL_TYPES = {"timeseries", "stat", "table", "heatmap", "logs", "row"}
# Metrics recorded without provider/model attributes (docs/telemetry.md): their panels can
# filter by $service only.
UNSCOPED = {"otel_responses_internal_errors_total"}


def _datasources() -> dict[str, str]:
    out = {}
    for path in (GRAFANA / "provisioning" / "datasources").glob("*.yaml"):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            out[ds["uid"]] = ds["type"]
    return out


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


@pytest.fixture(params=DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(request.param.read_text())
    return loaded


def test_two_dashboards() -> None:
    assert {p.name for p in DASHBOARDS} == {
        "otel-responses-overview.json",
        "otel-responses-rate-limits.json",
    }


def test_committed_json_matches_the_generator() -> None:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.render().items():
        assert (GRAFANA / name).read_text() == text, f"run build_dashboards.py: {name} is stale"


def test_schema_fields(board: dict[str, Any]) -> None:
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time", "links"):
        assert key in board, key
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
    for panel in _panels(board):
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["title"]
        pos = panel["gridPos"]
        assert set(pos) == {"h", "w", "x", "y"}
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0


def test_panels_do_not_overlap(board: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _panels(board):
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_unique_panel_ids(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in _panels(board)]
    assert len(ids) == len(set(ids))


def test_every_panel_has_a_query(board: dict[str, Any]) -> None:
    for panel in _panels(board):
        if panel["type"] == "row":
            continue
        targets = panel.get("targets") or []
        assert targets, panel["title"]
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in targets:
            assert (target.get("expr") or target.get("query") or "").strip(), panel["title"]


def test_datasource_uids_match_provisioning(board: dict[str, Any]) -> None:
    provisioned = _datasources()
    assert set(provisioned) == {"prometheus", "tempo", "loki"}
    used = []
    for panel in _panels(board):
        if panel["type"] == "row":
            continue
        used.append(panel["datasource"])
        used += [t["datasource"] for t in panel["targets"] if "datasource" in t]
    used += [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
    for ds in used:
        assert provisioned.get(ds["uid"]) == ds["type"], ds


def test_template_variables(board: dict[str, Any]) -> None:
    defined = {v["name"] for v in board["templating"]["list"]}
    assert {"service", "model", "provider"} <= defined
    text = (
        json.dumps(board["panels"])
        + json.dumps(board["links"])
        + json.dumps([v["query"] for v in board["templating"]["list"]])
    )
    used = {a or b for a, b in re.findall(r"\$\{(\w+)[^}]*\}|\$(\w+)", text)}
    undefined = used - defined - BUILTIN
    assert not undefined, undefined
    # every Prometheus query filters by the three variables (unscoped metrics: by $service)
    for panel in _panels(board):
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == "prometheus":
                metrics = set(re.findall(r"\b(otel_responses_\w+|gen_ai_\w+)\{", target["expr"]))
                unscoped = bool(metrics) and metrics <= UNSCOPED
                for var in ("$service",) if unscoped else ("$service", "$provider", "$model"):
                    assert var in target["expr"], (panel["title"], var)


def test_links_to_failed_stream_traces() -> None:
    overview = json.loads((GRAFANA / "otel-responses-overview.json").read_text())
    tempo_panels = [p for p in _panels(overview) if p.get("datasource", {}).get("uid") == "tempo"]
    assert any("otel_responses.stream.outcome" in p["targets"][0]["query"] for p in tempo_panels)
    assert any("explore" in link["url"] and "tempo" in link["url"] for link in overview["links"])
    data_links = [
        link
        for p in _panels(overview)
        for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])
    ]
    assert any("__field.labels.error_type" in link["url"] for link in data_links)
    exemplars = [t for p in _panels(overview) for t in p.get("targets", []) if t.get("exemplar")]
    assert exemplars


def test_issue_panels_present() -> None:
    overview = json.loads((GRAFANA / "otel-responses-overview.json").read_text())
    exprs = " ".join(
        t.get("expr", "") + t.get("query", "")
        for p in _panels(overview)
        for t in p.get("targets", [])
    )
    for series in (
        "otel_responses_streams_total",
        "otel_responses_stream_finish_reason",
        "otel_responses_rate_limit_hits_total",
        "otel_responses_rate_limit_retry_after_seconds_bucket",
        "otel_responses_rate_limit_remaining_requests",
        "otel_responses_rate_limit_remaining_tokens",
        "otel_responses_time_to_first_token_seconds_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
        "gen_ai_client_operation_time_per_output_chunk_seconds_bucket",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage",
        "otel_responses_events_total",
        "otel_responses_token_usage_details_sum",
        'otel_responses_token_kind="cache_read"',
        'otel_responses_token_kind="reasoning"',
        "otel_responses_rate_limit_limit_requests",
        "otel_responses_rate_limit_limit_tokens",
        "otel_responses_internal_errors_total",
        "truncated|abandoned|cancelled",
    ):
        assert series in exprs, series


def test_cached_and_reasoning_tokens_come_from_prometheus_with_a_tempo_drill_down() -> None:
    overview = json.loads((GRAFANA / "otel-responses-overview.json").read_text())
    panels = [
        p
        for p in _panels(overview)
        if any(
            "otel_responses_token_usage_details" in t.get("expr", "") for t in p.get("targets", [])
        )
    ]
    assert panels
    assert all(p["datasource"]["uid"] == "prometheus" for p in panels)
    links = [link["url"] for p in panels for link in p["fieldConfig"]["defaults"]["links"]]
    assert any(
        "gen_ai.usage.cache_read.input_tokens" in urllib.parse.unquote(u)
        and "gen_ai.usage.reasoning.output_tokens" in urllib.parse.unquote(u)
        and "tempo" in u
        for u in links
    ), links
    # no Tempo table is left standing in for the metric
    tempo = [
        t["query"]
        for p in _panels(overview)
        for t in p.get("targets", [])
        if t.get("datasource", {}).get("type") == "tempo"
    ]
    assert not any("cache_read" in q for q in tempo)


def test_headroom_ratio_panels_divide_remaining_by_limit() -> None:
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for kind in ("requests", "tokens"):
            ratio = [
                t["expr"]
                for p in _panels(board)
                for t in p.get("targets", [])
                if f"otel_responses_rate_limit_limit_{kind}" in t.get("expr", "")
            ]
            assert ratio, (path.name, kind)
            for expr in ratio:
                assert re.search(rf"remaining_{kind}\{{[^}}]*\}} / \S*limit_{kind}\{{", expr), expr


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_series_names_follow_the_collector_translation() -> None:
    builder = _builder()
    assert builder.series("otel_responses.streams") == "otel_responses_streams_total"
    assert builder.series("otel_responses.events") == "otel_responses_events_total"
    assert builder.series("otel_responses.time_to_first_token", "bucket") == (
        "otel_responses_time_to_first_token_seconds_bucket"
    )
    assert builder.series("gen_ai.client.token.usage", "sum") == "gen_ai_client_token_usage_sum"
    assert builder.series("otel_responses.rate_limit.remaining_input_tokens") == (
        "otel_responses_rate_limit_remaining_input_tokens"
    )
    with pytest.raises(KeyError):
        builder.series("otel_responses.no_such_metric")
    with pytest.raises(ValueError):
        builder.series("otel_responses.streams", "bucket")
    with pytest.raises(KeyError):
        builder.outcomes("completed", "no_such_outcome")


def test_every_registry_metric_has_its_series_in_the_docs() -> None:
    """docs/dashboards.md#series-names lists each metric the library defines, under the
    Prometheus name the builder derives for it."""
    builder = _builder()
    docs = (ROOT / "docs" / "dashboards.md").read_text()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([^`]+)` \([^)]*\) \| `([^`]+)`", docs, re.M)
    }
    for name, entry in builder._METRICS.items():
        assert name in rows, f"{name} missing from the series table of docs/dashboards.md"
        part = "bucket" if entry.type == "histogram" else ""
        assert rows[name] == builder.series(name, part), (name, rows[name])
