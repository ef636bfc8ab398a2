"""Rate-limit facts from provider prose and headers."""

from __future__ import annotations

import email.utils
import time

import pytest

from otel_responses import parse_duration
from otel_responses.dialects._openai import facts_from_headers, facts_from_message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1.4s", 1.4),
        ("120ms", 0.12),
        ("20s", 20.0),
        ("1h2m3.5s", 3723.5),
        ("0s", 0.0),
        ("250us", 0.00025),
        ("3", 3.0),
        ("0.5", 0.5),
        (" 2s ", 2.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1", "1x", "5 s", "1s2", "nan", "inf", "m6", "1e999"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("message", "facts"),
    [
        (
            "Rate limit reached for gpt-4o in organization org-X1 on tokens per min (TPM): "
            "Limit 30000, Used 29950, Requested 750. Please try again in 1.4s. Visit ...",
            {
                "window": "TPM",
                "limit": 30000,
                "used": 29950,
                "requested": 750,
                "retry_after": 1.4,
                "organization": "org-X1",
            },
        ),
        (
            "Request too large for gpt-4o in project proj_X organization org-Y on tokens per min "
            "(TPM): Limit 1, Requested 30. The input or output tokens must be reduced.",
            {
                "window": "TPM",
                "limit": 1,
                "requested": 30,
                "project": "proj_X",
                "organization": "org-Y",
            },
        ),
        (
            "Rate limit reached for o1 in organization org-Z on requests per day (RPD): Limit 100, "
            "Used 100, Requested 1. Please try again in 6m0s.",
            {
                "window": "RPD",
                "limit": 100,
                "used": 100,
                "requested": 1,
                "retry_after": 360.0,
                "organization": "org-Z",
            },
        ),
        (
            "Rate limit reached for dall-e-3 on images per min (IPM): Limit 5. Try again in 120ms.",
            {"window": "IPM", "limit": 5, "retry_after": 0.12},
        ),
        (
            "You exceeded your limit on requests per minute, try again in 20s",
            {"window": "RPM", "retry_after": 20.0},
        ),
        ("You exceeded your current quota, please check your plan and billing details.", {}),
    ],
)
def test_messages(message: str, facts: dict[str, object]) -> None:
    assert facts_from_message(message).known() == facts


def test_headers() -> None:
    facts = facts_from_headers(
        {
            "X-RateLimit-Limit-Requests": "10000",
            "x-ratelimit-limit-tokens": "2000000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-remaining-tokens": "1999000",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "1m30s",
            "retry-after": "7",
            "retry-after-ms": "6500",
        }
    )
    assert facts.known() == {
        "limit_requests": 10000,
        "limit_tokens": 2000000,
        "remaining_requests": 9999,
        "remaining_tokens": 1999000,
        "reset_requests": pytest.approx(0.006),
        "reset_tokens": 90.0,
        "retry_after": 6.5,  # retry-after-ms is the more precise of the two
    }


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    retry_after = facts_from_headers({"Retry-After": when}).retry_after
    assert retry_after is not None and 25 <= retry_after <= 31


def test_bad_header_values_are_ignored() -> None:
    assert (
        facts_from_headers(
            {
                "x-ratelimit-remaining-tokens": "lots",
                "retry-after": "soon",
                "x-ratelimit-reset-tokens": "-5s",
            }
        ).known()
        == {}
    )


def test_hostile_message_is_bounded() -> None:
    message = "Limit " + "9" * 100_000 + " (TPM)" + " try again in " + "1s" * 50_000
    facts = facts_from_message(message)
    assert facts.limit == int("9" * 18)
