"""Zero-code instrumentation of the LLM SDKs, and of plain httpx clients.

:func:`otel_responses.instrument` (or ``opentelemetry-instrument python app.py``, through the
``opentelemetry_instrumentor`` entry points ``openai_responses``, ``anthropic_messages`` and
``google_genai``) traces every streamed and non-streamed call of each installed SDK:
:class:`OpenAIResponsesInstrumentor` the openai SDK's Responses and Chat Completions calls
(``OpenAI``, ``AsyncOpenAI``, the Azure clients; its name is kept from when it covered Responses
only), :class:`AnthropicInstrumentor` the anthropic SDK's Messages calls, and
:class:`GoogleGenAIInstrumentor` google-genai's ``generate_content``/``generate_content_stream``.
:func:`instrument_httpx` does the same for apps that call any of these APIs with httpx directly
(the dialect is chosen from the request's path). How and why it observes at the HTTP transport
is explained in :mod:`otel_responses.instrumentation._httpx`; what each SDK wrapper patches, in
its module.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from . import _openai
from ._anthropic import AnthropicInstrumentor
from ._google_genai import GoogleGenAIInstrumentor
from ._httpx import (
    AsyncObservingTransport,
    ObservingTransport,
    instrument_httpx,
    uninstrument_httpx,
)
from ._instrumentor import PatchingInstrumentor
from .package import _instruments

__all__ = [
    "AnthropicInstrumentor",
    "AsyncObservingTransport",
    "GoogleGenAIInstrumentor",
    "ObservingTransport",
    "OpenAIResponsesInstrumentor",
    "instrument",
    "instrument_httpx",
    "uninstrument",
    "uninstrument_httpx",
]


class OpenAIResponsesInstrumentor(PatchingInstrumentor):
    """Traces the openai SDK's Responses and Chat Completions calls: one span per call, with
    span events, metrics and logs from the SSE stream (see ``docs/telemetry.md``)."""

    dependencies = _instruments
    patcher = staticmethod(_openai.patch)
    unpatcher = staticmethod(_openai.unpatch)


def instrument(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Instrument every installed SDK: openai, anthropic, google-genai (the one-line form of
    the instrumentors)."""
    OpenAIResponsesInstrumentor().instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    if _installed("anthropic"):  # each installed SDK; a missing one is skipped silently
        AnthropicInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    if _installed("google.genai"):
        GoogleGenAIInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )


def uninstrument() -> None:
    """Undo :func:`instrument`: every SDK is left exactly as it was."""
    OpenAIResponsesInstrumentor().uninstrument()
    AnthropicInstrumentor().uninstrument()
    GoogleGenAIInstrumentor().uninstrument()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
