"""What the two OpenAI APIs (Responses, Chat Completions) share: error shapes, the rate-limit
prose of their messages, the ``x-ratelimit-*`` headers, and which provider a host is.

The API states rate-limit facts only in prose ("... on tokens per min (TPM): Limit 30000, Used
29950, Requested 750. Please try again in 1.4s.") and in headers; no library parses either.
"""

from __future__ import annotations

import re
from typing import Any

from .._redact import redact
from ._access import as_mapping, code, field, lowered, text
from ._durations import header_int, parse_duration, retry_after
from ._facts import ErrorFacts, HTTPFacts, RateLimit, RequestFacts, body_request_facts

_WINDOW = re.compile(r"\(([A-Z]{3})\)")
_WINDOW_WORDS = re.compile(r"\b(tokens|requests|images) per (min|day)", re.IGNORECASE)
_WORD_WINDOWS = {
    ("tokens", "min"): "TPM",
    ("tokens", "day"): "TPD",
    ("requests", "min"): "RPM",
    ("requests", "day"): "RPD",
    ("images", "min"): "IPM",
}
_LIMIT = re.compile(r"\bLimit:? (\d+)")
_USED = re.compile(r"\bUsed:? (\d+)")
_REQUESTED = re.compile(r"\bRequested:? (\d+)")
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+)", re.IGNORECASE)
_ORG = re.compile(r"\borganization (org-[A-Za-z0-9]+)")
_PROJECT = re.compile(r"\bproject (proj_[A-Za-z0-9]+)")
_MAX_TEXT = 4096  # longer inputs are cut before any regex runs: bounded work on hostile input

# gen_ai.provider.name of the OpenAI-compatible servers the semantic conventions name.
_PROVIDER_HOSTS = (
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.openai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.openai.com", "openai"),
)


def provider_for_host(host: str | None) -> str:
    """The semantic-convention provider of a known host; ``openai`` for any other server
    speaking the OpenAI API (vLLM, Ollama, LM Studio, gateways...)."""
    if host:
        host = host.lower()
        for suffix, provider in _PROVIDER_HOSTS:
            if host == suffix.lstrip(".") or host.endswith(suffix):
                return provider
    return "openai"


def facts_from_message(message: str) -> RateLimit:
    """Rate-limit facts stated by an OpenAI error message; empty if it states none."""
    message = message[:_MAX_TEXT]
    facts = RateLimit()
    window = _WINDOW.search(message)
    if window is not None:
        facts.window = window.group(1)
    else:
        words = _WINDOW_WORDS.search(message)
        if words is not None:
            facts.window = _WORD_WINDOWS[(words.group(1).lower(), words.group(2).lower())]
    for pattern, name in ((_LIMIT, "limit"), (_USED, "used"), (_REQUESTED, "requested")):
        match = pattern.search(message)
        if match is not None:
            setattr(facts, name, int(match.group(1)[:18]))
    retry = _TRY_AGAIN.search(message)
    if retry is not None:
        facts.retry_after = parse_duration(retry.group(1))
    org = _ORG.search(message)
    if org is not None:
        facts.organization = org.group(1)
    project = _PROJECT.search(message)
    if project is not None:
        facts.project = project.group(1)
    return facts


def facts_from_headers(headers: Any) -> RateLimit:
    """``x-ratelimit-*`` and ``retry-after`` headers (names matched case-insensitively)."""
    h = lowered(headers)
    reset_requests = h.get("x-ratelimit-reset-requests")
    reset_tokens = h.get("x-ratelimit-reset-tokens")
    return RateLimit(
        retry_after=retry_after(h),
        limit_requests=header_int(h, "x-ratelimit-limit-requests"),
        limit_tokens=header_int(h, "x-ratelimit-limit-tokens"),
        remaining_requests=header_int(h, "x-ratelimit-remaining-requests"),
        remaining_tokens=header_int(h, "x-ratelimit-remaining-tokens"),
        reset_requests=parse_duration(reset_requests) if reset_requests else None,
        reset_tokens=parse_duration(reset_tokens) if reset_tokens else None,
    )


def error_of(payload: Any) -> tuple[ErrorFacts, RateLimit | None]:
    """The error of an event or body, flat (``{"code", "message"}``) or nested under
    ``error``; ``error.type`` is its ``code``, else its ``type``. With the rate-limit facts its
    message states."""
    nested = field(payload, "error")
    source = nested if nested is not None and not isinstance(nested, str) else payload
    found = field(source, "code")
    if found is None and source is not payload:
        found = field(source, "type")
    message = field(source, "message")
    message = message if isinstance(message, str) and message else None
    facts = facts_from_message(message) if message else None
    error_code = code(found)
    return (
        ErrorFacts(
            error_code,
            redact(message) if message else None,
            text(field(source, "param")),
            rate_limited=error_code == "rate_limit_exceeded",
        ),
        facts if facts else None,
    )


def http_facts(status: int, headers: Any, body: Any) -> HTTPFacts:
    """Headers and error body of an OpenAI-API response (``{"error": {...}}``)."""
    rate_limit = facts_from_headers(headers)
    request_id = lowered(headers).get("x-request-id") or None
    error = None
    if status >= 400:
        parsed = as_mapping(body)
        if parsed is not None:
            error, stated = error_of(parsed)
            rate_limit.merge(stated)
        else:
            error = ErrorFacts(None, None)
    return HTTPFacts(rate_limit, request_id, error)


class OpenAIAPI:
    """What the OpenAI dialects share: operation ``chat``, the provider by host, the request's
    ``model``/``stream`` fields, and the HTTP facts above."""

    operation = "chat"

    def provider(self, host: str | None, path: str | None = None) -> str:
        return provider_for_host(host)

    def request(self, path: str, body: Any) -> RequestFacts:
        return body_request_facts(body)

    def http(self, status: int, headers: Any, body: Any) -> HTTPFacts:
        return http_facts(status, headers, body)
