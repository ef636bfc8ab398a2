"""The ``--upstream`` syntax and how a path picks its route (no HTTP involved)."""

from __future__ import annotations

import pytest

from otel_responses.proxy import Router, UpstreamSyntaxError, parse_upstream
from otel_responses.proxy._dialects import dialect_of


def test_forms() -> None:
    default = parse_upstream("https://api.openai.com")
    assert (default.name, default.prefix, default.dialects) == ("default", None, ())
    assert (default.origin, default.host_header, default.base_path) == (
        "https://api.openai.com",
        "api.openai.com",
        "",
    )
    prefixed = parse_upstream("/anthropic/=https://api.anthropic.com")
    assert (prefixed.name, prefixed.prefix) == ("/anthropic", "/anthropic")
    by_dialect = parse_upstream("OpenAI=http://gw.internal:8080/openai/")
    assert by_dialect.name == "openai"
    assert by_dialect.dialects == ("responses", "chat_completions")
    assert (by_dialect.port, by_dialect.base_path) == (8080, "/openai")
    assert by_dialect.host_header == "gw.internal:8080"
    assert parse_upstream("http://[::1]:9000").origin == "http://[::1]:9000"


@pytest.mark.parametrize(
    "spec",
    [
        "api.openai.com",  # no scheme
        "ftp://x",
        "https://user:pw@api.openai.com",  # credentials would be forwarded to nobody's knowledge
        "https://api.openai.com/?key=1",
        "/=https://api.openai.com",
        "mistral=https://api.mistral.ai",  # not a known dialect or provider
        "a b=https://x",
        "https://x:99999",
    ],
)
def test_rejected(spec: str) -> None:
    with pytest.raises(UpstreamSyntaxError):
        parse_upstream(spec)


def test_route_precedence() -> None:
    router = Router(
        [
            parse_upstream("https://default.example"),
            parse_upstream("/a=https://a.example/base"),
            parse_upstream("/a/b=https://ab.example"),
            parse_upstream("anthropic=https://anthropic.example"),
        ]
    )

    def where(method: str, path: str) -> tuple[str, str] | None:
        route = router.route(method, path, dialect_of)
        return None if route is None else (route.upstream.host, route.path)

    assert where("POST", "/a/v1/x") == ("a.example", "/base/v1/x")
    assert where("POST", "/a/b/v1/x") == ("ab.example", "/v1/x")  # longest prefix
    assert where("POST", "/a") == ("a.example", "/base/")
    assert where("POST", "/ab/v1/x") == ("default.example", "/ab/v1/x")  # whole segments only
    assert where("POST", "/v1/messages") == ("anthropic.example", "/v1/messages")
    assert where("GET", "/v1/messages") == ("default.example", "/v1/messages")  # not a call
    assert where("POST", "/v1/responses") == ("default.example", "/v1/responses")


def test_no_default_means_404() -> None:
    router = Router([parse_upstream("/x=https://x.example")])
    assert router.route("GET", "/y", dialect_of) is None


@pytest.mark.parametrize(
    "specs",
    [
        [],
        ["https://a.example", "https://b.example"],
        ["/p=https://a.example", "/p/=https://b.example"],
        ["openai=https://a.example", "responses=https://b.example"],
    ],
)
def test_conflicts_rejected(specs: list[str]) -> None:
    with pytest.raises(UpstreamSyntaxError):
        Router([parse_upstream(s) for s in specs])
