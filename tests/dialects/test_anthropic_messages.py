"""The Anthropic Messages dialect, proven on every recorded transcript and on constructed streams.

Every expected value of a transcript is derived from the file itself by :func:`expected`, an
independent and deliberately plain reading (the reference SSE decoder, ``json.loads`` per frame
and the semantics the dialect's module docstring documents), never from the library and never
hard-coded per file. The corpus holds no in-stream ``error`` event, no 429/529, no ``refusal``
and no Vertex stream (see ``fixtures/anthropic_messages/SOURCES.md``): those cases are
constructed here, in the shapes the API documents, and say so.

Each transcript is replayed whole, one event per chunk, in 7-byte pieces, and with CRLF line
endings (whole and in 7-byte pieces), with the dialect detected and named.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_responses import ContentCapture, ResponseStreamHook
from otel_responses.dialects import detect, for_request, get
from otel_responses.dialects.anthropic_messages import DIALECT
from tests import support
from tests.conftest import FIXTURES, Telemetry
from tests.sse_reference import reference_decode
from tests.support import attributes, events_of, frames, new_telemetry

ANTHROPIC = FIXTURES / "anthropic_messages"
STREAMS = sorted(ANTHROPIC.glob("*.sse"))
HTTP_ERRORS = sorted(ANTHROPIC.glob("*.http.json"))
DIALECTS = [None, "anthropic_messages"]
CHUNKINGS = ["whole", "event", "bytes7", "crlf", "crlf_bytes7"]
# The semantics the dialect's module docstring documents.
INCOMPLETE = {"max_tokens", "refusal", "model_context_window_exceeded"}
SPAN_EVENTS = {
    "message_start",
    "content_block_start",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
}
DELTA = "content_block_delta"


# --- the independent reading of a transcript ---------------------------------------------------
@dataclass(frozen=True)
class Expected(support.StreamReading):
    input_tokens: int | None
    output_tokens: int | None
    cache_read: int | None
    cache_creation: int | None
    reasoning: int | None


def expected(body: bytes) -> Expected:
    types: list[str] = []
    span_events: list[str] = []
    deltas = 0
    text: list[str] = []
    errors: list[dict[str, Any]] = []
    ids: list[str] = []
    models: list[str] = []
    counts: dict[str, int] = {}
    thinking: int | None = None
    stop: str | None = None
    stopped = False
    for event_type, data in reference_decode(body):
        payload = json.loads(data)
        kind = event_type or payload["type"]
        if kind == DELTA:
            delta = payload["delta"]
            types.append(f"{DELTA}.{delta['type']}")
            if delta["type"] != "signature_delta":
                deltas += 1
            if delta["type"] == "text_delta":
                text.append(delta["text"])
            continue
        types.append(kind)
        if kind == "ping":
            continue
        span_events.append(kind)
        usage: dict[str, Any] = {}
        if kind == "message_start":
            ids.append(payload["message"]["id"])
            models.append(payload["message"]["model"])
            usage = payload["message"]["usage"]
        elif kind == "message_delta":
            stop = payload["delta"].get("stop_reason") or stop
            usage = payload.get("usage") or {}
        elif kind == "message_stop":
            stopped = True
        elif kind == "error":
            errors.append(payload["error"])
        for key, value in usage.items():
            if isinstance(value, int):
                counts[key] = value
        details = usage.get("output_tokens_details") or {}
        if "thinking_tokens" in details:
            thinking = details["thinking_tokens"]
    if stopped:
        outcome = "incomplete" if stop in INCOMPLETE else "completed"
        error_type = None
    elif errors:
        outcome, error_type = "error", errors[0]["type"]
    else:
        outcome, error_type = "truncated", "_OTHER"
    inputs = [counts[k] for k in ("input_tokens", "cache_read_input_tokens",
                                   "cache_creation_input_tokens") if k in counts]  # fmt: skip
    return Expected(
        events=len(types),
        types=dict(Counter(types)),
        span_events=span_events,
        deltas=deltas,
        outcome=outcome,
        error_type=error_type,
        response_id=ids[0] if ids else None,
        model=models[0] if models else None,
        input_tokens=sum(inputs) if inputs else None,
        output_tokens=counts.get("output_tokens"),
        cache_read=counts.get("cache_read_input_tokens"),
        cache_creation=counts.get("cache_creation_input_tokens"),
        reasoning=thinking,
        finish_reasons=(stop,) if stop else (),
        text="".join(text),
    )


def run(
    telemetry: Telemetry,
    body: bytes,
    how: str = "event",
    dialect: str | None = "anthropic_messages",
    capture: ContentCapture | None = None,
) -> tuple[ResponseStreamHook, ReadableSpan]:
    """:meth:`tests.support.Telemetry.feed_hook` with this file's usual case as defaults: one
    event per chunk, the dialect named."""
    return telemetry.feed_hook(body, how, dialect, capture)


def start(msg_id: str = "msg_1", **usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 10, "output_tokens": 1, **usage},
        },
    }


def text_delta(value: str, index: int = 0) -> dict[str, Any]:
    return {"type": DELTA, "index": index, "delta": {"type": "text_delta", "text": value}}


def stream(*payloads: dict[str, Any]) -> bytes:
    """``payloads`` framed as the API writes them: ``event:`` lines and compact JSON."""
    return frames(*payloads, compact=True)


def complete(stop: str | None, *, deltas: int = 2) -> bytes:
    """A whole message: start, one text block with ``deltas`` deltas, the stop reason, stop."""
    delta: dict[str, Any] = {"stop_reason": stop, "stop_sequence": None}
    return stream(
        start(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(text_delta(f"t{i} ") for i in range(deltas)),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
    )


# --- every transcript ---------------------------------------------------------------------------
def test_the_corpus_is_all_there() -> None:
    assert len(STREAMS) == 10 and len(HTTP_ERRORS) == 2
    support.assert_all_in_sources(ANTHROPIC, [*STREAMS, *HTTP_ERRORS])


def test_the_expectations_are_not_vacuous() -> None:
    """The reading above finds every behaviour the corpus was chosen for."""
    found = {p.name: expected(p.read_bytes()) for p in STREAMS}
    assert {e.outcome for e in found.values()} == {"completed", "incomplete"}
    reasons = {r for e in found.values() for r in e.finish_reasons}
    assert {"end_turn", "max_tokens", "tool_use", "pause_turn"} <= reasons
    every_type = Counter[str]()
    for e in found.values():
        every_type.update(e.types)
    for delta in ("text", "input_json", "thinking", "signature", "citations", "compaction"):
        assert every_type[f"{DELTA}.{delta}_delta"] > 0, delta
    assert any("ping" not in e.types for e in found.values())
    assert any(e.types.get("ping", 0) > 1 for e in found.values())
    assert any(e.cache_creation for e in found.values())
    assert any(e.reasoning for e in found.values())
    assert sum(e.deltas for e in found.values()) > 300


@support.parametrize_transcripts(STREAMS, "anthropic_messages", CHUNKINGS)
def test_stream_transcript(path: Path, how: str, dialect: str | None, telemetry: Telemetry) -> None:
    want = expected(path.read_bytes())
    a, stream_attrs = support.assert_transcript(telemetry, path.read_bytes(), how, dialect, want)
    assert want.outcome in support.CLEAN_OUTCOMES  # no recording ends in error: the status is unset
    assert a["gen_ai.response.finish_reasons"] == want.finish_reasons
    assert "openai.api.type" not in a  # set only once the dialect is settled
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.response.id"] == want.response_id
    assert a["gen_ai.response.model"] == want.model
    assert a["gen_ai.usage.input_tokens"] == want.input_tokens
    assert a["gen_ai.usage.output_tokens"] == want.output_tokens
    assert a.get("gen_ai.usage.cache_read.input_tokens") == want.cache_read
    assert a.get("gen_ai.usage.cache_creation.input_tokens") == want.cache_creation
    assert a.get("gen_ai.usage.reasoning.output_tokens") == want.reasoning
    assert stream_attrs["gen_ai.provider.name"] == "anthropic"
    assert "openai.api.type" not in stream_attrs
    assert telemetry.token_usage() == {"input": want.input_tokens, "output": want.output_tokens}


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_content_capture_and_the_fast_path(path: Path, telemetry: Telemetry) -> None:
    """With capture on every delta is parsed (the slow path); off, its type is read from the
    raw bytes. Both give the same telemetry; on, the span holds the text deltas' text."""
    body = path.read_bytes()
    want = expected(body)
    off_hook, off = run(telemetry, body)
    off_types = telemetry.event_type_counts()
    telemetry.spans.clear()
    on_hook, on = run(telemetry, body, capture=ContentCapture(on_span=True))
    a_off, a_on = attributes(off), attributes(on)
    assert on_hook.outcome == off_hook.outcome == want.outcome
    for key in ("otel_responses.events.count", "otel_responses.deltas.count"):
        assert a_on[key] == a_off[key], key
    assert [e.name for e in on.events] == [e.name for e in off.events]
    assert telemetry.event_type_counts() == {t: 2 * n for t, n in off_types.items()}
    assert "gen_ai.output.messages" not in a_off
    (message,) = json.loads(a_on["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "text", "content": want.text[:8192]}]
    assert message["finish_reason"] == want.finish_reasons[0]


@pytest.mark.parametrize("dialect", DIALECTS, ids=["default", "named"])
@pytest.mark.parametrize("path", HTTP_ERRORS, ids=lambda p: p.stem)
def test_http_error_transcript(path: Path, dialect: str | None, telemetry: Telemetry) -> None:
    """Recorded errors before any stream: ``error.type`` is the body's ``error.type``; the
    request id is the ``request-id`` header. (Without a dialect the default dialect reads the
    body; the nested ``type`` gives the same error type.)"""
    record = json.loads(path.read_text())
    body = json.loads(record["body"])
    headers = {k.lower(): v for k, v in record["headers"].items()}
    result, span = telemetry.replay(path, dialect=dialect)
    a = attributes(span)
    assert (result.outcome, result.error_type) == ("error", body["error"]["type"])
    assert a["http.response.status_code"] == record["status"]
    assert span.status.description == body["error"]["message"]
    if dialect is not None:
        assert a["gen_ai.provider.name"] == "anthropic"
        assert a["otel_responses.request_id"] == headers["request-id"]


# --- documented semantics on constructed streams -------------------------------------------------
@pytest.mark.parametrize(
    ("stop", "outcome"),
    [
        ("end_turn", "completed"),
        ("stop_sequence", "completed"),
        ("tool_use", "completed"),
        ("pause_turn", "completed"),
        ("max_tokens", "incomplete"),
        ("refusal", "incomplete"),  # constructed: no real recording has it
        ("model_context_window_exceeded", "incomplete"),
        ("a_future_reason", "completed"),
    ],
)
def test_stop_reasons(stop: str, outcome: str, telemetry: Telemetry) -> None:
    hook, span = run(telemetry, complete(stop))
    a = attributes(span)
    assert (hook.outcome, hook.error_type) == (outcome, None)
    assert a["gen_ai.response.finish_reasons"] == (stop,)
    assert span.status.status_code is StatusCode.UNSET


def test_message_stop_without_a_stop_reason_is_completed(telemetry: Telemetry) -> None:
    hook, span = run(telemetry, complete(None))
    assert hook.outcome == "completed"
    assert "gen_ai.response.finish_reasons" not in attributes(span)


def test_no_message_stop_is_truncated(telemetry: Telemetry) -> None:
    body = complete("end_turn").rpartition(b"event: message_stop")[0]
    hook, span = run(telemetry, body)
    assert (hook.outcome, hook.error_type) == ("truncated", "_OTHER")
    assert attributes(span)["gen_ai.response.finish_reasons"] == ("error",)


@pytest.mark.parametrize("error", ["overloaded_error", "api_error", "rate_limit_error"])
def test_error_event_mid_stream(error: str, telemetry: Telemetry) -> None:
    """Constructed in the documented shape (none is recorded): the error's ``type`` is
    ``error.type``, its message the status description, and a span event ``error``."""
    body = stream(
        start(),
        text_delta("partial"),
        {"type": "error", "error": {"type": error, "message": "Overloaded"}},
    )
    hook, span = run(telemetry, body)
    a = attributes(span)
    assert (hook.outcome, hook.error_type) == ("error", error)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Overloaded"
    assert [e.name for e in span.events][-1] == "error"
    error_event = span.events[-1]
    assert (error_event.attributes or {})["otel_responses.event.error.code"] == error
    assert a["otel_responses.deltas.count"] == 1
    hits = telemetry.points("otel_responses.rate_limit.hits")
    assert sum(p.value for _, p in hits) == (1 if error == "rate_limit_error" else 0)


def test_ping_is_counted_not_a_span_event(telemetry: Telemetry) -> None:
    body = complete("end_turn")
    body = body.replace(b"event: content_block_delta", b'event: ping\ndata: {"type": "ping"}\n\n'
                        b"event: content_block_delta", 1)  # fmt: skip
    _, span = run(telemetry, body)
    assert "ping" not in [e.name for e in span.events]
    assert telemetry.event_type_counts()["ping"] == 1
    assert attributes(span)["otel_responses.events.count"] == 8


def test_signature_delta_is_counted_but_is_no_output(telemetry: Telemetry) -> None:
    """A thinking block's signature is opaque: counted, but neither a delta nor the first
    token."""
    body = stream(
        start(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
        {"type": DELTA, "index": 0, "delta": {"type": "signature_delta", "signature": "Eq=="}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    )
    for capture in (ContentCapture(), ContentCapture(on_span=True)):  # fast and slow path
        telemetry.spans.clear()
        _, span = run(telemetry, body, capture=capture)
        a = attributes(span)
        assert a["otel_responses.deltas.count"] == 0
        assert "otel_responses.time_to_first_token" not in a
    assert telemetry.event_type_counts()[f"{DELTA}.signature_delta"] == 2


def test_frames_without_event_lines(telemetry: Telemetry) -> None:
    """Some proxies drop the ``event:`` line: the type is read from the data; detected too."""
    body = frames(*_payloads(complete("max_tokens")), named=False, compact=True)
    hook, span = run(telemetry, body, dialect=None)
    a = attributes(span)
    assert hook.outcome == "incomplete"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["otel_responses.deltas.count"] == 2
    assert telemetry.event_type_counts()[f"{DELTA}.text_delta"] == 2


def test_spaced_json_takes_the_slow_path_with_the_same_result(telemetry: Telemetry) -> None:
    """JSON written with spaces defeats the raw scan: the frame is parsed, the type is the
    same."""
    body = b"".join(
        f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode()
        for p in _payloads(complete("end_turn"))
    )
    assert b'"delta": {"type": "text_delta"' in body
    hook, span = run(telemetry, body)
    assert hook.outcome == "completed"
    assert telemetry.event_type_counts()[f"{DELTA}.text_delta"] == 2
    assert attributes(span)["otel_responses.deltas.count"] == 2


def test_usage_restated_in_message_delta_keeps_the_last_value(telemetry: Telemetry) -> None:
    """``message_delta`` may restate input counts (as the 2026 recordings do): each count keeps
    its last value; input is the sum of the three input counts."""
    body = stream(
        start(input_tokens=5, cache_read_input_tokens=100, cache_creation_input_tokens=20),
        text_delta("x"),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 6, "output_tokens": 9},
        },
        {"type": "message_stop"},
    )
    _, span = run(telemetry, body)
    a = attributes(span)
    assert a["gen_ai.usage.input_tokens"] == 6 + 100 + 20
    assert a["gen_ai.usage.cache_read.input_tokens"] == 100
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert a["gen_ai.usage.output_tokens"] == 9


def test_a_hostile_delta_type_cannot_mint_metric_values(telemetry: Telemetry) -> None:
    body = stream(
        start(),
        {"type": DELTA, "index": 0, "delta": {"type": "zzz_new_delta", "text": "x"}},
        {"type": "message_stop"},
    )
    _, span = run(telemetry, body)
    counted = telemetry.event_type_counts()
    assert "content_block_delta.zzz_new_delta" not in counted and counted["_OTHER"] == 1
    assert attributes(span)["otel_responses.deltas.count"] == 1


def _payloads(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in reference_decode(body)]


# --- before the stream ---------------------------------------------------------------------------
RATE_LIMIT_HEADERS = {
    "request-id": "req_011PLANTED",
    "retry-after": "17",
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:30Z",
    "anthropic-ratelimit-tokens-limit": "90000",
    "anthropic-ratelimit-tokens-remaining": "1200",
    "anthropic-ratelimit-tokens-reset": "2000-01-01T00:00:00Z",
    "anthropic-ratelimit-input-tokens-limit": "80000",
    "anthropic-ratelimit-input-tokens-remaining": "1000",
    "anthropic-ratelimit-input-tokens-reset": "2099-01-01T00:00:00Z",
    "anthropic-ratelimit-output-tokens-limit": "16000",
    "anthropic-ratelimit-output-tokens-remaining": "200",
    "anthropic-ratelimit-output-tokens-reset": "not a time",
}


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error")],
)
def test_http_errors_before_the_stream(status: int, error: str, telemetry: Telemetry) -> None:
    """Constructed in the documented shape (no 429/529 is recorded)."""
    hook = ResponseStreamHook(
        dialect="anthropic_messages",
        model="m",
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    body = {"type": "error", "error": {"type": error, "message": "slow down"}}
    hook.on_response(status, RATE_LIMIT_HEADERS, json.dumps(body).encode())
    hook.end()
    (span,) = telemetry.finished()
    a = attributes(span)
    assert (hook.outcome, hook.error_type) == ("error", error)
    assert a["http.response.status_code"] == status
    assert a["otel_responses.request_id"] == "req_011PLANTED"
    assert a["otel_responses.rate_limit.retry_after"] == 17
    for kind, limit, remaining in (
        ("requests", 50, 0),
        ("tokens", 90000, 1200),
        ("input_tokens", 80000, 1000),
        ("output_tokens", 16000, 200),
    ):
        assert a[f"otel_responses.rate_limit.limit_{kind}"] == limit
        assert a[f"otel_responses.rate_limit.remaining_{kind}"] == remaining
    assert a["otel_responses.rate_limit.reset_requests"] > 365 * 86400  # seconds until 2099
    assert a["otel_responses.rate_limit.reset_tokens"] == 0  # a passed instant
    assert "otel_responses.rate_limit.reset_output_tokens" not in a  # unreadable
    hits = sum(p.value for _, p in telemetry.points("otel_responses.rate_limit.hits"))
    assert hits == (1 if status == 429 else 0)


def test_http_facts_directly() -> None:
    facts = DIALECT.http(
        401, {"Content-Type": "application/json"}, b'{"type":"error","request_id":"req_b"}'
    )
    assert facts.request_id == "req_b" and facts.error is not None and facts.error.code is None
    plain = DIALECT.http(502, {}, b"<html>bad gateway</html>")
    assert plain.error is not None and plain.error.code is None
    ok = DIALECT.http(200, {"Request-Id": "req_c"}, None)
    assert ok.error is None and ok.request_id == "req_c"
    leaked = DIALECT.http(
        401,
        {},
        {"type": "error", "error": {"type": "authentication_error",
                                    "message": "invalid x-api-key sk-ant-api03-PLANTEDkey"}},
    )  # fmt: skip
    assert leaked.error is not None and "PLANTEDkey" not in (leaked.error.message or "")


# --- the dialect object ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "host", "path", "name", "provider"),
    [
        ("POST", "api.anthropic.com", "/v1/messages", "anthropic_messages", "anthropic"),
        ("POST", "api.anthropic.com", "/v1/messages?beta=true", "anthropic_messages", "anthropic"),
        ("POST", "gw.example", "/anthropic/v1/messages/", "anthropic_messages", "anthropic"),
        (
            "POST",
            "us-east5-aiplatform.googleapis.com",
            "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-x@1:streamRawPredict",
            "anthropic_messages",
            "gcp.vertex_ai",
        ),
        (
            "POST",
            "gw.example",
            "/v1/projects/p/locations/global/publishers/anthropic/models/claude-x:rawPredict",
            "anthropic_messages",
            "gcp.vertex_ai",
        ),
        ("POST", "api.anthropic.com", "/v1/messages/count_tokens", None, None),
        ("POST", "api.anthropic.com", "/v1/messages/batches", None, None),
        ("GET", "api.anthropic.com", "/v1/messages", None, None),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/v1/messages", None, None),
    ],
)
def test_requests_recognised(
    method: str, host: str, path: str, name: str | None, provider: str | None
) -> None:
    found = for_request(method, host, path)
    assert (found.name if found else None) == name
    if found is not None:
        assert found.provider(host, path) == provider
        assert found.provider(None, path) == provider


def test_request_facts() -> None:
    assert DIALECT.request("/v1/messages", {"model": "claude-x", "stream": True}) == (
        "claude-x",
        True,
    )
    assert DIALECT.request("/v1/messages", None) == (None, True)
    vertex = "/v1/projects/p/locations/r/publishers/anthropic/models/claude-x@1%3Bv:"
    assert DIALECT.request(vertex + "streamRawPredict", {"stream": True}) == ("claude-x@1;v", True)
    assert DIALECT.request(vertex + "rawPredict", {}) == ("claude-x@1;v", False)


def test_detection() -> None:
    assert detect("message_start", b"{}") is get("anthropic_messages")
    assert detect("", b'{"type":"message_start","message":{}}') is get("anthropic_messages")
    assert detect("", b'{"type":"response.created"}') is not get("anthropic_messages")
    assert detect("error", b'{"type":"error","error":{"type":"x"}}') is not get(
        "anthropic_messages"
    )  # an error first says nothing: the default dialect reads it alike
    assert get("anthropic_messages").sniff_object({"type": "content_block_delta"})


def test_sdk_objects_and_whole_messages(telemetry: Telemetry) -> None:
    """``on_event`` with dicts as the SDK yields them (its derived ``text`` events ignored), and
    a non-streamed message through ``on_final``-style replay of a JSON body."""
    hook = ResponseStreamHook(
        dialect="anthropic_messages",
        model="m",
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    for payload in _payloads(complete("max_tokens")):
        hook.on_event(payload)
        if payload["type"] == DELTA:
            hook.on_event({"type": "text", "text": "t", "snapshot": "t"})
    hook.end()
    (span,) = telemetry.finished()
    a = attributes(span)
    assert hook.outcome == "incomplete"
    assert a["otel_responses.deltas.count"] == 2
    assert a["otel_responses.events.count"] == 7


# --- hostile input ------------------------------------------------------------------------------
_FRAMES = events_of(complete("end_turn", deltas=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.lists(st.integers(0, len(_FRAMES) - 1), max_size=12).map(
            lambda ix: b"".join(_FRAMES[i] for i in ix)
        ),
    ),
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, "anthropic_messages"]),
)
def test_random_and_mutated_frames_never_raise(body: bytes, seed: int, dialect: str | None) -> None:
    """Random bytes, and anthropic frames shuffled, repeated, dropped and with bytes flipped:
    the hook never raises and exactly one span ends."""
    rng = random.Random(seed)
    mutated = bytearray(body)
    for _ in range(rng.randint(0, 6)):
        if mutated:
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
    telemetry = new_telemetry()  # a fresh one per example: hypothesis runs many in one test
    hook = telemetry.hook(
        dialect=dialect,
        model="m",
        capture_content=ContentCapture(on_span=rng.random() < 0.5),
    )
    data = bytes(mutated)
    step = rng.randint(1, 64)
    for i in range(0, len(data), step):
        hook.feed(data[i : i + step])
    hook.end()
    assert len(telemetry.finished()) == 1
    assert hook.outcome is not None
    telemetry.shutdown()


def test_deltas_are_never_parsed_without_capture(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path: with capture off, a ``content_block_delta`` frame costs no ``json.loads``
    (its type is read from the raw bytes); every other frame is parsed once."""
    from otel_responses.dialects import anthropic_messages
    from otel_responses.dialects._access import loads as real

    parsed: list[bytes | str] = []

    def counting(data: bytes | str) -> Any:
        parsed.append(data)
        return real(data)

    monkeypatch.setattr(anthropic_messages, "loads", counting)
    body = (
        ANTHROPIC / "pydantic-ai__claude-sonnet-4_web_search_citations_no_ping.sse"
    ).read_bytes()
    want = expected(body)
    run(telemetry, body)
    assert len(parsed) == want.events - sum(n for t, n in want.types.items() if t.startswith(DELTA))
    assert all(isinstance(p, bytes) and b'"content_block_delta"' not in p for p in parsed)
    parsed.clear()
    telemetry.spans.clear()
    run(telemetry, body, capture=ContentCapture(on_span=True))
    assert len(parsed) == want.events  # capture on: every frame parsed
