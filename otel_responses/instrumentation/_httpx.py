"""Observing a Responses API call at the HTTP transport: the bytes the app reads, no more.

Why the transport and not the SDK's event objects
-------------------------------------------------
The openai SDK hides part of what a stream says: it raises ``openai.APIError`` at the first SSE
event whose data has a top-level ``"error"`` key and never parses what follows (the seed's
``response.failed`` with ``rate_limit_exceeded``), and it drops the HTTP headers (``x-request-id``,
``x-ratelimit-*``) once the stream object is built. Wrapping the SDK's iterator would see none of
that. Wrapping the *response byte stream* sees everything the SDK itself receives:

* each chunk is handed to :meth:`ResponseStreamHook.feed` the moment the app's reader pulls it
  from the network, before the app parses it — so an ``error`` event, and a ``response.failed``
  whose bytes arrived in the same chunk, are recorded even though the SDK raises before parsing
  the latter; and not one byte is read that the app did not ask for (we never read ahead);
* it is one generator frame and one ``feed`` call per *chunk* (not per event, not per SDK object):
  no per-event Python wrapper, no re-parsing of what the SDK parses;
* it is the same code for every SDK entry point (``create``, ``stream``, ``with_raw_response``,
  ``with_streaming_response``, ``parse``, sync and async, Azure) and for apps that use httpx
  directly (:func:`instrument_httpx`), with either ``httpx`` or ``httpx2`` (the SDK's own fork),
  and every HTTP attempt — retries included — passes through it.

How each ending is found (one :class:`_Observer` per HTTP response)
-------------------------------------------------------------------
* the wrapped byte stream is exhausted → ``hook.end()`` (outcome from the events seen);
* it raises (``httpx.ReadTimeout``, ``RemoteProtocolError``, ``asyncio.CancelledError``) →
  ``hook.close_with(exc)`` (``transport_error`` or ``cancelled``), then the exception goes on;
* the response is closed before that (the app broke out and closed, left a ``with`` block, or the
  SDK closed it while raising) → ``cancelled``, with the exception being handled at that moment
  (``sys.exc_info()`` inside ``close()``: the app's own exception leaving a ``with`` block, or
  ``openai.APIError`` raised by the SDK) recorded;
* the response object is garbage-collected unfinished → ``abandoned``, from a
  :func:`weakref.finalize` on the *response* (every object the app could still read from — SDK
  stream, ``ResponseStream``, raw response — holds it, so it dies exactly when the stream is
  unreachable). The finalizer callback holds the observer, never the response, and is detached
  when the stream ends, so nothing is kept alive.

Error responses (status >= 400) are not streams: their body is collected as the app reads it and
given to :meth:`ResponseStreamHook.on_response` once read (the SDK reads the last attempt's body
before raising) or closed unread (the SDK closes a response it is about to retry).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import re
import sys
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any

from .. import _faults
from .._hook import ResponseStreamHook
from ..dialects import RequestFacts, for_request

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Non-streamed and error bodies larger than this are not parsed for telemetry."""
_MAX_REQUEST_SCAN = 256 * 1024

_SSE, _FINAL, _ERROR = 0, 1, 2

_MODULES: list[ModuleType] = []
for _name in ("httpx", "httpx2"):
    with contextlib.suppress(ImportError):  # whichever of the two is installed is used
        _MODULES.append(importlib.import_module(_name))

# The wrapper streams must pass httpx's ``isinstance(response.stream, SyncByteStream)`` checks
# for whichever of httpx / httpx2 built the response, so they derive from both when both exist.
_SyncBase: Any = type("_SyncBase", tuple(m.SyncByteStream for m in _MODULES) or (object,), {})
_AsyncBase: Any = type("_AsyncBase", tuple(m.AsyncByteStream for m in _MODULES) or (object,), {})
_SyncTransportBase: Any = type(
    "_SyncTransportBase", tuple(m.BaseTransport for m in _MODULES) or (object,), {}
)
_AsyncTransportBase: Any = type(
    "_AsyncTransportBase", tuple(m.AsyncBaseTransport for m in _MODULES) or (object,), {}
)

active: contextvars.ContextVar[ResponseStreamHook | None] = contextvars.ContextVar(
    "otel_responses_active_call", default=None
)
"""The hook of the SDK call in progress in this context (set only while ``request`` runs).
Not the OTel context: the span is never made current."""


