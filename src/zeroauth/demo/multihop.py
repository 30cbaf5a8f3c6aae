"""The multi-hop demo scene: a zero-config client → zeroauth's gateway → two demo MCP servers,
all on loopback with the dev authorization server, each hop's token bound to the next audience.

The client logs in to the gateway only (its token's ``aud`` is the gateway, no ``act``). The
gateway reaches the demo server with ``exchange`` credentials: it trades the caller's token at
the dev AS (RFC 8693 token exchange) for one whose ``aud`` is the demo server, whose scopes are
no wider than the caller's and whose ``act`` names the gateway (§4.1); the caller's token never
leaves the gateway except to the AS. The demo server accepts only tokens the gateway exchanged
(``RequireActor``). The second server (``files``) is reached with the gateway's own
client-credentials token (``sub`` = the gateway, no ``act``): both modes side by side. Two tool
calls to each: the second ``notes`` call reuses the exchanged token (one exchange).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2

from zeroauth.client import ZeroAuth
from zeroauth.client._browser import HeadlessUserStep
from zeroauth.core.token_exchange import delegation_chain
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
from zeroauth.demo.trace import _jwt_claims
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)
from zeroauth.devserver._exchange import TOKEN_EXCHANGE_GRANT
from zeroauth.gateway import CredentialsConfig, GatewayApp, parse_config
from zeroauth.server import AccessToken, JWTVerifier, RequireActor, TokenVerifier

__all__ = ["Hop", "MultiHopResult", "run_multihop"]

_GATEWAY_CLIENT = "gateway"  # the gateway's client id at the AS: the act claim's sub
_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


@dataclass(frozen=True, slots=True)
class Hop:
    """One hop's token as its receiver saw it."""

    hop: str
    url: str
    subject: str | None
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    actors: tuple[str, ...]  # RFC 8693 §4.1: the current actor first; () = not exchanged

    def to_json(self) -> dict[str, Any]:
        return {"hop": self.hop, "url": self.url, "sub": self.subject, "aud": list(self.audience),
                "scope": list(self.scopes), "act": list(self.actors)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class MultiHopResult:
    ok: bool
    exchanges: int
    seconds: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "exchanges": self.exchanges,
                                "seconds": round(self.seconds, 3)}  # fmt: skip
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class _Received:
    """What one upstream received: the bearer strings and what its verifier made of them."""

    tokens: list[str] = field(default_factory=list)
    verified: list[AccessToken] = field(default_factory=list)


@dataclass
class _Seen:
    caller_tokens: list[str] = field(default_factory=list)  # at the gateway
    notes: _Received = field(default_factory=_Received)  # exchanged tokens
    files: _Received = field(default_factory=_Received)  # the gateway's own token


class _Recording:
    """An upstream's verifier, keeping what it verified (display only)."""

    def __init__(self, inner: TokenVerifier, received: _Received) -> None:
        self._inner, self._received = inner, received

    async def verify(self, token: str) -> AccessToken:
        access = await self._inner.verify(token)
        self._received.verified.append(access)
        self._received.tokens.append(token)
        return access


def _headers_of(app: Any, seen: list[str]) -> Any:
    async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"authorization":
                    seen.append(value.decode("latin-1").partition(" ")[2])
        await app(scope, receive, send)

    return recorded


async def run_multihop(emit: Callable[[Hop], None]) -> MultiHopResult:
    """Run the scene, reporting each hop through ``emit``; never raises for a failed step."""
    started = time.perf_counter()
    seen = _Seen()
    try:
        async with AsyncExitStack() as stack:
            gateway, notes, files = await _start(stack, seen)
            texts = await _call_each_twice(gateway)
            hops = _hops(seen, gateway, notes, files)
            for hop in hops:
                emit(hop)
    except Exception as exc:  # the demo reports, it does not crash
        failure = f"{type(exc).__name__}: {exc}"
        return MultiHopResult(False, 0, time.perf_counter() - started, failure)
    exchanges = len(set(seen.notes.tokens))
    caller, hop, own = hops
    upstream_tokens = set(seen.notes.tokens) | set(seen.files.tokens)
    checks = (
        ("a tool call failed", not all("zeroauth protects this server" in t for t in texts)),
        ("the caller's token reached an upstream",
         bool(set(seen.caller_tokens) & upstream_tokens)),
        ("the upstream token is not bound to the upstream", hop.audience != (notes,)),
        ("the upstream token does not name the gateway", hop.actors != (_GATEWAY_CLIENT,)),
        ("the upstream token is for another user", hop.subject != caller.subject),
        ("the upstream token has wider scopes", not set(hop.scopes) <= set(caller.scopes)),
        (f"{exchanges} exchanges for two calls (expected 1)", exchanges != 1),
        ("the gateway's own token is not its own", own.subject != _GATEWAY_CLIENT or own.actors),
        ("the gateway's own token is not bound to files", own.audience != (files,)),
    )  # fmt: skip
    problems = [what for what, bad in checks if bad]
    error = "; ".join(problems) or None
    return MultiHopResult(not problems, exchanges, time.perf_counter() - started, error)


