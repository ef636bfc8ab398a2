"""The Chat Completions dialect, proven on every recorded transcript and on constructed streams.

Every expected value is derived from the file itself by :func:`expected`, an independent and
deliberately plain reading of the transcript (the reference SSE decoder, ``json.loads`` per data
line, and the semantics the dialect's module docstring documents), never from the library and
never hard-coded per file. Where a value is a documented semantic decision (``[DONE]`` is not an
event, a keep-alive is counted, an in-chunk error wins over ``length``...) a constructed stream or
a named transcript asserts it explicitly.

Each transcript is replayed whole, one event per chunk, in 7-byte pieces, and with CRLF line
endings (whole and in 7-byte pieces, so a CR and its LF fall in different chunks), both with the
dialect detected (``dialect=None``) and named (``dialect="chat_completions"``).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from otel_responses import ContentCapture, replay
from tests import support
from tests.conftest import FIXTURES, Telemetry
from tests.sse_reference import reference_decode
from tests.support import Clock, attributes, events_of

CHAT = FIXTURES / "chat_completions"
STREAMS = sorted(CHAT.glob("*.sse"))
HTTP_ERRORS = sorted(CHAT.glob("*.http.json"))
DIALECTS = [None, "chat_completions"]
CHUNKINGS = ["whole", "event", "bytes7", "crlf", "crlf_bytes7"]
INCOMPLETE = {"length", "content_filter"}
# The names the dialect's module docstring documents.
START = "chat.completion.start"
FINISH = "chat.completion.choice.finish"
USAGE = "chat.completion.usage"
FILTER = "chat.completion.filter"
CHUNK = "chat.completion.chunk"
CONTENT = "chat.completion.content.delta"
REASONING = "chat.completion.reasoning.delta"
TOOL_CALL = "chat.completion.tool_call.delta"
REFUSAL = "chat.completion.refusal.delta"
AUDIO = "chat.completion.audio.delta"


# --- the independent reading of a transcript ---------------------------------------------------
def _nonempty(value: Any) -> bool:
    return isinstance(value, (str, list)) and bool(value)


def _delta_kind(delta: Any) -> str | None:
    """What one choice's delta carries, by the documented rule: content (a string, or an array
    of parts: all ``thinking`` parts make it reasoning), reasoning, tool calls, refusal, audio."""
    if not isinstance(delta, dict):
        return None
    content = delta.get("content")
    if _nonempty(content):
        if isinstance(content, list) and all(
            isinstance(p, dict) and p.get("type") == "thinking" for p in content
        ):
            return REASONING
        return CONTENT
    if _nonempty(delta.get("reasoning_content")) or _nonempty(delta.get("reasoning")):
        return REASONING
    if _nonempty(delta.get("tool_calls")):
        return TOOL_CALL
    if _nonempty(delta.get("refusal")):
        return REFUSAL
    audio = delta.get("audio")
    if isinstance(audio, dict) and (audio.get("data") or audio.get("transcript")):
        return AUDIO
    return None


def expected(body: bytes) -> support.TranscriptReading:
    frames = reference_decode(body)
    done = False
    types: list[str] = []
    span_events: list[str] = []
    reasons: dict[int, str] = {}
    seen: set[int] = set()
    errors: list[Any] = []
    ids: list[str] = []
    models: list[str] = []
    usage: dict[str, Any] | None = None
    text: list[str] = []
    n_deltas = 0
    for event_type, data in frames:
        if data == b"[DONE]":
            done = True
            break
        payload = json.loads(data)
        assert isinstance(payload, dict)
        error = payload.get("error")
        is_error = event_type == "error" or isinstance(error, dict)
        if is_error:
            errors.append(error if isinstance(error, dict) else payload)
        if payload.get("id"):
            ids.append(payload["id"])
        if payload.get("model"):
            models.append(payload["model"])
        if isinstance(payload.get("usage"), dict):
            usage = payload["usage"]
        kind: str | None = None
        finished = False
        for position, choice in enumerate(payload.get("choices") or []):
            index = choice.get("index", position)
            seen.add(index)
            delta = choice.get("delta", choice.get("message"))
            found = _delta_kind(delta)
            if found is not None and kind is None:
                kind = found
                if isinstance(delta.get("content"), str) and delta["content"]:
                    text.append(delta["content"])
            if choice.get("finish_reason"):
                reasons[index] = choice["finish_reason"]
                finished = True
        if is_error:
            name = "error"
        elif not types:
            name = START
        elif finished:
            name = FINISH
        elif isinstance(payload.get("usage"), dict):
            name = USAGE
        elif payload.get("prompt_filter_results") or payload.get("moderation"):
            name = FILTER
        else:
            name = kind or CHUNK
        types.append(name)
        if name in ("error", START, FINISH, USAGE, FILTER):
            span_events.append(name)
        if kind is not None:
            n_deltas += 1
    ordered = tuple(reasons[i] for i in sorted(reasons))
    if errors:
        outcome = "error"
        first = errors[0]
        code = first.get("code")
        error_type: str | None = str(code if code is not None else first.get("type"))
    elif done or (seen and seen <= set(reasons)):
        outcome = "incomplete" if INCOMPLETE & set(ordered) else "completed"
        error_type = None
    else:
        outcome, error_type = "truncated", "_OTHER"
    return support.TranscriptReading(
        events=len(types),
        types=dict(Counter(types)),
        span_events=span_events,
        deltas=n_deltas,
        outcome=outcome,
        error_type=error_type,
        response_id=ids[0] if ids else None,
        model=models[0] if models else None,
        usage=usage,
        finish_reasons=ordered,
        text="".join(text),
    )


# --- every transcript ---------------------------------------------------------------------------
def test_the_corpus_is_all_there() -> None:
    assert len(STREAMS) == 14 and len(HTTP_ERRORS) == 4
    support.assert_all_in_sources(CHAT, [*STREAMS, *HTTP_ERRORS])


def test_the_expectations_are_not_vacuous() -> None:
    """The reading above finds every behaviour the corpus was chosen for."""
    found = {p.name: expected(p.read_bytes()) for p in STREAMS}
    outcomes = Counter(e.outcome for e in found.values())
    assert set(outcomes) == {"completed", "incomplete", "error", "truncated"}
    assert any(e.finish_reasons == ("stop", "stop") for e in found.values())
    assert any(e.types.get(REASONING, 0) > 30 for e in found.values())
    assert any(e.types.get(TOOL_CALL) for e in found.values())
    assert any(e.types.get(AUDIO) for e in found.values())
    assert any(e.types.get(FILTER) for e in found.values())
    assert any(e.types.get(USAGE, 0) > 1 for e in found.values())
    assert sum(e.deltas for e in found.values()) > 3000


@support.parametrize_transcripts(STREAMS, "chat_completions", CHUNKINGS)
def test_stream_transcript(path: Path, how: str, dialect: str | None, telemetry: Telemetry) -> None:
    want = expected(path.read_bytes())
    a, stream_attrs = support.assert_transcript(telemetry, path.read_bytes(), how, dialect, want)
    if want.outcome not in support.CLEAN_OUTCOMES:
        assert a["gen_ai.response.finish_reasons"] == ("error",)
    elif want.finish_reasons:
        assert a["gen_ai.response.finish_reasons"] == want.finish_reasons
    else:
        assert "gen_ai.response.finish_reasons" not in a
    assert a["openai.api.type"] == "chat_completions"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"  # no host: any OpenAI-compatible server
    assert a.get("gen_ai.response.id") == want.response_id
    assert a.get("gen_ai.response.model") == want.model
    usage = want.usage
    if usage is None:
        assert "gen_ai.usage.input_tokens" not in a and "gen_ai.usage.output_tokens" not in a
    else:
        assert a["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
        assert a["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is None:
            cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek's name
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        assert a.get("gen_ai.usage.cache_read.input_tokens") == cached
        assert a.get("gen_ai.usage.reasoning.output_tokens") == reasoning
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert stream_attrs["openai.api.type"] == "chat_completions"
    assert telemetry.token_usage() == (
        {"input": usage["prompt_tokens"], "output": usage["completion_tokens"]} if usage else {}
    )
    per_chunk = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert len(per_chunk) == (1 if want.deltas >= 2 else 0)


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_content_capture_and_the_fast_path(path: Path, telemetry: Telemetry) -> None:
    """With capture on every chunk is parsed (the slow path); off, deltas are read from raw
    bytes. Both give the same telemetry; on, the span holds the concatenated content text."""
    body = path.read_bytes()
    want = expected(body)
    off_hook, off = telemetry.feed_hook(body, "event", "chat_completions")
    off_types = telemetry.event_type_counts()
    telemetry.spans.clear()
    on_hook, on = telemetry.feed_hook(
        body, "event", "chat_completions", ContentCapture(on_span=True)
    )
    a_off, a_on = attributes(off), attributes(on)
    assert on_hook.outcome == off_hook.outcome == want.outcome
    for key in ("otel_responses.events.count", "otel_responses.deltas.count", "error.type"):
        assert a_on.get(key) == a_off.get(key), key
    assert [e.name for e in on.events] == [e.name for e in off.events]
    # The metric reader is cumulative: the second stream doubled every count.
    assert telemetry.event_type_counts() == {t: 2 * n for t, n in off_types.items()}
    assert "gen_ai.output.messages" not in a_off
    if want.text:
        (message,) = json.loads(a_on["gen_ai.output.messages"])
        assert message["role"] == "assistant"
        assert message["parts"] == [{"type": "text", "content": want.text[:8192]}]
        reasons = want.finish_reasons if want.outcome in ("completed", "incomplete") else ()
        failed = want.outcome not in ("completed", "incomplete")
        assert message["finish_reason"] == ("error" if failed else (reasons or ("stop",))[0])
    else:
        assert "gen_ai.output.messages" not in a_on


def test_content_capture_from_the_environment(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only``, read by a hook given no
    ``capture_content``: both choices' text of the n=2 transcript, in arrival order."""
    path = CHAT / "otel-contrib__gpt-4o-mini_n2_choices_include_usage.sse"
    want = expected(path.read_bytes())
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    replay(path, tracer_provider=telemetry.tracer_provider)
    (message,) = json.loads(attributes(telemetry.finished()[0])["gen_ai.output.messages"])
    assert message["parts"][0]["content"] == want.text and len(want.text) > 100
    assert message["finish_reason"] == "stop"
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "no_content")
    telemetry.spans.clear()
    replay(path, tracer_provider=telemetry.tracer_provider)
    assert "gen_ai.output.messages" not in attributes(telemetry.finished()[0])


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_timings_on_a_controlled_clock(path: Path, telemetry: Telemetry, clock: Clock) -> None:
    """Event ``i`` (0-based) arrives at ``(i + 1) / 4`` s: time to first token is the arrival
    of the first output delta (not the role chunk), time per output chunk is (last delta -
    first delta) / (deltas - 1), from the file's own deltas."""
    body = path.read_bytes()
    chunks = events_of(body)
    arrivals: list[float] = []
    first_event = None
    done = False
    for i, piece in enumerate(chunks):
        for _, data in reference_decode(piece):
            if done or data == b"[DONE]":
                done = True
                continue
            first_event = first_event or (i + 1) / 4
            payload = json.loads(data)
            if any(_delta_kind(c.get("delta")) for c in payload.get("choices") or []):
                arrivals.append((i + 1) / 4)
    clock.at(0)
    hook = telemetry.hook(dialect="chat_completions", model="m")
    for i, chunk in enumerate(chunks):
        clock.at((i + 1) / 4)
        hook.feed(chunk)
    end = (len(chunks) + 1) / 4
    clock.at(end)
    hook.end()
    (span,) = telemetry.finished()
    a = attributes(span)
    assert a["gen_ai.response.time_to_first_chunk"] == first_event
    ttft = [(p.sum, p.count) for _, p in telemetry.points("otel_responses.time_to_first_token")]
    tpoc = [
        (p.sum, p.count)
        for _, p in telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    ]
    if arrivals:
        assert a["otel_responses.time_to_first_token"] == arrivals[0]
        assert ttft == [(arrivals[0], 1)]
    else:
        assert "otel_responses.time_to_first_token" not in a and ttft == []
    if len(arrivals) >= 2:
        ((mean_gap, count),) = tpoc
        assert count == 1
        assert mean_gap == pytest.approx(
            (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1), abs=1e-9
        )
    else:
        assert tpoc == []
    ((_, duration),) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.sum == end


