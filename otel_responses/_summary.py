"""Readable text for what the telemetry of replayed streams says (the CLI's default output)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan

from . import _registry as names

# Shown in the header line or constant across streams: left out of the per-span listing.
_HEADER_KEYS = {
    names.OUTCOME,
    names.ERROR_TYPE,
    names.OPERATION_NAME,
    names.PROVIDER_NAME,
    names.API_TYPE,
    names.REQUEST_STREAM,
}
_METRIC_NOISE = {names.OPERATION_NAME, names.PROVIDER_NAME}


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _attrs(attributes: Mapping[str, Any] | None, skip: Iterable[str] = ()) -> str:
    skip = set(skip)
    return " ".join(
        f"{k}={_value(v)}" for k, v in sorted((attributes or {}).items()) if k not in skip
    )


def format_span(span: ReadableSpan, logs: Sequence[Mapping[str, Any]] = ()) -> str:
    attributes = span.attributes or {}
    status = span.status.status_code.name
    if span.status.description:
        status += f" ({span.status.description})"
    header = f"span {span.name!r}"
    if span.context is not None:
        header += f"  trace_id={span.context.trace_id:032x}"
    outcome = f"  outcome={attributes.get(names.OUTCOME)}  status={status}"
    if names.ERROR_TYPE in attributes:
        outcome += f"  error.type={_value(attributes[names.ERROR_TYPE])}"
    lines = [header, outcome, "  attributes:"]
    lines += [
        f"    {key} = {_value(value)}"
        for key, value in sorted(attributes.items())
        if key not in _HEADER_KEYS
    ]
    start = span.start_time or 0
    lines.append(f"  span events ({len(span.events)}):")
    for event in span.events:
        offset = (event.timestamp - start) / 1e9
        lines.append(f"    +{offset:.6f}s {event.name}  {_attrs(event.attributes)}".rstrip())
    if logs:
        lines.append(f"  log events ({len(logs)}):")
        for entry in logs:
            fields = {k: v for k, v in entry.items() if k not in ("event", "span_id", "trace_id")}
            lines.append(
                f"    [{entry.get('level', '')}] {entry.get('event')}  "
                f"{_attrs(fields, ('level',))}".rstrip()
            )
    return "\n".join(lines)


def format_metrics(data: MetricsData | None) -> str:
    lines = ["metrics (all streams above):"]
    if data is None:
        return lines[0] + " none"
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in sorted(scope_metrics.metrics, key=lambda m: m.name):
                unit = f" [{metric.unit}]" if metric.unit else ""
                lines.append(f"  {metric.name}{unit}")
                for point in metric.data.data_points:
                    labels = _attrs(point.attributes, _METRIC_NOISE)
                    if isinstance(point, HistogramDataPoint):
                        mean = point.sum / point.count if point.count else 0.0
                        shown = f"count={point.count} sum={point.sum:.6g} mean={mean:.6g}"
                    elif isinstance(point, NumberDataPoint):
                        shown = f"value={_value(point.value)}"
                    else:  # exponential histograms: only with a user-configured view
                        shown = f"count={point.count} sum={point.sum:.6g}"
                    lines.append(f"    {{{labels}}} {shown}")
    return "\n".join(lines)
