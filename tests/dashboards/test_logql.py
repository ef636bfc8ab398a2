"""Every LogQL query of every dashboard, checked the way Loki 3.3 would run it.

No Loki runs here (no Docker engine, no Debian or PyPI package), so this test reproduces the
two things Loki does that decide whether a log panel shows anything:

* **Stream selector validation.** Loki drops every matcher that accepts the empty string (it
  cannot use the index for it) and rejects the query when none is left: "queries require at
  least one regexp or equality matcher that does not have an empty-compatible value"
  (``SplitFiltersAndMatchers`` / ``validateMatchers`` in ``pkg/logql/syntax``). So
  ``{service_name=~".*"}`` - what Grafana sends for a ``$service`` whose "All" value is ``.*``
  - is an error. The selector is checked after Grafana's variable substitution, with every
  variable at "All" and at a concrete value.
* **What the pipeline can match.** Records are the library's own: real streams from
  ``tests/fixtures`` replayed through ``otel_responses.replay`` with structlog configured with
  ``OTelLogProcessor`` into an in-memory OTel log exporter, then mapped as Loki's native OTLP
  endpoint maps them (``pkg/loghttp/push/otlp.go``): the body is the log line (here only the
  event name, e.g. ``otel_responses.stream.failure``); ``service.name`` and the other default
  index resource attributes become stream labels; every log attribute, the trace/span ids,
  severity and scope become structured metadata, names normalized (``error.type`` ->
  ``error_type``). Every query, at "All" and at concrete values, must match at least one
  record, and each of its filters must (so a filter on a field the library never writes, or on
  the log line where the field lives in metadata, fails with its name).

The parser covers the LogQL the dashboards use (selector, line filters, label filters); any
other stage fails the test so that the checker is extended rather than bypassed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import otel_responses
from otel_responses._logging import OTelLogProcessor

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards" / "grafana").glob("*.json"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

SERVICE = "otel-responses-logql"
# Concrete values a user would pick, matching the records below (the seed stream is a gpt-4o
# TPM rate-limit failure from OpenAI).
PICKED = {
    "service": SERVICE,
    "provider": "openai",
    "model": "gpt-4o",
    "window": "TPM",
    "dialect": "responses",
    "upstream": "openai",
}
# Resource attributes Loki 3.3 indexes as stream labels by default (docs: "Format
# considerations" of send-data/otel); all other resource attributes are structured metadata.
INDEX_RESOURCE_ATTRIBUTES = {
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
}


# ------------------------------------------------------------------------ Loki's record model
@dataclass(frozen=True)
class LokiRecord:
    """One log entry as Loki stores it: stream labels, structured metadata, line."""

    labels: dict[str, str]
    metadata: dict[str, str]
    line: str

    def get(self, name: str) -> str:
        """A label or metadata value as a LogQL label filter sees it ("" when absent)."""
        return self.labels.get(name, self.metadata.get(name, ""))


def _normalize(name: str) -> str:
    """Prometheus' NormalizeLabel, which Loki applies to OTLP attribute names."""
    out = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if out[:1].isdigit():
        out = "key_" + out
    elif out.startswith("_") and not out.startswith("__"):
        out = "key" + out
    return out


