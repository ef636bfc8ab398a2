"""What ``otel-responses proxy`` adds to a streamed call, measured on loopback.

    python benchmarks/bench_proxy.py                 # the proxy (aiohttp), traced
    python benchmarks/bench_proxy.py --stacks        # + bare aiohttp vs uvicorn+starlette+httpx
    python benchmarks/bench_proxy.py --json out.json
    python benchmarks/bench_proxy.py --loop asyncio  # the proxy on asyncio's own loop
    python benchmarks/bench_proxy.py --levels 100 --latency-only   # the targets' figures only

Three processes: a synthetic upstream (aiohttp) that streams Responses events at a fixed gap,
each frame stamped with its send time (``time.monotonic_ns``, one clock for every process); the
proxy under test; and this client (aiohttp), which keeps N streams open, straight to the
upstream or through the proxy. Per concurrency level (1, 100, 1,000): one warm-up wave on each
path (so the proxy's upstream pool holds the connections the level needs, as in steady state),
then ``--repeat`` (3) pairs of waves, direct and proxied, in alternating order (direct first,
then proxied first, ...), samples pooled per path. Each wave opens a new client session: a
slot's first stream opens a connection, its next ones reuse it (keep-alive), alike on both
paths. Reported:

* added time to first byte: median and p99 through the proxy minus the same statistic direct,
  over ``repeat * N * rounds`` streams a path (600 at 100 concurrent), and the added median of
  each pair (the spread);
* per-chunk latency: arrival minus the frame's send stamp, median and p99, direct and proxied;
* errors (non-200, broken bodies, frames missing);
* proxy CPU per stream (its user+system time over the run / streams).

Then memory per open stream (the proxy's RSS with 100 and 1,000 streams held open mid-body,
minus its RSS idle, per stream) and the streams/s one worker sustains (64 clients in a closed
loop on 20-event streams sent without gaps, for a few seconds).

The traced variant has an SDK TracerProvider (BatchSpanProcessor to an exporter that drops) and
MeterProvider, so the hook does its real work. It runs on the loop the ``otel-responses proxy``
command picks (uvloop when installed, as the ``proxy`` extra does), or with ``--loop asyncio`` on
asyncio's own. ``--stacks`` runs the same latency measurement at
100 concurrent through two bare pass-through proxies — this proxy on a path it does not trace
(aiohttp server + client) and a minimal uvicorn + starlette + httpx one — which is how the HTTP
stack was chosen. Not a test: a 2-core machine shared by the three processes; figures move
between runs.

Methodology changed (after the figures of docs/proxy.md before it): each level was one direct
wave then one proxied wave, 200 streams each, so a p99 was the second-slowest stream of one
wave, any drift in the machine's other work fell on one path only, the proxied wave began with
an upstream pool warmed for 10 streams, not 100 (up to 90 of its 200 streams paid a connect to
the upstream a proxy in steady state does not), and the docstring claimed a new connection per
call where the client reused them. Now: alternated pairs, pooled samples, warm-up at the level.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 40
LOOP_ENV = "BENCH_PROXY_LOOP"
GAP_MS = 100.0


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- upstream -------------------------------------------------------------------------------
def _frame(event_type: str, seq: int, extra: str = "") -> bytes:
    stamp = time.monotonic_ns()
    data = f'{{"type":"{event_type}","sequence_number":{seq},"t":{stamp}{extra}}}'
    return f"event: {event_type}\ndata: {data}\n\n".encode()


def _completed(seq: int) -> bytes:
    usage = f'"usage":{{"input_tokens":5,"output_tokens":{FRAMES},"total_tokens":{FRAMES + 5}}}'
    return _frame(
        "response.completed", seq, f',"response":{{"id":"resp_b","status":"completed",{usage}}}'
    )


def run_upstream(port: int) -> None:
    from aiohttp import web

    async def stream(request: web.Request) -> web.StreamResponse:
        gap = float(request.query.get("gap_ms", GAP_MS)) / 1000
        frames = int(request.query.get("frames", FRAMES))
        hold = int(request.query.get("hold", "-1"))
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(
            _frame("response.created", 0, ',"response":{"id":"resp_b","status":"in_progress"}')
        )
        for i in range(frames):
            if i == hold:
                await response.write(b": held\n\n")  # tells the client the hold began
                await asyncio.sleep(3600)
            if gap:
                await asyncio.sleep(gap)
            await response.write(_frame("response.output_text.delta", i + 1, ',"delta":"tok"'))
        await response.write(_completed(frames + 1))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stream)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


# --- proxies under test ---------------------------------------------------------------------
def run_proxy(port: int, upstream: str, admin_port: int = 0) -> None:
    """This project's proxy, with SDK providers so the hook records for real. With an admin
    port: Python's allocations are traced (tracemalloc) and ``GET /mem`` on that port reports
    them (a separate run: tracing slows the process down)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from otel_responses.proxy import parse_upstream
    from otel_responses.proxy._server import ProxySettings, serve

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    settings = ProxySettings(upstreams=(parse_upstream(upstream),), max_upstream_connections=0)

    from otel_responses.proxy._command import _run, freeze_startup

    async def main() -> None:
        if admin_port:
            await _admin(admin_port)
        await serve(
            settings,
            "127.0.0.1",
            port,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            stop=asyncio.Event(),
            ready=freeze_startup,  # as the command's worker does
        )

    if os.environ.get(LOOP_ENV) == "asyncio":
        asyncio.run(main())
    else:
        _run(main())


