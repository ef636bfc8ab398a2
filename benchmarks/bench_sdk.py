"""What instrumentation costs the openai SDK per streamed event: otel-responses vs. its peers.

Run (from the repository root, in the project's virtualenv)::

    python benchmarks/bench_sdk.py

The SDK consumes a 2,000-delta Responses stream (one chunk per SSE event) through
``httpx.MockTransport``, sync and async. Each variant — otel-responses, the official
``opentelemetry-instrumentation-genai-openai`` (pre-release), OpenLLMetry's
``opentelemetry-instrumentation-openai`` and ``openinference-instrumentation-openai`` — runs in
its own subprocess, which times the bare SDK first and then the instrumented one, alternating
(``instrument()``/``uninstrument()`` between runs) so that drift in the machine's load falls on
both alike; every ratio compares runs of one process. Reported: µs per event (median of
``--repeat`` runs), the overhead per event and the ratio; then, in another subprocess per
variant, peak and retained memory (tracemalloc) around one 50,000-delta stream.

Peers are installed into the current environment when this command runs (never as test or
package dependencies), constrained to the versions of everything already installed
(openai, httpx, OpenTelemetry, ...) so that nothing the project uses is changed; a peer that
cannot be installed beside them is reported as such. ``--no-install`` skips installing;
``--only NAME`` runs one variant.
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
from typing import Any

N_DELTAS = 2_000
N_MEMORY_DELTAS = 50_000
PEERS = {
    "official-genai-openai": ("opentelemetry-instrumentation-genai-openai", True),
    "openllmetry": ("opentelemetry-instrumentation-openai", False),
    "openinference": ("openinference-instrumentation-openai", False),
}


# --- the stream -------------------------------------------------------------------------------
def stream_events(n_deltas: int) -> list[bytes]:
    """One chunk per SSE event of a completed text response with ``n_deltas`` deltas."""
    resp = {"id": "resp_b", "object": "response", "model": "gpt-4o-2024-08-06", "output": []}
    seq = iter(range(10**9))

    def ev(kind: str, **fields: Any) -> bytes:
        data = json.dumps({"type": kind, "sequence_number": next(seq), **fields})
        return f"event: {kind}\ndata: {data}\n\n".encode()

    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    out = [
        ev("response.created", response={**resp, "status": "in_progress"}),
        ev("response.in_progress", response={**resp, "status": "in_progress"}),
        ev("response.output_item.added", output_index=0, item={**item, "content": []}),
        ev("response.content_part.added", part=part, **where),
    ]
    out += [
        ev("response.output_text.delta", delta=" tok", logprobs=[], **where)
        for _ in range(n_deltas)
    ]
    usage = {"input_tokens": 12, "output_tokens": n_deltas, "total_tokens": 12 + n_deltas,
             "input_tokens_details": {"cached_tokens": 0},
             "output_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip
    done_item = {**item, "status": "completed", "content": [{**part, "text": "…"}]}
    out += [
        ev("response.output_text.done", text="…", logprobs=[], **where),
        ev("response.content_part.done", part={**part, "text": "…"}, **where),
        ev("response.output_item.done", output_index=0, item=done_item),
        ev("response.completed",
           response={**resp, "status": "completed", "output": [done_item], "usage": usage}),
    ]  # fmt: skip
    return out


HEADERS = {
    "content-type": "text/event-stream",
    "x-request-id": "req_b",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-remaining-tokens": "29000",
}


def clients(chunks: list[bytes]) -> tuple[Any, Any]:
    import httpx
    import openai

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers=HEADERS, content=iter(chunks))

    async def ahandler(request: Any) -> Any:
        async def body() -> Any:
            for chunk in chunks:
                yield chunk

        return httpx.Response(200, headers=HEADERS, content=body())

    kwargs: dict[str, Any] = {
        "api_key": "sk-bench",
        "base_url": "https://api.test/v1",
        "max_retries": 0,
    }
    sync = openai.OpenAI(http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)
    asyn = openai.AsyncOpenAI(
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(ahandler)), **kwargs
    )
    return sync, asyn


def consume_sync(client: Any) -> int:
    n = 0
    for _ in client.responses.create(model="gpt-4o", input="hi", stream=True):
        n += 1
    return n


async def consume_async(client: Any) -> int:
    n = 0
    stream = await client.responses.create(model="gpt-4o", input="hi", stream=True)
    async for _ in stream:
        n += 1
    return n


def timed(run: Any) -> float:
    """µs per event of one run."""
    gc.collect()
    start = time.perf_counter()
    events = run()
    return (time.perf_counter() - start) / events * 1e6


def memory(run: Any, flush: Any) -> tuple[float, float]:
    """Peak and retained KiB (tracemalloc) around one run of a 50,000-delta stream."""
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
    return peak / 1024, retained / 1024


# --- one variant, in its own process ---------------------------------------------------------
def worker(variant: str, repeat: int, what: str) -> dict[str, Any]:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")

    sync, asyn = clients(stream_events(N_DELTAS))
    big_sync, _ = clients(stream_events(N_MEMORY_DELTAS)) if what == "memory" else (None, None)
    loop = asyncio.new_event_loop()

    def run_sync() -> int:
        return consume_sync(sync)

    def run_async() -> int:
        return loop.run_until_complete(consume_async(asyn))

    def flush() -> None:
        reader.get_metrics_data()
        exporter.clear()

    def instrumentors() -> list[Any]:
        if variant == "otel-responses":
            from otel_responses import OpenAIResponsesInstrumentor

            return [OpenAIResponsesInstrumentor()]
        dist = PEERS[variant][0]
        found = [
            e.load()() for e in md.entry_points(group="opentelemetry_instrumentor")
            if e.dist is not None and e.dist.name.lower().replace("_", "-") == dist
        ]  # fmt: skip
        if not found:
            raise SystemExit(f"{dist}: no opentelemetry_instrumentor entry point")
        return found

    def measure(run: Any) -> dict[str, float]:
        if what == "memory":
            run()  # warm-up: first-use allocations are not "retained"
            flush()
            peak, retained = memory(run, flush)
            return {"peak_kib": peak, "retained_kib": retained}
        run()  # warm-up
        samples = []
        for _ in range(repeat):
            samples.append(timed(run))
            flush()
        return {"median": statistics.median(samples), "min": min(samples)}

    # The bare SDK first, before the instrumentation package is even imported; then the same
    # runs instrumented. (Not alternated: a peer's uninstrument() need not restore the SDK.)
    runs = (
        {"sync": lambda: consume_sync(big_sync)}
        if what == "memory"
        else {"sync": run_sync, "async": run_async}
    )
    result: dict[str, Any] = {"variant": variant}
    result["bare"] = {mode: measure(run) for mode, run in runs.items()}
    for instrumentor in instrumentors():
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    dist = "otel-responses" if variant == "otel-responses" else PEERS[variant][0]
    result["version"] = md.version(dist)
    result["instrumented"] = {mode: measure(run) for mode, run in runs.items()}
    return result


# --- the driver -------------------------------------------------------------------------------
def installed(dist: str) -> bool:
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False


def install(dist: str, pre: bool) -> str | None:
    """Install ``dist`` without changing any installed package (every one is pinned to its
    current version); the error text if it cannot be."""
    pins = sorted(
        {f"{d.metadata['Name']}=={d.version}" for d in md.distributions()
         if d.metadata["Name"] and d.metadata["Name"].lower() != "otel-responses"}
    )  # fmt: skip
    constraints = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".peer-constraints.txt")
    with open(constraints, "w") as fh:
        fh.write("\n".join(pins) + "\n")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-c", constraints, dist]
    if pre:
        cmd.insert(4, "--pre")
    done = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(constraints)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return " / ".join(lines[-3:])[:400]
    return None


def run_variant(variant: str, repeat: int) -> dict[str, Any]:
    """Timing and memory, each in a fresh subprocess that measures bare first."""
    merged: dict[str, Any] = {"variant": variant}
    for what in ("time", "memory"):
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--worker", variant,
             "--repeat", str(repeat), "--what", what],
            capture_output=True,
            text=True,
        )  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = " / ".join(done.stderr.strip().splitlines()[-3:])[:400]
            return {"variant": variant, "error": f"run failed: {tail}"}
        result = json.loads(lines[-1])
        merged[what] = {"bare": result["bare"], "instrumented": result["instrumented"]}
        merged["version"] = result.get("version")
    return merged


def report(results: list[dict[str, Any]]) -> None:
    print(f"openai {md.version('openai')}, opentelemetry-sdk {md.version('opentelemetry-sdk')}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"{N_DELTAS} deltas per stream ({N_DELTAS + 8} events), one chunk per event")  # fmt: skip
    print("µs per event: median of the timed runs (overhead also from the fastest runs)")
    head = f"{'variant':<34}{'mode':<7}{'bare':>7}{'instr':>8}{'+µs/ev':>8}{'ratio':>7}"
    head += f"{'+µs/ev (fastest)':>18}"
    print(head)
    print("-" * len(head))
    for r in results:
        name = r["variant"] + (f" {r['version']}" if r.get("version") else "")
        if "error" in r:
            print(f"{name:<34}{r['error']}")
            continue
        timing = r["time"]
        for mode in ("sync", "async"):
            bare, instr = timing["bare"][mode], timing["instrumented"][mode]
            b, i = bare["median"], instr["median"]
            print(f"{name:<34}{mode:<7}{b:>7.2f}{i:>8.2f}{i - b:>8.2f}{i / b:>7.3f}"
                  f"{instr['min'] - bare['min']:>18.2f}")  # fmt: skip
            name = ""
    print()
    print(f"memory around one {N_MEMORY_DELTAS:,}-delta stream (sync), tracemalloc, KiB")
    head = f"{'variant':<34}{'bare peak':>10}{'instr peak':>11}"
    head += f"{'bare retained':>14}{'instr retained':>15}"
    print(head)
    print("-" * len(head))
    for r in results:
        if "error" in r:
            continue
        b, i = r["memory"]["bare"]["sync"], r["memory"]["instrumented"]["sync"]
        print(f"{r['variant']:<34}{b['peak_kib']:>10.0f}{i['peak_kib']:>11.0f}"
              f"{b['retained_kib']:>14.1f}{i['retained_kib']:>15.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--what", default="time", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per mode")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install peers")
    parser.add_argument("--only", help="run one variant: otel-responses or a peer name")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat, args.what)))
        return
    variants = ["otel-responses", *PEERS]
    if args.only:
        variants = [args.only]
    results = []
    for variant in variants:
        if variant in PEERS:
            dist, pre = PEERS[variant]
            if not installed(dist):
                if args.no_install:
                    results.append({"variant": variant, "error": f"{dist} not installed"})
                    continue
                print(f"installing {dist}{' (--pre)' if pre else ''} ...", flush=True)
                problem = install(dist, pre)
                if problem:
                    results.append(
                        {"variant": variant, "error": f"cannot be installed here: {problem}"}
                    )
                    continue
        print(f"running {variant} ...", flush=True)
        results.append(run_variant(variant, args.repeat))
    print()
    report(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
