"""``otel-responses replay`` with OTLP export: honest about a collector that is not there.

Run as a user would (a subprocess, no OTEL_* variable but the ones given). With the endpoint
refused, black-holed, or answering 503 / UNAVAILABLE, the command still replays every stream,
then says in one line on stderr that export failed and where to, with no traceback, exits with
status 1, and finishes within a few seconds (before configure(), it sat silent ~20 s and exited
0). With a live receiver it exits 0 and prints nothing on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import FIXTURES
from tests.otlp_receiver import GrpcReceiver, HttpReceiver, collector

SEED = FIXTURES / "seed__failed-rate-limit.sse"
TEXT = FIXTURES / "otel-contrib__text_stream.sse"
FEW_SECONDS = 10.0  # liveness bound for the whole command, process start included


def cli(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "otel_responses._cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("kind", ["refused", "black_hole", "unavailable"])
def test_unreachable_endpoint_is_one_line_and_a_failure(kind: str, protocol: str) -> None:
    with collector(kind, protocol, accept=False) as port:
        endpoint = f"http://127.0.0.1:{port}"
        done, took = cli(
            "replay",
            str(SEED),
            str(TEXT),
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        )
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("otel-responses: error: export failed: traces, metrics, logs")
    assert endpoint in lines[0]
    assert "Traceback" not in done.stderr
    # the streams were still replayed, one line each
    assert "outcome=failed error.type=rate_limit_exceeded" in done.stdout
    assert "outcome=completed" in done.stdout
    assert took < FEW_SECONDS, f"took {took:.1f}s"


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_live_endpoint_exits_zero_and_quiet(protocol: str) -> None:
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    with receiver:
        done, _ = cli(
            "replay",
            str(SEED),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert [s.name for s in receiver.received.spans()] == ["chat gpt-4o-2024-08-06"]
        assert receiver.received.metrics() and receiver.received.logs()
        (request,) = receiver.received.requests["traces"]
        service = [
            kv.value.string_value
            for kv in request.resource_spans[0].resource.attributes
            if kv.key == "service.name"
        ]
        assert service == ["otel-responses-replay"]  # the command's default name
