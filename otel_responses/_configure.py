"""``otel_responses.configure()``: one call that sets up tracing, metrics and logs for an app.

Why it exists: peers offer a one-call set-up, and the OpenTelemetry SDK's own defaults make a
process whose collector is down slow to exit. Measured here (opentelemetry-sdk 1.45, a span, a
counter point and a log record, OTLP from the standard variables, the providers' own atexit
shutdown): the process lives 10 s after its work with a black-holed collector (20 s with
metrics and logs exported too), 13-15 s with a refused port or a collector answering 503, and
prints up to ten lines of exporter errors while it waits.

What it does, in order:

* builds a :class:`~opentelemetry.sdk.resources.Resource` with ``Resource.create`` (which reads
  ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``; keyword arguments win over them);
* picks each signal's exporters from ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` /
  ``OTEL_LOGS_EXPORTER`` (``otlp`` — the default, as in the spec —, ``console``, ``none``; a
  comma-separated list is allowed) and the OTLP protocol from ``OTEL_EXPORTER_OTLP_PROTOCOL`` and
  its per-signal variants (``http/protobuf``, the default, or ``grpc``). Everything else
  (endpoints, headers, timeouts, compression, certificates, batch and export intervals) is read
  by the SDK's exporters, batch processors and metric reader themselves;
* builds the tracer, meter and logger providers, sets them as the global ones (``set_global``)
  and instruments the installed LLM SDKs with them (``instrument``);
* configures structlog, unless the app already did, with :func:`add_trace_context` and
  :class:`OTelLogProcessor`; the rendered line goes to the standard-library logger of the same
  name, so nothing is printed unless the app set up ``logging``. An app that configures structlog
  itself adds the two processors to its own chain (see :meth:`Configured.structlog_processors`);
* bounds the exit. The providers are created without their own atexit hooks; one atexit hook
  runs :meth:`Configured.shutdown`, which shuts the three providers down in parallel daemon
  threads and waits for them so that the process ends at most ``exit_timeout`` seconds after
  the app's work (2 s by default, ``OTEL_RESPONSES_EXIT_TIMEOUT``; part of it is kept for the
  interpreter's teardown). Whatever has not been exported by then is dropped — a daemon thread
  blocked on a dead collector does not hold the interpreter — and one line on stderr says so,
  and to where. Explicit :meth:`Configured.shutdown` calls wait the whole bound.

How it reports, and why two channels:

* a setting it cannot use (an unknown exporter or protocol, a bad timeout, a missing package) is
  a :class:`ConfigureWarning` (``warnings.warn``, pointing at the ``configure()`` call), and the
  default is used instead: configuration mistakes are found at start-up, by the developer, and
  ``warnings`` lets tests and apps filter or escalate them;
* dropped telemetry is one line written to stderr at shutdown
  (``otel-responses: telemetry dropped: ...``), whatever the app's logging configuration, because
  it happens at exit, when nobody reads logs any more. The first failed export of each signal is
  also logged (WARNING) to the ``otel_responses`` logger, silent unless the app configured
  logging. The OTLP exporters' own per-batch error lines are silenced (their parent logger
  ``opentelemetry.exporter.otlp`` is set to CRITICAL unless the app gave it a level) since the
  line above replaces them.

``configure()`` never raises into the app.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.util.types import AttributeValue

from ._logging import OTelLogProcessor, add_trace_context

__all__ = ["ConfigureWarning", "Configured", "configure"]

EXIT_TIMEOUT_ENV = "OTEL_RESPONSES_EXIT_TIMEOUT"
DEFAULT_EXIT_TIMEOUT = 2.0
_EXIT_RESERVE_MAX = 1.0
SIGNALS = ("traces", "metrics", "logs")
_EXPORTER_CHOICES = ("otlp", "console", "none")
_PROTOCOLS = ("http/protobuf", "grpc")
_DEFAULT_PORTS = {"http/protobuf": 4318, "grpc": 4317}
_OTLP_LOGGER = "opentelemetry.exporter.otlp"

_log = logging.getLogger("otel_responses")


class ConfigureWarning(UserWarning):
    """A setting :func:`configure` could not use; the default named in the message is used."""


# --------------------------------------------------------------------------- failure accounting


@dataclass
class _Drops:
    """Failed exports per signal, and where each signal was going: what the exit line reports."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)

    def failed(self, signal: str) -> None:
        with self.lock:
            first = signal not in self.failures
            self.failures[signal] = self.failures.get(signal, 0) + 1
        if first:
            _log.warning(
                "otel-responses: exporting %s to %s failed; further failures are counted and "
                "reported once at shutdown",
                signal,
                self.endpoints.get(signal, "?"),
            )


