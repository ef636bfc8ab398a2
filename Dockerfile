# The `demo` service of docker-compose.yml: replays examples/ through otel-responses and exports
# over OTLP to the Collector (configured by the standard OTEL_* variables).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY otel_responses ./otel_responses
RUN pip install '.[proxy]'

COPY examples ./examples
USER nobody
CMD ["python", "examples/demo.py"]
