"""The stream's metrics, recorded once when it ends (and the headroom gauges per response).

The metrics SDK is touched once per stream, never per delta: a stream's per-type counts and
timings are aggregated by the stream core and recorded here in one pass, in the span's context so
that histogram points carry exemplars linking to the trace. Counts (streams by outcome, events by
type, anomalies) are added to in-process totals the SDK reads when it collects
(:class:`~._instruments.CumulativeCounter`): each SDK call costs as much as several deltas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from .. import _registry as names
from .._stream import Ending, Stream
from ..dialects._facts import RateLimit
from ._instruments import AttributeKey, Instruments

_REASON = re.compile(r"[A-Za-z_]{1,40}")
"""Finish reasons that may label a metric as they are (a hostile server cannot mint values)."""


def _folded(counts: Mapping[str, int], metric_types: re.Pattern[str]) -> dict[str, int]:
    """``counts`` with the event types outside ``metric_types`` summed as ``_OTHER``."""
    folded: dict[str, int] = {}
    for event_type, count in counts.items():
        label = event_type if metric_types.fullmatch(event_type) else names.OTHER
        folded[label] = folded.get(label, 0) + count
    return folded


def _key(attributes: Mapping[str, Any]) -> AttributeKey:
    """An attribute set as a :class:`CumulativeCounter` key (a list-valued attribute of the
    app's made hashable)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes.items()))


def record_headroom(instruments: Instruments, facts: RateLimit, common: Mapping[str, Any]) -> None:
    """Set the headroom gauges from one response's rate-limit headers."""
    for field, gauge in instruments.headroom:
        value = getattr(facts, field)
        if value is not None:
            gauge.set(value, common)


def record_stream(
    instruments: Instruments,
    stream: Stream,
    ending: Ending,
    common: Mapping[str, Any],
    span: trace.Span,
    metric_types: re.Pattern[str],
    finish_reasons: list[str],
) -> None:
    """Every metric point of one ended stream (event types outside ``metric_types`` are
    counted as ``_OTHER``)."""
    ended = dict(common)
    if stream.response_model:
        ended[names.RESPONSE_MODEL] = stream.response_model
    if ending.error_type is not None:
        ended[names.ERROR_TYPE] = ending.error_type
    ctx = trace.set_span_in_context(span)
    instruments.duration.record((ending.end_ns - stream.start_ns) / 1e9, ended, ctx)
    usage = stream.usage
    if usage is not None:
        for token_type, value in (("input", usage.input), ("output", usage.output)):
            if value is not None:
                instruments.token_usage.record(value, {**ended, names.TOKEN_TYPE: token_type}, ctx)
        for kind, value in (
            ("cache_read", usage.cache_read),
            ("cache_creation", usage.cache_creation),
            ("reasoning", usage.reasoning),
        ):
            if value is not None:
                instruments.token_details.record(value, {**ended, names.TOKEN_KIND: kind}, ctx)
    ttfc = stream.seconds(stream.first_chunk_ns)
    if ttfc is not None:
        instruments.time_to_first_chunk.record(ttfc, ended, ctx)
    ttft = stream.seconds(stream.first_delta_ns)
    if ttft is not None:
        instruments.time_to_first_token.record(ttft, ended, ctx)
    mean_gap = stream.time_per_output_chunk()
    if mean_gap is not None:
        instruments.time_per_output_chunk.record(mean_gap, ended, ctx)
    ended_as = dict(ended)  # (the SDK may hold on to the dicts it was given)
    if finish_reasons:
        reason = finish_reasons[0]
        ended_as[names.FINISH_REASON] = reason if _REASON.fullmatch(reason) else names.OTHER
    instruments.streams.add_counts(_key(ended_as), {ending.outcome: 1})
    common_key = _key(common)
    instruments.events.add_counts(common_key, _folded(stream.counts, metric_types))
    if stream.anomalies:
        instruments.anomalies.add_counts(common_key, stream.anomalies)
    if stream.rate_limited(ending):
        hit = dict(common)
        facts = stream.rate_limit
        if facts.window is not None:
            hit[names.RL_WINDOW] = facts.window
        if facts.quota_id is not None:
            hit[names.RL_QUOTA_ID] = facts.quota_id
        if facts.retry_after is not None:
            instruments.retry_after.record(facts.retry_after, hit, ctx)
        hit[names.ERROR_TYPE] = ending.error_type
        instruments.rate_limit_hits.add(1, hit, ctx)
