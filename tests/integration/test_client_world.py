"""A small loopback world for client tests: zeroauth's dev AS + a BearerAuth-protected server.

Everything runs for real under uvicorn on 127.0.0.1 (``tests/helpers/asgi_server.py``); every
request each server receives is recorded, so tests can count round trips and inspect what
the client sent. Imported by the other ``test_client_*`` modules; its own tests check that the
world itself behaves (a bare request gets the RFC 6750 401, the AS serves its metadata).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server.jwks import JWKSCache
from zeroauth.server.jwt import JWTVerifier
from zeroauth.server.middleware import BearerAuth, current_token

ASGI = Callable[..., Any]


@dataclass
class Seen:
    server: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.query).items()}


@dataclass
class Recorder:
    seen: list[Seen] = field(default_factory=list)

    def wrap(self, name: str, app: ASGI) -> ASGI:
        async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.seen.append(
                Seen(name, scope["method"], scope["path"], scope["query_string"].decode(),
                     headers, body)
            )  # fmt: skip
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await app(scope, replay, send)

        return recorded

    def where(self, server: str | None = None, path: str | None = None,
              method: str | None = None) -> list[Seen]:  # fmt: skip
        return [
            s
            for s in self.seen
            if (server is None or s.server == server)
            and (
                path is None
                or s.path == path
                or (path.endswith("*") and s.path.startswith(path[:-1]))
            )
            and (method is None or s.method == method)
        ]

    def clear(self) -> None:
        self.seen.clear()


class Lazy:
    """An ASGI app whose inner app is set after the server is listening (URLs known)."""

    def __init__(self) -> None:
        self.inner: ASGI | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.inner is not None
        await self.inner(scope, receive, send)


async def _echo(request: Request) -> JSONResponse:
    token = current_token()
    try:
        payload = json.loads(await request.body() or b"{}")
    except ValueError:
        payload = {}
    return JSONResponse(
        {
            "jsonrpc": "2.0",
            "id": payload.get("id", 1) if isinstance(payload, dict) else 1,
            "result": {
                "sub": token.subject if token else None,
                "scopes": sorted(token.scopes) if token else [],
            },
        }
    )


def echo_app() -> Starlette:
    return Starlette(routes=[Route("/mcp", _echo, methods=["POST", "GET"])])


@dataclass
class World:
    mcp: ServedApp
    auth: ServedApp
    issuer: str
    recorder: Recorder
    dev: DevAuthorizationServer
    mcp_lazy: Lazy

    @property
    def server_url(self) -> str:
        return self.mcp.url("/mcp")

    def client(self, **options: Any) -> ZeroAuth:
        options.setdefault("url_policy", DEVELOPMENT)
        options.setdefault("user_step", HeadlessUserStep(url_policy=DEVELOPMENT))
        options.setdefault("store", MemoryTokenStore())
        return ZeroAuth(**options)

    def protect(self, app: ASGI | None = None, **bearer: Any) -> None:
        """(Re)install the protected app behind BearerAuth."""
        verifier = JWTVerifier(
            issuer=self.issuer,
            resource=self.server_url,
            jwks=JWKSCache(f"{self.issuer}/jwks", url_policy=DEVELOPMENT),
        )
        bearer.setdefault("authorization_servers", [self.issuer])
        bearer.setdefault("scopes_supported", ["mcp:read", "mcp:write"])
        self.mcp_lazy.inner = self.recorder.wrap(
            "mcp",
            BearerAuth(app or echo_app(), verifier=verifier, resource=self.server_url, **bearer),
        )


@contextlib.contextmanager
def world(
    *, scopes: Sequence[str] = ("mcp:read", "mcp:write"), issuer_path: str = "",
    as_options: dict[str, Any] | None = None, **bearer: Any,
) -> Iterator[World]:  # fmt: skip
    recorder = Recorder()
    mcp_lazy = Lazy()
    holder: dict[str, Any] = {}
    with serve_asgi(mcp_lazy) as mcp:

        def make_as(base_url: str) -> ASGI:
            config = DevServerConfig(
                issuer=base_url + issuer_path,
                resources=[ProtectedResource(mcp.url("/mcp"), tuple(scopes))],
                auto_approve=True,
                **(as_options or {}),
            )
            dev = DevAuthorizationServer(config)
            holder["dev"] = dev
            return recorder.wrap("as", dev.app())

        with serve_asgi(factory=make_as) as auth:
            w = World(mcp, auth, auth.base_url + issuer_path, recorder, holder["dev"], mcp_lazy)
            w.protect(**bearer)
            yield w


# -- the world's own checks -----------------------------------------------------------------


def test_world_bare_request_gets_rfc6750_challenge() -> None:
    with world() as w:
        response = httpx2.post(w.server_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert "resource_metadata=" in challenge
        assert "error=" not in challenge  # S-11
        metadata = httpx2.get(f"{w.issuer}/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == w.issuer
        assert "S256" in metadata["code_challenge_methods_supported"]
