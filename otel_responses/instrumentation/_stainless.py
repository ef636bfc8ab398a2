"""Wrapping a Stainless-generated SDK (openai, anthropic): where a call starts and ends, and
every HTTP attempt it makes.

Both SDKs are generated from the same templates: a ``SyncAPIClient`` / ``AsyncAPIClient`` whose
``request`` every call passes through, one method per HTTP attempt inside its retry loop, and
``Stream`` / ``AsyncStream`` classes that read the response's bytes. They differ only in module
names and in the per-attempt method (:class:`SDK`), so the three wrappings are written once here:

* ``request`` — every SDK call passes through it, whatever the entry point (``create``,
  ``stream``, ``parse``, ``with_raw_response``, ``with_streaming_response``, Azure or Vertex
  clients). A call of an API a dialect recognises (:func:`otel_responses.dialects.for_request`)
  gets a :class:`ResponseStreamHook` — its span starts here, with the request's model and the
  client's server address — which is put in a private context variable for the duration of the
  call (never the OTel context: the span is never made current). If the call raises (an HTTP
  error after the SDK's retries, a connection failure, cancellation) the hook ends from that
  exception; otherwise the response's body decides (see :mod:`._httpx`).
* the per-attempt method (openai ``_send_request``, anthropic ``_attempt_request``) — one call
  per HTTP attempt, retries included: the response of each attempt is handed to
  :func:`._httpx.observe_response`, which records the attempt and wraps its byte stream; an
  attempt that raises instead (no response: connection refused or reset, a timeout before the
  headers) is recorded by :meth:`ResponseStreamHook.on_attempt_failed`, whether the SDK then
  retries it or gives up. Only an ``Exception`` counts: a cancellation is not a failed attempt,
  and ends the call as ``cancelled`` through ``request``.
* ``Stream.__init__`` / ``AsyncStream.__init__`` — after the original, a stream reading an
  observed response is made an anchor of its ``weakref.finalize`` (see
  :func:`._httpx.anchor_to` for why the response alone is not enough under the cyclic GC).

The methods are replaced on the classes, so clients created before instrumenting are covered
too, and :func:`unpatch` puts the very same function objects back. Nothing else is touched: the
SDK builds its streams, events and exceptions exactly as it would uninstrumented, from the same
bytes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import _faults
from .._hook import ResponseStreamHook
from ..dialects import for_request
from ._httpx import active, anchor_to, observe_response


def _itself(result: Any) -> Any:
    return result


def _first(result: Any) -> Any:
    return result[0]


class SDK(NamedTuple):
    """Where one Stainless-generated SDK keeps the three things wrapped."""

    package: str
    """``openai``, ``anthropic``."""
    send: str
    """The per-attempt method of ``SyncAPIClient`` / ``AsyncAPIClient``."""
    response_of: Callable[[Any], Any]
    """The ``httpx`` response in what the per-attempt method returns."""
    per_event_reads: tuple[str, ...] = ()
    """Attributes the SDK's ``Stream`` reads from ``response.stream`` at every event (settled
    on the wrapper once: see :func:`._httpx.observe_response`)."""


OPENAI = SDK("openai", "_send_request", _itself)
"""``_send_request(request, *, stream, **kwargs) -> Response``."""
ANTHROPIC = SDK("anthropic", "_attempt_request", _first, ("stream_observer",))
"""``_attempt_request(options, *, stream, retries_taken, call) -> (Response, options)``;
its ``Stream`` looks for ``response.stream.stream_observer`` (its own tracing) per event."""


class _Patched:
    """What :func:`patch` replaced for one SDK, and the providers its hooks use."""

    __slots__ = ("meter_provider", "saved", "tracer_provider")

    def __init__(self) -> None:
        self.tracer_provider: Any = None
        self.meter_provider: Any = None
        self.saved: list[tuple[type, str, Any]] = []


_PATCHED: dict[str, _Patched] = {}


def _hook_for_call(
    state: _Patched, client: Any, options: Any, stream: bool
) -> ResponseStreamHook | None:
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
        tracer_provider=state.tracer_provider,
        meter_provider=state.meter_provider,
    )


def _start(
    state: _Patched, client: Any, options: Any, kwargs: dict[str, Any]
) -> ResponseStreamHook | None:
    try:
        return _hook_for_call(state, client, options, bool(kwargs.get("stream", False)))
    except Exception as exc:
        _faults.report("instrumentation.request", exc)
        return None


def _observe(result: Any, sdk: SDK, hook: ResponseStreamHook) -> None:
    try:
        observe_response(
            sdk.response_of(result), hook, ends_on_error=False, settled=sdk.per_event_reads
        )
    except Exception as exc:
        _faults.report("instrumentation.observe", exc)


def _wrap_request(original: Any, sdk: SDK, state: _Patched) -> Any:
    @functools.wraps(original)
    def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        hook = _start(state, self, options, kwargs)
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


def _wrap_async_request(original: Any, sdk: SDK, state: _Patched) -> Any:
    @functools.wraps(original)
    async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        hook = _start(state, self, options, kwargs)
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


def _wrap_send(original: Any, sdk: SDK, state: _Patched) -> Any:
    @functools.wraps(original)
    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        hook = active.get()
        if hook is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except Exception as exc:
            hook.on_attempt_failed(exc)
            raise
        _observe(result, sdk, hook)
        return result

    return send


def _wrap_async_send(original: Any, sdk: SDK, state: _Patched) -> Any:
    @functools.wraps(original)
    async def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        hook = active.get()
        if hook is None:
            return await original(self, *args, **kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except Exception as exc:
            hook.on_attempt_failed(exc)
            raise
        _observe(result, sdk, hook)
        return result

    return send


def _wrap_stream_init(original: Any, sdk: SDK, state: _Patched) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            anchor_to(self, self.response)
        except Exception as exc:
            _faults.report("instrumentation.anchor", exc)

    return __init__


def patch(sdk: SDK, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Replace ``sdk``'s methods (idempotent: a second call only updates the providers).
    ``ImportError`` if the SDK is not installed; a release without one of the methods is left
    untouched (a fault is reported, the app is not disturbed)."""
    state = _PATCHED.setdefault(sdk.package, _Patched())
    state.tracer_provider = tracer_provider
    state.meter_provider = meter_provider
    if state.saved:
        return
    base = importlib.import_module(f"{sdk.package}._base_client")
    streaming = importlib.import_module(f"{sdk.package}._streaming")
    targets = (
        (base.SyncAPIClient, "request", _wrap_request),
        (base.SyncAPIClient, sdk.send, _wrap_send),
        (base.AsyncAPIClient, "request", _wrap_async_request),
        (base.AsyncAPIClient, sdk.send, _wrap_async_send),
        (streaming.Stream, "__init__", _wrap_stream_init),
        (streaming.AsyncStream, "__init__", _wrap_stream_init),
    )
    # Every original is looked up before anything is replaced: an SDK release that renamed one
    # (KeyError) is left entirely untouched rather than half wrapped.
    try:
        originals = [cls.__dict__[name] for cls, name, _ in targets]
    except KeyError as exc:
        _faults.report("instrumentation.patch", exc)
        return
    for (cls, name, wrap), original in zip(targets, originals, strict=True):
        state.saved.append((cls, name, original))
        setattr(cls, name, wrap(original, sdk, state))


def unpatch(sdk: SDK) -> None:
    """Put back exactly the function objects :func:`patch` replaced."""
    state = _PATCHED.pop(sdk.package, None)
    if state is None:
        return
    while state.saved:
        cls, name, original = state.saved.pop()
        setattr(cls, name, original)
