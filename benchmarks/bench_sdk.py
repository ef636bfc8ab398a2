"""What instrumentation costs an LLM SDK per streamed event: otel-responses vs. its peers.

Run (from the repository root, in the project's virtualenv)::

    python benchmarks/bench_sdk.py [--dialect responses --dialect chat_completions] [--only NAME]

For each dialect (``_sdk_cases.CASES``: the openai SDK's Responses and Chat Completions, the
anthropic SDK's Messages, google-genai's Gemini) the SDK consumes a ``--deltas``-delta stream
(one chunk per SSE frame, shaped like a real recording) through a mock transport, sync and async.
Each variant — otel-responses and each peer instrumentation of that SDK — runs in its own
subprocess, so that no two instrumentations ever co-exist. In it, rounds of bare and instrumented
runs take turns (``instrument()``/``uninstrument()`` between them, the order flipped every round)
so that drift in the machine's load falls on both alike; every figure compares runs of one
process. Times are this thread's CPU time (the mock transport never waits, so that leaves out
only what other processes took). Reported per mode: the median µs per event bare and
instrumented with their range (fastest-slowest), the median of the per-round differences, and
the ratio of the medians; the spans and span events each instrumented stream produced (a
variant that produced none does not cover the dialect and is marked so — its cost is not a
price of telemetry); then, in another subprocess per variant, peak and retained memory
(tracemalloc) around one ``--memory-deltas`` stream, bare and instrumented.

Timed figures on a shared 2-core machine still move by several % between runs; the repeatable
figure is ``callgrind_sdk.py``'s instruction count.

Peers (and SDKs the project does not depend on) are pip-installed into the current environment
when this command runs — never as test or package dependencies — constrained to the versions of
everything already installed (openai, httpx, OpenTelemetry, ...) so that nothing the project uses
changes; one that cannot be installed beside them is reported as such. ``--no-install`` skips
installing. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata as md
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from _sdk_cases import CASES, OURS, Case, Peer, Telemetry, Variant, versions

N_DELTAS = 2_000
N_MEMORY_DELTAS = 50_000


def timed(run: Callable[[], int]) -> tuple[float, int]:
    """µs per item the SDK yielded, and that count, of one run, in this thread's CPU time: the
    mock transport never waits, so that is all the run's time except what other processes took
    from it on a shared machine."""
    gc.collect()
    start = time.thread_time()
    events = run()
    return (time.thread_time() - start) / events * 1e6, events


def memory(run: Callable[[], int], flush: Callable[[], object]) -> dict[str, float]:
    """Peak and retained KiB (tracemalloc) around one run."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run()
        peak = tracemalloc.get_traced_memory()[1] - base
        flush()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return {"peak_kib": peak / 1024, "retained_kib": retained / 1024}


# --- one variant, in its own process ------------------------------------------------------------
def worker(dialect: str, name: str, repeat: int, what: str, deltas: int) -> dict[str, Any]:
    case = CASES[dialect]
    telemetry = Telemetry()
    run_sync, run_async_coro = case.consumers(case.build(deltas))
    loop = asyncio.new_event_loop()

    def run_async() -> int:
        return int(loop.run_until_complete(run_async_coro()))

    variant = Variant(name, case, telemetry)
    result: dict[str, Any] = {"dialect": dialect, "variant": name, "version": variant.version,
                              "sdk": versions(case), "events": len(case.build(deltas))}  # fmt: skip

    if what == "memory":
        out: dict[str, Any] = {}
        for label in ("bare", "instrumented"):
            if label == "instrumented":
                variant.on()
            run_sync()  # warm-up: first-use allocations are not "retained"
            telemetry.drain()
            out[label] = memory(run_sync, telemetry.drain)
        variant.off()
        result["memory"] = out
        return result

    modes = {"sync": run_sync, "async": run_async}
    samples: dict[str, dict[str, list[float]]] = {
        mode: {"bare": [], "instrumented": []} for mode in modes
    }
    produced = {"bare_spans": 0, "spans": 0, "span_events": 0, "streams": 0}
    # Warm-up of both states: imports, pydantic schemas, instruments and caches built once.
    for mode_run in modes.values():
        mode_run()
        variant.on()
        mode_run()
        variant.off()
        telemetry.drain()
    for rnd in range(repeat):
        order = ("bare", "instrumented") if rnd % 2 == 0 else ("instrumented", "bare")
        for label in order:
            if label == "instrumented":
                variant.on()
            for mode, mode_run in modes.items():
                us, _ = timed(mode_run)
                samples[mode][label].append(us)
                spans, events = telemetry.drain()
                if label == "bare":
                    produced["bare_spans"] += spans
                else:
                    produced["spans"] += spans
                    produced["span_events"] += events
                    produced["streams"] += 1
            if label == "instrumented":
                variant.off()
    result["time"] = samples
    result["produced"] = produced
    result["leftovers"] = sorted(variant.leftovers)
    return result


# --- the driver ---------------------------------------------------------------------------------
def installed(dist: str) -> bool:
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False


def install(requirement: str, pre: bool) -> str | None:
    """Install ``requirement`` without changing any installed package (every one is pinned to
    its current version); the error text if it cannot be."""
    pins = sorted(
        {f"{d.metadata['Name']}=={d.version}" for d in md.distributions()
         if d.metadata["Name"] and d.metadata["Name"].lower() != "otel-responses"}
    )  # fmt: skip
    constraints = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".peer-constraints.txt")
    with open(constraints, "w") as fh:
        fh.write("\n".join(pins) + "\n")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-c", constraints, requirement]
    if pre:
        cmd.insert(4, "--pre")
    done = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(constraints)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return " / ".join(lines[-3:])[:400]
    return None