def _as_string(value: Any) -> str:
    """pcommon.Value.AsString() for the attribute types the library writes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_loki(record: Any) -> LokiRecord:
    lr = record.log_record
    labels: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for key, value in (record.resource.attributes or {}).items():
        target = labels if key in INDEX_RESOURCE_ATTRIBUTES else metadata
        target[_normalize(key)] = _as_string(value)
    for key, value in (lr.attributes or {}).items():
        metadata[_normalize(key)] = _as_string(value)
    if lr.severity_number is not None:
        metadata["severity_number"] = str(lr.severity_number.value)
    if lr.severity_text:
        metadata["severity_text"] = lr.severity_text
    if lr.trace_id:
        metadata["trace_id"] = f"{lr.trace_id:032x}"
    if lr.span_id:
        metadata["span_id"] = f"{lr.span_id:016x}"
    scope = record.instrumentation_scope
    if scope is not None:
        metadata["scope_name"] = scope.name
        if scope.version:
            metadata["scope_version"] = scope.version
    return LokiRecord(labels, metadata, str(lr.body))


DIALECT_DIRS = ("chat_completions", "anthropic_messages", "gemini")


def _transcripts() -> list[tuple[Path, str]]:
    """Every recorded stream and HTTP error of every dialect, the seed among them."""
    out = [(p, "responses") for p in sorted(FIXTURES.glob("*.sse"))]
    out += [(p, "responses") for p in sorted(FIXTURES.glob("*.http.json"))]
    for dialect in DIALECT_DIRS:
        found = sorted((FIXTURES / dialect).glob("*.sse"))
        found += sorted((FIXTURES / dialect).glob("*.http.json"))
        assert found, f"no {dialect} transcripts in {FIXTURES / dialect}"
        out += [(p, dialect) for p in found]
    assert any(p.name == "seed__failed-rate-limit.sse" for p, _ in out)
    return out


@pytest.fixture(scope="module")
def records() -> list[LokiRecord]:
    return library_records()


def library_records() -> list[LokiRecord]:
    """The library's own log records of real streams, as Loki would store them."""
    resource = Resource.create({"service.name": SERVICE, "service.instance.id": "logql-1"})
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: untyped
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    tracer_provider = TracerProvider(resource=resource)
    meter_provider = MeterProvider(resource=resource)
    saved, was_configured = structlog.get_config(), structlog.is_configured()
    structlog.configure(
        processors=[OTelLogProcessor(logger_provider), structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    try:
        for path, dialect in _transcripts():
            otel_responses.replay(
                path,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                dialect=dialect,
            )
    finally:
        structlog.reset_defaults()
        if was_configured:
            structlog.configure(**saved)
        logger_provider.shutdown()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    out = [_to_loki(r) for r in exporter.get_finished_logs()]
    assert any(r.line == "otel_responses.stream.failure" for r in out)
    return out


def test_records_are_mapped_like_loki(records: list[LokiRecord]) -> None:
    """The mapping the checks rely on: the line is the event name, fields are metadata."""
    failure = next(r for r in records if r.line == "otel_responses.stream.failure")
    assert failure.labels == {"service_name": SERVICE, "service_instance_id": "logql-1"}
    assert failure.metadata["error_type"] == "rate_limit_exceeded"
    assert failure.metadata["otel_responses_rate_limit_window"] == "TPM"
    assert re.fullmatch(r"[0-9a-f]{32}", failure.metadata["trace_id"])
    assert "rate_limit" not in failure.line and "429" not in failure.line


# --------------------------------------------------------------------------- LogQL, parsed
@dataclass(frozen=True)
class Matcher:
    """``name op value``: a stream-selector matcher or a label filter."""

    name: str
    op: str
    value: str

    def matches(self, actual: str) -> bool:
        if self.op in ("=~", "!~"):
            # Label matchers and label filters are anchored (Prometheus semantics).
            hit = re.fullmatch(self.value, actual) is not None
            return hit if self.op == "=~" else not hit
        return (actual == self.value) if self.op == "=" else (actual != self.value)


@dataclass(frozen=True)
class LineFilter:
    """``|= "x"``, ``!= "x"``, ``|~ "re"``, ``!~ "re"`` on the log line (regex unanchored)."""

    op: str
    value: str

    def matches(self, line: str) -> bool:
        if self.op in ("|~", "!~"):
            hit = re.search(self.value, line) is not None
            return hit if self.op == "|~" else not hit
        return (self.value in line) if self.op == "|=" else (self.value not in line)


@dataclass
class LogQuery:
    selector: list[Matcher]
    stages: list[Matcher | LineFilter] = field(default_factory=list)

    def matches(self, record: LokiRecord) -> bool:
        if not all(m.matches(record.labels.get(m.name, "")) for m in self.selector):
            return False
        return all(
            s.matches(record.line) if isinstance(s, LineFilter) else s.matches(record.get(s.name))
            for s in self.stages
        )


_STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'
_MATCHER = re.compile(rf"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*")
_LINE_FILTER = re.compile(rf"\s*(\|=|!=|\|~|!~)\s*({_STRING})")
_LABEL_FILTER = re.compile(rf"\s*\|\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})")


def _unquote(token: str) -> str:
    """A LogQL string: backticks are raw; double quotes follow Go's rules (``\\.`` is an error)."""
    if token.startswith("`"):
        return token[1:-1]
    try:
        return str(json.loads(token))
    except json.JSONDecodeError as exc:
        raise ValueError(f"Loki cannot parse the string {token}: {exc}") from None


def parse_logql(expr: str) -> LogQuery:
    """A log query: ``{matchers} stage*``. Anything else raises ``ValueError``."""
    text = expr.strip()
    if not text.startswith("{"):
        raise ValueError(f"not a log query (metric queries are not checked yet): {expr!r}")
    end = text.index("}")
    selector: list[Matcher] = []
    for part in _split_matchers(text[1:end]):
        m = _MATCHER.fullmatch(part)
        if m is None:
            raise ValueError(f"bad matcher {part!r} in {expr!r}")
        selector.append(Matcher(m[1], m[2], _unquote(m[3])))
    query = LogQuery(selector)
    rest = text[end + 1 :]
    while rest.strip():
        if (m := _LINE_FILTER.match(rest)) is not None:
            query.stages.append(LineFilter(m[1], _unquote(m[2])))
        elif (m := _LABEL_FILTER.match(rest)) is not None:
            query.stages.append(Matcher(m[1], m[2], _unquote(m[3])))
        else:
            raise ValueError(f"unsupported LogQL stage at {rest.strip()!r}: extend the checker")
        rest = rest[m.end() :]
    return query


def _split_matchers(body: str) -> list[str]:
    """Split on the commas between matchers, not inside their quoted values."""
    return [m.group(0).strip() for m in re.finditer(rf"(?:{_STRING}|[^,\"`])+", body)]


def test_parser_reads_what_it_checks() -> None:
    query = parse_logql(
        r'{service_name=~"a|b", x!=""} |= "ev" |~ `otel_responses\.stream` | error_type=~"r.*"'
    )
    assert query.selector == [Matcher("service_name", "=~", "a|b"), Matcher("x", "!=", "")]
    assert query.stages == [
        LineFilter("|=", "ev"),
        LineFilter("|~", r"otel_responses\.stream"),
        Matcher("error_type", "=~", "r.*"),
    ]
    with pytest.raises(ValueError, match="unsupported"):
        parse_logql('{a="b"} | json')


# ------------------------------------------------------------------ Loki's selector rule
def rejection(query: LogQuery) -> str | None:
    """Loki's error for a selector none of whose matchers rules out the empty string."""
    if any(not m.matches("") for m in query.selector):
        return None
    return (
        "queries require at least one regexp or equality matcher that does not have an "
        "empty-compatible value"
    )


def test_rejection_follows_loki() -> None:
    assert rejection(parse_logql('{service_name=~".*"}')) is not None
    assert rejection(parse_logql('{service_name=~".*", x=""}')) is not None
    assert rejection(parse_logql('{service_name=~".+"}')) is None
    assert rejection(parse_logql('{service_name="svc"}')) is None
    assert rejection(parse_logql('{service_name!=""}')) is None


# ----------------------------------------------------------- Grafana's variable substitution
def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _loki_queries() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        variables = {v["name"]: v for v in board["templating"]["list"]}
        for panel in _panels(board):
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == "loki":
                    out.append((f"{path.stem}: {panel['title']}", target["expr"], variables))
    return out


LOKI_QUERIES = _loki_queries()


def _escape(value: str) -> str:
    """A picked value as Grafana's Loki data source writes it into the query
    (``lokiSpecialRegexEscape``): backslashes doubled twice, each regex metacharacter preceded
    by two backslashes - one for the regex, one for the LogQL string literal - so ``gcp.gemini``
    becomes ``gcp\\\\.gemini``."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"([$^*{}\[\]+?.()|])", r"\\\\\1", value)


def substitute(
    expr: str,
    variables: dict[str, Any],
    *,
    all_selected: bool,
    picked: dict[str, str] | None = None,
) -> str:
    """``$var``/``${var}`` as Grafana 11 replaces them in a Loki query: the ``picked`` values,
    else every variable at "All" or at its :data:`PICKED` value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("__"):
            raise AssertionError(f"unexpected macro ${name} in a log query")
        variable = variables[name]  # KeyError: an undefined variable
        if picked and name in picked:
            return _escape(picked[name])
        if all_selected:
            assert variable.get("includeAll"), f"${name} has no All option"
            # Without a custom allValue Grafana sends every option; the checked-in variables
            # define one, so that is what "All" means here.
            assert "allValue" in variable, f"${name}: All without an explicit allValue"
            return str(variable["allValue"])
        return _escape(PICKED[name])

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def test_substitution_is_grafanas() -> None:
    variables = {"service": {"includeAll": True, "allValue": ".+"}}
    assert substitute('{s=~"$service"}', variables, all_selected=True) == '{s=~".+"}'
    assert substitute('{s=~"${service}"}', variables, all_selected=False) == (
        '{s=~"otel-responses-logql"}'
    )


# --------------------------------------------------------------------------------- the checks
def test_dashboards_have_log_panels() -> None:
    titles = [title for title, _, _ in LOKI_QUERIES]
    assert any("overview" in t for t in titles) and any("rate-limits" in t for t in titles)


@pytest.mark.parametrize("all_selected", [True, False], ids=["All", "picked"])
@pytest.mark.parametrize(
    ("title", "expr", "variables"), LOKI_QUERIES, ids=[t for t, _, _ in LOKI_QUERIES]
)
def test_loki_accepts_the_selector(
    title: str, expr: str, variables: dict[str, Any], all_selected: bool
) -> None:
    sent = substitute(expr, variables, all_selected=all_selected)
    error = rejection(parse_logql(sent))
    assert error is None, f"{title}: Loki rejects {sent!r}: {error}"


@pytest.mark.parametrize("all_selected", [True, False], ids=["All", "picked"])
@pytest.mark.parametrize(
    ("title", "expr", "variables"), LOKI_QUERIES, ids=[t for t, _, _ in LOKI_QUERIES]
)
def test_every_filter_matches_a_record_the_library_writes(
    title: str,
    expr: str,
    variables: dict[str, Any],
    all_selected: bool,
    records: list[LokiRecord],
) -> None:
    sent = substitute(expr, variables, all_selected=all_selected)
    query = parse_logql(sent)
    selected = [r for r in records if LogQuery(query.selector).matches(r)]
    assert selected, f"{title}: no record in stream {sent!r}"
    for stage in query.stages:
        alone = LogQuery(query.selector, [stage])
        assert any(alone.matches(r) for r in selected), (
            f"{title}: filter {stage} of {sent!r} matches no record the library writes "
            f"(lines: {sorted({r.line for r in selected})}; metadata keys: "
            f"{sorted({k for r in selected for k in r.metadata})})"
        )
    assert any(query.matches(r) for r in selected), f"{title}: {sent!r} matches no record"


def test_provider_filter_keeps_each_providers_records(records: list[LokiRecord]) -> None:
    """$provider at each provider of the records (the other variables at "All"): a query keeps
    exactly that provider's records among those "All" shows."""
    providers = sorted({r.metadata.get("gen_ai_provider_name", "") for r in records} - {""})
    assert "openai" in providers, providers
    checked = 0
    for title, expr, variables in LOKI_QUERIES:
        everything = parse_logql(substitute(expr, variables, all_selected=True))
        for provider in providers:
            sent = substitute(expr, variables, all_selected=True, picked={"provider": provider})
            query = parse_logql(sent)
            assert rejection(query) is None, (title, sent)
            expected = [
                r
                for r in records
                if everything.matches(r) and r.metadata.get("gen_ai_provider_name") == provider
            ]
            got = [r for r in records if query.matches(r)]
            assert got == expected, (title, provider, sent)
            checked += len(got)
    assert checked, "no log record was selected by any provider"
