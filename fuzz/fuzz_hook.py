"""Coverage-guided fuzzer (atheris/libFuzzer) for the SSE decoder, the hook and rate-limit parsing.

Run (from the repository root, with ``pip install atheris``)::

    mkdir -p /tmp/otel-responses-fuzz
    python fuzz/fuzz_hook.py -max_total_time=600 -rss_limit_mb=2048 \
        /tmp/otel-responses-fuzz tests/fixtures

The first directory collects the inputs libFuzzer finds interesting; ``tests/fixtures`` seeds it
with every recorded transcript. A crash (an exception escaping, or a broken invariant below)
stops the run and writes ``crash-*`` to the working directory; replay one with
``python fuzz/fuzz_hook.py crash-<hash>``.

Invariants checked on every input:

* the decoder fed in fuzzer-chosen chunks emits exactly what a WHATWG whole-body reference
  decoding emits, and never buffers more than ``max_line_bytes``;
* the hook, fed the same bytes (and the input as HTTP headers, an error body and an event
  dict), never raises, records no internal fault (hostile input is an anomaly, not a fault),
  and ends exactly one span whatever sequence of endings is called;
* ``parse_duration``, ``facts_from_message`` and ``facts_from_headers`` never raise.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.sse_reference
from tests.sse_reference import reference_events

with atheris.instrument_imports():
    from otel_responses import (
        ContentCapture,
        ResponseStreamHook,
        SSEDecoder,
        _faults,
        parse_duration,
    )
    from otel_responses.dialects._openai import facts_from_headers, facts_from_message

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider


class _Ends(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[int] = []

    def on_end(self, span) -> None:  # type: ignore[no-untyped-def]
        self.ended.append(span.context.span_id)


ENDS = _Ends()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(ENDS)
BASELINE = _faults.fault_counts()
# Stream failures log warnings; faults are checked through fault_counts() instead.
logging.getLogger("otel_responses").setLevel(logging.CRITICAL)


def check_decoder(body: bytes, cuts: list[int], max_line: int) -> None:
    got: list[tuple[str, bytes]] = []
    decoder = SSEDecoder(lambda e, d: got.append((e, d)), max_line_bytes=max_line)
    prev = 0
    for cut in cuts:
        decoder.feed(body[prev:cut])
        prev = cut
        # What is held: the pending line and the frame's accepted data (``_data_size`` also
        # counts the rejected line that broke the frame, so it is not the measure).
        held = sum(len(p) + 1 for p in decoder._data)
        if decoder._pending_size > max_line or held > max_line:
            raise AssertionError("decoder buffered past max_line_bytes")
    decoder.feed(body[prev:])
    want = [(event, data) for event, data, _ in reference_events(body, max_line)]
    if got != want:
        raise AssertionError(f"decoder {got!r} != reference {want!r}")


ENDINGS = ("end", "cancel", "fail", "abandon", "close_with", "close_none")


def check_hook(fdp: atheris.FuzzedDataProvider, body: bytes, cuts: list[int]) -> None:
    ENDS.ended.clear()
    hook = ResponseStreamHook(
        model="fuzz",
        tracer_provider=PROVIDER,
        capture_content=ContentCapture(on_span=fdp.ConsumeBool(), max_chars=64),
    )
    if fdp.ConsumeBool():
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
        text = raw.decode("utf-8", "replace")
        hook.on_response(
            fdp.ConsumeIntInRange(100, 599),
            {
                "retry-after": text,
                "x-ratelimit-remaining-tokens": text[:8],
                "x-ratelimit-reset-tokens": text[::-1],
                "x-request-id": text,
            },
            raw,
        )
    prev = 0
    for cut in cuts:
        hook.feed(body[prev:cut])
        prev = cut
    hook.feed(body[prev:])
    if fdp.ConsumeBool():
        try:
            obj = json.loads(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)))
        except (ValueError, RecursionError):
            obj = {"type": "response.failed", "response": {"error": None}}
        hook.on_event(obj)
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        how = ENDINGS[fdp.ConsumeIntInRange(0, len(ENDINGS) - 1)]
        if how == "end":
            hook.end()
        elif how == "cancel":
            hook.cancel(RuntimeError("stop"))
        elif how == "fail":
            hook.fail(TimeoutError("t"))
        elif how == "abandon":
            hook.abandon()
        elif how == "close_with":
            hook.close_with(ConnectionError("c"))
        else:
            hook.close_with(None)
    if len(ENDS.ended) != 1:
        raise AssertionError(f"{len(ENDS.ended)} span endings")
    if _faults.fault_counts() != BASELINE:
        raise AssertionError(f"internal fault on hostile input: {_faults.fault_counts()}")


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    max_line = fdp.ConsumeIntInRange(1, 512) if fdp.ConsumeBool() else 1 << 20
    n_cuts = fdp.ConsumeIntInRange(0, 16)
    raw_cuts = [fdp.ConsumeIntInRange(0, 1 << 16) for _ in range(n_cuts)]
    hook_first = fdp.ConsumeBool()
    body = fdp.ConsumeBytes(fdp.remaining_bytes() * 3 // 4) if hook_first else data
    cuts = sorted(c % (len(body) + 1) for c in raw_cuts)
    check_decoder(body, cuts, max_line)
    text = body[:2048].decode("utf-8", "replace")
    parse_duration(text)
    facts_from_message(text)
    facts_from_headers(
        {
            "retry-after": text,
            "retry-after-ms": text[:32],
            "x-ratelimit-reset-requests": text,
            "x-ratelimit-limit-tokens": text,
        }
    )
    check_hook(fdp, body, cuts)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
