"""A small loopback world for client tests: zeroauth's dev AS + a BearerAuth-protected server.

Everything runs for real under uvicorn on 127.0.0.1 (``tests/helpers/asgi_server.py``); every
request each server receives is recorded (``tests/helpers/recorder.py``), so tests can count
round trips and inspect what the client sent. ``scripted()`` serves an authorization server and
an MCP server whose answers a test scripts.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.recorder import ASGI, Recorder
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth, current_token


class Lazy:
    """An ASGI app whose inner app is set after the server is listening (URLs known)."""

    def __init__(self) -> None:
        self.inner: ASGI | None = None
        self.on_shutdown: list[Callable[[], Any]] = []  # coroutines run in the server's loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            for hook in self.on_shutdown:
                await hook()
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
        jwks = JWKSCache(f"{self.issuer}/jwks", url_policy=DEVELOPMENT)
        self.mcp_lazy.on_shutdown.append(jwks.aclose)
        verifier = JWTVerifier(issuer=self.issuer, resource=self.server_url, jwks=jwks)
        bearer.setdefault("authorization_servers", [self.issuer])
        bearer.setdefault("scopes_supported", ["mcp:read", "mcp:write"])
        self.mcp_lazy.inner = self.recorder.wrap(
            "mcp",
            BearerAuth(app or echo_app(), verifier=verifier, resource=self.server_url, **bearer),
        )


@contextlib.contextmanager
def world(
    *, scopes: Sequence[str] = ("mcp:read", "mcp:write"), issuer_path: str = "",
    as_options: dict[str, Any] | None = None, also: Sequence[str] = (), **bearer: Any,
) -> Iterator[World]:  # fmt: skip
    """``also``: paths of further resources on the MCP server the dev AS issues tokens for."""
    recorder = Recorder()
    mcp_lazy = Lazy()
    holder: dict[str, Any] = {}
    with serve_asgi(mcp_lazy) as mcp:

        def make_as(base_url: str) -> ASGI:
            config = DevServerConfig(
                issuer=base_url + issuer_path,
                resources=[ProtectedResource(mcp.url(p), tuple(scopes)) for p in ("/mcp", *also)],
                **{"auto_approve": True, **(as_options or {})},
            )
            dev = DevAuthorizationServer(config)
            holder["dev"] = dev
            return recorder.wrap("as", dev.app())

        with serve_asgi(factory=make_as) as auth:
            w = World(mcp, auth, auth.base_url + issuer_path, recorder, holder["dev"], mcp_lazy)
            w.protect(**bearer)
            yield w


def _redirect(location: str) -> Any:
    from starlette.responses import Response

    return Response(status_code=302, headers={"location": location})


class ScriptedAS:
    """A tiny OAuth 2.1 AS whose behaviour tests switch: metadata, iss/state in the redirect,
    registration memory, refresh outcome, rotation with replay detection."""

    def __init__(self, base_url: str, path: str = "") -> None:
        self.base = base_url
        self.issuer = base_url + path
        self.metadata: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "registration_endpoint": f"{self.issuer}/register",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
        }
        p = path.rstrip("/")
        self.metadata_paths = {f"/.well-known/oauth-authorization-server{p}"}
        self.iss_mode = "correct"  # correct | wrong | omit | normalized
        self.state_mode = "echo"  # echo | wrong | omit
        self.auth_error: tuple[str, str] | None = None
        self.clients: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # access token -> grant
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.used_refresh: set[str] = set()
        self.replays = 0
        self.token_ttl = 3600
        self.issue_refresh = True
        self.refresh_mode = "ok"  # ok | invalid_grant | 503
        self.token_status: int | None = None  # force the token endpoint to answer this status
        self.counter = 0
        self.grant_scope: tuple[str, ...] | None = None  # grant less than requested if set

    def forget_clients(self) -> None:
        self.clients.clear()

    def app(self) -> Starlette:
        routes = [Route(p, self._metadata) for p in sorted(self.metadata_paths)]
        p = self.issuer[len(self.base) :]
        routes += [
            Route(f"{p}/authorize", self._authorize),
            Route(f"{p}/token", self._token, methods=["POST"]),
            Route(f"{p}/register", self._register, methods=["POST"]),
        ]
        app = Starlette(routes=routes)

        async def dynamic(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] in self.metadata_paths:
                await self._metadata_asgi(scope, receive, send)
                return
            await app(scope, receive, send)

        return dynamic  # type: ignore[return-value]

    async def _metadata_asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await JSONResponse(self.metadata)(scope, receive, send)

    async def _metadata(self, request: Request) -> JSONResponse:
        return JSONResponse(self.metadata)

    async def _register(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.counter += 1
        client_id = f"client-{self.counter}-{self.issuer[-5:]}"
        self.clients[client_id] = body
        return JSONResponse(
            {"client_id": client_id, **body, "token_endpoint_auth_method": "none"},
            status_code=201,
        )

    async def _authorize(self, request: Request) -> Any:
        q = dict(request.query_params)
        from urllib.parse import urlencode

        params: dict[str, str] = {}
        if self.auth_error:
            params["error"], params["error_description"] = self.auth_error
        else:
            self.counter += 1
            code = f"code-{self.counter}"
            self.codes[code] = q
            params["code"] = code
        if self.state_mode == "echo":
            params["state"] = q.get("state", "")
        elif self.state_mode == "wrong":
            params["state"] = "not-the-state"
        if self.iss_mode == "correct":
            params["iss"] = self.issuer
        elif self.iss_mode == "wrong":
            params["iss"] = "https://evil.example"
        elif self.iss_mode == "normalized":
            params["iss"] = self.issuer + "/"
        return _redirect(q["redirect_uri"] + "?" + urlencode(params))

    def _issue(self, grant: dict[str, Any]) -> JSONResponse:
        self.counter += 1
        access = f"tok-{self.counter}-{self.issuer[-5:]}"
        self.tokens[access] = {**grant, "exp": __import__("time").time() + self.token_ttl}
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "scope": " ".join(grant["scope"]),
        }
        if self.issue_refresh:
            rt = f"rt-{self.counter}-{self.issuer[-5:]}"
            self.refresh_tokens[rt] = grant
            body["refresh_token"] = rt
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def _token(self, request: Request) -> Any:
        form = dict(await request.form())
        if self.token_status is not None:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=self.token_status)
        client_id = form.get("client_id", "")
        if form.get("grant_type") == "authorization_code":
            code = self.codes.pop(str(form.get("code")), None)
            if code is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if client_id not in self.clients and not client_id.startswith("https://"):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            scope = tuple(code.get("scope", "").split()) or ("mcp:read",)
            if self.grant_scope is not None:
                scope = self.grant_scope
            return self._issue(
                {"client_id": client_id, "resource": form.get("resource"), "scope": scope}
            )
        if form.get("grant_type") == "refresh_token":
            rt = str(form.get("refresh_token"))
            if self.refresh_mode == "503":
                return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
            if rt in self.used_refresh:
                self.replays += 1
                return JSONResponse({"error": "invalid_grant", "error_description": "replay"},
                                    status_code=400)  # fmt: skip
            grant = self.refresh_tokens.pop(rt, None)
            if grant is None or self.refresh_mode == "invalid_grant":
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if client_id and client_id not in self.clients and not client_id.startswith("https"):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            self.used_refresh.add(rt)
            return self._issue({**grant, "resource": form.get("resource")})
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)


class ScriptedMCP:
    """A protected resource with switchable PRM, challenges and scope rules. It accepts access
    tokens from any registered ScriptedAS whose grant names this resource."""

    def __init__(self, base_url: str, *authorization_servers: ScriptedAS) -> None:
        self.base = base_url
        self.resource = base_url + "/mcp"
        self.servers = list(authorization_servers)
        self.prm: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": [s.issuer for s in self.servers],
            "scopes_supported": ["mcp:read"],
        }
        self.prm_path = "/.well-known/oauth-protected-resource/mcp"
        self.header_resource_metadata = True
        self.challenge_scope: str | None = "mcp:read"
        self.raw_challenge: str | None = None  # replaces the 401 challenge (A15)
        self.required: tuple[str, ...] = ("mcp:read",)
        self.always_403 = False

    def challenge(self, **params: str) -> str:
        from zeroauth.core.challenge import bearer_challenge_header

        scope = params.pop("scope", self.challenge_scope)
        return bearer_challenge_header(
            resource_metadata=self.base + self.prm_path if self.header_resource_metadata else None,
            scope=(scope or "").split(),
            **params,
        )

    def grant_for(self, token: str) -> dict[str, Any] | None:
        import time as _t

        for server in self.servers:
            grant = server.tokens.get(token)
            audiences = {self.resource, (self.prm or {}).get("resource")}
            if grant and grant["exp"] > _t.time() and grant.get("resource") in audiences:
                return grant
        return None

    def app(self) -> ASGI:
        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            path = scope["path"]
            if path == self.prm_path and self.prm is not None:
                await JSONResponse(self.prm)(scope, receive, send)
                return
            if path != "/mcp":
                await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
                return
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            auth = headers.get("authorization", "")
            grant = self.grant_for(auth[7:]) if auth.startswith("Bearer ") else None
            if grant is None:
                challenge = self.raw_challenge or self.challenge(
                    **({"error": "invalid_token"} if auth else {})
                )
                response = JSONResponse({"error": "unauthorized"}, status_code=401,
                                        headers={"www-authenticate": challenge})  # fmt: skip
            elif self.always_403 or not set(self.required) <= set(grant["scope"]):
                response = JSONResponse(
                    {"error": "insufficient_scope"},
                    status_code=403,
                    headers={
                        "www-authenticate": self.challenge(
                            error="insufficient_scope", scope=" ".join(self.required)
                        )
                    },
                )
            else:
                response = JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {
                    "client_id": grant["client_id"], "scope": list(grant["scope"])}})  # fmt: skip
            await response(scope, receive, send)

        return asgi


@dataclass
class Scripted:
    mcp: ScriptedMCP
    auth: ScriptedAS
    recorder: Recorder
    lazies: dict[str, Lazy]
    served: dict[str, ServedApp]

    @property
    def server_url(self) -> str:
        return self.mcp.resource

    def client(self, **options: Any) -> ZeroAuth:
        options.setdefault("url_policy", DEVELOPMENT)
        options.setdefault("user_step", HeadlessUserStep(url_policy=DEVELOPMENT))
        options.setdefault("store", MemoryTokenStore())
        return ZeroAuth(**options)

    def add_as(self, name: str, path: str = "") -> ScriptedAS:
        """Another AS on its own port (already listening: see ``scripted(extra_as=…)``)."""
        server = ScriptedAS(self.served[name].base_url, path)
        self.lazies[name].inner = self.recorder.wrap(name, server.app())
        return server


@contextlib.contextmanager
def scripted(*, as_path: str = "", extra_as: Sequence[str] = ()) -> Iterator[Scripted]:
    recorder = Recorder()
    names = ["mcp", "as", *extra_as]
    lazies = {name: Lazy() for name in names}
    with contextlib.ExitStack() as stack:
        served = {name: stack.enter_context(serve_asgi(lazies[name])) for name in names}
        auth = ScriptedAS(served["as"].base_url, as_path)
        mcp = ScriptedMCP(served["mcp"].base_url, auth)
        lazies["as"].inner = recorder.wrap("as", auth.app())
        lazies["mcp"].inner = recorder.wrap("mcp", mcp.app())
        yield Scripted(mcp, auth, recorder, lazies, served)


PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
