"""Measure when each alert of ``dashboards/prometheus/alerts.yml`` fires under the demo's traffic.

Runs ``examples/demo.py``'s traffic pattern (the same :class:`Demo` player, real time, its
12-minute cycle with the incident from minute 2 to 9) in this process, exposes the metrics with
the OTel SDK + ``opentelemetry-exporter-prometheus`` on loopback in the series names the
Collector's ``prometheus`` exporter writes, and lets a real ``prometheus`` binary (Debian
package) scrape them and evaluate the project's alert rules with the scrape and evaluation
intervals of ``dashboards/prometheus/prometheus.yml`` (15 s). It polls ``/api/v1/alerts`` and
prints, per alert, when it first went pending and firing, in minutes from the demo's start::

    python dashboards/measure_alert_timeline.py            # 20 minutes, 4 workers
    python dashboards/measure_alert_timeline.py --minutes 21 --json timeline.json

The figures in docs/dashboards.md come from this script. What it does not reproduce: the
compose stack's push path (demo -> OTLP every 5 s -> Collector batch <= 5 s -> exporter), which
delays every series by up to ~10 s more than a direct scrape; alert times are sampled every
``--poll`` seconds (default 5) on top of the 15 s evaluation interval.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import prometheus_process
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import start_http_server

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "dashboards" / "prometheus" / "alerts.yml"
PROMETHEUS_YML = ROOT / "dashboards" / "prometheus" / "prometheus.yml"
DEMO = ROOT / "examples" / "demo.py"
SERVICE = "otel-responses-demo"  # the compose stack's OTEL_SERVICE_NAME (= Prometheus job)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("otel_responses_demo", DEMO)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {DEMO}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _prometheus_config(target: str) -> dict[str, Any]:
    stack = yaml.safe_load(PROMETHEUS_YML.read_text())["global"]
    return {
        "global": {
            "scrape_interval": stack["scrape_interval"],
            "evaluation_interval": stack["evaluation_interval"],
        },
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": SERVICE, "static_configs": [{"targets": [target]}]}],
    }


def measure(minutes: float, workers: int, poll: float, seed: int) -> dict[str, dict[str, float]]:
    """Seconds from the demo's start at which each alert was first pending, first firing, and
    first inactive again after that."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("needs the `prometheus` binary (Debian package `prometheus`)")
    resource = Resource.create({"service.name": SERVICE, "service.instance.id": "measure-1"})
    reader = PrometheusMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    tracer_provider = TracerProvider(resource=resource)
    app_port = prometheus_process.free_port()
    server, server_thread = start_http_server(app_port, addr="127.0.0.1")
    seen: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="alert-timeline-") as tmp:
        config = _prometheus_config(f"127.0.0.1:{app_port}")
        try:
            prometheus = prometheus_process.start(binary, config, Path(tmp))
        except prometheus_process.PrometheusFailed as exc:
            raise SystemExit(str(exc)) from None
        try:
            demo = _load_demo().Demo(tracer_provider, meter_provider, DEMO.parent, seed=seed)
            started = time.monotonic()
            player = threading.Thread(
                target=demo.run, kwargs={"workers": workers, "duration_s": minutes * 60}
            )
            player.start()
            while player.is_alive():
                elapsed = time.monotonic() - started
                active = _get(f"{prometheus.base}/api/v1/alerts")["data"]["alerts"]
                for alert in active:
                    states = seen.setdefault(alert["labels"]["alertname"], {})
                    states.setdefault("pending", elapsed)  # firing implies it was pending
                    if alert["state"] == "firing":
                        states.setdefault("firing", elapsed)
                names = {alert["labels"]["alertname"] for alert in active}
                for name, states in seen.items():
                    if name not in names:
                        states.setdefault("resolved", elapsed)
                print(f"\r{elapsed / 60:5.2f} min  {sorted(seen)}", end="", file=sys.stderr)
                time.sleep(poll)
            print(file=sys.stderr)
            print(f"demo outcomes: {dict(demo.outcomes)}", file=sys.stderr)
        finally:
            prometheus.stop(timeout=30)
            server.shutdown()
            server_thread.join(timeout=5)
            meter_provider.shutdown()
            tracer_provider.shutdown()
    return seen


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to run the demo")
    parser.add_argument("--workers", type=int, default=4, help="demo workers (compose: 4)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between alert polls")
    parser.add_argument("--seed", type=int, default=11, help="the demo's random seed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    seen = measure(args.minutes, args.workers, args.poll, args.seed)
    alerts = [r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    print("| alert | pending at (min) | firing at (min) | inactive again at (min) |")
    print("|---|---|---|---|")
    for name in alerts:
        at = seen.get(name, {})
        print(
            f"| {name} | {_minutes(at.get('pending'))} | {_minutes(at.get('firing'))} "
            f"| {_minutes(at.get('resolved'))} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"minutes": args.minutes, "alerts": seen}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
