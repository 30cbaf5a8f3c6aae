"""SECURITY B14: a hostile upstream never hands one caller's response to another caller.

The gateway's upstream HTTP/1.1 client pools keep-alive connections shared by every caller, so
a response left unread on a pooled connection would be read by the next caller's request.
Covered here, against a raw asyncio server on 127.0.0.1 scripted per connection (connection 0
misbehaves, later connections answer honestly with ``for:<request body>``):

- interim responses are read and discarded, never taken as the final one (RFC 9110 §15.2);
  ``101`` is an error (no upgrade is ever requested);
- exactly one unambiguous framing: one ``Content-Length`` of digits, or ``Transfer-Encoding``
  exactly ``chunked``, never both (RFC 9112 §6.1, §6.3); strict hexadecimal chunk sizes and
  bounded chunk lines (RFC 9112 §7.1); bounded header sections;
- truncated bodies, bytes after a response and unsolicited responses make the connection
  non-reusable (RFC 9112 §9.3).

For each script: that caller gets ``HTTPError`` (the gateway's typed upstream error, JSON-RPC
-32010 through the gateway) or its own response, connection 0 is closed by the client, and the
next caller gets its own answer on a fresh connection. The 103 Early Hints mix-up, an
unparseable chunk size and pipelined garbage are also run end to end with two callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.gateway import HEADERS, call, gateway_for, token
from zeroauth.gateway._framing import chunk_size
from zeroauth.gateway._http1 import HTTPError, Pool

pytestmark = pytest.mark.anyio

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
FORGED = b"forged: the private result of another caller"
HONEST_TIMEOUT = 5.0


# --- a scripted raw upstream ---------------------------------------------------------------------


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n%bContent-Length: %d\r\n\r\n%b" % (extra, len(body), body)


async def honest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = await read_request(reader)
        writer.write(ok(b"for:" + body))
        await writer.drain()


def hostile(raw: bytes, *, close: bool = False, then_honest: bool = False) -> Script:
    """Answer the first request with ``raw``; then close, go on honestly, or just wait."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()
        elif then_honest:
            await honest(reader, writer)

    return script


@dataclass
class Scripted:
    url: str = ""
    connections: int = 0
    closed: list[asyncio.Event] = field(default_factory=list)

    async def closed_by_client(self, index: int) -> None:
        await asyncio.wait_for(self.closed[index].wait(), HONEST_TIMEOUT)


@contextlib.asynccontextmanager
async def scripted(*scripts: Script) -> AsyncIterator[Scripted]:
    """Connection ``i`` runs ``scripts[i]``; later connections run ``honest``."""
    state = Scripted()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = state.connections
        state.connections += 1
        state.closed.append(asyncio.Event())
        try:
            await (scripts[index] if index < len(scripts) else honest)(reader, writer)
            while await reader.read(65536):  # until the client closes its end
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection: what these tests want
        finally:
            state.closed[index].set()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp"
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


# --- the http1 client directly: the caller gets an error -----------------------------------------

STATUS = b"HTTP/1.1 200 OK\r\n"
CHUNKED = STATUS + b"Transfer-Encoding: chunked\r\n\r\n"


def fields(*lines: bytes) -> bytes:
    return STATUS + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def chunked_with_size(size: bytes) -> bytes:
    return CHUNKED + size + b"\r\n" + FORGED[:16] + b"\r\n0\r\n\r\n"


