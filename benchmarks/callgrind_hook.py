"""Instructions the hook alone spends per delta frame and per stream: the quick loop for tuning.

Run (from the repository root, in the project's virtualenv; valgrind must be installed)::

    python benchmarks/callgrind_hook.py [--dialect responses ...]

``callgrind_sdk.py`` gives the figure the budget is about (through the real SDK, against the bare
SDK and the peers) but takes a quarter of an hour. This one takes two to three minutes per
dialect and isolates the hook: ``ResponseStreamHook(dialect=D).feed`` with one chunk per SSE
frame, as the SDKs' transports deliver them, and real SDK providers with in-memory exporters
behind it. Each
figure is the difference between two processes under ``valgrind --tool=callgrind
--cache-sim=no`` with ``PYTHONHASHSEED=0`` that differ only in how much they feed, divided by that
difference, so start-up and imports cancel out:

* per delta frame: the first 600 or 2,600 frames of one stream (its head, then deltas), fed
  and ended;
* per stream: 20 warm-up streams of one delta, then 20 or 60 more (start, lifecycle events, the
  delta, the end: span, span events, metric points, logs);
* the same per stream with no-op tracer and meter providers: what otel-responses itself spends
  per stream (decoding and interpreting the lifecycle events, the hook, the logs); the difference
  from the line above is the OpenTelemetry SDK's share (span, span events, metric points), a
  floor no decoding can lower.

Differences below about 2 % between two builds are within what moves from run to run (the
collector's passes fall differently); compare builds with this, confirm with ``callgrind_sdk.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from _sdk_cases import CASES, Telemetry

TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)
FRAMES = (500, 2500)
STREAMS = (20, 60)
WARM_FRAMES = 100
WARM_STREAMS = 20


def child(dialect: str, mode: str, count: int) -> None:
    """The measured process: feed ``count`` more delta frames, or ``count`` more streams."""
    telemetry = Telemetry()
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    from otel_responses import ResponseStreamHook

    build = CASES[dialect].build
    if mode == "frames":
        # Both processes build the same stream (building costs more than observing) and feed
        # its first frames: the head, then deltas; the stream is ended as truncated alike.
        frames = build(WARM_FRAMES + FRAMES[1])
        hook = ResponseStreamHook(dialect=dialect)
        for frame in frames[: WARM_FRAMES + count]:
            hook.feed(frame)
        hook.end()
    else:
        providers: dict[str, Any] = {}
        if mode == "noop-streams":
            providers = {"tracer_provider": NoOpTracerProvider(),
                         "meter_provider": NoOpMeterProvider()}  # fmt: skip
        stream = build(1)
        for _ in range(WARM_STREAMS + count):
            hook = ResponseStreamHook(dialect=dialect, **providers)
            for frame in stream:
                hook.feed(frame)
            hook.end()
    telemetry.drain()


def instructions(dialect: str, mode: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={path}",
             sys.executable, os.path.abspath(__file__), "--child", dialect, mode, str(count)],
            check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        with open(path, "rb") as fh:
            found = TOTALS.search(fh.read())
    if found is None:
        raise RuntimeError("callgrind wrote no total")
    return int(found.group(1))


def per_unit(dialect: str, mode: str, counts: tuple[int, int]) -> float:
    low, high = (instructions(dialect, mode, count) for count in counts)
    return (high - low) / (counts[1] - counts[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialect", action="append", choices=sorted(CASES))
    parser.add_argument("--child", nargs=3, metavar=("DIALECT", "MODE", "COUNT"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        dialect, mode, count = args.child
        child(dialect, mode, int(count))
        return 0
    print("instructions through ResponseStreamHook.feed (callgrind, PYTHONHASHSEED=0)")
    print(f"{'dialect':<20}{'per delta frame':>18}{'per 1-delta stream':>22}"
          f"{'of which the OTel SDK':>24}")  # fmt: skip
    for dialect in args.dialect or sorted(CASES):
        frame = per_unit(dialect, "frames", FRAMES)
        stream = per_unit(dialect, "streams", STREAMS)
        sdk = stream - per_unit(dialect, "noop-streams", STREAMS)
        print(f"{dialect:<20}{frame:>18,.0f}{stream:>22,.0f}{sdk:>24,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
