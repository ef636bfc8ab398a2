"""``otel-responses proxy``: the command line, telemetry set-up, signals and workers.

The ``proxy`` subcommand is registered in ``otel_responses/_cli.py`` through :func:`add_parser`;
everything else lives here, and aiohttp is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from ._config import Upstream, UpstreamSyntaxError, parse_upstream

log = logging.getLogger("otel_responses.proxy")

_DESCRIPTION = """\
A reverse proxy that gives apps in any language per-event stream telemetry: point the app's base
URL at it (OPENAI_BASE_URL=http://127.0.0.1:8787/v1). Requests are forwarded unchanged to the
configured upstreams, responses stream back byte for byte, and LLM calls become spans, metrics
and logs exported over OTLP (the standard OTEL_* variables).

--upstream (repeatable):
  URL               the default route
  /prefix=URL       path prefix, stripped: /anthropic/v1/messages -> URL/v1/messages
  name=URL          by dialect: openai (responses + chat_completions), anthropic, gemini,
                    or a dialect name (responses, chat_completions, anthropic_messages)
Longest prefix first, then dialect, then default; anything else is a 404 from the proxy.
"""


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: expected HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    number = int(port)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: port out of range")
    return host, number


def _upstream(value: str) -> Upstream:
    try:
        return parse_upstream(value)
    except UpstreamSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind: type[float] | type[int]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r}: not a number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{value!r}: must be positive")
        return number

    return parse


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``proxy`` on the CLI's subparsers."""
    p: argparse.ArgumentParser = commands.add_parser(
        "proxy",
        help="reverse proxy that traces the LLM calls of apps in any language",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8787),
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:8787: loopback only)",
    )
    p.add_argument(
        "--upstream",
        type=_upstream,
        action="append",
        required=True,
        metavar="[NAME=|/PREFIX=]URL",
        help="where to forward (repeatable; see above)",
    )
    p.add_argument(
        "--workers",
        type=_positive(int),
        default=1,
        help="processes sharing the port (SO_REUSEPORT)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=_positive(int),
        default=32 << 20,
        help="largest request body forwarded; larger gets 413 (default 32 MiB)",
    )
    p.add_argument(
        "--connect-timeout",
        type=_positive(float),
        default=10.0,
        help="seconds to connect to an upstream before a 502 (default 10)",
    )
    p.add_argument(
        "--read-timeout",
        type=_positive(float),
        default=300.0,
        help="seconds of upstream silence before giving up: 504, or a cut stream (default 300)",
    )
    p.add_argument(
        "--drain-timeout",
        type=_positive(float),
        default=30.0,
        help="on SIGTERM, seconds in-flight calls get to finish (default 30)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=run_command)
    return p


@dataclass(frozen=True)
class _Worker:
    host: str
    port: int
    reuse_port: bool
    settings: Any
    log_level: str


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s")
    )
    proxy_log = logging.getLogger("otel_responses.proxy")
    proxy_log.handlers[:] = [handler]
    proxy_log.setLevel(level.upper())
    proxy_log.propagate = False


def setup_telemetry(service_name: str = "otel-responses-proxy") -> Callable[[], None]:
    """Tracer, meter and logger providers from the standard ``OTEL_*`` variables, through
    :func:`otel_responses.configure` (the one set-up path of the CLI, the demo and the proxy);
    return the bounded shutdown that flushes them.

    The proxy process runs no LLM SDK, so nothing is instrumented; the service is named
    ``otel-responses-proxy`` unless ``OTEL_SERVICE_NAME`` says otherwise.
    """
    from .._configure import configure

    handle = configure(
        service_name=None if os.environ.get("OTEL_SERVICE_NAME") else service_name,
        instrument=False,
    )

    def shutdown() -> None:
        handle.shutdown()

    return shutdown


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the worker's loop on uvloop when it is installed (the ``proxy`` extra installs it
    where it builds), else on asyncio's. A proxy's added latency is mostly its loop's own work:
    measured with ``benchmarks/bench_proxy.py --loop asyncio`` against the default, uvloop cut
    the untraced path's added time to first byte from 0.59 to 0.25 ms and the CPU per traced
    stream at 100 concurrent from 9.5 to 7.2 ms (docs/proxy.md)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def freeze_startup(port: int) -> None:
    """Once the worker listens: everything start-up made (modules, the app, the SDK's
    providers) is moved out of the garbage collector's sight (``gc.freeze()``). Those objects
    live as long as the process; left in view, each full collection walks them all with the
    loop stopped (~20 ms measured under 100 concurrent streams on the benchmark's machine), a
    pause every call then in flight waits out. Passed to :func:`serve` as ``ready`` (whose
    argument, the port listened on, it does not need)."""
    gc.freeze()


def _serve_worker(worker: _Worker) -> int:
    """One proxy process: serve until SIGTERM/SIGINT, drain, flush telemetry."""
    from ._server import serve

    _setup_logging(worker.log_level)
    shutdown_telemetry = setup_telemetry()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(
            worker.settings,
            worker.host,
            worker.port,
            reuse_port=worker.reuse_port,
            stop=stop,
            ready=freeze_startup,
        )

    try:
        _run(main())
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", worker.host, worker.port, exc.strerror or exc)
        return 1
    finally:
        shutdown_telemetry()
    return 0


def _die_with_parent() -> None:
    """A pre-forked worker gets SIGTERM (so it drains) when its parent dies, even by SIGKILL:
    no orphan keeps the port. Linux only (prctl PR_SET_PDEATHSIG); elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(worker: _Worker) -> None:
    _die_with_parent()
    sys.exit(_serve_worker(worker))


def run_command(args: argparse.Namespace) -> int:
    try:
        from ._server import ProxySettings
    except ImportError:
        print(
            "otel-responses: error: the proxy needs aiohttp: pip install 'otel-responses[proxy]'",
            file=sys.stderr,
        )
        return 2
    host, port = args.listen
    try:
        from ._config import Router

        Router(args.upstream)
    except UpstreamSyntaxError as exc:
        print(f"otel-responses: error: {exc}", file=sys.stderr)
        return 2
    settings = ProxySettings(
        upstreams=tuple(args.upstream),
        max_body_bytes=args.max_body_bytes,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        drain_timeout=args.drain_timeout,
    )
    workers = args.workers
    if workers == 1:
        return _serve_worker(_Worker(host, port, False, settings, args.log_level))
    if port == 0:
        print("otel-responses: error: --workers needs a fixed port", file=sys.stderr)
        return 2
    return _prefork(_Worker(host, port, True, settings, args.log_level), workers)


def _prefork(worker: _Worker, count: int) -> int:
    """``count`` processes bound to one port with SO_REUSEPORT (the kernel spreads the
    connections); SIGTERM/SIGINT are passed on and each drains on its own."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(worker,), daemon=False) for _ in range(count)]

    def forward(signum: int, frame: Any) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return max((proc.exitcode or 0) for proc in procs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``otel-responses proxy`` directly (``python -m otel_responses.proxy``)."""
    parser = argparse.ArgumentParser(prog="otel-responses")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands)
    args = parser.parse_args(["proxy", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.run(args)
    return result
