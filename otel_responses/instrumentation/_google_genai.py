"""Wrapping the google-genai SDK: where a Gemini call starts and ends, and every HTTP attempt.

What is replaced (on the classes, so clients made before instrumenting are covered too, and
``uninstrument`` puts the very same function objects back):

* ``BaseApiClient.request`` / ``async_request`` (non-streamed ``generate_content``) and
  ``request_streamed`` / ``async_request_streamed`` (``generate_content_stream``) — every SDK call
  passes through them. A ``:generateContent`` / ``:streamGenerateContent`` call gets a
  :class:`ResponseStreamHook` (its span starts when the request does, with the model from the
  path and the client's host; ``gcp.vertex_ai`` for a Vertex AI client), put in the private
  context variable :data:`._httpx.active` only while the request is being made — never across a
  ``yield``, so nothing leaks into the app's context. An exception out of the call (an HTTP error
  after the SDK's retries, an in-stream ``{"error": ...}`` frame the SDK raises on, a transport
  failure, cancellation) ends the hook from that exception; closing the stream early ends it as
  ``cancelled``; a stream read to its end ends it from its frames.
* ``BaseApiClient._request_once`` / ``_async_request_once`` — one call per HTTP attempt, the
  SDK's (tenacity) retries included: a streamed 200's httpx response is handed to
  :func:`._httpx.observe_response`, which wraps its byte stream (each chunk goes to the hook as
  the SDK's line reader pulls it: no read-ahead, no re-parsing); an attempt raising
  ``errors.APIError`` is recorded with its status, headers and parsed body (``exc.details``); one
  raising anything else (no response) with :meth:`ResponseStreamHook.on_attempt_failed`.
* ``Models.generate_content_stream`` / ``AsyncModels.generate_content_stream`` — the (async)
  generator the app holds is wrapped in one of the same kind that yields the very same objects,
  only so that a ``weakref.finalize`` on it can tell a stream the app *dropped* (``abandoned``)
  from one it *closed* (``cancelled``): the SDK's own generators are closed either way by the
  time anything below them can notice.

Transports: the SDK uses httpx (or httpx2) for sync calls and, when ``aiohttp`` is installed and
no ``httpx_async_client``/transport is given, aiohttp for async ones (and ``requests`` through
google-auth for some Vertex set-ups). Only httpx responses have a byte stream to observe; for the
others each frame the SDK yields (its ``SdkHttpResponse.body``, the frame's JSON) is fed to the
hook as one SSE message instead — the same telemetry, at the cost of our reader scanning each
frame once.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import _faults
from .. import _registry as names
from .._hook import ResponseStreamHook
from ..dialects import get
from ._httpx import _MODULES, active, observe_response
from ._instrumentor import PatchingInstrumentor

_instruments = ("google-genai >= 1.0",)
_DIALECT = get("gemini")
_providers: dict[str, Any] = {"tracer_provider": None, "meter_provider": None}
_saved: list[tuple[type, str, Any]] = []
_RESPONSES = tuple(m.Response for m in _MODULES)


class _Call:
    """One ``generate_content_stream`` call as the app holds it: the hook of its current HTTP
    request (automatic function calling and continuation make several in turn)."""

    __slots__ = ("finalizer", "hook")

    def __init__(self) -> None:
        self.hook: ResponseStreamHook | None = None
        self.finalizer: weakref.finalize[Any, Any] | None = None

    def release(self) -> None:
        """The stream ended: nothing is kept for the generator's remaining lifetime."""
        finalizer = self.finalizer
        if finalizer is not None:
            self.finalizer = None
            finalizer.detach()
        self.hook = None

    def dropped(self) -> None:
        """Finalizer of the generator the app holds: it was dropped unfinished."""
        hook = self.hook
        if hook is not None:
            hook.abandon()

    def cancelled(self) -> None:
        hook = self.hook
        if hook is not None:
            hook.cancel()


