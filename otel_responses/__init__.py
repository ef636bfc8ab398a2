"""otel-responses: OpenTelemetry for streamed LLM responses.

Each lifecycle event of a streamed response — OpenAI Responses, OpenAI Chat Completions (and
every OpenAI-compatible server), Anthropic Messages, Google Gemini — becomes a span event, deltas
become metrics, and failures carry the provider's error code and rate-limit facts. Every name
emitted is listed in ``docs/telemetry.md``.

The integrations (``instrument``, ``instrument_httpx``, the instrumentors) are loaded on first
use, so ``import otel_responses`` imports no HTTP client or provider SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._config import ContentCapture
from ._configure import Configured, ConfigureWarning, configure
from ._hook import ResponseStreamHook
from ._logging import OTelLogProcessor, add_trace_context
from ._replay import ReplayResult, replay
from ._sse import SSEDecoder, SSEMessage, decode_all
from ._stream import OUTCOMES
from ._version import __version__
from .dialects import DIALECTS
from .dialects._durations import parse_duration

if TYPE_CHECKING:
    from .instrumentation import (
        OpenAIResponsesInstrumentor,
        instrument,
        instrument_httpx,
        uninstrument,
    )

_LAZY = {
    "OpenAIResponsesInstrumentor": ".instrumentation",
    "instrument": ".instrumentation",
    "instrument_httpx": ".instrumentation",
    "uninstrument": ".instrumentation",
}

__all__ = [
    "DIALECTS",
    "OUTCOMES",
    "ConfigureWarning",
    "Configured",
    "ContentCapture",
    "OTelLogProcessor",
    "OpenAIResponsesInstrumentor",
    "ReplayResult",
    "ResponseStreamHook",
    "SSEDecoder",
    "SSEMessage",
    "__version__",
    "add_trace_context",
    "configure",
    "decode_all",
    "instrument",
    "instrument_httpx",
    "parse_duration",
    "replay",
    "uninstrument",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_responses' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