@pytest.mark.parametrize("dialect", DIALECTS, ids=["no-url", "named"])
@pytest.mark.parametrize("path", HTTP_ERRORS, ids=lambda p: p.stem)
def test_http_error_transcript(path: Path, dialect: str | None, telemetry: Telemetry) -> None:
    record = json.loads(path.read_text())
    error = json.loads(record["body"])["error"]
    code = error.get("code")
    want = str(code if code is not None else error.get("type"))
    result, span = telemetry.replay(path, dialect=dialect)
    a = attributes(span)
    assert result.outcome == a["otel_responses.stream.outcome"] == "error"
    assert result.error_type == a["error.type"] == want
    assert a["http.response.status_code"] == record["status"]
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["otel_responses.http.attempt"]
    if dialect is not None:
        assert a["openai.api.type"] == "chat_completions"
    hits = telemetry.points("otel_responses.rate_limit.hits")
    assert len(hits) == (1 if record["status"] == 429 else 0)
    headers = {k.lower(): v for k, v in record["headers"].items()}
    if "x-ratelimit-remaining-tokens" in headers:
        assert a["otel_responses.rate_limit.remaining_tokens"] == int(
            headers["x-ratelimit-remaining-tokens"]
        )


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://api.deepseek.com/chat/completions", "deepseek"),
        ("https://openrouter.ai/api/v1/chat/completions", "openai"),
        ("https://myres.openai.azure.com/openai/deployments/d/chat/completions", "azure.ai.openai"),
    ],
)
def test_a_recorded_url_names_the_dialect_and_the_provider(
    url: str, provider: str, telemetry: Telemetry
) -> None:
    record = json.loads((CHAT / "ruby_llm__deepseek_http_401_authentication.http.json").read_text())
    _, span = telemetry.replay(json.dumps({**record, "url": url}).encode())
    a = attributes(span)
    assert a["openai.api.type"] == "chat_completions"
    assert a["gen_ai.provider.name"] == provider
    assert a["error.type"] == "invalid_request_error"  # DeepSeek's code, not its type