async def _start(stack: AsyncExitStack, seen: _Seen) -> tuple[str, str, str]:
    as_sock, gw_sock = bind_loopback(), bind_loopback()
    up_sock, files_sock = bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    gateway = f"http://127.0.0.1:{gw_sock.getsockname()[1]}/mcp"
    upstream = f"http://127.0.0.1:{up_sock.getsockname()[1]}/mcp"
    files = f"http://127.0.0.1:{files_sock.getsockname()[1]}/mcp"
    scopes = (READ_SCOPE, WRITE_SCOPE)
    secret = secrets.token_urlsafe(24)
    config = DevServerConfig(
        issuer=issuer,
        resources=[ProtectedResource(gateway, scopes), ProtectedResource(upstream, scopes),
                   ProtectedResource(files, scopes)],
        clients=[PreregisteredClient(
            _GATEWAY_CLIENT, client_secret=secret,
            token_endpoint_auth_method="client_secret_basic",
            grant_types=(TOKEN_EXCHANGE_GRANT, "client_credentials"), scopes=(READ_SCOPE,),
            acts_for=(gateway,), exchange_to=(upstream,),
        )],
        auto_approve=True, default_subject="demo-user",
    )  # fmt: skip
    gw_config = parse_config({
        "gateway": {"resource": gateway},
        "issuer": [{"issuer": issuer}],
        "upstream": [{"name": name, "url": url, "read_scopes": [READ_SCOPE],
                      "write_scopes": [WRITE_SCOPE]} for name, url in (("notes", upstream),
                                                                       ("files", files))],
    })  # fmt: skip
    # the gateway's secret is handed over in memory, not through the environment
    exchange = CredentialsConfig(
        type="exchange", issuer=issuer, client_id=_GATEWAY_CLIENT, client_secret=secret,
        scope=(READ_SCOPE,), resource=upstream,
    )  # fmt: skip
    own = replace(exchange, type="client_credentials", resource=files)
    notes_up, files_up = gw_config.upstreams
    gw_config = replace(gw_config, upstreams=(replace(notes_up, credentials=exchange),
                                              replace(files_up, credentials=own)))  # fmt: skip

    def verifier(resource: str) -> JWTVerifier:
        return JWTVerifier(issuer=issuer, resource=resource, jwks_uri=f"{issuer}/jwks")

    only_gateway = RequireActor(verifier(upstream), actors={_GATEWAY_CLIENT})
    notes_app = demo_app(upstream, issuer, verifier=_Recording(only_gateway, seen.notes))
    files_app = demo_app(files, issuer, verifier=_Recording(verifier(files), seen.files))
    await stack.enter_async_context(serve_socket(DevAuthorizationServer(config).app(), as_sock))
    await stack.enter_async_context(serve_socket(notes_app, up_sock))
    await stack.enter_async_context(serve_socket(files_app, files_sock))
    gateway_app = GatewayApp(gw_config, drain=0.1, warm_up=False)
    await stack.enter_async_context(
        serve_socket(_headers_of(gateway_app, seen.caller_tokens), gw_sock)
    )
    return gateway, upstream, files


async def _call_each_twice(gateway: str) -> list[str]:
    auth = ZeroAuth(
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        client_name="zeroauth multi-hop demo",
        url_policy=DEVELOPMENT,
    )
    texts = []
    async with httpx2.AsyncClient(auth=auth, timeout=30, headers=_HEADERS) as http:
        for rid, tool in enumerate(["notes_list_notes", "files_list_notes"] * 2):
            body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                    "params": {"name": tool, "arguments": {}}}  # fmt: skip
            response = await http.post(gateway, json=body)
            response.raise_for_status()
            texts.append(json.dumps(response.json()))
    return texts


def _hops(seen: _Seen, gateway: str, notes: str, files: str) -> tuple[Hop, Hop, Hop]:
    caller = next((t for t in seen.caller_tokens if t), "")
    claims = _jwt_claims(caller)  # display only: the gateway verified it
    aud = claims.get("aud")
    first = Hop(
        "client → gateway", gateway, claims.get("sub"),
        (aud,) if isinstance(aud, str) else tuple(aud or ()),
        tuple(sorted(str(claims.get("scope", "")).split())), delegation_chain(claims),
    )  # fmt: skip
    if not seen.notes.verified or not seen.files.verified:
        raise RuntimeError("an upstream received no token")

    def hop(name: str, url: str, token: AccessToken) -> Hop:
        return Hop(name, url, token.subject, token.audience, tuple(sorted(token.scopes)),
                   token.actors)  # fmt: skip

    return (
        first,
        hop("gateway → notes (exchanged for the user)", notes, seen.notes.verified[-1]),
        hop("gateway → files (the gateway's own token)", files, seen.files.verified[-1]),
    )
