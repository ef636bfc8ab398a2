"""Instructions per streamed event an instrumentation adds to an LLM SDK: a repeatable figure.

Run (from the repository root, in the project's virtualenv; valgrind must be installed)::

    python benchmarks/callgrind_sdk.py [--dialect responses --dialect chat_completions] \\
        [--only NAME] [--deltas 300] [--runs 2] [--jobs 2]

Wall-clock ratios on a shared 2-core machine move by about ±10 % between runs (NOTES.md), more
than the costs being compared. Instruction counts do not: each measured process runs under
``valgrind --tool=callgrind --cache-sim=no`` with ``PYTHONHASHSEED=0`` and consumes, after one
warm-up stream, K = 1 or K = 3 streams of ``--deltas`` deltas through the SDK (sync, a mock
transport, real OpenTelemetry SDK providers with in-memory exporters). The difference between the
K = 3 and the K = 1 process is the cost of two streams with start-up, imports, warm-up and exit
cancelled out; divided by the SSE frames of those streams it is instructions per event. That is
taken for the bare SDK and for each variant (otel-responses, each peer; each in its own
processes, never two at once), per dialect, and reported as instructions per event and the
percentage added over the bare SDK. ``--runs 2`` measures everything twice to show that the
figures repeat.

Budget (issue 8): otel-responses adds at most 3 % of the bare SDK's instructions per event, for
the Responses and for the Chat Completions dialect. A variant that produced no span for a dialect
does not cover it; it is marked so rather than reported as cheap.

``--profile`` prints, instead, where otel-responses' instructions go: a cProfile of the
instrumented streams (after the warm-up), the functions of otel_responses with the most own
time, file:line. (callgrind itself sees only the interpreter's C functions, not Python lines.)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _sdk_cases import CASES, OURS, Telemetry, Variant, versions

BARE = "bare"
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


# --- the measured process ---------------------------------------------------------------------
def child(dialect: str, variant_name: str, streams: int, deltas: int) -> None:
    """Consume one warm-up stream and then ``streams`` streams; print what was recorded; exit
    without tearing down (the teardown's cost would depend on what the streams left behind)."""
    case = CASES[dialect]
    telemetry = Telemetry()
    run, _ = case.consumers(case.build(deltas))
    if variant_name != BARE:
        Variant(variant_name, case, telemetry).on()
    run()
    telemetry.drain()
    for _ in range(streams):
        run()
    spans, events = telemetry.exporter.get_finished_spans(), 0
    events = sum(len(span.events) for span in spans)
    print(json.dumps({"spans": len(spans), "span_events": events}), flush=True)
    os._exit(0)


# --- the driver ---------------------------------------------------------------------------------
def measure(job: tuple[str, str, int], deltas: int, out_dir: str) -> dict[str, Any]:
    """Run one child under callgrind; its instruction total and what it recorded."""
    dialect, variant, streams = job
    out = os.path.join(out_dir, f"callgrind.out.{dialect}.{variant}.{streams}")
    cmd = ["valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={out}",
           sys.executable, os.path.abspath(__file__), "--child", "--dialect", dialect,
           "--variant", variant, "--streams", str(streams), "--deltas", str(deltas)]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, env=env)
    result: dict[str, Any] = {"job": job}
    found = None
    if os.path.exists(out):
        with open(out, "rb") as fh:
            found = TOTALS.search(fh.read())
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    if done.returncode != 0 or found is None or not lines:
        tail = " / ".join(done.stderr.decode(errors="replace").strip().splitlines()[-3:])
        result["error"] = f"run failed: {tail[:300]}"
        return result
    result["instructions"] = int(found.group(1))
    result.update(json.loads(lines[-1]))
    return result


def run_all(dialects: list[str], variants: dict[str, list[str]], args: argparse.Namespace) -> Any:
    """Every (dialect, variant, K) child, ``args.jobs`` at a time; results by job."""
    jobs = [
        (dialect, variant, k)
        for dialect in dialects
        for variant in [BARE, *variants[dialect]]
        for k in (1, 3)
    ]
    out_dir = tempfile.mkdtemp(prefix="callgrind-sdk-")
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda job: measure(job, args.deltas, out_dir), jobs))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {r["job"]: r for r in done}


def per_event(results: dict[Any, Any], dialect: str, variant: str, frames: int) -> Any:
    """(instructions per event, spans per stream) or an error text."""
    one, three = results[(dialect, variant, 1)], results[(dialect, variant, 3)]
    for r in (one, three):
        if "error" in r:
            return r["error"]
    spans = (three["spans"] - one["spans"]) / 2
    return (three["instructions"] - one["instructions"]) / (2 * frames), spans