_CALL: ContextVar[_Call | None] = ContextVar("otel_responses_genai_call", default=None)
"""The app-held stream whose next item is being produced (set only during that step)."""


class _Feed:
    """Per-request state: whether the bytes are observed at the transport, or must be fed from
    the SDK's frames (a non-httpx transport)."""

    __slots__ = ("frames", "hook")

    def __init__(self, hook: ResponseStreamHook) -> None:
        self.hook = hook
        self.frames = False


_FEED: ContextVar[_Feed | None] = ContextVar("otel_responses_genai_feed", default=None)


# --- the call --------------------------------------------------------------------------------
def _hook_for(client: Any, method: str, path: str, stream: bool) -> ResponseStreamHook | None:
    if active.get() is not None or not is_instrumentation_enabled():
        return None
    route = "/" + str(path).partition("?")[0].lstrip("/")
    if not _DIALECT.matches(str(method), None, route):
        return None
    options = getattr(client, "_http_options", None)
    url = urlsplit(str(getattr(options, "base_url", "") or ""))
    host = url.hostname or None
    try:
        port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    except ValueError:
        port = None
    attributes = None
    if getattr(client, "vertexai", False):
        attributes = {names.PROVIDER_NAME: "gcp.vertex_ai"}
    return ResponseStreamHook(
        dialect=_DIALECT,
        model=_DIALECT.request(route, None).model,
        server_address=host,
        server_port=port,
        stream=stream,
        tracer_provider=_providers["tracer_provider"],
        meter_provider=_providers["meter_provider"],
        attributes=attributes,
    )


def _start(client: Any, method: Any, path: Any, stream: bool) -> ResponseStreamHook | None:
    try:
        hook = _hook_for(client, str(method).upper(), str(path), stream)
        if hook is not None and stream:
            call = _CALL.get()
            if call is not None:
                call.hook = hook
        return hook
    except Exception as exc:
        _faults.report("instrumentation.request", exc)
        return None


