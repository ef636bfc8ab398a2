"""The hook's contract: endings, anomalies, input forms, metrics, content capture, memory."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
import weakref
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from otel_responses import ContentCapture, ResponseStreamHook, SSEMessage
from tests.support import FIXTURES, Telemetry, attributes, frame


def _response(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "resp_1", "model": "gpt-4o-2024-08-06", "status": status, **extra}


CREATED = {"type": "response.created", "sequence_number": 0, "response": _response("in_progress")}


def _delta(seq: int, text: str = "hi") -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "sequence_number": seq,
        "delta": text,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
    }


def _completed(seq: int) -> dict[str, Any]:
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens_details": {"reasoning_tokens": 2},
    }
    return {
        "type": "response.completed",
        "sequence_number": seq,
        "response": _response("completed", usage=usage),
    }


def _attrs(telemetry: Telemetry) -> dict[str, Any]:
    (span,) = telemetry.finished()
    return dict(span.attributes or {})


def test_span_starts_as_client_chat_span_and_is_not_made_current(telemetry: Telemetry) -> None:
    from opentelemetry import trace

    before = trace.get_current_span()
    hook = telemetry.hook(server_address="api.openai.com", server_port=443)
    assert trace.get_current_span() is before
    hook.end()
    (span,) = telemetry.finished()
    assert span.name == "chat gpt-4o"
    attrs = attributes(span)
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["server.address"] == "api.openai.com" and attrs["server.port"] == 443


def test_start_time_dates_the_span_and_the_durations_back(telemetry: Telemetry) -> None:
    """A hook made after the request went out (as the proxy makes it) counts from the call's
    start: the span's start, the duration and the time to first chunk include the time before."""
    started = time.time_ns() - 250_000_000  # the call began 0.25 s ago
    hook = telemetry.hook(start_time=started)
    hook.feed(frame(CREATED))
    hook.end()
    (span,) = telemetry.finished()
    assert span.start_time == started
    assert span.end_time is not None and span.end_time - started >= 250_000_000
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.operation.time_to_first_chunk"):
        ((_, point),) = telemetry.points(name)
        assert 0.25 <= point.sum < 5, name


@pytest.mark.parametrize("bad", [time.time_ns() + 10**12, -1, True, 1.5, "0"])
def test_start_time_must_be_a_past_time(bad: Any) -> None:
    with pytest.raises(ValueError, match="start_time"):
        ResponseStreamHook(start_time=bad)


@pytest.mark.parametrize("dialect", [None, "responses", "chat_completions"])
def test_an_ended_stream_is_freed_without_the_collector(
    telemetry: Telemetry, dialect: str | None
) -> None:
    """No reference cycle runs through a hook: dropping it frees the stream's objects at once,
    not at the cyclic collector's next pass (which would hold every recent stream's span,
    state and decoder until then, and cost the collector's time)."""
    gc.collect()
    gc.disable()
    try:
        hook = telemetry.hook(dialect=dialect)
        hook.feed(frame(CREATED) + frame(_delta(1)) + b"data: [not json]\n\n")
        hook.feed("not bytes")  # type: ignore[arg-type]  # a fault, reported
        hook.end()
        refs = [weakref.ref(o) for o in (hook, hook._stream, hook._recorder, hook._recorder.spans)]
        del hook
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        gc.enable()


def test_max_line_bytes_must_be_positive_and_no_span_is_left_open(telemetry: Telemetry) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_line_bytes"):
            ResponseStreamHook(max_line_bytes=bad, tracer_provider=telemetry.tracer_provider)
    hook = ResponseStreamHook(max_line_bytes=1, tracer_provider=telemetry.tracer_provider)
    hook.end()
    assert len(telemetry.spans.get_finished_spans()) == 1  # only the valid hook's span


@pytest.mark.parametrize(
    ("ending", "outcome", "error_type"),
    [
        (lambda h: h.end(), "truncated", "_OTHER"),
        (lambda h: h.cancel(), "cancelled", "_OTHER"),
        (lambda h: h.cancel(ValueError("app bug")), "cancelled", "ValueError"),
        (lambda h: h.fail(TimeoutError("read timed out")), "transport_error", "TimeoutError"),
        (lambda h: h.abandon(), "abandoned", "_OTHER"),
    ],
    ids=["end", "cancel", "cancel-exc", "fail", "abandon"],
)
def test_endings_without_terminal_event(
    telemetry: Telemetry, ending: Any, outcome: str, error_type: str
) -> None:
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(_delta(1)))
    ending(hook)
    ending(hook)  # a second ending changes nothing
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == outcome == hook.outcome
    assert attrs["error.type"] == error_type
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR and span.status.description
    assert attrs["gen_ai.response.finish_reasons"] == ("error",)
    ((labels, point),) = telemetry.points("otel_responses.streams")
    assert point.value == 1 and labels["otel_responses.stream.outcome"] == outcome


