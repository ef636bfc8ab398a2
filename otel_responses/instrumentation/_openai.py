"""Wrapping the openai SDK: where a call starts and ends, and every HTTP attempt it makes.

Three methods are replaced (on the classes, so clients created before
instrumenting are covered too, and ``uninstrument`` puts the very same function objects back):

* ``SyncAPIClient.request`` / ``AsyncAPIClient.request`` — every SDK call passes through it,
  whatever the entry point (``responses.create``, ``responses.stream``, ``responses.parse``,
  ``with_raw_response``, ``with_streaming_response``, Azure clients). A call to the Responses
  endpoint (``POST /responses``, or a resumed stream ``GET /responses/{id}`` with ``stream``)
  gets a :class:`ResponseStreamHook` — its span starts here, with the request's model and the
  client's server address — which is put in a private context variable for the duration of the
  call (never the OTel context: the span is never made current). If the call raises (an HTTP
  error after the SDK's retries, a connection failure, cancellation) the hook ends from that
  exception; otherwise the response's body decides (see :mod:`._httpx`).
* ``SyncAPIClient._send_request`` / ``AsyncAPIClient._send_request`` — one call per HTTP
  attempt, retries included: the response of each attempt is handed to
  :func:`._httpx.observe_response`, which records the attempt and wraps its byte stream; an
  attempt that raises instead (no response: connection refused or reset, a timeout before the
  headers) is recorded by :meth:`ResponseStreamHook.on_attempt_failed`, whether the SDK then
  retries it or gives up. Only an ``Exception`` counts: a cancellation is not a failed attempt,
  and ends the call as ``cancelled`` through ``request``.
* ``Stream.__init__`` / ``AsyncStream.__init__`` — after the original, a stream reading an
  observed response is made an anchor of its ``weakref.finalize`` (see
  :func:`._httpx.anchor_to` for why the response alone is not enough under the cyclic GC).

Nothing else is touched: the SDK builds its ``Stream``, ``ResponseStream``, events and exceptions
exactly as it would uninstrumented, from the same bytes.
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import _faults
from .._hook import ResponseStreamHook
from ..dialects import for_request
from ._httpx import active, anchor_to, observe_response

_providers: dict[str, Any] = {"tracer_provider": None, "meter_provider": None}
_saved: list[tuple[type, str, Any]] = []


def _hook_for_call(client: Any, options: Any, stream: bool) -> ResponseStreamHook | None:
    if active.get() is not None or not is_instrumentation_enabled():
        return None
    method = str(getattr(options, "method", "")).upper()
    path = str(getattr(options, "url", "")).partition("?")[0]
    base = getattr(client, "base_url", None)
    host = getattr(base, "host", None) or None
    dialect = for_request(method, host, path)
    if dialect is None or (method == "GET" and not stream):
        return None
    facts = dialect.request(path, getattr(options, "json_data", None))
    port = getattr(base, "port", None) or {"https": 443, "http": 80}.get(
        str(getattr(base, "scheme", ""))
    )
    return ResponseStreamHook(
        dialect=dialect,
        model=facts.model,
        server_address=host,
        server_port=port,
        stream=bool(stream),
        tracer_provider=_providers["tracer_provider"],
        meter_provider=_providers["meter_provider"],
    )


def _start(client: Any, options: Any, kwargs: dict[str, Any]) -> ResponseStreamHook | None:
    try:
        return _hook_for_call(client, options, bool(kwargs.get("stream", False)))
    except Exception as exc:
        _faults.report("instrumentation.request", exc)
        return None


def _observe(response: Any, hook: ResponseStreamHook) -> None:
    try:
        observe_response(response, hook, ends_on_error=False)
    except Exception as exc:
        _faults.report("instrumentation.observe", exc)


def _wrap_request(original: Any) -> Any:
    @functools.wraps(original)
    def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        hook = _start(self, options, kwargs)
        if hook is None:
            return original(self, cast_to, options, *args, **kwargs)
        token = active.set(hook)
        try:
            return original(self, cast_to, options, *args, **kwargs)
        except BaseException as exc:
            hook.close_with(exc)
            raise
        finally:
            active.reset(token)

    return request


def _wrap_async_request(original: Any) -> Any:
    @functools.wraps(original)
    async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        hook = _start(self, options, kwargs)
        if hook is None:
            return await original(self, cast_to, options, *args, **kwargs)
        token = active.set(hook)
        try:
            return await original(self, cast_to, options, *args, **kwargs)
        except BaseException as exc:
            hook.close_with(exc)
            raise
        finally:
            active.reset(token)

    return request


def _wrap_send(original: Any) -> Any:
    @functools.wraps(original)
    def _send_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        hook = active.get()
        if hook is None:
            return original(self, request, *args, **kwargs)
        try:
            response = original(self, request, *args, **kwargs)
        except Exception as exc:
            hook.on_attempt_failed(exc)
            raise
        _observe(response, hook)
        return response

    return _send_request


def _wrap_async_send(original: Any) -> Any:
    @functools.wraps(original)
    async def _send_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        hook = active.get()
        if hook is None:
            return await original(self, request, *args, **kwargs)
        try:
            response = await original(self, request, *args, **kwargs)
        except Exception as exc:
            hook.on_attempt_failed(exc)
            raise
        _observe(response, hook)
        return response

    return _send_request


def _wrap_stream_init(original: Any) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            anchor_to(self, self.response)
        except Exception as exc:
            _faults.report("instrumentation.anchor", exc)

    return __init__


def patch(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Replace the SDK methods (idempotent: a second call only updates the providers)."""
    _providers["tracer_provider"] = tracer_provider
    _providers["meter_provider"] = meter_provider
    if _saved:
        return
    from openai._base_client import AsyncAPIClient, SyncAPIClient
    from openai._streaming import AsyncStream, Stream

    for cls, name, wrap in (
        (SyncAPIClient, "request", _wrap_request),
        (SyncAPIClient, "_send_request", _wrap_send),
        (AsyncAPIClient, "request", _wrap_async_request),
        (AsyncAPIClient, "_send_request", _wrap_async_send),
        (Stream, "__init__", _wrap_stream_init),
        (AsyncStream, "__init__", _wrap_stream_init),
    ):
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
