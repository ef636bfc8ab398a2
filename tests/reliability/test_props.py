"""Property tests (hypothesis): the SSE decoder against a reference decoding, the hook against
hostile input, and the rate-limit parsers against arbitrary text.

The reference (``tests/sse_reference.py``) is a direct transcription of the WHATWG "event
stream interpretation" run on the whole body at once (strip one BOM, split on CRLF/CR/LF,
fields, dispatch on a blank line, drop the unterminated tail, text with UTF-8 replacement),
extended with the decoder's one documented bound: a frame holding a line (or data) longer than
``max_line_bytes`` is dropped. The decoder under test sees the same bytes in random chunks.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import otel_responses
from otel_responses import ResponseStreamHook, SSEDecoder, _faults, parse_duration
from otel_responses.dialects._openai import facts_from_headers, facts_from_message
from tests.sse_reference import reference_text
from tests.support import FIXTURES, Telemetry, attributes, new_telemetry

TRANSCRIPTS = sorted(FIXTURES.glob("*.sse"))
CORPUS = [p.read_bytes() for p in TRANSCRIPTS]
HTTP_RECORDS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.http.json"))]

PROPS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the reference: tests/sse_reference.py, shared with the decoder tests and the fuzzer ---
reference_decode = reference_text


def decode_chunked(
    body: bytes, cuts: list[int], max_line: int = 1 << 20
) -> tuple[list[tuple[str, str, str | None]], SSEDecoder]:
    out: list[tuple[str, str, str | None]] = []
    decoder: SSEDecoder

    def sink(event: str, data: bytes) -> None:
        out.append((event, data.decode("utf-8", "replace"), decoder.last_event_id))

    decoder = SSEDecoder(sink, max_line_bytes=max_line)
    prev = 0
    for cut in sorted(c % (len(body) + 1) for c in cuts):
        decoder.feed(body[prev:cut])
        held = sum(len(p) + 1 for p in decoder._data)  # the frame's accepted data
        assert decoder._pending_size <= max_line and held <= max_line
        prev = cut
    decoder.feed(body[prev:])
    held = sum(len(p) + 1 for p in decoder._data)
    assert decoder._pending_size <= max_line and held <= max_line
    return out, decoder


# Bytes that exercise every branch of the framing: line ends, colons, field names, BOM, NUL,
# invalid and split UTF-8.
_ATOMS = [
    b"\n",
    b"\r",
    b"\r\n",
    b":",
    b": ",
    b" ",
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"event: ",
    b"id:",
    b"id: ",
    b"retry:",
    b"retry: 1",
    b"x",
    b"{}",
    b"\xef\xbb\xbf",
    b"\0",
    b"\xc3",
    b"\xa9",
    b"\xff",
    b"\xe2\x82",
    b"\xac",
    b"response.output_text.delta",
    b"[DONE]",
]
sse_like = st.lists(st.one_of(st.sampled_from(_ATOMS), st.binary(max_size=8)), max_size=60).map(
    b"".join
)
cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=12)


@PROPS
@given(body=st.one_of(sse_like, st.binary(max_size=300)), cuts=cuts)
@example(body=b"data: a\r\n\n", cuts=[8, 8])  # CR, empty chunk, LF: one line end, not two
@example(body=b"data: a\r\ndata: b\n\n", cuts=[8, 8])
def test_decoder_equals_reference_in_any_chunking(body: bytes, cuts: list[int]) -> None:
    got, _ = decode_chunked(body, cuts)
    assert got == reference_decode(body)


@PROPS
@given(
    body=sse_like, cuts=cuts, ends=st.lists(st.sampled_from([b"\n", b"\r", b"\r\n"]), min_size=1)
)
@example(body=b"data\n\n", cuts=[], ends=[b"\r", b"\n"])
def test_line_end_style_does_not_matter(body: bytes, cuts: list[int], ends: list[bytes]) -> None:
    """Rewriting every line end of a body into any mix of CR, LF and CRLF decodes the same."""
    normal = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    parts = normal.split(b"\n")
    mixed = bytearray(parts[0])
    for i, part in enumerate(parts[1:]):
        end = ends[i % len(ends)]
        if mixed.endswith(b"\r") and end.startswith(b"\n"):
            end = b"\r"  # CR then LF would be one CRLF line end, not two
        mixed += end + part
    got, _ = decode_chunked(bytes(mixed), cuts)
    assert got == reference_decode(normal)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_corpus_transcripts_decode_like_the_reference_in_random_chunkings(path: Path) -> None:
    body = path.read_bytes()
    want = reference_decode(body)
    assert want, "every transcript holds events"
    rng = random.Random(path.name)
    for _ in range(20):
        got, _ = decode_chunked(
            body, [rng.randrange(len(body) + 1) for _ in range(rng.randrange(40))]
        )
        assert got == want
    # byte by byte, and with a BOM and CRLF line ends
    got, _ = decode_chunked(body, list(range(len(body))) if len(body) < 20000 else [])
    assert got == want
    crlf = b"\xef\xbb\xbf" + body.replace(b"\n", b"\r\n")
    got, _ = decode_chunked(crlf, [1, 2, 3, 4, len(crlf) // 2])
    assert got == want


def _mutate(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randrange(1, 8)):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            del data[at : at + rng.randrange(1, 64)]
        elif op == 1:
            data[at:at] = rng.choice(_ATOMS)
        elif op == 2 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 3:
            span = data[at : at + rng.randrange(1, 200)]
            data[at:at] = span * rng.randrange(1, 4)
        elif op == 4:
            data[at:at] = b"[" * rng.randrange(1, 5000)  # deep JSON
        else:
            data[at:at] = rng.choice([b'"sequence_number":', b'"type":"error"', b'"error":{'])
    return bytes(data)


@PROPS
@given(seed=st.integers(min_value=0, max_value=2**32), cuts=cuts)
def test_mutated_transcripts_decode_like_the_reference(seed: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    body = _mutate(rng, rng.choice(CORPUS))
    got, _ = decode_chunked(body, cuts)
    assert got == reference_decode(body)


@PROPS
@given(
    body=st.one_of(sse_like, st.sampled_from(CORPUS)),
    cuts=cuts,
    max_line=st.integers(min_value=1, max_value=400),
)
def test_memory_bound_and_frames_with_oversized_lines_are_dropped(
    body: bytes, cuts: list[int], max_line: int
) -> None:
    got, _decoder = decode_chunked(body, cuts, max_line=max_line)
    assert got == reference_decode(body, max_line=max_line)  # bounds measured in bytes, as here


def test_huge_line_without_line_end_keeps_memory_bounded() -> None:
    seen: list[bytes] = []
    oversized: list[int] = []
    decoder = SSEDecoder(
        lambda e, d: seen.append(d), max_line_bytes=4096, on_oversized=lambda: oversized.append(1)
    )
    decoder.feed(b"data: ")
    for _ in range(4096):  # 16 MiB of one line, in 4 KiB chunks
        decoder.feed(b"x" * 4096)
        assert decoder._pending_size <= 4096
    decoder.feed(b"\n\ndata: after\n\n")
    assert seen == [b"after"] and oversized == [1]


# --- the hook -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared() -> Iterator[Telemetry]:
    """One telemetry for the module: hypothesis runs every example in one test call, so a
    function-scoped fixture would not be fresh per example anyway (each clears it first)."""
    made = new_telemetry()
    yield made
    made.shutdown()


_ENDINGS = ["end", "cancel", "fail", "abandon", "close_with", "close_with_none"]


def _end(hook: ResponseStreamHook, how: str) -> None:
    if how == "end":
        hook.end()
    elif how == "cancel":
        hook.cancel(KeyboardInterrupt())
    elif how == "fail":
        hook.fail(ConnectionError("reset"))
    elif how == "abandon":
        hook.abandon()
    elif how == "close_with":
        hook.close_with(RuntimeError("x"))
    else:
        hook.close_with(None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_TYPES = [
    "response.created",
    "response.completed",
    "response.failed",
    "response.incomplete",
    "error",
    "response.output_text.delta",
    "response.output_item.added",
    "",
    "response.x.delta",
]
event_dicts = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(_TYPES), json_values),
        "sequence_number": st.one_of(st.integers(), json_values),
        "response": json_values,
        "error": json_values,
        "message": json_values,
        "code": json_values,
        "item": json_values,
        "delta": json_values,
        "output_index": json_values,
    },
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-remaining-requests",
            "retry-after",
            "retry-after-ms",
            "x-ratelimit-reset-tokens",
            "x-request-id",
            "X-RateLimit-Limit-Tokens",
        ]
    )
    | st.text(max_size=10),
    st.text(max_size=40),
    max_size=6,
)


@PROPS
@given(
    body=st.one_of(sse_like, st.binary(max_size=200), st.sampled_from(CORPUS)),
    seed=st.integers(min_value=0, max_value=2**32),
    cuts=cuts,
    events=st.lists(event_dicts, max_size=4),
    response=st.none()
    | st.tuples(st.integers(100, 599), headers, st.none() | st.binary(max_size=80) | json_values),
    endings=st.lists(st.sampled_from(_ENDINGS), min_size=1, max_size=3),
    capture=st.booleans(),
)
def test_hook_never_raises_never_faults_and_ends_its_span_exactly_once(
    shared: Telemetry,
    body: bytes,
    seed: int,
    cuts: list[int],
    events: list[dict[str, Any]],
    response: tuple[int, dict[str, str], Any] | None,
    endings: list[str],
    capture: bool,
) -> None:
    body = _mutate(random.Random(seed), body) if seed % 2 else body
    before = _faults.fault_counts()
    shared.spans.clear()
    hook = ResponseStreamHook(
        model="m",
        tracer_provider=shared.tracer_provider,
        capture_content=otel_responses.ContentCapture(on_span=capture, max_chars=50),
    )
    if response is not None:
        status, hdrs, err_body = response
        hook.on_response(
            status, hdrs, err_body if not isinstance(err_body, (int, float, bool, list)) else None
        )
    prev = 0
    for cut in sorted(c % (len(body) + 1) for c in cuts):
        hook.feed(body[prev:cut])
        prev = cut
    hook.feed(body[prev:])
    for event in events:
        hook.on_event(event)
    for how in endings:
        _end(hook, how)
    finished = shared.finished()
    assert len(finished) == 1, "exactly one span, ended once"
    assert hook.outcome in otel_responses.OUTCOMES
    assert attributes(finished[0])["otel_responses.stream.outcome"] == hook.outcome
    assert _faults.fault_counts() == before, "hostile input is an anomaly, never an internal fault"


def test_deep_json_is_an_anomaly_not_a_fault(shared: Telemetry) -> None:
    before = _faults.fault_counts()
    hook = ResponseStreamHook(model="m", tracer_provider=shared.tracer_provider)
    hook.feed(b"data: " + b"[" * 100_000 + b"\n\n")
    hook.feed(b"event: response.created\ndata: " + b'{"a":' * 50_000 + b"\n\n")
    hook.end()
    assert _faults.fault_counts() == before
    assert hook.outcome == "truncated"


# --- rate-limit parsing ---------------------------------------------------------------------
_RL_ATOMS = [
    "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): ",
    "Limit ",
    "Used ",
    "Requested ",
    "Limit: ",
    "Please try again in ",
    "1.4s",
    "6m0s",
    "120ms",
    "µs",
    "ns",
    "h",
    "(RPM)",
    "requests per day",
    "project proj_X ",
    "9" * 40,
    ".",
    " ",
    "e309",
    "nan",
    "inf",
    "-1",
    "\u0661\u0662",
    "\u00b2",
]
rl_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(_RL_ATOMS), st.text(max_size=5)), max_size=40).map("".join),
)


@PROPS
@given(text=rl_text)
def test_parse_duration_never_raises_and_is_finite_non_negative(text: str) -> None:
    value = parse_duration(text)
    assert value is None or (value >= 0 and value != float("inf") and value == value)


@PROPS
@given(text=rl_text)
def test_facts_from_message_never_raises(text: str) -> None:
    facts = facts_from_message(text)
    for value in facts.known().values():
        assert isinstance(value, (str, int, float))
        if isinstance(value, float):
            assert value >= 0 and value != float("inf")


@PROPS
@given(
    hdrs=st.dictionaries(
        st.sampled_from(
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-tokens",
                "retry-after",
                "Retry-After-Ms",
                "x-ratelimit-reset-requests",
                "x-ratelimit-reset-tokens",
            ]
        ),
        rl_text
        | st.sampled_from(
            [
                "Wed, 21 Oct 2015 07:28:00 GMT",
                "Fri, 31 Dec 9999 23:59:59 GMT",
                "Mon, 99 Foo 0 1:1:1 +9999",
            ]
        ),
    )
)
@example(hdrs={"x-ratelimit-remaining-tokens": "\u00b2"})  # str.isdigit() but not int()-able
def test_facts_from_headers_never_raises(hdrs: dict[str, str]) -> None:
    facts = facts_from_headers(hdrs)
    for value in facts.known().values():
        assert isinstance(value, (int, float)) and value >= 0 and value != float("inf")


@pytest.mark.parametrize(
    "text",
    [
        "try again in " + "1" * 4000 + "s",
        "try again in " + "1.1s" * 2000,
        "Limit " + "9" * 5000,
        "(" * 5000 + "TPM" + ")" * 5000,
        "organization org-" + "a" * 100_000,
        "tokens per " * 10_000,
    ],
)
def test_rate_limit_parsing_is_bounded_on_hostile_text(text: str) -> None:
    start = time.perf_counter()
    for _ in range(20):
        facts_from_message(text)
        parse_duration(text)
        facts_from_headers({"retry-after": text, "x-ratelimit-reset-tokens": text})
    assert time.perf_counter() - start < 10, "liveness bound: no super-linear regex blow-up"