class _GuardedSpanExporter(SpanExporter):
    """Counts the failed exports of the exporter it wraps; an exception becomes a failure
    (the batch processor would otherwise log it with a traceback)."""

    def __init__(self, inner: SpanExporter, drops: _Drops) -> None:
        self._inner = inner
        self._drops = drops

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._drops.failed("traces")
        return result

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):  # never raise into the app
            self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self._inner.force_flush(timeout_millis)
        except Exception:  # pragma: no cover
            return False


class _GuardedLogExporter(LogRecordExporter):
    """:class:`_GuardedSpanExporter` for log records."""

    def __init__(self, inner: LogRecordExporter, drops: _Drops) -> None:
        self._inner = inner
        self._drops = drops

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            result = self._inner.export(batch)
        except Exception:
            result = LogRecordExportResult.FAILURE
        if result is not LogRecordExportResult.SUCCESS:
            self._drops.failed("logs")
        return result

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):  # never raise into the app
            self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self._inner.force_flush(timeout_millis))
        except Exception:  # pragma: no cover
            return False


class _GuardedMetricExporter(MetricExporter):
    """:class:`_GuardedSpanExporter` for metrics; keeps the wrapped exporter's preferred
    temporality and aggregation, which the metric reader reads from its exporter."""

    def __init__(self, inner: MetricExporter, drops: _Drops) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self._inner = inner
        self._drops = drops

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self._drops.failed("metrics")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            return self._inner.force_flush(timeout_millis=timeout_millis)
        except Exception:  # pragma: no cover
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):  # never raise into the app
            self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class _Settings:
    """What :func:`configure` resolved, keyword arguments over variables over defaults."""

    exporters: Mapping[str, tuple[str, ...]]
    protocols: Mapping[str, str]
    exit_timeout: float


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _exporter_choice(signal: str, given: str | None, problems: list[str]) -> tuple[str, ...]:
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    raw = given if given is not None else _env(variable)
    source = f"{signal}_exporter={given!r}" if given is not None else f"{variable}={raw!r}"
    if raw is None:
        return ("otlp",)
    chosen: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name not in _EXPORTER_CHOICES:
            problems.append(
                f"{source}: unknown exporter {name!r} (known: otlp, console, none); using 'otlp'"
            )
            name = "otlp"
        if name not in chosen:
            chosen.append(name)
    if "none" in chosen:
        return ()
    return tuple(chosen) or ("otlp",)


def _protocol(signal: str, given: str | None, problems: list[str]) -> str:
    per_signal = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    if given is not None:
        raw, source = given, f"protocol={given!r}"
    elif (value := _env(per_signal)) is not None:
        raw, source = value, f"{per_signal}={value!r}"
    elif (value := _env("OTEL_EXPORTER_OTLP_PROTOCOL")) is not None:
        raw, source = value, f"OTEL_EXPORTER_OTLP_PROTOCOL={value!r}"
    else:
        return "http/protobuf"
    name = raw.strip().lower()
    if name == "http":  # a common shorthand; the spec's name is http/protobuf
        name = "http/protobuf"
    if name not in _PROTOCOLS:
        problems.append(
            f"{source}: unsupported OTLP protocol (supported: http/protobuf, grpc); "
            "using 'http/protobuf'"
        )
        return "http/protobuf"
    return name