ERRORS: dict[str, tuple[bytes, str, bool]] = {
    # id: (what connection 0 sends, error expected, server closes after sending)
    "101-switching-protocols": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        + ok(FORGED),
        "101",
        False,
    ),
    "duplicate-content-length": (
        fields(b"Content-Length: 45", b"Content-Length: 45") + FORGED,
        "Content-Length",
        False,
    ),
    "conflicting-content-length": (
        fields(b"Content-Length: 45", b"Content-Length: 7") + FORGED,
        "Content-Length",
        False,
    ),
    "content-length-list": (fields(b"Content-Length: 45, 45") + FORGED, "Content-Length", False),
    "content-length-signed": (fields(b"Content-Length: +45") + FORGED, "Content-Length", False),
    "content-length-negative": (fields(b"Content-Length: -1") + FORGED, "Content-Length", False),
    "content-length-and-chunked": (
        fields(b"Content-Length: 3", b"Transfer-Encoding: chunked") + b"a\r\n" + FORGED,
        "both",
        False,
    ),
    "te-gzip-chunked": (
        fields(b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n",
        "Transfer-Encoding",
        False,
    ),
    "te-chunked-chunked": (
        fields(b"Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n",
        "Transfer-Encoding",
        False,
    ),
    "te-two-fields": (
        fields(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked") + b"0\r\n\r\n",
        "Transfer-Encoding",
        False,
    ),
    "te-identity": (fields(b"Transfer-Encoding: identity") + FORGED, "Transfer-Encoding", False),
    "te-in-http-1.0": (
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.0",
        False,
    ),
    "chunk-size-negative": (chunked_with_size(b"-1"), "chunk size", False),
    "chunk-size-0x-prefix": (chunked_with_size(b"0x10"), "chunk size", False),
    "chunk-size-plus-sign": (chunked_with_size(b"+a"), "chunk size", False),
    "chunk-size-underscore": (chunked_with_size(b"1_0"), "chunk size", False),
    "chunk-size-leading-space": (chunked_with_size(b" 10"), "chunk size", False),
    "chunk-size-empty": (chunked_with_size(b""), "chunk size", False),
    "chunk-size-huge": (chunked_with_size(b"f" * 40), "chunk size", False),
    "chunk-size-over-max-body": (chunked_with_size(b"7fffffffffffffff"), "too large", False),
    "chunk-size-line-too-long": (
        CHUNKED + b"10;" + b"x" * 5000 + b"\r\n" + FORGED[:16] + b"\r\n0\r\n\r\n",
        "chunk-size line",
        False,
    ),
    "chunk-size-line-over-buffer": (CHUNKED + b"1" + b"0" * 70000, "chunk-size line", False),
    "chunk-data-not-crlf-terminated": (
        CHUNKED + b"5\r\nhelloXY0\r\n\r\n",
        "chunk data",
        False,
    ),
    "truncated-content-length": (fields(b"Content-Length: 100") + b"short", "truncated", True),
    "truncated-chunk": (CHUNKED + b"a\r\nshort", "truncated", True),
    "missing-last-chunk": (CHUNKED + b"5\r\nhello\r\n", "truncated", True),
    "too-many-fields": (fields(*[b"X-N: 1"] * 300, b"Content-Length: 0"), "fields", False),
    "header-section-too-large": (
        fields(b"X-Big: " + b"a" * 70000, b"Content-Length: 0"),
        "header section",
        False,
    ),
    "obs-fold": (fields(b"X-A: 1", b"  folded", b"Content-Length: 0"), "folded", False),
    "space-before-colon": (fields(b"Content-Length : 45") + FORGED, "field", False),
    "bare-lf-in-field": (fields(b"X-A: 1\nContent-Length: 0"), "field", False),
    "status-not-digits": (b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "status", False),
    "status-out-of-range": (b"HTTP/1.1 600 No\r\nContent-Length: 0\r\n\r\n", "status", False),
    "not-http": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "status", False),
    "endless-interim": (b"HTTP/1.1 103 Early Hints\r\n\r\n" * 50 + ok(FORGED), "interim", False),
    "closed-after-interim": (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", "closed", True),
}


@pytest.mark.parametrize("case", list(ERRORS))
async def test_b14_bad_framing_is_an_error_for_that_caller_only(case: str) -> None:
    """SECURITY B14: RFC 9110 §15.2, RFC 9112 §6-7 - error, connection closed, next is fresh."""
    raw, expected, close = ERRORS[case]
    async with scripted(hostile(raw, close=close)) as upstream:
        pool = Pool(upstream.url, timeout=HONEST_TIMEOUT)
        try:
            with pytest.raises(HTTPError, match=re.escape(expected)):
                await pool.post(b"", b'{"caller":1}')
            await upstream.closed_by_client(0)
            second = await pool.post(b"", b'{"caller":2}')
            assert second.body == b'for:{"caller":2}'
            assert upstream.connections == 2
        finally:
            await pool.aclose()


# --- the http1 client directly: the caller gets its own answer, the connection is not reused -----

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
ANSWERED: dict[str, tuple[bytes, int]] = {
    # id: (what connection 0 sends, status the first caller gets); body is always "first"
    "pipelined-garbage": (ok(b"first") + ok(FORGED), 200),
    "204-with-a-body": (b"HTTP/1.1 204 No Content\r\n\r\n" + ok(FORGED), 204),
    "connection-close-in-a-list": (ok(b"first", b"Connection: keep-alive, close\r\n"), 200),
    "http-1.0": (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nfirst", 200),
    "close-delimited": (b"HTTP/1.1 200 OK\r\n\r\nfirst", 200),
}


@pytest.mark.parametrize("case", list(ANSWERED))
async def test_b14_a_connection_with_leftovers_or_no_keepalive_is_not_reused(case: str) -> None:
    """SECURITY B14: RFC 9112 §9.3 - reuse only after a complete, unambiguous response."""
    raw, status = ANSWERED[case]
    async with scripted(hostile(raw, close=case == "close-delimited")) as upstream:
        pool = Pool(upstream.url, timeout=HONEST_TIMEOUT)
        try:
            first = await pool.post(b"", b'{"caller":1}')
            assert (first.status, first.body) == (status, b"" if status == 204 else b"first")
            second = await pool.post(b"", b'{"caller":2}')
            assert second.body == b'for:{"caller":2}'
            assert upstream.connections == 2
            await upstream.closed_by_client(0)
        finally:
            await pool.aclose()


async def test_b14_an_unsolicited_response_on_an_idle_connection_is_never_delivered() -> None:
    """SECURITY B14: bytes that arrive while a connection is idle make it non-reusable."""
    sent = asyncio.Event()

    async def unsolicited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ok(b"first"))
        await writer.drain()
        await asyncio.sleep(0.05)  # the client has pooled the connection by now
        writer.write(ok(FORGED))  # a response to no request
        await writer.drain()
        sent.set()

    async with scripted(unsolicited) as upstream:
        pool = Pool(upstream.url, timeout=HONEST_TIMEOUT)
        try:
            assert (await pool.post(b"", b'{"caller":1}')).body == b"first"
            await asyncio.wait_for(sent.wait(), HONEST_TIMEOUT)
            await asyncio.sleep(0.05)  # let the event loop read the forged bytes
            second = await pool.post(b"", b'{"caller":2}')
            assert second.body == b'for:{"caller":2}'
            assert upstream.connections == 2
            await upstream.closed_by_client(0)
        finally:
            await pool.aclose()


@pytest.mark.parametrize(
    "interim",
    [
        EARLY_HINTS,
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + EARLY_HINTS * 3,
    ],
    ids=["103", "100", "100-102-103x3"],
)
async def test_b14_interim_responses_are_discarded_and_the_connection_stays_in_sync(
    interim: bytes,
) -> None:
    """SECURITY B14: RFC 9110 §15.2 - a client reads and discards 1xx before the final one."""
    script = hostile(interim + ok(b"first", b"Content-Type: text/plain\r\n"), then_honest=True)
    async with scripted(script) as upstream:
        pool = Pool(upstream.url, timeout=HONEST_TIMEOUT)
        try:
            first = await pool.post(b"", b'{"caller":1}')
            assert (first.status, first.body) == (200, b"first")
            assert first.header(b"content-type") == b"text/plain"  # the final response's
            for caller in (2, 3):
                body = b'{"caller":%d}' % caller
                assert (await pool.post(b"", body)).body == b"for:" + body
            assert upstream.connections == 1  # fully read, so safely reused
        finally:
            await pool.aclose()


@given(st.binary(max_size=24))
def test_b14_chunk_size_is_strictly_hexadecimal(line: bytes) -> None:
    """SECURITY B14: RFC 9112 §7.1 chunk-size = 1*HEXDIG, never Python int() syntax."""
    strict = re.fullmatch(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[^\r\n\x00]*)?", line)
    try:
        size = chunk_size(line)
    except HTTPError:
        assert strict is None
    else:
        assert strict is not None
        assert size == int(strict.group(1), 16)


# --- end to end through the gateway, two callers ----------------------------------------------


class RawMCP:
    """A stateless MCP upstream written on raw sockets; ``twist`` rewrites one caller's answer."""

    def __init__(self, twist: Callable[[bytes], bytes], victim: str = "alice") -> None:
        self.twist = twist
        self.victim = victim

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                writer.write(self.answer(json.loads(await read_request(reader))))
                await writer.drain()
        writer.close()

    def answer(self, request: dict[str, Any]) -> bytes:
        method = request.get("method")
        if "id" not in request:
            return b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
        if method == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "raw", "version": "1"},
            }
        elif method == "tools/list":
            tool = {"name": "echo", "inputSchema": {"type": "object"}}
            result = {"tools": [{**tool, "annotations": {"readOnlyHint": True}}]}
        else:
            who = request["params"]["arguments"]["who"]
            result = {"content": [{"type": "text", "text": f"private to {who}"}]}
            raw = self.json(request["id"], result)
            return self.twist(raw) if who == self.victim else raw
        return self.json(request["id"], result)

    @staticmethod
    def json(rid: Any, result: dict[str, Any]) -> bytes:
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()
        return ok(body, b"Content-Type: application/json\r\n")


