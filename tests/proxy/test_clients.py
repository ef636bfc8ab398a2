"""Real clients through the real proxy: the openai SDK (Responses and Chat Completions), the
anthropic SDK (on httpx2), plain httpx for Gemini, Node.js's built-in ``fetch`` and curl. Each
gets what a direct call to the upstream gives; each LLM call is one span.

Spans of the Chat, Anthropic and Gemini calls need the dialects of ``otel_responses.dialects``:
until this build has them those calls are forwarded untraced (asserted: no span), once it has
them their outcome is asserted.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import Telemetry
from tests.proxy.support import SECRET, Loop, Stack, wait_spans

CHAT = "chat_completions/otel-contrib__gpt-4o-mini_n2_choices_include_usage.sse"
ANTHROPIC = "anthropic_messages/ruby_llm__claude-haiku-4-5_document_citations.sse"
GEMINI = "gemini/openinference__gemini-2.0-flash_text.sse"
RESPONSES = "pydantic-ai__reasoning_summary_stream.sse"


@pytest.fixture
def multi(loop: Loop, telemetry: Telemetry) -> Iterator[Stack]:
    running = Stack(
        loop,
        upstream_specs=["{up}", "/anthropic={up}", "/gemini={up}"],
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    yield running
    running.close()


def _outcomes(telemetry: Telemetry, count: int = 1) -> list[Any]:
    spans = wait_spans(telemetry, count)
    return [(s.attributes or {}).get("otel_responses.stream.outcome") for s in spans]


def test_openai_sdk_responses(multi: Stack, telemetry: Telemetry) -> None:
    def events(base: str) -> list[dict[str, Any]]:
        client = openai.OpenAI(base_url=base + "/v1", api_key=SECRET, max_retries=0)
        with client.responses.create(
            model="o3-mini", input="hi", stream=True, extra_headers={"x-fixture": RESPONSES}
        ) as stream:
            return [event.model_dump() for event in stream]

    direct = events(multi.upstream)
    proxied = events(multi.url)
    assert proxied == direct
    assert len(proxied) == 676
    (span,) = wait_spans(telemetry, 1)
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["gen_ai.request.model"] == "o3-mini"
    assert attrs["gen_ai.usage.output_tokens"] > 0


def test_openai_sdk_chat_completions(multi: Stack, telemetry: Telemetry) -> None:
    def chunks(base: str) -> list[dict[str, Any]]:
        client = openai.OpenAI(base_url=base + "/v1", api_key=SECRET, max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            n=2,
            stream_options={"include_usage": True},
            extra_headers={"x-fixture": CHAT},
        )
        return [chunk.model_dump() for chunk in stream]

    direct = chunks(multi.upstream)
    proxied = chunks(multi.url)
    assert proxied == direct
    assert proxied[-1]["usage"]["completion_tokens"] == 104
    assert multi.fake.seen[-1].path == "/v1/chat/completions"
    assert _outcomes(telemetry) == ["completed"]


def test_anthropic_sdk_through_prefix(multi: Stack, telemetry: Telemetry) -> None:
    def events(base: str) -> list[dict[str, Any]]:
        client = anthropic.Anthropic(base_url=base, api_key=SECRET, max_retries=0)
        stream = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-fixture": ANTHROPIC},
        )
        return [event.model_dump() for event in stream]

    direct = events(multi.upstream)
    proxied = events(multi.url + "/anthropic")
    assert proxied == direct
    assert [e["type"] for e in proxied][-1] == "message_stop"
    seen = multi.fake.seen[-1]
    assert seen.path == "/v1/messages"  # the prefix is stripped
    headers = {k.lower(): v for k, v in seen.headers}
    # anthropic 2.x sends the key as a bearer token (1.x: x-api-key): either way, unchanged
    assert SECRET in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert _outcomes(telemetry) == ["completed"]


def test_gemini_httpx_bytes_and_key_in_query(multi: Stack, telemetry: Telemetry) -> None:
    path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    body = json.dumps({"contents": [{"parts": [{"text": "hi"}]}]})
    query = {"alt": "sse", "key": SECRET}

    def call(base: str) -> bytes:
        response = httpx.post(
            base + path, params=query, content=body, headers={"x-fixture": GEMINI}, timeout=30
        )
        assert response.status_code == 200
        return response.content

    assert call(multi.url + "/gemini") == call(multi.upstream)
    assert multi.fake.seen[-1].query == f"alt=sse&key={SECRET}"
    (span,) = wait_spans(telemetry, 1)
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "completed"
    assert attrs["gen_ai.request.model"] == "gemini-2.0-flash"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"


_NODE = """
const [url, fixture, key] = process.argv.slice(1);
(async () => {
  const r = await fetch(url, {method: 'POST', body: JSON.stringify({model: 'gpt-4o', stream: true}),
    headers: {'content-type': 'application/json', 'authorization': 'Bearer ' + key,
              'x-fixture': fixture}});
  const bytes = Buffer.from(await r.arrayBuffer());
  process.stdout.write(JSON.stringify({status: r.status, body: bytes.toString('base64')}));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_fetch(multi: Stack, telemetry: Telemetry) -> None:
    fixture = "pydantic-ai__code_interpreter_image_stream.sse"

    def call(base: str) -> bytes:
        out = subprocess.run(
            ["node", "-e", _NODE, base + "/v1/responses", fixture, SECRET],
            capture_output=True,
            check=True,
            timeout=60,
        )
        result = json.loads(out.stdout)
        assert result["status"] == 200
        return base64.b64decode(result["body"])

    direct = call(multi.upstream)
    assert call(multi.url) == direct
    assert len(direct) > 68_000  # the PNG in the stream: big frames pass through intact
    assert _outcomes(telemetry) == ["completed"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(multi: Stack, telemetry: Telemetry) -> None:
    def call(base: str) -> bytes:
        out = subprocess.run(
            [
                "curl", "-sS", "-N", "--fail-with-body", base + "/v1/responses",
                "-H", f"Authorization: Bearer {SECRET}",
                "-H", "Content-Type: application/json",
                "-H", "x-fixture: seed__failed-rate-limit.sse",
                "--data-binary", '{"model":"gpt-4o","stream":true}',
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )  # fmt: skip
        return out.stdout

    assert call(multi.url) == call(multi.upstream)
    (span,) = wait_spans(telemetry, 1)
    attrs = dict(span.attributes or {})
    assert attrs["otel_responses.stream.outcome"] == "failed"
    assert attrs["error.type"] == "rate_limit_exceeded"


def test_dialect_routes(loop: Loop, telemetry: Telemetry) -> None:
    routed = Stack(
        loop,
        upstream_specs=["openai={up}", "anthropic={up}"],
        tracer_provider=telemetry.tracer_provider,
    )
    try:
        ok = httpx.post(
            routed.url + "/v1/responses",
            content=b'{"model":"gpt-4o","stream":true}',
            headers={
                "x-fixture": "otel-contrib__text_stream.sse",
                "content-type": "application/json",
            },
        )
        assert ok.status_code == 200
        messages = httpx.post(
            routed.url + "/v1/messages", content=b"{}", headers={"x-fixture": ANTHROPIC}
        )
        assert messages.status_code == 200
        assert [s.path for s in routed.fake.seen] == ["/v1/responses", "/v1/messages"]
        # no default route: a path of no configured dialect is refused, not forwarded anywhere
        refused = httpx.get(routed.url + "/v1/models")
        assert refused.status_code == 404
        assert b"no upstream" in refused.content
        assert len(routed.fake.seen) == 2
    finally:
        routed.close()
