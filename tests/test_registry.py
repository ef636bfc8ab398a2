"""docs/telemetry.md is the code's registry, and the code emits nothing the registry lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from otel_responses import ResponseStreamHook, replay
from otel_responses._cli import main
from otel_responses._registry import REGISTRY, EntryKind
from otel_responses._registry_markdown import render_markdown
from tests.conftest import FIXTURES, Telemetry

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


def test_names_are_unique_and_prefixed() -> None:
    names = [(e.kind, e.name) for e in REGISTRY]
    assert len(names) == len(set(names))
    for entry in REGISTRY:
        if not entry.semconv and entry.kind in ("span attribute", "metric"):
            assert entry.name.startswith("otel_responses."), entry.name


def _everything(telemetry: Telemetry) -> None:
    for path in sorted(FIXTURES.glob("*.sse")) + sorted(FIXTURES.glob("*.http.json")):
        replay(
            path, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
    hook = ResponseStreamHook(
        model="m",
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
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

    def keep(_: object, __: str, event_dict: dict[str, object]) -> dict[str, object]:
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
    data = json.loads(telemetry.metrics.get_metrics_data().to_json())
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
