"""The instrumented library and version range (read by ``opentelemetry-instrument``)."""

_instruments = ("openai >= 1.66",)
