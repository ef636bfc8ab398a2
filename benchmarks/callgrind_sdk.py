"""Instructions per streamed event an instrumentation adds to an LLM SDK: a repeatable figure.

Run (from the repository root, in the project's virtualenv; valgrind must be installed)::

    python benchmarks/callgrind_sdk.py [--dialect responses --dialect chat_completions] \\
        [--only NAME] [--deltas 300] [--streams 9] [--runs 2] [--jobs 2]

Wall-clock ratios on a shared 2-core machine move by about ±10 % between runs (NOTES.md), more than
the costs being compared. Instruction counts do not: per dialect, one process runs under ``valgrind
--tool=callgrind --cache-sim=no`` with ``PYTHONHASHSEED=0``, imports the SDK and OpenTelemetry,
consumes one bare stream, and then forks one child per (variant, K): the child turns its variant on
(bare: nothing), consumes a warm-up stream and then K = 1 or K = ``--streams`` (default 3) streams
of ``--deltas`` deltas (sync, a mock transport, real OpenTelemetry SDK providers with in-memory
exporters) and exits without teardown. A forked child carries its parent's counts, so the
difference between the K and the 1-stream child of a variant is exactly K - 1 streams, with
start-up, imports, instrumenting and warm-up cancelled out; divided by the SSE frames of those
streams it is instructions per event. (Forking also spares each child the start-up, which is most
of a process's instructions under valgrind.) That is taken for the bare SDK and for each variant
(otel-responses, each peer; never two in one process), per dialect, and reported as instructions
per event and the percentage added over the bare SDK. ``--runs 2`` measures everything twice to
show that the figures repeat. Where the cyclic collector's passes over the process's heap fall
within two streams moves an instrumented figure by several thousand instructions per frame between
runs; ``--streams 9`` averages that over eight streams, and the added figure repeats within about a
thousand (the
budget's figure is taken so).

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
from typing import Any

from _sdk_cases import CASES, OURS, Telemetry, Variant, versions

BARE = "bare"
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


# --- the measured process ---------------------------------------------------------------------
def server(
    dialect: str, variants: list[str], deltas: int, out_dir: str, jobs: int, high: int
) -> None:
    """Under callgrind: import and warm up the SDK once, then fork one child per (variant, K).

    A forked child inherits the parent's counts, so every child's total is the same start-up
    prefix plus its own work: (K=3 child) - (K=1 child) of one variant is exactly two streams.
    Forking saves the start-up (imports of the SDK and OpenTelemetry: most of a process's
    instructions) that separate processes would each pay under valgrind. Each child instruments
    (imports its peer there, so peers never co-exist), consumes a warm-up stream and then K
    streams, records what it produced and exits without teardown."""
    case = CASES[dialect]
    telemetry = Telemetry()
    run, _ = case.consumers(case.build(deltas))
    run()  # the bare SDK's first-use costs (schemas, caches) before any fork
    telemetry.drain()
    pending: dict[int, tuple[str, int]] = {}
    done: list[dict[str, Any]] = []

    def reap() -> None:
        pid, _status = os.wait()
        variant, streams = pending.pop(pid)
        with open(os.path.join(out_dir, f"produced.{pid}.json")) as fh:
            done.append({"pid": pid, "variant": variant, "streams": streams, **json.load(fh)})

    for variant in [BARE, *variants]:
        for streams in (1, high):
            if len(pending) >= jobs:
                reap()
            pid = os.fork()
            if pid == 0:
                _child(case, telemetry, run, variant, streams, out_dir)
            pending[pid] = (variant, streams)
    while pending:
        reap()
    with open(os.path.join(out_dir, "children.json"), "w") as fh:
        json.dump(done, fh)
    os._exit(0)


def _child(case: Any, telemetry: Telemetry, run: Any, variant: str, k: int, out: str) -> None:
    produced: dict[str, Any] = {}
    try:
        if variant != BARE:
            Variant(variant, case, telemetry).on()
        run()
        telemetry.drain()
        for _ in range(k):
            run()
        spans = telemetry.exporter.get_finished_spans()
        produced = {"spans": len(spans), "span_events": sum(len(s.events) for s in spans)}
    except BaseException as exc:  # reported, not raised: the parent must go on
        produced = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    with open(os.path.join(out, f"produced.{os.getpid()}.json"), "w") as fh:
        json.dump(produced, fh)
    os._exit(0)


# --- the driver ---------------------------------------------------------------------------------
def measure(dialect: str, variants: list[str], args: argparse.Namespace) -> dict[Any, Any]:
    """Run one dialect's server under callgrind; per (dialect, variant, K): the child's
    instruction total and what it recorded, or an error."""
    out_dir = tempfile.mkdtemp(prefix=f"callgrind-sdk-{dialect}-")
    try:
        cmd = ["valgrind", "--tool=callgrind", "--cache-sim=no",
               f"--callgrind-out-file={out_dir}/callgrind.out.%p",
               sys.executable, os.path.abspath(__file__), "--server", "--dialect", dialect,
               "--variants", ",".join(variants), "--deltas", str(args.deltas),
               "--out", out_dir, "--jobs", str(args.jobs),
               "--streams", str(args.streams)]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, capture_output=True, env=env)
        listing = os.path.join(out_dir, "children.json")
        if done.returncode != 0 or not os.path.exists(listing):
            tail = " / ".join(done.stderr.decode(errors="replace").strip().splitlines()[-3:])
            return {(dialect, v, k): {"error": f"run failed: {tail[:300]}"}
                    for v in [BARE, *variants] for k in (1, args.streams)}  # fmt: skip
        with open(listing) as fh:
            children = json.load(fh)
        results: dict[Any, Any] = {}
        for child_result in children:
            key = (dialect, child_result["variant"], child_result["streams"])
            with open(os.path.join(out_dir, f"callgrind.out.{child_result['pid']}"), "rb") as fh:
                found = TOTALS.search(fh.read())
            if found is None:
                child_result.setdefault("error", "no totals in the callgrind output")
            else:
                child_result["instructions"] = int(found.group(1))
            results[key] = child_result
        return results
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def run_all(dialects: list[str], variants: dict[str, list[str]], args: argparse.Namespace) -> Any:
    """Every dialect's server, one after the other (each forks ``args.jobs`` children at once)."""
    results: dict[Any, Any] = {}
    for dialect in dialects:
        results.update(measure(dialect, variants[dialect], args))
    return results


