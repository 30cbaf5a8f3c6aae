"""CORS for browser-based MCP clients: preflights answered before authentication.

Implements the server side of the Fetch Standard's CORS protocol (https://fetch.spec.whatwg.org/,
§3.2 "CORS protocol": §3.2.2 requests, §3.2.3 responses; §4.8 "CORS-preflight fetch"):

- A **CORS-preflight request** is an ``OPTIONS`` request with ``Origin`` and
  ``Access-Control-Request-Method`` (§3.2.2). A browser sends it without credentials (§4.8:
  credentials mode "omit"), so it never carries ``Authorization``: answering it 401 can never
  succeed and blocks every browser client (the MCP Inspector, web IDEs). It is answered here,
  before authentication, and never reaches the application.
- An allowed origin gets ``204`` with ``Access-Control-Allow-Origin``, ``-Allow-Methods``,
  ``-Allow-Headers`` and ``-Max-Age``; the allowed headers are listed by name, because the ``*``
  wildcard never covers ``Authorization`` (§3.2.3, "CORS non-wildcard request-header name").
  Any other origin gets ``403`` without CORS headers, so the browser refuses the request.
- An **actual response** to an allowed origin, the 401/403 challenges included, carries
  ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers`` (``WWW-Authenticate``,
  ``Mcp-Session-Id``...): a browser client reads only CORS-safelisted response headers otherwise,
  and could neither follow a challenge (RFC 6750 §3, RFC 9728 §5.1, MCP 2026-07-28 "Protected
  Resource Metadata Discovery Requirements") nor keep its session (MCP streamable HTTP).

Origins are matched as serialized (scheme, host, port): ``https://app.example``, a port wildcard
``http://localhost:*`` (the form the MCP SDK's transport security uses) or ``*`` (any origin;
safe for bearer-token APIs: no cookies are involved, and ``Access-Control-Allow-Credentials`` is
never sent). Origin validation against DNS rebinding (MCP streamable HTTP, S-24) stays with the
transport: CORS decides what a browser may *read*, not what reaches the server.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOOPBACK_ORIGINS",
    "MCP_REQUEST_HEADERS",
    "MCP_RESPONSE_HEADERS",
    "CorsGate",
    "CorsPolicy",
    "cors_request",
]

Response = tuple[int, list[tuple[bytes, bytes]], bytes]

MCP_REQUEST_HEADERS = (
    "Authorization", "Content-Type", "Mcp-Protocol-Version", "Mcp-Session-Id", "Mcp-Method",
    "Mcp-Name", "DPoP", "Last-Event-ID",
)  # fmt: skip
"""What an MCP client sends to a resource server (RFC 6750 §2.1, RFC 9449 §7.1, MCP streamable
HTTP at 2025-06-18..2026-07-28: protocol version, session, method/name headers, SSE resumption)."""

MCP_RESPONSE_HEADERS = ("WWW-Authenticate", "Mcp-Session-Id", "Mcp-Protocol-Version", "DPoP-Nonce")
"""What a browser client must be able to read from a resource server's responses."""

LOOPBACK_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")
"""Any port on a loopback host: the default for a resource (or dev server) on loopback."""

_MAX_AGE = b"7200"  # seconds; Chromium caps a preflight's cache at two hours
_VARY = (b"vary", b"Origin")


def _origin_rule(origin: str) -> str:
    """``origin`` checked and lowercased; a ``ValueError`` naming the right form otherwise."""
    if origin == "*":
        return origin
    rule = origin.strip().lower()
    parts = urlsplit(rule[:-1] + "0" if rule.endswith(":*") else rule)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(
            f"cors_origins: {origin!r} is not an origin; give scheme://host[:port] with no path "
            "(e.g. 'https://app.example', 'http://localhost:*' for any port, or '*')"
        )
    return rule


