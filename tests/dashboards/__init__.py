"""Tests of dashboards/: Prometheus rules and config, Grafana dashboards, LogQL, compose, demo."""
