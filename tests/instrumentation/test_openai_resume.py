"""Resumed streams through the real openai SDK against ``httpx.MockTransport``:
``responses.retrieve(id, stream=True, starting_after=n)`` (``GET /responses/{id}?stream=true``)
and ``responses.stream(response_id=id, starting_after=n)``, sync and async.

The request carries no model, so the span is named ``chat`` with no ``gen_ai.request.model``;
the model the events report is ``gen_ai.response.model``, on the span and on the metrics."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from opentelemetry.trace import StatusCode

from tests.support import (
    LIFECYCLE,
    Server,
    Telemetry,
    async_client,
    attributes,
    client,
    event_names,
    events_of,
    json_response,
    metric_sum,
    only_span,
    sse,
    text_stream,
)

RESPONSE_ID = "resp_bench"  # the id text_stream's events carry
MODEL = "gpt-4o-2024-08-06"  # the model text_stream's events carry
STARTING_AFTER = 4
"""text_stream(3): seq 0-3 lifecycle, 4-6 deltas, 7-10 lifecycle; resuming after 4 leaves two
deltas and the four closing lifecycle events."""


def _tail() -> bytes:
    return b"".join(events_of(text_stream(3))[STARTING_AFTER + 1 :])


TAIL_LIFECYCLE = LIFECYCLE[4:]


def _assert_resumed_request(request: httpx.Request, *, starting_after: int | None) -> None:
    assert request.method == "GET"
    assert request.url.path == f"/v1/responses/{RESPONSE_ID}"
    assert request.url.params.get("stream") == "true"
    assert request.url.params.get("starting_after") == (
        None if starting_after is None else str(starting_after)
    )
    assert not request.content  # no body, hence no model to name the span by


def _assert_resumed_span(telemetry: Telemetry, *, events: int, deltas: int) -> dict[str, Any]:
    span = only_span(telemetry)
    a = attributes(span)
    assert span.name == "chat"
    assert "gen_ai.request.model" not in a
    assert a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.response.id"] == RESPONSE_ID
    assert a["gen_ai.request.stream"] is True
    assert a["otel_responses.stream.outcome"] == "completed"
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in a
    assert a["http.response.status_code"] == 200
    assert a["otel_responses.request_id"] == "req_abc123"
    assert a["otel_responses.http.retry_count"] == 0
    assert a["otel_responses.events.count"] == events
    assert a["otel_responses.deltas.count"] == deltas
    assert a["gen_ai.usage.output_tokens"] == 3
    ((labels, point),) = telemetry.points("otel_responses.streams")
    assert point.value == 1
    assert labels["gen_ai.response.model"] == MODEL
    assert labels["otel_responses.stream.outcome"] == "completed"
    assert "gen_ai.request.model" not in labels
    ((labels, _),) = telemetry.points("gen_ai.client.operation.duration")
    assert labels["gen_ai.response.model"] == MODEL and "gen_ai.request.model" not in labels
    return a


# --- responses.retrieve(id, stream=True, starting_after=n) ---------------------------------------
@pytest.mark.parametrize("how", ["event", "bytes"])
def test_retrieve_stream_resumed(instrumented: Telemetry, how: str) -> None:
    server = Server(sse(_tail(), how))
    stream = client(server).responses.retrieve(
        RESPONSE_ID, stream=True, starting_after=STARTING_AFTER
    )
    assert type(stream) is openai.Stream
    seen = [(e.type, e.sequence_number) for e in stream]
    assert [seq for _, seq in seen] == list(range(STARTING_AFTER + 1, 11))
    _assert_resumed_request(server.requests[0], starting_after=STARTING_AFTER)
    _assert_resumed_span(instrumented, events=6, deltas=2)
    span = only_span(instrumented)
    assert event_names(span) == ["otel_responses.http.attempt", *TAIL_LIFECYCLE]
    assert [t for t, _ in seen if not t.endswith(".delta")] == TAIL_LIFECYCLE
    assert (
        metric_sum(
            instrumented,
            "otel_responses.events",
            **{"otel_responses.event.type": "response.output_text.delta"},
        )
        == 2
    )


async def test_async_retrieve_stream_resumed(instrumented: Telemetry) -> None:
    server = Server(sse(_tail(), is_async=True))
    stream = await async_client(server).responses.retrieve(
        RESPONSE_ID, stream=True, starting_after=STARTING_AFTER
    )
    assert type(stream) is openai.AsyncStream
    seen = [e.sequence_number async for e in stream]
    assert seen == list(range(STARTING_AFTER + 1, 11))
    _assert_resumed_request(server.requests[0], starting_after=STARTING_AFTER)
    _assert_resumed_span(instrumented, events=6, deltas=2)
    assert event_names(only_span(instrumented)) == ["otel_responses.http.attempt", *TAIL_LIFECYCLE]


# --- responses.stream(response_id=id, starting_after=n) -----------------------------------------
def test_stream_manager_resumed(instrumented: Telemetry) -> None:
    """The SDK fetches the whole stream and drops the events up to ``starting_after`` itself:
    the span counts every event received, the app sees the tail."""
    server = Server(sse(text_stream(3)))
    with client(server).responses.stream(
        response_id=RESPONSE_ID, starting_after=STARTING_AFTER
    ) as stream:
        seen = [e.sequence_number for e in stream]
        final = stream.get_final_response()
    assert seen == list(range(STARTING_AFTER + 1, 11))
    assert final.id == RESPONSE_ID and final.model == MODEL
    _assert_resumed_request(server.requests[0], starting_after=None)
    _assert_resumed_span(instrumented, events=11, deltas=3)
    assert event_names(only_span(instrumented)) == ["otel_responses.http.attempt", *LIFECYCLE]


async def test_async_stream_manager_resumed(instrumented: Telemetry) -> None:
    server = Server(sse(text_stream(3), is_async=True))
    async with async_client(server).responses.stream(
        response_id=RESPONSE_ID, starting_after=STARTING_AFTER
    ) as stream:
        seen = [e.sequence_number async for e in stream]
        final = await stream.get_final_response()
    assert seen == list(range(STARTING_AFTER + 1, 11))
    assert final.id == RESPONSE_ID
    _assert_resumed_request(server.requests[0], starting_after=None)
    _assert_resumed_span(instrumented, events=11, deltas=3)


# --- other endings of a resumed stream -----------------------------------------------------------
@pytest.mark.parametrize("is_async", [False, True])
async def test_resumed_stream_broken_off_is_cancelled(
    instrumented: Telemetry, is_async: bool
) -> None:
    """Closed after its first delta: cancelled, and no response model was ever reported."""
    server = Server(sse(_tail(), is_async=is_async))
    if is_async:
        astream = await async_client(server).responses.retrieve(
            RESPONSE_ID, stream=True, starting_after=STARTING_AFTER
        )
        async for event in astream:
            assert event.type == "response.output_text.delta"
            break
        await astream.close()
    else:
        stream = client(server).responses.retrieve(
            RESPONSE_ID, stream=True, starting_after=STARTING_AFTER
        )
        for event in stream:
            assert event.type == "response.output_text.delta"
            break
        stream.close()
    span = only_span(instrumented)
    a = attributes(span)
    assert span.name == "chat"
    assert a["otel_responses.stream.outcome"] == "cancelled"
    assert a["error.type"] == "_OTHER"
    assert "gen_ai.request.model" not in a and "gen_ai.response.model" not in a
    assert "gen_ai.response.id" not in a  # deltas carry no response object


@pytest.mark.parametrize("is_async", [False, True])
async def test_resumed_stream_of_unknown_response_is_an_error(
    instrumented: Telemetry, is_async: bool
) -> None:
    body = {
        "error": {
            "message": "Response with id 'resp_gone' not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    server = Server(json_response(404, body, {"x-request-id": "req_404"}))
    with pytest.raises(openai.NotFoundError):
        if is_async:
            await async_client(server).responses.retrieve("resp_gone", stream=True)
        else:
            client(server).responses.retrieve("resp_gone", stream=True)
    span = only_span(instrumented)
    a = attributes(span)
    assert span.name == "chat"
    assert span.status.status_code is StatusCode.ERROR
    assert a["otel_responses.stream.outcome"] == "error"
    assert a["error.type"] == "invalid_request_error"  # the body's code is null: its type
    assert a["http.response.status_code"] == 404
    assert a["otel_responses.request_id"] == "req_404"


def test_retrieve_without_stream_is_not_traced(instrumented: Telemetry) -> None:
    """Fetching a stored response is not a model call: no span, no usage counted twice."""
    stored = {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 0,
        "model": MODEL,
        "status": "completed",
        "output": [],
        "tool_choice": "auto",
        "tools": [],
        "parallel_tool_calls": True,
    }
    server = Server(json_response(200, stored))
    assert client(server).responses.retrieve(RESPONSE_ID).id == RESPONSE_ID
    assert server.requests[0].url.params.get("stream") is None
    assert instrumented.finished() == ()
    assert not instrumented.points("otel_responses.streams")
