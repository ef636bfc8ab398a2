"""Tracer and metric instruments, created once per provider and shared by every stream.

Creating instruments per stream would cost more than the stream's whole hot path; they are cached
per provider (weakly, so a test's or an app's discarded provider is not kept alive).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.semconv.schemas import Schemas

from .. import _registry as names
from .._version import __version__

_SCOPE = "otel_responses"
_SCHEMA_URL = Schemas.V1_41_1.value


AttributeKey = tuple[tuple[str, Any], ...]
"""A metric attribute set as sorted ``(name, value)`` pairs: hashable, built once per stream."""
_OVERFLOW: tuple[AttributeKey, str] = ((), names.OTHER)


class CumulativeCounter:
    """A counter whose totals live in a dict and reach the SDK only when it collects.

    A stream adds one point per event type it saw, and one to the streams of its outcome;
    through a synchronous counter each is one SDK call per stream (about 20 µs with
    opentelemetry-sdk 1.45, for attribute validation and hashing: the cost of several delta
    frames). Here a stream's counts are added in one call, a dict update each under one lock,
    and the SDK reads the totals through an observable counter's callback once per export. The
    price: no exemplars on these counters (the histograms carry them). The number of attribute
    sets is capped at ``MAX_SERIES``; beyond it, adds fold into the set of the same attributes
    whose label (event type, anomaly kind, outcome) is ``_OTHER``, and past twice the cap (the
    attributes themselves all new: response models, error codes a server made up) into one set
    with no attribute but the label, ``_OTHER``; so a hostile server cannot grow memory or
    cardinality without bound.
    """

    MAX_SERIES = 2048

    def __init__(self, meter: metrics.Meter, name: str, label: str) -> None:
        entry = names.METRICS[name]
        self._label = label
        self._totals: dict[tuple[AttributeKey, str], int] = {}
        self._lock = threading.Lock()
        meter.create_observable_counter(name, [self._observe], entry.unit, entry.brief)

    def add_counts(self, common: AttributeKey, counts: Mapping[str, int]) -> None:
        """Add each ``counts[label value]`` under ``common`` plus the label."""
        with self._lock:
            totals = self._totals
            for value, amount in counts.items():
                key = (common, value)
                if key not in totals and len(totals) >= self.MAX_SERIES:
                    key = (common, names.OTHER)
                    if key not in totals and len(totals) >= 2 * self.MAX_SERIES:
                        key = _OVERFLOW  # attribute sets past every bound (server-minted)
                totals[key] = totals.get(key, 0) + amount

    def _observe(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        with self._lock:
            items = list(self._totals.items())
        label = self._label
        return [
            metrics.Observation(total, {**dict(common), label: value})
            for (common, value), total in items
        ]


def _histogram(meter: metrics.Meter, name: str) -> metrics.Histogram:
    entry = names.METRICS[name]
    return meter.create_histogram(
        name, entry.unit, entry.brief, explicit_bucket_boundaries_advisory=entry.buckets
    )


def _counter(meter: metrics.Meter, name: str) -> metrics.Counter:
    entry = names.METRICS[name]
    return meter.create_counter(name, entry.unit, entry.brief)


def _gauge(meter: metrics.Meter, name: str) -> metrics._Gauge:
    entry = names.METRICS[name]
    return meter.create_gauge(name, entry.unit, entry.brief)


class Instruments:
    """Every instrument named in the registry, on one meter, each built from its entry."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.duration = _histogram(meter, names.OPERATION_DURATION)
        self.token_usage = _histogram(meter, names.TOKEN_USAGE)
        self.time_to_first_chunk = _histogram(meter, names.TIME_TO_FIRST_CHUNK_METRIC)
        self.time_per_output_chunk = _histogram(meter, names.TIME_PER_OUTPUT_CHUNK)
        self.time_to_first_token = _histogram(meter, names.TIME_TO_FIRST_TOKEN_METRIC)
        self.retry_after = _histogram(meter, names.RATE_LIMIT_RETRY_AFTER)
        self.token_details = _histogram(meter, names.TOKEN_DETAILS)
        self.streams = CumulativeCounter(meter, names.STREAMS, names.OUTCOME)
        self.rate_limit_hits = _counter(meter, names.RATE_LIMIT_HITS)
        self.internal_errors = _counter(meter, names.INTERNAL_ERRORS)
        self.events = CumulativeCounter(meter, names.EVENTS, names.EVENT_TYPE)
        self.anomalies = CumulativeCounter(meter, names.ANOMALIES, names.ANOMALY_KIND)
        self.headroom = tuple(
            (field, _gauge(meter, name))
            for field, name in (
                ("remaining_requests", names.REMAINING_REQUESTS),
                ("remaining_tokens", names.REMAINING_TOKENS),
                ("remaining_input_tokens", names.REMAINING_INPUT_TOKENS),
                ("remaining_output_tokens", names.REMAINING_OUTPUT_TOKENS),
                ("limit_requests", names.LIMIT_REQUESTS),
                ("limit_tokens", names.LIMIT_TOKENS),
                ("limit_input_tokens", names.LIMIT_INPUT_TOKENS),
                ("limit_output_tokens", names.LIMIT_OUTPUT_TOKENS),
            )
        )
        """``(RateLimit field, gauge)`` pairs: the headroom gauges set from response headers."""


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
