"""Wrapping the openai SDK: the Stainless-generated client's ``request``, its per-attempt
``_send_request`` and its ``Stream``/``AsyncStream`` constructors (see :mod:`._stainless` for
what each wrapping observes and why).

Every call of an API a dialect recognises is traced — the Responses API (``POST /responses``, a
resumed stream ``GET /responses/{id}``), Chat Completions — whatever the entry point
(``create``, ``stream``, ``parse``, ``with_raw_response``, ``with_streaming_response``, Azure
clients).
"""

from __future__ import annotations

from typing import Any

from . import _stainless


def patch(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Replace the SDK methods (idempotent: a second call only updates the providers)."""
    _stainless.patch(_stainless.OPENAI, tracer_provider, meter_provider)


def unpatch() -> None:
    """Put back exactly the function objects :func:`patch` replaced."""
    _stainless.unpatch(_stainless.OPENAI)
