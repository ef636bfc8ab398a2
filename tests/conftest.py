"""Shared fixtures: private telemetry per test, the instrumented openai SDK, a controlled clock.

The helpers they are built from live in ``tests/support.py``; ``FIXTURES`` and ``Telemetry`` stay
importable from here for the files that import them from ``tests.conftest``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

import otel_responses
from tests.support import FIXTURES as FIXTURES
from tests.support import Clock, Telemetry, instrumenting, new_telemetry

__all__ = ["FIXTURES", "Clock", "Telemetry", "clock", "instrumented", "telemetry"]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """A tracer and meter provider pair of this test's own, read back from memory."""
    made = new_telemetry()
    yield made
    made.shutdown()


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """:func:`otel_responses.instrument` on :func:`telemetry`'s providers, undone afterwards."""
    with instrumenting(telemetry):
        yield telemetry


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Replace every module-level alias of ``time.perf_counter_ns`` in otel_responses (the
    stream core reads the clock through one, and modules import it by name): wherever the
    core keeps its clock, under whatever name, it is found and replaced."""
    fake = Clock()
    patched = []
    for module_name, module in list(sys.modules.items()):
        if module_name.partition(".")[0] != otel_responses.__name__:
            continue
        for attr, value in list(vars(module).items()):
            if value is time.perf_counter_ns:
                monkeypatch.setattr(module, attr, fake)
                patched.append(f"{module_name}.{attr}")
    assert patched, "no otel_responses module reads the clock through time.perf_counter_ns"
    yield fake
