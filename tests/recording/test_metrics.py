"""The timing VALUES the hook records, on a clock the test controls.

Other tests check that the timing metrics exist; these check their numbers, so a wrong divisor,
a wrong start or a delta time taken from the wrong event fails here. The hook's clock (the
module-level alias of ``time.perf_counter_ns`` it reads) is replaced by a clock
that only moves when the test says so; each chunk is fed at a known time, and every figure is
derived from those times:

* time to first chunk = first complete event - hook created;
* time to first token = first delta event - hook created;
* time per output chunk = (last delta - first delta) / (number of deltas - 1), recorded only with
  two deltas or more;
* duration = end - hook created.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_responses import ResponseStreamHook
from tests.support import RESPONSE, WHERE, Clock, Telemetry, responses_event

TTFC_ATTR = "gen_ai.response.time_to_first_chunk"
TTFT_ATTR = "otel_responses.time_to_first_token"
TTFC_METRIC = "gen_ai.client.operation.time_to_first_chunk"
TTFT_METRIC = "otel_responses.time_to_first_token"
TPOC_METRIC = "gen_ai.client.operation.time_per_output_chunk"
DURATION_METRIC = "gen_ai.client.operation.duration"


def created(seq: int = 0) -> bytes:
    return responses_event("response.created", seq, response={**RESPONSE, "status": "in_progress"})


def delta(seq: int) -> bytes:
    return responses_event("response.output_text.delta", seq, delta="tok", logprobs=[], **WHERE)


def completed(seq: int) -> bytes:
    return responses_event("response.completed", seq, response={**RESPONSE, "status": "completed"})


def run(telemetry: Telemetry, clock: Clock, feeds: list[tuple[float, bytes]], end: float) -> Any:
    """Create a hook at 0 s, feed each chunk at its time, end at ``end``; the span."""
    clock.at(0)
    hook = telemetry.hook(
        model="gpt-4o",
    )
    for at, chunk in feeds:
        clock.at(at)
        hook.feed(chunk)
    clock.at(end)
    hook.end()
    spans = telemetry.finished()
    assert len(spans) == 1
    return spans[0]


def histogram(telemetry: Telemetry, name: str) -> list[tuple[float, int]]:
    """``(sum, count)`` of each data point of histogram ``name``."""
    return [(p.sum, p.count) for _, p in telemetry.points(name)]


def test_each_timing_is_derived_from_the_feed_times(telemetry: Telemetry, clock: Clock) -> None:
    span = run(
        telemetry,
        clock,
        [
            (0.25, created(0)),
            (0.5, responses_event("response.in_progress", 1, response={**RESPONSE, "status": "x"})),
            (0.75, delta(2)),
            (1.0, delta(3)),
            (1.5, delta(4)),
            (2.75, delta(5)),
            (3.0, completed(6)),
        ],
        end=3.5,
    )
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs[TTFC_ATTR] == 0.25
    assert attrs[TTFT_ATTR] == 0.75
    assert histogram(telemetry, TTFC_METRIC) == [(0.25, 1)]
    assert histogram(telemetry, TTFT_METRIC) == [(0.75, 1)]
    # 4 deltas, 3 gaps: (2.75 - 0.75) / 3. Dividing by 4 would give 0.5; measuring from the
    # first chunk, (2.75 - 0.25) / 3 = 0.833.
    [(mean_gap, count)] = histogram(telemetry, TPOC_METRIC)
    assert count == 1
    assert mean_gap == pytest.approx(2.0 / 3, abs=1e-12)
    assert histogram(telemetry, DURATION_METRIC) == [(3.5, 1)]


def test_events_of_one_chunk_share_its_arrival_time(telemetry: Telemetry, clock: Clock) -> None:
    span = run(
        telemetry,
        clock,
        [
            (1.0, created(0) + delta(1) + delta(2)),
            (2.0, delta(3)),
            (4.0, delta(4) + completed(5)),
        ],
        end=4.0,
    )
    attrs = dict(span.attributes or {})
    assert attrs[TTFC_ATTR] == 1.0
    assert attrs[TTFT_ATTR] == 1.0
    assert attrs["otel_responses.deltas.count"] == 4
    [(mean_gap, _)] = histogram(telemetry, TPOC_METRIC)
    assert mean_gap == pytest.approx((4.0 - 1.0) / 3, abs=1e-12)
    assert histogram(telemetry, DURATION_METRIC) == [(4.0, 1)]


def test_an_event_split_across_chunks_arrives_with_its_last_byte(
    telemetry: Telemetry, clock: Clock
) -> None:
    first, second = created(0), delta(1)
    span = run(
        telemetry,
        clock,
        [
            (0.1, first[:20]),
            (0.3, first[20:] + second[:30]),
            (0.7, second[30:]),
            (0.9, completed(2)),
        ],
        end=1.0,
    )
    attrs = dict(span.attributes or {})
    assert attrs[TTFC_ATTR] == 0.3
    assert attrs[TTFT_ATTR] == 0.7
    assert histogram(telemetry, TTFT_METRIC) == [(0.7, 1)]


def test_a_repeated_delta_is_an_anomaly_and_not_a_gap(telemetry: Telemetry, clock: Clock) -> None:
    span = run(
        telemetry,
        clock,
        [(0.5, created(0)), (1.0, delta(1)), (2.0, delta(2)), (5.0, delta(2)), (6.0, completed(3))],
        end=6.0,
    )
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.deltas.count"] == 2
    assert attrs["otel_responses.anomalies.count"] == 1
    [(mean_gap, _)] = histogram(telemetry, TPOC_METRIC)
    assert mean_gap == pytest.approx(1.0, abs=1e-12)  # not (5.0 - 1.0) / 2


def test_one_delta_gives_a_first_token_but_no_time_per_output_chunk(
    telemetry: Telemetry, clock: Clock
) -> None:
    span = run(telemetry, clock, [(0.2, created(0)), (0.6, delta(1)), (0.8, completed(2))], 1.0)
    assert dict(span.attributes or {})[TTFT_ATTR] == 0.6
    assert histogram(telemetry, TTFT_METRIC) == [(0.6, 1)]
    assert histogram(telemetry, TPOC_METRIC) == []


def test_no_delta_gives_no_first_token(telemetry: Telemetry, clock: Clock) -> None:
    span = run(telemetry, clock, [(0.4, created(0)), (0.9, completed(1))], end=1.25)
    attrs = dict(span.attributes or {})
    assert attrs[TTFC_ATTR] == 0.4
    assert TTFT_ATTR not in attrs
    assert histogram(telemetry, TTFC_METRIC) == [(0.4, 1)]
    assert histogram(telemetry, TTFT_METRIC) == []
    assert histogram(telemetry, TPOC_METRIC) == []
    assert histogram(telemetry, DURATION_METRIC) == [(1.25, 1)]


def test_decoded_events_are_timed_on_arrival_too(telemetry: Telemetry, clock: Clock) -> None:
    """``on_event`` (dicts or SDK objects instead of bytes) reads the clock per event."""
    clock.at(0)
    hook = telemetry.hook(
        model="gpt-4o",
    )
    for at, payload in [
        (0.5, json.loads(created(0).split(b"data: ")[1])),
        (1.5, json.loads(delta(1).split(b"data: ")[1])),
        (2.0, json.loads(delta(2).split(b"data: ")[1])),
        (4.5, json.loads(delta(3).split(b"data: ")[1])),
        (5.0, json.loads(completed(4).split(b"data: ")[1])),
    ]:
        clock.at(at)
        hook.on_event(payload)
    clock.at(5.0)
    hook.end()
    [span] = telemetry.finished()
    attrs = dict(span.attributes or {})
    assert attrs[TTFC_ATTR] == 0.5
    assert attrs[TTFT_ATTR] == 1.5
    [(mean_gap, _)] = histogram(telemetry, TPOC_METRIC)
    assert mean_gap == pytest.approx((4.5 - 1.5) / 2, abs=1e-12)


def chat_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o",
             "choices": [choice]}  # fmt: skip
    return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()


def test_chat_completions_time_the_first_output_not_the_role_chunk(
    telemetry: Telemetry, clock: Clock
) -> None:
    """A Chat Completions stream opens with a role-only chunk: that is its first chunk, not its
    first token; the output deltas (content, then a tool-call argument) are timed."""
    clock.at(0)
    hook = ResponseStreamHook(
        model="gpt-4o",
        dialect="chat_completions",
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    tool_call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
    for at, chunk in [
        (0.2, chat_chunk({"role": "assistant", "content": ""})),
        (0.5, chat_chunk({"content": "Hel"})),
        (0.9, chat_chunk({"content": "lo"})),
        (1.7, chat_chunk({"tool_calls": [tool_call]})),
        (2.0, chat_chunk({}, finish_reason="stop")),
        (2.1, b"data: [DONE]\n\n"),
    ]:
        clock.at(at)
        hook.feed(chunk)
    clock.at(2.5)
    hook.end()
    [span] = telemetry.finished()
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs[TTFC_ATTR] == 0.2
    assert attrs[TTFT_ATTR] == 0.5
    assert attrs["otel_responses.deltas.count"] == 3
    assert histogram(telemetry, TTFT_METRIC) == [(0.5, 1)]
    [(mean_gap, _)] = histogram(telemetry, TPOC_METRIC)
    assert mean_gap == pytest.approx((1.7 - 0.5) / 2, abs=1e-12)
    assert histogram(telemetry, DURATION_METRIC) == [(2.5, 1)]


def test_event_counts_are_capped_in_series_and_keep_every_event(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streams with distinct attributes each add a series per event type; past the cap, their
    # counts fold into the _OTHER series of their attributes instead of being lost.
    from otel_responses.recording._instruments import CumulativeCounter

    monkeypatch.setattr(CumulativeCounter, "MAX_SERIES", 5)
    for tenant in range(4):
        hook = telemetry.hook(attributes={"app.tenant": str(tenant), "app.tags": ["a", "b"]})
        hook.feed(created() + delta(1) + delta(2) + completed(3))
        hook.end()
    points = telemetry.points("otel_responses.events")
    assert sum(point.value for _, point in points) == 4 * 4
    assert len(points) <= 5 + 4  # the cap, plus at most one _OTHER series per attribute set
    by_tenant: dict[str, int] = {}
    for labels, point in points:
        assert labels["app.tags"] == ("a", "b")
        by_tenant[labels["app.tenant"]] = by_tenant.get(labels["app.tenant"], 0) + point.value
    assert by_tenant == {str(tenant): 4 for tenant in range(4)}
    assert {"_OTHER"} < {labels["otel_responses.event.type"] for labels, _ in points}


def test_stream_counts_past_every_bound_fold_into_one_series(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that names a new model in every response makes a new attribute set each
    stream; past twice the cap they all fold into one set, with no count lost."""
    from otel_responses.recording._instruments import CumulativeCounter

    monkeypatch.setattr(CumulativeCounter, "MAX_SERIES", 5)
    for n in range(30):
        hook = telemetry.hook()
        minted = {**RESPONSE, "status": "completed", "model": f"minted-{n}"}
        hook.feed(delta(1) + responses_event("response.completed", 2, response=minted))
        hook.end()
    points = telemetry.points("otel_responses.streams")
    assert sum(point.value for _, point in points) == 30
    assert len(points) == 2 * 5 + 1
    folded = [(labels, point.value) for labels, point in points if len(labels) == 1]
    assert folded == [({"otel_responses.stream.outcome": "_OTHER"}, 30 - 2 * 5)]