def _exit_timeout(given: float | None, problems: list[str]) -> float:
    if given is not None:
        raw: object = given
        source = f"exit_timeout={given!r}"
    else:
        env = _env(EXIT_TIMEOUT_ENV)
        if env is None:
            return DEFAULT_EXIT_TIMEOUT
        raw, source = env, f"{EXIT_TIMEOUT_ENV}={env!r}"
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        problems.append(
            f"{source}: not a non-negative number of seconds; using {DEFAULT_EXIT_TIMEOUT}"
        )
        return DEFAULT_EXIT_TIMEOUT
    return value


# --------------------------------------------------------------------------- exporters


def _otlp_exporters(
    signal: str, protocol: str, endpoint: str | None, headers: Mapping[str, str] | None
) -> Any:
    """The SDK's OTLP exporter for ``signal``. Without ``endpoint`` the exporter reads
    ``OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT`` itself (and its headers, timeout, compression)."""
    kwargs: dict[str, Any] = {}
    if headers is not None:
        kwargs["headers"] = dict(headers)
    if protocol == "grpc":
        if endpoint is not None:
            kwargs["endpoint"] = endpoint
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(**kwargs)
        if signal == "metrics":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            return OTLPMetricExporter(**kwargs)
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**kwargs)
    if endpoint is not None:  # a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is, for HTTP
        kwargs["endpoint"] = f"{endpoint.rstrip('/')}/v1/{signal}"
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter(**kwargs)
    if signal == "metrics":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        return HttpMetricExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    return HttpLogExporter(**kwargs)


def _where(exporter: Any, signal: str, protocol: str, endpoint: str | None) -> str:
    """Where an OTLP exporter sends, for the messages (the SDK resolved it from the variables)."""
    resolved = getattr(exporter, "_endpoint", None)
    if not isinstance(resolved, str) or not resolved:
        resolved = endpoint or f"http://localhost:{_DEFAULT_PORTS[protocol]}"
    if protocol == "grpc":
        shown = endpoint or _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        shown = shown or _env("OTEL_EXPORTER_OTLP_ENDPOINT") or resolved
        return f"{shown} (grpc)"
    return resolved


# --------------------------------------------------------------------------- the handle


class Configured:
    """What :func:`configure` set up: the three providers, and a bounded :meth:`shutdown`."""

    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        logger_provider: LoggerProvider,
        *,
        exit_timeout: float,
        drops: _Drops,
        exporters: Mapping[str, tuple[str, ...]],
        arguments: Mapping[str, Any],
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.exit_timeout = exit_timeout
        self.exporters = dict(exporters)
        """Exporter names per signal (``()`` for ``none``)."""
        self._drops = drops
        self._arguments = dict(arguments)
        self._lock = threading.Lock()
        self._result: bool | None = None
        self._warned_differs = False
        self.dropped: str | None = None
        """After :meth:`shutdown`: what was dropped and where it was going, ``None`` if all was
        exported (stderr shows ``otel-responses: telemetry dropped: `` and this)."""

    def structlog_processors(self) -> list[Callable[[Any, str, MutableMapping[str, Any]], Any]]:
        """The two processors to put before the renderer of an app's own structlog chain:
        ``[add_trace_context, OTelLogProcessor(self.logger_provider)]``."""
        return [add_trace_context, OTelLogProcessor(self.logger_provider)]

    def shutdown(self, timeout: float | None = None, *, report: bool = True) -> bool:
        """Flush and shut the providers down, waiting at most ``timeout`` seconds (default:
        ``exit_timeout``); return whether everything was exported.

        The three providers shut down in parallel daemon threads, so a collector that never
        answers costs at most the bound, not the exporters' 10 s timeout per signal. Telemetry
        not exported by then is dropped; with ``report`` one line on stderr says so, and where it
        was going. Only the first call does anything; later calls return the same answer.
        """
        with self._lock:
            if self._result is not None:
                return self._result
            bound = self.exit_timeout if timeout is None else max(float(timeout), 0.0)
            unfinished = _run_bounded(
                {
                    "traces": self.tracer_provider.shutdown,
                    "metrics": self.meter_provider.shutdown,
                    "logs": self.logger_provider.shutdown,
                },
                bound,
            )
            with self._drops.lock:
                failed = dict(self._drops.failures)
            self._result = not failed and not unfinished
            if not self._result:
                self.dropped = _dropped(
                    failed, unfinished, self._drops.endpoints, self.exporters, bound
                )
                if report:
                    _write_stderr(f"otel-responses: telemetry dropped: {self.dropped}")
            return self._result

    def _atexit(self) -> None:
        """At interpreter exit: :meth:`shutdown`, keeping half of ``exit_timeout`` (at most
        1 s) for the interpreter's own teardown, so that the whole exit stays in the bound.
        Measured here: 0.1 s of teardown after the shutdown without the openai SDK imported,
        0.45-0.6 s with it (its modules are torn down), on a loaded 2-core machine."""
        reserve = min(self.exit_timeout / 2, _EXIT_RESERVE_MAX)
        with contextlib.suppress(Exception):  # never raise into the app
            self.shutdown(self.exit_timeout - reserve)


