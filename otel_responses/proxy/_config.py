"""Upstream routes of the proxy and how a request path picks one.

Kept free of any HTTP library so the syntax can be parsed, tested and documented without the
``proxy`` extra installed.

Syntax of ``--upstream`` (repeatable):

* ``URL`` — the default route: every request no other route takes.
* ``/prefix=URL`` — a path-prefix route: ``/prefix/v1/messages`` goes to ``URL`` + ``/v1/messages``
  (the prefix is stripped, the URL's own path is prepended). Matched on whole path segments;
  the longest prefix wins.
* ``name=URL`` — a dialect route: requests whose path is of that dialect go there. ``name`` is a
  dialect (``responses``, ``chat_completions``, ``anthropic_messages``, ``gemini``) or a provider
  standing for its dialects (``openai`` = Responses and Chat Completions, ``anthropic``,
  ``gemini``/``google``).

Prefix routes are tried first, then dialect routes, then the default. A request no route takes
gets a 404 from the proxy itself: the proxy only ever connects to configured upstreams, never to
a host the request names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DIALECTS = ("responses", "chat_completions", "anthropic_messages", "gemini")
PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai": ("responses", "chat_completions"),
    "anthropic": ("anthropic_messages",),
    "gemini": ("gemini",),
    "google": ("gemini",),
    **{name: (name,) for name in DIALECTS},
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


class UpstreamSyntaxError(ValueError):
    """An ``--upstream`` value that cannot be used; the message says why."""


@dataclass(frozen=True)
class Upstream:
    """One configured upstream: where it is, and which requests go there."""

    name: str
    """Recorded as ``otel_responses.proxy.upstream`` (the prefix, dialect name or ``default``)."""
    scheme: str
    host: str
    port: int
    base_path: str
    """The URL's path without its trailing slash; prepended to every forwarded path."""
    prefix: str | None = None
    dialects: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        default = _DEFAULT_PORTS[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")

    @property
    def host_header(self) -> str:
        """The ``Host`` the upstream expects (the request's own is never forwarded)."""
        return self.origin.split("://", 1)[1]


def parse_upstream(spec: str) -> Upstream:
    """One ``--upstream`` value (see the module docstring for the syntax)."""
    spec = spec.strip()
    name: str | None = None
    prefix: str | None = None
    url = spec
    head, sep, tail = spec.partition("=")
    if sep and "://" not in head:
        url = tail.strip()
        head = head.strip()
        if head.startswith("/"):
            prefix = "/" + head.strip("/")
            if prefix == "/":
                raise UpstreamSyntaxError(
                    f"{spec!r}: the prefix '/' is the default route; give the URL alone"
                )
        elif _NAME.match(head.lower()):
            name = head.lower()
            if name not in PROVIDERS:
                known = ", ".join(sorted(PROVIDERS))
                raise UpstreamSyntaxError(
                    f"{spec!r}: unknown dialect or provider {head!r} (known: {known})"
                )
        else:
            raise UpstreamSyntaxError(f"{spec!r}: expected URL, /prefix=URL or name=URL")
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UpstreamSyntaxError(f"{spec!r}: the URL must be http:// or https:// with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UpstreamSyntaxError(
            f"{spec!r}: the URL may not carry a query, fragment or credentials"
        )
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise UpstreamSyntaxError(f"{spec!r}: {exc}") from None
    return Upstream(
        name=prefix or name or "default",
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        base_path=parts.path.rstrip("/"),
        prefix=prefix,
        dialects=PROVIDERS[name] if name else (),
    )


DialectOf = Callable[[str, str | None, str], "str | None"]
"""``(method, host, path) -> dialect name or None``."""


@dataclass(frozen=True)
class Route:
    """Where one request goes: the upstream and the path to ask it for (no query)."""

    upstream: Upstream
    path: str


@dataclass
class Router:
    """Picks the upstream of a request path: longest prefix, then dialect, then default."""

    upstreams: Sequence[Upstream]
    _prefixes: list[Upstream] = field(init=False)
    _by_dialect: dict[str, Upstream] = field(init=False)
    _default: Upstream | None = field(init=False)

    def __post_init__(self) -> None:
        self._prefixes = sorted(
            (u for u in self.upstreams if u.prefix), key=lambda u: -len(u.prefix or "")
        )
        self._by_dialect = {}
        self._default = None
        seen_prefixes: set[str] = set()
        for up in self.upstreams:
            if up.prefix:
                if up.prefix in seen_prefixes:
                    raise UpstreamSyntaxError(f"prefix {up.prefix!r} given twice")
                seen_prefixes.add(up.prefix)
            elif up.dialects:
                for dialect in up.dialects:
                    if dialect in self._by_dialect:
                        raise UpstreamSyntaxError(f"dialect {dialect!r} routed twice")
                    self._by_dialect[dialect] = up
            else:
                if self._default is not None:
                    raise UpstreamSyntaxError("more than one default upstream (URL without a name)")
                self._default = up
        if not self.upstreams:
            raise UpstreamSyntaxError("no upstream configured")

    def route(self, method: str, path: str, dialect_of: DialectOf) -> Route | None:
        """The route of ``path`` (raw, percent-encoded, without query), or ``None`` (404)."""
        for up in self._prefixes:
            prefix = up.prefix or ""
            if path == prefix or path.startswith(prefix + "/"):
                return Route(up, up.base_path + (path[len(prefix) :] or "/"))
        if self._by_dialect:
            for up in {id(u): u for u in self._by_dialect.values()}.values():
                upstream_path = up.base_path + path
                dialect = dialect_of(method, up.host, upstream_path)
                if dialect is not None and self._by_dialect.get(dialect) is up:
                    return Route(up, upstream_path)
        if self._default is not None:
            return Route(self._default, self._default.base_path + path)
        return None
