"""The tests mirror the package: the tests of ``otel_responses/<path>/<module>.py`` are in
``tests/<path>/test_<module>.py`` (``dialects/responses.py`` → ``tests/dialects/test_responses.py``,
``instrumentation/_httpx.py`` → ``tests/instrumentation/test_httpx.py``; the openai SDK
integration, larger, is split into ``tests/instrumentation/test_openai_*.py``).

Cross-cutting properties with no single module are in ``tests/reliability/`` (faults, load,
abandonment, collector down, privacy, property tests), the dashboards and alerts in
``tests/dashboards/``. Every test builds telemetry and streams with ``tests/support.py``; its
fixtures (``telemetry``, ``instrumented``, ``clock``) are in ``tests/conftest.py``; recorded
transcripts are in ``tests/fixtures/`` with their sources.
"""