# --- documented semantics, on named transcripts ------------------------------------------------
def _replayed(telemetry: Telemetry, name: str) -> dict[str, Any]:
    _, span = telemetry.replay(CHAT / name, dialect="chat_completions")
    return {"span": span, **attributes(span)}


def test_groq_event_error_frame(telemetry: Telemetry) -> None:
    a = _replayed(telemetry, "pydantic-ai__groq_gpt-oss-120b_event_error_after_content.sse")
    assert a["otel_responses.stream.outcome"] == "error"
    assert a["error.type"] == "tool_use_failed"
    assert a["span"].status.description == "Tool choice is required, but model did not call a tool"
    error = a["span"].events[-1]
    assert error.name == "error"
    assert (error.attributes or {})["otel_responses.event.error.code"] == "tool_use_failed"


def test_openrouter_error_inside_a_chunk_wins_over_length(telemetry: Telemetry) -> None:
    a = _replayed(telemetry, "pydantic-ai__openrouter_minimax_error_in_chunk_finish_length.sse")
    assert a["otel_responses.stream.outcome"] == "error"
    assert a["error.type"] == "400"  # the numeric code, as text
    assert a["span"].status.description == "Token limit reached"
    assert a["gen_ai.usage.output_tokens"] == 10  # the error chunk's usage is still read


