"""Wrapping the anthropic SDK: the Stainless-generated client's ``request``, its per-attempt
``_attempt_request`` and its ``Stream``/``AsyncStream`` constructors (see :mod:`._stainless` for
what each wrapping observes and why).

Every ``messages`` call is traced, through whichever entry point: ``messages.create`` (streamed
or not), ``messages.stream()`` (``text_stream``, ``get_final_message()``, ``until_done()``),
``beta.messages``, ``with_raw_response`` / ``with_streaming_response``, sync and async, and the
Vertex clients (``AnthropicVertex``), which share the client classes and call ``request`` with
``/v1/messages`` before rewriting it to ``…:streamRawPredict``. Bedrock streams are AWS
event-stream frames, not SSE: the Bedrock client's calls are not traced.

Why the bytes and not the SDK's events: the SDK raises ``APIStatusError`` at an in-stream
``event: error`` and never yields it; the wrapped byte stream has already fed that frame to the
hook, so the span carries ``overloaded_error`` (see :mod:`._httpx`).
"""

from __future__ import annotations

from typing import Any

from . import _stainless
from ._instrumentor import PatchingInstrumentor

_instruments = ("anthropic >= 1.0",)
"""1.0 introduced ``_attempt_request``, the per-attempt method wrapped."""


def patch(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Replace the SDK methods (idempotent: a second call only updates the providers)."""
    _stainless.patch(_stainless.ANTHROPIC, tracer_provider, meter_provider)


def unpatch() -> None:
    """Put back exactly the function objects :func:`patch` replaced."""
    _stainless.unpatch(_stainless.ANTHROPIC)


class AnthropicInstrumentor(PatchingInstrumentor):
    """Traces the anthropic SDK's Messages calls (``Anthropic``/``AsyncAnthropic`` and the
    Vertex clients; ``messages`` and ``beta.messages``): one span per call, with span events,
    metrics and logs from the stream (see ``docs/telemetry.md``)."""

    dependencies = _instruments
    patcher = staticmethod(patch)
    unpatcher = staticmethod(unpatch)
