"""Instrumented vs uninstrumented, over every transcript in ``tests/fixtures``: the app sees the
same events (event by event), the same final response and the same exceptions; and the span says
what the hook says when fed the same file directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support import (
    FIXTURES,
    SSE_HEADERS,
    Telemetry,
    async_client,
    attributes,
    client,
    exception_view,
    instrumenting,
    only_span,
    recorded_response,
    sse,
)

SSE_FILES = sorted(FIXTURES.glob("*.sse"))
HTTP_FILES = sorted(FIXTURES.glob("*.http.json"))


def test_corpus_present() -> None:
    assert len(SSE_FILES) >= 20
    assert any(p.name.startswith("seed") for p in SSE_FILES)
    assert len(HTTP_FILES) >= 3


def _run_create(body: bytes, how: str) -> tuple[list[Any], Any]:
    seen: list[Any] = []
    error: BaseException | None = None
    try:
        for event in client(sse(body, how)).responses.create(model="m", input="x", stream=True):
            seen.append((type(event), event.model_dump(warnings=False)))
    except openai.APIError as exc:
        error = exc
    return seen, exception_view(error)


def _run_manager(body: bytes, how: str) -> tuple[list[Any], Any, Any]:
    seen: list[Any] = []
    error: BaseException | None = None
    final: Any = None
    try:
        with client(sse(body, how)).responses.stream(model="m", input="x") as stream:
            for event in stream:
                seen.append((type(event), event.model_dump(warnings=False)))
            try:
                final = stream.get_final_response().model_dump(warnings=False)
            except RuntimeError as exc:  # no response.completed in this transcript
                final = str(exc)
    except (openai.APIError, RuntimeError) as exc:
        error = exc
    return seen, exception_view(error), final


async def _run_async(body: bytes) -> tuple[list[Any], Any]:
    seen: list[Any] = []
    error: BaseException | None = None
    try:
        stream = await async_client(sse(body, "event", is_async=True)).responses.create(
            model="m", input="x", stream=True
        )
        async for event in stream:
            seen.append((type(event), event.model_dump(warnings=False)))
    except openai.APIError as exc:
        error = exc
    return seen, exception_view(error)


def _direct(body: bytes, telemetry: Telemetry) -> tuple[str | None, str | None]:
    hook = telemetry.hook(
        model="m",
    )
    hook.on_response(200, SSE_HEADERS)
    hook.feed(body)
    hook.end()
    return hook.outcome, hook.error_type


@pytest.mark.parametrize("path", SSE_FILES, ids=[p.stem for p in SSE_FILES])
async def test_same_events_instrumented(telemetry: Telemetry, path: Path) -> None:
    body = path.read_bytes()
    bare = {how: _run_create(body, how) for how in ("event", "bytes", "whole")}
    bare_manager = _run_manager(body, "event")
    bare_async = await _run_async(body)
    assert bare["event"][0], "the SDK yields events for every transcript"

    direct = _direct(body, telemetry)
    telemetry.spans.clear()

    with instrumenting(telemetry):
        for how, expected in bare.items():
            assert _run_create(body, how) == expected, how
            span = only_span(telemetry)
            if how == "whole":  # the hook had every byte: same verdict as fed directly
                a = attributes(span)
                assert (a["otel_responses.stream.outcome"], a.get("error.type")) == direct
            telemetry.spans.clear()
        assert _run_manager(body, "event") == bare_manager
        assert only_span(telemetry).attributes is not None
        telemetry.spans.clear()
        assert await _run_async(body) == bare_async
        only_span(telemetry)


@pytest.mark.parametrize("path", HTTP_FILES, ids=[p.stem for p in HTTP_FILES])
def test_same_http_errors_instrumented(telemetry: Telemetry, path: Path) -> None:
    recorded = json.loads(path.read_text())
    headers, handler = recorded_response(recorded)

    def run() -> Any:
        with pytest.raises(openai.APIStatusError) as raised:
            client(handler).responses.create(model="m", input="x", stream=True)
        return exception_view(raised.value)

    bare = run()
    with instrumenting(telemetry):
        assert run() == bare
    a = attributes(only_span(telemetry))
    code = (json.loads(recorded["body"]).get("error") or {}).get("code")
    assert a["error.type"] == (code or str(recorded["status"]))
    assert a["http.response.status_code"] == recorded["status"]
    assert a["otel_responses.stream.outcome"] == "error"
    request_id = dict((k.lower(), v) for k, v in headers).get("x-request-id")
    if request_id:
        assert a["otel_responses.request_id"] == request_id