def test_gpustack_without_done_or_finish_is_truncated(telemetry: Telemetry) -> None:
    a = _replayed(telemetry, "ruby_llm__gpustack_qwen3_midstream_error_field_no_done.sse")
    assert a["otel_responses.stream.outcome"] == "truncated"
    assert a["error.type"] == "_OTHER"
    # The trailing SSE ``error:`` field dispatches nothing: no error event, no anomaly.
    assert "otel_responses.anomalies.count" not in a
    assert [e.name for e in a["span"].events] == [START]


def test_vllm_length_is_incomplete(telemetry: Telemetry) -> None:
    a = _replayed(telemetry, "openllmetry__vllm_opt-125m_finish_length.sse")
    assert a["otel_responses.stream.outcome"] == "incomplete"
    assert a["gen_ai.response.finish_reasons"] == ("length",)
    assert a["span"].status.status_code is StatusCode.UNSET
    assert "error.type" not in a


def test_two_choices_two_finish_reasons(telemetry: Telemetry) -> None:
    a = _replayed(telemetry, "otel-contrib__gpt-4o-mini_n2_choices_include_usage.sse")
    assert a["gen_ai.response.finish_reasons"] == ("stop", "stop")
    finishes = [e for e in a["span"].events if e.name == FINISH]
    assert [(e.attributes or {})["otel_responses.event.output_index"] for e in finishes] == [0, 1]


