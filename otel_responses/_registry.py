"""Every telemetry name otel-responses emits, defined once.

Each constant is both the name used by the code and an entry in :data:`REGISTRY`, from which
``docs/telemetry.md`` is generated (``otel-responses registry``) and checked by a test, so the
document cannot drift from what the code emits. Names the OpenTelemetry GenAI semantic
conventions define come from ``opentelemetry-semantic-conventions``; only what they lack lives
under the ``otel_responses.`` prefix.
"""

from __future__ import annotations

from typing import NamedTuple

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.attributes import openai_attributes as _openai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes as _error
from opentelemetry.semconv.attributes import http_attributes as _http
from opentelemetry.semconv.attributes import server_attributes as _server


class Entry(NamedTuple):
    """One documented name."""

    kind: str  # "attribute" (spans, span events, metrics), "span event", "metric", "log event"
    name: str
    type: str  # value type, or instrument type for metrics
    unit: str
    brief: str
    semconv: bool
    attributes: tuple[str, ...] = ()


REGISTRY: list[Entry] = []


def _attr(name: str, type_: str, brief: str, *, semconv: bool = False) -> str:
    REGISTRY.append(Entry("attribute", name, type_, "", brief, semconv))
    return name


def _event(name: str, brief: str, attributes: tuple[str, ...] = ()) -> str:
    REGISTRY.append(Entry("span event", name, "", "", brief, False, attributes))
    return name


def _metric(
    name: str, instrument: str, unit: str, brief: str, attributes: tuple[str, ...], *, semconv: bool
) -> str:
    REGISTRY.append(Entry("metric", name, instrument, unit, brief, semconv, attributes))
    return name


def _log(name: str, level: str, brief: str, fields: tuple[str, ...]) -> str:
    REGISTRY.append(Entry("log event", name, level, "", brief, False, fields))
    return name


# --- span attributes from the semantic conventions -------------------------------------------
OPERATION_NAME = _attr(
    _gen_ai.GEN_AI_OPERATION_NAME, "string", "Always `chat` for the Responses API.", semconv=True
)
PROVIDER_NAME = _attr(_gen_ai.GEN_AI_PROVIDER_NAME, "string", "`openai`.", semconv=True)
REQUEST_MODEL = _attr(
    _gen_ai.GEN_AI_REQUEST_MODEL, "string", "Model named in the request.", semconv=True
)
REQUEST_STREAM = _attr(
    _gen_ai.GEN_AI_REQUEST_STREAM,
    "boolean",
    "Whether the request asked for a stream.",
    semconv=True,
)
API_TYPE = _attr(_openai.OPENAI_API_TYPE, "string", "`responses`.", semconv=True)
RESPONSE_ID = _attr(
    _gen_ai.GEN_AI_RESPONSE_ID,
    "string",
    "`response.id` from the first event carrying it.",
    semconv=True,
)
RESPONSE_MODEL = _attr(
    _gen_ai.GEN_AI_RESPONSE_MODEL,
    "string",
    "`response.model` as the server reports it.",
    semconv=True,
)
FINISH_REASONS = _attr(
    _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS,
    "string[]",
    "`stop` when completed; the `incomplete_details.reason` when incomplete "
    "(`max_output_tokens`, `content_filter`); `error` for every other outcome.",
    semconv=True,
)
TIME_TO_FIRST_CHUNK = _attr(
    _gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    "double",
    "Seconds from the request to the first SSE event of the response.",
    semconv=True,
)
INPUT_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_INPUT_TOKENS,
    "int",
    "`usage.input_tokens` (includes cached).",
    semconv=True,
)
OUTPUT_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS,
    "int",
    "`usage.output_tokens` (includes reasoning).",
    semconv=True,
)
CACHE_READ_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "int",
    "`usage.input_tokens_details.cached_tokens`.",
    semconv=True,
)
REASONING_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "int",
    "`usage.output_tokens_details.reasoning_tokens`.",
    semconv=True,
)
SERVICE_TIER = _attr(
    _openai.OPENAI_RESPONSE_SERVICE_TIER, "string", "`response.service_tier`.", semconv=True
)
OUTPUT_MESSAGES = _attr(
    _gen_ai.GEN_AI_OUTPUT_MESSAGES,
    "string (JSON)",
    "Output text, only with content capture on; truncated to the configured bound.",
    semconv=True,
)
SERVER_ADDRESS = _attr(_server.SERVER_ADDRESS, "string", "API host, when known.", semconv=True)
SERVER_PORT = _attr(_server.SERVER_PORT, "int", "API port, when known.", semconv=True)
HTTP_STATUS_CODE = _attr(
    _http.HTTP_RESPONSE_STATUS_CODE, "int", "Status of the HTTP response, when known.", semconv=True
)
ERROR_TYPE = _attr(
    _error.ERROR_TYPE,
    "string",
    "On every outcome but `completed`/`incomplete`: the provider's error code (terminal "
    "`response.failed` first, then the `error` event, then the HTTP error body), else the "
    "exception's qualified name, else the HTTP status code, else `_OTHER`.",
    semconv=True,
)

