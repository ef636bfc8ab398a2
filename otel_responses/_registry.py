"""Every telemetry name otel-responses emits, defined once.

Each constant is both the name used by the code and an entry in :data:`REGISTRY`, from which
``docs/telemetry.md`` is generated (``otel-responses registry``) and checked by a test, so the
document cannot drift from what the code emits. Names the OpenTelemetry GenAI semantic
conventions define come from ``opentelemetry-semantic-conventions``; only what they lack lives
under the ``otel_responses.`` prefix.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.attributes import openai_attributes as _openai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes as _error
from opentelemetry.semconv.attributes import http_attributes as _http
from opentelemetry.semconv.attributes import server_attributes as _server


class EntryKind(enum.Enum):
    """What a documented name is."""

    ATTRIBUTE = "attribute"
    """On spans, span events and metric points."""
    SPAN_EVENT = "span event"
    METRIC = "metric"
    LOG_EVENT = "log event"


class Instrument(enum.Enum):
    """The OpenTelemetry instrument a metric is recorded with."""

    HISTOGRAM = "histogram"
    COUNTER = "counter"
    OBSERVABLE_COUNTER = "observable counter"
    GAUGE = "gauge"


class Entry(NamedTuple):
    """One documented name."""

    kind: EntryKind
    name: str
    type: str
    """Value type; for a metric its instrument's name; for a log event its level."""
    unit: str
    brief: str
    semconv: bool
    attributes: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    """A histogram's advised explicit bucket boundaries."""


REGISTRY: list[Entry] = []
METRICS: dict[str, Entry] = {}
"""Metric entries by name: the instruments are built from these (one copy of unit and brief)."""

# Bucket boundaries the GenAI semantic conventions advise.
DURATION_BUCKETS = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01 doubling to 81.92
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
CHUNK_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5)
"""Time per output chunk is sub-second: finer low buckets than the duration ones."""


def _attr(name: str, type_: str, brief: str, *, semconv: bool = False) -> str:
    REGISTRY.append(Entry(EntryKind.ATTRIBUTE, name, type_, "", brief, semconv))
    return name


def _event(name: str, brief: str, attributes: tuple[str, ...] = ()) -> str:
    REGISTRY.append(Entry(EntryKind.SPAN_EVENT, name, "", "", brief, False, attributes))
    return name


def _metric(
    name: str,
    instrument: Instrument,
    unit: str,
    brief: str,
    attributes: tuple[str, ...],
    *,
    semconv: bool,
    buckets: tuple[float, ...] = (),
) -> str:
    entry = Entry(
        EntryKind.METRIC, name, instrument.value, unit, brief, semconv, attributes, buckets
    )
    REGISTRY.append(entry)
    METRICS[name] = entry
    return name


def _log(name: str, level: str, brief: str, fields: tuple[str, ...]) -> str:
    REGISTRY.append(Entry(EntryKind.LOG_EVENT, name, level, "", brief, False, fields))
    return name