async def _admin(port: int) -> None:
    import gc
    import tracemalloc

    from aiohttp import web

    tracemalloc.start()

    async def mem(request: web.Request) -> web.Response:
        gc.collect()
        current, _peak = tracemalloc.get_traced_memory()
        return web.json_response({"traced_bytes": current, "rss_kib": _rss_kib(os.getpid())})

    app = web.Application()
    app.router.add_get("/mem", mem)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()


def run_starlette(port: int, upstream: str) -> None:
    """A minimal pass-through proxy on uvicorn + starlette + httpx, for the stack comparison."""
    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    client = httpx.AsyncClient(
        base_url=upstream,
        timeout=None,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=4096),
    )

    async def forward(request: Request) -> StreamingResponse:
        headers = [(k, v) for k, v in request.headers.items() if k not in ("host", "connection")]
        upstream_request = client.build_request(
            request.method,
            request.url.path + ("?" + request.url.query if request.url.query else ""),
            headers=headers,
            content=await request.body(),
        )
        response = await client.send(upstream_request, stream=True)
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers={"content-type": response.headers.get("content-type", "")},
            background=BackgroundTask(response.aclose),
        )

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, backlog=4096
    )


# --- client ---------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _one(session: Any, url: str, ttfb: list[float], lat: list[float]) -> bool:
    body = b'{"model":"gpt-b","input":"hi","stream":true}'
    started = time.monotonic_ns()
    first = True
    frames = 0
    pending = b""
    try:
        async with session.post(
            url, data=body, headers={"content-type": "application/json"}
        ) as response:
            if response.status != 200:
                return False
            async for chunk in response.content.iter_any():
                now = time.monotonic_ns()
                if first:
                    ttfb.append((now - started) / 1e6)
                    first = False
                pending += chunk
                while b"\n\n" in pending:
                    frame, pending = pending.split(b"\n\n", 1)
                    at = frame.find(b'"t":')
                    if at >= 0:
                        end = at + 4
                        while frame[end : end + 1].isdigit():
                            end += 1
                        lat.append((now - int(frame[at + 4 : end])) / 1e6)
                        frames += 1
    except Exception:
        return False
    return frames == FRAMES + 2


async def _wave(base: str, path: str, n: int, rounds: int) -> dict[str, Any]:
    """``n`` concurrent streams in steady state: ``n`` slots each run ``rounds`` streams back
    to back, their starts spread evenly over one stream's duration (a burst of ``n`` requests
    in the same millisecond would measure the accept queue, not a proxy carrying ``n``
    streams). Each wave has its own client session: a slot's first stream opens a connection,
    its next ones reuse it (keep-alive, as an SDK's pool does)."""
    import aiohttp

    ttfb: list[float] = []
    lat: list[float] = []
    results: list[bool] = []
    duration = FRAMES * GAP_MS / 1000

    async def slot(session: Any, offset: float) -> None:
        await asyncio.sleep(offset)
        for _ in range(rounds):
            results.append(await _one(session, base + path, ttfb, lat))

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(slot(session, duration * i / n) for i in range(n)))
    return {"streams": len(results), "errors": results.count(False), "ttfb": ttfb, "lat": lat}