def _decoder_for(response: Any) -> Any:
    """A content decoder for a compressed body (rare for SSE), or ``None`` for identity."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if not encoding or encoding == "identity":
        return None
    module = sys.modules.get(type(response).__module__.partition(".")[0])
    decoders = getattr(getattr(module, "_decoders", None), "SUPPORTED_DECODERS", None)
    if decoders is None:
        return False
    parts = [p.strip() for p in encoding.split(",") if p.strip()]
    try:
        made = [decoders[p]() for p in parts]
    except KeyError:
        return False
    return made[0] if len(made) == 1 else module._decoders.MultiDecoder(made)  # type: ignore[union-attr]


class _Observer:
    """One HTTP response of an observed call; decides the hook's ending from the body's fate."""

    __slots__ = (
        "__weakref__",
        "body",
        "body_size",
        "decoder",
        "done",
        "ends_on_error",
        "finalizers",
        "headers",
        "hook",
        "mode",
        "status",
    )

    def __init__(self, hook: ResponseStreamHook, status: int, headers: Any, mode: int) -> None:
        self.hook = hook
        self.status = status
        self.headers = headers
        self.mode = mode
        self.body: list[bytes] = []
        self.body_size = 0
        self.decoder: Any = None
        self.done = False
        self.ends_on_error = False
        self.finalizers: list[weakref.finalize[Any, Any]] = []

    # --- the sink each chunk goes to ---------------------------------------------------
    def sink(self) -> Callable[[bytes], None]:
        if self.decoder is False:
            return _ignore
        if self.mode == _SSE and self.decoder is None:
            return self.hook.feed  # the hot path: raw bytes straight into the hook
        return self._decoded if self.decoder is not None else self._collect

    def _decoded(self, chunk: bytes) -> None:
        try:
            data = self.decoder.decode(chunk)
        except Exception as exc:
            self.decoder = False
            _faults.report("instrumentation.decode", exc)
            return
        if self.mode == _SSE:
            self.hook.feed(data)
        else:
            self._collect(data)

    def _collect(self, chunk: bytes) -> None:
        if self.body_size <= MAX_BODY_BYTES:
            self.body.append(chunk)
            self.body_size += len(chunk)

    def _body(self) -> bytes | None:
        if self.decoder not in (None, False):
            try:
                tail = self.decoder.flush()
            except Exception:
                tail = b""
            if tail:
                if self.mode == _SSE:
                    self.hook.feed(tail)
                else:
                    self._collect(tail)
        if self.body_size > MAX_BODY_BYTES or not self.body:
            return None
        return b"".join(self.body)

    # --- endings -------------------------------------------------------------------------
    def _finish(self) -> bool:
        if self.done:
            return False
        self.done = True
        finalizers = self.finalizers
        if finalizers:
            self.finalizers = []
            for finalizer in finalizers:
                finalizer.detach()
        return True

    def anchor(self, owner: Any) -> None:
        """End as ``abandoned`` when ``owner`` is garbage-collected unfinished. The callback
        holds this observer, never ``owner``."""
        if not self.done:
            self.finalizers.append(weakref.finalize(owner, self.dropped))

    def exhausted(self) -> None:
        """The body was read to its end."""
        try:
            if not self._finish():
                return
            hook = self.hook
            body = self._body()
            if self.mode == _ERROR:
                hook.on_response(self.status, self.headers, body)
                if self.ends_on_error:
                    hook.end()
                return
            if self.mode == _FINAL and body is not None:
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = None
                if isinstance(payload, dict):
                    hook.on_final_response(payload)
            hook.end()
        except Exception as exc:
            _faults.report("instrumentation.exhausted", exc)
        finally:
            self.body = []

    def closed(self, exc: BaseException | None) -> None:
        """The response was closed before its body ended (``exc``: being handled then)."""
        try:
            if not self._finish():
                return
            if self.mode == _ERROR:
                self.hook.on_response(self.status, self.headers, None)
                if self.ends_on_error:
                    self.hook.end()
            elif exc is None:
                self.hook.cancel()
            else:
                self.hook.close_with(exc)
        except Exception as fault:
            _faults.report("instrumentation.closed", fault)
        finally:
            self.body = []

    def failed(self, exc: BaseException) -> None:
        """Reading the body raised ``exc``."""
        try:
            if not self._finish():
                return
            if self.mode == _ERROR:
                self.hook.on_response(self.status, self.headers, None)
            self.hook.close_with(exc)
        except Exception as fault:
            _faults.report("instrumentation.failed", fault)
        finally:
            self.body = []

    def dropped(self) -> None:
        """Finalizer: the response became unreachable unfinished."""
        try:
            if not self._finish():
                return
            if self.mode == _ERROR:
                self.hook.on_response(self.status, self.headers, None)
            self.hook.abandon()
        except Exception as fault:
            _faults.report("instrumentation.dropped", fault)
        finally:
            self.body = []


def _ignore(chunk: bytes) -> None:
    pass


def _forward(wrapper: Any, name: str) -> Any:
    """Attributes the wrapper lacks are the wrapped stream's (only reached on a miss)."""
    inner = wrapper.__dict__.get("_inner")
    if inner is None:
        raise AttributeError(name)
    return getattr(inner, name)