def test_app_exception_is_recorded_on_cancel(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    with pytest.raises(KeyError), hook:
        hook.feed(frame(CREATED))
        raise KeyError("boom")
    (span,) = telemetry.finished()
    assert attributes(span)["otel_responses.stream.outcome"] == "cancelled"
    assert attributes(span)["error.type"] == "KeyError"
    assert [e.name for e in span.events][-1] == "exception"


def test_context_manager_classifies_transport_errors(telemetry: Telemetry) -> None:
    class RemoteProtocolError(Exception):
        pass

    class TransportError(Exception):
        pass

    class Dropped(TransportError, RemoteProtocolError):
        pass

    hook = telemetry.hook()
    with pytest.raises(Dropped), hook:
        raise Dropped("peer closed connection")
    assert hook.outcome == "transport_error"
    assert hook.error_type is not None and hook.error_type.endswith("Dropped")


def test_terminal_event_decides_the_outcome_over_the_ending(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(_delta(1)) + frame(_completed(2)))
    hook.cancel()  # the app closed after the last event: still a completed stream
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert "error.type" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] == 10
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)


def test_incomplete_is_not_an_error(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    incomplete = {
        "type": "response.incomplete",
        "sequence_number": 1,
        "response": _response("incomplete", incomplete_details={"reason": "max_output_tokens"}),
    }
    hook.feed(frame(CREATED) + frame(incomplete))
    hook.end()
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.UNSET
    assert attributes(span)["otel_responses.stream.outcome"] == "incomplete"
    assert attributes(span)["gen_ai.response.finish_reasons"] == ("max_output_tokens",)
    assert "error.type" not in attributes(span)


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_error_event_without_terminal_is_error(telemetry: Telemetry, shape: str) -> None:
    err = {"code": "server_error", "message": "The server had an error", "param": None}
    event = (
        {"type": "error", "sequence_number": 1, **err}
        if shape == "flat"
        else {"type": "error", "sequence_number": 1, "error": err}
    )
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(event))
    hook.end()
    (span,) = telemetry.finished()
    assert attributes(span)["otel_responses.stream.outcome"] == "error"
    assert attributes(span)["error.type"] == "server_error"
    assert span.status.description == "The server had an error"
    assert attributes(span.events[-1])["otel_responses.event.error.code"] == "server_error"


def test_rate_limit_error_event_with_used_and_retry(telemetry: Telemetry) -> None:
    message = (
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): "
        "Limit 30000, Used 29950, Requested 750. Please try again in 1.4s. Visit ..."
    )
    hook = telemetry.hook()
    hook.feed(
        frame(
            {
                "type": "error",
                "code": "rate_limit_exceeded",
                "message": message,
                "param": None,
                "sequence_number": 0,
            }
        )
    )
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["error.type"] == "rate_limit_exceeded"
    assert (
        attrs["otel_responses.rate_limit.window"],
        attrs["otel_responses.rate_limit.limit"],
        attrs["otel_responses.rate_limit.used"],
        attrs["otel_responses.rate_limit.requested"],
        attrs["otel_responses.rate_limit.retry_after"],
    ) == ("TPM", 30000, 29950, 750, 1.4)
    ((_, retry),) = telemetry.points("otel_responses.rate_limit.retry_after")
    assert retry.sum == pytest.approx(1.4)


