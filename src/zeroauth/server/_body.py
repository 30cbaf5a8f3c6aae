"""Reading an HTTP request body once, bounded, and handing it on unchanged (ASGI).

``BearerAuth`` reads the JSON-RPC body of an MCP ``POST`` to find the tools it calls (MCP
2026-07-28 "Runtime Insufficient Scope Errors", S-15/S-16) before the app runs; the app then
receives the same body through :class:`Replay`. The limit matches the SDK's own (4 MiB default):
a larger body is never buffered past the limit (threat B8).
"""

from __future__ import annotations

from starlette.types import Message, Receive

__all__ = ["TOO_LARGE", "Replay", "read_body"]

TOO_LARGE = 413
"""What :func:`read_body` returns for a body past the limit (HTTP 413 Content Too Large)."""


class Replay:
    """The ``receive`` of the app: the body read for the scope check, then the real one."""

    __slots__ = ("_message", "_receive")

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._message: Message | None = {"type": "http.request", "body": body, "more_body": False}
        self._receive = receive

    async def __call__(self) -> Message:
        message = self._message
        if message is None:
            return await self._receive()
        self._message = None
        return message


async def read_body(receive: Receive, limit: int) -> bytes | int | None:
    """The whole body; :data:`TOO_LARGE` past ``limit`` bytes; None when the client went away."""
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    size = len(body)
    if message.get("more_body", False):
        chunks = [body]
        while size <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        else:
            return TOO_LARGE
        body = b"".join(chunks)
    return TOO_LARGE if size > limit else body
