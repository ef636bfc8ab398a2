"""The reverse proxy itself: aiohttp server in front, aiohttp client behind.

Each request is forwarded unchanged to the upstream its path routes to (hop-by-hop headers
dropped, ``Host`` rewritten to the upstream's), and each response is written back chunk by chunk
as it arrives: one ``readany()`` from the upstream, one ``write()`` to the client, so nothing is
held back or re-chunked. A request of a known LLM dialect is observed by a
:class:`~otel_responses.ResponseStreamHook` on the side (the bytes go out first, then the hook
sees them); other paths are forwarded and not traced.

aiohttp is imported by this module only; ``import otel_responses`` never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from opentelemetry import context, metrics, trace
from opentelemetry.propagate import extract
from yarl import URL

from .._hook import ResponseStreamHook
from ..dialects import Dialect, for_request
from ._config import Router, Upstream
from ._dialects import dialect_of

log = logging.getLogger("otel_responses.proxy")

# RFC 9110 §7.6.1 (plus the legacy Keep-Alive / Proxy-Connection it names), and the framing
# headers the two HTTP stacks set themselves from the bytes they actually send.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
_REQUEST_DROP = HOP_BY_HOP | {"host", "content-length", "expect"}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}
# Headers aiohttp's client adds when the caller did not send them: skipped, so the upstream sees
# exactly the caller's headers.
_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
MODEL_PARSE_BOUND = 1 << 20
"""Request bodies up to this size are parsed for ``model``/``stream`` (larger: not parsed, so a
big upload never stalls the event loop)."""
ERROR_BODY_BOUND = 64 << 10
"""Bytes of an HTTP error body kept for the hook (the client gets all of it)."""
FINAL_BODY_BOUND = 8 << 20
"""Bytes of a non-streamed JSON response kept for ``on_final_response``."""
UPSTREAM_ATTRIBUTE = "otel_responses.proxy.upstream"


@dataclass(frozen=True)
class ProxySettings:
    """What the proxy forwards where, and its bounds (see ``otel-responses proxy --help``)."""

    upstreams: Sequence[Upstream]
    max_body_bytes: int = 32 << 20
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    drain_timeout: float = 30.0
    max_upstream_connections: int = 0


def new_hook(
    *,
    dialect: Dialect,
    model: str | None,
    stream: bool,
    upstream: Upstream,
    headers: Mapping[str, str],
    tracer_provider: trace.TracerProvider | None,
    meter_provider: metrics.MeterProvider | None,
    start_time: int,
) -> ResponseStreamHook:
    """The hook of one proxied call, its span a child of the caller's ``traceparent``.

    The hook starts its span from the current context, so the caller's context is attached just
    around its creation and detached right after (the proxy's own context stays clean).
    """
    token = context.attach(extract(headers))
    try:
        return ResponseStreamHook(
            dialect=dialect,
            attributes={UPSTREAM_ATTRIBUTE: upstream.name},
            model=model,
            server_address=upstream.host,
            server_port=upstream.port,
            stream=stream,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            start_time=start_time,
        )
    finally:
        context.detach(token)


def _drop(sending: asyncio.Future[aiohttp.ClientResponse]) -> None:
    """The upstream call of a request that failed on the proxy's side: cancelled if it is
    still on its way, its answer closed if it came (an exception it ended with is retrieved, so
    asyncio does not log it as never seen)."""
    if sending.cancel() or sending.cancelled():
        return
    if sending.exception() is None:
        sending.result().close()


def _connection_tokens(headers: Any) -> set[str]:
    """Header names a ``Connection`` header lists: hop-by-hop for this message too."""
    return {
        token.strip().lower()
        for value in headers.getall("Connection", ())
        for token in value.split(",")
        if token.strip()
    }


def _json_body(content_type: str, body: bytes) -> Any:
    """The request body parsed as JSON when it is JSON and within the parse bound, else
    ``None`` (the dialect then reads only the path)."""
    if not body or len(body) > MODEL_PARSE_BOUND or "json" not in content_type.lower():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class _BodyTooLarge(Exception):
    pass


class _Observer:
    """Hands what the client received to the hook, decompressing a copy if the upstream
    compressed it (the client gets the bytes as sent)."""

    def __init__(self, hook: ResponseStreamHook, status: int, headers: Mapping[str, str]) -> None:
        self.hook = hook
        self.status = status
        self.headers = headers
        content_type = headers.get("Content-Type", "").lower()
        encoding = headers.get("Content-Encoding", "identity").strip().lower()
        self._inflate: Any = None
        self.active = True
        if encoding == "gzip":
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            self.active = False  # br, zstd, ...: forwarded, not observed
        if status >= 400:
            self.mode = "error"
        elif "text/event-stream" in content_type:
            self.mode = "sse"
        elif "json" in content_type:
            self.mode = "json"
        else:
            self.mode = "other"
        self._opened = False
        self._finished = False
        self._kept: list[bytes] = []
        self._kept_size = 0

    def opened(self) -> None:
        """The response's headers went to the client (or failed to): a success status and
        its headers go to the hook now; an error's wait for its body (:meth:`finish`). Once:
        later calls (and :meth:`chunk`, :meth:`finish`, which imply it) do nothing more."""
        if self._opened:
            return
        self._opened = True
        if self.status < 400:
            self.hook.on_response(self.status, self.headers)

    def cancel(self, exc: BaseException | None = None) -> None:
        """The client went away (or the handler was cancelled): the call ends ``cancelled``,
        with the response's status and headers recorded first."""
        self.opened()
        self.hook.cancel(exc)

    def fail(self, exc: BaseException) -> None:
        """The upstream broke off after its headers: the call ends ``transport_error``."""
        self.opened()
        self.hook.fail(exc)

    def chunk(self, data: bytes) -> None:
        self.opened()
        if not self.active or self.mode == "other" or self._finished:
            return
        try:
            if self._inflate is not None:
                data = self._inflate.decompress(data)
        except zlib.error:
            self.active = False
            return
        if self.mode == "sse":
            self.hook.feed(data)
            return
        bound = ERROR_BODY_BOUND if self.mode == "error" else FINAL_BODY_BOUND
        room = bound - self._kept_size
        if room > 0:
            self._kept.append(data[:room])
            self._kept_size += min(len(data), room)

    def finish(self) -> None:
        """The body ended: the error body or the whole JSON response goes to the hook."""
        self.opened()
        if self._finished:
            return
        self._finished = True
        body = b"".join(self._kept) if self.active else None
        if self.mode == "error":
            self.hook.on_response(self.status, self.headers, body)
        elif self.mode == "json" and body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if isinstance(payload, dict):
                self.hook.on_final_response(payload)
        self.hook.end()


class _HeadersWithFirstChunk(web.StreamResponse):
    """A streamed response whose status line and headers are held at ``prepare()`` and go out
    in one write with the first body bytes (``write(b"")`` sends them alone)."""

    _send_headers_immediately = False  # aiohttp's own switch (its ``web.Response`` uses it)


class Proxy:
    """The aiohttp application of the proxy, with its upstream client session."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.settings = settings
        self.router = Router(settings.upstreams)
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.in_flight = 0
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None,
            sock_connect=settings.connect_timeout,
            sock_read=settings.read_timeout,
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.max_upstream_connections),
            timeout=self._timeout,
            auto_decompress=False,  # the client gets the upstream's bytes, compressed or not
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one caller's cookies to another
            trust_env=False,  # only the configured upstreams: no HTTP_PROXY detour
        )

    async def _stop(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _BodyTooLarge
        parts: list[bytes] = []
        size = 0
        while True:
            part = await request.content.readany()
            if not part:
                return b"".join(parts)
            size += len(part)
            if size > limit:
                raise _BodyTooLarge
            parts.append(part)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        self.in_flight += 1
        status = 0
        upstream_name = "-"
        try:
            route = self.router.route(request.method, request.rel_url.raw_path, dialect_of)
            if route is None:
                status = 404
                return web.Response(
                    status=404, text="otel-responses proxy: no upstream for this path\n"
                )
            upstream_name = route.upstream.name
            response = await self._forward(request, route.upstream, route.path)
            status = response.status
            return response
        finally:
            self.in_flight -= 1
            log.info(
                "%s %s -> %s upstream=%s %.1fms",
                request.method,
                request.rel_url.raw_path,  # never the query: Gemini keys travel as ?key=
                status or "-",
                upstream_name,
                (time.perf_counter() - started) * 1000,
            )

    async def _forward(
        self, request: web.Request, upstream: Upstream, path: str
    ) -> web.StreamResponse:
        try:
            body = await self._read_body(request)
        except _BodyTooLarge:
            return web.Response(status=413, text="otel-responses proxy: request body too large\n")
        dropped = _REQUEST_DROP | _connection_tokens(request.headers)
        headers: CIMultiDict[str] = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in dropped
        )
        headers["Host"] = upstream.host_header
        skip = [name for name in _AUTO_HEADERS if name not in request.headers]
        query = request.rel_url.raw_query_string
        url = URL(upstream.origin + path + (f"?{query}" if query else ""), encoded=True)
        assert self._session is not None
        dialect = for_request(request.method, upstream.host, path)
        # The request goes out first (its own task: on a pooled connection it is written in
        # that task's first step), then the hook starts its span while the upstream works on
        # the answer: parsing the body for the model and starting a span (~0.1-0.3 ms) are no
        # part of the time to first byte. The span is dated back to ``started``, so it still
        # covers the whole call as the proxy forwarded it.
        started = time.time_ns()
        sending = asyncio.ensure_future(
            self._session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                skip_auto_headers=skip,
            )
        )
        hook: ResponseStreamHook | None = None
        try:
            if dialect is not None:
                try:
                    await asyncio.sleep(0)  # the request task's first step: the bytes go out
                finally:  # even when the client hung up just now: a traced call has its span
                    facts = dialect.request(
                        path, _json_body(request.headers.get("Content-Type", ""), body)
                    )
                    hook = new_hook(
                        dialect=dialect,
                        model=facts.model,
                        stream=facts.stream,
                        upstream=upstream,
                        headers=request.headers,
                        tracer_provider=self.tracer_provider,
                        meter_provider=self.meter_provider,
                        start_time=started,
                    )
            return await self._call(request, sending, upstream, hook)
        except BaseException as exc:  # a bug of ours, or cancellation: the span still ends
            _drop(sending)
            if hook is not None:
                hook.close_with(exc)
            raise

    async def _call(
        self,
        request: web.Request,
        sending: asyncio.Future[aiohttp.ClientResponse],
        upstream: Upstream,
        hook: ResponseStreamHook | None,
    ) -> web.StreamResponse:
        try:
            upstream_response = await sending
        except asyncio.CancelledError:
            if hook is not None:
                hook.cancel()
            raise
        except Exception as exc:
            timeout = isinstance(exc, asyncio.TimeoutError)
            if hook is not None:
                hook.on_attempt_failed(exc)
                hook.fail(exc)
            log.warning("upstream %s unreachable: %s", upstream.name, type(exc).__name__)
            return web.Response(
                status=504 if timeout else 502,
                text=f"otel-responses proxy: upstream {upstream.name} "
                f"{'timed out' if timeout else 'unreachable'}\n",
            )
        async with upstream_response:
            return await self._relay(request, upstream_response, hook)

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        hook: ResponseStreamHook | None,
    ) -> web.StreamResponse:
        response = _HeadersWithFirstChunk(status=upstream.status, reason=upstream.reason)
        dropped = _RESPONSE_DROP | _connection_tokens(upstream.headers)
        for name, value in upstream.headers.items():
            if name.lower() not in dropped:
                response.headers.add(name, value)
        if upstream.content_length is not None and "Transfer-Encoding" not in upstream.headers:
            response.content_length = upstream.content_length
        observer = _Observer(hook, upstream.status, upstream.headers) if hook else None
        content = upstream.content
        # The headers go out with the first body bytes when those came in with them (one write:
        # one packet, one wake-up of the client), else at once, alone: they never wait for the
        # body. The hook reads the headers once they went out (with the first chunk, or while
        # the body is awaited): its work is no part of the time to first byte.
        try:
            await response.prepare(request)
            if not (content.total_bytes or content.is_eof() or content.exception()):
                await response.write(b"")  # nothing of the body yet: the headers alone
                if observer is not None:
                    observer.opened()
        except asyncio.CancelledError:
            if observer is not None:
                observer.cancel()
            raise
        except Exception as exc:  # the client went away before the headers
            if observer is not None:
                observer.cancel(exc)
            return response
        # With a Content-Length the client is done at the last byte, not at an end marker: the
        # hook sees that last chunk and ends just before it goes out, so a client holding the
        # whole body always finds the call's span ended.
        remaining = response.content_length
        while True:
            try:
                chunk = await content.readany()
            except asyncio.CancelledError:
                if observer is not None:
                    observer.cancel()
                raise
            except Exception as exc:  # the upstream broke off after the headers
                if observer is not None:
                    observer.fail(exc)
                log.warning("upstream read failed: %s", type(exc).__name__)
                if request.transport is not None:
                    request.transport.abort()  # the client must see a broken body, not an end
                return response
            if not chunk:
                break
            last = remaining is not None and len(chunk) >= remaining
            if remaining is not None:
                remaining -= len(chunk)
            if last and observer is not None:
                observer.chunk(chunk)
                observer.finish()
            try:
                await response.write(chunk)
            except asyncio.CancelledError:
                if observer is not None:
                    observer.cancel()
                raise
            except Exception as exc:  # the client went away
                if observer is not None:
                    observer.cancel(exc)
                return response
            if observer is not None and not last:
                observer.chunk(chunk)  # after the bytes went out (the first: with the headers)
            del chunk  # not kept alive while waiting for the next one (up to 64 KiB a stream)
        # The upstream's body is complete: its connection goes back to the pool now, before the
        # client (which may send its next request at once) hears the end.
        upstream.release()
        # Every byte was written: the call is over (ended before the final empty chunk, so a
        # client that has the whole body finds the span ended).
        if observer is not None:
            observer.finish()
        with contextlib.suppress(Exception):
            await response.write_eof()
        return response


async def serve(
    settings: ProxySettings,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    stop: asyncio.Event,
    ready: Callable[[int], Awaitable[None] | None] | None = None,
) -> Proxy:
    """Serve until ``stop`` is set, then drain: stop accepting, give in-flight calls up to
    ``settings.drain_timeout`` seconds to finish, cancel the rest (their spans: ``cancelled``)."""
    proxy = Proxy(settings, tracer_provider=tracer_provider, meter_provider=meter_provider)
    runner = web.AppRunner(
        proxy.app(),
        access_log=None,  # ours logs the path without the query (API keys can ride in it)
        handler_cancellation=True,  # a client that hangs up cancels its upstream call at once
        shutdown_timeout=settings.drain_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or ()
    for sock in sockets:
        bound = sock.getsockname()[1]
        break
    log.info("otel-responses proxy listening on %s:%s", host, bound)
    if ready is not None:
        result = ready(bound)
        if inspect.isawaitable(result):
            await result
    try:
        await stop.wait()
    finally:
        if proxy.in_flight:
            log.info(
                "draining %d in-flight call(s), up to %.0fs",
                proxy.in_flight,
                settings.drain_timeout,
            )
        await runner.cleanup()
        with contextlib.suppress(Exception):
            log.info("otel-responses proxy stopped")
    return proxy
