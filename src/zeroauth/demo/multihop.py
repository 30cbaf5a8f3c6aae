"""The multi-hop demo scene: a zero-config client → zeroauth's gateway → the demo MCP server, all
on loopback with the dev authorization server, each hop's token bound to the next audience.

The client logs in to the gateway only (its token's ``aud`` is the gateway, no ``act``). The
gateway reaches the demo server with ``exchange`` credentials: it trades the caller's token at
the dev AS (RFC 8693 token exchange) for one whose ``aud`` is the demo server, whose scopes are
no wider than the caller's and whose ``act`` names the gateway (§4.1); the caller's token never
leaves the gateway except to the AS. The demo server accepts only tokens the gateway exchanged
(``RequireActor``). Two tool calls: the second reuses the exchanged token (one exchange).
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
from zeroauth.server import AccessToken, JWTVerifier, RequireActor

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
class _Seen:
    """What each hop received: the gateway's bearer strings, the upstream's verified tokens."""

    caller_tokens: list[str] = field(default_factory=list)
    upstream: list[AccessToken] = field(default_factory=list)
    upstream_tokens: list[str] = field(default_factory=list)


class _Recording:
    """The upstream's verifier, keeping what it verified (display only)."""

    def __init__(self, inner: RequireActor, seen: _Seen) -> None:
        self._inner, self._seen = inner, seen

    async def verify(self, token: str) -> AccessToken:
        access = await self._inner.verify(token)
        self._seen.upstream.append(access)
        self._seen.upstream_tokens.append(token)
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
            gateway, upstream = await _start(stack, seen)
            text = await _call_twice(gateway)
            hops = _hops(seen, gateway, upstream)
            for hop in hops:
                emit(hop)
    except Exception as exc:  # the demo reports, it does not crash
        failure = f"{type(exc).__name__}: {exc}"
        return MultiHopResult(False, 0, time.perf_counter() - started, failure)
    exchanges = len(set(seen.upstream_tokens))
    caller, hop = hops
    checks = (
        ("the tool call failed", "zeroauth protects this server" not in text),
        ("the caller's token reached the upstream",
         bool(set(seen.caller_tokens) & set(seen.upstream_tokens))),
        ("the upstream token is not bound to the upstream", hop.audience != (upstream,)),
        ("the upstream token does not name the gateway", hop.actors != (_GATEWAY_CLIENT,)),
        ("the upstream token is for another user", hop.subject != caller.subject),
        ("the upstream token has wider scopes", not set(hop.scopes) <= set(caller.scopes)),
        (f"{exchanges} exchanges for two calls (expected 1)", exchanges != 1),
    )  # fmt: skip
    problems = [what for what, bad in checks if bad]
    error = "; ".join(problems) or None
    return MultiHopResult(not problems, exchanges, time.perf_counter() - started, error)


async def _start(stack: AsyncExitStack, seen: _Seen) -> tuple[str, str]:
    as_sock, gw_sock, up_sock = bind_loopback(), bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    gateway = f"http://127.0.0.1:{gw_sock.getsockname()[1]}/mcp"
    upstream = f"http://127.0.0.1:{up_sock.getsockname()[1]}/mcp"
    scopes = (READ_SCOPE, WRITE_SCOPE)
    secret = secrets.token_urlsafe(24)
    config = DevServerConfig(
        issuer=issuer,
        resources=[ProtectedResource(gateway, scopes), ProtectedResource(upstream, scopes)],
        clients=[PreregisteredClient(
            _GATEWAY_CLIENT, client_secret=secret,
            token_endpoint_auth_method="client_secret_basic", grant_types=(TOKEN_EXCHANGE_GRANT,),
            acts_for=(gateway,), exchange_to=(upstream,),
        )],
        auto_approve=True, default_subject="demo-user",
    )  # fmt: skip
    gw_config = parse_config({
        "gateway": {"resource": gateway},
        "issuer": [{"issuer": issuer}],
        "upstream": [{"name": "notes", "url": upstream, "read_scopes": [READ_SCOPE],
                      "write_scopes": [WRITE_SCOPE]}],
    })  # fmt: skip
    # the gateway's secret is handed over in memory, not through the environment
    exchange = CredentialsConfig(
        type="exchange", issuer=issuer, client_id=_GATEWAY_CLIENT, client_secret=secret,
        scope=(READ_SCOPE,), resource=upstream,
    )  # fmt: skip
    notes = replace(gw_config.upstreams[0], credentials=exchange)
    gw_config = replace(gw_config, upstreams=(notes,))
    verifier = JWTVerifier(issuer=issuer, resource=upstream, jwks_uri=f"{issuer}/jwks")
    only_gateway = _Recording(RequireActor(verifier, actors={_GATEWAY_CLIENT}), seen)
    await stack.enter_async_context(serve_socket(DevAuthorizationServer(config).app(), as_sock))
    await stack.enter_async_context(
        serve_socket(demo_app(upstream, issuer, verifier=only_gateway), up_sock)
    )
    gateway_app = GatewayApp(gw_config, drain=0.1, warm_up=False)
    await stack.enter_async_context(
        serve_socket(_headers_of(gateway_app, seen.caller_tokens), gw_sock)
    )
    return gateway, upstream


async def _call_twice(gateway: str) -> str:
    auth = ZeroAuth(
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        client_name="zeroauth multi-hop demo",
        url_policy=DEVELOPMENT,
    )
    texts = []
    async with httpx2.AsyncClient(auth=auth, timeout=30, headers=_HEADERS) as http:
        for rid in (1, 2):
            body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                    "params": {"name": "notes_list_notes", "arguments": {}}}  # fmt: skip
            response = await http.post(gateway, json=body)
            response.raise_for_status()
            texts.append(json.dumps(response.json()))
    return "\n".join(texts)


def _hops(seen: _Seen, gateway: str, upstream: str) -> tuple[Hop, Hop]:
    caller = next((t for t in seen.caller_tokens if t), "")
    claims = _jwt_claims(caller)  # display only: the gateway verified it
    aud = claims.get("aud")
    first = Hop(
        "client → gateway", gateway, claims.get("sub"),
        (aud,) if isinstance(aud, str) else tuple(aud or ()),
        tuple(sorted(str(claims.get("scope", "")).split())), delegation_chain(claims),
    )  # fmt: skip
    if not seen.upstream:
        raise RuntimeError("the upstream received no token")
    token = seen.upstream[-1]
    second = Hop("gateway → notes (exchanged)", upstream, token.subject, token.audience,
                 tuple(sorted(token.scopes)), token.actors)  # fmt: skip
    return first, second
