"""The one shape of every instrumentor here: an ``opentelemetry-instrumentation`` instrumentor
whose work is a module's ``patch(tracer_provider, meter_provider)`` and ``unpatch()``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]


class PatchingInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses name the SDK they need and the functions that patch and unpatch it.

    ``instrument(tracer_provider=..., meter_provider=...)``; without them, the global providers.
    """

    dependencies: ClassVar[Collection[str]] = ()
    patcher: ClassVar[Callable[[Any, Any], None]]
    unpatcher: ClassVar[Callable[[], None]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.dependencies

    def _instrument(self, **kwargs: Any) -> None:
        type(self).patcher(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))

    def _uninstrument(self, **kwargs: Any) -> None:
        type(self).unpatcher()
