"""promtool and amtool on the Prometheus and Alertmanager configs of the compose stack.

The tools come from the Debian packages `prometheus` and `prometheus-alertmanager` (.ci/run
installs them); a missing tool fails these tests rather than skipping them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "dashboards" / "prometheus"
DOCS = ROOT / "docs" / "dashboards.md"


def _run(tool: str, *args: str) -> str:
    binary = shutil.which(tool)
    if binary is None:
        pytest.fail(f"`{tool}` is required (Debian packages prometheus, prometheus-alertmanager)")
    proc = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, cwd=PROM_DIR
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_promtool_check_config() -> None:
    out = _run("promtool", "check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in out
    assert "SUCCESS: 8 rules found" in out


def test_promtool_check_rules() -> None:
    assert "SUCCESS: 8 rules found" in _run("promtool", "check", "rules", "alerts.yml")


def test_promtool_test_rules() -> None:
    assert "SUCCESS" in _run("promtool", "test", "rules", "alerts.test.yml")


def _alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load((PROM_DIR / "alerts.test.yml").read_text())["tests"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in _alerts()}
    assert names == fires, names ^ fires
    assert names == quiet, names ^ quiet


def test_every_alert_is_documented_and_complete() -> None:
    docs = DOCS.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", docs, re.M)
    }
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        ann = rule["annotations"]
        assert ann["summary"] and "{{ $value" in ann["summary"] + ann["description"], rule["alert"]
        url = ann["runbook_url"]
        assert url.startswith("docs/dashboards.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{url}: no such section in {DOCS.name}"
        assert rule["alert"].lower() == url.split("#", 1)[1]


def test_amtool_check_config() -> None:
    out = _run("amtool", "check-config", str(ROOT / "dashboards" / "alertmanager.yml"))
    assert "SUCCESS" in out