def negative_chunk(answer: bytes) -> bytes:
    head, body = answer.split(b"\r\n\r\n", 1)
    head = head.replace(b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked")
    return head + b"\r\n\r\n-1\r\n" + body + b"\r\n0\r\n\r\n"


def plus_forged(answer: bytes) -> bytes:
    forged = RawMCP.json(1, {"content": [{"type": "text", "text": "private to alice, again"}]})
    return answer + forged


TWISTS: dict[str, tuple[Callable[[bytes], bytes], int | None]] = {
    # id: (rewrite of alice's answer, JSON-RPC error code alice gets, None: her own result)
    "103-early-hints": (lambda answer: EARLY_HINTS + answer, None),
    "negative-chunk-size": (negative_chunk, -32010),
    "pipelined-forged-response": (plus_forged, None),
}


@pytest.mark.parametrize("case", list(TWISTS))
async def test_b14_two_callers_through_the_gateway_never_see_each_others_results(
    case: str,
) -> None:
    """SECURITY B14 end to end: alice's upstream answer is hostile; bob gets only his own."""
    twist, alice_error = TWISTS[case]
    async with (
        scripted(*[RawMCP(twist)] * 64) as upstream,
        gateway_for({"fake": upstream.url}) as (gw, _, alice),
    ):
        url = gw.url("/mcp")
        bob_token = token(url, "mcp:fake:read", sub="bob")
        auth = {"Authorization": f"Bearer {bob_token}"}
        async with httpx2.AsyncClient(timeout=30, headers={**HEADERS, **auth}) as bob:
            first = await alice.post(url, json=call("fake_echo", {"who": "alice"}))
            assert first.status_code == 200  # never a 500
            if alice_error is None:
                assert first.json()["result"]["content"][0]["text"] == "private to alice"
            else:
                assert first.json()["error"]["code"] == alice_error
                assert "chunk size" in first.json()["error"]["message"]
            for _ in range(3):
                second = await bob.post(url, json=call("fake_echo", {"who": "bob"}))
                assert second.json()["result"]["content"][0]["text"] == "private to bob"
