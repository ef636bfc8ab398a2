"""Internal faults never reach the app.

Every dependency the hook calls is made to raise in turn — the tracer, each span method, each
metric instrument, the meter provider, the structlog logger and a user's structlog processor —
while an app-side consumer (the openai SDK's own SSE decoder) reads the very chunks the hook is
fed. In every case the app receives exactly the events it receives without instrumentation, the
fault is counted in ``otel_responses.internal_errors`` (when the meter itself still works) and
logged once however many streams hit it, and the stream's span ends exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
import structlog
from openai._streaming import SSEDecoder as AppDecoder
from opentelemetry.sdk.metrics._internal import instrument as sdk_instrument
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer

from otel_responses import ResponseStreamHook, _faults
from otel_responses import _registry as names
from tests.support import (
    FIXTURES,
    Telemetry,
    attributes,
    captured_logs,
    new_telemetry,
    structlog_configured,
)

SEED = (FIXTURES / "seed__failed-rate-limit.sse").read_bytes()
TEXT = (FIXTURES / "otel-contrib__text_stream.sse").read_bytes()
HEADERS = {
    "x-request-id": "req_1",
    "x-ratelimit-remaining-tokens": "10",
    "x-ratelimit-remaining-requests": "2",
    "retry-after": "1",
}
STREAMS = 5  # per case: the fault must be logged once, not once per stream


class Boom(RuntimeError):
    pass


def _raise(*args: Any, **kwargs: Any) -> NoReturn:
    raise Boom("injected")


@pytest.fixture(autouse=True)
def fresh_fault_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_faults, "_last_logged", {})


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """structlog configured by the app, capturing every event dict that reaches the end."""
    with captured_logs() as captured:
        yield captured


def app_events(
    body: bytes, hook: ResponseStreamHook | None, chunk: int = 61
) -> list[tuple[str | None, str, str | None, int | None]]:
    """What the app reads: the openai SDK's SSE decoder over the chunks the hook also sees."""

    def source() -> Iterator[bytes]:
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            if hook is not None:
                hook.feed(piece)
            yield piece

    events = [(e.event, e.data, e.id, e.retry) for e in AppDecoder().iter_bytes(source())]
    if hook is not None:
        hook.end()
    return events


def run_streams(telemetry: Telemetry, body: bytes, *, n: int = STREAMS) -> list[ResponseStreamHook]:
    want = app_events(body, None)
    assert want
    hooks = []
    for _ in range(n):
        hook = telemetry.hook(
            model="gpt-4o",
        )
        hook.on_response(200, HEADERS)
        assert app_events(body, hook) == want, "the app's stream is delivered unchanged"
        hook.end()  # a second ending: must do nothing
        hook.cancel(Boom())
        hooks.append(hook)
    return hooks


def fault_logs(captured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in captured if e.get("event") == names.LOG_INTERNAL_ERROR]


def _patch_methods(monkeypatch: pytest.MonkeyPatch, cls: type, methods: list[str]) -> None:
    for name in methods:
        monkeypatch.setattr(cls, name, _raise)