# --- span attributes from the semantic conventions -------------------------------------------
OPERATION_NAME = _attr(
    _gen_ai.GEN_AI_OPERATION_NAME,
    "string",
    "`chat` (Responses, Chat Completions, Anthropic Messages) or `generate_content` (Gemini).",
    semconv=True,
)
PROVIDER_NAME = _attr(
    _gen_ai.GEN_AI_PROVIDER_NAME,
    "string",
    "`openai`, `azure.ai.openai`, `groq`, `deepseek`, `mistral_ai`, `x_ai`, `perplexity` (by the "
    "server's host; `openai` for any other OpenAI-compatible server), `anthropic`, `gcp.gemini`, "
    "`gcp.vertex_ai`.",
    semconv=True,
)
REQUEST_MODEL = _attr(
    _gen_ai.GEN_AI_REQUEST_MODEL, "string", "Model named in the request.", semconv=True
)
REQUEST_STREAM = _attr(
    _gen_ai.GEN_AI_REQUEST_STREAM,
    "boolean",
    "Whether the request asked for a stream.",
    semconv=True,
)
API_TYPE = _attr(
    _openai.OPENAI_API_TYPE,
    "string",
    "`responses` or `chat_completions` (OpenAI dialects only; also a metric attribute).",
    semconv=True,
)
RESPONSE_ID = _attr(
    _gen_ai.GEN_AI_RESPONSE_ID,
    "string",
    "The response's id, from the first event carrying it.",
    semconv=True,
)
RESPONSE_MODEL = _attr(
    _gen_ai.GEN_AI_RESPONSE_MODEL,
    "string",
    "The model as the server reports it.",
    semconv=True,
)
FINISH_REASONS = _attr(
    _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS,
    "string[]",
    "The provider's finish reasons, one per choice or candidate (Responses: `stop`, or the "
    "`incomplete_details.reason`; Chat: `stop`, `length`, `tool_calls`, `content_filter`...; "
    "Anthropic: the `stop_reason`; Gemini: the `finishReason` or the prompt's `blockReason`); "
    "`error` when the stream failed.",
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
    "Input tokens, cached ones included (for Anthropic: `input_tokens` + "
    "`cache_read_input_tokens` + `cache_creation_input_tokens`; for Gemini: "
    "`promptTokenCount`, which already includes `cachedContentTokenCount`; "
    "`toolUsePromptTokenCount` is not counted).",
    semconv=True,
)
OUTPUT_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS,
    "int",
    "Output tokens, reasoning included (for Gemini: `candidatesTokenCount` + "
    "`thoughtsTokenCount`; for Anthropic: the last cumulative `output_tokens`).",
    semconv=True,
)
CACHE_READ_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "int",
    "Input tokens read from the provider's cache (`cached_tokens`, `cache_read_input_tokens`, "
    "`cachedContentTokenCount`).",
    semconv=True,
)
CACHE_CREATION_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "int",
    "Input tokens written to the provider's cache (Anthropic `cache_creation_input_tokens`).",
    semconv=True,
)
REASONING_TOKENS = _attr(
    _gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "int",
    "Reasoning output tokens (`reasoning_tokens`, Gemini `thoughtsTokenCount`, Anthropic "
    "`output_tokens_details.thinking_tokens`).",
    semconv=True,
)
SERVICE_TIER = _attr(
    _openai.OPENAI_RESPONSE_SERVICE_TIER, "string", "The `service_tier` reported.", semconv=True
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
    "On every outcome but `completed`/`incomplete`: the provider's error code (a terminal "
    "event's error first, then the stream's error event, then the HTTP error body; Anthropic: "
    "the error's `type`; Gemini: the error's `status`), else the exception's qualified name, "
    "else the HTTP status code, else `_OTHER`.",
    semconv=True,
)