def _run_bounded(steps: Mapping[str, Callable[[], Any]], bound: float) -> list[str]:
    """Run each step in its own daemon thread; return the names of those not done in time."""
    threads: dict[str, threading.Thread] = {}
    for name, step in steps.items():

        def run(step: Callable[[], Any] = step) -> None:
            with contextlib.suppress(Exception):
                step()

        thread = threading.Thread(target=run, name=f"otel-responses-shutdown-{name}", daemon=True)
        thread.start()
        threads[name] = thread
    deadline = time.monotonic() + bound
    for thread in threads.values():
        thread.join(max(deadline - time.monotonic(), 0.0))
    return [name for name, thread in threads.items() if thread.is_alive()]


def _dropped(
    failed: Mapping[str, int],
    unfinished: Sequence[str],
    endpoints: Mapping[str, str],
    exporters: Mapping[str, tuple[str, ...]],
    bound: float,
) -> str:
    signals = [s for s in SIGNALS if s in failed or (s in unfinished and "otlp" in exporters[s])]
    if not signals:  # only a console or unknown step overran
        signals = [s for s in SIGNALS if s in unfinished]
    places = _places([endpoints.get(s, "the console") for s in signals], signals)
    why = []
    if failed:
        count = sum(failed.values())
        why.append(f"{count} export{'s' if count != 1 else ''} failed")
    if unfinished:
        why.append(f"not flushed within {bound:g} s")
    return f"{', '.join(signals)} not exported to {', '.join(places)} ({'; '.join(why)})"


def _places(urls: Sequence[str], signals: Sequence[str]) -> list[str]:
    """Where the dropped signals were going; OTLP/HTTP URLs that differ only by their
    ``/v1/<signal>`` path are shown once, as ``base/v1/{traces,metrics}``."""
    suffixes = [f"/v1/{signal}" for signal in signals]
    if len(urls) > 1 and all(u.endswith(x) for u, x in zip(urls, suffixes, strict=True)):
        bases = {u[: -len(x)] for u, x in zip(urls, suffixes, strict=True)}
        if len(bases) == 1:
            return [f"{bases.pop()}/v1/{{{','.join(signals)}}}"]
    return sorted(set(urls))


def _write_stderr(line: str) -> None:
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(line + "\n")
            stream.flush()
    except Exception:  # pragma: no cover - a closed stderr at exit
        pass


# --------------------------------------------------------------------------- configure()

_singleton: Configured | None = None
_singleton_lock = threading.Lock()