def test_mistral_content_parts_are_deltas(telemetry: Telemetry) -> None:
    path = CHAT / "pydantic-ai__mistral_magistral_thinking_content_array.sse"
    arrays = sum(
        isinstance(json.loads(d)["choices"][0]["delta"].get("content"), list)
        for _, d in reference_decode(path.read_bytes())
        if d != b"[DONE]"
    )
    assert arrays == 58
    a = _replayed(telemetry, path.name)
    counted = telemetry.event_type_counts()
    assert counted[REASONING] == arrays  # thinking blocks are reasoning deltas
    assert a["otel_responses.deltas.count"] == arrays + counted[CONTENT]


def test_deepseek_usage_in_every_chunk_is_the_last_value(telemetry: Telemetry) -> None:
    path = CHAT / "dd-trace-py__deepseek-chat_usage_in_every_chunk.sse"
    usages = [
        json.loads(d)["usage"]
        for _, d in reference_decode(path.read_bytes())
        if d != b"[DONE]" and json.loads(d).get("usage")
    ]
    assert len(usages) == 9
    summed = sum(u["completion_tokens"] for u in usages)
    a = _replayed(telemetry, path.name)
    assert a["gen_ai.usage.output_tokens"] == usages[-1]["completion_tokens"] != summed
    assert a["gen_ai.usage.input_tokens"] == usages[-1]["prompt_tokens"]


def test_azure_prompt_filter_results_first_chunk(telemetry: Telemetry) -> None:
    path = CHAT / "dd-trace-py__azure_gpt-4o-mini_prompt_filter_results.sse"
    first = json.loads(reference_decode(path.read_bytes())[0][1])
    assert first["choices"] == [] and first["id"] == "" and first["prompt_filter_results"]
    a = _replayed(telemetry, path.name)
    assert a["otel_responses.stream.outcome"] == "completed"
    assert [e.name for e in a["span"].events] == [START, FINISH]
    assert a["gen_ai.response.id"].startswith("chatcmpl-")  # from the chunks after it
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert "otel_responses.anomalies.count" not in a


def test_a_stream_ending_with_done_but_no_finish_reason_is_completed(telemetry: Telemetry) -> None:
    """Snowflake Cortex states no finish reason at all; ``[DONE]`` ends it normally. Fed in one
    piece with the dialect detected: the ``[DONE]`` in the same chunk as the first chunk must
    not be lost while the dialect is being settled."""
    path = CHAT / "pydantic-ai__snowflake_cortex_no_finish_reason_empty_id.sse"
    for dialect in DIALECTS:
        telemetry.spans.clear()
        result = replay(path, dialect=dialect, tracer_provider=telemetry.tracer_provider)
        assert result.outcome == "completed", dialect
        a = attributes(telemetry.finished()[0])
        assert "gen_ai.response.id" not in a  # every id is ""


# --- constructed streams ---------------------------------------------------------------------
def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    payload: dict[str, Any] = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
SMALL = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({}, "stop"),
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=["detected", "named"])
def test_done_is_a_terminator_not_an_event(dialect: str | None, telemetry: Telemetry) -> None:
    hook, span = telemetry.feed_hook(b"".join([*SMALL, DONE]), "event", dialect)
    a = attributes(span)
    assert hook.outcome == "completed"
    assert a["otel_responses.events.count"] == 4
    assert sum(telemetry.event_type_counts().values()) == 4
    assert "[DONE]" not in telemetry.event_type_counts()


PING = b'data: {"type":"ping"}\n\n'