SPAN_METHODS = ["add_event", "set_attribute", "set_attributes", "set_status", "record_exception"]
CASES: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "span methods": lambda mp: _patch_methods(mp, SdkSpan, SPAN_METHODS),
    "span.add_event": lambda mp: _patch_methods(mp, SdkSpan, ["add_event"]),
    "span.set_attributes": lambda mp: _patch_methods(mp, SdkSpan, ["set_attributes"]),
    "histogram.record": lambda mp: _patch_methods(mp, sdk_instrument.Histogram, ["record"]),
    "gauge.set": lambda mp: _patch_methods(mp, sdk_instrument.Gauge, ["set"]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("body", [SEED, TEXT], ids=["seed-failed", "text-completed"])
def test_fault_is_counted_logged_once_and_the_span_still_ends(
    case: str,
    body: bytes,
    telemetry: Telemetry,
    logs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean = new_telemetry()
    reference = run_streams(clean, body, n=1)[0]
    CASES[case](monkeypatch)
    hooks = run_streams(telemetry, body)
    spans = telemetry.spans.get_finished_spans()
    assert len(spans) == STREAMS, "every stream's span ended exactly once"
    assert all(h.outcome == reference.outcome for h in hooks), "the stream's meaning survives"
    assert all(h.error_type == reference.error_type for h in hooks)
    errors = telemetry.internal_errors()
    assert errors and all(t == "Boom" for _, t in errors), errors
    assert sum(errors.values()) >= STREAMS, "every stream's fault counted"
    logged = fault_logs(logs)
    assert len(logged) == len(errors), "each (site, type) logged once, not once per stream"
    assert {(e[names.INTERNAL_ERROR_SITE], e[names.ERROR_TYPE]) for e in logged} == set(errors)


def test_span_end_raising_once_is_retried_and_the_span_ends(
    telemetry: Telemetry, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_end = SdkSpan.end
    calls: list[int] = []

    def flaky_end(self: SdkSpan, end_time: int | None = None) -> None:
        calls.append(1)
        if len(calls) % 2:
            raise Boom("end")
        real_end(self, end_time)

    monkeypatch.setattr(SdkSpan, "end", flaky_end)
    run_streams(telemetry, SEED)
    assert len(telemetry.spans.get_finished_spans()) == STREAMS
    assert telemetry.internal_errors() == {("end", "Boom"): STREAMS}
    assert len(fault_logs(logs)) == 1


def test_tracer_raising_costs_the_span_but_not_the_stream_or_the_metrics(
    telemetry: Telemetry, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _patch_methods(monkeypatch, SdkTracer, ["start_span"])
    hooks = run_streams(telemetry, SEED)
    assert telemetry.spans.get_finished_spans() == ()
    assert all(h.outcome == "failed" and h.error_type == "rate_limit_exceeded" for h in hooks)
    assert telemetry.internal_errors() == {("start", "Boom"): STREAMS}
    assert len(fault_logs(logs)) == 1
    assert telemetry.points(names.STREAMS), "the stream is still counted"


def test_meter_provider_raising_costs_the_metrics_but_not_the_span(
    telemetry: Telemetry, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(type(telemetry.meter_provider), "get_meter", _raise)
    hooks = run_streams(telemetry, SEED)
    spans = telemetry.spans.get_finished_spans()
    assert len(spans) == STREAMS, "the span exists and ends although no instrument could be made"
    assert all(attributes(s)[names.ERROR_TYPE] == "rate_limit_exceeded" for s in spans)
    assert all(h.outcome == "failed" for h in hooks)
    assert {(e[names.INTERNAL_ERROR_SITE], e[names.ERROR_TYPE]) for e in fault_logs(logs)} == {
        ("start", "Boom")
    }
    assert _faults.fault_counts()["start"] >= STREAMS


def test_every_counter_raising_including_internal_errors_is_still_logged(
    telemetry: Telemetry, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _patch_methods(monkeypatch, sdk_instrument.Counter, ["add"])
    before = _faults.fault_counts().get("metrics", 0)
    run_streams(telemetry, SEED)
    assert len(telemetry.spans.get_finished_spans()) == STREAMS
    assert _faults.fault_counts()["metrics"] - before == STREAMS
    assert [e[names.INTERNAL_ERROR_SITE] for e in fault_logs(logs)] == ["metrics"]


def test_logger_raising_on_every_call(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with structlog_configured(_raise):
        hooks = run_streams(telemetry, SEED)
    spans = telemetry.spans.get_finished_spans()
    assert len(spans) == STREAMS
    assert all(h.outcome == "failed" for h in hooks)
    assert all(attributes(s)[names.ERROR_TYPE] == "rate_limit_exceeded" for s in spans)
    errors = telemetry.internal_errors()
    assert errors.get(("log", "Boom"), 0) == STREAMS, errors


def test_a_users_processor_raising_on_one_event(
    telemetry: Telemetry, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's processor that chokes on the stream-end event: counted, logged once (through the
    same pipeline, which still works for other events), and the span still ends."""
    capture = structlog.get_config()["processors"][0]

    def picky(logger: Any, method: str, event_dict: Any) -> Any:
        if event_dict.get("event") == names.LOG_END:
            raise Boom("I do not like this event")
        return event_dict

    structlog.configure(processors=[picky, capture])
    run_streams(telemetry, TEXT)
    assert len(telemetry.spans.get_finished_spans()) == STREAMS
    assert telemetry.internal_errors() == {("log", "Boom"): STREAMS}
    assert len(fault_logs(logs)) == 1


def test_everything_raising_at_once(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_methods(monkeypatch, SdkSpan, SPAN_METHODS)
    _patch_methods(monkeypatch, sdk_instrument.Histogram, ["record"])
    _patch_methods(monkeypatch, sdk_instrument.Counter, ["add"])
    _patch_methods(monkeypatch, sdk_instrument.Gauge, ["set"])
    with structlog_configured(_raise):
        for body in (SEED, TEXT):
            run_streams(telemetry, body)
    assert len(telemetry.spans.get_finished_spans()) == 2 * STREAMS
