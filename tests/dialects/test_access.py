"""The helpers the dialects share: JSON parsing, JSON string ends and the learned delta shape."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from otel_responses.dialects._access import DeltaShape, field, loads, string_end


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (b'{"a":"\xc3\xa9"}', {"a": "\u00e9"}),  # UTF-8 decoded as such
        (b'\xef\xbb\xbf{"a":1}', {"a": 1}),  # a leading BOM dropped, as json.loads does
        ('{"a":1}', {"a": 1}),
        (b'{"a":"\xff"}', None),  # bad UTF-8
        (b'{"a":', None),  # bad JSON
        (b"[" * 100_000 + b"]" * 100_000, None),  # nested too deep
    ],
)
def test_loads_parses_utf8_json_and_gives_none_for_anything_else(
    raw: bytes | str, parsed: object
) -> None:
    assert loads(raw) == parsed


class Model:
    """An SDK object (attributes, not a mapping)."""

    a = 1


@pytest.mark.parametrize(
    ("obj", "found"),
    [({"a": 1}, 1), ({}, None), (None, None), (Model(), 1), (json, None)],
)
def test_field_reads_dicts_mappings_and_objects(obj: object, found: object) -> None:
    assert field(obj, "a") == found


def test_field_reads_a_mapping_that_is_no_dict() -> None:
    assert field(MappingProxyType({"a": 2}), "a") == 2


def chunk(text: str, *, finish: str | None = None, usage: object = None, obf: str = "a1") -> bytes:
    payload = {
        "id": "chatcmpl-1",
        "created": 1700000000,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        "usage": usage,
        "obfuscation": obf,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def learned(first: bytes) -> DeltaShape:
    shape = DeltaShape(padding=b'"obfuscation":"')  # as the Chat dialect builds it
    shape.learn(first, first.index(b'"content":"') + len(b'"content":"'), "content")
    return shape


@pytest.mark.parametrize(
    ("raw", "start", "end"),
    [
        (b'"abc" x', 1, 4),
        (b'"a\\"b" x', 1, 5),
        (b'"a\\\\" x', 1, 4),  # an escaped backslash, then the closing quote
        (b'"a\\\\\\"b" x', 1, 7),
        (b'"open', 1, -1),
    ],
)
def test_string_end(raw: bytes, start: int, end: int) -> None:
    assert string_end(raw, start) == end


def test_a_delta_of_the_learned_shape_matches_whatever_its_text() -> None:
    shape = learned(chunk("Hello"))
    assert shape.match(chunk(' wor"ld \\ "finish_reason":"stop"', obf="Zz9")) == "content"


@pytest.mark.parametrize(
    "other",
    [
        chunk("x", finish="stop"),  # a finish reason in the tail
        chunk("x", usage={"prompt_tokens": 1}),  # usage in the tail
        chunk(""),  # no text: not output
        chunk("x", obf="not alnum!"),
        chunk("x").replace(b'"index":0', b'"index":1'),  # another choice: another head
        b"",
    ],
)
def test_anything_else_is_left_to_the_full_check(other: bytes) -> None:
    assert learned(chunk("Hello")).match(other) is None


def test_running_counters_digits_do_not_change_the_shape() -> None:
    def frame(text: str, tokens: int) -> bytes:
        return (
            b'{"candidates": [{"content": {"parts": [{"text": "'
            + text.encode()
            + b'"}]}}],"usageMetadata": {"promptTokenCount": '
            + str(tokens).encode()
            + b"}}"
        )

    shape = DeltaShape()
    first = frame("a", 5)
    shape.learn(first, first.index(b'"text": "') + len(b'"text": "'), "gemini.text.delta")
    assert shape.match(frame("bc", 1234)) == "gemini.text.delta"
    assert shape.match(frame("bc", 12).replace(b"}}", b'},"finishReason": "STOP"}')) is None


def test_nothing_learned_matches_nothing() -> None:
    assert DeltaShape().match(chunk("x")) is None


def test_a_new_obfuscation_token_keeps_the_shape_and_nothing_else_slips_through() -> None:
    # A match remembers the bytes around the token, so the next frame is recognised without
    # stripping digits from its whole tail: only the token may differ for that shortcut.
    shape = learned(chunk("Hello", obf="a1"))
    assert shape.match(chunk("x", obf="b2")) == "content"
    assert shape.match(chunk("y", obf="LongerToken99")) == "content"
    assert shape.match(chunk("x", finish="stop", obf="c3")) is None
    assert shape.match(chunk("x", usage={"prompt_tokens": 1}, obf="d4")) is None
    assert shape.match(chunk("x", obf="e5!")) is None
    assert shape.match(chunk("ends with a backslash \\", obf="f6")) == "content"
    assert shape.match(chunk('quote " and backslash \\', finish="length", obf="g7")) is None