def test_headers_feed_attributes_and_headroom_gauges(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.on_response(
        200,
        {
            "X-Request-Id": "req_123",
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-reset-tokens": "6m0s",
            "authorization": "Bearer sk-secret",
        },
    )
    hook.feed(frame(CREATED) + frame(_completed(1)))
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.request_id"] == "req_123"
    assert attrs["otel_responses.rate_limit.limit_requests"] == 500
    assert attrs["otel_responses.rate_limit.remaining_tokens"] == 29000
    assert attrs["otel_responses.rate_limit.reset_requests"] == pytest.approx(0.12)
    assert attrs["otel_responses.rate_limit.reset_tokens"] == 360.0
    assert attrs["otel_responses.http.retry_count"] == 0
    assert not any("sk-secret" in str(v) for v in attrs.values())
    ((_, requests),) = telemetry.points("otel_responses.rate_limit.remaining_requests")
    ((_, tokens),) = telemetry.points("otel_responses.rate_limit.remaining_tokens")
    assert (requests.value, tokens.value) == (499, 29000)


def test_retried_attempts_are_span_events(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    body = {"error": {"code": "rate_limit_exceeded", "message": "Rate limit reached ... (RPM)"}}
    hook.on_response(429, {"retry-after-ms": "250"}, json.dumps(body))
    hook.on_response(429, {"retry-after": "2"}, json.dumps(body))
    hook.on_response(200, {})
    hook.feed(frame(CREATED) + frame(_completed(1)))
    hook.end()
    (span,) = telemetry.finished()
    attempts = [e for e in span.events if e.name == "otel_responses.http.attempt"]
    assert [attributes(e)["http.response.status_code"] for e in attempts] == [429, 429, 200]
    assert [attributes(e).get("otel_responses.rate_limit.retry_after") for e in attempts] == [
        0.25,
        2.0,
        None,
    ]
    assert attributes(span)["otel_responses.http.retry_count"] == 2
    assert attributes(span)["otel_responses.stream.outcome"] == "completed"
    assert not telemetry.points("otel_responses.rate_limit.hits")


def test_pre_stream_429_without_body_code_uses_status(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.on_response(429, {"retry-after": "20"}, b"not json")
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "error"
    assert attrs["error.type"] == "429"
    assert attrs["otel_responses.rate_limit.retry_after"] == 20.0
    ((labels, hit),) = telemetry.points("otel_responses.rate_limit.hits")
    assert hit.value == 1 and labels["error.type"] == "429"


def test_attempt_without_response_is_counted_and_is_a_span_event(telemetry: Telemetry) -> None:
    class ConnectError(Exception):
        pass

    hook = telemetry.hook()
    hook.on_attempt_failed(ConnectError("refused"))
    assert not hook.ended  # the call's own ending decides; a retry may follow
    hook.on_response(200, {})
    hook.feed(frame(CREATED) + frame(_completed(1)))
    hook.end()
    (span,) = telemetry.finished()
    attempts = [
        dict(e.attributes or {}) for e in span.events if e.name == "otel_responses.http.attempt"
    ]
    assert attempts == [
        {
            "otel_responses.http.attempt_number": 1,
            "error.type": f"{__name__}.{ConnectError.__qualname__}",
        },
        {"http.response.status_code": 200, "otel_responses.http.attempt_number": 2},
    ]
    assert attributes(span)["otel_responses.http.retry_count"] == 1
    assert attributes(span)["otel_responses.stream.outcome"] == "completed"
    assert "error.type" not in attributes(span)


def test_failed_last_attempt_outweighs_an_earlier_http_error(telemetry: Telemetry) -> None:
    """429, then an attempt with no response, then the client gives up: the call failed on the
    connection, not on the rate limit the first attempt reported."""
    hook = telemetry.hook()
    body = {"error": {"code": "rate_limit_exceeded", "message": "Rate limit reached ... (RPM)"}}
    hook.on_response(429, {"retry-after-ms": "1"}, json.dumps(body))
    hook.on_attempt_failed(TimeoutError("connect timed out"))
    hook.close_with(TimeoutError("connect timed out"))
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "transport_error"
    assert attrs["error.type"] == "TimeoutError"
    assert attrs["otel_responses.http.retry_count"] == 1
    assert "otel_responses.rate_limit.window" not in attrs
    assert not telemetry.points("otel_responses.rate_limit.hits")


def test_attempt_failed_never_raises(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace import Span as SdkSpan

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("exporter bug")

    hook = telemetry.hook()
    monkeypatch.setattr(SdkSpan, "add_event", broken)
    hook.on_attempt_failed(ConnectionResetError("reset"))
    hook.on_attempt_failed(ConnectionResetError("reset"))
    monkeypatch.undo()
    hook.close_with(ConnectionResetError("reset"))
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.http.retry_count"] == 1  # both attempts counted regardless
    assert attrs["otel_responses.stream.outcome"] == "transport_error"
    sites = [
        labels["otel_responses.internal_error.site"]
        for labels, _ in telemetry.points("otel_responses.internal_errors")
    ]
    assert sites == ["span"]


def test_anomalies_are_counted_and_never_change_the_outcome(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(_delta(1)) + frame(_delta(1)))  # repeated sequence number
    hook.feed(b"event: response.output_item.added\ndata: {not json\n\n")  # undecodable
    hook.feed(b"data: \xff\xfe\n\n")  # not UTF-8, no type
    hook.feed(frame(_completed(2)))
    hook.feed(
        frame(_delta(3))
        + frame({"type": "response.failed", "sequence_number": 4, "response": _response("failed")})
    )  # after terminal
    hook.feed(b"data: [DONE]\n\n")
    hook.end()
    (span,) = telemetry.finished()
    attrs = attributes(span)
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["otel_responses.deltas.count"] == 1
    kinds = [
        attributes(e)["otel_responses.anomaly.kind"]
        for e in span.events
        if e.name == "otel_responses.anomaly"
    ]
    assert kinds == [
        "repeated_sequence",
        "undecodable",
        "undecodable",
        "after_terminal",
        "after_terminal",
    ]
    assert attrs["otel_responses.anomalies.count"] == 5
    counted = {
        a["otel_responses.anomaly.kind"]: p.value
        for a, p in telemetry.points("otel_responses.anomalies")
    }
    assert counted == {"repeated_sequence": 1, "undecodable": 2, "after_terminal": 2}
    events = {
        a["otel_responses.event.type"]: p.value
        for a, p in telemetry.points("otel_responses.events")
    }
    assert events == {
        "response.created": 1,
        "response.output_text.delta": 1,
        "response.completed": 1,
    }


def test_oversized_line_is_an_anomaly(telemetry: Telemetry) -> None:
    hook = telemetry.hook(max_line_bytes=1000)
    hook.feed(frame(CREATED) + b"data: " + b"x" * 5000 + b"\n\n" + frame(_completed(1)))
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["otel_responses.anomalies.count"] == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff" * 500,
        b'data: {"type": 5}\n\n',
        b"data: []\n\n",
        b"event: \xff\ndata: {}\n\n",
        b'data: {"type":"response.completed","response":7}\n\n',
        b'data: {"type":"error","error":"flat string"}\n\n',
        b'data: {"type":"response.failed","response":{"error":{"code":5}}}\n\n',
        b'data: {"type":"response.created","sequence_number":1e400}\n\n',
        b"data: " + b"[" * 100_000 + b"\n\n",
        b'data: {"type":"response.output_text.delta","sequence_number":' + b"9" * 30 + b"}\n\n",
        b"event: x\n" * 10_000,
        b"retry: 99999999999999999999\n\n",
        b"\r\r\r\n\n\n",
    ],
)
def test_garbage_never_raises_and_the_span_ends(telemetry: Telemetry, garbage: bytes) -> None:
    hook = telemetry.hook()
    for i in range(0, len(garbage), 333):
        hook.feed(garbage[i : i + 333])
    hook.on_event(object())
    hook.on_event({"type": None})
    hook.on_event(SSEMessage("response.completed", "{truncated"))
    hook.on_response(-1, {"x-ratelimit-reset-tokens": "forever"}, b"\xff")
    hook.end()
    assert len(telemetry.finished()) == 1
    assert hook.outcome is not None


def test_sdk_event_objects_and_dicts(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.on_event(
        SimpleNamespace(
            type="response.created",
            sequence_number=0,
            response=SimpleNamespace(
                id="resp_9", model="m", status="x", usage=None, service_tier=None
            ),
        )
    )
    hook.on_event(SimpleNamespace(type="response.output_text.delta", sequence_number=1, delta="a"))
    hook.on_event({"type": "response.output_text.delta", "sequence_number": 2, "delta": "b"})
    hook.on_event(SSEMessage("", json.dumps(_completed(3))))
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["gen_ai.response.id"] == "resp_9"
    assert attrs["otel_responses.deltas.count"] == 2
    assert attrs["otel_responses.stream.outcome"] == "completed"


def test_non_streamed_final_response(telemetry: Telemetry) -> None:
    hook = telemetry.hook(stream=False)
    hook.on_response(200, {})
    hook.on_final_response(_response("completed", usage={"input_tokens": 3, "output_tokens": 1}))
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["gen_ai.usage.output_tokens"] == 1
    assert not telemetry.points("gen_ai.client.operation.time_per_output_chunk")


def test_content_is_not_captured_by_default(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(_delta(1, "secret words")) + frame(_completed(2)))
    hook.end()
    (span,) = telemetry.finished()
    assert "secret words" not in repr(span.to_json())


@pytest.mark.parametrize("mode", ["span_only", "span_and_event", "true"])
def test_content_capture_opt_in_is_bounded(
    telemetry: Telemetry, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", mode)
    monkeypatch.setenv("OTEL_RESPONSES_CAPTURE_MAX_CHARS", "10")
    hook = telemetry.hook()
    hook.feed(
        frame(CREATED)
        + b"".join(frame(_delta(i, "abcd")) for i in range(1, 6))
        + frame(_completed(6))
    )
    hook.end()
    messages = json.loads(_attrs(telemetry)["gen_ai.output.messages"])
    assert messages == [
        {
            "role": "assistant",
            "finish_reason": "stop",
            "parts": [{"type": "text", "content": "abcdabcdab"}],
        }
    ]


def test_capture_argument_overrides_env(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    hook = telemetry.hook(capture_content=ContentCapture())
    hook.feed(frame(CREATED) + frame(_delta(1)) + frame(_completed(2)))
    hook.end()
    assert "gen_ai.output.messages" not in _attrs(telemetry)


def test_time_metrics_are_one_point_per_stream(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.feed(
        frame(CREATED) + b"".join(frame(_delta(i)) for i in range(1, 501)) + frame(_completed(501))
    )
    hook.end()
    for name in (
        "gen_ai.client.operation.time_to_first_chunk",
        "otel_responses.time_to_first_token",
        "gen_ai.client.operation.time_per_output_chunk",
        "gen_ai.client.operation.duration",
    ):
        ((labels, point),) = telemetry.points(name)
        assert point.count == 1, name
        assert labels["gen_ai.request.model"] == "gpt-4o"
        assert labels["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    (span,) = telemetry.finished()
    assert len(span.events) == 2  # created, completed: the 500 deltas are not span events


def test_too_many_event_types_are_capped(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.feed(b"".join(frame({"type": f"response.kind{i}.delta"}) for i in range(200)))
    hook.end()
    events = {
        a["otel_responses.event.type"]: p.value
        for a, p in telemetry.points("otel_responses.events")
    }
    assert len(events) == 65 and events["_OTHER"] == 136


def _stream_memory(telemetry: Telemetry, deltas: int) -> int:
    """Bytes still allocated after feeding ``deltas`` deltas (no sequence numbers, as in the
    streams recorded before OpenAI added them, so one chunk can be fed again and again)."""
    delta = {k: v for k, v in _delta(0).items() if k != "sequence_number"}
    chunk = frame(delta) * 1000
    hook = telemetry.hook()
    hook.feed(frame(CREATED))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(deltas // 1000):
        hook.feed(chunk)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    hook.end()
    assert attributes(telemetry.finished()[-1])["otel_responses.deltas.count"] == deltas
    return grown


def test_memory_does_not_grow_with_stream_length(telemetry: Telemetry) -> None:
    gc.collect()
    small = _stream_memory(telemetry, 10_000)
    large = _stream_memory(telemetry, 100_000)
    assert large < small + 16 * 1024, (small, large)


def test_full_corpus_file_through_on_event_dicts(telemetry: Telemetry) -> None:
    from tests.sse_reference import reference_decode

    path = FIXTURES / "pydantic-ai__web_search_stream.sse"
    hook = telemetry.hook()
    for _, data in reference_decode(path.read_bytes()):
        hook.on_event(json.loads(data))
    hook.end()
    attrs = _attrs(telemetry)
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["otel_responses.deltas.count"] == 44


def test_histograms_carry_exemplars_of_the_stream_trace(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(_delta(1)) + frame(_delta(2)) + frame(_completed(3)))
    hook.end()
    (span,) = telemetry.finished()
    data = telemetry.metrics.get_metrics_data()  # one collection: it resets the exemplars
    assert data is not None
    histograms = {
        m.name: m.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if type(m.data).__name__ == "Histogram"
    }
    assert len(histograms) >= 6
    for name, (point, *_) in histograms.items():
        assert {e.trace_id for e in point.exemplars} == {span.context.trace_id}, name


def test_cached_and_reasoning_tokens_and_limit_gauges(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.on_response(200, {"x-ratelimit-limit-requests": "500", "x-ratelimit-limit-tokens": "9000"})
    hook.feed(frame(CREATED) + frame(_completed(1)))
    hook.end()
    details = {
        a["otel_responses.token.kind"]: p.sum
        for a, p in telemetry.points("otel_responses.token.usage.details")
    }
    assert details == {"cache_read": 4, "reasoning": 2}
    ((_, requests),) = telemetry.points("otel_responses.rate_limit.limit_requests")
    ((_, tokens),) = telemetry.points("otel_responses.rate_limit.limit_tokens")
    assert (requests.value, tokens.value) == (500, 9000)


def test_a_flood_of_anomalies_is_counted_but_not_one_span_event_each(telemetry: Telemetry) -> None:
    hook = telemetry.hook()
    hook.feed(frame(CREATED) + frame(_delta(1)) + frame(_delta(1)) * 5000)
    hook.end()
    (span,) = telemetry.finished()
    anomaly_events = [e for e in span.events if e.name == "otel_responses.anomaly"]
    assert len(anomaly_events) == 32
    assert attributes(span)["otel_responses.anomalies.count"] == 5000
    assert attributes(span)["otel_responses.deltas.count"] == 1