def _wrap_request(original: Any) -> Any:
    @functools.wraps(original)
    def request(self: Any, http_method: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        hook = _start(self, http_method, path, False)
        if hook is None:
            return original(self, http_method, path, *args, **kwargs)
        token = active.set(hook)
        try:
            result = original(self, http_method, path, *args, **kwargs)
        except BaseException as exc:
            hook.close_with(exc)
            raise
        finally:
            active.reset(token)
        hook.end()
        return result

    return request


def _wrap_async_request(original: Any) -> Any:
    @functools.wraps(original)
    async def async_request(self: Any, http_method: Any, path: Any, *args: Any, **kw: Any) -> Any:
        hook = _start(self, http_method, path, False)
        if hook is None:
            return await original(self, http_method, path, *args, **kw)
        token = active.set(hook)
        try:
            result = await original(self, http_method, path, *args, **kw)
        except BaseException as exc:
            hook.close_with(exc)
            raise
        finally:
            active.reset(token)
        hook.end()
        return result

    return async_request


def _frame(feed: _Feed, item: Any) -> None:
    """A frame the SDK yielded, fed to the hook when the transport could not be observed."""
    try:
        body = getattr(item, "body", None)
        if isinstance(body, str) and body:
            feed.hook.feed(b"data: " + body.encode() + b"\n\n")
    except Exception as exc:
        _faults.report("instrumentation.frame", exc)


def _wrap_request_streamed(original: Any) -> Any:
    @functools.wraps(original)
    def request_streamed(self: Any, http_method: Any, path: Any, *args: Any, **kw: Any) -> Any:
        hook = _start(self, http_method, path, True)
        if hook is None:
            yield from original(self, http_method, path, *args, **kw)
            return
        feed = _Feed(hook)
        frames = original(self, http_method, path, *args, **kw)
        token, feed_token = active.set(hook), _FEED.set(feed)
        try:
            first = next(frames)  # the HTTP attempts happen here
        except StopIteration:
            hook.end()
            return
        except BaseException as exc:
            hook.close_with(exc)
            raise
        finally:
            _FEED.reset(feed_token)
            active.reset(token)
        try:
            item = first
            while True:
                if feed.frames:
                    _frame(feed, item)
                yield item
                try:
                    item = next(frames)
                except StopIteration:
                    break
        except GeneratorExit:
            hook.cancel()
            raise
        except BaseException as exc:
            hook.close_with(exc)
            raise
        hook.end()  # already ended by the observed body, unless frames were fed

    return request_streamed


def _wrap_async_request_streamed(original: Any) -> Any:
    @functools.wraps(original)
    async def async_request_streamed(
        self: Any, http_method: Any, path: Any, *args: Any, **kw: Any
    ) -> Any:
        hook = _start(self, http_method, path, True)
        if hook is None:
            return await original(self, http_method, path, *args, **kw)
        feed = _Feed(hook)
        token, feed_token = active.set(hook), _FEED.set(feed)
        try:
            frames = await original(self, http_method, path, *args, **kw)  # the attempts
        except BaseException as exc:
            hook.close_with(exc)
            raise
        finally:
            _FEED.reset(feed_token)
            active.reset(token)
        return _observed_frames(frames, feed)

    return async_request_streamed


async def _observed_frames(frames: Any, feed: _Feed) -> AsyncIterator[Any]:
    hook = feed.hook
    try:
        async for item in frames:
            if feed.frames:
                _frame(feed, item)
            yield item
    except GeneratorExit:
        hook.cancel()
        raise
    except BaseException as exc:
        hook.close_with(exc)
        raise
    hook.end()


# --- each HTTP attempt -----------------------------------------------------------------------
def _answered(hook: ResponseStreamHook, result: Any, stream: bool) -> None:
    """An attempt the SDK accepted (status 200)."""
    try:
        body = getattr(result, "response_stream", None)
        if stream:
            if isinstance(body, _RESPONSES):
                observe_response(body, hook, ends_on_error=False)
                return
            feed = _FEED.get()
            if feed is not None:
                feed.frames = True  # aiohttp or requests: read the SDK's frames instead
            hook.on_response(200, getattr(result, "headers", None))
            return
        hook.on_response(200, getattr(result, "headers", None))
        if isinstance(body, list) and body and isinstance(body[0], str):
            try:
                payload = json.loads(body[0])
            except ValueError:
                return
            if isinstance(payload, dict):
                hook.on_final_response(payload)
    except Exception as exc:
        _faults.report("instrumentation.observe", exc)


def _refused(hook: ResponseStreamHook, exc: Exception) -> None:
    """An attempt that raised: an HTTP error (``errors.APIError``) or no response at all."""
    try:
        code = getattr(exc, "code", None)
        if isinstance(code, int) and hasattr(exc, "details"):
            response = getattr(exc, "response", None)
            body = exc.details
            if isinstance(body, dict) and "error" not in body:
                body = {"error": body}
            hook.on_response(code, getattr(response, "headers", None), body)
        else:
            hook.on_attempt_failed(exc)
    except Exception as fault:
        _faults.report("instrumentation.attempt", fault)


def _wrap_request_once(original: Any) -> Any:
    @functools.wraps(original)
    def _request_once(self: Any, http_request: Any, stream: bool = False, **kw: Any) -> Any:
        hook = active.get()
        if hook is None:
            return original(self, http_request, stream, **kw)
        try:
            result = original(self, http_request, stream, **kw)
        except Exception as exc:
            _refused(hook, exc)
            raise
        _answered(hook, result, stream)
        return result

    return _request_once


def _wrap_async_request_once(original: Any) -> Any:
    @functools.wraps(original)
    async def _async_request_once(
        self: Any, http_request: Any, stream: bool = False, **kw: Any
    ) -> Any:
        hook = active.get()
        if hook is None:
            return await original(self, http_request, stream, **kw)
        try:
            result = await original(self, http_request, stream, **kw)
        except Exception as exc:
            _refused(hook, exc)
            raise
        _answered(hook, result, stream)
        return result

    return _async_request_once


# --- the stream the app holds ----------------------------------------------------------------
def _held(call: _Call, stream: Any) -> None:
    """Abandonment: the app dropping ``stream`` ends its current request's hook."""
    try:
        call.finalizer = weakref.finalize(stream, call.dropped)
    except Exception as exc:
        _faults.report("instrumentation.anchor", exc)


def _iterate(frames: Iterator[Any], call: _Call) -> Iterator[Any]:
    while True:
        token = _CALL.set(call)
        try:
            item = next(frames)
        except StopIteration:
            call.release()
            return
        except BaseException:
            call.release()  # the SDK's exception: the stream has ended
            raise
        finally:
            _CALL.reset(token)
        try:
            yield item
        except GeneratorExit:
            call.cancelled()
            frames.close()  # type: ignore[attr-defined]
            raise


async def _aiterate(frames: Any, call: _Call) -> AsyncIterator[Any]:
    while True:
        token = _CALL.set(call)
        try:
            item = await frames.__anext__()
        except StopAsyncIteration:
            call.release()
            return
        except BaseException:
            call.release()
            raise
        finally:
            _CALL.reset(token)
        try:
            yield item
        except GeneratorExit:
            call.cancelled()
            await frames.aclose()
            raise


def _wrap_generate_stream(original: Any) -> Any:
    @functools.wraps(original)
    def generate_content_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        frames = original(self, *args, **kwargs)
        call = _Call()
        held = _iterate(frames, call)
        _held(call, held)
        return held

    return generate_content_stream


def _wrap_async_generate_stream(original: Any) -> Any:
    @functools.wraps(original)
    async def generate_content_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        frames = await original(self, *args, **kwargs)
        call = _Call()
        held = _aiterate(frames, call)
        _held(call, held)
        return held

    return generate_content_stream


# --- patching --------------------------------------------------------------------------------
def _targets() -> list[tuple[type, str, Callable[[Any], Any]]]:
    from google.genai import _api_client, models

    client = _api_client.BaseApiClient
    return [
        (client, "request", _wrap_request),
        (client, "async_request", _wrap_async_request),
        (client, "request_streamed", _wrap_request_streamed),
        (client, "async_request_streamed", _wrap_async_request_streamed),
        (client, "_request_once", _wrap_request_once),
        (client, "_async_request_once", _wrap_async_request_once),
        (models.Models, "generate_content_stream", _wrap_generate_stream),
        (models.AsyncModels, "generate_content_stream", _wrap_async_generate_stream),
    ]


def patch(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Replace the SDK methods (idempotent: a second call only updates the providers)."""
    _providers["tracer_provider"] = tracer_provider
    _providers["meter_provider"] = meter_provider
    if _saved:
        return
    for cls, name, wrap in _targets():
        original = cls.__dict__[name]
        _saved.append((cls, name, original))
        setattr(cls, name, wrap(original))


def unpatch() -> None:
    """Put back exactly the function objects :func:`patch` replaced."""
    while _saved:
        cls, name, original = _saved.pop()
        setattr(cls, name, original)
    _providers["tracer_provider"] = None
    _providers["meter_provider"] = None


class GoogleGenAIInstrumentor(PatchingInstrumentor):
    """Traces google-genai's ``generate_content`` and ``generate_content_stream`` calls (sync and
    ``client.aio``; Gemini API and Vertex AI): one span per HTTP call, with span events, metrics
    and logs from the stream (see ``docs/telemetry.md``)."""

    dependencies = _instruments
    patcher = staticmethod(patch)
    unpatcher = staticmethod(unpatch)