# --- span attributes of otel-responses --------------------------------------------------------
OUTCOME = _attr(
    "otel_responses.stream.outcome",
    "string",
    "How the stream ended: `completed`, `incomplete` (stopped by a limit or a policy), `failed` "
    "(a terminal failure event), `error` (an error event or an HTTP error, and no terminal "
    "event), `truncated` (bytes ended with no terminal event), `transport_error`, `cancelled` "
    "(the app stopped reading or raised), `abandoned` (the stream object was dropped "
    "unfinished).",
)
TIME_TO_FIRST_TOKEN = _attr(
    "otel_responses.time_to_first_token",
    "double",
    "Seconds from the request to the first output delta (text, tool-call arguments, refusal or "
    "reasoning).",
)
EVENT_COUNT = _attr(
    "otel_responses.events.count",
    "int",
    "SSE events received (terminators such as `data: [DONE]` are not events).",
)
DELTA_COUNT = _attr("otel_responses.deltas.count", "int", "Output deltas received.")
ANOMALY_COUNT = _attr(
    "otel_responses.anomalies.count",
    "int",
    "Events that were undecodable, late (after the terminal event), repeated, or oversized.",
)
REQUEST_ID = _attr(
    "otel_responses.request_id",
    "string",
    "The provider's request id header (`x-request-id`, Anthropic `request-id`).",
)
HTTP_RETRY_COUNT = _attr(
    "otel_responses.http.retry_count",
    "int",
    "HTTP attempts beyond the first (the client's own retries of 429/5xx and of attempts that "
    "got no response).",
)
HTTP_ATTEMPT_NUMBER = _attr(
    "otel_responses.http.attempt_number", "int", "On `otel_responses.http.attempt`: 1, 2, ..."
)
PROXY_UPSTREAM = _attr(
    "otel_responses.proxy.upstream",
    "string",
    "The upstream a stream went to through `otel-responses proxy` (span and metric attribute).",
)
RL_WINDOW = _attr(
    "otel_responses.rate_limit.window",
    "string",
    "Rate-limit window: `TPM`, `RPM`, `TPD`, `RPD`, `IPM`, from an OpenAI error message or a "
    "Gemini quota id.",
)
RL_LIMIT = _attr(
    "otel_responses.rate_limit.limit",
    "int",
    "The limit hit: `Limit N` of an OpenAI message, a Gemini `quotaValue`.",
)
RL_USED = _attr("otel_responses.rate_limit.used", "int", "`Used N` from the message.")
RL_REQUESTED = _attr(
    "otel_responses.rate_limit.requested", "int", "`Requested N` from the message."
)
RL_RETRY_AFTER = _attr(
    "otel_responses.rate_limit.retry_after",
    "double",
    "Seconds to wait: `retry-after-ms`, else `retry-after`, else the message's `try again in`, "
    "else Gemini's `RetryInfo.retryDelay`.",
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
RL_QUOTA_ID = _attr(
    "otel_responses.rate_limit.quota_id",
    "string",
    "Gemini `QuotaFailure` violation `quotaId` (e.g. "
    "`GenerateRequestsPerMinutePerProjectPerModel-FreeTier`); also on rate-limit hits.",
)
RL_QUOTA_METRIC = _attr(
    "otel_responses.rate_limit.quota_metric",
    "string",
    "Gemini `QuotaFailure` violation `quotaMetric`.",
)
RL_LIMIT_REQUESTS = _attr(
    "otel_responses.rate_limit.limit_requests",
    "int",
    "Request limit header (`x-ratelimit-limit-requests`, `anthropic-ratelimit-requests-limit`).",
)
RL_LIMIT_TOKENS = _attr(
    "otel_responses.rate_limit.limit_tokens",
    "int",
    "Token limit header (`x-ratelimit-limit-tokens`, `anthropic-ratelimit-tokens-limit`).",
)
RL_LIMIT_INPUT_TOKENS = _attr(
    "otel_responses.rate_limit.limit_input_tokens",
    "int",
    "`anthropic-ratelimit-input-tokens-limit`.",
)
RL_LIMIT_OUTPUT_TOKENS = _attr(
    "otel_responses.rate_limit.limit_output_tokens",
    "int",
    "`anthropic-ratelimit-output-tokens-limit`.",
)
RL_REMAINING_REQUESTS = _attr(
    "otel_responses.rate_limit.remaining_requests",
    "int",
    "Requests remaining (`x-ratelimit-remaining-requests`, "
    "`anthropic-ratelimit-requests-remaining`).",
)
RL_REMAINING_TOKENS = _attr(
    "otel_responses.rate_limit.remaining_tokens",
    "int",
    "Tokens remaining (`x-ratelimit-remaining-tokens`, `anthropic-ratelimit-tokens-remaining`).",
)
RL_REMAINING_INPUT_TOKENS = _attr(
    "otel_responses.rate_limit.remaining_input_tokens",
    "int",
    "`anthropic-ratelimit-input-tokens-remaining`.",
)
RL_REMAINING_OUTPUT_TOKENS = _attr(
    "otel_responses.rate_limit.remaining_output_tokens",
    "int",
    "`anthropic-ratelimit-output-tokens-remaining`.",
)
RL_RESET_REQUESTS = _attr(
    "otel_responses.rate_limit.reset_requests",
    "double",
    "Seconds until the request budget resets (`x-ratelimit-reset-requests`; Anthropic's RFC "
    "3339 `anthropic-ratelimit-requests-reset` as seconds from the response).",
)
RL_RESET_TOKENS = _attr(
    "otel_responses.rate_limit.reset_tokens",
    "double",
    "Seconds until the token budget resets (`x-ratelimit-reset-tokens`, "
    "`anthropic-ratelimit-tokens-reset`).",
)
RL_RESET_INPUT_TOKENS = _attr(
    "otel_responses.rate_limit.reset_input_tokens",
    "double",
    "Seconds until `anthropic-ratelimit-input-tokens-reset`.",
)
RL_RESET_OUTPUT_TOKENS = _attr(
    "otel_responses.rate_limit.reset_output_tokens",
    "double",
    "Seconds until `anthropic-ratelimit-output-tokens-reset`.",
)

# --- attributes on span events -----------------------------------------------------------------
EVENT_SEQUENCE = _attr(
    "otel_responses.event.sequence_number", "int", "On span events: the event's sequence number."
)
EVENT_OUTPUT_INDEX = _attr(
    "otel_responses.event.output_index",
    "int",
    "On span events: the output it concerns (Responses `output_index`, Anthropic content block "
    "`index`, Chat choice `index`, Gemini candidate `index`).",
)
EVENT_ITEM_TYPE = _attr(
    "otel_responses.event.item.type",
    "string",
    "On span events: the item's or content block's type (`message`, `function_call`, `text`, "
    "`tool_use`, `thinking`...).",
)
EVENT_ITEM_ID = _attr(
    "otel_responses.event.item.id", "string", "On span events: the item's or tool call's id."
)
EVENT_ITEM_STATUS = _attr(
    "otel_responses.event.item.status",
    "string",
    "On span events: the item's status, or the finish reason a choice or candidate states.",
)
EVENT_RESPONSE_STATUS = _attr(
    "otel_responses.event.response.status",
    "string",
    "On span events: the response's status as the event states it.",
)
EVENT_ERROR_CODE = _attr(
    "otel_responses.event.error.code",
    "string",
    "On error and failure span events: the code.",
)
EVENT_ERROR_MESSAGE = _attr(
    "otel_responses.event.error.message",
    "string",
    "On error and failure span events: the message, with secrets and ids redacted.",
)
EVENT_ERROR_PARAM = _attr(
    "otel_responses.event.error.param", "string", "On error span events: `param`, if any."
)
ANOMALY_KIND = _attr(
    "otel_responses.anomaly.kind",
    "string",
    "`undecodable`, `after_terminal`, `repeated_sequence`, `oversized_line`.",
)
EVENT_TYPE = _attr(
    "otel_responses.event.type",
    "string",
    "Event type (metric attribute of `otel_responses.events`; on anomaly events). Gemini "
    "frames have no type; theirs are otel-responses' names: `gemini.text.delta`, "
    "`gemini.thought.delta`, `gemini.function_call.delta`, `gemini.executable_code.delta`, "
    "`gemini.code_execution_result.delta`, `gemini.inline_data.delta` (the frame's most "
    "specific part), `gemini.candidate.finish`, `gemini.prompt.blocked`, `gemini.chunk`, "
    "`error`. Anthropic deltas are `content_block_delta.<delta type>` (`.text_delta`, "
    "`.input_json_delta`, `.thinking_delta`, `.citations_delta`, `.compaction_delta`; "
    "`.signature_delta` is counted but is no output), the keep-alive `ping`.",
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
    "<event type>",
    "One span event per lifecycle event, named by its type. Responses: `response.created`, "
    "`response.queued`, `response.in_progress`, `response.completed`, `response.failed`, "
    "`response.incomplete`, `error`, `*.added`, `*.done`, tool-call phases such as "
    "`response.web_search_call.searching`. Chat Completions (whose chunks have no type, so "
    "these names are otel-responses'): `chat.completion.start` (the first chunk), "
    "`chat.completion.choice.finish` (a choice's finish reason), `chat.completion.usage`, "
    "`chat.completion.filter` (Azure prompt filter results, moderation), `error`. Anthropic: "
    "`message_start`, `content_block_start`, `content_block_stop`, `message_delta`, "
    "`message_stop`, `error`. Gemini: `gemini.candidate.finish`, `gemini.prompt.blocked`.",
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
COMMON_METRIC_ATTRIBUTES = (
    OPERATION_NAME,
    PROVIDER_NAME,
    API_TYPE,
    REQUEST_MODEL,
    SERVER_ADDRESS,
    SERVER_PORT,
    PROXY_UPSTREAM,
)
"""On every metric point of a stream (each when known)."""
_COMMON = COMMON_METRIC_ATTRIBUTES
_ENDED = (*_COMMON, RESPONSE_MODEL, ERROR_TYPE)
TOKEN_TYPE = _attr(
    _gen_ai.GEN_AI_TOKEN_TYPE, "string", "Metric attribute: `input` or `output`.", semconv=True
)
OPERATION_DURATION = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
    Instrument.HISTOGRAM,
    "s",
    "Request to end of stream, one point per stream.",
    _ENDED,
    semconv=True,
    buckets=DURATION_BUCKETS,
)
TOKEN_USAGE = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
    Instrument.HISTOGRAM,
    "{token}",
    "`input` and `output` tokens, one point each per stream that reports usage.",
    (*_ENDED, TOKEN_TYPE),
    semconv=True,
    buckets=TOKEN_BUCKETS,
)
TIME_TO_FIRST_CHUNK_METRIC = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    Instrument.HISTOGRAM,
    "s",
    "Request to first SSE event, one point per stream that received one.",
    _ENDED,
    semconv=True,
    buckets=DURATION_BUCKETS,
)
TIME_PER_OUTPUT_CHUNK = _metric(
    _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
    Instrument.HISTOGRAM,
    "s",
    "Mean time between output deltas, one point per stream with two or more deltas. The "
    "convention records a point per chunk; otel-responses aggregates per stream so the "
    "per-delta hot path never calls the metrics SDK.",
    _ENDED,
    semconv=True,
    buckets=CHUNK_BUCKETS,
)
FINISH_REASON = _attr(
    "otel_responses.stream.finish_reason",
    "string",
    "Metric attribute of `otel_responses.streams`: the first of `gen_ai.response.finish_reasons` "
    "(`stop`, `length`, `max_tokens`, `MAX_TOKENS`, `content_filter`, `SAFETY`, `refusal`, "
    "`error`...); a value that is not a plain word is `_OTHER`. The conventions keep finish "
    "reasons off metrics; dashboards need them by provider.",
)
STREAMS = _metric(
    "otel_responses.streams",
    Instrument.OBSERVABLE_COUNTER,
    "{stream}",
    "Ended streams (added when a stream ends; totals read at each export, so no exemplars: "
    "the histograms carry them).",
    (*_ENDED, OUTCOME, FINISH_REASON),
    semconv=False,
)
EVENTS = _metric(
    "otel_responses.events",
    Instrument.OBSERVABLE_COUNTER,
    "{event}",
    "Events received, by type (added once per stream and type when the stream ends).",
    (*_COMMON, EVENT_TYPE),
    semconv=False,
)
TIME_TO_FIRST_TOKEN_METRIC = _metric(
    "otel_responses.time_to_first_token",
    Instrument.HISTOGRAM,
    "s",
    "Request to first output delta, one point per stream that received one.",
    _ENDED,
    semconv=False,
    buckets=DURATION_BUCKETS,
)
RATE_LIMIT_HITS = _metric(
    "otel_responses.rate_limit.hits",
    Instrument.COUNTER,
    "{hit}",
    "Streams ended by a rate limit or quota (`rate_limit_exceeded`, `rate_limit_error`, "
    "`RESOURCE_EXHAUSTED`, or HTTP 429).",
    (*_COMMON, RL_WINDOW, RL_QUOTA_ID, ERROR_TYPE),
    semconv=False,
)
RATE_LIMIT_RETRY_AFTER = _metric(
    "otel_responses.rate_limit.retry_after",
    Instrument.HISTOGRAM,
    "s",
    "The retry-after of each rate-limit hit that states one.",
    (*_COMMON, RL_WINDOW, RL_QUOTA_ID),
    semconv=False,
    buckets=DURATION_BUCKETS,
)
REMAINING_REQUESTS = _metric(
    "otel_responses.rate_limit.remaining_requests",
    Instrument.GAUGE,
    "{request}",
    "Last requests-remaining header seen.",
    _COMMON,
    semconv=False,
)
REMAINING_TOKENS = _metric(
    "otel_responses.rate_limit.remaining_tokens",
    Instrument.GAUGE,
    "{token}",
    "Last tokens-remaining header seen.",
    _COMMON,
    semconv=False,
)
REMAINING_INPUT_TOKENS = _metric(
    "otel_responses.rate_limit.remaining_input_tokens",
    Instrument.GAUGE,
    "{token}",
    "Last input-tokens-remaining header seen (Anthropic).",
    _COMMON,
    semconv=False,
)
REMAINING_OUTPUT_TOKENS = _metric(
    "otel_responses.rate_limit.remaining_output_tokens",
    Instrument.GAUGE,
    "{token}",
    "Last output-tokens-remaining header seen (Anthropic).",
    _COMMON,
    semconv=False,
)
LIMIT_REQUESTS = _metric(
    "otel_responses.rate_limit.limit_requests",
    Instrument.GAUGE,
    "{request}",
    "Last request-limit header seen (for headroom ratios).",
    _COMMON,
    semconv=False,
)
LIMIT_TOKENS = _metric(
    "otel_responses.rate_limit.limit_tokens",
    Instrument.GAUGE,
    "{token}",
    "Last token-limit header seen (for headroom ratios).",
    _COMMON,
    semconv=False,
)
LIMIT_INPUT_TOKENS = _metric(
    "otel_responses.rate_limit.limit_input_tokens",
    Instrument.GAUGE,
    "{token}",
    "Last input-token-limit header seen (Anthropic).",
    _COMMON,
    semconv=False,
)
LIMIT_OUTPUT_TOKENS = _metric(
    "otel_responses.rate_limit.limit_output_tokens",
    Instrument.GAUGE,
    "{token}",
    "Last output-token-limit header seen (Anthropic).",
    _COMMON,
    semconv=False,
)
TOKEN_KIND = _attr(
    "otel_responses.token.kind",
    "string",
    "Metric attribute of `otel_responses.token.usage.details`: `cache_read`, "
    "`cache_creation` or `reasoning`.",
)
TOKEN_DETAILS = _metric(
    "otel_responses.token.usage.details",
    Instrument.HISTOGRAM,
    "{token}",
    "Cached (read and written) input tokens and reasoning output tokens, one point each per "
    "stream that reports them. Kept apart from `gen_ai.client.token.usage`, whose input and "
    "output already include them, so that summing that metric never double-counts.",
    (*_ENDED, TOKEN_KIND),
    semconv=False,
    buckets=TOKEN_BUCKETS,
)
ANOMALIES = _metric(
    "otel_responses.anomalies",
    Instrument.OBSERVABLE_COUNTER,
    "{event}",
    "Anomalous events (see the `otel_responses.anomaly` span event).",
    (*_COMMON, ANOMALY_KIND),
    semconv=False,
)
INTERNAL_ERRORS = _metric(
    "otel_responses.internal_errors",
    Instrument.COUNTER,
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
    "The first output delta arrived.",
    (*_LOG_IDS, TIME_TO_FIRST_TOKEN),
)
LOG_FAILURE = _log(
    "otel_responses.stream.failure",
    "warning",
    "The provider reported an error; carries the code, redacted message and rate-limit facts.",
    (
        *_LOG_IDS,
        ERROR_TYPE,
        PROVIDER_NAME,
        EVENT_ERROR_MESSAGE,
        RL_WINDOW,
        RL_LIMIT,
        RL_USED,
        RL_REQUESTED,
        RL_RETRY_AFTER,
        RL_QUOTA_ID,
    ),
)
LOG_END = _log(
    "otel_responses.stream.end",
    "info",
    "A stream's span ended.",
    (*_LOG_IDS, OUTCOME, ERROR_TYPE, PROVIDER_NAME, "duration_s", EVENT_COUNT),
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
