"""The stream's log events through structlog, each carrying its span's trace and span ids.

``start`` when the span opens, ``first_token`` at the first output delta, ``failure`` when the
provider reported an error (code, redacted message, rate-limit facts), ``end`` with the outcome.
Which logger receives them is :func:`otel_responses._logging.get_logger`'s choice; an event no
handler would receive (:func:`~otel_responses._logging.may_log`) is not built, and the logger is
bound to the span's ids only when the first event is.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

from .. import _faults
from .. import _registry as names
from .._logging import get_logger, may_log
from .._stream import Ending, Stream
from ._spans import RATE_LIMIT_ATTRIBUTES

_FAILURE_FACTS = ("window", "limit", "used", "requested", "retry_after", "quota_id")


class StreamLog:
    """One stream's logger; every method swallows its own faults."""

    def __init__(self, span: trace.Span, model: str | None, counter: Any) -> None:
        self._counter = counter
        self._span = span
        self._bound: Any = None
        try:
            if may_log(logging.DEBUG):
                fields = {names.REQUEST_MODEL: model} if model else {}
                self._logger().debug(names.LOG_START, **fields)
        except Exception as exc:
            _faults.report("start", exc, counter)

    def _logger(self) -> Any:
        """The logger bound to the span's ids (bound on first use)."""
        if self._bound is None:
            ctx = self._span.get_span_context()
            ids = (
                {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}
                if ctx.is_valid
                else {}  # no SDK configured: no ids rather than zeros
            )
            self._bound = get_logger().bind(**ids)
        return self._bound

    def _fault(self, exc: BaseException) -> None:
        _faults.report("log", exc, self._counter)

    def first_token(self, seconds: float) -> None:
        try:
            if may_log(logging.DEBUG):
                self._logger().debug(names.LOG_FIRST_TOKEN, **{names.TIME_TO_FIRST_TOKEN: seconds})
        except Exception as exc:
            self._fault(exc)

    def content(self, messages: str) -> None:
        try:
            if may_log(logging.INFO):
                self._logger().info(names.LOG_CONTENT, **{names.OUTPUT_MESSAGES: messages})
        except Exception as exc:
            self._fault(exc)

    def end(self, stream: Stream, ending: Ending, provider: str) -> None:
        try:
            failed = ending.provider_error is not None and ending.error_type is not None
            if failed and may_log(logging.WARNING):
                known = stream.rate_limit.known()
                facts = {RATE_LIMIT_ATTRIBUTES[k]: known[k] for k in _FAILURE_FACTS if k in known}
                self._logger().warning(
                    names.LOG_FAILURE,
                    **{
                        names.ERROR_TYPE: ending.error_type,
                        names.PROVIDER_NAME: provider,
                        names.EVENT_ERROR_MESSAGE: ending.description,
                    },
                    **facts,
                )
            if may_log(logging.INFO):
                self._logger().info(
                    names.LOG_END,
                    **{
                        names.OUTCOME: ending.outcome,
                        names.PROVIDER_NAME: provider,
                        "duration_s": round((ending.end_ns - stream.start_ns) / 1e9, 6),
                        names.EVENT_COUNT: stream.n_events,
                    },
                    **(
                        {names.ERROR_TYPE: ending.error_type}
                        if ending.error_type is not None
                        else {}
                    ),
                )
        except Exception as exc:
            self._fault(exc)
