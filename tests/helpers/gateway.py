"""A gateway under test on loopback: a fake upstream MCP server, signed caller tokens, and a
running gateway in front of given upstreams (MCP 2025-11-25 Streamable HTTP; RFC 9068 tokens).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.helpers.asgi_server import serve_asgi_async
from zeroauth.gateway import GatewayApp, parse_config
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier

ISSUER = "https://idp.test.example/realms/ai-agents"


KEY = ec.generate_private_key(ec.SECP256R1())


JWK = {**ECAlgorithm(ECAlgorithm.SHA256).to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}


HEADERS = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"}


class FakeUpstream:
    """A stateful MCP server by hand: sessions that can expire, SSE or JSON answers, a gate."""

    def __init__(self, *, sse: bool = False, token: str | None = None) -> None:
        self.sse = sse
        self.token = token
        self.session = "s-1"
        self.handshakes = 0
        self.authorizations: list[str | None] = []
        self.call_ids: list[Any] = []

    def expire(self) -> None:
        self.session = f"s-{self.handshakes + 1}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.authorizations.append(headers.get("authorization"))
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            await _answer(send, 401, b"")
            return
        request = json.loads(body)
        method = request.get("method")
        if method == "initialize":
            self.handshakes += 1
            self.session = f"s-{self.handshakes}"
            result = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake", "version": "1"},
            }
            await self._reply(send, request["id"], result, [(b"mcp-session-id", self.session)])
            return
        if headers.get("mcp-session-id") != self.session:
            await _answer(send, 404, b'{"error":"session not found"}')
            return
        if "id" not in request:
            await _answer(send, 202, b"")
        elif method == "tools/list":
            tools = [
                {
                    "name": "echo",
                    "inputSchema": {"type": "object"},
                    "annotations": {"readOnlyHint": True},
                }
            ]
            await self._reply(send, request["id"], {"tools": tools})
        elif method == "tools/call":
            self.call_ids.append(request["id"])
            text = json.dumps(request["params"]["arguments"])
            await self._reply(send, request["id"], {"content": [{"type": "text", "text": text}]})
        else:
            await self._reply(send, request["id"], None, error=-32601)

    async def _reply(
        self, send: Any, rid: Any, result: Any, extra: Any = (), error: int | None = None
    ) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
        if error is None:
            message["result"] = result
        else:
            message["error"] = {"code": error, "message": "nope"}
        data = json.dumps(message).encode()
        headers = [(k, v.encode()) for k, v in extra]
        if self.sse:
            note = b'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n'
            data = note + b"event: message\ndata: " + data + b"\n\n"
            await _answer(send, 200, data, [(b"content-type", b"text/event-stream"), *headers])
        else:
            await _answer(send, 200, data, [(b"content-type", b"application/json"), *headers])


async def _answer(send: Any, status: int, body: bytes, headers: Any = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


def token(audience: str, scope: str = "mcp:fake:read mcp:fake:write", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": audience,
        "sub": "alice",
        "client_id": "agent",
        "iat": now,
        "exp": now + 600,
        "scope": scope,
        **claims,
    }
    return jwt.encode(payload, KEY, algorithm="ES256", headers={"kid": "k1"})


def config_for(resource: str, upstreams: dict[str, Any], **gateway: Any) -> Any:
    """``upstreams``: name -> URL, or name -> the rest of its ``[[upstream]]`` table."""
    tables = [
        {"name": name, "url": spec} if isinstance(spec, str) else {"name": name, **spec}
        for name, spec in upstreams.items()
    ]
    return parse_config(
        {
            "gateway": {"resource": resource, **gateway},
            "issuer": [{"issuer": ISSUER, "jwks_uri": "https://idp.test.example/jwks"}],
            "upstream": tables,
        }
    )


def verifier(resource: str) -> JWTVerifier:
    keys = JWKSCache.static({"keys": [JWK]})
    return JWTVerifier(issuer=ISSUER, resource=resource, jwks=keys, algorithms=["ES256"])


@contextlib.asynccontextmanager
async def gateway_for(
    upstreams: dict[str, Any], scope: str = "mcp:fake:read mcp:fake:write", **gateway: Any
) -> AsyncIterator[Any]:
    holder: list[GatewayApp] = []

    def factory(base: str) -> GatewayApp:
        resource = base + "/mcp"
        holder.append(
            GatewayApp(
                config_for(resource, upstreams, **gateway), verifier=verifier(resource), drain=0.1
            )
        )
        return holder[0]

    async with serve_asgi_async(factory=factory) as served:
        url = served.url("/mcp")
        auth = {"Authorization": f"Bearer {token(url, scope)}"}
        async with httpx2.AsyncClient(timeout=30, headers={**HEADERS, **auth}) as http:
            yield served, holder[0], http


def call(name: str, arguments: dict[str, Any] | None = None, rid: Any = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments or {}},
    }
