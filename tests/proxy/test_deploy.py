"""The proxy as deployed: the compose services and the Kubernetes sidecar example agree with the
command line they run, and examples/proxy_demo.py really drives traffic through a real proxy.
(Docker and Kubernetes cannot run here: their files are checked by parsing and cross-checking.)"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from otel_responses.proxy._command import add_parser
from tests.conftest import Telemetry
from tests.proxy.support import Loop, Stack, free_port, wait_spans

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
K8S = yaml.safe_load((ROOT / "examples/kubernetes/proxy-sidecar.yaml").read_text())


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    assert argv[:2] == ["otel-responses", "proxy"]
    return parser.parse_args(argv[1:])


def test_compose_proxy_and_demo_agree() -> None:
    proxy, demo = COMPOSE["proxy"], COMPOSE["proxy-demo"]
    args = _parse(proxy["command"])
    host, port = args.listen
    assert host == "0.0.0.0"  # reachable by the other containers of the compose network
    assert "ports" not in proxy  # ... and by nothing outside it
    (upstream,) = args.upstream
    _, _, demo_port = demo["environment"]["PROXY_DEMO_LISTEN"].rpartition(":")
    assert upstream.host == "proxy-demo" and upstream.port == int(demo_port)
    target = urlparse(demo["environment"]["OTEL_RESPONSES_PROXY_URL"])
    assert (target.hostname, target.port) == ("proxy", port)
    assert demo["command"] == ["python", "examples/proxy_demo.py"]
    assert (
        urlparse(proxy["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname == "otel-collector"
    )
    assert proxy["image"] == demo["image"] == COMPOSE["demo"]["image"]
    assert "'.[proxy]'" in (ROOT / "Dockerfile").read_text()  # the image has aiohttp


def test_kubernetes_sidecar_agrees_with_its_app() -> None:
    pod = K8S["spec"]["template"]["spec"]
    (sidecar,) = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always"  # native sidecar: up before, down after the app
    args = _parse(sidecar["args"])
    host, port = args.listen
    assert host == "127.0.0.1"
    assert pod["terminationGracePeriodSeconds"] > args.drain_timeout
    assert sidecar["startupProbe"]["tcpSocket"]["port"] == port
    prefixes = {u.prefix for u in args.upstream if u.prefix}
    (app,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in app["env"]}
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        url = urlparse(env[name])
        assert (url.hostname, url.port) == ("127.0.0.1", port), name
        first = "/" + url.path.strip("/").split("/")[0]
        assert first in prefixes or first == "/v1", (name, first)
    assert not any("KEY" in name for name in (e["name"] for e in sidecar["env"]))


def test_proxy_demo_drives_traffic_through_the_proxy(loop: Loop, telemetry: Telemetry) -> None:
    demo_port = free_port()
    stack = Stack(
        loop,
        upstream_specs=[f"http://127.0.0.1:{demo_port}"],
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    try:
        env: dict[str, Any] = {
            **os.environ,
            "OTEL_RESPONSES_PROXY_URL": stack.url,
            "PROXY_DEMO_LISTEN": f"127.0.0.1:{demo_port}",
            "PROXY_DEMO_WORKERS": "3",
            "PROXY_DEMO_DURATION_S": "6",
        }
        subprocess.run(
            [sys.executable, str(ROOT / "examples/proxy_demo.py")],
            env=env,
            check=True,
            timeout=60,
            capture_output=True,
        )
        spans = wait_spans(telemetry, 3)
    finally:
        stack.close()
    assert len(spans) >= 3
    outcomes = {(s.attributes or {}).get("otel_responses.stream.outcome") for s in spans}
    # the demo's transcripts: completions, a max_tokens stop, the seed's rate-limit failure, HTTP
    # errors, hang-ups
    assert outcomes <= {"completed", "incomplete", "failed", "error", "cancelled"}, outcomes
    assert "completed" in outcomes or "failed" in outcomes
    assert {(s.attributes or {}).get("otel_responses.proxy.upstream") for s in spans} == {"default"}