def _stats(waves: list[dict[str, Any]]) -> dict[str, Any]:
    ttfb = [x for w in waves for x in w["ttfb"]]
    lat = [x for w in waves for x in w["lat"]]
    return {
        "streams": sum(w["streams"] for w in waves),
        "errors": sum(w["errors"] for w in waves),
        "ttfb_ms": {"median": statistics.median(ttfb) if ttfb else None, "p99": _pct(ttfb, 0.99)},
        "chunk_ms": {"median": statistics.median(lat) if lat else None, "p99": _pct(lat, 0.99)},
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _spawn(role: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, f"_{role}", str(port), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{role} did not start")


async def _latency(
    direct: str, proxied: str, path: str, pid: int, levels: list[int], rounds: int, repeat: int
) -> list[Any]:
    """Per level: one warm-up wave on each path (the proxy's upstream pool then holds the
    connections the level needs, as a proxy in steady state does), then ``repeat`` pairs of
    waves, direct and proxied, in alternating order (direct first, then proxied first, ...), so
    drift in the machine's other work falls on both paths alike. Time to first byte and chunk
    latency are pooled over the pairs (``repeat * n * rounds`` streams a path: 600 at 100
    concurrent by default, enough for a p99 that is not one stream's luck); the added median
    of each pair is reported too, as the spread."""
    rows = []
    for n in levels:
        await _wave(direct, path, n, 1)  # warm-up: imports, pools at this level's width
        await _wave(proxied, path, n, 1)
        direct_waves: list[dict[str, Any]] = []
        proxied_waves: list[dict[str, Any]] = []
        cpu = 0.0
        for i in range(repeat):
            for which in ("direct", "proxied") if i % 2 == 0 else ("proxied", "direct"):
                if which == "direct":
                    direct_waves.append(await _wave(direct, path, n, rounds))
                else:
                    cpu0 = _cpu_seconds(pid)
                    proxied_waves.append(await _wave(proxied, path, n, rounds))
                    cpu += _cpu_seconds(pid) - cpu0
        d, p = _stats(direct_waves), _stats(proxied_waves)
        pairs = [
            statistics.median(pw["ttfb"]) - statistics.median(dw["ttfb"])
            for dw, pw in zip(direct_waves, proxied_waves, strict=True)
        ]
        rows.append(
            {
                "concurrency": n,
                "pairs": repeat,
                "direct": d,
                "proxied": p,
                "added_ttfb_ms": {k: p["ttfb_ms"][k] - d["ttfb_ms"][k] for k in ("median", "p99")},
                "added_ttfb_median_ms_per_pair": pairs,
                "proxy_cpu_ms_per_stream": cpu * 1000 / p["streams"],
                "load": os.getloadavg(),
            }
        )
        print(_row(rows[-1]), flush=True)
    return rows


def _sequential_ttfb(direct_port: int, proxy_port: int, path: str, calls: int = 30) -> Any:
    """Time to first byte of ``calls`` calls one after the other, each on a new connection from a
    raw socket (the least client overhead there is): median direct, median proxied."""

    def one(port: int) -> float:
        body = b'{"model":"gpt-b","input":"hi","stream":true}'
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = (
                f"POST {path}?gap_ms=0&frames=2 HTTP/1.1\r\nHost: bench\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            started = time.perf_counter()
            sock.sendall(head.encode() + body)
            sock.recv(65536)
            elapsed = (time.perf_counter() - started) * 1000
            while sock.recv(65536):
                pass
        return elapsed

    one(direct_port), one(proxy_port)  # warm-up
    direct = statistics.median(one(direct_port) for _ in range(calls))
    proxied = statistics.median(one(proxy_port) for _ in range(calls))
    print(
        f"  {path}: {calls} calls in turn, new connection each: first byte direct {direct:.2f} ms,"
        f" proxied {proxied:.2f} ms (median): added {proxied - direct:+.2f} ms"
    )
    return {"path": path, "direct_ms": direct, "proxied_ms": proxied, "added_ms": proxied - direct}


def _row(r: dict[str, Any]) -> str:
    d, p = r["direct"], r["proxied"]
    pairs = ", ".join(f"{x:+.2f}" for x in r["added_ttfb_median_ms_per_pair"])
    return (
        f"  N={r['concurrency']:>5}  added TTFB median {r['added_ttfb_ms']['median']:+.2f} ms, "
        f"p99 {r['added_ttfb_ms']['p99']:+.2f} ms ({d['streams']}+{p['streams']} streams, "
        f"{r['pairs']} alternated pairs; median per pair {pairs}) | TTFB direct "
        f"{d['ttfb_ms']['median']:.2f}/{d['ttfb_ms']['p99']:.2f} ms | chunk latency direct "
        f"{d['chunk_ms']['median']:.2f}/{d['chunk_ms']['p99']:.2f} ms, proxied "
        f"{p['chunk_ms']['median']:.2f}/{p['chunk_ms']['p99']:.2f} ms (median/p99) | "
        f"errors {d['errors']}+{p['errors']} | "
        f"proxy CPU {r['proxy_cpu_ms_per_stream']:.2f} ms/stream | load "
        "{:.2f} {:.2f} {:.2f}".format(*r["load"])
    )


async def _hold(proxied: str, n: int, after: int) -> tuple[list[Any], Any]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    # 1 ms apart: the events arrive as separate chunks, as a model's do (sent back to back
    # they would coalesce into one read)
    url = proxied + f"/v1/responses?gap_ms=1&frames={after + 1}&hold={after}"
    responses = await asyncio.gather(*(session.post(url, data=b"{}") for _ in range(n)))

    async def until_held(response: Any) -> None:
        seen = b""
        while b": held" not in seen:
            seen = seen[-8:] + await response.content.readany()

    await asyncio.gather(*(until_held(r) for r in responses))
    return responses, session


async def _memory(proxied: str, admin: str) -> list[Any]:
    """Python heap (tracemalloc) and RSS of a proxy holding streams open mid-body: 500 then
    1,000 of them held after 1 event, and 200 then 400 held after 200 events (a per-stream cost
    that grew with the stream's length, or with the number of streams, would show)."""
    import aiohttp

    async def mem() -> dict[str, int]:
        async with aiohttp.ClientSession() as session, session.get(admin + "/mem") as r:
            result: dict[str, int] = await r.json()
            return result

    rows = []
    for after, n in ((1, 500), (200, 200)):
        idle = await mem()
        first, s1 = await _hold(proxied, n, after)
        at500 = await mem()
        second, s2 = await _hold(proxied, n, after)
        at1000 = await mem()
        for r in first + second:
            r.close()
        await s1.close()
        await s2.close()
        await asyncio.sleep(1.0)
        row = {
            "events_before_hold": after,
            "idle": idle,
            "streams": [n, 2 * n],
            "open_n": at500,
            "open_2n": at1000,
            "kib_per_stream_first_n": (at500["traced_bytes"] - idle["traced_bytes"]) / n / 1024,
            "kib_per_stream_next_n": (at1000["traced_bytes"] - at500["traced_bytes"]) / n / 1024,
        }
        rows.append(row)
        print(
            f"  held after {after:>4} events: Python heap "
            f"{row['kib_per_stream_first_n']:.1f} KiB/stream (first {n}), "
            f"{row['kib_per_stream_next_n']:.1f} KiB/stream (next {n}); RSS "
            f"{idle['rss_kib']} -> {at500['rss_kib']} -> {at1000['rss_kib']} KiB"
        )
    return rows


async def _throughput(proxied: str, seconds: float, clients: int) -> float:
    import aiohttp

    done = 0
    deadline = time.monotonic() + seconds

    async def loop(session: Any) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            ok = await _one(session, proxied + "/v1/responses?gap_ms=0", [], [])
            done += ok

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.monotonic()
        await asyncio.gather(*(loop(session) for _ in range(clients)))
        elapsed = time.monotonic() - started
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,100,1000")
    parser.add_argument("--stacks", action="store_true", help="also compare bare HTTP stacks")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length")
    parser.add_argument("--rounds", type=int, default=2, help="streams each slot runs in turn")
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="alternated pairs of waves (direct, proxied) per level, samples pooled",
    )  # fmt: skip
    parser.add_argument(
        "--latency-only", action="store_true",
        help="only the time to first byte and chunk latency (no throughput, no memory)",
    )  # fmt: skip
    parser.add_argument(
        "--loop", choices=("command", "asyncio"), default="command",
        help="the proxy's event loop: the command's choice (uvloop if installed) or asyncio's",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ[LOOP_ENV] = args.loop
    _raise_nofile()
    levels = [int(x) for x in args.levels.split(",")]
    up_port, proxy_port = _free_port(), _free_port()
    upstream = _spawn("upstream", up_port)
    direct = f"http://127.0.0.1:{up_port}"
    proxied = f"http://127.0.0.1:{proxy_port}"
    report: dict[str, Any] = {
        "frames": FRAMES,
        "gap_ms": GAP_MS,
        "loop": args.loop,
        "load_before": os.getloadavg(),
    }
    print(f"proxy loop: {args.loop}")
    print("load average before: {:.2f} {:.2f} {:.2f} (2 cores)".format(*os.getloadavg()))
    proxy = _spawn("proxy", proxy_port, direct)
    try:
        print("added time to first byte, one call at a time:")
        report["sequential"] = [
            _sequential_ttfb(up_port, proxy_port, path) for path in ("/v1/responses", "/bench/x")
        ]
        print(f"proxy (aiohttp), traced: {FRAMES + 2} events a stream, {GAP_MS:.0f} ms apart")
        report["traced"] = asyncio.run(
            _latency(direct, proxied, "/v1/responses", proxy.pid, levels, args.rounds, args.repeat)
        )
        if not args.latency_only:
            rate = asyncio.run(_throughput(proxied, args.seconds, 64))
            report["streams_per_second"] = rate
            print(f"one worker sustains {rate:.0f} streams/s ({FRAMES + 2}-event streams)")
        if args.stacks and not args.latency_only:
            print("bare pass-through (same proxy, untraced path):")
            report["bare_aiohttp"] = asyncio.run(
                _latency(
                    direct, proxied, "/bench/stream", proxy.pid, [100], args.rounds, args.repeat
                )
            )
    finally:
        proxy.kill()
        proxy.wait(30)
    if not args.latency_only:
        mem_port, admin_port = _free_port(), _free_port()
        mem_proxy = _spawn("proxy", mem_port, direct, str(admin_port))
        try:
            print("memory per open stream (traced; a fresh proxy with tracemalloc on):")
            report["memory"] = asyncio.run(
                _memory(f"http://127.0.0.1:{mem_port}", f"http://127.0.0.1:{admin_port}")
            )
        finally:
            mem_proxy.kill()
            mem_proxy.wait(30)
    if args.stacks and not args.latency_only:
        port = _free_port()
        other = _spawn("starlette", port, direct)
        try:
            print("bare pass-through, uvicorn + starlette + httpx:")
            report["bare_starlette"] = asyncio.run(
                _latency(
                    direct,
                    f"http://127.0.0.1:{port}",
                    "/bench/stream",
                    other.pid,
                    [100],
                    args.rounds,
                    args.repeat,
                )
            )
        finally:
            other.kill()
            other.wait(30)
    upstream.kill()  # it may still hold streams open: no graceful wait
    upstream.wait(30)
    report["load_after"] = os.getloadavg()
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    _raise_nofile()
    if len(sys.argv) > 1 and sys.argv[1] == "_upstream":
        run_upstream(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_proxy":
        run_proxy(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    elif len(sys.argv) > 1 and sys.argv[1] == "_starlette":
        run_starlette(int(sys.argv[2]), sys.argv[3])
    else:
        main()