def configure(
    *,
    service_name: str | None = None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    traces_exporter: str | None = None,
    metrics_exporter: str | None = None,
    logs_exporter: str | None = None,
    exit_timeout: float | None = None,
    instrument: bool = True,
    set_global: bool = True,
    configure_structlog: bool = True,
    log_level: int = logging.INFO,
) -> Configured:
    """Set up tracer, meter and logger providers and the structlog integration; return the handle.

    Keyword arguments override the standard variables; ``None`` means "use the variable, else
    the default":

    * ``service_name``, ``resource_attributes``: over ``OTEL_SERVICE_NAME`` and
      ``OTEL_RESOURCE_ATTRIBUTES``;
    * ``endpoint``: base OTLP endpoint of all signals (for HTTP, ``/v1/<signal>`` is appended),
      over ``OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT``; ``protocol``: ``http/protobuf`` or ``grpc``,
      over ``OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL``; ``headers``: over
      ``OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS``;
    * ``traces_exporter``/``metrics_exporter``/``logs_exporter``: ``otlp``, ``console`` or
      ``none``, over ``OTEL_TRACES_EXPORTER`` etc.;
    * ``exit_timeout``: seconds the exit (and :meth:`Configured.shutdown`) may wait for the last
      export, over ``OTEL_RESPONSES_EXIT_TIMEOUT`` (default 2);
    * ``instrument``: instrument the installed LLM SDKs with these providers;
    * ``set_global``: make them the global providers. A global set-up happens once per process:
      a second ``configure(set_global=True)`` returns the first handle (with a
      :class:`ConfigureWarning` if its arguments differ). ``set_global=False`` builds a separate
      set-up each call (for tools and tests), still shut down at exit;
    * ``configure_structlog``: configure structlog if the app has not; ``log_level``: the lowest
      level that chain passes on (and exports as OTel log records).

    Never raises: an unusable setting is a :class:`ConfigureWarning` and the default.
    """
    arguments = {
        "service_name": service_name,
        "resource_attributes": dict(resource_attributes) if resource_attributes else None,
        "endpoint": endpoint,
        "protocol": protocol,
        "headers": dict(headers) if headers else None,
        "traces_exporter": traces_exporter,
        "metrics_exporter": metrics_exporter,
        "logs_exporter": logs_exporter,
        "exit_timeout": exit_timeout,
        "instrument": instrument,
        "configure_structlog": configure_structlog,
        "log_level": log_level,
    }
    global _singleton
    problems: list[str] = []
    try:
        if set_global:
            with _singleton_lock:
                if _singleton is not None:
                    handle = _singleton
                    if handle._arguments != arguments and not handle._warned_differs:
                        handle._warned_differs = True
                        problems.append(
                            "configure() was already called with other arguments; the first "
                            "set-up stays (call it once, or use set_global=False)"
                        )
                    return handle
                handle = _build(arguments, set_global=True, problems=problems)
                _singleton = handle
                return handle
        return _build(arguments, set_global=False, problems=problems)
    except Exception as exc:  # never raise into the app: a set-up that exports nothing
        problems.append(
            f"configure() failed ({type(exc).__name__}: {exc}); telemetry is not exported"
        )
        return _fallback(arguments)
    finally:
        for problem in dict.fromkeys(problems):  # a variable read for 3 signals: one warning
            warnings.warn(problem, ConfigureWarning, stacklevel=3)


def _fallback(arguments: Mapping[str, Any]) -> Configured:
    return Configured(
        TracerProvider(shutdown_on_exit=False),
        MeterProvider(shutdown_on_exit=False),
        LoggerProvider(shutdown_on_exit=False),
        exit_timeout=DEFAULT_EXIT_TIMEOUT,
        drops=_Drops(),
        exporters={s: () for s in SIGNALS},
        arguments=arguments,
    )


def _resource(arguments: Mapping[str, Any]) -> Resource:
    attributes: dict[str, AttributeValue] = dict(arguments["resource_attributes"] or {})
    if arguments["service_name"] is not None:
        attributes[SERVICE_NAME] = arguments["service_name"]
    return Resource.create(attributes)


