"""Every recorded transcript, replayed: the telemetry says what the file says.

Expected values are derived from each file independently of the library (reference decoding +
``json.loads``), then a few are pinned by hand where the issue names them (the seed).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from otel_responses import replay
from tests.sse_reference import reference_decode
from tests.support import FIXTURES, Telemetry, attributes

STREAMS = sorted(FIXTURES.glob("*.sse"))
HTTP_ERRORS = sorted(FIXTURES.glob("*.http.json"))
TERMINAL = {
    "response.completed": "completed",
    "response.failed": "failed",
    "response.incomplete": "incomplete",
}


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in reference_decode(path.read_bytes())]


def _expected(path: Path) -> dict[str, Any]:
    events = _events(path)
    types = [e["type"] for e in events]
    responses = [e["response"] for e in events if isinstance(e.get("response"), dict)]
    terminal = next((e for e in events if e["type"] in TERMINAL), None)
    errors = [e for e in events if e["type"] == "error"]
    if terminal is not None:
        outcome = TERMINAL[terminal["type"]]
    else:
        outcome = "error" if errors else "truncated"
    error_type = None
    if outcome == "failed":
        assert terminal is not None
        error_type = terminal["response"]["error"]["code"]
    elif outcome == "error":
        err = errors[0]
        error_type = (err.get("error") or err)["code"]
    usage = (terminal or {}).get("response", {}).get("usage") if terminal else None
    return {
        "types": types,
        "outcome": outcome,
        "error_type": error_type,
        "response_id": responses[0]["id"] if responses else None,
        "response_model": responses[-1]["model"] if responses else None,
        "usage": usage,
        "span_events": [t for t in types if not t.endswith(".delta")],
        "deltas": sum(t.endswith(".delta") for t in types),
    }


def test_fixtures_are_all_there() -> None:
    assert len(STREAMS) == 21 and len(HTTP_ERRORS) == 3


@pytest.mark.parametrize("chunk_size", [None, 7, 1024])
@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_stream_transcript(path: Path, chunk_size: int | None, telemetry: Telemetry) -> None:
    want = _expected(path)
    result = replay(
        path,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        chunk_size=chunk_size,
    )
    (span,) = telemetry.finished()
    attrs = attributes(span)
    assert result.outcome == want["outcome"] == attrs["otel_responses.stream.outcome"]
    assert result.error_type == want["error_type"] == attrs.get("error.type")
    if want["outcome"] in ("completed", "incomplete"):
        assert span.status.status_code is StatusCode.UNSET
    else:
        assert span.status.status_code is StatusCode.ERROR and span.status.description
    assert attrs["gen_ai.response.id"] == want["response_id"]
    assert attrs["gen_ai.response.model"] == want["response_model"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["openai.api.type"] == "responses"
    assert attrs["gen_ai.request.stream"] is True
    assert span.kind.name == "CLIENT"
    usage = want["usage"]
    if usage:
        assert attrs["gen_ai.usage.input_tokens"] == usage["input_tokens"]
        assert attrs["gen_ai.usage.output_tokens"] == usage["output_tokens"]
        cached = (usage.get("input_tokens_details") or {}).get("cached_tokens")
        reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
        assert attrs.get("gen_ai.usage.cache_read.input_tokens") == cached
        assert attrs.get("gen_ai.usage.reasoning.output_tokens") == reasoning
    else:
        assert "gen_ai.usage.input_tokens" not in attrs
    # Lifecycle events become span events, in order; deltas never do.
    assert [e.name for e in span.events] == want["span_events"]
    assert attrs["otel_responses.deltas.count"] == want["deltas"]
    assert attrs["otel_responses.events.count"] == len(want["types"])
    assert "otel_responses.anomalies.count" not in attrs
    finish = {"completed": "stop", "failed": "error", "error": "error"}.get(want["outcome"])
    if finish:
        assert attrs["gen_ai.response.finish_reasons"] == (finish,)
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    if want["deltas"]:
        assert (
            attrs["otel_responses.time_to_first_token"]
            >= attrs["gen_ai.response.time_to_first_chunk"]
        )
    # Metrics: one ended stream, every event type counted exactly.
    ((stream_attrs, stream_point),) = telemetry.points("otel_responses.streams")
    assert stream_point.value == 1
    assert stream_attrs["otel_responses.stream.outcome"] == want["outcome"]
    assert stream_attrs.get("error.type") == want["error_type"]
    counted = {
        a["otel_responses.event.type"]: p.value
        for a, p in telemetry.points("otel_responses.events")
    }
    assert counted == dict(Counter(want["types"]))
    for a, _ in telemetry.points("otel_responses.events"):
        assert "gen_ai.response.id" not in a  # no ids on metrics
    ((_, duration),) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    tokens = {
        a["gen_ai.token.type"]: p.sum for a, p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens == (
        {"input": usage["input_tokens"], "output": usage["output_tokens"]} if usage else {}
    )
    per_chunk = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert len(per_chunk) == (1 if want["deltas"] >= 2 else 0)


def test_seed(telemetry: Telemetry) -> None:
    replay(
        FIXTURES / "seed__failed-rate-limit.sse",
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    (span,) = telemetry.finished()
    attrs = attributes(span)
    assert span.status.status_code is StatusCode.ERROR
    assert "Request too large" in (span.status.description or "")
    assert attrs["error.type"] == "rate_limit_exceeded"
    assert attrs["otel_responses.stream.outcome"] == "failed"
    assert attrs["otel_responses.rate_limit.window"] == "TPM"
    assert attrs["otel_responses.rate_limit.limit"] == 1
    assert attrs["otel_responses.rate_limit.requested"] == 30
    assert "otel_responses.rate_limit.used" not in attrs
    assert attrs["otel_responses.rate_limit.organization"] == "org-H9rGLigVW0aTEjgfHIg3Ircj"
    assert attrs["otel_responses.rate_limit.project"] == "proj_f4H0b30rYp2y52CGw64BafkL"
    error_event = next(e for e in span.events if e.name == "error")
    assert attributes(error_event)["otel_responses.event.error.code"] == "unknown-error"
    assert attributes(error_event)["otel_responses.event.error.message"] == "Foobar"
    assert attributes(error_event)["otel_responses.event.sequence_number"] == 2
    failed = span.events[-1]
    assert failed.name == "response.failed"
    assert attributes(failed)["otel_responses.event.error.code"] == "rate_limit_exceeded"
    # Account ids are span attributes only: masked in messages, absent from metrics.
    assert "org-H9r" not in (span.status.description or "")
    assert "org-H9r" not in attributes(failed)["otel_responses.event.error.message"]
    ((hit_attrs, hit),) = telemetry.points("otel_responses.rate_limit.hits")
    assert hit.value == 1
    assert hit_attrs["otel_responses.rate_limit.window"] == "TPM"
    assert hit_attrs["gen_ai.request.model"] == "gpt-4o-2024-08-06"
    assert hit_attrs["error.type"] == "rate_limit_exceeded"
    assert not any("organization" in k or "project" in k for k in hit_attrs)


@pytest.mark.parametrize("path", HTTP_ERRORS, ids=lambda p: p.name)
def test_http_error_transcript(path: Path, telemetry: Telemetry) -> None:
    record = json.loads(path.read_text())
    body = json.loads(record["body"]) if isinstance(record["body"], str) else record["body"]
    error = body["error"]
    replay(path, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    (span,) = telemetry.finished()
    attrs = attributes(span)
    assert attrs["otel_responses.stream.outcome"] == "error"
    assert attrs["http.response.status_code"] == record["status"]
    assert attrs["error.type"] == (error.get("code") or error.get("type"))
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].name == "otel_responses.http.attempt"
    request_id = {k.lower(): v for k, v in record["headers"].items()}.get("x-request-id")
    assert attrs.get("otel_responses.request_id") == request_id
    hits = telemetry.points("otel_responses.rate_limit.hits")
    assert len(hits) == (1 if record["status"] == 429 else 0)


def test_api_key_in_401_message_is_not_recorded(telemetry: Telemetry) -> None:
    body = json.dumps(
        {
            "error": {
                "message": "Incorrect API key provided: sk-proj-abcDEF123456789.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
    )
    record = json.dumps({"status": 401, "headers": {}, "body": body})
    replay(
        record.encode(),
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    (span,) = telemetry.finished()
    assert "abcDEF123456789" not in (span.status.description or "")
    assert attributes(span)["error.type"] == "invalid_api_key"