# --- span attributes of otel-responses --------------------------------------------------------
OUTCOME = _attr(
    "otel_responses.stream.outcome",
    "string",
    "How the stream ended: `completed`, `incomplete`, `failed` (`response.failed`), `error` "
    "(an `error` event or an HTTP error, and no terminal event), `truncated` (bytes ended "
    "with no terminal event), `transport_error`, `cancelled` (the app stopped reading or "
    "raised), `abandoned` (the stream object was dropped unfinished).",
)
TIME_TO_FIRST_TOKEN = _attr(
    "otel_responses.time_to_first_token",
    "double",
    "Seconds from the request to the first `*.delta` event.",
)
EVENT_COUNT = _attr("otel_responses.events.count", "int", "SSE events received.")
DELTA_COUNT = _attr("otel_responses.deltas.count", "int", "`*.delta` events received.")
ANOMALY_COUNT = _attr(
    "otel_responses.anomalies.count",
    "int",
    "Events that were undecodable, late (after the terminal event), repeated, or oversized.",
)
REQUEST_ID = _attr("otel_responses.request_id", "string", "The `x-request-id` response header.")
HTTP_RETRY_COUNT = _attr(
    "otel_responses.http.retry_count",
    "int",
    "HTTP attempts beyond the first (the client's own retries of 429/5xx and of attempts that "
    "got no response).",
)
HTTP_ATTEMPT_NUMBER = _attr(
    "otel_responses.http.attempt_number", "int", "On `otel_responses.http.attempt`: 1, 2, ..."
)
RL_WINDOW = _attr(
    "otel_responses.rate_limit.window",
    "string",
    "Rate-limit window from the error message: `TPM`, `RPM`, `TPD`, `RPD`, `IPM`, ...",
)
RL_LIMIT = _attr("otel_responses.rate_limit.limit", "int", "`Limit N` from the message.")
RL_USED = _attr("otel_responses.rate_limit.used", "int", "`Used N` from the message.")
RL_REQUESTED = _attr(
    "otel_responses.rate_limit.requested", "int", "`Requested N` from the message."
)
RL_RETRY_AFTER = _attr(
    "otel_responses.rate_limit.retry_after",
    "double",
    "Seconds to wait: `retry-after-ms`, else `retry-after`, else the message's `try again in`.",
)
RL_ORGANIZATION = _attr(
    "otel_responses.rate_limit.organization",
    "string",
    "Organization id named in a rate-limit message (span only, never on metrics).",
)
RL_PROJECT = _attr(
    "otel_responses.rate_limit.project",
    "string",
    "Project id named in a rate-limit message (span only, never on metrics).",
)
RL_LIMIT_REQUESTS = _attr(
    "otel_responses.rate_limit.limit_requests", "int", "`x-ratelimit-limit-requests`."
)
RL_LIMIT_TOKENS = _attr(
    "otel_responses.rate_limit.limit_tokens", "int", "`x-ratelimit-limit-tokens`."
)
RL_REMAINING_REQUESTS = _attr(
    "otel_responses.rate_limit.remaining_requests", "int", "`x-ratelimit-remaining-requests`."
)
RL_REMAINING_TOKENS = _attr(
    "otel_responses.rate_limit.remaining_tokens", "int", "`x-ratelimit-remaining-tokens`."
)
RL_RESET_REQUESTS = _attr(
    "otel_responses.rate_limit.reset_requests",
    "double",
    "`x-ratelimit-reset-requests`, in seconds.",
)
RL_RESET_TOKENS = _attr(
    "otel_responses.rate_limit.reset_tokens", "double", "`x-ratelimit-reset-tokens`, in seconds."
)

