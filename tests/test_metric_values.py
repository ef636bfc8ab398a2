"""Moved: the timing-value tests are ``tests/recording/test_metrics.py``, ``Clock`` is in
``tests/support.py`` and the ``clock`` fixture in ``tests/conftest.py``. These names stay
importable from here only for files written before the move; delete this file once nothing
imports ``tests.test_metric_values``."""

from __future__ import annotations

from tests.conftest import clock as clock
from tests.support import Clock as Clock