@pytest.mark.parametrize("dialect", DIALECTS, ids=["detected", "named"])
@pytest.mark.parametrize("where", ["mid_stream", "first"])
def test_a_keepalive_is_counted_not_an_anomaly(
    where: str, dialect: str | None, telemetry: Telemetry
) -> None:
    """A keep-alive is an event (counted) that means nothing: no anomaly, and when it comes
    before the first chunk it must not decide the dialect either."""
    if where == "first":
        parts = [PING, *SMALL, PING, DONE]
    else:
        parts = [SMALL[0], PING, SMALL[1], PING, *SMALL[2:], DONE]
    hook, span = telemetry.feed_hook(b"".join(parts), "event", dialect)
    a = attributes(span)
    assert (hook.outcome, a["openai.api.type"]) == ("completed", "chat_completions")
    assert a["otel_responses.events.count"] == 6
    assert a["otel_responses.deltas.count"] == 2
    assert "otel_responses.anomalies.count" not in a
    assert sum(telemetry.event_type_counts().values()) == 6
    assert not telemetry.points("otel_responses.anomalies")
    assert a["gen_ai.response.id"] == "chatcmpl-x"


def choices_chunk(*choices: tuple[int, dict[str, Any], str | None]) -> bytes:
    listed = [{"index": i, "delta": d, "finish_reason": f} for i, d, f in choices]
    payload = {"id": "chatcmpl-n", "object": "chat.completion.chunk", "model": "m"}
    payload["choices"] = listed  # type: ignore[assignment]
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


MULTI_CHOICE = b"".join(
    [
        choices_chunk((0, {"role": "assistant", "content": ""}, None), (1, {"content": ""}, None)),
        choices_chunk((0, {"content": "a"}, None), (1, {"content": "b"}, None)),
        choices_chunk((0, {"content": "x"}, None), (1, {}, "length")),
        choices_chunk((0, {}, "stop")),
        DONE,
    ]
)