# --- attributes on span events -----------------------------------------------------------------
EVENT_SEQUENCE = _attr(
    "otel_responses.event.sequence_number", "int", "On span events: the event's `sequence_number`."
)
EVENT_OUTPUT_INDEX = _attr(
    "otel_responses.event.output_index", "int", "On span events: the event's `output_index`."
)
EVENT_ITEM_TYPE = _attr(
    "otel_responses.event.item.type", "string", "On span events: `item.type` (`message`, ...)."
)
EVENT_ITEM_ID = _attr("otel_responses.event.item.id", "string", "On span events: `item.id`.")
EVENT_ITEM_STATUS = _attr(
    "otel_responses.event.item.status", "string", "On span events: `item.status`."
)
EVENT_RESPONSE_STATUS = _attr(
    "otel_responses.event.response.status",
    "string",
    "On span events: `response.status` of `response.*` lifecycle events.",
)
EVENT_ERROR_CODE = _attr(
    "otel_responses.event.error.code",
    "string",
    "On `error`/`response.failed` span events: the code.",
)
EVENT_ERROR_MESSAGE = _attr(
    "otel_responses.event.error.message",
    "string",
    "On `error`/`response.failed` span events: the message, with secrets and ids redacted.",
)
EVENT_ERROR_PARAM = _attr(
    "otel_responses.event.error.param", "string", "On `error` span events: `param`, if any."
)
ANOMALY_KIND = _attr(
    "otel_responses.anomaly.kind",
    "string",
    "`undecodable`, `after_terminal`, `repeated_sequence`, `oversized_line`.",
)
EVENT_TYPE = _attr(
    "otel_responses.event.type",
    "string",
    "SSE event type (metric attribute of `otel_responses.events`; on anomaly events).",
)
INTERNAL_ERROR_SITE = _attr(
    "otel_responses.internal_error.site",
    "string",
    "Metric attribute of `otel_responses.internal_errors`: which hook step failed.",
)

# --- span events --------------------------------------------------------------------------------
_EVENT_FIELDS = (
    EVENT_SEQUENCE,
    EVENT_OUTPUT_INDEX,
    EVENT_ITEM_TYPE,
    EVENT_ITEM_ID,
    EVENT_ITEM_STATUS,
    EVENT_RESPONSE_STATUS,
)
LIFECYCLE_EVENT = _event(
    "<SSE event type>",
    "One span event per non-delta SSE event, named by its type: `response.created`, "
    "`response.queued`, `response.in_progress`, `response.completed`, `response.failed`, "
    "`response.incomplete`, `error`, `*.added`, `*.done`, tool-call phases such as "
    "`response.web_search_call.searching`.",
    (*_EVENT_FIELDS, EVENT_ERROR_CODE, EVENT_ERROR_MESSAGE, EVENT_ERROR_PARAM),
)
ANOMALY_EVENT = _event(
    "otel_responses.anomaly",
    "An event that was undecodable, arrived after the terminal event, repeated a sequence "
    "number, or had a line over the length bound. Never changes the outcome. The first 32 of a "
    "stream become span events; all are counted.",
    (ANOMALY_KIND, EVENT_TYPE, EVENT_SEQUENCE),
)

HTTP_ATTEMPT_EVENT = _event(
    "otel_responses.http.attempt",
    "One per HTTP attempt the client made for this call; more than one means retries. An "
    "attempt answered by a response carries its status code (and `retry-after`); one that got "
    "no response (connection refused or reset, timeout) carries `error.type`, the exception's "
    "qualified name.",
    (HTTP_STATUS_CODE, HTTP_ATTEMPT_NUMBER, RL_RETRY_AFTER, ERROR_TYPE),
)