def report(
    runs: list[Any], dialects: list[str], variants: dict[str, list[str]], deltas: int
) -> None:
    budget = 3.0
    print(f"instructions per SSE frame (callgrind, PYTHONHASHSEED=0, (K=3 - K=1) / 2 streams), "
          f"{deltas} deltas per stream, sync; {len(runs)} run(s)")  # fmt: skip
    for dialect in dialects:
        case = CASES[dialect]
        frames = len(case.build(deltas))
        print(f"\n## {dialect} ({versions(case)}; {frames} frames per stream)")
        labels = "".join(f"{'run ' + str(i + 1):>24}" for i in range(len(runs)))
        head = f"{'variant':<36}{labels}  {'spans/stream':>12}"
        print(head + ("  max diff" if len(runs) > 1 else ""))
        print("-" * (len(head) + (10 if len(runs) > 1 else 0)))
        bares = [per_event(r, dialect, BARE, frames) for r in runs]
        for variant in [BARE, *variants[dialect]]:
            cells, values, spans = [], [], 0.0
            for run, bare in zip(runs, bares, strict=True):
                got = per_event(run, dialect, variant, frames)
                if isinstance(got, str) or isinstance(bare, str):
                    cells.append(f"{'error':>24}")
                    continue
                ins, spans = got
                values.append(ins)
                if variant == BARE:
                    cells.append(f"{ins:>24,.0f}")
                else:
                    added = ins - bare[0]
                    cells.append(f"{ins:>10,.0f} {added:>+8,.0f} {100 * added / bare[0]:>+4.1f}%")
            name = variant
            if variant != BARE:
                name += f" {_version(variant, dialect)}"
            covered = f"{spans:>12.0f}" if variant == BARE or spans else f"{'NONE':>12}"
            line = f"{name:<36}{''.join(cells)}  {covered}"
            if len(values) > 1:
                line += f"  {100 * (max(values) - min(values)) / min(values):.3f}%"
            if variant == OURS and values and not isinstance(bares[0], str):
                added_pct = 100 * (values[0] - bares[0][0]) / bares[0][0]
                line += f"  budget ≤{budget:.0f}%: {'OK' if added_pct <= budget else 'OVER'}"
            print(line)
        for run in runs:
            for (d, v, k), r in run.items():
                if d == dialect and "error" in r:
                    print(f"  {v} K={k}: {r['error']}")


def _version(variant: str, dialect: str) -> str:
    import importlib.metadata as md

    case = CASES[dialect]
    dist = (
        "otel-responses"
        if variant == OURS
        else next(p.dist for p in case.peers if p.name == variant)
    )
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "?"


def profile(dialect: str, deltas: int, streams: int, top: int) -> None:
    """Own time of otel_responses' functions while the instrumented SDK consumes ``streams``
    streams, after a warm-up one."""
    case = CASES[dialect]
    telemetry = Telemetry()
    run, _ = case.consumers(case.build(deltas))
    Variant(OURS, case, telemetry).on()
    run()
    telemetry.drain()
    # CPU time of this thread, not wall time: the figures must not move with the machine's load;
    # the collector off, so that its pauses are not charged to whichever function allocated.
    prof = cProfile.Profile(time.thread_time)
    gc.collect()
    gc.disable()
    prof.enable()
    for _ in range(streams):
        run()
    prof.disable()
    gc.enable()
    stats = pstats.Stats(prof)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    frames = len(case.build(deltas)) * streams
    print(f"cProfile of {streams} instrumented {dialect} streams ({frames} frames): total own "
          f"time {total * 1e6 / frames:.1f} µs/frame (thread CPU time, profiler overhead "
          "included, gc off)")  # fmt: skip
    print(f"{'own µs/frame':>12} {'calls/frame':>11}  function (in otel_responses, or a C function "
          "it calls)")  # fmt: skip
    own: list[tuple[float, float, str]] = []
    for (path, line, func), (_cc, calls, tottime, _ct, callers) in rows:
        if "otel_responses" in path:
            where = f"{path[path.index('otel_responses') :]}:{line} {func}"
            own.append((tottime, calls, where))
        elif path == "~":  # a builtin: the share of its time spent for otel_responses callers
            for (cpath, cline, cfunc), (_c, ncalls, ctt, _cct) in callers.items():
                if "otel_responses" in cpath:
                    caller = f"{cpath[cpath.index('otel_responses') :]}:{cline}"
                    own.append((ctt, ncalls, f"{func} from {caller} {cfunc}"))
    for tottime, calls, where in sorted(own, reverse=True)[:top]:
        print(f"{tottime * 1e6 / frames:>12.2f} {calls / frames:>11.2f}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--dialect", action="append", choices=sorted(CASES),
                        help="dialect to measure (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--only", help="one variant besides bare: otel-responses or a peer name")
    parser.add_argument("--deltas", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1, help="measure everything this many times")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind processes at once")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install peers")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--profile", action="store_true", help="cProfile otel-responses instead")
    parser.add_argument("--top", type=int, default=15, help="functions shown by --profile")
    args = parser.parse_args()
    dialects = args.dialect or list(CASES)
    if args.child:
        child(dialects[0], args.variant, args.streams, args.deltas)
        return
    if args.profile:
        for dialect in dialects:
            profile(dialect, args.deltas, 3, args.top)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    from bench_sdk import ensure

    variants: dict[str, list[str]] = {}
    for dialect in dialects:
        case = CASES[dialect]
        names = [OURS, *(p.name for p in case.peers)]
        if args.only:
            names = [n for n in names if n == args.only]
        problem = next(filter(None, (ensure(p, args.no_install) for p in case.extra)), None)
        if problem:
            print(f"{dialect}: skipped, {problem}")
            continue
        kept = []
        for name in names:
            peer = next((p for p in case.peers if p.name == name), None)
            why = ensure(peer, args.no_install) if peer else None
            if why:
                print(f"{dialect} / {name}: skipped, {why}")
            else:
                kept.append(name)
        variants[dialect] = kept
    dialects = [d for d in dialects if d in variants]
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}: {sum(2 + 2 * len(v) for v in variants.values())} "
              f"processes under callgrind, {args.jobs} at a time ...", flush=True)  # fmt: skip
        runs.append(run_all(dialects, variants, args))
    print()
    report(runs, dialects, variants, args.deltas)
    if args.json:
        with open(args.json, "w") as fh:
            raw = [{"/".join(map(str, k)): v for k, v in run.items()} for run in runs]
            json.dump(raw, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
