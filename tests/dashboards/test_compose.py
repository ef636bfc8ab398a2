"""docker-compose.yml and the Collector, Tempo, Loki and Grafana provisioning files, checked as
far as they can be without Docker: they parse, have the keys each component needs, agree on
ports and host names, reference files that exist, and pin every image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASH = ROOT / "dashboards"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


COMPOSE = _yaml(ROOT / "docker-compose.yml")
SERVICES = COMPOSE["services"]
COLLECTOR = _yaml(DASH / "otel-collector.yaml")
TEMPO = _yaml(DASH / "tempo.yaml")
LOKI = _yaml(DASH / "loki.yaml")
PROMETHEUS = _yaml(DASH / "prometheus" / "prometheus.yml")
DATASOURCES = {
    ds["uid"]: ds
    for path in (DASH / "grafana" / "provisioning" / "datasources").glob("*.yaml")
    for ds in _yaml(path)["datasources"]
}


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1].split("/")[0])


def _published(service: str) -> dict[int, int]:
    out = {}
    for mapping in SERVICES[service].get("ports", []):
        host, container = str(mapping).split(":")
        out[int(container)] = int(host)
    return out


def _mounts(service: str) -> dict[str, Path]:
    """container path -> host path of the service's bind mounts."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        host, container = volume.split(":")[:2]
        out[container] = (ROOT / host).resolve()
    return out


def test_services_present() -> None:
    assert set(SERVICES) == {
        "demo",
        "otel-collector",
        "prometheus",
        "alertmanager",
        "tempo",
        "loki",
        "grafana",
        "proxy",
        "proxy-demo",
    }


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: {image} is not pinned"
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1)), base


def test_bind_mounts_exist() -> None:
    for name in SERVICES:
        for container, host in _mounts(name).items():
            assert host.exists(), f"{name}: {host} (for {container}) is missing"


def test_demo_service() -> None:
    demo = SERVICES["demo"]
    assert demo["build"]["context"] == "."
    assert (ROOT / demo["build"]["dockerfile"]).exists()
    assert 'CMD ["python", "examples/demo.py"]' in (ROOT / "Dockerfile").read_text()
    env = demo["environment"]
    endpoint = urlparse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector"
    grpc = COLLECTOR["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    http = COLLECTOR["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    expected = {"grpc": grpc, "http/protobuf": http}[env["OTEL_EXPORTER_OTLP_PROTOCOL"]]
    assert endpoint.port == _port(expected)
    assert env["OTEL_SERVICE_NAME"]


def test_collector_config() -> None:
    protocols = COLLECTOR["receivers"]["otlp"]["protocols"]
    assert _port(protocols["grpc"]["endpoint"]) == 4317
    assert _port(protocols["http"]["endpoint"]) == 4318
    for p in protocols.values():  # reachable from other containers, not only localhost
        assert p["endpoint"].startswith("0.0.0.0:")
    assert _published("otel-collector") == {4317: 4317, 4318: 4318}
    pipelines = COLLECTOR["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "traces", "logs"}
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in COLLECTOR[kind], component
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]
    assert COLLECTOR["exporters"]["prometheus"]["enable_open_metrics"] is True  # exemplars
    for ext in COLLECTOR["service"]["extensions"]:
        assert ext in COLLECTOR["extensions"]
    mounts = _mounts("otel-collector")
    config_arg = next(a for a in SERVICES["otel-collector"]["command"] if a.startswith("--config"))
    assert mounts[config_arg.split("=", 1)[1]] == DASH / "otel-collector.yaml"


def test_prometheus_scrapes_the_collector_and_loads_the_rules() -> None:
    exporter_port = _port(COLLECTOR["exporters"]["prometheus"]["endpoint"])
    telemetry = COLLECTOR["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    targets = {
        t
        for job in PROMETHEUS["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    assert f"otel-collector:{exporter_port}" in targets
    assert f"otel-collector:{telemetry['prometheus']['port']}" in targets
    app_job = next(
        j
        for j in PROMETHEUS["scrape_configs"]
        if f"otel-collector:{exporter_port}" in j["static_configs"][0]["targets"]
    )
    assert app_job["honor_labels"] is True  # keep job/instance from service.name/instance.id
    mounts = _mounts("prometheus")
    config_dir = Path("/etc/prometheus")
    assert mounts[str(config_dir / "prometheus.yml")] == DASH / "prometheus" / "prometheus.yml"
    for rule_file in PROMETHEUS["rule_files"]:
        assert mounts[str(config_dir / rule_file)] == DASH / "prometheus" / rule_file
    assert "--enable-feature=exemplar-storage" in SERVICES["prometheus"]["command"]
    am = PROMETHEUS["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    host, port = am.split(":")
    assert host in SERVICES and int(port) in _published(host)


def test_tempo_config() -> None:
    grpc = TEMPO["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    exporter = urlparse("//" + COLLECTOR["exporters"]["otlp/tempo"]["endpoint"])
    assert exporter.hostname == "tempo" and exporter.port == _port(grpc)
    assert COLLECTOR["exporters"]["otlp/tempo"]["tls"]["insecure"] is True
    assert TEMPO["storage"]["trace"]["backend"] == "local"
    assert _mounts("tempo")["/etc/tempo.yaml"] == DASH / "tempo.yaml"
    assert "-config.file=/etc/tempo.yaml" in SERVICES["tempo"]["command"]


def test_loki_config() -> None:
    port = LOKI["server"]["http_listen_port"]
    exporter = urlparse(COLLECTOR["exporters"]["otlphttp/loki"]["endpoint"])
    assert (exporter.hostname, exporter.port, exporter.path) == ("loki", port, "/otlp")
    schema = LOKI["schema_config"]["configs"][-1]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")  # structured metadata
    assert LOKI["limits_config"]["allow_structured_metadata"] is True
    assert LOKI["auth_enabled"] is False
    assert _mounts("loki")["/etc/loki/loki.yaml"] == DASH / "loki.yaml"


def test_grafana_datasources_point_at_the_stack() -> None:
    expected = {
        "prometheus": ("prometheus", 9090),
        "tempo": ("tempo", TEMPO["server"]["http_listen_port"]),
        "loki": ("loki", LOKI["server"]["http_listen_port"]),
    }
    for uid, (host, port) in expected.items():
        url = urlparse(DATASOURCES[uid]["url"])
        assert (url.hostname, url.port) == (host, port), uid
        assert host in SERVICES
    assert _published("prometheus")[9090] == 9090
    prom = DATASOURCES["prometheus"]["jsonData"]
    assert prom["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    assert prom["exemplarTraceIdDestinations"][0]["name"] == "trace_id"
    assert prom["timeInterval"] == PROMETHEUS["global"]["scrape_interval"]
    derived = DATASOURCES["loki"]["jsonData"]["derivedFields"]
    assert derived and all(d["datasourceUid"] == "tempo" for d in derived)
    assert any(d["matcherRegex"] == "trace_id" and d["matcherType"] == "label" for d in derived)
    assert DATASOURCES["tempo"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"


def test_grafana_provisioning_mounts() -> None:
    mounts = _mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == DASH / "grafana" / "provisioning"
    provider = _yaml(DASH / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml")
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == DASH / "grafana"
    assert list((DASH / "grafana").glob("*.json"))
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASH / "grafana" / Path(home).name).exists() and home.startswith(path)
