"""``otel-responses proxy`` as its own process, exporting over OTLP to the loopback receiver of
``tests/otlp_receiver.py``: SIGTERM mid-stream lets the stream finish and exits after flushing
its telemetry; no API key reaches an exported byte or a log line; ``--workers`` serves from
several processes on one port."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.otlp_receiver import HttpReceiver
from tests.proxy.support import SECRET, FakeServer, Loop, free_port

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "pydantic-ai__web_search_stream.sse"  # 61 frames


class ProxyProcess:
    """The proxy started the way a user starts it, its stderr collected line by line."""

    def __init__(self, upstream: str, otlp: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
            "OTEL_SERVICE_NAME": "proxy-under-test",
            # exported at shutdown, not on a timer: the flush on SIGTERM is what is tested
            "OTEL_BSP_SCHEDULE_DELAY": "60000",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
            "PYTHONPATH": str(ROOT),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "otel_responses.proxy",
                "--listen", f"127.0.0.1:{self.port}",
                "--upstream", upstream,
                "--log-level", "debug",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.lines.append(line)

    def wait_listening(self, count: int = 1) -> None:
        deadline = time.monotonic() + 120  # a loaded machine starts Python slowly
        while time.monotonic() < deadline:
            if sum("listening on" in line for line in self.lines) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("proxy did not start:\n" + "".join(self.lines))

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code


@pytest.fixture(scope="module")
def upstream(loop: Loop) -> Iterator[FakeServer]:
    server = FakeServer(loop)
    yield server
    server.close()


def _outcomes(receiver: HttpReceiver) -> list[str]:
    out = []
    for span in receiver.received.spans():
        for kv in span.attributes:
            if kv.key == "otel_responses.stream.outcome":
                out.append(kv.value.string_value)
    return out


def test_sigterm_mid_stream_drains_and_flushes(upstream: FakeServer) -> None:
    body = json.dumps({"model": "gpt-5", "input": "hi", "stream": True})
    headers = {"x-fixture": FIXTURE, "x-gap-ms": "25", "content-type": "application/json"}
    direct = httpx.post(upstream.url + "/v1/responses", content=body, headers=headers).content
    with HttpReceiver() as receiver:
        proxy = ProxyProcess(upstream.url, receiver.endpoint, "--drain-timeout", "20")
        try:
            proxy.wait_listening()
            received = b""
            with httpx.stream(
                "POST", proxy.url + "/v1/responses", content=body, headers=headers, timeout=30
            ) as response:
                chunks = response.iter_raw()
                while received.count(b"\n\n") < 5:
                    received += next(chunks)
                proxy.proc.send_signal(signal.SIGTERM)  # mid-stream: ~55 frames still to come
                for chunk in chunks:
                    received += chunk
            assert received == direct  # the stream was let finish
            assert proxy.stop() == 0
        finally:
            if proxy.proc.poll() is None:
                proxy.proc.kill()
        log = "".join(proxy.lines)
        assert "draining 1 in-flight call(s)" in log
        assert _outcomes(receiver) == ["completed"]  # flushed at exit, not on a timer
        assert receiver.received.metrics()


def test_no_api_key_exported_or_logged(upstream: FakeServer) -> None:
    secret_headers = {
        "Authorization": f"Bearer {SECRET}",
        "x-api-key": SECRET,
        "x-goog-api-key": SECRET,
        "api-key": SECRET,
        "content-type": "application/json",
    }
    fixtures = [
        "seed__failed-rate-limit.sse",
        "dd-trace-py__http_401_invalid_api_key.http.json",
        "ruby_llm__azure_foundry_429.http.json",
        "pydantic-ai__function_call_stream.sse",
    ]
    with HttpReceiver() as receiver:
        proxy = ProxyProcess(upstream.url, receiver.endpoint)
        try:
            proxy.wait_listening()
            statuses = []
            for fixture in fixtures:
                response = httpx.post(
                    proxy.url + f"/v1/responses?key={SECRET}",
                    content=json.dumps({"model": "gpt-4o", "stream": True, "user": "u"}),
                    headers={**secret_headers, "x-fixture": fixture},
                    timeout=30,
                )
                statuses.append(response.status_code)
            assert statuses == [200, 401, 429, 200]
            # non-LLM path and a non-streamed call too
            httpx.get(proxy.url + f"/v1/models?key={SECRET}", headers=secret_headers)
            assert proxy.stop() == 0
        finally:
            if proxy.proc.poll() is None:
                proxy.proc.kill()
        seen = upstream.fake.seen[-1]
        assert SECRET in dict(seen.headers)["Authorization"]  # it was forwarded ...
        assert len(_outcomes(receiver)) == len(fixtures)
        assert receiver.received.raw and receiver.received.logs()
        for raw in receiver.received.raw:  # ... and never exported
            assert SECRET.encode() not in raw
            assert b"TESTSECRET" not in raw
        log = "".join(proxy.lines)
        assert "/v1/models -> 404" in log  # the access lines are there, without the query
        assert SECRET not in log
        assert "TESTSECRET" not in log


def test_workers_share_the_port(upstream: FakeServer) -> None:
    with HttpReceiver() as receiver:
        proxy = ProxyProcess(upstream.url, receiver.endpoint, "--workers", "2")
        try:
            proxy.wait_listening(count=2)
            for _ in range(20):
                response = httpx.post(
                    proxy.url + "/v1/responses",
                    content=b'{"model":"gpt-4o","stream":true}',
                    headers={
                        "x-fixture": "otel-contrib__text_stream.sse",
                        "content-type": "application/json",
                    },
                )
                assert response.status_code == 200
            assert proxy.stop() == 0
        finally:
            if proxy.proc.poll() is None:
                proxy.proc.kill()
        assert _outcomes(receiver) == ["completed"] * 20
        # each access line carries its process id: with 20 fresh connections spread by the
        # kernel over two SO_REUSEPORT listeners, both served (the odds otherwise: 2**-19)
        pids = {line.split()[2] for line in proxy.lines if "POST /v1/responses -> 200" in line}
        assert len(pids) == 2


def test_a_worker_runs_on_uvloop_which_the_proxy_extra_installs() -> None:
    import uvloop

    from otel_responses.proxy._command import _run

    loops: list[type] = []

    async def probe() -> None:
        loops.append(type(asyncio.get_running_loop()))

    _run(probe())
    assert loops == [uvloop.Loop]


def test_a_listening_worker_freezes_what_start_up_made() -> None:
    """``freeze_startup`` (the worker's ``ready`` callback) moves every object alive then out of
    the collector's sight, so full collections under load walk only what the calls make."""
    from otel_responses.proxy._command import freeze_startup

    before = gc.get_freeze_count()  # 0 unless something froze this process already
    try:
        freeze_startup(8787)
        assert gc.get_freeze_count() > before + 1000  # at least the imported modules' objects
    finally:
        gc.unfreeze()
