"""The stream's log events: built, and the logger bound, only when something would receive them.

With structlog unconfigured the events go to the standard library logger ``otel_responses``,
whose level decides (no event is built below it); a configured structlog receives every event
and filters for itself. Either way each event carries the stream's own trace and span ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from otel_responses import _registry as names
from otel_responses._logging import get_logger
from otel_responses.recording import _logs

from ..support import FIXTURES, Telemetry, captured_logs, text_stream

FAILED = (FIXTURES / "seed__failed-rate-limit.sse").read_bytes()


@pytest.fixture
def unconfigured() -> Iterator[None]:
    """structlog as an app that never configured it leaves it."""
    saved = structlog.get_config()
    was_configured = structlog.is_configured()
    structlog.reset_defaults()
    yield
    if was_configured:
        structlog.configure(**saved)


@pytest.fixture
def bindings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per logger a stream fetched (to bind it to its span's ids)."""
    fetched: list[int] = []

    def counting() -> Any:
        fetched.append(1)
        return get_logger()

    monkeypatch.setattr(_logs, "get_logger", counting)
    return fetched


def _run(telemetry: Telemetry, body: bytes) -> str:
    """One stream fed whole and ended; its trace id in hex."""
    hook = telemetry.hook()
    hook.feed(body)
    hook.end()
    return f"{hook.span.get_span_context().trace_id:032x}"


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The event names in the fallback logger's rendered lines (``event='...' k=v ...``)."""
    return [r.getMessage().split("'")[1] for r in caplog.records if r.name == "otel_responses"]


def test_below_the_loggers_level_nothing_is_built_or_bound(
    telemetry: Telemetry,
    unconfigured: None,
    bindings: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_responses"):
        _run(telemetry, text_stream(3))
        assert (_events(caplog), bindings) == ([], [])
        trace_id = _run(telemetry, FAILED)  # a provider's error: its warning, and only that
    assert _events(caplog) == [names.LOG_FAILURE]
    assert bindings == [1]
    assert f"trace_id='{trace_id}'" in caplog.records[0].getMessage()


def test_at_debug_every_event_carries_its_streams_ids(
    telemetry: Telemetry,
    unconfigured: None,
    bindings: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="otel_responses"):
        trace_id = _run(telemetry, text_stream(3))
    assert _events(caplog) == [names.LOG_START, names.LOG_FIRST_TOKEN, names.LOG_END]
    assert bindings == [1]  # bound once, for the first event
    assert all(f"trace_id='{trace_id}'" in r.getMessage() for r in caplog.records)


def test_a_configured_structlog_gets_every_event_whatever_the_stdlib_level(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    with captured_logs() as captured, caplog.at_level(logging.ERROR, logger="otel_responses"):
        trace_id = _run(telemetry, FAILED)
    assert [e["event"] for e in captured] == [names.LOG_START, names.LOG_FAILURE, names.LOG_END]
    assert {e["trace_id"] for e in captured} == {trace_id}