class _ObservedSyncStream(_SyncBase):  # type: ignore[misc]
    """Wraps a response's sync byte stream: each chunk goes to the observer, unchanged."""

    def __init__(self, inner: Any, observer: _Observer) -> None:
        self._inner = inner
        self._observer = observer

    def __iter__(self) -> Iterator[bytes]:
        observer = self._observer
        sink = observer.sink()
        try:
            for chunk in self._inner:
                sink(chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            observer.failed(exc)
            raise
        observer.exhausted()

    def close(self) -> None:
        self._observer.closed(sys.exc_info()[1])
        self._inner.close()

    def __getattr__(self, name: str) -> Any:  # e.g. httpx2's ``elapsed``
        return _forward(self, name)


class _ObservedAsyncStream(_AsyncBase):  # type: ignore[misc]
    """Wraps a response's async byte stream: each chunk goes to the observer, unchanged."""

    def __init__(self, inner: Any, observer: _Observer) -> None:
        self._inner = inner
        self._observer = observer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        observer = self._observer
        sink = observer.sink()
        try:
            async for chunk in self._inner:
                sink(chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            observer.failed(exc)
            raise
        observer.exhausted()

    async def aclose(self) -> None:
        self._observer.closed(sys.exc_info()[1])
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return _forward(self, name)


def observe_response(
    response: Any,
    hook: ResponseStreamHook,
    *,
    ends_on_error: bool,
    settled: tuple[str, ...] = (),
) -> None:
    """Attach ``hook`` to one HTTP response (one attempt) of an observed call.

    ``ends_on_error``: an error status ends the hook once its body is read (a plain httpx call,
    one attempt); for the SDK the call's exception ends it, after any retries.

    ``settled``: attributes the reader looks up on ``response.stream`` at every event. On the
    wrapper each would be a ``__getattr__`` miss forwarded to the inner stream (an
    ``AttributeError`` per read when absent); they are copied onto the wrapper once instead.
    """
    status = int(response.status_code)
    headers = response.headers
    if status >= 400:
        mode = _ERROR
    elif "text/event-stream" in headers.get("content-type", ""):
        mode = _SSE
    else:
        mode = _FINAL
    if mode != _ERROR:
        hook.on_response(status, headers)
    observer = _Observer(hook, status, headers, mode)
    observer.ends_on_error = ends_on_error
    observer.decoder = _decoder_for(response)
    if response.is_stream_consumed or response.is_closed:
        # The body was read inside ``send`` (a non-streamed request): use what it read.
        try:
            content = response.content
        except Exception:
            content = b""
        observer.decoder = None  # ``content`` is already decoded
        observer.sink()(content)
        observer.exhausted()
        return
    stream = response.stream
    wrapper: _ObservedSyncStream | _ObservedAsyncStream
    if isinstance(stream, _MODULES_SYNC):
        wrapper = _ObservedSyncStream(stream, observer)
    else:
        wrapper = _ObservedAsyncStream(stream, observer)
    for name in settled:  # the value the reader would get, read once
        wrapper.__dict__[name] = getattr(stream, name, None)
    response.stream = wrapper
    observer.anchor(response)


def anchor_to(owner: Any, response: Any) -> None:
    """Also end ``response``'s observation as ``abandoned`` when ``owner`` (an object reading it,
    e.g. the SDK's ``Stream``) is collected. Needed because the SDK's ``Stream`` sits in a
    reference cycle with its own generator: the cyclic collector may finalize that generator —
    whose ``finally`` closes the response, which would read as ``cancelled`` — while the response
    itself, referenced from the cycle but older, is still alive. Weak-reference callbacks of the
    objects in a collected cycle run before any of them is finalized, so anchoring to the
    ``Stream`` itself names the ending correctly."""
    stream = getattr(response, "stream", None)
    if type(stream) in (_ObservedSyncStream, _ObservedAsyncStream):
        stream.__dict__["_observer"].anchor(owner)


_MODULES_SYNC = tuple(m.SyncByteStream for m in _MODULES)


# --- plain httpx clients ----------------------------------------------------------------------
_MODEL_RE = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')


def _request_body(request: Any) -> tuple[Any, str | None]:
    """The parsed JSON body of a request (``None`` if unreadable), and a ``model`` found by a
    scan when the body is too large to parse; a streaming request body is never read."""
    try:
        content = request.content
    except Exception:  # RequestNotRead: a streaming request body is left alone
        return None, None
    if not content:
        return None, None
    if len(content) <= _MAX_REQUEST_SCAN:
        try:
            return json.loads(content), None
        except ValueError:
            return None, None
    found = _MODEL_RE.search(content)
    return None, (found.group(1).decode("utf-8", "replace") if found else None)


def _hook_for_request(request: Any, providers: tuple[Any, Any]) -> ResponseStreamHook | None:
    """A hook for a request of a streaming API a dialect recognises (a ``GET`` only when it
    asks for a stream, as a resumed Responses stream does), else ``None``."""
    if active.get() is not None:
        return None  # an instrumented SDK call already observes this request
    url = request.url
    method = request.method.upper()
    dialect = for_request(method, url.host or None, url.path)
    if dialect is None:
        return None
    if method == "GET":
        if url.params.get("stream", "").lower() != "true":
            return None
        facts = RequestFacts(None, True)
    else:
        body, scanned = _request_body(request)
        facts = dialect.request(url.path, body)
        if facts.model is None and scanned is not None:
            facts = facts._replace(model=scanned)
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return ResponseStreamHook(
        dialect=dialect,
        model=facts.model,
        server_address=url.host or None,
        server_port=port,
        stream=facts.stream,
        tracer_provider=providers[0],
        meter_provider=providers[1],
    )


def _transport_hook(request: Any, providers: tuple[Any, Any]) -> ResponseStreamHook | None:
    """The hook for a request an observing transport should trace, or ``None``."""
    try:
        return _hook_for_request(request, providers)
    except Exception as exc:
        _faults.report("instrumentation.request", exc)
        return None


def _no_response(hook: ResponseStreamHook, exc: BaseException) -> None:
    """The transport raised: an attempt that got no response (unless cancelled), and the end."""
    if isinstance(exc, Exception):
        hook.on_attempt_failed(exc)
    hook.close_with(exc)


def _transport_observe(response: Any, hook: ResponseStreamHook) -> None:
    try:
        observe_response(response, hook, ends_on_error=True)
    except Exception as exc:
        _faults.report("instrumentation.observe", exc)


class ObservingTransport(_SyncTransportBase):  # type: ignore[misc]
    """An httpx (or httpx2) transport wrapper: every Responses API response through ``inner``
    is observed byte for byte; everything else passes untouched. A request that gets no response
    (``inner`` raises) is one failed attempt, and ends the span: one transport call, one attempt."""

    def __init__(
        self, inner: Any, *, tracer_provider: Any = None, meter_provider: Any = None
    ) -> None:
        self.inner = inner
        self._providers = (tracer_provider, meter_provider)

    def handle_request(self, request: Any) -> Any:
        hook = _transport_hook(request, self._providers)
        if hook is None:
            return self.inner.handle_request(request)
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            _no_response(hook, exc)
            raise
        _transport_observe(response, hook)
        return response

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> ObservingTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.inner.__exit__(*args)


class AsyncObservingTransport(_AsyncTransportBase):  # type: ignore[misc]
    """The async form of :class:`ObservingTransport`."""

    def __init__(
        self, inner: Any, *, tracer_provider: Any = None, meter_provider: Any = None
    ) -> None:
        self.inner = inner
        self._providers = (tracer_provider, meter_provider)

    async def handle_async_request(self, request: Any) -> Any:
        hook = _transport_hook(request, self._providers)
        if hook is None:
            return await self.inner.handle_async_request(request)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            _no_response(hook, exc)
            raise
        _transport_observe(response, hook)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> AsyncObservingTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.inner.__aexit__(*args)


_WRAPPERS = (ObservingTransport, AsyncObservingTransport)


def instrument_httpx(
    client: Any, *, tracer_provider: Any = None, meter_provider: Any = None
) -> Any:
    """Observe every Responses API call ``client`` (an ``httpx``/``httpx2`` ``Client`` or
    ``AsyncClient``) makes: its transport, and every mounted one, is wrapped in an
    :class:`ObservingTransport`. The bytes the app reads are unchanged. Returns ``client``.
    Calling it again on the same client does nothing."""
    wrapper: Any = (
        AsyncObservingTransport
        if any(isinstance(client, m.AsyncClient) for m in _MODULES)
        else ObservingTransport
    )

    def wrap(transport: Any) -> Any:
        if transport is None or isinstance(transport, _WRAPPERS):
            return transport
        return wrapper(transport, tracer_provider=tracer_provider, meter_provider=meter_provider)

    client._transport = wrap(client._transport)
    client._mounts = {pattern: wrap(t) for pattern, t in client._mounts.items()}
    return client


def uninstrument_httpx(client: Any) -> Any:
    """Undo :func:`instrument_httpx`: the client's original transports are put back."""

    def unwrap(transport: Any) -> Any:
        if isinstance(transport, _WRAPPERS):
            return transport.inner
        return transport

    client._transport = unwrap(client._transport)
    client._mounts = {pattern: unwrap(t) for pattern, t in client._mounts.items()}
    return client
