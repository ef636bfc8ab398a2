"""Internal faults: counted, logged once, never propagated into the app's stream.

Each fault is added to ``otel_responses.internal_errors`` and logged at most once a minute per
(site, exception type), so a fault on the per-event path cannot flood the app's logs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from . import _registry as names
from ._logging import get_logger

_LOG_INTERVAL_S = 60.0
_last_logged: dict[tuple[str, str], float] = {}
_lock = threading.Lock()
_counts: dict[str, int] = {}


def fault_counts() -> dict[str, int]:
    """Faults seen in this process by site (a copy; for tests and the CLI)."""
    with _lock:
        return dict(_counts)


def report(site: str, exc: BaseException, counter: Any = None) -> None:
    """Record a fault at ``site``; never raises."""
    try:
        error_type = type(exc).__qualname__
        now = time.monotonic()
        key = (site, error_type)
        with _lock:
            _counts[site] = _counts.get(site, 0) + 1
            last = _last_logged.get(key)
            should_log = last is None or now - last >= _LOG_INTERVAL_S
            if should_log and len(_last_logged) < 1024:
                _last_logged[key] = now
        if counter is not None:
            with contextlib.suppress(Exception):  # a broken meter must not silence the log
                counter.add(1, {names.INTERNAL_ERROR_SITE: site, names.ERROR_TYPE: error_type})
        if should_log:
            get_logger().error(
                names.LOG_INTERNAL_ERROR,
                **{names.INTERNAL_ERROR_SITE: site, names.ERROR_TYPE: error_type},
                exc_info=exc,
            )
    except Exception:
        pass
