"""Moved: the transport tests are ``tests/instrumentation/test_httpx.py`` and ``SlowSSEServer``
is in ``tests/support.py``. The name stays importable from here only for files written before the
move; delete this file once nothing imports ``tests.test_instr_transport``."""

from __future__ import annotations

from tests.support import SlowSSEServer as SlowSSEServer
