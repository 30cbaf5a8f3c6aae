"""One upstream MCP server over streamable HTTP, reached with pooled keep-alive connections.

MCP transports 2025-11-25 ("Streamable HTTP": POST, ``Accept: application/json,
text/event-stream``, ``Mcp-Session-Id``, 404 = session expired) and lifecycle (one
``initialize`` + ``notifications/initialized`` handshake). The handshake runs once per
upstream and its session is reused by every call, from every caller; it is re-established when
the upstream answers 404 (session expired or server restarted). Stateless upstreams simply
return no session id. Requests carry the gateway's own credentials (G-16) and, when
configured, a signed caller-identity header; never the caller's token (threat B11).

A JSON response is forwarded as bytes, unparsed (the request reuses the caller's JSON-RPC
``id``); an SSE response is read to its end and the one JSON-RPC response in it is returned.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import json
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any, Protocol

from zeroauth import __version__
from zeroauth.client._driver import initialize_request
from zeroauth.gateway._config import UpstreamConfig
from zeroauth.gateway._credentials import Credentials, make_credentials
from zeroauth.gateway._http1 import HTTPError, Pool, Response, encode_headers

__all__ = [
    "DUMPS",
    "HANDSHAKE_VERSIONS",
    "INITIALIZE",
    "MCPUpstream",
    "Upstream",
    "UpstreamBase",
    "UpstreamError",
]

log = logging.getLogger("zeroauth.gateway.upstream")

HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # compact JSON text
_BASE_HEADERS = (
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
    ("User-Agent", f"zeroauth-gateway/{__version__}"),
)


class UpstreamError(Exception):
    """The upstream is unreachable (``kind="unavailable"``) or answered unusably."""

    def __init__(self, upstream: str, kind: str, reason: str) -> None:
        self.upstream = upstream
        self.kind = kind
        self.reason = reason
        super().__init__(f"upstream {upstream!r} {kind}: {reason}")


INITIALIZE = initialize_request("zeroauth-gateway")
"""The gateway's ``initialize`` (MCP lifecycle, 2025-11-25 handshake era); each upstream sends
it under an id of its own."""


class MCPUpstream(Protocol):
    """What the aggregator and catalogs need of an upstream (HTTP here, stdio in ``stdio``)."""

    config: UpstreamConfig
    name: str
    healthy: bool
    last_error: str | None
    capabilities: Mapping[str, Any]

    async def forward(self, message: dict[str, Any], extra_head: bytes = b"") -> bytes: ...

    async def rpc(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    async def connect(self) -> None: ...

    async def aclose(self) -> None: ...


def _ssl_context(config: UpstreamConfig) -> ssl.SSLContext | None:
    if not config.url.startswith("https:"):
        return None
    context = ssl.create_default_context(cafile=config.ca_file)
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class UpstreamBase(abc.ABC):
    """What HTTP and stdio upstreams share: their state, the handshake's result, ``rpc``."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self.name = config.name
        self.healthy = True
        self.last_error: str | None = None
        self.last_failure = 0.0
        self.protocol_version = HANDSHAKE_VERSIONS[0]
        self.capabilities: Mapping[str, Any] = {}
        self._ids = itertools.count(1)

    def _adopt(self, reply: Mapping[str, Any]) -> None:
        """Check an ``initialize`` reply and record its protocol version and capabilities."""
        result = reply.get("result")
        if not isinstance(result, dict):
            raise UpstreamError(self.name, "error", "initialize failed")
        version = result.get("protocolVersion")
        if version not in HANDSHAKE_VERSIONS:
            raise UpstreamError(self.name, "error", f"unsupported protocol {version!r}")
        self.protocol_version = str(version)
        self.capabilities = result.get("capabilities") or {}

    async def rpc(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call ``method`` for the gateway itself (catalogs); returns the ``result``."""
        request_id = f"zeroauth-{next(self._ids)}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        reply = await self._call(message)
        if not isinstance(reply.get("result"), dict):
            error = reply.get("error")
            text = error.get("message") if isinstance(error, dict) else "no result"
            raise UpstreamError(self.name, "error", f"{method}: {text}")
        result: dict[str, Any] = reply["result"]
        return result

    @abc.abstractmethod
    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request of the gateway's own; its JSON-RPC response."""


class Upstream(UpstreamBase):
    """Session, credentials and connection pool of one configured upstream."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        credentials: Credentials | None = None,
        pool: Pool | None = None,
    ) -> None:
        super().__init__(config)
        self.pool = pool or Pool(
            config.url,
            max_connections=config.max_connections,
            timeout=config.timeout,
            ssl_context=_ssl_context(config),
        )
        self.credentials = credentials or make_credentials(config.credentials)
        self._head = b""
        self._session: str | None = None
        self._generation = 0
        self._ready = False
        self._lock = asyncio.Lock()

    # -- the hot path ----------------------------------------------------------------------

    async def forward(self, message: dict[str, Any], extra_head: bytes = b"") -> bytes:
        """Send a caller's request; the answer carries the caller's JSON-RPC ``id``.

        A stateless upstream gets the caller's ``id`` and its answer is forwarded unparsed.
        Within a shared upstream session (stateful upstream) ids must be unique across all
        callers, so the request gets a gateway id and the answer is re-keyed.
        """
        if not self._ready:
            await self._handshake(self._generation)
        caller_id = message["id"]
        if self._session is None:
            return await self.send(DUMPS(message).encode(), caller_id, extra_head)
        own_id = f"zeroauth-{next(self._ids)}"
        message["id"] = own_id
        raw = await self.send(DUMPS(message).encode(), own_id, extra_head)
        reply = _loads(raw, self.name)
        reply["id"] = caller_id
        return DUMPS(reply).encode()

    async def send(self, body: bytes, request_id: object, extra_head: bytes = b"") -> bytes:
        """POST one JSON-RPC request; returns the JSON-RPC response message as JSON bytes."""
        if not self._ready:
            await self._handshake(self._generation)
        retried_session = retried_auth = False
        while True:
            generation = self._generation
            auth = await self._authorization()
            response = await self._post(self._head + auth + extra_head, body)
            status = response.status
            if status == 200:
                self.healthy = True
                return self._message(response, request_id)
            if status == 404 and self._session is not None and not retried_session:
                retried_session = True
                log.info("upstream %s: session expired, re-initializing", self.name)
                await self._handshake(generation, force=True)
                continue
            if status == 401 and not retried_auth and auth:
                retried_auth = True
                self.credentials.invalidate()
                continue
            if _content_type(response) == b"application/json" and response.body:
                return response.body  # a JSON-RPC error answered with a 4xx status
            raise UpstreamError(self.name, "error", f"HTTP {status}")

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        return _loads(await self.send(json.dumps(message).encode(), message["id"]), self.name)

    async def connect(self) -> None:
        """Run the handshake now if it has not run yet (start-up warm-up, catalogs)."""
        if not self._ready:
            await self._handshake(self._generation)

    # -- internals ---------------------------------------------------------------------------

    async def _authorization(self) -> bytes:
        try:
            value = await self.credentials.authorization()
        except Exception as exc:  # the token endpoint failed: this upstream only
            raise UpstreamError(self.name, "unavailable", f"no credentials: {exc}") from None
        return b"Authorization: " + value.encode("latin-1") + b"\r\n" if value else b""

    async def _post(self, head: bytes, body: bytes) -> Response:
        try:
            return await self.pool.post(head, body)
        except HTTPError as exc:
            self.healthy = False
            self.last_error = str(exc)
            self.last_failure = time.monotonic()
            raise UpstreamError(self.name, "unavailable", str(exc)) from None

    def _message(self, response: Response, request_id: object) -> bytes:
        kind = _content_type(response)
        if kind == b"application/json":
            return response.body
        if kind == b"text/event-stream":
            for data in _sse_data(response.body):
                try:
                    message = json.loads(data)
                except ValueError:
                    continue
                if (
                    isinstance(message, dict)
                    and message.get("id") == request_id
                    and ("result" in message or "error" in message)
                ):
                    return data
            raise UpstreamError(self.name, "error", "no response in the event stream")
        raise UpstreamError(self.name, "error", f"unexpected content type {kind.decode()!r}")

    async def _handshake(self, generation: int, *, force: bool = False) -> None:
        async with self._lock:
            if self._ready and (not force or generation != self._generation):
                return  # another task did it meanwhile
            self._ready = False
            self._session = None
            self._head = encode_headers(_BASE_HEADERS)
            request = {**INITIALIZE, "id": f"zeroauth-init-{next(self._ids)}"}
            auth = await self._authorization()
            response = await self._post(self._head + auth, json.dumps(request).encode())
            if response.status == 401 and auth:
                self.credentials.invalidate()
                auth = await self._authorization()
                response = await self._post(self._head + auth, json.dumps(request).encode())
            if response.status != 200:
                raise UpstreamError(self.name, "error", f"initialize: HTTP {response.status}")
            reply = _loads(self._message(response, request["id"]), self.name)
            self._adopt(reply)
            pairs = [*_BASE_HEADERS, ("Mcp-Protocol-Version", self.protocol_version)]
            session = response.header(b"mcp-session-id")
            if session is not None:
                text = session.decode("latin-1")
                if not text or any(not 0x21 <= ord(c) <= 0x7E for c in text):
                    raise UpstreamError(self.name, "error", "malformed Mcp-Session-Id")
                self._session = text
                pairs.append(("Mcp-Session-Id", text))
            self._head = encode_headers(pairs)
            note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
            await self._post(self._head + auth, note)
            self._generation += 1
            self._ready = True
            self.healthy = True
            log.info(
                "upstream %s: initialized (protocol %s, %s)",
                self.name,
                self.protocol_version,
                "stateful" if self._session else "stateless",
            )

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.credentials.aclose()


def _content_type(response: Response) -> bytes:
    return (response.header(b"content-type") or b"").split(b";", 1)[0].strip().lower()


def _loads(raw: bytes, name: str) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except ValueError:
        raise UpstreamError(name, "error", "response is not JSON") from None
    if not isinstance(message, dict):
        raise UpstreamError(name, "error", "response is not a JSON-RPC object")
    return message


def _sse_data(stream: bytes) -> list[bytes]:
    """The ``data`` of each event of a text/event-stream body (WHATWG HTML §9.2.6)."""
    events: list[bytes] = []
    data: list[bytes] = []
    for line in stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if not line:
            if data:
                events.append(b"\n".join(data))
                data = []
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        events.append(b"\n".join(data))
    return events
