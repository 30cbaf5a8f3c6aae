"""A minimal round-robin HTTP load balancer for replica tests (loopback only).

Each request goes to the next replica in turn, path and query string unchanged, headers (cookies
included) passed through except ``Host``; the answer (``Set-Cookie``, ``Location``) comes back
unchanged. ``order`` records which replica served each request.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import httpx2

__all__ = ["RoundRobin"]


class RoundRobin:
    """ASGI app forwarding each request to the next of ``replicas`` (base URLs)."""

    def __init__(self, replicas: list[str]) -> None:
        self._next = itertools.cycle(range(len(replicas)))
        self.replicas = replicas
        self.served: Counter[int] = Counter()
        self.order: list[int] = []
        self._http = httpx2.AsyncClient(timeout=30, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        index = next(self._next)
        self.served[index] += 1
        self.order.append(index)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k != b"host"]
        url = self.replicas[index] + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode()
        answer = await self._http.request(scope["method"], url, headers=headers, content=body)
        hop = ("content-length", "transfer-encoding", "connection")
        out = [(k.encode(), v.encode()) for k, v in answer.headers.multi_items() if k not in hop]
        out.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
        await send({"type": "http.response.body", "body": answer.content})
