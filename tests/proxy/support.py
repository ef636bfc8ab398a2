"""A local upstream that replays recorded transcripts with realistic gaps, and a thread that runs
it and the real proxy on one asyncio loop, so synchronous clients (the SDKs, httpx, node, curl)
can drive them from the test thread.

The upstream is driven by request headers the proxy forwards untouched:

* ``x-fixture``: a file under ``tests/fixtures/`` (``.sse`` streamed frame by frame, ``.http.json``
  answered with its status, headers and body). Without it: a 404 JSON body.
* ``x-gap-ms``: pause between SSE frames (default 2 ms: a fast model's cadence).
* ``x-hold-after``: after this many frames, stop sending and wait (a model thinking), until the
  client goes away.
* ``x-cut-after``: after this many frames, drop the connection (an upstream failure mid-body).
* ``x-silent``: never answer (not even the status line).

A request with ``"stream": false`` for an ``.sse`` fixture gets the terminal event's
``response`` object as one JSON body (a non-streamed call). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from otel_responses.proxy import parse_upstream
from otel_responses.proxy._server import ProxySettings, serve

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "sk-proj-TESTSECRETdoNotLeak0123456789abcdef"


def frames(path: Path) -> list[bytes]:
    """The SSE body split after each blank line (frame boundaries), bytes kept exactly."""
    data = path.read_bytes()
    out: list[bytes] = []
    start = 0
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in data:
            break
    while True:
        end = data.find(sep, start)
        if end < 0:
            if start < len(data):
                out.append(data[start:])
            return out
        out.append(data[start : end + len(sep)])
        start = end + len(sep)


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    received_ns: int = 0
    """``time.time_ns()`` when the request reached the upstream."""


@dataclass
class FakeUpstream:
    """The recorded-transcript upstream (an aiohttp server)."""

    seen: list[Seen] = field(default_factory=list)
    disconnected: int = 0
    held: asyncio.Event | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received_ns = time.time_ns()
        body = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.rel_url.raw_path,
                request.rel_url.raw_query_string,
                list(request.headers.items()),
                body,
                received_ns,
            )
        )
        if request.headers.get("x-silent"):
            await asyncio.sleep(3600)  # accepts the request, never answers
        name = request.headers.get("x-fixture")
        if not name:
            return web.json_response({"error": {"message": "no such route"}}, status=404)
        path = FIXTURES / name
        if name.endswith(".http.json"):
            recorded = json.loads(path.read_text())
            headers: list[tuple[str, str]] = []
            for k, v in recorded["headers"].items():
                if k.lower() in ("transfer-encoding", "content-length", "content-encoding"):
                    continue
                headers += [(k, item) for item in (v if isinstance(v, list) else [v])]
            return web.Response(
                status=recorded["status"],
                headers=CIMultiDict(headers),
                body=recorded["body"].encode(),
            )
        parts = frames(path)
        try:
            stream = json.loads(body).get("stream", True) if body else True
        except ValueError:
            stream = True
        if stream is False:
            return web.json_response(_final_response(parts))
        gap = float(request.headers.get("x-gap-ms", "2")) / 1000
        hold = int(request.headers.get("x-hold-after", "-1"))
        cut = int(request.headers.get("x-cut-after", "-1"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "x-request-id": "req_fake"}
        )
        await response.prepare(request)
        try:
            for i, frame in enumerate(parts):
                if i == cut:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if i == hold:
                    if self.held is not None:
                        self.held.set()
                    await asyncio.sleep(3600)
                await response.write(frame)
                await asyncio.sleep(gap)
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionError):
            self.disconnected += 1
            raise
        return response


def _final_response(parts: list[bytes]) -> dict[str, Any]:
    for frame in reversed(parts):
        for line in frame.splitlines():
            if line.startswith(b"data:"):
                payload = json.loads(line[5:])
                if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
                    result: dict[str, Any] = payload["response"]
                    return result
    return {}


def wait_spans(telemetry: Any, count: int, timeout: float = 10.0) -> tuple[Any, ...]:
    """The finished spans once there are ``count`` of them (bounded wait: a client may hold the
    whole body a moment before the proxy, still reading the upstream's end, ends the span)."""
    deadline = time.monotonic() + timeout
    while len(telemetry.finished()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    spans: tuple[Any, ...] = telemetry.finished()
    return spans


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Loop:
    """An asyncio loop on a thread: the fake upstream and the proxy run there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], Any]) -> Any:
        async def wrapper() -> Any:
            return fn()

        return self.run(wrapper())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class FakeServer:
    """The fake upstream alone on a :class:`Loop` (for a proxy running as a subprocess)."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.fake = FakeUpstream()
        self.runner = web.AppRunner(
            self.fake.app(), access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        self.port: int = loop.run(self._start())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        port: int = server.sockets[0].getsockname()[1]
        return port

    def close(self) -> None:
        self.loop.run(self.runner.cleanup())


class Stack:
    """Fake upstream + real proxy on loopback, both on a :class:`Loop`."""

    def __init__(
        self,
        loop: Loop,
        *,
        upstream_specs: list[str] | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        **settings: Any,
    ) -> None:
        self.loop = loop
        self.fake = FakeUpstream()
        self._runner: web.AppRunner | None = None
        self.upstream_port = loop.run(self._start_upstream())
        self.upstream = f"http://127.0.0.1:{self.upstream_port}"
        specs = upstream_specs or ["{up}"]
        self.settings = ProxySettings(
            upstreams=tuple(parse_upstream(s.format(up=self.upstream)) for s in specs),
            **settings,
        )
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.stop: asyncio.Event = loop.call(asyncio.Event)
        self._ready: asyncio.Future[int] = loop.call(loop.loop.create_future)
        self._served = asyncio.run_coroutine_threadsafe(self._serve(), loop.loop)
        self.port = loop.run(self._wait_ready())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start_upstream(self) -> int:
        self._runner = web.AppRunner(
            self.fake.app(), access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _serve(self) -> Any:
        def ready(port: int) -> None:
            self._ready.set_result(port)

        return await serve(
            self.settings,
            "127.0.0.1",
            0,
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            stop=self.stop,
            ready=ready,
        )

    async def _wait_ready(self) -> int:
        return await asyncio.wait_for(asyncio.shield(self._ready), 10)

    def close(self) -> None:
        self.loop.loop.call_soon_threadsafe(self.stop.set)
        self._served.result(30)
        if self._runner is not None:
            self.loop.run(self._runner.cleanup())