class CorsPolicy:
    """Which origins may read responses, and the CORS headers of each response (Fetch §3.2.3).

    ``origins``: origin strings, ``host:*`` port wildcards, or ``"*"``; empty turns CORS off
    (every preflight is refused with 403, no response carries CORS headers).
    """

    __slots__ = ("_any", "_exact", "_expose", "_prefixes", "_preflight_tail", "_refused")

    def __init__(
        self,
        origins: Iterable[str],
        *,
        methods: Iterable[str] = ("GET", "POST", "DELETE", "OPTIONS"),
        request_headers: Iterable[str] = MCP_REQUEST_HEADERS,
        expose_headers: Iterable[str] = MCP_RESPONSE_HEADERS,
    ) -> None:
        rules = [_origin_rule(origin) for origin in origins]
        self._any = "*" in rules
        self._exact = frozenset(rule.encode() for rule in rules if not rule.endswith(":*"))
        self._prefixes = tuple(rule[:-1].encode() for rule in rules if rule.endswith(":*"))
        self._expose = (b"access-control-expose-headers", ", ".join(expose_headers).encode())
        self._preflight_tail = [
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-allow-headers", ", ".join(request_headers).encode()),
            (b"access-control-max-age", _MAX_AGE),
            (b"content-length", b"0"),
        ]
        body = (
            b'{"error":"origin_not_allowed","error_description":"this origin may not call this '
            b"server from a browser: add it to the server's CORS origins\"}"
        )
        self._refused: Response = (
            403,
            [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            body,
        )

    @classmethod
    def for_resource(cls, resource: str, origins: Iterable[str] | None) -> CorsPolicy:
        """The policy of a resource server: ``origins`` when given, else loopback origins for a
        loopback ``resource`` (a development setup: the MCP Inspector on ``localhost``), else
        none."""
        if origins is None:
            host = urlsplit(resource).hostname
            origins = LOOPBACK_ORIGINS if host in ("localhost", "127.0.0.1", "::1") else ()
        return cls(origins)

    @property
    def enabled(self) -> bool:
        return self._any or bool(self._exact) or bool(self._prefixes)

    def allow_origin(self, origin: bytes) -> bytes | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None when not allowed."""
        if self._any:
            return b"*"
        origin = origin.lower()
        if origin in self._exact:
            return origin
        for prefix in self._prefixes:  # "http://localhost:" + digits, or no port at all
            if origin.startswith(prefix) and origin[len(prefix) :].isdigit():
                return origin
            if origin == prefix[:-1]:
                return origin
        return None

    def preflight(self, origin: bytes) -> Response:
        """The answer to a CORS-preflight request from ``origin`` (Fetch §4.8: ``ok`` status)."""
        allowed = self.allow_origin(origin)
        if allowed is None:
            return self._refused
        headers = [(b"access-control-allow-origin", allowed), _VARY, *self._preflight_tail]
        return 204, headers, b""

    def response_headers(self, origin: bytes) -> list[tuple[bytes, bytes]] | None:
        """The CORS headers of an actual response to ``origin``, or None when not allowed."""
        allowed = self.allow_origin(origin)
        if allowed is None:
            return None
        return [(b"access-control-allow-origin", allowed), _VARY, self._expose]

    def wrap_send(self, send: Send, origin: bytes) -> Send:
        """``send`` adding the CORS headers for ``origin`` to the response start, unless the
        application already answered CORS itself (or the origin is not allowed)."""
        extra = self.response_headers(origin)
        if extra is None:
            return send

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"access-control-allow-origin" for name, _ in headers):
                    message = {**message, "headers": [*headers, *extra]}
            await send(message)

        return send_with_cors


def cors_request(scope: Scope) -> tuple[bytes | None, bool]:
    """``(Origin, is a CORS-preflight request)`` of an HTTP request (Fetch §3.2.2)."""
    origin: bytes | None = None
    asks_method = False
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value
        elif name == b"access-control-request-method":
            asks_method = True
    return origin, origin is not None and asks_method and scope["method"] == "OPTIONS"


class CorsGate:
    """Pure-ASGI CORS for the endpoints a browser client calls (an authorization server's
    metadata, JWKS, registration, token, revocation): preflights for ``paths`` are answered
    here, and responses on ``paths`` to an allowed origin get the CORS headers."""

    def __init__(self, app: ASGIApp, *, policy: CorsPolicy, paths: Collection[str]) -> None:
        self.app = app
        self._policy = policy
        self._paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self._paths:
            await self.app(scope, receive, send)
            return
        origin, preflight = cors_request(scope)
        if preflight:
            assert origin is not None  # a preflight has an Origin (cors_request)
            status, headers, body = self._policy.preflight(origin)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if origin is not None:
            send = self._policy.wrap_send(send, origin)
        await self.app(scope, receive, send)
