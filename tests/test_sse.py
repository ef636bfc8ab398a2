"""The incremental decoder yields the same events however the bytes are chunked."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from otel_responses import SSEDecoder, SSEMessage, decode_all
from tests.sse_reference import reference_decode
from tests.support import FIXTURES

TRANSCRIPTS = sorted(FIXTURES.glob("*.sse"))
EVERY_BOUNDARY_MAX = 24_000  # bytes; larger files are split at a dense sample of positions


def _decode(chunks: list[bytes], max_line_bytes: int | None = None) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []

    def sink(event: str, data: bytes) -> None:
        out.append((event, data))

    decoder = (
        SSEDecoder(sink)
        if max_line_bytes is None
        else SSEDecoder(sink, max_line_bytes=max_line_bytes)
    )
    for chunk in chunks:
        decoder.feed(chunk)
    return out


def _positions(size: int) -> list[int]:
    if size <= EVERY_BOUNDARY_MAX:
        return list(range(size + 1))
    rng = random.Random(size)
    return sorted({*range(0, size + 1, size // 1500), *rng.sample(range(size), 1500), size})


def test_every_transcript_is_covered() -> None:
    assert len(TRANSCRIPTS) == 21  # the 20 corpus streams and the seed


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_split_anywhere_gives_the_same_events(path: Path) -> None:
    body = path.read_bytes()
    expected = reference_decode(body)
    assert expected, "the oracle found no events: the fixture is wrong"
    assert _decode([body]) == expected
    for at in _positions(len(body)):
        assert _decode([body[:at], body[at:]]) == expected, f"split at byte {at}"


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("path", TRANSCRIPTS[:6], ids=lambda p: p.name)
def test_other_line_ends_and_random_chunking(path: Path, newline: bytes) -> None:
    body = path.read_bytes().replace(b"\n", newline)
    expected = reference_decode(body)
    assert [e for e, _ in expected] == [e for e, _ in reference_decode(path.read_bytes())]
    rng = random.Random(path.name)
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(body)), 25))
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        assert _decode(chunks) == expected


def _frames(body: bytes) -> list[bytes]:
    """``body`` cut after every blank line: one chunk per frame, as most servers send."""
    cuts = [m.end() for m in re.finditer(rb"(?:\r\n|\r|\n)(?:\r\n|\r|\n)", body)]
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if a < b]


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.rglob("*.sse")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_one_frame_per_chunk_gives_the_same_events(path: Path) -> None:
    # The decoder's short path for a chunk that is exactly one frame, in every dialect's
    # recordings (Gemini's have CRLF line ends and take the general path).
    body = path.read_bytes()
    expected = reference_decode(body)
    assert len(_frames(body)) >= len(expected) > 0
    assert _decode(_frames(body)) == expected


def test_one_frame_per_chunk_of_every_shape() -> None:
    frames = [
        b"event: a\ndata: 1\n\n",
        b"data: 2\n\n",
        b": comment\n\n",
        b"event:b\ndata:3\n\n",  # no space after the colons
        b"id: 9\ndata: 4\n\n",
        b"data: 5\ndata: 6\n\n",  # multi-line data
        b"event: c\n\n",  # no data: not dispatched, and the type does not leak
        b"data: 7\n\n",
        b"data:\n\n",
        b"data: " + b"z" * 80 + b"\n\n",  # oversized, alone in its chunk
        b"event: d\ndata: 8\r\n\r\n",
        b"data: 9\n\ndata: 10\n\n",  # two frames in one chunk
        b"event: e\ndata: 11\n",  # a frame cut by the chunk...
        b"\n",  # ...and its blank line
        b"data: 12\n\n",
    ]
    expected = [e for e in reference_decode(b"".join(frames)) if len(e[1]) <= 64]
    assert [data for _, data in expected][-3:] == [b"10", b"11", b"12"]
    assert _decode(frames, max_line_bytes=64) == expected


def test_one_byte_chunks() -> None:
    body = (FIXTURES / "seed__failed-rate-limit.sse").read_bytes()
    assert _decode([body[i : i + 1] for i in range(len(body))]) == reference_decode(body)


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    assert _decode([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [("", b"a"), ("", b"b")]


def test_utf8_sequence_split_across_chunks() -> None:
    body = 'data: {"delta":"héllo ✓"}\n\n'.encode()
    at = body.index("✓".encode()) + 1
    assert _decode([body[:at], body[at:]]) == [("", '{"delta":"héllo ✓"}'.encode())]


def test_bom_is_dropped_even_when_split() -> None:
    body = b"\xef\xbb\xbfevent: x\ndata: 1\n\n"
    assert _decode([body[:1], body[1:2], body[2:]]) == [("x", b"1")]
    # Only a leading BOM is special.
    assert _decode([b"data: \xef\xbb\xbf\n\n"]) == [("", b"\xef\xbb\xbf")]


def test_fields_comments_multiline_data_id_retry() -> None:
    messages = decode_all(
        b": keep-alive comment\n"
        b"event: response.created\n"
        b"id: 7\n"
        b"retry: 1500\n"
        b'data: {"a":\n'
        b"data:1}\n"
        b"unknown: ignored\n"
        b"\n"
        b"data\n"
        b"\n"
        b"data: [DONE]\n\n"
    )
    assert messages == [
        SSEMessage("response.created", '{"a":\n1}', "7", 1500),
        SSEMessage("", "", "7", 1500),
        SSEMessage("", "[DONE]", "7", 1500),
    ]


def test_event_type_resets_after_each_event_and_empty_frames_are_not_dispatched() -> None:
    assert _decode([b"event: a\n\nevent: b\ndata: 1\n\ndata: 2\n\n"]) == [("b", b"1"), ("", b"2")]


def test_unterminated_last_event_is_discarded() -> None:
    assert _decode([b"data: 1\n\ndata: 2\n"]) == [("", b"1")]


def test_oversized_line_is_dropped_counted_and_not_buffered() -> None:
    dropped: list[int] = []
    out: list[tuple[str, bytes]] = []
    decoder = SSEDecoder(
        lambda e, d: out.append((e, d)), max_line_bytes=64, on_oversized=lambda: dropped.append(1)
    )
    decoder.feed(b"data: ok\n\nevent: big\ndata: ")
    for _ in range(1000):  # 100 kB with no line end: must not be kept
        decoder.feed(b"x" * 100)
        assert decoder._pending_size <= 64
    decoder.feed(b"yyy\n\ndata: after\n\n")
    assert out == [("", b"ok"), ("", b"after")]
    assert dropped == [1] and decoder.oversized_lines == 1


def test_oversized_line_inside_one_chunk() -> None:
    out = _decode([b"data: " + b"z" * 100 + b"\n\ndata: fine\n\n"], max_line_bytes=50)
    assert out == [("", b"fine")]


def test_many_data_lines_are_bounded_too() -> None:
    out = _decode([b"data: 0123456789\n" * 20 + b"\ndata: next\n\n"], max_line_bytes=100)
    assert out == [("", b"next")]


def test_bad_bound_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        SSEDecoder(lambda e, d: None, max_line_bytes=0)