# --- metrics ------------------------------------------------------------------------------------
_COMMON = (OPERATION_NAME, PROVIDER_NAME, REQUEST_MODEL, SERVER_ADDRESS, SERVER_PORT)
_ENDED = (*_COMMON, RESPONSE_MODEL, ERROR_TYPE)
TOKEN_TYPE = _attr(
    _gen_ai.GEN_AI_TOKEN_TYPE, "string", "Metric attribute: `input` or `output`.", semconv=True
)
OPERATION_DURATION = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
    "histogram",
    "s",
    "Request to end of stream, one point per stream.",
    _ENDED,
    semconv=True,
)
TOKEN_USAGE = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
    "histogram",
    "{token}",
    "`input` and `output` tokens from `usage`, one point each per stream that reports usage.",
    (*_ENDED, TOKEN_TYPE),
    semconv=True,
)
TIME_TO_FIRST_CHUNK_METRIC = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    "histogram",
    "s",
    "Request to first SSE event, one point per stream that received one.",
    _ENDED,
    semconv=True,
)
TIME_PER_OUTPUT_CHUNK = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
    "histogram",
    "s",
    "Mean time between `*.delta` events, one point per stream with two or more deltas. The "
    "convention records a point per chunk; otel-responses aggregates per stream so the "
    "per-delta hot path never calls the metrics SDK.",
    _ENDED,
    semconv=True,
)
STREAMS = _metric(
    "otel_responses.streams",
    "counter",
    "{stream}",
    "Ended streams.",
    (*_ENDED, OUTCOME),
    semconv=False,
)
EVENTS = _metric(
    "otel_responses.events",
    "observable counter",
    "{event}",
    "SSE events received, by type (added once per stream and type when the stream ends).",
    (*_COMMON, EVENT_TYPE),
    semconv=False,
)
TIME_TO_FIRST_TOKEN_METRIC = _metric(
    "otel_responses.time_to_first_token",
    "histogram",
    "s",
    "Request to first `*.delta` event, one point per stream that received one.",
    _ENDED,
    semconv=False,
)
RATE_LIMIT_HITS = _metric(
    "otel_responses.rate_limit.hits",
    "counter",
    "{hit}",
    "Streams ended by a rate limit (`rate_limit_exceeded` or HTTP 429).",
    (*_COMMON, RL_WINDOW, ERROR_TYPE),
    semconv=False,
)
RATE_LIMIT_RETRY_AFTER = _metric(
    "otel_responses.rate_limit.retry_after",
    "histogram",
    "s",
    "The retry-after of each rate-limit hit that states one.",
    (*_COMMON, RL_WINDOW),
    semconv=False,
)
REMAINING_REQUESTS = _metric(
    "otel_responses.rate_limit.remaining_requests",
    "gauge",
    "{request}",
    "Last `x-ratelimit-remaining-requests` seen.",
    _COMMON,
    semconv=False,
)
REMAINING_TOKENS = _metric(
    "otel_responses.rate_limit.remaining_tokens",
    "gauge",
    "{token}",
    "Last `x-ratelimit-remaining-tokens` seen.",
    _COMMON,
    semconv=False,
)
LIMIT_REQUESTS = _metric(
    "otel_responses.rate_limit.limit_requests",
    "gauge",
    "{request}",
    "Last `x-ratelimit-limit-requests` seen (for headroom ratios).",
    _COMMON,
    semconv=False,
)
LIMIT_TOKENS = _metric(
    "otel_responses.rate_limit.limit_tokens",
    "gauge",
    "{token}",
    "Last `x-ratelimit-limit-tokens` seen (for headroom ratios).",
    _COMMON,
    semconv=False,
)
TOKEN_KIND = _attr(
    "otel_responses.token.kind",
    "string",
    "Metric attribute of `otel_responses.token.usage.details`: `cache_read` or `reasoning`.",
)
TOKEN_DETAILS = _metric(
    "otel_responses.token.usage.details",
    "histogram",
    "{token}",
    "Cached input tokens and reasoning output tokens, one point each per stream that reports "
    "them. Kept apart from `gen_ai.client.token.usage`, whose input and output already include "
    "them, so that summing that metric never double-counts.",
    (*_ENDED, TOKEN_KIND),
    semconv=False,
)
ANOMALIES = _metric(
    "otel_responses.anomalies",
    "observable counter",
    "{event}",
    "Anomalous events (see the `otel_responses.anomaly` span event).",
    (*_COMMON, ANOMALY_KIND),
    semconv=False,
)
INTERNAL_ERRORS = _metric(
    "otel_responses.internal_errors",
    "counter",
    "{error}",
    "Faults inside otel-responses, swallowed so the app's stream is untouched.",
    (INTERNAL_ERROR_SITE, ERROR_TYPE),
    semconv=False,
)

