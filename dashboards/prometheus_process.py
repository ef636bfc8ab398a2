"""A real ``prometheus`` binary on a loopback port, for the dashboards' own tooling.

``measure_alert_timeline.py`` and ``tests/dashboards/test_e2e.py`` both check the alert rules
and dashboard queries against the real thing rather than a mock, so they share this one
starter: a fix to how it waits, reports or stops reaches both. Not a package module: the
script imports it as a sibling (its directory is on ``sys.path`` when run) and the test loads
it by path, as test_dashboards.py loads ``build_dashboards.py``.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

READY_TIMEOUT = 30.0  # seconds


class PrometheusFailed(RuntimeError):
    """Prometheus exited or never became ready; the message carries its log, the only clue."""


def free_port() -> int:
    """A loopback port free right now (so parallel runs and a local Prometheus don't clash)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prometheus:
    """A started Prometheus; a context manager so that no exit path leaves it running."""

    def __init__(self, proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
        self.proc = proc
        self.base = base
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        """Let it flush and exit; kill it if it hangs, since a stray one keeps its port."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(
    binary: str, config: Mapping[str, Any], workdir: Path, extra_flags: tuple[str, ...] = ()
) -> Prometheus:
    """Write ``config`` as ``workdir/prometheus.yml``, run ``binary`` on it and wait until it
    answers ``/-/ready``; its data and log go in ``workdir`` too.

    Raises :class:`PrometheusFailed` (with the log) when it exits or is not ready within
    ``READY_TIMEOUT``; the process is stopped first.
    """
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(dict(config)))
    log_path = workdir / "prometheus.log"
    port = free_port()
    with log_path.open("wb") as log:  # the child holds its own copy of the descriptor
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
                *extra_flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    prometheus = Prometheus(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{prometheus.base}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return prometheus
        except OSError:
            pass
        if time.monotonic() > deadline:
            prometheus.stop()
            raise PrometheusFailed(
                f"Prometheus did not become ready in {READY_TIMEOUT:g} s\n{prometheus.log()}"
            )
        time.sleep(0.1)
    raise PrometheusFailed(prometheus.log())
