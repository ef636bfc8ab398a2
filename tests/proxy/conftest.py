"""Fixtures of the proxy tests: one background loop per module, a fresh upstream+proxy per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Telemetry
from tests.proxy.support import Loop, Stack


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


@pytest.fixture
def stack(loop: Loop, telemetry: Telemetry) -> Iterator[Stack]:
    running = Stack(
        loop, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    yield running
    running.close()
