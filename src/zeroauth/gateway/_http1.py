"""A lean, pooled HTTP/1.1 client for the gateway's upstream hop (RFC 9112).

Why not ``httpx2`` here: on this class of machine one ``httpx2`` request costs ~1.5 ms of CPU
on the client side alone (measured: 2.1-2.5 ms round trip vs 0.5 ms for the same request on a
raw socket), which is more than the gateway's whole latency budget (added p50 <= 1 ms). The
upstream hop needs very little of HTTP: ``POST`` with a JSON body, keep-alive, responses framed
by ``Content-Length``, chunked coding or connection close, optional TLS. ``httpx2`` stays the
client for OAuth traffic (token endpoint, metadata), which is rare.

Bounded everywhere: header block size, body size, total time per request. A request that went
out on a reused keep-alive connection which turns out to be closed (no byte of a response
received) is retried once on a fresh connection; nothing else is retried here.

A pooled connection serves every caller in turn, so it goes back to the pool only when the
response was read to its exact end (SECURITY B14, RFC 9112 §9.3): interim 1xx responses are
read and discarded (RFC 9110 §15.2), the body was framed unambiguously (strict rules in
``_framing``, RFC 9112 §6-7), the upstream did not ask to close, and no byte is left over. A
connection holding bytes no request asked for (pipelined garbage, an unsolicited response) is
closed, after the response and again when taken from the pool. A response framed by neither
Content-Length nor chunked is read until the upstream closes (RFC 9112 §6.3 rule 8). Any
framing error raises :class:`HTTPError` and closes that connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from zeroauth.gateway._framing import (
    MAX_FIELDS,
    MAX_HEADER_BYTES,
    MAX_INTERIM,
    Framing,
    Head,
    HTTPError,
    chunk_size,
    framing,
    keep_alive,
    parse_field,
    parse_head,
)

__all__ = ["HTTPError", "Pool", "Response"]

_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[bytes, bytes]  # lowercased names; a repeated field keeps the last value
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return self.headers.get(name)


class _Conn:
    __slots__ = ("reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def usable(self) -> bool:
        reader = self.reader
        return not reader.at_eof() and not self.writer.is_closing() and not _leftover(reader)

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections to one origin; at most ``max_connections`` at once."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 64,
        timeout: float = 30.0,
        max_body: int = 16 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self.ssl = ssl_context or ssl.create_default_context()
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = (host if default_port else f"{host}:{self.port}").encode("ascii")
        self.target = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode()
        self.timeout = timeout
        self.max_body = max_body
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def post(self, head: bytes, body: bytes) -> Response:
        """Send ``POST`` with ``head`` (pre-encoded ``Name: value\\r\\n`` lines, no framing)."""
        request = b"".join(
            (
                b"POST ",
                self.target,
                b" HTTP/1.1\r\nHost: ",
                self.authority,
                _CRLF,
                head,
                b"Content-Length: ",
                str(len(body)).encode(),
                b"\r\n\r\n",
                body,
            )
        )
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._exchange(request)
            except TimeoutError:
                raise HTTPError(f"no answer within {self.timeout:g} s") from None

    async def _exchange(self, request: bytes) -> Response:
        for _ in range(2):
            conn = await self._acquire()
            keep = False
            try:
                conn.writer.write(request)
                try:
                    response, keep = await self._read(conn)
                except _StaleConnectionError:
                    if conn.reused:
                        continue  # the server closed an idle connection: one retry, fresh
                    raise HTTPError("connection closed before the response") from None
                return response
            except (
                OSError,
                ValueError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
            ) as exc:
                raise HTTPError(f"{type(exc).__name__}: {exc}") from None  # never a bare 500
            finally:
                if keep and not self._closed:
                    conn.reused = True
                    self._idle.append(conn)
                else:
                    conn.close()
        raise HTTPError("connection closed before the response")

    async def _acquire(self) -> _Conn:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl, limit=MAX_HEADER_BYTES
            )
        except OSError as exc:
            raise HTTPError(f"cannot connect to {self.authority.decode()}: {exc}") from None
        return _Conn(reader, writer)

    async def _read(self, conn: _Conn) -> tuple[Response, bool]:
        """The final response, and whether the connection may serve another caller."""
        reader = conn.reader
        head = await _final_head(reader)
        frame = framing(head, self.max_body)
        try:
            body = await self._body(reader, frame)
        except asyncio.IncompleteReadError:
            raise HTTPError("response truncated: the upstream closed the connection") from None
        # RFC 9112 §9.3: reuse only after a complete response that leaves nothing unread
        reusable = frame.kind != "close" and keep_alive(head) and not _leftover(reader)
        return Response(head.status, head.headers(), body), reusable

    async def _body(self, reader: asyncio.StreamReader, frame: Framing) -> bytes:
        if frame.kind == "none":
            return b""
        if frame.kind == "length":
            return await reader.readexactly(frame.length)
        if frame.kind == "chunked":
            return await self._chunked(reader)
        chunks: list[bytes] = []  # framed by close (RFC 9112 §6.3 rule 8)
        total = 0
        while chunk := await reader.read(65536):
            total += len(chunk)
            if total > self.max_body:
                raise HTTPError("response body too large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        """RFC 9112 §7.1: chunk-size line, data, CRLF; a zero chunk, trailers, empty line."""
        parts: list[bytes] = []
        total = 0
        while size := chunk_size(await _line(reader, "chunk-size line")):
            total += size
            if total > self.max_body:
                raise HTTPError("response body too large")
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != _CRLF:
                raise HTTPError("chunk data not followed by CRLF (RFC 9112 §7.1)")
        await _trailers(reader)
        return b"".join(parts)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _StaleConnectionError(Exception):
    pass


async def _final_head(reader: asyncio.StreamReader) -> Head:
    """RFC 9110 §15.2: read and discard interim responses; 101 is refused (no upgrade asked)."""
    for count in range(MAX_INTERIM + 1):
        head = parse_head(await _head(reader, first=count == 0))
        if head.status >= 200:
            return head
        if head.status == 101:
            raise HTTPError("unexpected 101 Switching Protocols: the gateway asks for no upgrade")
    raise HTTPError(f"more than {MAX_INTERIM} interim (1xx) responses before a final one")


async def _head(reader: asyncio.StreamReader, *, first: bool) -> bytes:
    try:
        block = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if first and not exc.partial:
            raise _StaleConnectionError from None
        raise HTTPError("the upstream closed the connection before a complete response") from None
    except asyncio.LimitOverrunError:
        raise HTTPError(f"response header section larger than {MAX_HEADER_BYTES} bytes") from None
    return block[:-4]


async def _line(reader: asyncio.StreamReader, what: str) -> bytes:
    try:
        line = await reader.readuntil(_CRLF)
    except asyncio.LimitOverrunError:
        raise HTTPError(f"{what} longer than {MAX_HEADER_BYTES} bytes") from None
    return line[:-2]


async def _trailers(reader: asyncio.StreamReader) -> None:
    """The trailer section after the last chunk, checked, bounded and dropped (RFC 9112 §7.1.2)."""
    size = 0
    for _ in range(MAX_FIELDS + 1):
        line = await _line(reader, "trailer section")
        if not line:
            return
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise HTTPError(f"trailer section larger than {MAX_HEADER_BYTES} bytes")
        parse_field(line)
    raise HTTPError(f"more than {MAX_FIELDS} trailer fields in the response")


def _leftover(reader: asyncio.StreamReader) -> bool:
    """Bytes received that no request asked for: such a connection is never reused (B14).

    asyncio has no public accessor for a StreamReader's buffer. Should the private one
    disappear, this fails closed (no reuse; the pooling test in test_gateway_ops notices).
    """
    buffer = getattr(reader, "_buffer", None)
    return not isinstance(buffer, bytes | bytearray) or len(buffer) > 0


def encode_headers(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``Name: value\\r\\n`` lines; refuses CR, LF and NUL in names and values (injection)."""
    out = []
    for name, value in pairs:
        if any(c in name or c in value for c in "\r\n\x00"):
            raise ValueError(f"header {name!r} contains a line break")
        out.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(out)