def ensure(peer: Peer, no_install: bool) -> str | None:
    """None when ``peer`` is there (installing it if need be), else why it is not."""
    if installed(peer.dist):
        return None
    if no_install:
        return f"{peer.dist} not installed"
    print(f"installing {peer.requirement}{' (--pre)' if peer.pre else ''} ...", flush=True)
    problem = install(peer.requirement, peer.pre)
    return f"cannot be installed here: {problem}" if problem else None


def in_subprocess(args: list[str]) -> dict[str, Any]:
    """Run this file as a worker with ``args``; its JSON result, or an ``error``."""
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])[:400]
        return {"error": f"run failed: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_variant(case: Case, name: str, args: argparse.Namespace) -> dict[str, Any]:
    base = ["--worker", name, "--dialect", case.dialect, "--repeat", str(args.repeat)]
    merged = in_subprocess([*base, "--what", "time", "--deltas", str(args.deltas)])
    if "error" in merged or args.no_memory:
        return {"dialect": case.dialect, "variant": name, **merged}
    mem = in_subprocess([*base, "--what", "memory", "--deltas", str(args.memory_deltas)])
    merged["memory"] = mem.get("memory", {"error": mem.get("error")})
    return merged


def _range(xs: list[float]) -> str:
    return f"{min(xs):.1f}-{max(xs):.1f}"


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} CPUs; {args.deltas} deltas per stream, one chunk per SSE frame; "
          f"{args.repeat} alternating rounds per variant")  # fmt: skip
    print("µs per event (per item the SDK yields): median [fastest-slowest]; +µs/ev = median of "
          "the per-round differences")  # fmt: skip
    for dialect in dict.fromkeys(r["dialect"] for r in results):
        rows = [r for r in results if r["dialect"] == dialect]
        sdk = next((r["sdk"] for r in rows if "sdk" in r), "")
        print(f"\n## {dialect} ({sdk})")
        head = (f"{'variant':<36}{'mode':<6}{'bare':>19}{'instrumented':>19}{'+µs/ev':>8}"
                f"{'ratio':>7}  spans/events per stream")  # fmt: skip
        print(head)
        print("-" * len(head))
        for r in rows:
            name = r["variant"] + (f" {r['version']}" if r.get("version") else "")
            if "error" in r:
                print(f"{name:<36}{r['error']}")
                continue
            p = r["produced"]
            made = (f"{p['spans'] / p['streams']:.0f} / {p['span_events'] / p['streams']:.0f}"
                    if p["spans"] else "NONE: does not cover this dialect")  # fmt: skip
            if p["bare_spans"]:
                made += f"; {p['bare_spans']} spans in bare rounds!"
            for mode in ("sync", "async"):
                bare, instr = r["time"][mode]["bare"], r["time"][mode]["instrumented"]
                b, i = statistics.median(bare), statistics.median(instr)
                diff = statistics.median(x - y for x, y in zip(instr, bare, strict=True))
                print(f"{name:<36}{mode:<6}{b:>7.1f} [{_range(bare):>9}]{i:>7.1f} "
                      f"[{_range(instr):>9}]{diff:>8.1f}{i / b:>7.3f}  {made}")  # fmt: skip
                name, made = "", ""
            if r.get("leftovers"):
                print(f"{'':<36}uninstrument() left {len(r['leftovers'])} SDK functions patched "
                      f"(restored by the harness), e.g. {r['leftovers'][0]}")  # fmt: skip
    if args.no_memory:
        return
    print(f"\nmemory around one {args.memory_deltas:,}-delta stream (sync), tracemalloc, KiB")
    head = (f"{'dialect':<20}{'variant':<36}{'bare peak':>10}{'instr peak':>11}"
            f"{'bare retained':>14}{'instr retained':>15}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in results:
        m = r.get("memory")
        if not m or "error" in m:
            continue
        b, i = m["bare"], m["instrumented"]
        print(f"{r['dialect']:<20}{r['variant']:<36}{b['peak_kib']:>10.0f}{i['peak_kib']:>11.0f}"
              f"{b['retained_kib']:>14.1f}{i['retained_kib']:>15.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--what", default="time", help=argparse.SUPPRESS)
    parser.add_argument("--dialect", action="append", choices=sorted(CASES),
                        help="dialect to measure (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--only", help="one variant: otel-responses or a peer name")
    parser.add_argument("--repeat", type=int, default=7, help="alternating rounds per variant")
    parser.add_argument("--deltas", type=int, default=N_DELTAS)
    parser.add_argument("--memory-deltas", type=int, default=N_MEMORY_DELTAS)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install peers")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    dialects = args.dialect or list(CASES)
    if args.worker:
        print(json.dumps(worker(dialects[0], args.worker, args.repeat, args.what, args.deltas)))
        return
    results: list[dict[str, Any]] = []
    for dialect in dialects:
        case = CASES[dialect]
        missing = next(filter(None, (ensure(p, args.no_install) for p in case.extra)), None)
        variants = [OURS, *(p.name for p in case.peers)]
        for name in [args.only] if args.only else variants:
            if name not in variants:
                continue
            peer = next((p for p in case.peers if p.name == name), None)
            problem = missing or (ensure(peer, args.no_install) if peer else None)
            if problem:
                results.append({"dialect": dialect, "variant": name, "error": problem})
                continue
            print(f"running {dialect} / {name} ...", flush=True)
            results.append(run_variant(case, name, args))
    print()
    report(results, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
