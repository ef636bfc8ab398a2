"""``otel-responses proxy``: a sidecar reverse proxy that traces the LLM calls of apps in any
language (see ``docs/proxy.md``).

Importing this package does not import aiohttp; ``otel_responses.proxy._server`` does, and only
the ``proxy`` command and the tests load it.
Install it with ``pip install 'otel-responses[proxy]'``.
"""

from ._config import Route, Router, Upstream, UpstreamSyntaxError, parse_upstream

__all__ = ["Route", "Router", "Upstream", "UpstreamSyntaxError", "parse_upstream"]
