"""Privacy: content only when opted in, bounded; planted secrets never in any exported byte.

Streams carrying planted secrets — API keys (``sk-…``), ``Authorization``/``Bearer`` tokens, in
error events, ``response.failed`` messages, HTTP error bodies and headers, the exceptions that end
a stream, and the streamed text itself — run through the hook with real OTLP/HTTP exporters
(spans, metrics and logs, the logs through structlog and :class:`OTelLogProcessor`) to a
loopback receiver. Every byte received, and every rendered log line, is searched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_responses import OTelLogProcessor, ResponseStreamHook
from otel_responses import _registry as names
from otel_responses._config import CAPTURE_ENV, CAPTURE_MAX_ENV, content_capture_from_env
from tests.otlp_receiver import HttpReceiver
from tests.support import attributes, frames, new_telemetry

KEY = "sk-proj-PLANTEDkey0123456789abcdefABCDEF_-xyz"
BARE_KEY = "sk-PLANTEDbare0123456789"
TOKEN = "PLANTEDbearerTOKEN.abc~def+ghi/jkl="
BASIC = "UExBTlRFRGJhc2ljOnBhc3M="
ORG = "org-PLANTEDorg42"
PROJ = "proj_PLANTEDproj42"
SECRETS = [KEY, BARE_KEY, TOKEN, BASIC, "PLANTEDkey", "PLANTEDbare", "PLANTEDbearer", "UExBTlRF"]
SECRET_TEXT = "PLANTEDcontent"  # streamed output text: recorded only when opted in


def _response(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "resp_1", "model": "gpt-4o", "status": status, **extra}


FAILED = frames(
    {"type": "response.created", "sequence_number": 0, "response": _response("in_progress")},
    {
        "type": "response.output_text.delta",
        "sequence_number": 1,
        "delta": f"{SECRET_TEXT} the key is {KEY}",
    },
    {
        "type": "error",
        "sequence_number": 2,
        "code": "invalid_api_key",
        "message": f"Incorrect API key provided: {KEY}. Header was Authorization: Bearer {TOKEN}",
        "param": None,
    },
    {
        "type": "response.failed",
        "sequence_number": 3,
        "response": _response(
            "failed",
            error={
                "code": "rate_limit_exceeded",
                "message": f"Rate limit reached for gpt-4o in organization {ORG} on tokens per "
                f"min (TPM): Limit 30000, Used 29950, Requested 750. key={BARE_KEY} "
                f"Authorization: Basic {BASIC} (project {PROJ}). Please try again in 1.4s.",
            },
        ),
    },
)
COMPLETED = frames(
    {"type": "response.created", "sequence_number": 0, "response": _response("in_progress")},
    *(
        {"type": "response.output_text.delta", "sequence_number": i, "delta": f"{SECRET_TEXT}{i} "}
        for i in range(1, 400)
    ),
    {"type": "response.output_text.delta", "sequence_number": 400, "delta": f"then {KEY} "},
    {
        "type": "response.completed",
        "sequence_number": 401,
        "response": _response("completed", usage={"input_tokens": 3, "output_tokens": 400}),
    },
)
ERROR_HEADERS = {
    "authorization": f"Bearer {TOKEN}",
    "openai-organization": ORG,
    "openai-project": PROJ,
    "x-request-id": "req_123",
    "x-ratelimit-remaining-tokens": "0",
    "set-cookie": f"session={TOKEN}",
}
ERROR_BODY = json.dumps(
    {
        "error": {
            "code": "invalid_api_key",
            "message": f"Incorrect API key provided: {KEY}. Authorization: Bearer {TOKEN} "
            f"for organization {ORG}",
        }
    }
)


class Pipeline:
    """Real OTLP/HTTP export of spans, metrics and logs to a loopback receiver."""

    def __init__(self, endpoint: str) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=5))
        )
        self.reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=5),
            export_interval_millis=3_600_000,
        )
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", timeout=5))
        )

    def flush(self) -> None:
        assert self.tracer_provider.force_flush(10_000)
        assert self.meter_provider.force_flush(10_000)
        assert self.logger_provider.force_flush(10_000)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


@pytest.fixture
def rendered() -> Iterator[list[str]]:
    """structlog set up as an app would, with OTLP log export; rendered lines kept too."""
    saved = structlog.get_config()
    was_configured = structlog.is_configured()
    lines: list[str] = []
    yield lines
    structlog.reset_defaults()
    if was_configured:
        structlog.configure(**saved)


def _configure_logs(pipeline: Pipeline, lines: list[str]) -> None:
    def keep(logger: Any, method: str, event_dict: Any) -> str:
        lines.append(str(event_dict))
        return ""

    structlog.configure(
        processors=[
            OTelLogProcessor(pipeline.logger_provider),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
            keep,
        ],
        logger_factory=structlog.ReturnLoggerFactory(),
    )


def _run_streams(pipeline: Pipeline) -> list[ResponseStreamHook]:
    hooks = []

    def new_hook() -> ResponseStreamHook:
        return ResponseStreamHook(
            model="gpt-4o",
            tracer_provider=pipeline.tracer_provider,
            meter_provider=pipeline.meter_provider,
        )

    # 1. a stream that fails with secrets in its error event and its response.failed message
    hook = new_hook()
    hook.on_response(200, ERROR_HEADERS)
    for i in range(0, len(FAILED), 50):
        hook.feed(FAILED[i : i + 50])
    hook.end()
    hooks.append(hook)
    # 2. an HTTP error with secrets in its body and headers, as bytes and as a dict
    for body in (ERROR_BODY, json.loads(ERROR_BODY)):
        hook = new_hook()
        hook.on_response(401, ERROR_HEADERS, body)
        hook.end()
        hooks.append(hook)
    # 3. streams ended by exceptions whose messages quote secrets
    for ending, exc in (
        ("cancel", RuntimeError(f"app gave up; Authorization: Bearer {TOKEN} api_key={KEY}")),
        ("fail", httpx.ReadError(f"connection reset while sending Bearer {TOKEN} {KEY}")),
        ("close_with", ValueError(f"weird: {BARE_KEY} Basic {BASIC}")),
    ):
        hook = new_hook()
        hook.on_response(200, ERROR_HEADERS)
        hook.feed(COMPLETED[:3000])
        getattr(hook, ending)(exc)
        hooks.append(hook)
    # 4. a completed stream whose text quotes a key
    hook = new_hook()
    hook.feed(COMPLETED)
    hook.end()
    hooks.append(hook)
    return hooks


def _exported(receiver: HttpReceiver, lines: list[str], caplog_text: str) -> bytes:
    raw = b"".join(receiver.received.raw)
    return raw + "\n".join(lines).encode() + caplog_text.encode()


@pytest.mark.parametrize("mode", ["", "span_and_event"])
def test_planted_secrets_never_exported(
    mode: str,
    rendered: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(CAPTURE_ENV, mode)
    monkeypatch.setenv(CAPTURE_MAX_ENV, "100")
    with HttpReceiver() as receiver:
        pipeline = Pipeline(receiver.endpoint)
        _configure_logs(pipeline, rendered)
        hooks = _run_streams(pipeline)
        # and once through the library's own fallback (stdlib logging, structlog unconfigured)
        structlog.reset_defaults()
        with caplog.at_level(logging.DEBUG, logger="otel_responses"):
            _run_streams(pipeline)
        pipeline.flush()
        pipeline.shutdown()
    got = _exported(receiver, rendered, caplog.text)
    received = receiver.received
    assert len(received.spans()) == 2 * len(hooks) and received.metrics() and received.logs()
    assert rendered and caplog.text
    assert [h.outcome for h in hooks] == [
        "failed", "error", "error", "cancelled", "transport_error", "cancelled", "completed",
    ]  # fmt: skip
    for secret in SECRETS:
        assert secret.encode() not in got, f"{secret!r} leaked"
    # The redacted messages are still there, so the search looked at the right bytes.
    assert b"Incorrect API key provided: sk-***" in got
    assert b"Bearer ***" in got
    if mode:
        assert SECRET_TEXT.encode() in got, "opted in: content recorded"
    else:
        assert SECRET_TEXT.encode() not in got, "content recorded without opt-in"


def test_org_and_project_only_as_documented_span_attributes(rendered: list[str]) -> None:
    with HttpReceiver() as receiver:
        pipeline = Pipeline(receiver.endpoint)
        _configure_logs(pipeline, rendered)
        _run_streams(pipeline)
        pipeline.flush()
        pipeline.shutdown()
    received = receiver.received
    documented = {names.RL_ORGANIZATION: ORG, names.RL_PROJECT: PROJ}
    seen: set[str] = set()
    for span in received.spans():
        for attr in span.attributes:
            value = attr.value.string_value
            if ORG in value or PROJ in value:
                assert documented.get(attr.key) == value, f"{attr.key}={value!r}"
                seen.add(attr.key)
        for event in span.events:
            for attr in event.attributes:
                assert ORG not in str(attr.value) and PROJ not in str(attr.value), attr
        assert ORG not in span.status.message and PROJ not in span.status.message
        assert ORG not in span.name
    assert seen == set(documented), "the ids are recorded, as their documented attributes"
    for request in received.requests["metrics"] + received.requests["logs"]:
        raw = request.SerializeToString()
        assert ORG.encode() not in raw and PROJ.encode() not in raw
    assert not any(ORG in line or PROJ in line for line in rendered)
    metric_keys = {
        attr.key
        for m in received.metrics()
        for kind in ("sum", "histogram", "gauge")
        if m.HasField(kind)
        for point in getattr(m, kind).data_points
        for attr in point.attributes
    }
    assert not metric_keys & set(documented)


def _captured_text(monkeypatch: pytest.MonkeyPatch, mode: str | None, max_chars: str | None) -> Any:
    for env, value in ((CAPTURE_ENV, mode), (CAPTURE_MAX_ENV, max_chars)):
        if value is None:
            monkeypatch.delenv(env, raising=False)
        else:
            monkeypatch.setenv(env, value)
    telemetry = new_telemetry()
    hook = ResponseStreamHook(model="m", tracer_provider=telemetry.tracer_provider)
    hook.feed(COMPLETED)
    hook.end()
    (span,) = telemetry.finished()
    telemetry.shutdown()
    return attributes(span).get(names.OUTPUT_MESSAGES)


@pytest.mark.parametrize(
    "mode", [None, "", "false", "no_content", "event_only", "TRUE?", "1", "yes"]
)
def test_content_not_on_the_span_unless_opted_in(
    monkeypatch: pytest.MonkeyPatch, mode: str | None
) -> None:
    assert _captured_text(monkeypatch, mode, None) is None


@pytest.mark.parametrize("mode", ["true", "span_only", "span_and_event", " Span_Only "])
@pytest.mark.parametrize("bound", ["1", "100", "5000", None, "-3", "abc", "\u00b2"])
def test_content_when_opted_in_is_cut_to_the_bound(
    monkeypatch: pytest.MonkeyPatch, mode: str, bound: str | None
) -> None:
    messages = json.loads(_captured_text(monkeypatch, mode, bound))
    text = messages[0]["parts"][0]["content"]
    limit = content_capture_from_env().max_chars
    assert limit == (int(bound) if bound and bound.isascii() and bound.isdigit() else 8192)
    assert len(text) <= limit
    assert text.startswith(f"{SECRET_TEXT}1 "[:limit])
    assert "PLANTEDkey" not in text
