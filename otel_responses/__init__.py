"""otel-responses: OpenTelemetry for streamed LLM responses.

Each SSE lifecycle event of an OpenAI Responses API stream becomes a span event, deltas become
metrics, and failures carry their error codes and rate-limit facts. Every name emitted is listed
in ``docs/telemetry.md``.
"""

from ._config import ContentCapture
from ._configure import configure
from ._hook import ResponseStreamHook
from ._logging import OTelLogProcessor, add_trace_context
from ._ratelimit import parse_duration
from ._replay import ReplayResult, replay
from ._sse import SSEDecoder, SSEMessage, decode_all
from ._version import __version__
from .instrumentation import (
    OpenAIResponsesInstrumentor,
    instrument,
    instrument_httpx,
    uninstrument,
)

OUTCOMES = (
    "completed",
    "incomplete",
    "failed",
    "error",
    "truncated",
    "transport_error",
    "cancelled",
    "abandoned",
)
"""Every value of ``otel_responses.stream.outcome``."""

__all__ = [
    "OUTCOMES",
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
