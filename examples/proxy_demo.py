"""Traffic through ``otel-responses proxy``: a stand-in LLM provider and a client that is not
instrumented at all.

The ``proxy-demo`` service of docker-compose.yml runs this. It does two things in one process:

* **the upstream** (``PROXY_DEMO_LISTEN``, default ``0.0.0.0:8080``): an HTTP server that answers
  each call with one of the transcripts in ``examples/`` — ``.sse`` files streamed frame by
  frame with network-like pauses (a first-chunk wait, then 20-60 ms between frames), and
  ``.http.json`` files answered as the HTTP errors they recorded;
* **the client** (``PROXY_DEMO_WORKERS`` loops, default 2): plain HTTP requests, no OpenTelemetry,
  no SDK, to ``OTEL_RESPONSES_PROXY_URL`` (default ``http://proxy:8787``) + the path of the
  transcript's API (``/v1/responses``, ``/v1/chat/completions``, ``/v1/messages``,
  ``/v1beta/models/…:streamGenerateContent``), exactly what an app in any language does once its
  base URL points at the proxy. About one call in ten hangs up mid-stream, so the dashboards also
  show ``cancelled`` streams.

All telemetry comes from the proxy, which forwards these requests to the upstream here
(``--upstream http://proxy-demo:8080``) and exports over OTLP. Needs aiohttp (the ``proxy``
extra). ``PROXY_DEMO_DURATION_S`` (0 = forever) bounds a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from multidict import CIMultiDict

from otel_responses.dialects import detect

PATHS = {
    "responses": "/v1/responses",
    "chat_completions": "/v1/chat/completions",
    "anthropic_messages": "/v1/messages",
    "gemini": "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
}
"""Where an app would send a call of each API (the proxy picks the dialect by the path)."""

HERE = Path(__file__).resolve().parent


def _frames(data: bytes) -> list[bytes]:
    sep = b"\r\n\r\n" if b"\r\n\r\n" in data else b"\n\n"
    parts = data.split(sep)
    out = [part + sep for part in parts[:-1]]
    if parts[-1].strip():
        out.append(parts[-1])
    return out


def _load(folder: Path) -> dict[str, Any]:
    """name -> list of SSE frames, or the recorded ``{"status", "headers", "body"}``."""
    out: dict[str, Any] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".sse":
            out[path.name] = _frames(path.read_bytes())
        elif path.name.endswith(".http.json"):
            out[path.name] = json.loads(path.read_text())
    return out


def _path_of(recorded: Any) -> str:
    """The API path of a transcript, from its first frame (or its error body)."""
    if isinstance(recorded, dict):
        event, data = "", str(recorded.get("body", "")).encode()
    else:
        lines = recorded[0].decode("utf-8", "replace").splitlines() if recorded else []
        event = next((ln[6:].strip() for ln in lines if ln.startswith("event:")), "")
        data = "\n".join(ln[5:].lstrip() for ln in lines if ln.startswith("data:")).encode()
    dialect = detect(event, data)
    return PATHS[dialect.name if dialect is not None else "responses"]


class Upstream:
    """The stand-in provider: one transcript per request (the ``x-demo-transcript`` header's,
    else the next in turn)."""

    def __init__(self, transcripts: dict[str, Any]) -> None:
        self.transcripts = transcripts
        self.names = sorted(transcripts)
        self.turn = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        name = request.headers.get("x-demo-transcript")
        if name not in self.transcripts:
            name = self.names[self.turn % len(self.names)]
            self.turn += 1
        recorded = self.transcripts[name]
        if isinstance(recorded, dict):
            headers: list[tuple[str, str]] = []
            for k, v in recorded["headers"].items():
                if k.lower() in ("transfer-encoding", "content-length", "content-encoding"):
                    continue
                headers += [(k, item) for item in (v if isinstance(v, list) else [v])]
            return web.Response(
                status=recorded["status"], headers=CIMultiDict(headers), body=recorded["body"]
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "x-request-id": f"req_demo_{random.getrandbits(48):012x}",
                "x-ratelimit-limit-tokens": "30000",
                "x-ratelimit-remaining-tokens": str(random.randint(2000, 29000)),
            }
        )
        await asyncio.sleep(random.uniform(0.2, 0.8))  # time to first chunk
        await response.prepare(request)
        try:
            for frame in recorded:
                await response.write(frame)
                await asyncio.sleep(random.uniform(0.02, 0.06))
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the proxy closed the call: its client hung up
        return response


async def _client(base: str, paths: dict[str, str], stop: asyncio.Event) -> None:
    """One plain-HTTP caller: a request, the whole stream (or a hang-up), a pause, again."""
    body = json.dumps({"model": "gpt-4o", "input": "Tell me about the weather.", "stream": True})
    names = sorted(paths)
    async with ClientSession(timeout=ClientTimeout(total=120)) as session:
        while not stop.is_set():
            name = random.choice(names)
            try:
                async with session.post(
                    base + paths[name],
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": "Bearer demo",
                        "x-demo-transcript": name,
                    },
                ) as response:
                    hang_up = random.random() < 0.1
                    received = 0
                    async for chunk in response.content.iter_any():
                        received += len(chunk)
                        if hang_up and received > 200:
                            break  # leaving the block closes the connection mid-stream
            except Exception as exc:  # the proxy not up yet, or restarting
                print(f"proxy-demo: {type(exc).__name__}, retrying", file=sys.stderr)
                await asyncio.sleep(2)
            await asyncio.sleep(random.uniform(0.5, 2.0))


async def main() -> None:
    host, _, port = os.environ.get("PROXY_DEMO_LISTEN", "0.0.0.0:8080").rpartition(":")
    proxy_url = os.environ.get("OTEL_RESPONSES_PROXY_URL", "http://proxy:8787").rstrip("/")
    workers = int(os.environ.get("PROXY_DEMO_WORKERS", "2"))
    duration = float(os.environ.get("PROXY_DEMO_DURATION_S", "0"))
    transcripts = _load(Path(os.environ.get("DEMO_EXAMPLES", HERE)))
    paths = {name: _path_of(recorded) for name, recorded in transcripts.items()}
    upstream = Upstream(transcripts)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    print(f"proxy-demo: upstream on {host}:{port}, {workers} client(s) -> {proxy_url}")
    stop = asyncio.Event()
    if duration > 0:
        asyncio.get_running_loop().call_later(duration, stop.set)
    try:
        await asyncio.gather(*(_client(proxy_url, paths, stop) for _ in range(workers)))
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