# --- log events (structlog) ----------------------------------------------------------------
_LOG_IDS = ("trace_id", "span_id")
LOG_START = _log(
    "otel_responses.stream.start", "debug", "A stream's span opened.", (*_LOG_IDS, REQUEST_MODEL)
)
LOG_FIRST_TOKEN = _log(
    "otel_responses.stream.first_token",
    "debug",
    "The first `*.delta` arrived.",
    (*_LOG_IDS, TIME_TO_FIRST_TOKEN),
)
LOG_FAILURE = _log(
    "otel_responses.stream.failure",
    "warning",
    "The provider reported an error; carries the code, redacted message and rate-limit facts.",
    (
        *_LOG_IDS,
        ERROR_TYPE,
        EVENT_ERROR_MESSAGE,
        RL_WINDOW,
        RL_LIMIT,
        RL_USED,
        RL_REQUESTED,
        RL_RETRY_AFTER,
    ),
)
LOG_END = _log(
    "otel_responses.stream.end",
    "info",
    "A stream's span ended.",
    (*_LOG_IDS, OUTCOME, ERROR_TYPE, "duration_s", EVENT_COUNT),
)
LOG_CONTENT = _log(
    "gen_ai.client.inference.operation.details",
    "info",
    "Output text, only when content capture is `event_only` or `span_and_event`.",
    (*_LOG_IDS, OUTPUT_MESSAGES),
)
LOG_INTERNAL_ERROR = _log(
    "otel_responses.internal_error",
    "error",
    "A fault inside otel-responses (once per site and exception type per minute).",
    (INTERNAL_ERROR_SITE, ERROR_TYPE),
)

OTHER = "_OTHER"
"""The documented fallback for `error.type` and for event types beyond the cardinality cap."""


def render_markdown() -> str:
    """The registry as the Markdown kept in ``docs/telemetry.md``."""
    lines = [
        "# Telemetry emitted by otel-responses",
        "",
        "Generated by `otel-responses registry` from `otel_responses/_registry.py`; a test",
        "fails when this file and the code disagree. *semconv* marks names defined by the",
        "OpenTelemetry GenAI semantic conventions; the rest are otel-responses' own.",
        "",
    ]
    for kind, header in (
        ("attribute", "| name | type | semconv | meaning |"),
        ("span event", "| name | attributes | meaning |"),
        ("metric", "| name | instrument | unit | semconv | attributes | meaning |"),
        ("log event", "| event | level | fields | meaning |"),
    ):
        lines += [f"## {kind.capitalize()}s", "", header, "|" + "---|" * (header.count("|") - 1)]
        for e in REGISTRY:
            if e.kind != kind:
                continue
            sc = "yes" if e.semconv else ""
            attrs = ", ".join(f"`{a}`" for a in e.attributes)
            if kind == "attribute":
                lines.append(f"| `{e.name}` | {e.type} | {sc} | {e.brief} |")
            elif kind == "span event":
                lines.append(f"| `{e.name}` | {attrs} | {e.brief} |")
            elif kind == "metric":
                lines.append(f"| `{e.name}` | {e.type} | `{e.unit}` | {sc} | {attrs} | {e.brief} |")
            else:
                lines.append(f"| `{e.name}` | {e.type} | {attrs} | {e.brief} |")
        lines.append("")
    return "\n".join(lines)
