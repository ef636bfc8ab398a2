"""Replay a recorded stream through the hook, as if it were arriving from the network."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from opentelemetry import metrics, trace

from ._hook import ResponseStreamHook
from .dialects import Dialect, detect, for_request

_MODEL = re.compile(rb'"(?:model|modelVersion)"\s*:\s*"([^"\\]{1,128})"')
_SSE_START = ("event:", "data:", ":", "id:", "retry:", "\ufeff")


class ReplayResult(NamedTuple):
    """What the replayed stream's telemetry concluded."""

    source: str
    outcome: str
    error_type: str | None
    trace_id: str


def _load(source: str | bytes | os.PathLike[str]) -> tuple[str, bytes]:
    if isinstance(source, bytes):
        return "<bytes>", source
    if isinstance(source, str) and (
        "\n" in source or "\r" in source or source.lstrip().startswith(_SSE_START)
    ):
        return "<text>", source.encode("utf-8")
    path = Path(source)
    return str(path), path.read_bytes()


def _recorded_http_error(body: bytes) -> dict[str, Any] | None:
    """A recorded non-stream error ``{"status", "headers", "body"}``, or ``None``."""
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    if isinstance(record, dict) and isinstance(record.get("status"), int):
        return record
    return None


def replay(
    source: str | bytes | os.PathLike[str],
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    model: str | None = None,
    chunk_size: int | None = None,
    dialect: str | Dialect | None = None,
) -> ReplayResult:
    """Replay one recorded stream through :class:`ResponseStreamHook`.

    ``source`` is a path, or the SSE body itself as ``bytes`` or ``str`` (a ``str`` counts as a
    body when it has a line break or starts like SSE). A recorded HTTP error
    (``{"status", "headers", "body"}`` JSON, as in ``*.http.json``) replays as an error before
    the stream; its optional ``"url"`` names the dialect. ``dialect`` is detected from the
    content when omitted (see :mod:`otel_responses.dialects`). ``model`` is the request model;
    by default the transcript's first ``model`` (or ``modelVersion``). ``chunk_size`` feeds the
    body in pieces of that many bytes (default: all at once).

    Raises ``OSError`` when a path cannot be read, ``ValueError`` for a bad ``chunk_size`` or an
    unknown dialect.
    """
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size!r}")
    name, body = _load(source)
    if model is None:
        found = _MODEL.search(body[:65536])
        model = found.group(1).decode("utf-8", "replace") if found else None
    record = _recorded_http_error(body)
    host = None
    if record is not None and dialect is None:
        if isinstance(record.get("url"), str):
            url = urlsplit(record["url"])
            host = url.hostname
            dialect = for_request(str(record.get("method", "POST")), host, url.path)
        elif isinstance(record.get("body"), str):
            dialect = detect("", record["body"].encode("utf-8", "replace"))
    hook = ResponseStreamHook(
        dialect=dialect,
        model=model,
        server_address=host,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    if record is not None:
        headers = record.get("headers")
        error_body = record.get("body")
        hook.on_response(
            record["status"],
            headers if isinstance(headers, dict) else None,
            error_body if isinstance(error_body, (str, dict)) else None,
        )
    else:
        step = chunk_size or max(len(body), 1)
        for start in range(0, len(body), step):
            hook.feed(body[start : start + step])
    hook.end()
    trace_id = format(hook.span.get_span_context().trace_id, "032x")
    return ReplayResult(name, hook.outcome or "", hook.error_type, trace_id)
