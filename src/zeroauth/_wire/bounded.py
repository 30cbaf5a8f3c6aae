"""Bounded reads: a capped body within one total deadline (SECURITY A8 and W3).

A per-read timeout does not bound a response that is drip-fed one byte just inside each read
timeout; the deadline here covers the whole exchange: name resolution, connect, TLS, request,
response headers and every byte of the body. The body is read as sent (no decompression, so a
compressed bomb cannot grow past the cap), and ``Accept-Encoding: identity`` is requested
(RFC 9110 §12.5.3).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import httpx2

__all__ = ["BodyTooLargeError", "BoundedResponse", "get_bounded", "read_capped"]


class BodyTooLargeError(Exception):
    """The response body passed ``limit`` bytes; reading stopped there."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"response body larger than {limit} bytes")


@dataclass(frozen=True, slots=True)
class BoundedResponse:
    """Status, headers and the whole (capped) body of a response."""

    status_code: int
    headers: httpx2.Headers
    body: bytes


async def read_capped(response: httpx2.Response, max_bytes: int) -> bytes:
    """The raw body, or ``BodyTooLargeError`` as soon as it passes ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    # aclosing: leaving early closes the body iterator now, on asyncio and trio alike
    async with contextlib.aclosing(response.aiter_raw()) as body:
        async for chunk in body:
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLargeError(max_bytes)
            chunks.append(chunk)
    return b"".join(chunks)


async def get_bounded(
    client: httpx2.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline: float,
) -> BoundedResponse:
    """GET ``url``: at most ``max_bytes`` of body, everything within ``deadline`` seconds.

    Raises ``TimeoutError`` past the deadline, ``BodyTooLargeError``, ``httpx2.HTTPError``, and
    whatever the client's transport raises (``URLPolicyError`` from a pinned transport).
    """
    sent = {"accept-encoding": "identity", **(headers or {})}
    with anyio.fail_after(deadline):
        async with client.stream("GET", url, headers=sent, timeout=deadline) as response:
            body = await read_capped(response, max_bytes)
    return BoundedResponse(response.status_code, response.headers, body)