def _build(arguments: Mapping[str, Any], *, set_global: bool, problems: list[str]) -> Configured:
    settings = _Settings(
        exporters={s: _exporter_choice(s, arguments[f"{s}_exporter"], problems) for s in SIGNALS},
        protocols={s: _protocol(s, arguments["protocol"], problems) for s in SIGNALS},
        exit_timeout=_exit_timeout(arguments["exit_timeout"], problems),
    )
    resource = _resource(arguments)
    drops = _Drops()
    made: dict[str, list[Any]] = {s: [] for s in SIGNALS}
    for signal in SIGNALS:
        for name in settings.exporters[signal]:
            exporter = _exporter(signal, name, settings, arguments, drops, problems)
            if exporter is not None:
                made[signal].append(exporter)
    if any("otlp" in settings.exporters[s] for s in SIGNALS):
        _quiet_otlp_logger()

    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for span_exporter in made["traces"]:
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    readers: list[MetricReader] = [PeriodicExportingMetricReader(e) for e in made["metrics"]]
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    for log_exporter in made["logs"]:
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))

    handle = Configured(
        tracer_provider,
        meter_provider,
        logger_provider,
        exit_timeout=settings.exit_timeout,
        drops=drops,
        exporters={s: tuple(settings.exporters[s]) for s in SIGNALS},
        arguments=arguments,
    )
    atexit.register(handle._atexit)
    if set_global:
        _set_global(handle, problems)
    if arguments["configure_structlog"]:
        _configure_structlog(logger_provider, arguments["log_level"])
    if arguments["instrument"]:
        _instrument(handle, problems)
    return handle


def _exporter(
    signal: str,
    name: str,
    settings: _Settings,
    arguments: Mapping[str, Any],
    drops: _Drops,
    problems: list[str],
) -> Any:
    if name == "console":
        console: Any = {
            "traces": ConsoleSpanExporter,
            "metrics": ConsoleMetricExporter,
            "logs": ConsoleLogRecordExporter,
        }[signal]
        return console(out=sys.stdout)  # today's stdout, not the one of import time
    protocol = settings.protocols[signal]
    try:
        inner = _otlp_exporters(signal, protocol, arguments["endpoint"], arguments["headers"])
    except ImportError as exc:
        if protocol != "grpc":
            raise
        problems.append(
            f"OTLP/gRPC for {signal} needs the grpc exporter ({exc.name or exc}); "
            "using http/protobuf"
        )
        protocol = "http/protobuf"
        inner = _otlp_exporters(signal, protocol, arguments["endpoint"], arguments["headers"])
    drops.endpoints[signal] = _where(inner, signal, protocol, arguments["endpoint"])
    guard: dict[str, Callable[[Any, _Drops], Any]] = {
        "traces": _GuardedSpanExporter,
        "metrics": _GuardedMetricExporter,
        "logs": _GuardedLogExporter,
    }
    return guard[signal](inner, drops)


def _quiet_otlp_logger() -> None:
    """Silence the OTLP exporters' per-batch error lines (and gRPC's tracebacks) unless the
    app chose a level for them: the drop is reported once at shutdown instead."""
    otlp = logging.getLogger(_OTLP_LOGGER)
    if otlp.level == logging.NOTSET:
        otlp.setLevel(logging.CRITICAL)


def _set_global(handle: Configured, problems: list[str]) -> None:
    from opentelemetry import _logs, metrics, trace

    already = []
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        already.append("tracer")
    else:
        trace.set_tracer_provider(handle.tracer_provider)
    if type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider":
        already.append("meter")
    else:
        metrics.set_meter_provider(handle.meter_provider)
    if type(_logs.get_logger_provider()).__name__ != "ProxyLoggerProvider":
        already.append("logger")
    else:
        _logs.set_logger_provider(handle.logger_provider)
    if already:
        problems.append(
            f"a global {', '.join(already)} provider was already set; configure() left it in "
            "place (its own providers are on the handle and are used by the instrumentation)"
        )


def _configure_structlog(logger_provider: LoggerProvider, level: int) -> None:
    """Configure structlog unless the app already did: trace ids on every event, each event of
    ``level`` or above exported as an OTel log record, and the rendered line handed to the
    standard-library logger of the same name (silent until the app configures logging)."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            add_trace_context,
            structlog.processors.TimeStamper(fmt="iso"),
            OTelLogProcessor(logger_provider),
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _instrument(handle: Configured, problems: list[str]) -> None:
    try:
        from .instrumentation import instrument
    except ImportError as exc:  # pragma: no cover - the package always ships it
        problems.append(f"instrumentation unavailable ({exc}); nothing instrumented")
        return
    try:
        instrument(tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider)
    except Exception as exc:
        problems.append(f"instrumenting the installed SDKs failed ({type(exc).__name__}: {exc})")
