"""Replay the transcripts in examples/ forever, with realistic timing, and export over OTLP.

The ``demo`` service of docker-compose.yml runs this. Each worker thread plays one stream at a
time through :class:`otel_responses.ResponseStreamHook`, feeding the SSE events of a recorded
transcript with network-like pauses (time to first chunk, a slower first token for reasoning
models, 20-60 ms between deltas) and synthesized ``x-ratelimit-*`` headers. Most streams complete;
some are truncated, cancelled, abandoned or hit a transport error, and the ``*.http.json``
transcripts replay as HTTP errors before the stream.

Every cycle (12 minutes by default) has an *incident* window (minutes 2 to 9): rate-limit
failures (the seed transcript's ``response.failed`` and synthesized HTTP 429s), drained
headroom, slow first tokens and more truncations, so that every alert but ``LLMNoStreams``
fires within minutes of ``docker compose up``.

Export is set up by ``otel_responses.configure()`` from the standard variables only:
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and
per-signal variants), ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``grpc`` or ``http/protobuf``),
``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_TRACES_EXPORTER`` etc., ``OTEL_RESPONSES_EXIT_TIMEOUT``.
Demo knobs: ``DEMO_WORKERS`` (4), ``DEMO_CYCLE_S`` (720), ``DEMO_INCIDENT_S`` (``120-540``),
``DEMO_SPEED`` (1.0; >1 compresses every pause), ``DEMO_DURATION_S`` (0 = forever),
``DEMO_EXAMPLES`` (this file's folder).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import otel_responses

if TYPE_CHECKING:
    from otel_responses._configure import Configured

HERE = Path(__file__).resolve().parent
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,128})"')
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


# ------------------------------------------------------------------------- transcripts
@dataclass
class Transcript:
    name: str
    messages: list[bytes]  # SSE messages, each ending in a blank line
    model: str
    reasoning: bool


@dataclass
class HttpError:
    name: str
    status: int
    headers: dict[str, Any]
    body: Any


def split_messages(body: bytes) -> list[bytes]:
    """The SSE messages of ``body``, each with its terminating blank line."""
    body = body.replace(b"\r\n", b"\n")
    return [part + b"\n\n" for part in body.split(b"\n\n") if part.strip()]


def load(folder: Path) -> tuple[list[Transcript], list[HttpError], Transcript | None]:
    """Streams, HTTP errors, and the seed (rate-limited) transcript found in ``folder``."""
    streams: list[Transcript] = []
    errors: list[HttpError] = []
    seed = None
    for path in sorted(folder.glob("*.sse")):
        body = path.read_bytes()
        found = _MODEL.search(body)
        served = found.group(1).decode() if found else "gpt-4o"
        transcript = Transcript(
            path.name,
            split_messages(body),
            _DATE_SUFFIX.sub("", served),
            b"reasoning" in body,
        )
        if b"rate_limit_exceeded" in body:
            seed = transcript
        else:
            streams.append(transcript)
    for path in sorted(folder.glob("*.http.json")):
        record = json.loads(path.read_text())
        errors.append(
            HttpError(path.name, record["status"], record.get("headers") or {}, record.get("body"))
        )
    if not streams:
        raise SystemExit(f"demo: no *.sse transcripts in {folder}")
    return streams, errors, seed


# ------------------------------------------------------------------------- rate-limit budget
@dataclass
class Budget:
    """A per-minute request/token budget that the synthesized x-ratelimit-* headers report."""

    limit_requests: int = 500
    limit_tokens: int = 200_000
    window_s: float = 60.0
    used_requests: int = 0
    used_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, tokens: int, *, drained: bool) -> dict[str, str]:
        with self.lock:
            now = time.monotonic()
            if now - self.started >= self.window_s:
                self.started, self.used_requests, self.used_tokens = now, 0, 0
            self.used_requests += 1
            self.used_tokens += tokens
            left_requests = max(self.limit_requests - self.used_requests, 0)
            left_tokens = max(self.limit_tokens - self.used_tokens, 0)
            if drained:  # an incident: another tenant of the key spends the budget
                left_requests = min(left_requests, random.randint(0, 4))
                left_tokens = min(left_tokens, random.randint(0, 1500))
            reset = max(self.window_s - (now - self.started), 0.0)
            return {
                "x-ratelimit-limit-requests": str(self.limit_requests),
                "x-ratelimit-remaining-requests": str(left_requests),
                "x-ratelimit-limit-tokens": str(self.limit_tokens),
                "x-ratelimit-remaining-tokens": str(left_tokens),
                "x-ratelimit-reset-requests": f"{reset:.3f}s",
                "x-ratelimit-reset-tokens": f"{reset:.3f}s",
                "x-request-id": f"req_demo{random.getrandbits(48):012x}",
            }


def rate_limit_429(model: str, window: str) -> tuple[dict[str, str], str]:
    """Headers and body of an OpenAI-style HTTP 429 (arrives before any SSE byte)."""
    words = {"RPM": "requests per min", "TPM": "tokens per min"}[window]
    wait_ms = random.choice((120, 480, 1400, 6000, 20000))
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0" if window == "RPM" else "12",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-tokens": "0" if window == "TPM" else "800",
        "retry-after-ms": str(wait_ms),
        "retry-after": str(max(1, wait_ms // 1000)),
        "x-request-id": f"req_demo{random.getrandbits(48):012x}",
    }
    body = json.dumps(
        {
            "error": {
                "type": "tokens" if window == "TPM" else "requests",
                "code": "rate_limit_exceeded",
                "param": None,
                "message": f"Rate limit reached for {model} in organization org-demo on {words} "
                f"({window}): Limit 200000, Used 199500, Requested 1800. "
                f"Please try again in {wait_ms}ms.",
            }
        }
    )
    return headers, body


# ------------------------------------------------------------------------- the player
class Demo:
    def __init__(
        self,
        tracer_provider: Any,
        meter_provider: Any,
        folder: Path = HERE,
        *,
        speed: float = 1.0,
        cycle_s: float = 720.0,
        incident: tuple[float, float] = (120.0, 540.0),
        seed: int | None = None,
    ) -> None:
        self.tp = tracer_provider
        self.mp = meter_provider
        self.streams, self.errors, self.seed = load(folder)
        self.speed = speed
        self.cycle_s = cycle_s
        self.incident = incident
        self.budget = Budget()
        self.started = time.monotonic()
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._stop = threading.Event()

    # --- helpers
    def in_incident(self) -> bool:
        t = ((time.monotonic() - self.started) * self.speed) % self.cycle_s
        return self.incident[0] <= t < self.incident[1]

    def sleep(self, seconds: float) -> None:
        self._stop.wait(seconds / self.speed)

    def hook(self, model: str) -> otel_responses.ResponseStreamHook:
        return otel_responses.ResponseStreamHook(
            model=model,
            server_address="api.openai.com",
            server_port=443,
            tracer_provider=self.tp,
            meter_provider=self.mp,
        )

    def _count(self, hook: otel_responses.ResponseStreamHook) -> None:
        with self._lock:
            self.outcomes[hook.outcome or "?"] += 1

    # --- one stream
    def play(
        self,
        transcript: Transcript,
        *,
        ending: str = "end",
        cut: float = 1.0,
        slow_first_token: bool = False,
    ) -> str | None:
        rng = self._rng
        hook = self.hook(transcript.model)
        self.sleep(rng.uniform(0.05, 0.25))  # request upload, connection reuse
        tokens = rng.randint(300, 4000)
        hook.on_response(200, self.budget.take(tokens, drained=self.in_incident()))
        messages = transcript.messages
        stop_at = max(1, int(len(messages) * cut)) if cut < 1.0 else len(messages)
        first_delta = True
        for i, message in enumerate(messages[:stop_at]):
            if i == 0:
                self.sleep(rng.lognormvariate(-1.2, 0.5))  # time to first chunk, ~0.3 s
            elif b".delta" in message[:80]:
                if first_delta:
                    first_delta = False
                    if slow_first_token:
                        self.sleep(rng.uniform(11.0, 16.0))
                    elif transcript.reasoning:
                        self.sleep(rng.uniform(1.5, 6.0))
                    else:
                        self.sleep(rng.uniform(0.1, 0.6))
                else:
                    self.sleep(rng.uniform(0.02, 0.06))
            else:
                self.sleep(rng.uniform(0.002, 0.03))
            # the network splits messages anywhere: feed in two arbitrary pieces
            split = rng.randint(0, len(message))
            hook.feed(message[:split])
            hook.feed(message[split:])
        if ending == "cancel":
            hook.cancel()
        elif ending == "abandon":
            hook.abandon()
        elif ending == "fail":
            hook.fail(ConnectionResetError("Connection reset by peer"))
        else:
            hook.end()
        self._count(hook)
        return hook.outcome

    def http_error(self, status: int, headers: dict[str, Any], body: Any, model: str) -> None:
        hook = self.hook(model)
        self.sleep(self._rng.uniform(0.05, 0.4))
        hook.on_response(status, headers, body)
        hook.end()
        self._count(hook)

    def step(self) -> None:
        """Play one stream, of a kind drawn from the current phase's mix."""
        rng = self._rng
        transcript = rng.choice(self.streams)
        incident = self.in_incident()
        roll = rng.random()
        if incident:
            if roll < 0.22 and self.seed is not None:
                self.play(self.seed)
            elif roll < 0.34:
                window = rng.choice(("TPM", "TPM", "RPM"))
                headers, body = rate_limit_429(transcript.model, window)
                self.http_error(429, headers, body, transcript.model)
            elif roll < 0.42:
                self.play(transcript, cut=rng.uniform(0.3, 0.8))  # truncated
            elif roll < 0.52:
                self.play(transcript, slow_first_token=True)
            else:
                self.play(transcript)
            return
        if roll < 0.02 and self.errors:
            error = rng.choice(self.errors)
            self.http_error(error.status, error.headers, error.body, transcript.model)
        elif roll < 0.03 and self.seed is not None:
            self.play(self.seed)
        elif roll < 0.045:
            self.play(transcript, cut=rng.uniform(0.3, 0.8))  # truncated
        elif roll < 0.06:
            self.play(transcript, cut=rng.uniform(0.2, 0.7), ending="cancel")
        elif roll < 0.07:
            self.play(transcript, cut=rng.uniform(0.2, 0.7), ending="abandon")
        elif roll < 0.075:
            self.play(transcript, cut=rng.uniform(0.2, 0.7), ending="fail")
        else:
            self.play(transcript)

    # --- loop
    def run(self, workers: int = 4, duration_s: float = 0.0) -> Counter[str]:
        def worker() -> None:
            while not self._stop.is_set():
                self.step()
                self.sleep(self._rng.uniform(0.2, 1.5))  # think time between calls

        threads = [
            threading.Thread(target=worker, daemon=True, name=f"demo-{i}") for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        try:
            if duration_s > 0:
                self._stop.wait(duration_s)
            else:
                while not self._stop.wait(60):
                    print(f"demo: {dict(self.outcomes)}", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=30)
        return self.outcomes


# ------------------------------------------------------------------------- OTLP set-up
def setup() -> Configured:
    """Tracer, meter and logger providers from the OTEL_* variables: otel_responses.configure(),
    the one set-up path (the CLI and the proxy use it too). The library's structlog events of
    INFO and above (failure, end) become OTel log records linked to their stream's trace."""
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return otel_responses.configure(
        service_name=None if named else "otel-responses-demo",
        instrument=False,  # the demo feeds the hook directly; no SDK to instrument
        log_level=logging.INFO,
    )


def main() -> int:
    telemetry = setup()
    tracer_provider, meter_provider = telemetry.tracer_provider, telemetry.meter_provider
    start, end = (float(x) for x in os.environ.get("DEMO_INCIDENT_S", "120-540").split("-"))
    demo = Demo(
        tracer_provider,
        meter_provider,
        Path(os.environ.get("DEMO_EXAMPLES", HERE)),
        speed=float(os.environ.get("DEMO_SPEED", "1")),
        cycle_s=float(os.environ.get("DEMO_CYCLE_S", "720")),
        incident=(start, end),
    )
    try:
        outcomes = demo.run(
            int(os.environ.get("DEMO_WORKERS", "4")), float(os.environ.get("DEMO_DURATION_S", "0"))
        )
        print(f"demo: {dict(outcomes)}", file=sys.stderr)
    finally:
        # Bounded (OTEL_RESPONSES_EXIT_TIMEOUT, 2 s): a dead collector cannot hold the exit.
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