@pytest.mark.parametrize("capture", [False, True], ids=["fast", "parsed"])
def test_several_choices_in_one_chunk(capture: bool, telemetry: Telemetry) -> None:
    """A server may put every choice in each chunk (``n > 1``): a finish reason on the second
    choice of a chunk whose first choice carries a delta is still read, by the raw-bytes path
    as by the parsed one."""
    want = expected(MULTI_CHOICE)
    assert want.finish_reasons == ("stop", "length") and want.outcome == "incomplete"
    hook, span = telemetry.feed_hook(
        MULTI_CHOICE, "event", "chat_completions", ContentCapture(on_span=capture)
    )
    a = attributes(span)
    assert hook.outcome == "incomplete"
    assert a["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert [e.name for e in span.events] == want.span_events
    assert a["otel_responses.deltas.count"] == want.deltas
    assert telemetry.event_type_counts() == want.types


def test_a_bare_error_frame_is_an_error(telemetry: Telemetry) -> None:
    error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
    body = SMALL[0] + SMALL[1] + b"data: " + json.dumps(error).encode() + b"\n\n"
    hook, span = telemetry.feed_hook(body, "whole", "chat_completions")
    assert hook.outcome == "error"
    assert hook.error_type == "server_error"  # no code: its type
    assert span.status.description == "overloaded"


def test_a_chunk_after_done_is_an_after_terminal_anomaly(telemetry: Telemetry) -> None:
    body = b"".join([*SMALL, DONE, chunk({"content": "late"})])
    hook, span = telemetry.feed_hook(body, "event", "chat_completions")
    a = attributes(span)
    assert hook.outcome == "completed"
    assert a["otel_responses.anomalies.count"] == 1
    assert a["otel_responses.deltas.count"] == 2  # the late delta is not output
    (anomaly,) = [e for e in span.events if e.name == "otel_responses.anomaly"]
    assert (anomaly.attributes or {})["otel_responses.anomaly.kind"] == "after_terminal"
    ((kind, point),) = telemetry.points("otel_responses.anomalies")
    assert kind["otel_responses.anomaly.kind"] == "after_terminal" and point.value == 1


def test_finish_on_every_choice_without_done_ends_normally(telemetry: Telemetry) -> None:
    body = b"".join([*SMALL[:-1], chunk({}, "content_filter")])
    hook, span = telemetry.feed_hook(body, "event", None)
    assert hook.outcome == "incomplete"
    assert attributes(span)["gen_ai.response.finish_reasons"] == ("content_filter",)


def test_a_refusal_delta_is_output(telemetry: Telemetry) -> None:
    body = b"".join(
        [SMALL[0], chunk({"refusal": "I can't"}), chunk({"refusal": " help."}), SMALL[3], DONE]
    )
    hook, span = telemetry.feed_hook(body, "event", "chat_completions")
    assert hook.outcome == "completed"
    assert attributes(span)["otel_responses.deltas.count"] == 2
    assert telemetry.event_type_counts()[REFUSAL] == 2


def _hostile_bodies() -> Iterator[tuple[str, bytes]]:
    rng = random.Random(8)
    for i in range(20):
        yield f"random{i}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
    real = (CHAT / "otel-contrib__gpt-4o-mini_n2_choices_include_usage.sse").read_bytes()
    for i in range(20):
        cut = rng.randrange(len(real))
        yield f"cut{i}", real[:cut]
        start = rng.randrange(len(real))
        noise = bytes(rng.randrange(256) for _ in range(50))
        yield f"noise{i}", real[:start] + noise + real[start:]
    yield "truncated_json", b'data: {"id":"x","choices":[{"delta":{"content":"a\n\n' + DONE
    yield "not_an_object", b'data: [1,2]\n\ndata: 42\n\ndata: "s"\n\n' + DONE
    yield (
        "wrong_shapes",
        b"".join(
            [
                b'data: {"choices":"x","usage":5,"error":"str","id":7,"model":[]}\n\n',
                b'data: {"choices":[null,1,{"delta":[]},{"index":"a","finish_reason":3}]}\n\n',
                b'data: {"choices":[{"delta":{"content":"x","tool_calls":[{' + b"}\n\n",
                b'data: {"usage":{"prompt_tokens":"9","completion_tokens_details":[]}}\n\n',
            ]
        ),
    )


@pytest.mark.parametrize("dialect", DIALECTS, ids=["detected", "named"])
def test_hostile_input_never_raises_and_ends_one_span(
    dialect: str | None, telemetry: Telemetry
) -> None:
    for name, body in _hostile_bodies():
        telemetry.spans.clear()
        for how in ("whole", "bytes7"):
            telemetry.spans.clear()
            hook, span = telemetry.feed_hook(body, how, dialect)  # asserts exactly one span
            assert hook.outcome in ("completed", "incomplete", "error", "truncated"), name
            assert span.end_time is not None
    assert not [p for a, p in telemetry.points("otel_responses.internal_errors") if p.value], (
        "a hostile body made the library fault"
    )


TRUNCATED_JSON = b'data: {"id":"x","choices":[{"delta":{"content":"a\n\n'


@pytest.mark.parametrize("dialect", DIALECTS, ids=["detected", "named"])
def test_truncated_json_first_is_undecodable(dialect: str | None, telemetry: Telemetry) -> None:
    """The first chunk is always parsed: a broken one is an ``undecodable`` anomaly."""
    hook, span = telemetry.feed_hook(TRUNCATED_JSON + b"".join(SMALL[1:]) + DONE, "event", dialect)
    a = attributes(span)
    assert hook.outcome == "completed"
    assert a["otel_responses.anomalies.count"] == 1
    (anomaly,) = [e for e in span.events if e.name == "otel_responses.anomaly"]
    assert (anomaly.attributes or {})["otel_responses.anomaly.kind"] == "undecodable"


def test_truncated_json_mid_stream_is_undecodable_when_parsed(telemetry: Telemetry) -> None:
    """With content capture on every chunk is parsed: a broken one mid-stream is an
    ``undecodable`` anomaly. (Off, a delta-looking chunk is read from its raw bytes unparsed.)"""
    body = SMALL[0] + TRUNCATED_JSON + b"".join(SMALL[1:]) + DONE
    capture = ContentCapture(on_span=True)
    hook, span = telemetry.feed_hook(body, "event", "chat_completions", capture)
    a = attributes(span)
    assert hook.outcome == "completed"
    assert a["otel_responses.anomalies.count"] == 1
    assert a["otel_responses.deltas.count"] == 2
