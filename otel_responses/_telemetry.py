"""Tracer and metric instruments, created once per provider and shared by every stream.

Creating instruments per stream would cost more than the stream's whole hot path; they are cached
per provider (weakly, so a test's or an app's discarded provider is not kept alive).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.semconv.schemas import Schemas

from . import _registry as names
from ._version import __version__

_SCOPE = "otel_responses"
_SCHEMA_URL = Schemas.V1_41_1.value

# Bucket boundaries the GenAI semantic conventions advise.
DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
# Time per output chunk is sub-second; finer low buckets than the duration ones.
CHUNK_BUCKETS = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
)


AttributeKey = tuple[tuple[str, Any], ...]


class CumulativeCounter:
    """A counter whose totals live in a dict and reach the SDK only when it collects.

    A stream adds one point per event type it saw; through a synchronous counter that is one
    SDK call (several µs, attribute validation and hashing) per type per stream. Here an add is
    a dict update under a lock, and the SDK reads the totals through an observable counter's
    callback once per export. The number of attribute sets is capped at ``MAX_SERIES``;
    beyond it, adds fold into one set whose ``otel_responses.event.type`` (or anomaly kind)
    is ``_OTHER``, so a hostile server cannot grow memory or cardinality without bound.
    """

    MAX_SERIES = 2048

    def __init__(self, meter: metrics.Meter, name: str, unit: str, description: str) -> None:
        self._totals: dict[AttributeKey, int] = {}
        self._lock = threading.Lock()
        meter.create_observable_counter(name, [self._observe], unit, description)

    def add(self, amount: int, attributes: AttributeKey, overflow: AttributeKey) -> None:
        """Add ``amount`` for ``attributes`` (a sorted items tuple); ``overflow`` is the set to
        count under once ``MAX_SERIES`` sets exist."""
        with self._lock:
            totals = self._totals
            if attributes not in totals and len(totals) >= self.MAX_SERIES:
                attributes = overflow
            totals[attributes] = totals.get(attributes, 0) + amount

    def _observe(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        with self._lock:
            items = list(self._totals.items())
        return [metrics.Observation(total, dict(key)) for key, total in items]


class Instruments:
    """Every instrument named in the registry, on one meter."""

    def __init__(self, meter: metrics.Meter) -> None:
        hist = meter.create_histogram
        count = meter.create_counter
        self.duration = hist(
            names.OPERATION_DURATION,
            "s",
            "GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.token_usage = hist(
            names.TOKEN_USAGE,
            "{token}",
            "Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.time_to_first_chunk = hist(
            names.TIME_TO_FIRST_CHUNK_METRIC,
            "s",
            "Time to the first chunk of the stream.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.time_per_output_chunk = hist(
            names.TIME_PER_OUTPUT_CHUNK,
            "s",
            "Mean time between output chunks of a stream.",
            explicit_bucket_boundaries_advisory=CHUNK_BUCKETS,
        )
        self.time_to_first_token = hist(
            names.TIME_TO_FIRST_TOKEN_METRIC,
            "s",
            "Time to the first output delta.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.retry_after = hist(
            names.RATE_LIMIT_RETRY_AFTER,
            "s",
            "Retry-after of rate-limit hits.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.streams = count(names.STREAMS, "{stream}", "Ended streams by outcome.")
        self.events = CumulativeCounter(meter, names.EVENTS, "{event}", "SSE events by type.")
        self.rate_limit_hits = count(names.RATE_LIMIT_HITS, "{hit}", "Rate-limit hits.")
        self.anomalies = CumulativeCounter(
            meter, names.ANOMALIES, "{event}", "Anomalous SSE events."
        )
        self.internal_errors = count(
            names.INTERNAL_ERRORS, "{error}", "Faults inside otel-responses, swallowed."
        )
        self.remaining_requests = meter.create_gauge(
            names.REMAINING_REQUESTS, "{request}", "x-ratelimit-remaining-requests."
        )
        self.remaining_tokens = meter.create_gauge(
            names.REMAINING_TOKENS, "{token}", "x-ratelimit-remaining-tokens."
        )
        self.limit_requests = meter.create_gauge(
            names.LIMIT_REQUESTS, "{request}", "x-ratelimit-limit-requests."
        )
        self.limit_tokens = meter.create_gauge(
            names.LIMIT_TOKENS, "{token}", "x-ratelimit-limit-tokens."
        )
        self.token_details = hist(
            names.TOKEN_DETAILS,
            "{token}",
            "Cached input and reasoning output tokens.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )


_lock = threading.Lock()
_instruments: weakref.WeakKeyDictionary[metrics.MeterProvider, Instruments] = (
    weakref.WeakKeyDictionary()
)
_tracers: weakref.WeakKeyDictionary[trace.TracerProvider, trace.Tracer] = (
    weakref.WeakKeyDictionary()
)
# The global providers are proxies until the app sets real ones, and OTel's proxy meter and
# tracer forward to those once set, so caching what they return for ``None`` is safe.
_global_instruments: list[Instruments] = []
_global_tracer: list[trace.Tracer] = []


def instruments_for(meter_provider: metrics.MeterProvider | None) -> Instruments:
    """The shared instruments of ``meter_provider`` (the global one when ``None``)."""
    if meter_provider is None:
        if _global_instruments:
            return _global_instruments[0]
    elif (found := _instruments.get(meter_provider)) is not None:
        return found
    with _lock:
        made = Instruments(
            metrics.get_meter(_SCOPE, __version__, meter_provider, schema_url=_SCHEMA_URL)
        )
        if meter_provider is None:
            _global_instruments[:] = [made]
        else:
            _instruments[meter_provider] = made
        return made


def tracer_for(tracer_provider: trace.TracerProvider | None) -> trace.Tracer:
    """The shared tracer of ``tracer_provider`` (the global one when ``None``)."""
    if tracer_provider is None:
        if _global_tracer:
            return _global_tracer[0]
    elif (found := _tracers.get(tracer_provider)) is not None:
        return found
    with _lock:
        made = trace.get_tracer(_SCOPE, __version__, tracer_provider, schema_url=_SCHEMA_URL)
        if tracer_provider is None:
            _global_tracer[:] = [made]
        else:
            _tracers[tracer_provider] = made
        return made
