"""docs/telemetry.md is the code's registry, and the code emits nothing the registry lacks."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import opentelemetry.semconv as semconv
import pytest
import structlog

from otel_responses import replay
from otel_responses._cli import main
from otel_responses._registry import REGISTRY, Entry, EntryKind
from otel_responses._registry_markdown import render_markdown
from tests.support import FIXTURES, Telemetry

DOC = Path(__file__).parent.parent / "docs" / "telemetry.md"
NAMES = {e.name for e in REGISTRY}
EVENT_NAMES = {e.name for e in REGISTRY if e.kind is EntryKind.SPAN_EVENT}


def test_doc_matches_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown()
    assert main(["registry", "--check", str(DOC)]) == 0


def test_check_reports_a_stale_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "telemetry.md"
    stale.write_text("old\n")
    assert main(["registry", "--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


PREFIX = "otel_responses."
NOT_PREFIXED = {
    (EntryKind.SPAN_EVENT, "<event type>"): "a placeholder: lifecycle span events are named by the "
    "stream's own event types (`response.created`, `message_start`, ...)",
    (EntryKind.LOG_EVENT, "gen_ai.client.inference.operation.details"): "the GenAI conventions' "
    "content event, newer than the installed opentelemetry-semantic-conventions package",
}
"""The documented exceptions to "a name not from the semantic conventions is ours, prefixed"."""


def _semconv_names() -> frozenset[str]:
    """Every name the installed opentelemetry-semantic-conventions package defines (its modules'
    upper-case string constants, incubating ones included)."""
    root = Path(semconv.__path__[0])
    names: set[str] = set()
    for source in root.rglob("*.py"):
        if source.stem == "__init__":
            continue
        parts = source.relative_to(root).with_suffix("").parts
        module = importlib.import_module(".".join((semconv.__name__, *parts)))
        names |= {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}
    return frozenset(names)


SEMCONV_NAMES = _semconv_names()


def naming_problems(entries: Iterable[Entry]) -> list[str]:
    """What is wrong with the names of ``entries``: a name claimed as semconv that the
    conventions do not define, or one of ours outside ``otel_responses.`` (and not a documented
    exception)."""
    problems = []
    for entry in entries:
        if entry.semconv:
            if entry.name not in SEMCONV_NAMES:
                problems.append(f"{entry.kind.value} {entry.name}: not a semconv name")
        elif not entry.name.startswith(PREFIX) and (entry.kind, entry.name) not in NOT_PREFIXED:
            problems.append(f"{entry.kind.value} {entry.name}: ours, so it must start {PREFIX}")
    return problems


def test_names_are_unique() -> None:
    names = [(e.kind, e.name) for e in REGISTRY]
    assert len(names) == len(set(names))


def test_every_name_is_semconv_or_prefixed() -> None:
    assert naming_problems(REGISTRY) == []
    # The check ran over every kind of entry, and each exception still names a real entry.
    assert {e.kind for e in REGISTRY} == set(EntryKind)
    assert set(NOT_PREFIXED) <= {(e.kind, e.name) for e in REGISTRY}
    assert sum(not e.semconv for e in REGISTRY) > 30 and sum(e.semconv for e in REGISTRY) > 15


@pytest.mark.parametrize(
    ("kind", "name", "semconv"),
    [
        (EntryKind.ATTRIBUTE, "stream.outcome", False),
        (EntryKind.METRIC, "llm.time_to_first_token", False),
        (EntryKind.SPAN_EVENT, "otel_responses_anomaly", False),
        (EntryKind.LOG_EVENT, "stream.end", False),
        (EntryKind.ATTRIBUTE, "gen_ai.response.outcome", True),  # claimed semconv, is not
        (EntryKind.LOG_EVENT, "<event type>", False),  # an exception for span events only
    ],
)
def test_the_check_rejects_a_bad_entry(kind: EntryKind, name: str, semconv: bool) -> None:
    bad = REGISTRY[0]._replace(kind=kind, name=name, semconv=semconv)
    assert naming_problems([bad]) != []
    assert naming_problems([bad._replace(name=PREFIX + "ok", semconv=False)]) == []


def _everything(telemetry: Telemetry) -> None:
    for path in sorted(FIXTURES.glob("*.sse")) + sorted(FIXTURES.glob("*.http.json")):
        replay(
            path, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
    hook = telemetry.hook(
        model="m",
        server_address="example.test",
        server_port=443,
    )
    hook.on_response(
        200,
        {
            "x-ratelimit-remaining-tokens": "5",
            "x-ratelimit-reset-tokens": "1s",
            "x-ratelimit-remaining-requests": "1",
            "x-request-id": "r",
        },
    )
    hook.feed(b'data: {"type":"response.output_text.delta","sequence_number":1}\n\n' * 2)
    hook.feed(b'data: {"type":"response.output_text.delta","sequence_number":1}\n\n')
    hook.feed(b"data: nope\n\n")
    hook.cancel(RuntimeError("x"))


def test_every_emitted_name_is_registered(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_and_event")
    logged: list[dict[str, object]] = []

    def keep(_: object, __: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
        logged.append(dict(event_dict))
        raise structlog.DropEvent

    structlog.configure(processors=[keep])
    try:
        _everything(telemetry)
    finally:
        structlog.reset_defaults()
    seen_attrs: set[str] = set()
    for span in telemetry.finished():
        seen_attrs |= set(span.attributes or {})
        for event in span.events:
            if event.name == "exception":  # the SDK's own, from record_exception
                continue
            seen_attrs |= set(event.attributes or {})
            assert event.name in EVENT_NAMES or not event.name.startswith("otel_responses."), (
                event.name
            )
    metrics_data = telemetry.metrics.get_metrics_data()
    assert metrics_data is not None
    data = json.loads(metrics_data.to_json())
    metric_names = set()
    for rm in data["resource_metrics"]:
        for sm in rm["scope_metrics"]:
            for metric in sm["metrics"]:
                metric_names.add(metric["name"])
                for point in metric["data"]["data_points"]:
                    seen_attrs |= set(point["attributes"])
    assert metric_names <= NAMES, metric_names - NAMES
    assert seen_attrs <= NAMES, seen_attrs - NAMES
    log_events = {entry["event"] for entry in logged}
    assert log_events <= NAMES, log_events - NAMES
    fields = {k for entry in logged for k in entry} - {"event", "exc_info", "duration_s"}
    assert fields - {"trace_id", "span_id"} <= NAMES, fields - NAMES
    # And the run above exercised most of the registry, so the check means something.
    assert len(seen_attrs) >= 40 and len(metric_names) >= 12
