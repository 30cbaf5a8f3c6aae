"""An ASGI wrapper that records every HTTP request a loopback server receives.

Tests count round trips and inspect what a client (or the gateway) sent: method, path, query,
headers and the whole body, read before the wrapped app sees it and replayed to it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

ASGI = Callable[..., Any]


@dataclass
class Seen:
    server: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def identity(self) -> str | None:
        return self.headers.get("x-zeroauth-identity")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.query).items()}


@dataclass
class Recorder:
    """Records what reaches each server before its app sees it, and each response status."""

    seen: list[Seen] = field(default_factory=list)
    responses: list[tuple[int, str | None]] = field(default_factory=list)

    def wrap(self, name: str, app: ASGI, *, gate: str | None = None) -> ASGI:
        """``app`` recorded as ``name``; with ``gate``, any other Authorization gets a bare 401."""

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
            query = scope["query_string"].decode()
            seen = Seen(name, scope["method"], scope["path"], query, headers, body)
            self.seen.append(seen)
            if gate is not None and seen.authorization != gate:
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def watched(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    found = dict(message.get("headers", ())).get(b"www-authenticate")
                    self.responses.append((message["status"], found and found.decode()))
                await send(message)

            await app(scope, replay, watched)

        return recorded

    def authorizations(self, server: str) -> set[str | None]:
        return {s.authorization for s in self.seen if s.server == server}

    def where(
        self, server: str | None = None, path: str | None = None, method: str | None = None
    ) -> list[Seen]:
        """Requests matching every given filter; a ``path`` ending in ``*`` is a prefix."""
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
        self.responses.clear()