def per_event(results: dict[Any, Any], dialect: str, variant: str, frames: int, high: int) -> Any:
    """(instructions per event, spans per stream) or an error text."""
    one, many = results[(dialect, variant, 1)], results[(dialect, variant, high)]
    for r in (one, many):
        if "error" in r:
            return r["error"]
    spans = (many["spans"] - one["spans"]) / (high - 1)
    return (many["instructions"] - one["instructions"]) / ((high - 1) * frames), spans


def report(
    runs: list[Any], dialects: list[str], variants: dict[str, list[str]], deltas: int, high: int
) -> None:
    budget = 3.0
    print(f"instructions per SSE frame (callgrind, PYTHONHASHSEED=0, (K={high} - K=1) / "
          f"{high - 1} streams), {deltas} deltas per stream, sync; {len(runs)} run(s)")  # fmt: skip
    for dialect in dialects:
        case = CASES[dialect]
        frames = len(case.build(deltas))
        print(f"\n## {dialect} ({versions(case)}; {frames} frames per stream)")
        labels = "".join(f"{'run ' + str(i + 1):>24}" for i in range(len(runs)))
        head = f"{'variant':<36}{labels}  {'spans/stream':>12}"
        print(head + ("  max diff" if len(runs) > 1 else ""))
        print("-" * (len(head) + (10 if len(runs) > 1 else 0)))
        bares = [per_event(r, dialect, BARE, frames, high) for r in runs]
        for variant in [BARE, *variants[dialect]]:
            cells, values, spans = [], [], 0.0
            for run, bare in zip(runs, bares, strict=True):
                got = per_event(run, dialect, variant, frames, high)
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
    parser.add_argument("--server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variants", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--dialect", action="append", choices=sorted(CASES),
                        help="dialect to measure (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--only", help="one variant besides bare: otel-responses or a peer name")
    parser.add_argument("--deltas", type=int, default=300)
    parser.add_argument("--streams", type=int, default=3,
                        help="K of the larger child (the smaller consumes 1 stream)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=1, help="measure everything this many times")
    parser.add_argument("--jobs", type=int, default=2, help="measured children at once")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install peers")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--profile", action="store_true", help="cProfile otel-responses instead")
    parser.add_argument("--top", type=int, default=15, help="functions shown by --profile")
    args = parser.parse_args()
    if args.streams < 2:
        parser.error("--streams must be at least 2")
    dialects = args.dialect or list(CASES)
    if args.server:
        names = [v for v in args.variants.split(",") if v]
        server(dialects[0], names, args.deltas, args.out, args.jobs, args.streams)
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
              f"children under callgrind, {args.jobs} at a time ...", flush=True)  # fmt: skip
        runs.append(run_all(dialects, variants, args))
    print()
    report(runs, dialects, variants, args.deltas, args.streams)
    if args.json:
        with open(args.json, "w") as fh:
            raw = [{"/".join(map(str, k)): v for k, v in run.items()} for run in runs]
            json.dump(raw, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
