"""Operations endpoints and request observation for the gateway.

``ready`` (``/readyz``: the token keys are loaded and at least one upstream has a catalog; 503
otherwise, with a per-upstream report), ``observe`` (wraps each MCP request: Prometheus
counters and latency, auth failures by RFC 6750 reason read from the challenge, and the
structured access log on ``zeroauth.gateway.access`` at INFO; never a token or a header value).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeroauth.core.errors import InvalidToken
from zeroauth.gateway._aggregate import Aggregator
from zeroauth.gateway._endpoint import LOG_KEY, respond
from zeroauth.gateway._metrics import Metrics
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import TOKEN_SCOPE_KEY
from zeroauth.server._verifier import TokenVerifier

__all__ = ["load_keys", "observe", "ready", "record"]

access_log = logging.getLogger("zeroauth.gateway.access")


async def ready(verifier: TokenVerifier, agg: Aggregator, send: Send) -> None:
    keys = not isinstance(verifier, JWTVerifier) or verifier.jwks.loaded
    upstreams = {
        up.name: "up" if up.healthy and agg.has_catalog(up.name) else "down" for up in agg.upstreams
    }
    ready = keys and "up" in upstreams.values()
    body = {"ready": ready, "keys": keys, "upstreams": upstreams}
    await respond(send, 200 if ready else 503, json.dumps(body).encode())


async def observe(
    metrics: Metrics, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    started = time.perf_counter()
    seen: list[Any] = [0, None]  # status, www-authenticate

    async def observed(message: Message) -> None:
        if message["type"] == "http.response.start":
            seen[0] = message["status"]
            if seen[0] in (400, 401, 403):
                for name, value in message.get("headers", ()):
                    if name == b"www-authenticate":
                        seen[1] = value
        await send(message)

    try:
        await app(scope, receive, observed)
    finally:
        record(metrics, scope, seen[0], seen[1], time.perf_counter() - started)


def record(
    metrics: Metrics, scope: Scope, status: int, challenge: bytes | None, seconds: float
) -> None:
    mcp = scope.get(LOG_KEY)
    method = mcp[0] if mcp else "-"
    reason = None
    if challenge is not None:
        start = challenge.find(b'error="')
        reason = "missing_token" if start < 0 else challenge[start + 7 :].split(b'"')[0].decode()
        metrics.auth_failure(reason)
    metrics.request(method, status, seconds)
    if access_log.isEnabledFor(logging.INFO):
        token = scope.get(TOKEN_SCOPE_KEY)
        entry = {
            "http": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round(seconds * 1000, 3),
            "mcp": method,
            "target": mcp[1][:200] if mcp and mcp[1] else None,  # caller input: bounded
            "sub": token.subject if token else None,
            "client_id": token.client_id if token else None,
            "auth_error": reason,
        }
        access_log.info(json.dumps(entry, separators=(",", ":")))


async def load_keys(verifier: JWTVerifier) -> None:
    """Fetch the issuer's JWKS now (any lookup loads it; the answer itself does not matter)."""
    with contextlib.suppress(InvalidToken):
        await verifier.jwks.key(None, min(verifier.algorithms))
